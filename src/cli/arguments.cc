#include "cli/arguments.h"

#include <cstdlib>

#include "util/error.h"

namespace snapformer::cli {

Arguments::Arguments(const std::vector<std::string>& args, const std::set<std::string>& flags,
                     const std::set<std::string>& options) {
  bool only_positional = false;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (only_positional || arg.size() < 3 || arg.compare(0, 2, "--") != 0) {
      if (arg == "--") {
        only_positional = true;
        continue;
      }
      positional_.push_back(arg);
      continue;
    }
    std::string name = arg.substr(2), value;
    const auto equals = name.find('=');
    const bool inline_value = equals != std::string::npos;
    if (inline_value) {
      value = name.substr(equals + 1);
      name.resize(equals);
    }
    if (flags.count(name)) {
      if (inline_value) throw Error("--" + name + " takes no value");
      flags_.insert(name);
    } else if (options.count(name)) {
      if (!inline_value) {
        if (i + 1 >= args.size()) throw Error("--" + name + " needs a value");
        value = args[++i];
      }
      options_[name].push_back(value);
    } else {
      throw Error("unknown option --" + name);
    }
  }
}

std::optional<std::string> Arguments::value(const std::string& name) const {
  auto it = options_.find(name);
  if (it == options_.end()) return std::nullopt;
  return it->second.back();
}

std::vector<std::string> Arguments::values(const std::string& name) const {
  auto it = options_.find(name);
  return it == options_.end() ? std::vector<std::string>{} : it->second;
}

std::string Arguments::value_or(const std::string& name, const std::string& fallback) const {
  return value(name).value_or(fallback);
}

int64_t Arguments::int_or(const std::string& name, int64_t fallback) const {
  const auto v = value(name);
  if (!v) return fallback;
  char* end = nullptr;
  errno = 0;
  const long long parsed = std::strtoll(v->c_str(), &end, 10);
  if (v->empty() || *end != '\0' || errno != 0) throw Error("--" + name + " expects an integer, got '" + *v + "'");
  return parsed;
}

double Arguments::number_or(const std::string& name, double fallback) const {
  const auto v = value(name);
  if (!v) return fallback;
  char* end = nullptr;
  const double parsed = std::strtod(v->c_str(), &end);
  if (v->empty() || *end != '\0') throw Error("--" + name + " expects a number, got '" + *v + "'");
  return parsed;
}

}  // namespace snapformer::cli
