// snapformer: run Hugging Face transformer models without Python.
#include <iostream>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "util/error.h"

namespace {

constexpr const char* kUsage =
    "usage: snapformer COMMAND [OPTIONS]\n"
    "commands:\n"
    "  run     --model DIR --task TASK [--json] [--input-file FILE|-] [TEXT...]\n"
    "  version\n"
    "Run 'snapformer COMMAND --help' for a command's options.\n";

}  // namespace

int main(int argc, char** argv) {
  std::ios::sync_with_stdio(false);
  if (argc < 2) {
    std::cerr << kUsage;
    return 2;
  }
  const std::string command = argv[1];
  const std::vector<std::string> args(argv + 2, argv + argc);
  try {
    if (command == "run") return snapformer::cli::run_command(args);
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
