// Running the real `snapformer` binary from tests and capturing its output.
#pragma once

#include <sys/wait.h>

#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "util/json_file.h"

namespace snapformer::testing {

struct CliResult {
  int exit_code = -1;
  std::string out, err;
};

inline std::string shell_quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

// Runs `snapformer ARGS...` with `stdin_text` on standard input.
inline CliResult run_cli(const std::vector<std::string>& args, const std::string& stdin_text = "") {
  const auto dir = std::filesystem::temp_directory_path() / ("snapformer-cli-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const std::string in = (dir / "in").string(), out = (dir / "out").string(), err = (dir / "err").string();
  {
    std::FILE* f = std::fopen(in.c_str(), "wb");
    std::fwrite(stdin_text.data(), 1, stdin_text.size(), f);
    std::fclose(f);
  }
  std::string command = shell_quote(SNAPFORMER_BINARY);
  for (const auto& a : args) command.append(" ").append(shell_quote(a));
  // Appended piece by piece: `"literal" + std::string` trips a GCC 12 -Wrestrict false positive.
  command.append(" <").append(shell_quote(in)).append(" >").append(shell_quote(out));
  command.append(" 2>").append(shell_quote(err));
  const int status = std::system(command.c_str());
  CliResult result;
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  result.out = read_file(out);
  result.err = read_file(err);
  return result;
}

}  // namespace snapformer::testing
