#include "util/jinja_template.h"

#include <algorithm>
#include <charconv>
#include <initializer_list>
#include <cmath>
#include <set>

#include "util/error.h"

namespace snapformer::jinja {

// ---------------------------------------------------------------------------
// Values: JSON, plus "undefined" (a discarded JSON value), with Python's rules
// for truth, printing and arithmetic.

namespace {

Json undefined() { return Json(Json::value_t::discarded); }
bool is_undefined(const Json& v) { return v.is_discarded(); }

bool truthy(const Json& v) {
  if (v.is_discarded() || v.is_null()) return false;
  if (v.is_boolean()) return v.get<bool>();
  if (v.is_number_integer()) return v.get<int64_t>() != 0;
  if (v.is_number()) return v.get<double>() != 0.0;
  if (v.is_string()) return !v.get_ref<const std::string&>().empty();
  return !v.empty();  // arrays and objects
}

std::string python_float(double d) {
  if (std::isnan(d)) return "nan";
  if (std::isinf(d)) return d > 0 ? "inf" : "-inf";
  char buffer[64];
  const auto [end, ec] = std::to_chars(buffer, buffer + sizeof buffer, d);
  std::string s(buffer, end);
  if (s.find_first_of(".en") == std::string::npos) s += ".0";
  return s;
}

std::string quote_python(const std::string& s) {
  const char q = s.find('\'') != std::string::npos && s.find('"') == std::string::npos ? '"' : '\'';
  std::string out(1, q);
  for (char c : s) {
    if (c == q || c == '\\') out += '\\';
    if (c == '\n') { out += "\\n"; continue; }
    out += c;
  }
  return out + q;
}

std::string repr(const Json& v);

// str(v) in Python: what {{ v }} prints.
std::string to_text(const Json& v) {
  if (v.is_discarded()) return "";
  if (v.is_string()) return v.get<std::string>();
  if (v.is_boolean()) return v.get<bool>() ? "True" : "False";
  if (v.is_null()) return "None";
  if (v.is_number_integer()) return std::to_string(v.get<int64_t>());
  if (v.is_number_unsigned()) return std::to_string(v.get<uint64_t>());
  if (v.is_number_float()) return python_float(v.get<double>());
  return repr(v);
}

std::string repr(const Json& v) {
  if (v.is_string()) return quote_python(v.get<std::string>());
  if (v.is_array()) {
    std::string out = "[";
    for (std::size_t i = 0; i < v.size(); ++i) out += (i ? ", " : "") + repr(v[i]);
    return out + "]";
  }
  if (v.is_object()) {
    std::string out = "{";
    bool first = true;
    for (const auto& [key, value] : v.items()) {
      out += (first ? "" : ", ") + quote_python(key) + ": " + repr(value);
      first = false;
    }
    return out + "}";
  }
  return to_text(v);
}

// json.dumps(v, ensure_ascii=False[, indent=N]) as transformers' tojson calls it.
void python_json(const Json& v, int indent, int depth, std::string& out) {
  const std::string newline = indent >= 0 ? "\n" + std::string(static_cast<std::size_t>(indent * (depth + 1)), ' ') : "";
  const std::string close = indent >= 0 ? "\n" + std::string(static_cast<std::size_t>(indent * depth), ' ') : "";
  const std::string comma = indent >= 0 ? "," : ", ";
  if (v.is_array()) {
    if (v.empty()) { out += "[]"; return; }
    out += "[";
    for (std::size_t i = 0; i < v.size(); ++i) {
      out += (i ? comma : "") + newline;
      python_json(v[i], indent, depth + 1, out);
    }
    out += close + "]";
  } else if (v.is_object()) {
    if (v.empty()) { out += "{}"; return; }
    out += "{";
    bool first = true;
    for (const auto& [key, value] : v.items()) {
      out += (first ? "" : comma) + newline + Json(key).dump(-1, ' ', false) + ": ";
      python_json(value, indent, depth + 1, out);
      first = false;
    }
    out += close + "}";
  } else if (v.is_number_float()) {
    out += python_float(v.get<double>());
  } else if (v.is_discarded()) {
    out += "null";
  } else {
    out += v.dump(-1, ' ', false, Json::error_handler_t::replace);
  }
}

bool is_number(const Json& v) { return v.is_number() && !v.is_boolean(); }
double as_double(const Json& v) { return v.is_boolean() ? (v.get<bool>() ? 1.0 : 0.0) : v.get<double>(); }

// ---------------------------------------------------------------------------
// Expressions.

struct Expr {
  enum class Kind { kLiteral, kName, kList, kDict, kAttr, kItem, kSlice, kCall, kMethod, kFilter, kTest, kUnary, kBinary, kCondition };
  Kind kind = Kind::kLiteral;
  Json literal;
  std::string name;  // variable, attribute, method, filter, test, or operator
  std::vector<std::unique_ptr<Expr>> args;  // operands first, then arguments
  std::vector<std::pair<std::string, std::unique_ptr<Expr>>> kwargs;
  bool negated = false;  // `is not`
};
using ExprPtr = std::unique_ptr<Expr>;

struct Token {
  enum class Type { kName, kString, kNumber, kOperator, kEnd };
  Type type = Type::kEnd;
  std::string text;
  Json number;
};

// Splits the inside of a tag into tokens.
std::vector<Token> tokenize(const std::string& s, const std::string& where) {
  std::vector<Token> tokens;
  std::size_t i = 0;
  static const char* kTwoChar[] = {"==", "!=", "<=", ">=", "//", "**"};
  while (i < s.size()) {
    const char c = s[i];
    if (std::isspace(static_cast<unsigned char>(c))) { ++i; continue; }
    Token t;
    if (std::isalpha(static_cast<unsigned char>(c)) || c == '_') {
      std::size_t j = i;
      while (j < s.size() && (std::isalnum(static_cast<unsigned char>(s[j])) || s[j] == '_')) ++j;
      t.type = Token::Type::kName;
      t.text = s.substr(i, j - i);
      i = j;
    } else if (std::isdigit(static_cast<unsigned char>(c))) {
      std::size_t j = i;
      bool is_float = false;
      while (j < s.size() && (std::isdigit(static_cast<unsigned char>(s[j])) || s[j] == '_' ||
                              (s[j] == '.' && j + 1 < s.size() && std::isdigit(static_cast<unsigned char>(s[j + 1]))))) {
        is_float |= s[j] == '.';
        ++j;
      }
      std::string digits = s.substr(i, j - i);
      digits.erase(std::remove(digits.begin(), digits.end(), '_'), digits.end());
      t.type = Token::Type::kNumber;
      if (is_float) {
        t.number = std::strtod(digits.c_str(), nullptr);
      } else {
        int64_t value = 0;
        const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
        if (ec != std::errc() || end != digits.data() + digits.size()) throw Error(where + ": integer out of range: " + digits);
        t.number = value;
      }
      i = j;
    } else if (c == '\'' || c == '"') {
      std::size_t j = i + 1;
      std::string value;
      while (j < s.size() && s[j] != c) {
        if (s[j] == '\\' && j + 1 < s.size()) {
          const char e = s[++j];
          value += e == 'n' ? '\n' : e == 't' ? '\t' : e == 'r' ? '\r' : e;
        } else {
          value += s[j];
        }
        ++j;
      }
      if (j >= s.size()) throw Error(where + ": unterminated string");
      t.type = Token::Type::kString;
      t.text = value;
      i = j + 1;
    } else {
      t.type = Token::Type::kOperator;
      t.text = std::string(1, c);
      for (const char* two : kTwoChar)
        if (s.compare(i, 2, two) == 0) t.text = two;
      if (std::string("()[]{},.:|~+-*/%<>=!").find(c) == std::string::npos)
        throw Error(where + ": unexpected character '" + std::string(1, c) + "'");
      i += t.text.size();
    }
    tokens.push_back(std::move(t));
  }
  tokens.push_back(Token{});
  return tokens;
}

class ExprParser {
 public:
  ExprParser(std::vector<Token> tokens, std::string where) : tokens_(std::move(tokens)), where_(std::move(where)) {}

