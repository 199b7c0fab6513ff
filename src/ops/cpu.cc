#include "ops/cpu.h"

#include <cpuid.h>

#include <atomic>
#include <cstdlib>
#include <string_view>

namespace snapformer::ops {
namespace {

// AMD family 19h with AVX-512 (Zen 4) runs each 512-bit operation on its
// 256-bit units in two halves.
bool avx512_runs_in_halves() {
  __builtin_cpu_init();
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  if (__get_cpuid(0, &eax, &ebx, &ecx, &edx) == 0) return false;
  const bool amd = ebx == 0x68747541 && edx == 0x69746e65 && ecx == 0x444d4163;  // "AuthenticAMD"
  if (!amd || __get_cpuid(1, &eax, &ebx, &ecx, &edx) == 0) return false;
  const unsigned base_family = (eax >> 8) & 0xF, family = base_family == 0xF ? 0xF + ((eax >> 20) & 0xFF) : base_family;
  return family == 0x19 && __builtin_cpu_supports("avx512f");
}

// SNAPFORMER_ISA's value, or "" when unset.
std::string_view isa_from_environment() {
  const char* asked = std::getenv("SNAPFORMER_ISA");
  return asked != nullptr ? asked : "";
}

// Whether AVX-512 was asked for (SNAPFORMER_ISA=avx512 or set_isa), not only detected.
std::atomic<bool>& avx512_asked_for() {
  static std::atomic<bool> asked{isa_from_environment() == "avx512"};
  return asked;
}

Isa detect() {
  Isa best = cpu_supports(Isa::kAvx512) ? Isa::kAvx512 : cpu_supports(Isa::kAvx2) ? Isa::kAvx2 : Isa::kPortable;
  const std::string_view asked = isa_from_environment();
  if (asked == "portable") best = Isa::kPortable;
  else if (asked == "avx2" && best != Isa::kPortable) best = Isa::kAvx2;
  return best;
}

// The AVX-512 extensions the int8 and bf16 kernels need, each with BW
// (their byte and word operations), detected once.
struct Avx512Extensions {
  bool vnni;
  bool bf16;
};
const Avx512Extensions& avx512_extensions() {
  static const Avx512Extensions extensions = [] {
    __builtin_cpu_init();
    const bool bw = __builtin_cpu_supports("avx512bw");
    return Avx512Extensions{bw && __builtin_cpu_supports("avx512vnni"), bw && __builtin_cpu_supports("avx512bf16")};
  }();
  return extensions;
}

std::atomic<int>& chosen() {
  static std::atomic<int> isa{static_cast<int>(detect())};
  return isa;
}

}  // namespace

Isa active_isa() { return static_cast<Isa>(chosen().load(std::memory_order_relaxed)); }

void set_isa(Isa isa) {
  avx512_asked_for().store(isa == Isa::kAvx512);
  chosen().store(static_cast<int>(isa));
}

Isa gemm_isa() {
  static const bool halves = avx512_runs_in_halves();
  const Isa isa = active_isa();
  if (isa == Isa::kAvx512 && halves && !avx512_asked_for().load(std::memory_order_relaxed)) return Isa::kAvx2;
  return isa;
}

bool cpu_supports(Isa isa) {
  __builtin_cpu_init();
  switch (isa) {
    case Isa::kPortable: return true;
    case Isa::kAvx2: return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    case Isa::kAvx512: return __builtin_cpu_supports("avx512f") && cpu_supports(Isa::kAvx2);
  }
  return false;
}

bool int8_uses_vnni() { return active_isa() == Isa::kAvx512 && avx512_extensions().vnni; }

bool bf16_dot_products() { return active_isa() == Isa::kAvx512 && avx512_extensions().bf16; }

std::string describe_kernels() {
  const Isa isa = active_isa(), gemm = gemm_isa();
  std::string line = isa_name(isa);
  line += "; fp32 GEMM and attention: ";
  line += isa_name(gemm);
  if (gemm != isa) line += " (512-bit operations run in two halves)";
  line += "; int8: ";
  line += isa == Isa::kPortable ? "portable" : int8_uses_vnni() ? "avx512-vnni (weights in VNNI panels)" : "avx2";
  line += "; bf16/int8 attention: ";
  line += bf16_dot_products() ? "avx512-bf16" : "float32";
  return line;
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
