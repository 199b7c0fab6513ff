// A fixture that runs its TEST_Ps once per instruction set this CPU can
// execute (portable, AVX2, AVX-512), restoring the active one afterwards.
// Instantiate with SNAPFORMER_FOR_EACH_ISA(FixtureName).
#pragma once

#include <gtest/gtest.h>

#include <string>

#include "ops/cpu.h"

namespace snapformer::testing {

class EachIsa : public ::testing::TestWithParam<ops::Isa> {
 protected:
  void SetUp() override {
    if (!ops::cpu_supports(GetParam())) GTEST_SKIP() << "this CPU lacks " << ops::isa_name(GetParam());
    saved_ = ops::active_isa();
    ops::set_isa(GetParam());
  }
  void TearDown() override { ops::set_isa(saved_); }

 private:
  ops::Isa saved_ = ops::Isa::kPortable;
};

}  // namespace snapformer::testing

#define SNAPFORMER_FOR_EACH_ISA(Fixture)                                                                     \
  INSTANTIATE_TEST_SUITE_P(AllIsas, Fixture,                                                                 \
                           ::testing::Values(ops::Isa::kPortable, ops::Isa::kAvx2, ops::Isa::kAvx512),       \
                           [](const auto& info) { return std::string(ops::isa_name(info.param)); })
