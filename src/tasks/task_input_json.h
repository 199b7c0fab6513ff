// Converting JSON objects to TaskInput: the JSON Lines input format of
// `snapformer run --input-file`:
//   {"text": ...}  {"text": ..., "text_pair": ...}  {"question": ..., "context": ...}
//   {"input_ids": [...], "attention_mask": [...], "token_type_ids": [...]}
#pragma once

#include <string>

#include "tasks/pipeline.h"
#include "util/json_file.h"

namespace snapformer {

// Throws Error "<where>: ..." naming the missing or mistyped field.
TaskInput task_input_from_json(const Json& object, const std::string& where);

// Parses one line of JSON Lines (invalid JSON or invalid UTF-8 -> Error naming `where`).
TaskInput task_input_from_json_line(const std::string& line, const std::string& where);

}  // namespace snapformer
