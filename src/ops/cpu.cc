#include "ops/cpu.h"

#include <atomic>
#include <cstdlib>
#include <cstring>

namespace snapformer::ops {
namespace {

Isa detect() {
  __builtin_cpu_init();
  Isa best = Isa::kPortable;
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) best = Isa::kAvx2;
  if (best == Isa::kAvx2 && __builtin_cpu_supports("avx512f")) best = Isa::kAvx512;
  if (const char* forced = std::getenv("SNAPFORMER_ISA")) {
    if (std::strcmp(forced, "portable") == 0) best = Isa::kPortable;
    else if (std::strcmp(forced, "avx2") == 0 && best != Isa::kPortable) best = Isa::kAvx2;
  }
  return best;
}

std::atomic<int>& chosen() {
  static std::atomic<int> isa{static_cast<int>(detect())};
  return isa;
}

}  // namespace

Isa active_isa() { return static_cast<Isa>(chosen().load(std::memory_order_relaxed)); }

void set_isa(Isa isa) { chosen().store(static_cast<int>(isa)); }

bool cpu_supports(Isa isa) {
  __builtin_cpu_init();
  switch (isa) {
    case Isa::kPortable: return true;
    case Isa::kAvx2: return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    case Isa::kAvx512: return __builtin_cpu_supports("avx512f") && cpu_supports(Isa::kAvx2);
  }
  return false;
}

const char* isa_name(Isa isa) {
  switch (isa) {
    case Isa::kPortable: return "portable";
    case Isa::kAvx2: return "avx2";
    case Isa::kAvx512: return "avx512";
  }
  return "?";
}

}  // namespace snapformer::ops