  const Token& peek(std::size_t ahead = 0) const { return tokens_[std::min(pos_ + ahead, tokens_.size() - 1)]; }
  bool at_end() const { return peek().type == Token::Type::kEnd; }
  bool is_op(const std::string& op, std::size_t ahead = 0) const {
    return peek(ahead).type == Token::Type::kOperator && peek(ahead).text == op;
  }
  bool is_name(const std::string& name, std::size_t ahead = 0) const {
    return peek(ahead).type == Token::Type::kName && peek(ahead).text == name;
  }
  Token next() { return tokens_[pos_ < tokens_.size() - 1 ? pos_++ : pos_]; }
  [[noreturn]] void fail(const std::string& what) const {
    throw Error(where_ + ": " + what + (at_end() ? " at the end" : " near '" + (peek().type == Token::Type::kString ? "\"" + peek().text + "\"" : peek().text.empty() ? to_text(peek().number) : peek().text) + "'"));
  }
  void expect_op(const std::string& op) {
    if (!is_op(op)) fail("expected '" + op + "'");
    next();
  }
  std::string expect_name() {
    if (peek().type != Token::Type::kName) fail("expected a name");
    return next().text;
  }
  void expect_end() {
    if (!at_end()) fail("unexpected text");
  }

  // expression := or ['if' or ['else' expression]]
  ExprPtr expression() {
    const DepthGuard guard(*this);
    ExprPtr value = logical_or();
    if (is_name("if")) {
      next();
      auto e = make(Expr::Kind::kCondition);
      ExprPtr condition = logical_or();
      ExprPtr otherwise;
      if (is_name("else")) {
        next();
        otherwise = expression();
      } else {
        otherwise = make(Expr::Kind::kLiteral);
        otherwise->literal = undefined();
      }
      e->args.push_back(std::move(condition));
      e->args.push_back(std::move(value));
      e->args.push_back(std::move(otherwise));
      return e;
    }
    return value;
  }

  // An expression without a trailing `if ... else ...`: the iterable of
  // `for x in xs if cond`, whose `if` filters the loop.
  ExprPtr expression_without_condition() { return logical_or(); }

  // A name or `a.b` target of {% set %}.
  ExprPtr primary_only() { return postfix(primary(), /*allow_calls=*/false); }

 private:
  // Nesting beyond kMaxDepth (parentheses, lists, unary signs) is refused
  // rather than exhausting the stack.
  static constexpr int kMaxDepth = 200;
  struct DepthGuard {
    explicit DepthGuard(ExprParser& p) : parser(p) {
      if (++parser.depth_ > kMaxDepth) parser.fail("expression nested too deeply");
    }
    ~DepthGuard() { --parser.depth_; }
    ExprParser& parser;
  };

