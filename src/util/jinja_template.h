// JinjaTemplate: the subset of Jinja2 that Hugging Face chat templates use,
// rendered the way transformers renders them (trim_blocks, lstrip_blocks,
// loop controls), with JSON values as the data model.
//
// Supported: text, {{ expr }}, {% if/elif/else %}, {% for x in xs [if c] %}
// (also `for k, v in d.items()`, loop.index/index0/first/last/length/
// revindex/revindex0, {% else %}, break, continue), {% set x = ... %} and
// {% set ns.attr = ... %}, comments, whitespace control ({%- -%} {{- -}});
// expressions with literals, lists, dicts, attribute and item access, slices,
// + - * / // % ~, comparisons, in / not in, and / or / not, `a if c else b`,
// tests (defined, undefined, none, string, number, mapping, iterable,
// sequence, boolean, true, false, even, odd), filters (trim, length, count,
// upper, lower, title, capitalize, first, last, join, default, items, list,
// string, int, float, tojson, replace, selectattr, rejectattr, map(attribute),
// safe, reverse, unique), methods of strings (strip, lstrip, rstrip, split,
// startswith, endswith, upper, lower, title, replace) and dicts (items,
// keys, values, get), and the globals range(), namespace() and whatever the
// caller adds as functions. An undefined name renders as "" and is false.
// Limits: 100,000 loop iterations and range() elements per rendering, 64 MB
// per string and output, nesting 100 blocks / 200 expressions deep; beyond
// them rendering or parsing fails with an Error (templates come with model
// folders downloaded from the hub).
//
// Thread-safety: a parsed template is immutable; render() may run on many
// threads at once.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "util/json_file.h"

namespace snapformer::jinja {

struct Node;

// A callable global such as raise_exception(message): takes the evaluated
// positional arguments; throws Error to stop the rendering.
using Function = std::function<Json(const std::vector<Json>&)>;

class Template {
 public:
  // Parses `source`; throws Error("<label>: line N: ...") on a syntax error.
  Template(const std::string& source, const std::string& label);
  ~Template();
  Template(Template&&) noexcept;
  Template& operator=(Template&&) noexcept;

  // Renders with `variables` (a JSON object) and `functions` in scope. Throws
  // Error naming the template for an evaluation error, or the message a
  // function threw.
  std::string render(const Json& variables, const std::map<std::string, Function>& functions = {}) const;

 private:
  std::vector<std::unique_ptr<Node>> body_;
  std::string label_;
};

}  // namespace snapformer::jinja
