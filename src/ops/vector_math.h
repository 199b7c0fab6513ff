// Small vector primitives used by several kernels, compiled for AVX-512,
// AVX2 and the baseline; each call runs the form of active_isa() (ops/cpu.h).
#pragma once

#include <cstdint>

namespace snapformer::ops {

float dot(const float* a, const float* b, int64_t n);
// y += s * a
void axpy(float s, const float* a, float* y, int64_t n);

}  // namespace snapformer::ops
