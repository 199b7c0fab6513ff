// snapformer: run Hugging Face transformer models without Python.
#include <cstdlib>
#include <iostream>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "ops/cpu.h"
#include "util/error.h"
#include "util/memory_policy.h"

namespace {

constexpr const char* kUsage =
    "usage: snapformer COMMAND [OPTIONS]\n"
    "commands:\n"
    "  serve   [--model [NAME=]MODEL]... [--port 8000] ...  the HTTP server (embedded models by default)\n"
    "  run     --model MODEL --task TASK [--json] [--input-file FILE|-] [TEXT...]\n"
    "  pull    ORG/NAME[@REVISION]                           download a hub model into the Hugging Face cache\n"
    "  quantize --model MODEL --dtype int8|bf16 --out DIR2    a folder that loads in that precision in place\n"
    "  preload --model MODEL [--check]                       cache the weights in 2 MB pages (faster cold start)\n"
    "MODEL: a model folder, or a Hugging Face hub id (org/name[@revision], cached as huggingface_hub does).\n"
    "  healthcheck [--port 8000]                             exit 0 when a server's /health answers 200\n"
    "  version\n"
    "Run 'snapformer COMMAND --help' for a command's options.\n";

}  // namespace

int main(int argc, char** argv) {
  snapformer::keep_freed_memory_for_reuse();
  snapformer::back_heap_with_huge_pages();
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
    if (command == "preload") return snapformer::cli::preload_command(args);
    if (command == "pull") return snapformer::cli::pull_command(args);
    if (command == "healthcheck") return snapformer::cli::healthcheck_command(args);
    if (command == "version" || command == "--version") {
      std::cout << "snapformer 0.1.0\nkernels: " << snapformer::ops::describe_kernels() << "\n";
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
