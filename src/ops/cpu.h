// Which vector instruction sets this CPU offers, detected once at run time,
// so one binary runs everywhere (never -march=native).
#pragma once

#include <string>

namespace snapformer::ops {

enum class Isa { kPortable, kAvx2, kAvx512 };

// The best ISA this CPU supports, unless SNAPFORMER_ISA (portable|avx2|avx512)
// asks for a lower one (for tests and benchmarks of each path; avx512 also
// keeps the AVX-512 kernels gemm_isa() would avoid).
Isa active_isa();
const char* isa_name(Isa isa);
// Overrides the choice (tests run every path the CPU can execute).
void set_isa(Isa isa);
// The ISA of the fp32 GEMM kernels (small_gemm.h, panel_gemm.h) and of
// attention's row kernels (attention.cc): active_isa(), except AVX2 where
// AVX-512 was detected (not asked for by SNAPFORMER_ISA=avx512 or set_isa)
// on a CPU that executes 512-bit operations as two 256-bit halves (AMD
// family 19h: Zen 4). There the AVX2 kernels, which read the weights as
// several streams far apart and multiply transposed activation panels in
// place, measured faster than the AVX-512 blocks and oneDNN's AVX-512
// sgemm: one layer from memory, 1 thread, 1 row 1.3-2.1x, 24-32 rows
// 1.3-1.8x, 128 rows equal to 1.15x; bert-base fp32 at 32 tokens 85-86 ->
// 58-59 ms (docs/BENCHMARKS.md, ninth session). Thread-safe.
Isa gemm_isa();
bool cpu_supports(Isa isa);
// Whether the int8 kernels take their AVX512-VNNI form (64 products per
// VPDPBUSD; loading then packs int8 weights into VNNI panels, int8_panels.h):
// AVX-512 is the active ISA and the CPU has VNNI and BW.
bool int8_uses_vnni();
// Whether attention may take its bf16 form for bf16 and int8 models
// (attention.h; VDPBF16PS: 32 bf16 products per instruction): AVX-512 is
// the active ISA and the CPU has AVX512-BF16 and BW.
bool bf16_dot_products();
// One line naming the kernels this process runs, for `snapformer version`:
// e.g. "avx512; fp32 GEMM and attention: avx2 (512-bit operations run in two
// halves); int8: avx512-vnni (weights in VNNI panels); bf16/int8
// attention: avx512-bf16".
std::string describe_kernels();

}  // namespace snapformer::ops
