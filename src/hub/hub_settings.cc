#include "hub/hub_settings.h"

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <fstream>

namespace snapformer::hub {
namespace {

namespace fs = std::filesystem;

std::string environment(const char* name) {
  const char* value = std::getenv(name);
  return value ? value : "";
}

bool truthy(std::string value) {
  std::transform(value.begin(), value.end(), value.begin(), [](unsigned char c) { return std::tolower(c); });
  return value == "1" || value == "true" || value == "yes" || value == "on";
}

std::string trim(const std::string& text) {
  const auto first = text.find_first_not_of(" \t\r\n");
  if (first == std::string::npos) return "";
  return text.substr(first, text.find_last_not_of(" \t\r\n") - first + 1);
}

}  // namespace

HubSettings HubSettings::from_environment() {
  HubSettings settings;
  fs::path home = environment("HF_HOME");
  if (home.empty()) {
    const std::string xdg = environment("XDG_CACHE_HOME");
    const std::string user_home = environment("HOME");
    home = !xdg.empty() ? fs::path(xdg) / "huggingface"
                        : fs::path(user_home.empty() ? "/tmp" : user_home) / ".cache" / "huggingface";
  }
  settings.cache = environment("HF_HUB_CACHE");
  if (settings.cache.empty()) settings.cache = environment("HUGGINGFACE_HUB_CACHE");
  if (settings.cache.empty()) settings.cache = home / "hub";
  if (const std::string endpoint = environment("HF_ENDPOINT"); !endpoint.empty()) settings.endpoint = endpoint;
  while (!settings.endpoint.empty() && settings.endpoint.back() == '/') settings.endpoint.pop_back();
  settings.token = trim(environment("HF_TOKEN"));
  if (settings.token.empty()) {
    fs::path token_path = environment("HF_TOKEN_PATH");
    if (token_path.empty()) token_path = home / "token";
    std::ifstream in(token_path);
    std::string line;
    if (in && std::getline(in, line)) settings.token = trim(line);
  }
  settings.offline = truthy(environment("HF_HUB_OFFLINE"));
  return settings;
}

}  // namespace snapformer::hub
