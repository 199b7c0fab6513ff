// exp for vectors of floats <= 0, written once with GCC vector extensions
// (internal to ops/): the caller's target attribute decides whether it
// compiles to AVX-512 or AVX2. Used by softmax, GELU and attention.
#pragma once

namespace snapformer::ops {

// x = exp(x) in place for x <= 0: a degree-6 polynomial after range reduction
// (relative error ~1e-7); x below -87 gives exp(-87) ~ 1.6e-38, not 0.
// Vectors are passed by reference: passing them by value in a function not
// itself compiled for AVX makes GCC print a note about the vector ABI.
template <typename V, typename VI>
__attribute__((always_inline)) inline void exp_negative(V& x) {  // in place; x <= 0
  x = x < V{} - 87.0f ? V{} - 87.0f : x;
  const V scaled = x * 1.44269504088896341f - 0.5f;
  const VI n = __builtin_convertvector(scaled, VI);  // trunc(x/ln2 - 0.5) = round for x <= 0
  const V nf = __builtin_convertvector(n, V);
  const V r = x - nf * 0.693359375f + nf * 2.12194440e-4f;
  V p = V{} + 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  const VI bits = (n + 127) << 23;
  V scale;
  __builtin_memcpy(&scale, &bits, sizeof scale);
  x = p * scale;
}

}  // namespace snapformer::ops