  ExprPtr make(Expr::Kind kind) {
    auto e = std::make_unique<Expr>();
    e->kind = kind;
    return e;
  }
  ExprPtr binary(const std::string& op, ExprPtr left, ExprPtr right) {
    auto e = make(Expr::Kind::kBinary);
    e->name = op;
    e->args.push_back(std::move(left));
    e->args.push_back(std::move(right));
    return e;
  }
  // One level of left-associative operators: operand (op operand)*, where
  // `ops` are words (and, or) or operator tokens.
  ExprPtr left_associative(ExprPtr (ExprParser::*operand)(), std::initializer_list<const char*> ops) {
    ExprPtr left = (this->*operand)();
    for (;;) {
      const char* op = nullptr;
      for (const char* candidate : ops)
        if (is_name(candidate) || is_op(candidate)) op = candidate;
      if (op == nullptr) return left;
      next();
      left = binary(op, std::move(left), (this->*operand)());
    }
  }
  ExprPtr logical_or() { return left_associative(&ExprParser::logical_and, {"or"}); }
  ExprPtr logical_and() { return left_associative(&ExprParser::logical_not, {"and"}); }
  ExprPtr logical_not() {
    if (is_name("not")) {
      next();
      auto e = make(Expr::Kind::kUnary);
      e->name = "not";
      e->args.push_back(logical_not());
      return e;
    }
    return comparison();
  }
  ExprPtr comparison() {
    ExprPtr left = additive();
    for (;;) {
      if (peek().type == Token::Type::kOperator &&
          (peek().text == "==" || peek().text == "!=" || peek().text == "<" || peek().text == ">" ||
           peek().text == "<=" || peek().text == ">=")) {
        const std::string op = next().text;
        left = binary(op, std::move(left), additive());
      } else if (is_name("in")) {
        next();
        left = binary("in", std::move(left), additive());
      } else if (is_name("not") && is_name("in", 1)) {
        next();
        next();
        left = binary("not in", std::move(left), additive());
      } else {
        return left;
      }
    }
  }
  ExprPtr additive() { return left_associative(&ExprParser::concat, {"+", "-"}); }
  ExprPtr concat() { return left_associative(&ExprParser::multiplicative, {"~"}); }
  ExprPtr multiplicative() { return left_associative(&ExprParser::unary, {"*", "/", "//", "%"}); }
  ExprPtr unary() {
    const DepthGuard guard(*this);
    if (is_op("-") || is_op("+")) {
      const std::string op = next().text;
      auto e = make(Expr::Kind::kUnary);
      e->name = op;
      e->args.push_back(unary());
      return e;
    }
    return filters_and_tests(postfix(primary(), true));
  }
  void call_arguments(Expr& e) {
    expect_op("(");
    while (!is_op(")")) {
      if (peek().type == Token::Type::kName && is_op("=", 1)) {
        std::string key = next().text;
        next();
        e.kwargs.emplace_back(std::move(key), expression());
      } else {
        e.args.push_back(expression());
      }
      if (!is_op(",")) break;
      next();
    }
    expect_op(")");
  }
  ExprPtr filters_and_tests(ExprPtr value) {
    for (;;) {
      if (is_op("|")) {
        next();
        auto e = make(Expr::Kind::kFilter);
        e->name = expect_name();
        e->args.push_back(std::move(value));
        if (is_op("(")) call_arguments(*e);
        value = std::move(e);
      } else if (is_name("is")) {
        next();
        auto e = make(Expr::Kind::kTest);
        if (is_name("not")) {
          next();
          e->negated = true;
        }
        e->name = expect_name();
        e->args.push_back(std::move(value));
        if (is_op("(")) call_arguments(*e);
        value = std::move(e);
      } else {
        return value;
      }
    }
  }
  ExprPtr postfix(ExprPtr value, bool allow_calls) {
    for (;;) {
      if (is_op(".")) {
        next();
        const std::string name = expect_name();
        if (allow_calls && is_op("(")) {
          auto e = make(Expr::Kind::kMethod);
          e->name = name;
          e->args.push_back(std::move(value));
          call_arguments(*e);
          value = std::move(e);
        } else {
          auto e = make(Expr::Kind::kAttr);
          e->name = name;
          e->args.push_back(std::move(value));
          value = std::move(e);
        }
      } else if (is_op("[")) {
        next();
        ExprPtr parts[3];
        int colons = 0;
        while (!is_op("]")) {
          if (is_op(":")) {
            if (++colons > 2) fail("too many ':' in a slice");
            next();
            continue;
          }
          if (parts[colons]) fail("expected ']'");
          parts[colons] = expression();
        }
        next();
        auto e = make(colons ? Expr::Kind::kSlice : Expr::Kind::kItem);
        e->args.push_back(std::move(value));
        for (int i = 0; i < (colons ? 3 : 1); ++i) {
          if (!parts[i]) {
            if (!colons) fail("empty subscript");
            parts[i] = make(Expr::Kind::kLiteral);
          }
          e->args.push_back(std::move(parts[i]));
        }
        value = std::move(e);
      } else if (allow_calls && is_op("(") && value->kind == Expr::Kind::kName) {
        auto e = make(Expr::Kind::kCall);
        e->name = value->name;
        call_arguments(*e);
        value = std::move(e);
      } else {
        return value;
      }
    }
  }
  ExprPtr primary() {
    const Token t = peek();
    if (t.type == Token::Type::kString) {
      next();
      auto e = make(Expr::Kind::kLiteral);
      e->literal = t.text;
      while (peek().type == Token::Type::kString) e->literal = e->literal.get<std::string>() + next().text;  // 'a' 'b'
      return e;
    }
    if (t.type == Token::Type::kNumber) {
      next();
      auto e = make(Expr::Kind::kLiteral);
      e->literal = t.number;
      return e;
    }
    if (t.type == Token::Type::kName) {
      next();
      auto e = make(Expr::Kind::kLiteral);
      if (t.text == "true" || t.text == "True") e->literal = true;
      else if (t.text == "false" || t.text == "False") e->literal = false;
      else if (t.text == "none" || t.text == "None") e->literal = nullptr;
      else {
        e->kind = Expr::Kind::kName;
        e->name = t.text;
      }
      return e;
    }
    if (is_op("(")) {
      next();
      ExprPtr inner = expression();
      expect_op(")");
      return inner;
    }
    if (is_op("[")) {
      next();
      auto e = make(Expr::Kind::kList);
      while (!is_op("]")) {
        e->args.push_back(expression());
        if (!is_op(",")) break;
        next();
      }
      expect_op("]");
      return e;
    }
    if (is_op("{")) {
      next();
      auto e = make(Expr::Kind::kDict);
      while (!is_op("}")) {
        e->args.push_back(expression());
        expect_op(":");
        e->args.push_back(expression());
        if (!is_op(",")) break;
        next();
      }
      expect_op("}");
      return e;
    }
    fail("expected a value");
  }

