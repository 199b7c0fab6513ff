// ChatTemplate: turns a conversation (OpenAI-style messages) into the prompt
// text a decoder model was trained on, with the model folder's own chat
// template when it has one (chat_template.jinja, or tokenizer_config.json's
// "chat_template": a string, or a list of named templates of which "default"
// is used), rendered as transformers' apply_chat_template renders it; else
// the documented plain template:
//
//   system: You are terse.
//   user: Hello there!
//   assistant:
//
// (one "ROLE: CONTENT" line per message, then "assistant:" when a reply is
// wanted), whose generations stop at a new "\nuser:" or "\nsystem:" line.
//
// Thread-safety: immutable after loading; render() may run on many threads.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "util/jinja_template.h"
#include "util/json_file.h"

namespace snapformer {

class ChatTemplate {
 public:
  // The folder's template, or the plain one. Throws Error naming the file
  // when a template exists but does not parse.
  static ChatTemplate from_folder(const std::string& directory);
  // The same with the folder's tokenizer_config.json already parsed (an
  // empty object when it has none), as Pipeline::load has it.
  static ChatTemplate from_folder(const std::string& directory, const Json& tokenizer_config);
  static ChatTemplate plain();

  // `messages`: [{"role": string, "content": string | [{"type": "text",
  // "text": ...}, ...] | null}, ...]; text parts are joined, other parts
  // refused. Throws Error naming the message that is malformed, or the
  // message the template raised (raise_exception).
  std::string render(const Json& messages, bool add_generation_prompt = true) const;

  bool is_plain() const { return plain_; }
  // Stop sequences the template's replies end with when the model does not
  // stop on its own (plain template: a new user or system line).
  const std::vector<std::string>& stop_sequences() const { return stop_sequences_; }

 private:
  ChatTemplate(const std::string& source, const std::string& label);

  std::shared_ptr<const jinja::Template> template_;
  bool plain_ = false;
  std::string bos_token_, eos_token_;
  std::vector<std::string> stop_sequences_;
};

}  // namespace snapformer
