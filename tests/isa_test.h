// A fixture that runs its TEST_Ps once per instruction set this CPU can
// execute (portable, AVX2, AVX-512), restoring the active one afterwards;
// ScopedIsa restores it for tests that switch it themselves.
// Instantiate with SNAPFORMER_FOR_EACH_ISA(FixtureName).
#pragma once

#include <gtest/gtest.h>

#include <optional>
#include <string>

#include "ops/cpu.h"

namespace snapformer::testing {

// Restores the active instruction set when it goes out of scope (also when
// an ASSERT leaves the test early).
class ScopedIsa {
 public:
  ScopedIsa() = default;
  ScopedIsa(const ScopedIsa&) = delete;
  ScopedIsa& operator=(const ScopedIsa&) = delete;
  ~ScopedIsa() { ops::set_isa(saved_); }

 private:
  ops::Isa saved_ = ops::active_isa();
};

class EachIsa : public ::testing::TestWithParam<ops::Isa> {
 protected:
  void SetUp() override {
    if (!ops::cpu_supports(GetParam())) GTEST_SKIP() << "this CPU lacks " << ops::isa_name(GetParam());
    restore_.emplace();
    ops::set_isa(GetParam());
  }
  void TearDown() override { restore_.reset(); }

 private:
  std::optional<ScopedIsa> restore_;
};

}  // namespace snapformer::testing

#define SNAPFORMER_FOR_EACH_ISA(Fixture)                                                                     \
  INSTANTIATE_TEST_SUITE_P(AllIsas, Fixture,                                                                 \
                           ::testing::Values(ops::Isa::kPortable, ops::Isa::kAvx2, ops::Isa::kAvx512),       \
                           [](const auto& info) { return std::string(ops::isa_name(info.param)); })