  std::vector<Token> tokens_;
  std::size_t pos_ = 0;
  int depth_ = 0;
  std::string where_;
};

}  // namespace

// ---------------------------------------------------------------------------
// Statements.

struct Node {
  enum class Kind { kText, kOutput, kIf, kFor, kSet, kBreak, kContinue };
  Kind kind = Kind::kText;
  std::string text;
  int line = 0;
  std::vector<ExprPtr> exprs;  // output: value; if: conditions; for: iterable, filter; set: target, value
  std::vector<std::vector<std::unique_ptr<Node>>> bodies;  // if: one per branch (+ else); for: body, else
  std::vector<std::string> names;  // for: loop variables
};
using NodePtr = std::unique_ptr<Node>;

namespace {

struct Segment {
  enum class Type { kText, kExpression, kStatement };
  Type type;
  std::string content;
  int line;
};

int count_lines(const std::string& text, std::size_t begin, std::size_t end) {
  return static_cast<int>(std::count(text.begin() + static_cast<std::ptrdiff_t>(begin),
                                     text.begin() + static_cast<std::ptrdiff_t>(end), '\n'));
}

// The end of a tag opened at `begin` (the index of its closing "}}", "%}" or
// "#}"), skipping quoted strings inside expressions and statements.
std::size_t find_tag_end(const std::string& src, std::size_t begin, char kind) {
  const std::string close = kind == '{' ? "}}" : kind == '%' ? "%}" : "#}";
  if (kind == '#') return src.find(close, begin);
  char quote = 0;
  for (std::size_t i = begin; i + 1 < src.size(); ++i) {
    if (quote) {
      if (src[i] == '\\') ++i;
      else if (src[i] == quote) quote = 0;
    } else if (src[i] == '\'' || src[i] == '"') {
      quote = src[i];
    } else if (src.compare(i, 2, close) == 0) {
      return i;
    }
  }
  return std::string::npos;
}

// Splits the source into text, {{ }} and {% %} (comments dropped), applying
// whitespace control ('-'), trim_blocks and lstrip_blocks as transformers
// configures Jinja for chat templates.
std::vector<Segment> split_segments(const std::string& src, const std::string& label) {
  std::vector<Segment> segments;
  std::size_t pos = 0;
  bool strip_leading_whitespace = false;  // after a '-' closing
  bool strip_one_newline = false;         // trim_blocks, after a block tag
  while (pos < src.size()) {
    std::size_t start = pos;
    while ((start = src.find('{', start)) != std::string::npos && start + 1 < src.size() &&
           src[start + 1] != '{' && src[start + 1] != '%' && src[start + 1] != '#')
      ++start;
    if (start != std::string::npos && start + 1 >= src.size()) start = std::string::npos;
    std::string text = src.substr(pos, start == std::string::npos ? std::string::npos : start - pos);
    const int text_line = 1 + count_lines(src, 0, pos);
    if (strip_leading_whitespace) {
      const auto first = text.find_first_not_of(" \t\r\n");
      text.erase(0, first == std::string::npos ? text.size() : first);
    } else if (strip_one_newline && !text.empty() && text[0] == '\n') {
      text.erase(0, 1);
    }
    strip_leading_whitespace = strip_one_newline = false;
    if (start == std::string::npos) {
      if (!text.empty()) segments.push_back({Segment::Type::kText, text, text_line});
      break;
    }
    const char kind = src[start + 1];
    const char marker = start + 2 < src.size() ? src[start + 2] : 0;
    if (marker == '-') {
      const auto last = text.find_last_not_of(" \t\r\n");
      text.erase(last == std::string::npos ? 0 : last + 1);
    } else if (kind != '{' && marker != '+') {
      // lstrip_blocks: the spaces and tabs between a line's start (in the
      // source) and a block tag go.
      std::size_t back = start;
      while (back > 0 && (src[back - 1] == ' ' || src[back - 1] == '\t')) --back;
      const std::size_t blanks = start - back;
      if ((back == 0 || src[back - 1] == '\n') && blanks <= text.size()) text.erase(text.size() - blanks);
    }
    if (!text.empty()) segments.push_back({Segment::Type::kText, text, text_line});
    const std::size_t inner = start + 2 + (marker == '-' || marker == '+' ? 1 : 0);
    const std::size_t end = find_tag_end(src, inner, kind);
    const int tag_line = 1 + count_lines(src, 0, start);
    if (end == std::string::npos)
      throw Error(label + ": line " + std::to_string(tag_line) + ": a tag opened here is never closed");
    std::string content = src.substr(inner, end - inner);
    if (!content.empty() && content.back() == '-') {
      content.pop_back();
      strip_leading_whitespace = true;
    } else if (!content.empty() && content.back() == '+') {
      content.pop_back();
    } else if (kind != '{') {
      strip_one_newline = true;
    }
    if (kind == '{') segments.push_back({Segment::Type::kExpression, content, tag_line});
    else if (kind == '%') segments.push_back({Segment::Type::kStatement, content, tag_line});
    pos = end + 2;
  }
  return segments;
}

class StatementParser {
 public:
  StatementParser(std::vector<Segment> segments, std::string label)
      : segments_(std::move(segments)), label_(std::move(label)) {}

  std::vector<NodePtr> parse_all() {
    std::string ended_by;
    auto body = parse_body({}, ended_by);
    return body;
  }

 private:
  std::string where(int line) const { return label_ + ": line " + std::to_string(line); }

  static std::string first_word(const std::string& content) {
    const auto begin = content.find_first_not_of(" \t\r\n");
    if (begin == std::string::npos) return "";
    auto end = begin;
    while (end < content.size() && (std::isalnum(static_cast<unsigned char>(content[end])) || content[end] == '_')) ++end;
    return content.substr(begin, end - begin);
  }

  // Parses nodes until a statement whose first word is in `terminators`
  // (returned in `ended_by`, its segment consumed) or the end of the source.
  std::vector<NodePtr> parse_body(const std::set<std::string>& terminators, std::string& ended_by) {
    if (++depth_ > 100) throw Error(label_ + ": blocks nested more than 100 deep");
    struct Leave {
      int& depth;
      ~Leave() { --depth; }
    } leave{depth_};
    std::vector<NodePtr> body;
    while (index_ < segments_.size()) {
      const Segment& segment = segments_[index_];
      auto node = std::make_unique<Node>();
      node->line = segment.line;
      if (segment.type == Segment::Type::kText) {
        node->text = segment.content;
        ++index_;
        body.push_back(std::move(node));
        continue;
      }
      ExprParser parser(tokenize(segment.content, where(segment.line)), where(segment.line));
      if (segment.type == Segment::Type::kExpression) {
        node->kind = Node::Kind::kOutput;
        node->exprs.push_back(parser.expression());
        parser.expect_end();
        ++index_;
        body.push_back(std::move(node));
        continue;
      }
      const std::string word = first_word(segment.content);
      if (terminators.count(word)) {
        ended_by = word;
        return body;
      }
      ++index_;
      parser.next();  // the keyword
      if (word == "if") {
        node->kind = Node::Kind::kIf;
        node->exprs.push_back(parser.expression());
        parser.expect_end();
        for (;;) {
          std::string end;
          node->bodies.push_back(parse_body({"elif", "else", "endif"}, end));
          if (end.empty()) throw Error(where(node->line) + ": {% if %} without {% endif %}");
          const Segment& closing = segments_[index_++];
          ExprParser rest(tokenize(closing.content, where(closing.line)), where(closing.line));
          rest.next();
          if (end == "endif") {
            rest.expect_end();
            break;
          }
          if (end == "elif") {
            node->exprs.push_back(rest.expression());
          } else {
            auto always = std::make_unique<Expr>();
            always->literal = true;
            node->exprs.push_back(std::move(always));
          }
          rest.expect_end();
        }
      } else if (word == "for") {
        node->kind = Node::Kind::kFor;
        node->names.push_back(parser.expect_name());
        while (parser.is_op(",")) {
          parser.next();
          node->names.push_back(parser.expect_name());
        }
        if (!parser.is_name("in")) parser.fail("expected 'in'");
        parser.next();
        node->exprs.push_back(parser.expression_without_condition());
        if (parser.is_name("if")) {  // `for x in xs if cond`
          parser.next();
          node->exprs.push_back(parser.expression());
        }
        parser.expect_end();
        std::string end;
        node->bodies.push_back(parse_body({"else", "endfor"}, end));
        if (end.empty()) throw Error(where(node->line) + ": {% for %} without {% endfor %}");
        ++index_;
        if (end == "else") {
          node->bodies.push_back(parse_body({"endfor"}, end));
          if (end.empty()) throw Error(where(node->line) + ": {% for %} without {% endfor %}");
          ++index_;
        }
      } else if (word == "set") {
        node->kind = Node::Kind::kSet;
        node->exprs.push_back(parser.primary_only());
        parser.expect_op("=");
        node->exprs.push_back(parser.expression());
        parser.expect_end();
        const Expr& target = *node->exprs[0];
        if (target.kind != Expr::Kind::kName &&
            !(target.kind == Expr::Kind::kAttr && target.args[0]->kind == Expr::Kind::kName))
          throw Error(where(node->line) + ": {% set %} takes a name or name.attribute");
      } else if (word == "break" || word == "continue") {
        node->kind = word == "break" ? Node::Kind::kBreak : Node::Kind::kContinue;
        parser.expect_end();
      } else if (word == "generation" || word == "endgeneration") {
        continue;  // transformers' marker of assistant text: no output of its own
      } else {
        throw Error(where(segment.line) + ": unsupported or misplaced statement '{% " + word + " %}'");
      }
      body.push_back(std::move(node));
    }
    return body;
  }

