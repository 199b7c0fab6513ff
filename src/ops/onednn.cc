#include "ops/onednn.h"

#include <oneapi/dnnl/dnnl.h>

namespace snapformer::ops {

extern "C" void omp_set_num_threads(int threads);  // libgomp, oneDNN's threading runtime

void use_one_openmp_thread() {
  thread_local const bool done = [] {
    omp_set_num_threads(1);
    return true;
  }();
  (void)done;
}

const dnnl::engine& cpu_engine() {
  static const dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  return engine;
}

dnnl::stream& thread_stream() {
  thread_local dnnl::stream stream(cpu_engine());
  return stream;
}

bool integer_gemm_has_vnni() {
  static const bool vnni = [] {
    const dnnl_cpu_isa_t isa = dnnl_get_effective_cpu_isa();
    // The ISA values are bit sets: every AVX-512 level from VNNI up contains
    // avx512_core_vnni's bits, and avx2_vnni has its own.
    const auto has = [isa](dnnl_cpu_isa_t level) { return (isa & level) == level; };
    return has(dnnl_cpu_isa_avx512_core_vnni) || has(dnnl_cpu_isa_avx2_vnni);
  }();
  return vnni;
}

}  // namespace snapformer::ops
