// HubSettings: where the Hugging Face cache lives and how to reach the hub,
// read from the environment the way huggingface_hub reads it, so a cache
// filled by Python is used as is and one filled by snapformer serves Python.
#pragma once

#include <filesystem>
#include <string>

namespace snapformer::hub {

struct HubSettings {
  // HF_HUB_CACHE, else HUGGINGFACE_HUB_CACHE, else $HF_HOME/hub, where HF_HOME
  // defaults to $XDG_CACHE_HOME/huggingface, then ~/.cache/huggingface.
  std::filesystem::path cache;
  // HF_ENDPOINT without a trailing '/', default https://huggingface.co.
  std::string endpoint = "https://huggingface.co";
  // HF_TOKEN, else the first line of HF_TOKEN_PATH or $HF_HOME/token; empty: anonymous.
  std::string token;
  // HF_HUB_OFFLINE=1 (or true/yes/on): never touch the network.
  bool offline = false;

  static HubSettings from_environment();
};

}  // namespace snapformer::hub
