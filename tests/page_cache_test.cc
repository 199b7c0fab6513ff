// Page-cache placement of model files: the 2 MB-aligned mapping, re-caching
// in 2 MB folios (`snapformer preload`) and the huge-page heap.
#include <sys/mman.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <random>
#include <string>

#include <gtest/gtest.h>

#include "cli_util.h"
#include "io/mapped_file.h"
#include "io/page_cache.h"
#include "test_util.h"
#include "util/error.h"
#include "util/memory_policy.h"

namespace snapformer {
namespace {

constexpr std::size_t kHugePage = 2u << 20;

// Writes `bytes` pseudo-random bytes (a fresh write: the page cache holds
// them in small pages) and returns them.
std::string write_random_file(const std::filesystem::path& path, std::size_t bytes) {
  std::string data(bytes, '\0');
  std::mt19937_64 random(42);
  for (std::size_t i = 0; i + 8 <= bytes; i += 8) {
    const std::uint64_t v = random();
    std::memcpy(data.data() + i, &v, 8);
  }
  std::ofstream(path, std::ios::binary).write(data.data(), static_cast<std::streamsize>(data.size()));
  return data;
}

TEST(MappedFile, LargeFilesAreMappedAtTwoMegabyteBoundaries) {
  const auto dir = testing::scratch_directory("mapped");
  const std::string data = write_random_file(dir / "weights.bin", 5 * kHugePage + 123);
  const MappedFile file((dir / "weights.bin").string());
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(file.data()) % kHugePage, 0u);
  ASSERT_EQ(file.size(), data.size());
  EXPECT_EQ(std::memcmp(file.data(), data.data(), data.size()), 0);
  // The slack of the aligned reservation was given back: the page after the
  // file's last page is not part of this mapping any more.
  const auto page = static_cast<std::uintptr_t>(::sysconf(_SC_PAGESIZE));
  const auto after = (reinterpret_cast<std::uintptr_t>(file.data()) + file.size() + page - 1) & ~(page - 1);
  unsigned char residency = 0;
  EXPECT_NE(::mincore(reinterpret_cast<void*>(after), page, &residency), 0) << "reserved address space left mapped";
}

TEST(PageCache, RecachingKeepsTheContentsAndMapsEveryPage) {
  const auto dir = testing::scratch_directory("recache");
  const std::size_t bytes = 4 * kHugePage;
  const std::string data = write_random_file(dir / "model.safetensors", bytes);
  const PageCacheReport report = recache_in_huge_pages((dir / "model.safetensors").string());
  EXPECT_EQ(report.file_bytes, bytes);
  EXPECT_EQ(report.resident_bytes, bytes);
  EXPECT_LE(report.huge_page_bytes, report.resident_bytes);
  {
    const MappedFile file((dir / "model.safetensors").string());
    EXPECT_EQ(std::memcmp(file.data(), data.data(), bytes), 0);
  }
  if (report.huge_page_bytes == 0)
    GTEST_SKIP() << "this kernel or file system keeps no 2 MB folios in the page cache (ext4 needs Linux 6.16)";
  // Where large folios exist, a re-read file is cached in them, and a later
  // mapping (MappedFile, as a model load does) maps all of it 2 MB a time.
  EXPECT_EQ(report.huge_page_bytes, bytes);
  EXPECT_EQ(inspect_page_cache((dir / "model.safetensors").string()).huge_page_bytes, bytes);
}

TEST(PageCache, MissingFileIsNamed) {
  try {
    (void)recache_in_huge_pages("/nonexistent/model.safetensors");
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent/model.safetensors: cannot open"), std::string::npos) << e.what();
  }
}

TEST(PreloadCommand, ReportsEachWeightFileAndNamesAMissingFolder) {
  const auto dir = testing::scratch_directory("preload");
  std::filesystem::copy(testing::model_path("tiny-bert-cls"), dir / "model", std::filesystem::copy_options::recursive);
  auto result = testing::run_cli({"preload", "--model", (dir / "model").string()});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_NE(result.out.find("model.safetensors: "), std::string::npos) << result.out;
  EXPECT_NE(result.out.find("% mapped with 2 MB pages"), std::string::npos) << result.out;
  result = testing::run_cli({"preload", "--model", (dir / "model").string(), "--check"});
  EXPECT_EQ(result.exit_code, 0) << result.err;
  // The model still loads and answers after its pages were evicted and re-read.
  result = testing::run_cli({"run", "--model", (dir / "model").string(), "--task", "classify", "--json", "hello"});
  EXPECT_EQ(result.exit_code, 0) << result.err;

  result = testing::run_cli({"preload", "--model", (dir / "absent").string()});
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_NE(result.err.find("absent: no model.safetensors"), std::string::npos) << result.err;
}

#if !defined(__SANITIZE_ADDRESS__)
TEST(MemoryPolicy, HeapIsAdvisedForHugePages) {
  keep_freed_memory_for_reuse();
  back_heap_with_huge_pages();
  // /proc/self/smaps lists VmFlags per mapping; "hg" marks MADV_HUGEPAGE.
  std::ifstream smaps("/proc/self/smaps");
  std::string line;
  bool in_heap = false, advised = false;
  while (std::getline(smaps, line)) {
    if (line.find("[heap]") != std::string::npos) in_heap = true;
    if (in_heap && line.rfind("VmFlags:", 0) == 0) {
      advised = advised || line.find(" hg") != std::string::npos;
      in_heap = false;
    }
  }
  EXPECT_TRUE(advised) << "no part of [heap] carries the huge-page advice";
}
#endif

}  // namespace
}  // namespace snapformer
