// Chat templates: the Jinja subset reproduces Jinja2 (configured as
// transformers configures it) byte for byte on real and synthetic templates
// (tests/data/chat_templates/goldens.json, made by make_goldens.py beside it),
// and ChatTemplate finds a folder's template or falls back to the plain one.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>

#include "tasks/chat_template.h"
#include "test_util.h"
#include "util/error.h"
#include "util/jinja_template.h"

namespace snapformer {
namespace {

using ::testing::HasSubstr;

TEST(JinjaTemplate, ReproducesJinja2OnEveryGolden) {
  const Json goldens = read_json_file(testing::data_path("chat_templates/goldens.json"));
  int checked = 0;
  for (const Json& c : goldens["cases"]) {
    const std::string name = c["template"].get<std::string>() + "/" + c["conversation"].get<std::string>() +
                             (c["add_generation_prompt"].get<bool>() ? "/prompt" : "");
    const jinja::Template t(goldens["templates"][c["template"].get<std::string>()].get<std::string>(), name);
    const Json variables = {{"messages", goldens["conversations"][c["conversation"].get<std::string>()]},
                            {"add_generation_prompt", c["add_generation_prompt"]},
                            {"bos_token", "<s>"},
                            {"eos_token", "</s>"},
                            {"extra", {{"alpha", 1}, {"beta", "two"}, {"gamma", {3.5, nullptr, true}}}},
                            {"none_value", nullptr}};
    const std::map<std::string, jinja::Function> functions = {
        {"raise_exception", [](const std::vector<Json>& a) -> Json { throw Error(a.at(0).get<std::string>()); }}};
    if (c.contains("error")) {
      try {
        t.render(variables, functions);
        ADD_FAILURE() << name << ": rendered, Jinja2 raised";
      } catch (const Error& e) {
        EXPECT_EQ(std::string(e.what()), c["error"].get<std::string>()) << name;
      }
    } else {
      EXPECT_EQ(t.render(variables, functions), c["expected"].get<std::string>()) << name;
    }
    ++checked;
  }
  EXPECT_EQ(checked, 40);
}

TEST(JinjaTemplate, SyntaxErrorsNameTheLine) {
  const auto error_of = [](const std::string& source) -> std::string {
    try {
      jinja::Template(source, "t").render(Json::object());
    } catch (const Error& e) {
      return e.what();
    }
    return "no error";
  };
  EXPECT_THAT(error_of("a\n{% if x %}b"), HasSubstr("t: line 2: {% if %} without {% endif %}"));
  EXPECT_THAT(error_of("{{ 'unterminated }}"), HasSubstr("a tag opened here is never closed"));
  EXPECT_THAT(error_of("{{ x + }}"), HasSubstr("expected a value"));
  EXPECT_THAT(error_of("{% macro m() %}{% endmacro %}"), HasSubstr("unsupported or misplaced statement '{% macro %}'"));
  EXPECT_THAT(error_of("{{ x | nosuchfilter }}"), HasSubstr("unknown filter 'nosuchfilter'"));
  EXPECT_THAT(error_of("{{ 1 / 0 }}"), HasSubstr("division by zero"));
  EXPECT_EQ(error_of("{{ missing.attr.deeper }}|{{ missing is defined }}"), "no error");
  // Hostile templates end in an Error, not in a crash or a hang.
  EXPECT_THAT(error_of("{{ 111111111111111111111111111111 }}"), HasSubstr("integer out of range"));
  EXPECT_THAT(error_of("{% for a in range(99999) %}{% for b in range(99999) %}{% endfor %}{% endfor %}"), HasSubstr("runs too long"));
  EXPECT_THAT(error_of("{{ 'x' * 100000000000 }}"), HasSubstr("a string of over 64 MB"));
  EXPECT_THAT(error_of("{% set ns = namespace(s='xxxxxxxxxxxxxxxx') %}{% for i in range(40) %}{% set ns.s = ns.s + ns.s %}{% endfor %}"), HasSubstr("over 64 MB"));
  EXPECT_THAT(error_of(std::string(300, '(') + "1" + std::string(300, ')')), HasSubstr("no error"));  // plain text
  EXPECT_THAT(error_of("{{ " + std::string(300, '(') + "1" + std::string(300, ')') + " }}"), HasSubstr("nested too deeply"));
}

TEST(ChatTemplate, FolderTemplateOrThePlainOne) {
  const auto dir = testing::scratch_directory("chat");
  const Json messages = {{{"role", "system"}, {"content", "Be brief."}},
                         {{"role", "user"}, {"content", {{{"type", "text"}, {"text", "Hi "}}, {{"type", "text"}, {"text", "there"}}}}}};
  // No template: the plain one.
  const ChatTemplate plain = ChatTemplate::from_folder(dir.string());
  EXPECT_TRUE(plain.is_plain());
  EXPECT_EQ(plain.render(messages), "system: Be brief.\nuser: Hi there\nassistant:");
  EXPECT_THAT(plain.stop_sequences(), ::testing::ElementsAre("\nuser:", "\nsystem:"));
  // tokenizer_config.json's template, with its special tokens as AddedToken objects.
  std::ofstream(dir / "tokenizer_config.json")
      << R"({"bos_token": {"content": "<s>"}, "eos_token": "</s>",
             "chat_template": "{{ bos_token }}{% for m in messages %}[{{ m.role }}]{{ m.content }}{{ eos_token }}{% endfor %}"})";
  const ChatTemplate own = ChatTemplate::from_folder(dir.string());
  EXPECT_FALSE(own.is_plain());
  EXPECT_EQ(own.render(messages), "<s>[system]Be brief.</s>[user]Hi there</s>");
  // chat_template.jinja wins over the config's.
  std::ofstream(dir / "chat_template.jinja") << "{{ messages | length }}";
  EXPECT_EQ(ChatTemplate::from_folder(dir.string()).render(messages), "2");
  // Bad conversations are named.
  EXPECT_THROW(plain.render(Json::array()), Error);
  try {
    plain.render(Json::array({{{"role", "user"}, {"content", {{{"type", "image_url"}}}}}}));
    FAIL();
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), HasSubstr("messages[0].content: only parts"));
  }
  try {
    plain.render(Json::array({{{"content", "x"}}}));
    FAIL();
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), HasSubstr("messages[0].role must be a non-empty string"));
  }
}

}  // namespace
}  // namespace snapformer
