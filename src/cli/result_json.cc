#include "cli/result_json.h"

#include <cstdio>
#include <sstream>

namespace snapformer::cli {
namespace {

std::vector<std::vector<float>> rows(const std::vector<float>& flat, int64_t width) {
  std::vector<std::vector<float>> out;
  if (width <= 0) return out;
  for (std::size_t i = 0; i + static_cast<std::size_t>(width) <= flat.size(); i += static_cast<std::size_t>(width))
    out.emplace_back(flat.begin() + static_cast<std::ptrdiff_t>(i), flat.begin() + static_cast<std::ptrdiff_t>(i) + width);
  return out;
}

std::string format_float(float v) {
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%.4f", static_cast<double>(v));
  return buffer;
}

}  // namespace

Json tokenize_json(const Encoding& e) {
  Json offsets = Json::array();
  for (const Offsets& o : e.offsets) offsets.push_back({o.begin, o.end});
  return {{"ids", e.ids},           {"tokens", e.tokens},
          {"offsets", offsets},     {"type_ids", e.type_ids},
          {"attention_mask", e.attention_mask}, {"special_tokens_mask", e.special_tokens_mask}};
}

Json classify_json(const ClassifyResult& r, const ModelConfig& config) {
  Json scores = Json::array();
  for (std::size_t i = 0; i < r.scores.size(); ++i) scores.push_back({{"label", config.labels.at(i)}, {"score", r.scores[i]}});
  return {{"label", r.label}, {"score", r.score}, {"label_id", r.label_id}, {"logits", r.logits}, {"scores", scores}};
}

Json qa_json(const QaResult& r) {
  const AnswerSpan& best = r.answers.front();
  Json answers = Json::array();
  for (const AnswerSpan& a : r.answers)
    answers.push_back({{"answer", a.answer}, {"score", a.score}, {"start", a.start}, {"end", a.end}});
  return {{"answer", best.answer},         {"score", best.score},          {"start", best.start},
          {"end", best.end},               {"start_token", best.start_token}, {"end_token", best.end_token},
          {"start_logits", r.start_logits}, {"end_logits", r.end_logits},     {"answers", answers}};
}

Json embed_json(const EmbedResult& r) { return {{"embedding", r.embedding}}; }

Json fill_mask_json(const FillMaskResult& r) {
  Json masks = Json::array();
  for (const MaskPrediction& m : r.masks) {
    Json top = Json::array();
    for (const auto& c : m.top) top.push_back({{"token_id", c.token_id}, {"token", c.token}, {"score", c.score}});
    masks.push_back({{"position", m.position}, {"logits", m.logits}, {"top", top}});
  }
  return {{"masks", masks}};
}

Json generate_json(const GenerateResult& r) {
  return {{"token_ids", r.token_ids}, {"text", r.text}, {"finish_reason", r.finish_reason}, {"prompt_ids", r.prompt_ids}};
}

Json forward_json(const ForwardResult& r, const Pipeline& p) {
  Json out = {{"input_ids", r.ids}, {"last_hidden_state", rows(r.last_hidden_state, r.hidden_size)}};
  if (!r.pooler_output.empty()) out["pooler_output"] = r.pooler_output;
  const ModelConfig& c = p.config();
  if (!r.logits.empty()) {
    const bool per_position = c.head == HeadKind::kMaskedLm || c.head == HeadKind::kCausalLm;
    out["logits"] = per_position ? Json(rows(r.logits, c.vocab_size)) : Json(r.logits);
  }
  if (!r.start_logits.empty()) {
    out["start_logits"] = r.start_logits;
    out["end_logits"] = r.end_logits;
  }
  return out;
}

std::string tokenize_text(const Encoding& e) {
  std::ostringstream out;
  for (std::size_t i = 0; i < e.size(); ++i)
    out << (i ? " " : "") << e.tokens[i] << "(" << e.ids[i] << ")";
  return out.str();
}

std::string classify_text(const ClassifyResult& r) { return r.label + "\t" + format_float(r.score); }

std::string qa_text(const QaResult& r) {
  const AnswerSpan& a = r.answers.front();
  return a.answer + "\t(score " + format_float(a.score) + ", characters " + std::to_string(a.start) + "-" +
         std::to_string(a.end) + ")";
}

std::string embed_text(const EmbedResult& r) {
  std::ostringstream out;
  out << "[";
  for (std::size_t i = 0; i < r.embedding.size() && i < 8; ++i) out << (i ? ", " : "") << format_float(r.embedding[i]);
  out << (r.embedding.size() > 8 ? ", ...]" : "]") << " (" << r.embedding.size() << " dimensions)";
  return out.str();
}

std::string fill_mask_text(const FillMaskResult& r) {
  std::ostringstream out;
  for (std::size_t m = 0; m < r.masks.size(); ++m) {
    out << (m ? "\n" : "") << "mask at token " << r.masks[m].position << ":";
    for (std::size_t i = 0; i < r.masks[m].top.size() && i < 5; ++i)
      out << " " << r.masks[m].top[i].token << " (" << format_float(r.masks[m].top[i].score) << ")";
  }
  return out.str();
}

std::string forward_text(const ForwardResult& r) {
  std::ostringstream out;
  out << "last_hidden_state [" << r.ids.size() << ", " << r.hidden_size << "]";
  if (!r.pooler_output.empty()) out << ", pooler_output [" << r.pooler_output.size() << "]";
  if (!r.logits.empty()) out << ", logits (" << r.logits.size() << " values)";
  if (!r.start_logits.empty()) out << ", start_logits/end_logits [" << r.start_logits.size() << "]";
  return out.str();
}

}  // namespace snapformer::cli
