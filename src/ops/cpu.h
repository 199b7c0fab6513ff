// Which vector instruction sets this CPU offers, detected once at run time,
// so one binary runs everywhere (never -march=native).
#pragma once

namespace snapformer::ops {

enum class Isa { kPortable, kAvx2, kAvx512 };

// The best ISA this CPU supports, unless SNAPFORMER_ISA (portable|avx2|avx512)
// asks for a lower one (for tests and benchmarks of each path).
Isa active_isa();
const char* isa_name(Isa isa);
// Overrides the choice (tests run every path the CPU can execute).
void set_isa(Isa isa);
bool cpu_supports(Isa isa);

}  // namespace snapformer::ops
