// Reading JSON documents from files with errors that name the file.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

namespace snapformer {

using Json = nlohmann::json;

// Reads a whole file into a string; throws Error naming the path if it cannot.
std::string read_file(const std::string& path);

// Parses `path` as JSON; throws Error "<path>: invalid JSON: ..." on failure.
Json read_json_file(const std::string& path);

// Typed field access with errors that name the file and field.
// `where` is a human label such as "config.json".
int64_t json_int(const Json& object, const char* field, const std::string& where);
int64_t json_int_or(const Json& object, const char* field, int64_t fallback, const std::string& where);
double json_number_or(const Json& object, const char* field, double fallback, const std::string& where);
std::string json_string_or(const Json& object, const char* field, const std::string& fallback,
                           const std::string& where);

}  // namespace snapformer