  std::vector<Segment> segments_;
  std::size_t index_ = 0;
  int depth_ = 0;
  std::string label_;
};

// ---------------------------------------------------------------------------
// Evaluation.

enum class Flow { kNormal, kBreak, kContinue };

class Renderer {
 public:
  Renderer(const std::string& label, const std::map<std::string, Function>& functions)
      : label_(label), functions_(functions) {}

  std::vector<Json> scopes;
  std::string out;

  Flow run(const std::vector<NodePtr>& body) {
    for (const NodePtr& node : body) {
      const Flow flow = run(*node);
      if (flow != Flow::kNormal) return flow;
    }
    return Flow::kNormal;
  }

 private:
  [[noreturn]] void fail(const std::string& what) const { throw Error(label_ + ": line " + std::to_string(line_) + ": " + what); }

  Flow run(const Node& node) {
    line_ = node.line;
    switch (node.kind) {
      case Node::Kind::kText:
        out += node.text;
        return Flow::kNormal;
      case Node::Kind::kOutput:
        out += to_text(eval(*node.exprs[0]));
        return Flow::kNormal;
      case Node::Kind::kIf:
        for (std::size_t i = 0; i < node.exprs.size(); ++i)
          if (truthy(eval(*node.exprs[i]))) return run(node.bodies[i]);
        return Flow::kNormal;
      case Node::Kind::kSet: {
        Json value = eval(*node.exprs[1]);
        const Expr& target = *node.exprs[0];
        if (target.kind == Expr::Kind::kName) {
          scopes.back()[target.name] = std::move(value);
        } else {
          Json* object = lookup(target.args[0]->name);
          if (!object || !object->is_object()) fail("cannot set an attribute of '" + target.args[0]->name + "'");
          (*object)[target.name] = std::move(value);
        }
        return Flow::kNormal;
      }
      case Node::Kind::kBreak: return Flow::kBreak;
      case Node::Kind::kContinue: return Flow::kContinue;
      case Node::Kind::kFor: return run_for(node);
    }
    return Flow::kNormal;
  }

  Flow run_for(const Node& node) {
    const Json iterable = eval(*node.exprs[0]);
    std::vector<Json> items;
    if (iterable.is_array()) {
      items.assign(iterable.begin(), iterable.end());
    } else if (iterable.is_object()) {
      for (const auto& [key, value] : iterable.items()) items.push_back(key);
    } else if (iterable.is_string()) {
      for (char c : iterable.get<std::string>()) items.push_back(std::string(1, c));
    } else if (!is_undefined(iterable) && !iterable.is_null()) {
      fail("cannot loop over " + repr(iterable));
    }
    scopes.push_back(Json::object());
    if (node.exprs.size() > 1) {  // the loop's filter sees each item
      std::vector<Json> kept;
      for (const Json& item : items) {
        bind(node, item);
        if (truthy(eval(*node.exprs[1]))) kept.push_back(item);
      }
      items = std::move(kept);
    }
    const int64_t n = static_cast<int64_t>(items.size());
    for (int64_t i = 0; i < n; ++i) {
      spend(1);
      scopes.back() = Json::object();
      bind(node, items[static_cast<std::size_t>(i)]);
      scopes.back()["loop"] = {{"index", i + 1}, {"index0", i}, {"first", i == 0}, {"last", i == n - 1},
                               {"length", n}, {"revindex", n - i}, {"revindex0", n - i - 1},
                               {"previtem", i > 0 ? items[static_cast<std::size_t>(i - 1)] : undefined()},
                               {"nextitem", i + 1 < n ? items[static_cast<std::size_t>(i + 1)] : undefined()}};
      if (run(node.bodies[0]) == Flow::kBreak) break;
    }
    scopes.pop_back();
    if (n == 0 && node.bodies.size() > 1) return run(node.bodies[1]);
    return Flow::kNormal;
  }

  void bind(const Node& node, const Json& item) {
    if (node.names.size() == 1) {
      scopes.back()[node.names[0]] = item;
      return;
    }
    if (!item.is_array() || item.size() != node.names.size()) fail("cannot unpack " + repr(item) + " into the loop's names");
    for (std::size_t k = 0; k < node.names.size(); ++k) scopes.back()[node.names[k]] = item[k];
  }

  Json bounded(std::string text) {
    if (text.size() > kMaxOutputBytes) fail("a string of over 64 MB");
    return text;
  }

  // Counts loop iterations and range() elements against the budget.
  void spend(int64_t steps) {
    iterations_ += steps;
    if (iterations_ > kMaxIterations || out.size() > kMaxOutputBytes)
      fail("the template runs too long (over 100,000 loop iterations and range() elements, or 64 MB of output)");
  }

  Json* lookup(const std::string& name) {
    for (auto scope = scopes.rbegin(); scope != scopes.rend(); ++scope)
      if (auto it = scope->find(name); it != scope->end()) return &*it;
    return nullptr;
  }

  std::vector<Json> eval_args(const Expr& e, std::size_t first) {
    std::vector<Json> values;
    for (std::size_t i = first; i < e.args.size(); ++i) values.push_back(eval(*e.args[i]));
    return values;
  }
  Json kwarg(const Expr& e, const std::string& name, const std::vector<Json>& positional, std::size_t index, Json fallback) {
    for (const auto& [key, value] : e.kwargs)
      if (key == name) return eval(*value);
    return index < positional.size() ? positional[index] : fallback;
  }

  static int64_t python_index(int64_t index, int64_t size) { return index < 0 ? index + size : index; }

