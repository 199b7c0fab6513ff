// A small command-line parser: `--flag`, `--option VALUE`, `--option=VALUE`
// and positional arguments, with errors that name the flag.
#pragma once

#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace snapformer::cli {

class Arguments {
 public:
  // `flags` take no value; `options` take one (repeatable ones keep all values).
  Arguments(const std::vector<std::string>& args, const std::set<std::string>& flags,
            const std::set<std::string>& options);

  bool flag(const std::string& name) const { return flags_.count(name) > 0; }
  std::optional<std::string> value(const std::string& name) const;
  std::vector<std::string> values(const std::string& name) const;
  std::string value_or(const std::string& name, const std::string& fallback) const;
  int64_t int_or(const std::string& name, int64_t fallback) const;
  double number_or(const std::string& name, double fallback) const;
  const std::vector<std::string>& positional() const { return positional_; }

 private:
  std::set<std::string> flags_;
  std::map<std::string, std::vector<std::string>> options_;
  std::vector<std::string> positional_;
};

}  // namespace snapformer::cli
