// What --model names, as a folder on disk: a directory as it is, or a
// Hugging Face hub model id ("name", "org/name", "org/name@revision")
// resolved through the hub cache, downloaded with a progress bar on a
// terminal when missing (hub/model_source.h).
#pragma once

#include <string>

namespace snapformer::cli {

std::string model_folder(const std::string& spec);

// serve's "[NAME=]SPEC": NAME=FOLDER with the folder resolved; without NAME,
// a hub id is served under its repo name ("org/name" -> "name").
std::string served_model_spec(const std::string& spec);

}  // namespace snapformer::cli
