// libFuzzer target: any byte string as a chat template (model folders come
// from the hub) either fails to parse or render with an Error, or renders;
// never a crash, a hang or unbounded memory.
#include <cstddef>
#include <cstdint>
#include <string>

#include "util/error.h"
#include "util/jinja_template.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string source(reinterpret_cast<const char*>(data), size);
  static const snapformer::Json variables = {
      {"messages", {{{"role", "system"}, {"content", "Be brief."}}, {{"role", "user"}, {"content", "Hi"}}}},
      {"add_generation_prompt", true},
      {"bos_token", "<s>"},
      {"eos_token", "</s>"}};
  try {
    const snapformer::jinja::Template t(source, "fuzz");
    t.render(variables);
  } catch (const snapformer::Error&) {
  }
  return 0;
}