  Json item(const Json& container, const Json& key) {
    if (container.is_object() && key.is_string()) {
      const auto it = container.find(key.get<std::string>());
      return it == container.end() ? undefined() : *it;
    }
    if ((container.is_array() || container.is_string()) && key.is_number_integer()) {
      const int64_t size = static_cast<int64_t>(container.is_array() ? container.size() : container.get<std::string>().size());
      const int64_t i = python_index(key.get<int64_t>(), size);
      if (i < 0 || i >= size) return undefined();
      return container.is_array() ? container[static_cast<std::size_t>(i)]
                                  : Json(std::string(1, container.get<std::string>()[static_cast<std::size_t>(i)]));
    }
    return undefined();
  }

  Json slice(const Json& container, const Json& start_value, const Json& stop_value, const Json& step_value) {
    if (!container.is_array() && !container.is_string()) fail("cannot slice " + repr(container));
    const int64_t size = static_cast<int64_t>(container.is_array() ? container.size() : container.get<std::string>().size());
    const int64_t step = step_value.is_number_integer() ? step_value.get<int64_t>() : 1;
    if (step == 0) fail("slice step cannot be zero");
    const auto clamp = [&](const Json& v, int64_t fallback) {
      if (!v.is_number_integer()) return fallback;
      int64_t i = python_index(v.get<int64_t>(), size);
      return step > 0 ? std::clamp<int64_t>(i, 0, size) : std::clamp<int64_t>(i, -1, size - 1);
    };
    const int64_t start = clamp(start_value, step > 0 ? 0 : size - 1);
    const int64_t stop = clamp(stop_value, step > 0 ? size : -1);
    Json result = container.is_array() ? Json::array() : Json("");
    for (int64_t i = start; step > 0 ? i < stop : i > stop; i += step) {
      if (container.is_array()) result.push_back(container[static_cast<std::size_t>(i)]);
      else result.get_ref<std::string&>() += container.get<std::string>()[static_cast<std::size_t>(i)];
    }
    return result;
  }

  bool contains(const Json& haystack, const Json& needle) {
    if (haystack.is_string()) return needle.is_string() && haystack.get<std::string>().find(needle.get<std::string>()) != std::string::npos;
    if (haystack.is_array()) return std::find(haystack.begin(), haystack.end(), needle) != haystack.end();
    if (haystack.is_object()) return needle.is_string() && haystack.contains(needle.get<std::string>());
    return false;
  }

  Json binary(const std::string& op, const Json& a, const Json& b) {
    if (op == "==") return a == b;
    if (op == "!=") return a != b;
    if (op == "in") return contains(b, a);
    if (op == "not in") return !contains(b, a);
    if (op == "~") return bounded(to_text(a) + to_text(b));
    if (op == "<" || op == ">" || op == "<=" || op == ">=") {
      if (!((is_number(a) && is_number(b)) || (a.is_string() && b.is_string()))) fail("cannot compare " + repr(a) + " and " + repr(b));
      const bool less = a < b, greater = b < a;
      return op == "<" ? less : op == ">" ? greater : op == "<=" ? !greater : !less;
    }
    if (op == "+" && a.is_string() && b.is_string()) return bounded(a.get<std::string>() + b.get<std::string>());
    if (op == "+" && a.is_array() && b.is_array()) {
      spend(static_cast<int64_t>(b.size()));
      Json joined = a;
      joined.insert(joined.end(), b.begin(), b.end());
      return joined;
    }
    if (op == "*" && a.is_string() && b.is_number_integer()) {
      const int64_t times = std::max<int64_t>(0, b.get<int64_t>());
      if (times > 0 && a.get<std::string>().size() > kMaxOutputBytes / static_cast<std::size_t>(times))
        fail("a string of over 64 MB");
      std::string repeated;
      for (int64_t i = 0; i < times; ++i) repeated += a.get<std::string>();
      return repeated;
    }
    if (!(is_number(a) || a.is_boolean()) || !(is_number(b) || b.is_boolean()))
      fail("unsupported operands for '" + op + "': " + repr(a) + " and " + repr(b));
    const bool integers = !a.is_number_float() && !b.is_number_float();
    if (integers && op != "/") {
      const int64_t x = a.is_boolean() ? a.get<bool>() : a.get<int64_t>(), y = b.is_boolean() ? b.get<bool>() : b.get<int64_t>();
      if (op == "+") return x + y;
      if (op == "-") return x - y;
      if (op == "*") return x * y;
      if (y == 0) fail("division by zero");
      const int64_t floor_div = x / y - ((x % y != 0) && ((x < 0) != (y < 0)));
      if (op == "//") return floor_div;
      if (op == "%") return x - floor_div * y;
    }
    const double x = as_double(a), y = as_double(b);
    if (op == "+") return x + y;
    if (op == "-") return x - y;
    if (op == "*") return x * y;
    if (y == 0) fail("division by zero");
    if (op == "/") return x / y;
    if (op == "//") return std::floor(x / y);
    if (op == "%") return x - std::floor(x / y) * y;
    fail("unknown operator '" + op + "'");
  }

  Json test(const Expr& e) {
    const Json v = eval(*e.args[0]);
    const std::string& t = e.name;
    bool result;
    if (t == "defined") result = !is_undefined(v);
    else if (t == "undefined") result = is_undefined(v);
    else if (t == "none") result = v.is_null();
    else if (t == "string") result = v.is_string();
    else if (t == "number") result = is_number(v);
    else if (t == "integer") result = v.is_number_integer();
    else if (t == "float") result = v.is_number_float();
    else if (t == "mapping") result = v.is_object();
    else if (t == "iterable") result = v.is_array() || v.is_object() || v.is_string();
    else if (t == "sequence") result = v.is_array() || v.is_string();
    else if (t == "boolean") result = v.is_boolean();
    else if (t == "true") result = v.is_boolean() && v.get<bool>();
    else if (t == "false") result = v.is_boolean() && !v.get<bool>();
    else if (t == "even" || t == "odd") result = v.is_number_integer() && (v.get<int64_t>() % 2 == 0) == (t == "even");
    else if (t == "equalto" || t == "eq" || t == "sameas") result = !e.args.empty() && e.args.size() > 1 && v == eval(*e.args[1]);
    else fail("unknown test '" + t + "'");
    return e.negated ? !result : result;
  }

