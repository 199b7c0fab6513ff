// The `snapformer` subcommands. Each takes the arguments after its name and
// returns the process exit code; errors are thrown as snapformer::Error and
// printed by main() as one line.
#pragma once

#include <string>
#include <vector>

namespace snapformer::cli {

int run_command(const std::vector<std::string>& args);
int serve_command(const std::vector<std::string>& args);
int quantize_command(const std::vector<std::string>& args);
int preload_command(const std::vector<std::string>& args);
int pull_command(const std::vector<std::string>& args);
int healthcheck_command(const std::vector<std::string>& args);

}  // namespace snapformer::cli
