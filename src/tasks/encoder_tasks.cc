// The encoder tasks: classify, question answering, embed, fill-mask.
#include <algorithm>
#include <cmath>
#include <numeric>

#include "ops/elementwise.h"
#include "tasks/batch_parts.h"
#include "tasks/pipeline.h"
#include "util/error.h"
#include "util/utf8.h"

namespace snapformer {

std::vector<ClassifyResult> Pipeline::classify(const std::vector<TaskInput>& inputs,
                                               const TruncationOptions& truncation) const {
  require(Task::kClassify);
  return classify_encoded(encode_all(inputs, truncation));
}

std::vector<ClassifyResult> Pipeline::classify_encoded(const std::vector<Encoding>& encodings) const {
  require(Task::kClassify);
  if (encodings.empty()) return {};
  return run_in_parts<ClassifyResult>(encodings, [&](std::span<const Encoding> part) { return classify_part(part); });
}

std::vector<ClassifyResult> Pipeline::classify_part(std::span<const Encoding> encodings) const {
  const std::size_t count = encodings.size();
  const PackedBatch batch = pack(encodings);
  const std::vector<float> logits = encoder_->classify_batch(batch);
  const std::size_t labels = encoder_->num_labels();
  std::vector<ClassifyResult> results(count);
  for (std::size_t i = 0; i < count; ++i) {
    ClassifyResult& r = results[i];
    r.logits.assign(logits.begin() + static_cast<std::ptrdiff_t>(i * labels),
                    logits.begin() + static_cast<std::ptrdiff_t>((i + 1) * labels));
    r.scores = r.logits;
    if (labels == 1) {  // a single regression/binary logit: sigmoid, as the HF pipeline
      r.scores[0] = 1.0f / (1.0f + std::exp(-r.scores[0]));
    } else {
      ops::softmax(r.scores.data(), static_cast<int64_t>(labels));
    }
    r.label_id = std::max_element(r.scores.begin(), r.scores.end()) - r.scores.begin();
    r.score = r.scores[static_cast<std::size_t>(r.label_id)];
    r.label = config_.labels.at(static_cast<std::size_t>(r.label_id));
  }
  return results;
}

QaResult Pipeline::answer(const TaskInput& input, const QaOptions& options, const TruncationOptions& truncation) const {
  require(Task::kQuestionAnswering);
  if (!input.question || !input.context) throw Error("question answering needs 'question' and 'context'");
  QaResult result;
  result.encoding = encode(input, truncation);
  PackedBatch batch;
  batch.add(result.encoding.ids, result.encoding.type_ids);
  encoder_->answer_spans(encoder_->forward(batch), result.start_logits, result.end_logits);

  // As the Hugging Face pipeline: only context tokens may hold the answer
  // (and [CLS] for the "no answer" option); softmax over those; score = p(start)·p(end).
  const std::size_t n = result.encoding.size();
  std::vector<uint8_t> allowed(n, 0);
  for (std::size_t t = 0; t < n; ++t)
    allowed[t] = result.encoding.sequence_ids[t] == 1 && !result.encoding.special_tokens_mask[t];
  auto probabilities = [&](const std::vector<float>& logits) {
    std::vector<float> p(n);
    for (std::size_t t = 0; t < n; ++t) p[t] = allowed[t] || (options.handle_impossible_answer && t == 0) ? logits[t] : -10000.0f;
    ops::softmax(p.data(), static_cast<int64_t>(n));
    return p;
  };
  const std::vector<float> p_start = probabilities(result.start_logits), p_end = probabilities(result.end_logits);

  struct Candidate {
    float score;
    std::size_t s, e;
  };
  std::vector<Candidate> candidates;
  for (std::size_t s = 0; s < n; ++s) {
    if (!allowed[s]) continue;
    for (std::size_t e = s; e < n && static_cast<int64_t>(e - s) < options.max_answer_length; ++e)
      if (allowed[e]) candidates.push_back({p_start[s] * p_end[e], s, e});
  }
  std::stable_sort(candidates.begin(), candidates.end(), [](const Candidate& a, const Candidate& b) { return a.score > b.score; });
  const std::u32string context = utf8::decode(*input.context);
  const float null_score = p_start[0] * p_end[0];
  for (const Candidate& c : candidates) {
    if (static_cast<int64_t>(result.answers.size()) >= options.top_k) break;
    AnswerSpan span;
    span.score = c.score;
    span.start_token = static_cast<int64_t>(c.s);
    span.end_token = static_cast<int64_t>(c.e);
    span.start = result.encoding.offsets[c.s].begin;
    span.end = result.encoding.offsets[c.e].end;
    span.answer = utf8::encode(std::u32string_view(context).substr(static_cast<std::size_t>(span.start),
                                                                   static_cast<std::size_t>(span.end - span.start)));
    result.answers.push_back(std::move(span));
  }
  if (options.handle_impossible_answer && (result.answers.empty() || null_score > result.answers.front().score)) {
    result.answers.insert(result.answers.begin(), AnswerSpan{"", null_score, 0, 0, 0, 0});
    if (static_cast<int64_t>(result.answers.size()) > options.top_k) result.answers.pop_back();
  }
  if (result.answers.empty()) result.answers.push_back(AnswerSpan{"", 0.0f, 0, 0, 0, 0});
  return result;
}

std::vector<EmbedResult> Pipeline::embed(const std::vector<TaskInput>& inputs, Pooling pooling, bool normalize,
                                         const TruncationOptions& truncation) const {
  require(Task::kEmbed);
  return embed_encoded(encode_all(inputs, truncation), pooling, normalize);
}

std::vector<EmbedResult> Pipeline::embed_encoded(const std::vector<Encoding>& encodings, Pooling pooling,
                                                 bool normalize) const {
  require(Task::kEmbed);
  if (encodings.empty()) return {};
  if (pooling == Pooling::kDefault) pooling = default_pooling_;
  return run_in_parts<EmbedResult>(encodings,
                                   [&](std::span<const Encoding> part) { return embed_part(part, pooling, normalize); });
}

std::vector<EmbedResult> Pipeline::embed_part(std::span<const Encoding> encodings, Pooling pooling,
                                              bool normalize) const {
  const PackedBatch batch = pack(encodings);
  // CLS pooling reads one row per sequence: the last layer runs for those alone.
  const std::vector<float> hidden =
      pooling == Pooling::kCls ? encoder_->forward_rows(batch, batch.first_rows()) : encoder_->forward(batch);
  const int64_t h = config_.hidden_size;
  std::vector<EmbedResult> results(encodings.size());
  for (int64_t s = 0; s < batch.sequences(); ++s) {
    std::vector<float>& e = results[static_cast<std::size_t>(s)].embedding;
    e.assign(static_cast<std::size_t>(h), 0.0f);
    if (pooling == Pooling::kCls) {
      std::copy_n(hidden.begin() + s * h, h, e.begin());
    } else {
      for (int64_t t = batch.starts[s]; t < batch.starts[s + 1]; ++t) ops::add_in_place(e.data(), hidden.data() + t * h, h);
      for (float& v : e) v /= static_cast<float>(batch.length(s));
    }
    if (normalize) {
      const double norm = std::sqrt(std::inner_product(e.begin(), e.end(), e.begin(), 0.0));
      const float inv = static_cast<float>(1.0 / std::max(norm, 1e-12));
      for (float& v : e) v *= inv;
    }
  }
  return results;
}

FillMaskResult Pipeline::fill_mask(const TaskInput& input, int64_t top_k, const TruncationOptions& truncation) const {
  require(Task::kFillMask);
  const auto mask_id = tokenizer_->mask_token_id();
  if (!mask_id) throw Error("the tokenizer has no mask token");
  FillMaskResult result;
  result.encoding = encode(input, truncation);
  std::vector<int64_t> rows;
  for (std::size_t t = 0; t < result.encoding.size(); ++t)
    if (result.encoding.ids[t] == *mask_id) rows.push_back(static_cast<int64_t>(t));
  if (rows.empty()) throw Error("input has no " + tokenizer_->id_to_token(*mask_id) + " token");
  PackedBatch batch;
  batch.add(result.encoding.ids, result.encoding.type_ids);
  const std::vector<float> logits = encoder_->masked_lm_logits_batch(batch, rows);
  const int64_t vocab = config_.vocab_size;
  for (std::size_t m = 0; m < rows.size(); ++m) {
    MaskPrediction prediction;
    prediction.position = rows[m];
    prediction.logits.assign(logits.begin() + static_cast<std::ptrdiff_t>(m * vocab),
                             logits.begin() + static_cast<std::ptrdiff_t>((m + 1) * vocab));
    std::vector<float> probabilities = prediction.logits;
    ops::softmax(probabilities.data(), vocab);
    std::vector<int32_t> order(static_cast<std::size_t>(vocab));
    std::iota(order.begin(), order.end(), 0);
    const auto k = static_cast<std::ptrdiff_t>(std::min<int64_t>(std::max<int64_t>(top_k, 0), vocab));
    std::partial_sort(order.begin(), order.begin() + k, order.end(), [&](int32_t a, int32_t b) {
      return prediction.logits[a] > prediction.logits[b] || (prediction.logits[a] == prediction.logits[b] && a < b);
    });
    for (std::ptrdiff_t i = 0; i < k; ++i)
      prediction.top.push_back({order[i], tokenizer_->id_to_token(order[i]), probabilities[order[i]]});
    result.masks.push_back(std::move(prediction));
  }
  return result;
}

ForwardResult Pipeline::forward(const TaskInput& input, const TruncationOptions& truncation) const {
  require(Task::kForward);
  ForwardResult result;
  const Encoding encoding = encode(input, truncation);
  if (encoding.ids.empty()) throw Error("input has no tokens");
  result.ids = encoding.ids;
  result.hidden_size = config_.hidden_size;
  const int64_t tokens = static_cast<int64_t>(encoding.size());
  if (decoder_) {
    auto cache = decoder_->new_cache(tokens);
    result.last_hidden_state = decoder_->forward({{&cache, encoding.ids.data(), tokens}});
    result.logits = decoder_->logits(result.last_hidden_state.data(), tokens);
    return result;
  }
  PackedBatch batch;
  batch.add(encoding.ids, encoding.type_ids);
  result.last_hidden_state = encoder_->forward(batch);
  if (encoder_->has_pooler()) result.pooler_output = encoder_->pool(result.last_hidden_state, batch);
  switch (config_.head) {
    case HeadKind::kSequenceClassification:
      result.logits = encoder_->classify(result.last_hidden_state, batch);
      break;
    case HeadKind::kQuestionAnswering:
      encoder_->answer_spans(result.last_hidden_state, result.start_logits, result.end_logits);
      break;
    case HeadKind::kMaskedLm: {
      std::vector<int64_t> rows(static_cast<std::size_t>(tokens));
      std::iota(rows.begin(), rows.end(), 0);
      result.logits = encoder_->masked_lm_logits(result.last_hidden_state, rows);
      break;
    }
    default:
      break;
  }
  return result;
}

}  // namespace snapformer