  // selectattr/rejectattr(attribute[, test[, value]]) over a list of objects.
  Json select_attribute(const Json& list, const std::vector<Json>& args, bool keep) {
    if (!list.is_array() || args.empty() || !args[0].is_string()) fail("selectattr takes a list and an attribute name");
    Json result = Json::array();
    for (const Json& element : list) {
      const Json value = item(element, args[0]);
      bool pass;
      if (args.size() < 2) pass = truthy(value);
      else if (args[1] == "equalto" || args[1] == "eq" || args[1] == "==") pass = args.size() > 2 && value == args[2];
      else if (args[1] == "ne" || args[1] == "!=") pass = args.size() > 2 && value != args[2];
      else if (args[1] == "defined") pass = !is_undefined(value);
      else if (args[1] == "undefined") pass = is_undefined(value);
      else if (args[1] == "none") pass = value.is_null();
      else if (args[1] == "string") pass = value.is_string();
      else fail("unsupported test in selectattr: " + repr(args[1]));
      if (pass == keep) result.push_back(element);
    }
    return result;
  }

  Json filter(const Expr& e) {
    const Json v = eval(*e.args[0]);
    const std::vector<Json> a = eval_args(e, 1);
    const std::string& f = e.name;
    const auto text = [&] { return to_text(v); };
    if (f == "trim") return string_method("strip", text(), {});
    if (f == "length" || f == "count") {
      if (v.is_string()) return static_cast<int64_t>(v.get<std::string>().size());
      if (v.is_array() || v.is_object()) return static_cast<int64_t>(v.size());
      if (is_undefined(v)) return 0;
      fail("length of " + repr(v));
    }
    if (f == "upper" || f == "lower" || f == "title" || f == "capitalize") return string_method(f, text(), {});
    if (f == "replace") return string_method("replace", text(), a);
    if (f == "first" || f == "last") {
      if ((v.is_array() || v.is_string()) && !v.empty() && !(v.is_string() && v.get<std::string>().empty()))
        return item(v, f == "first" ? Json(0) : Json(-1));
      return undefined();
    }
    if (f == "join") {
      if (!v.is_array()) fail("join takes a list");
      const std::string separator = a.empty() ? "" : to_text(a[0]);
      std::string joined;
      for (std::size_t i = 0; i < v.size(); ++i) joined += (i ? separator : "") + to_text(v[i]);
      return joined;
    }
    if (f == "default" || f == "d") {
      const bool boolean = a.size() > 1 && truthy(a[1]);
      if (is_undefined(v) || (boolean && !truthy(v))) return a.empty() ? Json("") : a[0];
      return v;
    }
    if (f == "items") {
      if (!v.is_object()) fail("items takes a mapping");
      return dict_method("items", v, {});
    }
    if (f == "list") {
      if (v.is_array()) return v;
      if (v.is_object()) return dict_method("keys", v, {});
      if (v.is_string()) return slice(v, Json(), Json(), Json());
      fail("cannot make a list of " + repr(v));
    }
    if (f == "reverse") {
      if (v.is_string() || v.is_array()) return slice(v, Json(), Json(), -1);
      fail("cannot reverse " + repr(v));
    }
    if (f == "unique") {
      Json result = Json::array();
      for (const Json& element : v)
        if (std::find(result.begin(), result.end(), element) == result.end()) result.push_back(element);
      return result;
    }
    if (f == "string") return text();
    if (f == "safe" || f == "e" || f == "escape") return v;
    if (f == "int") {
      if (is_number(v)) return static_cast<int64_t>(as_double(v));
      try {
        return static_cast<int64_t>(std::stoll(text()));
      } catch (const std::exception&) {
        return 0;
      }
    }
    if (f == "float") {
      if (is_number(v)) return as_double(v);
      try {
        return std::stod(text());
      } catch (const std::exception&) {
        return 0.0;
      }
    }
    if (f == "tojson") {
      const Json indent = kwarg(e, "indent", a, 0, Json());
      std::string dumped;
      python_json(v, indent.is_number_integer() ? static_cast<int>(indent.get<int64_t>()) : -1, 0, dumped);
      return dumped;
    }
    if (f == "selectattr" || f == "rejectattr") return select_attribute(v, a, f == "selectattr");
    if (f == "map") {
      const Json attribute = kwarg(e, "attribute", {}, 0, Json());
      if (!v.is_array()) fail("map takes a list");
      Json result = Json::array();
      for (const Json& element : v) {
        if (attribute.is_string()) result.push_back(item(element, attribute));
        else if (!a.empty() && a[0] == "string") result.push_back(to_text(element));
        else if (!a.empty() && (a[0] == "trim" || a[0] == "upper" || a[0] == "lower"))
          result.push_back(string_method(a[0] == "trim" ? "strip" : a[0].get<std::string>(), to_text(element), {}));
        else fail("map takes attribute=NAME or the filter string, trim, upper or lower");
      }
      return result;
    }
    fail("unknown filter '" + f + "'");
  }

  Json string_method(const std::string& m, const std::string& s, const std::vector<Json>& a) {
    const auto strip_set = [&](std::size_t index) { return a.size() > index && a[index].is_string() ? a[index].get<std::string>() : std::string(" \t\r\n\f\v"); };
    if (m == "strip" || m == "lstrip" || m == "rstrip") {
      const std::string chars = strip_set(0);
      std::size_t begin = 0, end = s.size();
      if (m != "rstrip") while (begin < end && chars.find(s[begin]) != std::string::npos) ++begin;
      if (m != "lstrip") while (end > begin && chars.find(s[end - 1]) != std::string::npos) --end;
      return s.substr(begin, end - begin);
    }
    if (m == "upper" || m == "lower") {
      std::string r = s;
      for (char& c : r) c = static_cast<char>(m == "upper" ? std::toupper(static_cast<unsigned char>(c)) : std::tolower(static_cast<unsigned char>(c)));
      return r;
    }
    if (m == "title" || m == "capitalize") {
      std::string r = s;
      bool start = true;
      for (char& c : r) {
        const auto u = static_cast<unsigned char>(c);
        c = static_cast<char>(start ? std::toupper(u) : std::tolower(u));
        start = m == "title" ? !std::isalpha(u) : false;
      }
      return r;
    }
    if (m == "startswith" || m == "endswith") {
      if (a.empty() || !a[0].is_string()) fail(m + " takes a string");
      const std::string& x = a[0].get_ref<const std::string&>();
      return x.size() <= s.size() && (m == "startswith" ? s.compare(0, x.size(), x) == 0 : s.compare(s.size() - x.size(), x.size(), x) == 0);
    }
    if (m == "replace") {
      if (a.size() < 2 || !a[0].is_string() || !a[1].is_string()) fail("replace takes two strings");
      const std::string& from = a[0].get_ref<const std::string&>();
      const std::string& to = a[1].get_ref<const std::string&>();
      if (from.empty()) return s;
      std::string r;
      std::size_t at = 0, found;
      while ((found = s.find(from, at)) != std::string::npos) {
        r += s.substr(at, found - at) + to;
        at = found + from.size();
      }
      return r + s.substr(at);
    }
    if (m == "split") {
      Json parts = Json::array();
      if (a.empty() || a[0].is_null()) {
        std::size_t i = 0;
        while (i < s.size()) {
          while (i < s.size() && std::isspace(static_cast<unsigned char>(s[i]))) ++i;
          std::size_t j = i;
          while (j < s.size() && !std::isspace(static_cast<unsigned char>(s[j]))) ++j;
          if (j > i) parts.push_back(s.substr(i, j - i));
          i = j;
        }
        return parts;
      }
      const std::string separator = to_text(a[0]);
      if (separator.empty()) fail("empty separator");
      std::size_t at = 0, found;
      while ((found = s.find(separator, at)) != std::string::npos) {
        parts.push_back(s.substr(at, found - at));
        at = found + separator.size();
      }
      parts.push_back(s.substr(at));
      return parts;
    }
    fail("unknown string method '" + m + "'");
  }

