#include "tasks/chat_template.h"

#include <filesystem>

#include "util/error.h"

namespace snapformer {
namespace {

namespace fs = std::filesystem;

constexpr const char* kPlainTemplate =
    "{% for message in messages %}{{ message['role'] }}: {{ message['content'] }}\n"
    "{% endfor %}{% if add_generation_prompt %}assistant:{% endif %}";

// A special token in tokenizer_config.json: a string, or an AddedToken
// object {"content": ...}.
std::string token_text(const Json& config, const char* field) {
  if (!config.contains(field)) return "";
  const Json& value = config[field];
  if (value.is_string()) return value.get<std::string>();
  if (value.is_object() && value.contains("content") && value["content"].is_string()) return value["content"].get<std::string>();
  return "";
}

// Message content as text: a string, null (an assistant turn with tool calls
// only), or OpenAI's list of parts, of which only text parts are understood.
Json content_text(const Json& content, std::size_t index) {
  const std::string where = "messages[" + std::to_string(index) + "].content";
  if (content.is_string()) return content;
  if (content.is_null()) return "";
  if (!content.is_array()) throw Error(where + " must be a string or a list of text parts");
  std::string text;
  for (const Json& part : content) {
    if (!part.is_object() || part.value("type", "") != "text" || !part.contains("text") || !part["text"].is_string())
      throw Error(where + ": only parts {\"type\": \"text\", \"text\": ...} are supported");
    text += part["text"].get<std::string>();
  }
  return text;
}

}  // namespace

ChatTemplate::ChatTemplate(const std::string& source, const std::string& label)
    : template_(std::make_shared<jinja::Template>(source, label)) {}

ChatTemplate ChatTemplate::plain() {
  ChatTemplate t(kPlainTemplate, "plain chat template");
  t.plain_ = true;
  t.stop_sequences_ = {"\nuser:", "\nsystem:"};
  return t;
}

ChatTemplate ChatTemplate::from_folder(const std::string& directory) {
  const fs::path config_file = fs::path(directory) / "tokenizer_config.json";
  return from_folder(directory, fs::exists(config_file) ? read_json_file(config_file.string()) : Json::object());
}

ChatTemplate ChatTemplate::from_folder(const std::string& directory, const Json& tokenizer_config) {
  const fs::path jinja_file = fs::path(directory) / "chat_template.jinja";
  const fs::path config_file = fs::path(directory) / "tokenizer_config.json";
  const Json config = tokenizer_config.is_object() ? tokenizer_config : Json::object();
  std::string source, label;
  if (fs::exists(jinja_file)) {
    source = read_file(jinja_file.string());
    label = jinja_file.string();
  } else if (config.contains("chat_template")) {
    const Json& value = config["chat_template"];
    label = config_file.string() + ": chat_template";
    if (value.is_string()) {
      source = value.get<std::string>();
    } else if (value.is_array()) {
      for (const Json& named : value)
        if (named.is_object() && named.value("name", "") == "default" && named.contains("template") && named["template"].is_string())
          source = named["template"].get<std::string>();
      if (source.empty()) throw Error(label + ": a list of templates without one named 'default'");
    } else {
      throw Error(label + ": must be a string or a list of {name, template}");
    }
  }
  ChatTemplate result = source.empty() ? plain() : ChatTemplate(source, label);
  result.bos_token_ = token_text(config, "bos_token");
  result.eos_token_ = token_text(config, "eos_token");
  return result;
}

std::string ChatTemplate::render(const Json& messages, bool add_generation_prompt) const {
  if (!messages.is_array() || messages.empty()) throw Error("'messages' must be a non-empty list");
  Json normalized = Json::array();
  for (std::size_t i = 0; i < messages.size(); ++i) {
    const Json& message = messages[i];
    const std::string where = "messages[" + std::to_string(i) + "]";
    if (!message.is_object()) throw Error(where + " must be an object with 'role' and 'content'");
    if (!message.contains("role") || !message["role"].is_string() || message["role"].get<std::string>().empty())
      throw Error(where + ".role must be a non-empty string");
    if (!message.contains("content") && !message.contains("tool_calls")) throw Error(where + " has no 'content'");
    Json copy = message;
    copy["content"] = content_text(message.value("content", Json()), i);
    normalized.push_back(std::move(copy));
  }
  const Json variables = {{"messages", normalized},
                          {"add_generation_prompt", add_generation_prompt},
                          {"bos_token", bos_token_},
                          {"eos_token", eos_token_}};
  const std::map<std::string, jinja::Function> functions = {
      {"raise_exception", [](const std::vector<Json>& args) -> Json {
         throw Error("the chat template refused the conversation: " +
                     (args.empty() || !args[0].is_string() ? std::string("(no message)") : args[0].get<std::string>()));
       }}};
  return template_->render(variables, functions);
}

}  // namespace snapformer
