// snapformer: run Hugging Face transformer models without Python.
#include <unistd.h>

#include <cstdlib>
#include <iostream>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "util/error.h"
#include "util/memory_policy.h"

namespace {

constexpr const char* kUsage =
    "usage: snapformer COMMAND [OPTIONS]\n"
    "commands:\n"
    "  serve   [--model [NAME=]DIR]... [--port 8000] ...   the HTTP server (embedded models by default)\n"
    "  run     --model DIR --task TASK [--json] [--input-file FILE|-] [TEXT...]\n"
    "  quantize --model DIR --dtype int8|bf16 --out DIR2      a folder that loads in that precision in place\n"
    "  version\n"
    "Run 'snapformer COMMAND --help' for a command's options.\n";

// Page faults dominate a cold start: loading a GPT-2 tokenizer touches ~20 MB
// of fresh heap, and under virtualization each 4 KB fault costs ~10-15 us.
// glibc's malloc can back its heap with transparent huge pages, which cuts the
// faults by more than half, but reads that tunable only at process start: so
// set it and re-execute once. A GLIBC_TUNABLES the user set is left alone.
void use_huge_page_heap(char** argv) {
  if (std::getenv("GLIBC_TUNABLES") != nullptr || std::getenv("SNAPFORMER_NO_REEXEC") != nullptr) return;
  ::setenv("GLIBC_TUNABLES", "glibc.malloc.hugetlb=1", 1);
  ::execv("/proc/self/exe", argv);
  ::unsetenv("GLIBC_TUNABLES");  // exec failed (no /proc): carry on with small pages
}

}  // namespace

int main(int argc, char** argv) {
  use_huge_page_heap(argv);
  snapformer::keep_freed_memory_for_reuse();
  std::ios::sync_with_stdio(false);
  if (argc < 2) {
    std::cerr << kUsage;
    return 2;
  }
  const std::string command = argv[1];
  const std::vector<std::string> args(argv + 2, argv + argc);
  try {
    if (command == "run") return snapformer::cli::run_command(args);
    if (command == "serve") return snapformer::cli::serve_command(args);
    if (command == "quantize") return snapformer::cli::quantize_command(args);
    if (command == "version" || command == "--version") {
      std::cout << "snapformer 0.1.0\n";
      return 0;
    }
    if (command == "help" || command == "--help" || command == "-h") {
      std::cout << kUsage;
      return 0;
    }
    std::cerr << "snapformer: unknown command '" << command << "'\n" << kUsage;
    return 2;
  } catch (const snapformer::Error& e) {
    std::cout.flush();
    std::cerr << "snapformer: error: " << e.what() << "\n";
    return 1;
  } catch (const std::exception& e) {
    std::cout.flush();
    std::cerr << "snapformer: internal error: " << e.what() << "\n";
    return 3;
  }
}