  Json dict_method(const std::string& m, const Json& d, const std::vector<Json>& a) {
    Json result = Json::array();
    if (m == "items") {
      for (const auto& [key, value] : d.items()) result.push_back(Json::array({key, value}));
      return result;
    }
    if (m == "keys" || m == "values") {
      for (const auto& [key, value] : d.items()) result.push_back(m == "keys" ? Json(key) : value);
      return result;
    }
    if (m == "get") {
      if (a.empty()) fail("get takes a key");
      const Json found = item(d, a[0]);
      return is_undefined(found) ? (a.size() > 1 ? a[1] : Json(nullptr)) : found;
    }
    fail("unknown mapping method '" + m + "'");
  }

  Json call(const Expr& e) {
    const std::vector<Json> a = eval_args(e, 0);
    if (e.name == "range") {
      int64_t start = 0, stop = 0, step = 1;
      if (a.size() == 1 && a[0].is_number_integer()) stop = a[0].get<int64_t>();
      else if (a.size() >= 2 && a[0].is_number_integer() && a[1].is_number_integer()) {
        start = a[0].get<int64_t>();
        stop = a[1].get<int64_t>();
        if (a.size() > 2 && a[2].is_number_integer()) step = a[2].get<int64_t>();
      } else fail("range takes integers");
      if (step == 0) fail("range step cannot be zero");
      Json result = Json::array();
      for (int64_t i = start; step > 0 ? i < stop : i > stop; i += step) {
        spend(1);
        result.push_back(i);
      }
      return result;
    }
    if (e.name == "namespace") {
      Json ns = Json::object();
      for (const auto& [key, value] : e.kwargs) ns[key] = eval(*value);
      return ns;
    }
    if (e.name == "dict") {
      Json d = Json::object();
      for (const auto& [key, value] : e.kwargs) d[key] = eval(*value);
      return d;
    }
    const auto it = functions_.find(e.name);
    if (it == functions_.end()) fail("unknown function '" + e.name + "'");
    return it->second(a);
  }

  Json eval(const Expr& e) {
    switch (e.kind) {
      case Expr::Kind::kLiteral: return e.literal;
      case Expr::Kind::kName: {
        const Json* found = lookup(e.name);
        return found ? *found : undefined();
      }
      case Expr::Kind::kList: return Json(eval_args(e, 0));
      case Expr::Kind::kDict: {
        Json d = Json::object();
        for (std::size_t i = 0; i + 1 < e.args.size(); i += 2) d[to_text(eval(*e.args[i]))] = eval(*e.args[i + 1]);
        return d;
      }
      case Expr::Kind::kAttr: return item(eval(*e.args[0]), e.name);
      case Expr::Kind::kItem: return item(eval(*e.args[0]), eval(*e.args[1]));
      case Expr::Kind::kSlice: return slice(eval(*e.args[0]), eval(*e.args[1]), eval(*e.args[2]), eval(*e.args[3]));
      case Expr::Kind::kCall: return call(e);
      case Expr::Kind::kMethod: {
        const Json target = eval(*e.args[0]);
        const std::vector<Json> a = eval_args(e, 1);
        if (target.is_string()) return string_method(e.name, target.get<std::string>(), a);
        if (target.is_object()) return dict_method(e.name, target, a);
        fail("no method '" + e.name + "' on " + repr(target));
      }
      case Expr::Kind::kFilter: return filter(e);
      case Expr::Kind::kTest: return test(e);
      case Expr::Kind::kUnary: {
        const Json v = eval(*e.args[0]);
        if (e.name == "not") return !truthy(v);
        if (!is_number(v)) fail("unary '" + e.name + "' of " + repr(v));
        if (e.name == "+") return v;
        return v.is_number_integer() ? Json(-v.get<int64_t>()) : Json(-v.get<double>());
      }
      case Expr::Kind::kBinary: {
        if (e.name == "and" || e.name == "or") {  // short-circuit, returning an operand as Python does
          Json left = eval(*e.args[0]);
          if (truthy(left) == (e.name == "or")) return left;
          return eval(*e.args[1]);
        }
        return binary(e.name, eval(*e.args[0]), eval(*e.args[1]));
      }
      case Expr::Kind::kCondition:
        return truthy(eval(*e.args[0])) ? eval(*e.args[1]) : eval(*e.args[2]);
    }
    return undefined();
  }

  // Chat templates loop over messages: a budget far above any conversation,
  // and far below what would let a hostile template take the CPU for long.
  static constexpr int64_t kMaxIterations = 100'000;
  static constexpr std::size_t kMaxOutputBytes = 64 << 20;

  const std::string& label_;
  const std::map<std::string, Function>& functions_;
  int line_ = 0;
  int64_t iterations_ = 0;
};

}  // namespace

Template::Template(const std::string& source, const std::string& label) : label_(label) {
  try {
    body_ = StatementParser(split_segments(source, label), label).parse_all();
  } catch (const Error&) {
    throw;
  } catch (const std::exception& e) {  // a JSON or standard-library error: still the template's fault
    throw Error(label + ": " + e.what());
  }
}
Template::~Template() = default;
Template::Template(Template&&) noexcept = default;
Template& Template::operator=(Template&&) noexcept = default;

std::string Template::render(const Json& variables, const std::map<std::string, Function>& functions) const {
  Renderer renderer(label_, functions);
  renderer.scopes.push_back(variables.is_object() ? variables : Json::object());
  renderer.scopes.push_back(Json::object());  // the template's own {% set %}s
  try {
    renderer.run(body_);
  } catch (const Error&) {
    throw;
  } catch (const std::exception& e) {
    throw Error(label_ + ": " + e.what());
  }
  return std::move(renderer.out);
}

}  // namespace snapformer::jinja
