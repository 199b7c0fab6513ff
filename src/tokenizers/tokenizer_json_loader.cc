// Fast loading of tokenizer.json. A GPT-2 tokenizer.json is 1.4 MB, most of it
// the 50k-entry vocabulary and 50k merges; building a general JSON tree of it
// costs ~100 ms. simdjson parses it in about a millisecond, the two tables are
// copied straight into the tokenizer, and only the small remainder goes
// through nlohmann::json.
#include <simdjson.h>

#include "tokenizers/tokenizer.h"
#include "util/error.h"
#include "util/json_file.h"

namespace snapformer {

std::shared_ptr<const Tokenizer> Tokenizer::load_tokenizer_json(const std::string& path) {
  const std::string text = read_file(path);
  simdjson::dom::parser parser;
  simdjson::dom::element document;
  if (const auto error = parser.parse(text).get(document))
    throw Error(path + ": invalid JSON: " + simdjson::error_message(error));
  simdjson::dom::object root;
  if (document.get_object().get(root)) throw Error(path + ": not a JSON object");

  Json rest = Json::object();
  ModelTables tables;
  for (const auto field : root) {
    const std::string key(field.key);
    if (key != "model" || !field.value.is_object()) {
      rest[key] = Json::parse(simdjson::to_string(field.value));
      continue;
    }
    Json model = Json::object();
    // Named variables, not temporaries: simdjson iterators point into the object.
    const simdjson::dom::object model_object = field.value.get_object().value_unsafe();
    for (const auto model_field : model_object) {
      const std::string name(model_field.key);
      if (name == "vocab" && model_field.value.is_object()) {
        tables.has_vocab = true;
        const simdjson::dom::object vocab = model_field.value.get_object().value_unsafe();
        tables.vocabulary.reserve(vocab.size());
        for (const auto entry : vocab) {
          int64_t id = 0;
          if (entry.value.get_int64().get(id) || id < 0 || id > 10'000'000)
            throw Error(path + ": model.vocab id of '" + std::string(entry.key) + "' must be a non-negative integer");
          tables.vocabulary.add(entry.key, static_cast<int32_t>(id));
        }
      } else if (name == "merges" && model_field.value.is_array()) {
        tables.has_merges = true;
        const simdjson::dom::array merges = model_field.value.get_array().value_unsafe();
        tables.merges.reserve(merges.size());
        for (const auto merge : merges) {  // views into `parser`, alive until build() returns
          std::string_view merged;
          simdjson::dom::array pair;
          if (!merge.get_string().get(merged)) {  // "left right"
            const auto space = merged.find(' ');
            if (space == std::string_view::npos || space == 0 || space + 1 >= merged.size())
              throw Error(path + ": merge '" + std::string(merged) + "' is not two tokens separated by a space");
            tables.merges.emplace_back(merged.substr(0, space), merged.substr(space + 1));
          } else if (!merge.get_array().get(pair) && pair.size() == 2 && pair.at(0).is_string() && pair.at(1).is_string()) {
            tables.merges.emplace_back(pair.at(0).get_string().value_unsafe(), pair.at(1).get_string().value_unsafe());
          } else {
            throw Error(path + ": model.merges entries must be \"a b\" strings or [a, b] pairs");
          }
        }
      } else {
        model[name] = Json::parse(simdjson::to_string(model_field.value));
      }
    }
    rest["model"] = std::move(model);
  }
  return build(rest, std::move(tables), path);
}

}  // namespace snapformer
