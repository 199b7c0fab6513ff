// Weights::to_floats, which converts F16/BF16 tensors at load (vector code
// over the thread pool), against the scalar per-value conversions.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

#include "io/weights.h"

namespace snapformer {
namespace {

RawTensor raw_halves(DType dtype, const std::vector<std::uint16_t>& values) {
  RawTensor raw;
  raw.dtype = dtype;
  raw.shape = {static_cast<int64_t>(values.size())};
  raw.data = reinterpret_cast<const std::uint8_t*>(values.data());
  raw.bytes = values.size() * sizeof(std::uint16_t);
  return raw;
}

// Every one of the 65,536 bit patterns (zeros, subnormals, infinities, NaNs),
// then once more shifted by 3 values, so that the 8-wide blocks and the
// scalar tail each see every pattern, and a tensor spanning several of the
// pool's blocks.
TEST(WeightsConversion, EveryHalfAndBfloat16PatternConvertsExactly) {
  std::vector<std::uint16_t> patterns(65536 * 2 + 3);
  for (std::size_t i = 0; i < patterns.size(); ++i) patterns[i] = static_cast<std::uint16_t>(i >= 3 ? i - 3 : i);
  for (DType dtype : {DType::F16, DType::BF16}) {
    const FloatBuffer floats = Weights::to_floats(raw_halves(dtype, patterns));
    ASSERT_EQ(floats.size(), patterns.size());
    for (std::size_t i = 0; i < patterns.size(); ++i) {
      const float expected = dtype == DType::F16 ? half_to_float(patterns[i]) : bfloat16_to_float(patterns[i]);
      if (std::isnan(expected)) {
        ASSERT_TRUE(std::isnan(floats[i])) << "pattern " << patterns[i];
        continue;
      }
      std::uint32_t got_bits, expected_bits;
      std::memcpy(&got_bits, &floats[i], 4);
      std::memcpy(&expected_bits, &expected, 4);
      ASSERT_EQ(got_bits, expected_bits) << (dtype == DType::F16 ? "F16" : "BF16") << " pattern " << patterns[i]
                                         << " at " << i;
    }
  }
  // A few values by their meaning, so that the scalar reference is checked too.
  const FloatBuffer known = Weights::to_floats(raw_halves(DType::F16, {0x3C00, 0xC000, 0x0001, 0x7C00, 0x3555}));
  EXPECT_EQ(known[0], 1.0f);
  EXPECT_EQ(known[1], -2.0f);
  EXPECT_EQ(known[2], std::ldexp(1.0f, -24));  // the smallest subnormal half
  EXPECT_TRUE(std::isinf(known[3]));
  EXPECT_NEAR(known[4], 1.0f / 3.0f, 1e-4);
}

}  // namespace
}  // namespace snapformer
