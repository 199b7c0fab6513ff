#include "cli/model_folder.h"

#include <unistd.h>

#include <iostream>

#include "hub/model_source.h"

namespace snapformer::cli {

std::string model_folder(const std::string& spec) {
  hub::PullOptions options;
  options.progress_bar = ::isatty(STDERR_FILENO) != 0;
  return hub::resolve_model_folder(spec, hub::HubSettings::from_environment(), options).string();
}

std::string served_model_spec(const std::string& spec) {
  const auto equals = spec.find('=');
  if (equals != std::string::npos) return spec.substr(0, equals + 1) + model_folder(spec.substr(equals + 1));
  const std::string folder = model_folder(spec);
  if (folder == spec) return spec;  // a folder, named after itself by the registry
  return hub::parse_model_id(spec)->short_name() + "=" + folder;  // resolved as a hub id
}

}  // namespace snapformer::cli
