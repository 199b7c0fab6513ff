#include "util/json_file.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "util/error.h"

namespace snapformer {

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(path + ": cannot open: " + std::strerror(errno));
  std::ostringstream buffer;
  buffer << in.rdbuf();
  if (in.bad()) throw Error(path + ": read failed");
  return buffer.str();
}

Json read_json_file(const std::string& path) {
  const std::string text = read_file(path);
  try {
    return Json::parse(text);
  } catch (const Json::exception& e) {
    throw Error(path + ": invalid JSON: " + e.what());
  }
}

int64_t json_int(const Json& object, const char* field, const std::string& where) {
  if (!object.is_object() || !object.contains(field)) throw Error(where + ": missing required field '" + field + "'");
  const Json& value = object.at(field);
  if (!value.is_number_integer()) throw Error(where + ": field '" + field + "' must be an integer");
  return value.get<int64_t>();
}

int64_t json_int_or(const Json& object, const char* field, int64_t fallback, const std::string& where) {
  if (!object.is_object() || !object.contains(field) || object.at(field).is_null()) return fallback;
  return json_int(object, field, where);
}

double json_number_or(const Json& object, const char* field, double fallback, const std::string& where) {
  if (!object.is_object() || !object.contains(field) || object.at(field).is_null()) return fallback;
  const Json& value = object.at(field);
  if (!value.is_number()) throw Error(where + ": field '" + field + "' must be a number");
  return value.get<double>();
}

std::string json_string_or(const Json& object, const char* field, const std::string& fallback,
                           const std::string& where) {
  if (!object.is_object() || !object.contains(field) || object.at(field).is_null()) return fallback;
  const Json& value = object.at(field);
  if (!value.is_string()) throw Error(where + ": field '" + field + "' must be a string");
  return value.get<std::string>();
}

}  // namespace snapformer
