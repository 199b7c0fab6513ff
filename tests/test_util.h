// Helpers shared by the tests: where the golden data lives, JSON and gzip reading,
// float comparison with the reference tolerance.
#pragma once

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>
#include <zlib.h>

#include <filesystem>
#include <string>
#include <vector>

#include "ops/linear.h"
#include "ops/precision.h"
#include "util/error.h"
#include "util/json_file.h"

namespace snapformer::testing {

inline std::string data_path(const std::string& relative) { return std::string(SNAPFORMER_TEST_DATA) + "/" + relative; }
inline std::string model_path(const std::string& name) { return data_path("reference/models/" + name); }
// A model folder the project ships (models/ at the repository root).
inline std::string repo_model(const std::string& name) { return data_path("../../models/" + name); }

// A fresh, empty directory for the running test: TMPDIR/snapformer-<purpose>-<pid>-<test name>.
inline std::filesystem::path scratch_directory(const std::string& purpose) {
  const auto dir = std::filesystem::temp_directory_path() /
                   ("snapformer-" + purpose + "-" + std::to_string(::getpid()) + "-" +
                    ::testing::UnitTest::GetInstance()->current_test_info()->name());
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

// Whether this CPU runs `precision` (oneDNN's bf16 matmul needs AVX-512);
// tests of a precision the CPU lacks are skipped with the reason, not failed.
inline bool precision_runs_here(ops::Precision precision) {
  try {
    ops::check_precision_supported(precision);
    return true;
  } catch (const Error&) {
    return false;
  }
}
#define SKIP_UNLESS_PRECISION_RUNS_HERE(precision)                                                  \
  if (!::snapformer::testing::precision_runs_here(precision))                                       \
  GTEST_SKIP() << ::snapformer::ops::precision_name(precision) << " does not run on this CPU (oneDNN needs AVX-512)"

inline Json golden(const std::string& model) { return read_json_file(model_path(model) + "/golden.json"); }

// Lines of a gzip-compressed text file.
inline std::vector<std::string> read_gzip_lines(const std::string& path) {
  gzFile file = gzopen(path.c_str(), "rb");
  std::vector<std::string> lines;
  if (file == nullptr) return lines;
  std::string current;
  char buffer[1 << 16];
  int n;
  while ((n = gzread(file, buffer, sizeof buffer)) > 0) {
    for (int i = 0; i < n; ++i) {
      if (buffer[i] == '\n') {
        lines.push_back(std::move(current));
        current.clear();
      } else {
        current.push_back(buffer[i]);
      }
    }
  }
  gzclose(file);
  if (!current.empty()) lines.push_back(current);
  return lines;
}

// The reference tolerance: |a-b| <= 1e-4 + 1e-4*|b|.
inline ::testing::AssertionResult close_to(double actual, double expected, const std::string& what) {
  const double tolerance = 1e-4 + 1e-4 * std::abs(expected);
  if (std::abs(actual - expected) <= tolerance) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << what << ": got " << actual << ", expected " << expected;
}

}  // namespace snapformer::testing
