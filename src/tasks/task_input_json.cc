#include "tasks/task_input_json.h"

#include <limits>

#include "util/error.h"
#include "util/utf8.h"

namespace snapformer {
namespace {

std::string string_field(const Json& object, const char* field, const std::string& where) {
  const Json& value = object.at(field);
  if (!value.is_string()) throw Error(where + ": field '" + field + "' must be a string");
  return value.get<std::string>();
}

std::vector<int32_t> int_list(const Json& object, const char* field, const std::string& where) {
  const Json& value = object.at(field);
  if (!value.is_array()) throw Error(where + ": field '" + field + "' must be an array of integers");
  std::vector<int32_t> out;
  out.reserve(value.size());
  for (const Json& v : value) {
    if (!v.is_number_integer() || v.get<int64_t>() < std::numeric_limits<int32_t>::min() ||
        v.get<int64_t>() > std::numeric_limits<int32_t>::max())
      throw Error(where + ": field '" + field + "' must hold only 32-bit integers");
    out.push_back(v.get<int32_t>());
  }
  return out;
}

}  // namespace

TaskInput task_input_from_json(const Json& object, const std::string& where) {
  if (!object.is_object()) throw Error(where + ": expected a JSON object");
  TaskInput input;
  if (object.contains("input_ids")) {
    input.input_ids = int_list(object, "input_ids", where);
    if (object.contains("attention_mask")) input.attention_mask = int_list(object, "attention_mask", where);
    if (object.contains("token_type_ids")) input.token_type_ids = int_list(object, "token_type_ids", where);
    return input;
  }
  if (object.contains("question") || object.contains("context")) {
    if (!object.contains("question")) throw Error(where + ": missing field 'question'");
    if (!object.contains("context")) throw Error(where + ": missing field 'context'");
    input.question = string_field(object, "question", where);
    input.context = string_field(object, "context", where);
    return input;
  }
  if (!object.contains("text")) throw Error(where + ": missing field 'text' (or 'question'/'context', or 'input_ids')");
  input.text = string_field(object, "text", where);
  if (object.contains("text_pair") && !object["text_pair"].is_null()) input.text_pair = string_field(object, "text_pair", where);
  return input;
}

TaskInput task_input_from_json_line(const std::string& line, const std::string& where) {
  const std::size_t bad = utf8::find_invalid(line);
  if (bad != std::string::npos) throw Error(where + ": invalid UTF-8 at byte " + std::to_string(bad));
  Json json = Json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (json.is_discarded()) throw Error(where + ": invalid JSON");
  return task_input_from_json(json, where);
}

}  // namespace snapformer
