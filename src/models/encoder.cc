#include "models/encoder.h"

#include <algorithm>
#include <array>
#include <cmath>

#include "ops/attention.h"
#include "ops/elementwise.h"
#include "util/error.h"

namespace snapformer {

ops::Linear EncoderModel::linear(const std::vector<std::string>& base_names, int64_t in, int64_t out, bool bias) {
  return linears_->load(base_names, in, out, bias);
}

EncoderModel::LayerNormWeights EncoderModel::norm(const std::vector<std::string>& base_names, int64_t dim) {
  return {weights_->get(with_suffix(base_names, ".weight"), {dim}), weights_->get(with_suffix(base_names, ".bias"), {dim})};
}

EncoderModel::EncoderModel(const std::string& directory, ModelConfig config, ops::Precision precision)
    : config_(std::move(config)),
      weights_(std::make_unique<Weights>(directory)),
      linears_(std::make_unique<LinearWeights>(*weights_, precision)) {
  const int64_t h = config_.hidden_size, ff = config_.intermediate_size;
  prefix_ = std::string(family_name(config_.family)) + ".";
  word_embeddings_ = weights_->get(body("embeddings.word_embeddings.weight"), {config_.vocab_size, h});
  position_embeddings_ = weights_->get(body("embeddings.position_embeddings.weight"), {config_.max_positions, h});
  if (config_.family != ModelFamily::kDistilBert && config_.type_vocab_size > 0)
    token_type_embeddings_ = weights_->get(body("embeddings.token_type_embeddings.weight"), {config_.type_vocab_size, h});
  embedding_norm_ = norm(body("embeddings.LayerNorm"), h);

  // The same layer under each family's parameter names.
  struct LayerNames {
    const char *prefix, *query, *key, *value, *attention_output, *attention_norm, *intermediate, *output, *output_norm;
  };
  static constexpr LayerNames kBertNames = {"encoder.layer.",         "attention.self.query", "attention.self.key",
                                            "attention.self.value",   "attention.output.dense",
                                            "attention.output.LayerNorm", "intermediate.dense", "output.dense",
                                            "output.LayerNorm"};
  static constexpr LayerNames kDistilBertNames = {"transformer.layer.", "attention.q_lin", "attention.k_lin",
                                                  "attention.v_lin",    "attention.out_lin", "sa_layer_norm",
                                                  "ffn.lin1",           "ffn.lin2",          "output_layer_norm"};
  const LayerNames& names = config_.family == ModelFamily::kDistilBert ? kDistilBertNames : kBertNames;
  for (int64_t i = 0; i < config_.num_layers; ++i) {
    const std::string p = names.prefix + std::to_string(i) + ".";
    Layer layer;
    layer.query = linear(body(p + names.query), h, h);
    layer.key = linear(body(p + names.key), h, h);
    layer.value = linear(body(p + names.value), h, h);
    layer.attention_output = linear(body(p + names.attention_output), h, h);
    layer.attention_norm = norm(body(p + names.attention_norm), h);
    layer.intermediate = linear(body(p + names.intermediate), h, ff);
    layer.output = linear(body(p + names.output), ff, h);
    layer.output_norm = norm(body(p + names.output_norm), h);
    layers_.push_back(layer);
  }
  if (config_.family == ModelFamily::kBert && linears_->contains(body("pooler.dense")))
    pooler_ = linear(body("pooler.dense"), h, h);
  load_head();
  weights_->prefault_in_background();
}

void EncoderModel::load_head() {
  const int64_t h = config_.hidden_size;
  const int64_t labels = static_cast<int64_t>(config_.labels.size());
  switch (config_.head) {
    case HeadKind::kSequenceClassification:
      if (config_.family == ModelFamily::kBert) {
        if (!has_pooler()) throw Error(weights_->directory() + ": BertForSequenceClassification needs pooler weights");
        classifier_out_ = linear({"classifier"}, h, labels);
      } else if (config_.family == ModelFamily::kRoberta) {
        classifier_dense_ = linear({"classifier.dense"}, h, h);
        classifier_out_ = linear({"classifier.out_proj"}, h, labels);
      } else {
        classifier_dense_ = linear({"pre_classifier"}, h, h);
        classifier_out_ = linear({"classifier"}, h, labels);
      }
      break;
    case HeadKind::kQuestionAnswering:
      qa_outputs_ = linear({"qa_outputs"}, h, 2);
      break;
    case HeadKind::kMaskedLm: {
      const bool bert = config_.family == ModelFamily::kBert;
      if (config_.family == ModelFamily::kDistilBert) throw Error("DistilBertForMaskedLM is not supported");
      mlm_dense_ = linear({bert ? "cls.predictions.transform.dense" : "lm_head.dense"}, h, h);
      mlm_norm_ = norm({bert ? "cls.predictions.transform.LayerNorm" : "lm_head.layer_norm"}, h);
      const std::string head = bert ? "cls.predictions" : "lm_head";
      mlm_bias_ = weights_->get({head + ".bias", head + ".decoder.bias"}, {config_.vocab_size}).data;
      // The decoder is tied to the word embeddings; a stored copy is used if present.
      if (weights_->contains({head + ".decoder.weight"})) {
        mlm_decoder_ = linears_->load({head + ".decoder"}, h, config_.vocab_size, /*bias=*/false);
        mlm_decoder_.bias = mlm_bias_;
      } else {
        mlm_decoder_ = linears_->tied(head + ".decoder", word_embeddings_, mlm_bias_);
      }
      break;
    }
    case HeadKind::kNone:
      break;
    case HeadKind::kCausalLm:
      throw Error(weights_->directory() + ": " + config_.architecture + " is not an encoder architecture");
  }
}

void EncoderModel::validate(const PackedBatch& batch) const {
  batch.check(config_.max_sequence_length(), config_.vocab_size);
  if (!token_type_embeddings_) return;  // models without token types (DistilBERT) ignore the type ids
  for (int32_t type : batch.type_ids)
    if (type < 0 || type >= config_.type_vocab_size)
      throw Error("token type id " + std::to_string(type) + " is out of range (the model has " +
                  std::to_string(config_.type_vocab_size) + ")");
}

std::vector<float> EncoderModel::forward(const PackedBatch& batch) const { return run(batch, nullptr); }

std::vector<float> EncoderModel::forward_rows(const PackedBatch& batch, const std::vector<int64_t>& rows) const {
  check_rows(batch, rows);
  return run(batch, &rows);
}

std::vector<float> EncoderModel::run(const PackedBatch& batch, const std::vector<int64_t>* rows) const {
  validate(batch);
  const int64_t tokens = batch.tokens(), h = config_.hidden_size, ff = config_.intermediate_size;
  std::vector<float> hidden(static_cast<std::size_t>(tokens * h));

  // Embeddings: word + position (+ token type), then LayerNorm.
  for (int64_t s = 0; s < batch.sequences(); ++s) {
    for (int64_t t = batch.starts[s]; t < batch.starts[s + 1]; ++t) {
      const int64_t position = config_.position_offset + (t - batch.starts[s]);
      float* row = hidden.data() + t * h;
      const float* word = word_embeddings_.data + static_cast<int64_t>(batch.ids[t]) * h;
      const float* pos = position_embeddings_.data + position * h;
      for (int64_t i = 0; i < h; ++i) row[i] = word[i] + pos[i];
      if (token_type_embeddings_) ops::add_in_place(row, token_type_embeddings_->data + batch.type_ids[t] * h, h);
    }
  }
  ops::layer_norm(hidden.data(), nullptr, tokens, h, embedding_norm_.gamma.data, embedding_norm_.beta.data,
                  config_.layer_norm_eps, hidden.data());

  // Each written whole (for the rows a layer computes) before it is read.
  FloatBuffer q(hidden.size()), k(hidden.size()), v(hidden.size()), context(hidden.size()), projected(hidden.size()),
      intermediate(static_cast<std::size_t>(tokens * ff));
  std::vector<ops::AttentionSpan> spans;
  const int64_t head_dim = h / config_.num_heads;
  const ops::AttentionShape shape{config_.num_heads, head_dim, h, h, h};
  const float scale = 1.0f / std::sqrt(static_cast<float>(head_dim));

  // The rows whose states a layer computes (`x`, [queries, h]) and where each
  // sequence's queries begin in them: every token, until the last layer when
  // only `rows` are wanted. Keys and values always come from every token.
  std::vector<float> selected;
  std::vector<int64_t> query_starts = batch.starts;
  for (std::size_t l = 0; l < layers_.size(); ++l) {
    const Layer& layer = layers_[l];
    const bool subset = rows != nullptr && l + 1 == layers_.size();
    if (subset) {
      selected = gather_rows(hidden, *rows, h);
      std::size_t i = 0;
      for (int64_t s = 0; s < batch.sequences(); ++s) {
        query_starts[s] = static_cast<int64_t>(i);
        while (i < rows->size() && (*rows)[i] < batch.starts[s + 1]) ++i;
      }
      query_starts.back() = static_cast<int64_t>(rows->size());
    }
    std::vector<float>& x = subset ? selected : hidden;
    const int64_t queries = subset ? static_cast<int64_t>(rows->size()) : tokens;
    // Keys and values (and the queries, when every row is a query) read the
    // same input: int8 quantizes it once for them.
    if (subset) {
      layer.query.apply(x.data(), queries, q.data());
      ops::apply_to_same_input(std::array{&layer.key, &layer.value}, hidden.data(), tokens,
                               std::array{k.data(), v.data()});
    } else {
      ops::apply_to_same_input(std::array{&layer.query, &layer.key, &layer.value}, hidden.data(), tokens,
                               std::array{q.data(), k.data(), v.data()});
    }
    spans.clear();
    for (int64_t s = 0; s < batch.sequences(); ++s) {
      const int64_t first_query = query_starts[s], count = query_starts[s + 1] - first_query;
      if (count == 0) continue;
      const int64_t keys = batch.starts[s] * h;
      spans.push_back({q.data() + first_query * h, k.data() + keys, v.data() + keys, count, batch.length(s),
                       context.data() + first_query * h});
    }
    ops::attend_batch(spans, shape, /*causal=*/false, scale, linears_->precision());
    layer.attention_output.apply(context.data(), queries, projected.data());
    ops::layer_norm(projected.data(), x.data(), queries, h, layer.attention_norm.gamma.data,
                    layer.attention_norm.beta.data, config_.layer_norm_eps, x.data());
    layer.intermediate.apply(x.data(), queries, intermediate.data(), config_.activation);  // bias + activation fused
    layer.output.apply(intermediate.data(), queries, projected.data());
    ops::layer_norm(projected.data(), x.data(), queries, h, layer.output_norm.gamma.data,
                    layer.output_norm.beta.data, config_.layer_norm_eps, x.data());
  }
  if (rows == nullptr) return hidden;
  if (layers_.empty()) return gather_rows(hidden, *rows, h);
  return selected;
}

std::vector<float> EncoderModel::pool(const std::vector<float>& hidden, const PackedBatch& batch) const {
  return pool_first_tokens(gather_rows(hidden, batch.first_rows(), config_.hidden_size), batch.sequences());
}

std::vector<float> EncoderModel::pool_first_tokens(const std::vector<float>& first, int64_t sequences) const {
  if (!has_pooler()) throw Error("this model has no pooler");
  std::vector<float> pooled(first.size());
  pooler_.apply(first.data(), sequences, pooled.data());
  ops::activate(ops::Activation::kTanh, pooled.data(), static_cast<int64_t>(pooled.size()));
  return pooled;
}

std::vector<float> EncoderModel::classify(const std::vector<float>& hidden, const PackedBatch& batch) const {
  return classify_first_tokens(gather_rows(hidden, batch.first_rows(), config_.hidden_size), batch.sequences());
}

std::vector<float> EncoderModel::classify_batch(const PackedBatch& batch) const {
  if (config_.head != HeadKind::kSequenceClassification) throw Error("this model has no classification head");
  return classify_first_tokens(forward_rows(batch, batch.first_rows()), batch.sequences());
}

std::vector<float> EncoderModel::classify_first_tokens(const std::vector<float>& first, int64_t n) const {
  if (config_.head != HeadKind::kSequenceClassification) throw Error("this model has no classification head");
  std::vector<float> features;
  if (config_.family == ModelFamily::kBert) {
    features = pool_first_tokens(first, n);
  } else {
    features.resize(first.size());
    classifier_dense_.apply(first.data(), n, features.data());
    ops::activate(config_.family == ModelFamily::kRoberta ? ops::Activation::kTanh : ops::Activation::kRelu,
                  features.data(), static_cast<int64_t>(features.size()));
  }
  std::vector<float> logits(static_cast<std::size_t>(n * classifier_out_.out));
  classifier_out_.apply(features.data(), n, logits.data());
  return logits;
}

void EncoderModel::answer_spans(const std::vector<float>& hidden, std::vector<float>& start_logits,
                                std::vector<float>& end_logits) const {
  if (config_.head != HeadKind::kQuestionAnswering) throw Error("this model has no question-answering head");
  const int64_t tokens = static_cast<int64_t>(hidden.size()) / config_.hidden_size;
  std::vector<float> both(static_cast<std::size_t>(tokens * 2));
  qa_outputs_.apply(hidden.data(), tokens, both.data());
  start_logits.resize(static_cast<std::size_t>(tokens));
  end_logits.resize(static_cast<std::size_t>(tokens));
  for (int64_t t = 0; t < tokens; ++t) {
    start_logits[t] = both[2 * t];
    end_logits[t] = both[2 * t + 1];
  }
}

std::vector<float> EncoderModel::masked_lm_logits(const std::vector<float>& hidden, const std::vector<int64_t>& rows) const {
  return masked_lm_logits_of(gather_rows(hidden, rows, config_.hidden_size));
}

std::vector<float> EncoderModel::masked_lm_logits_batch(const PackedBatch& batch, const std::vector<int64_t>& rows) const {
  if (config_.head != HeadKind::kMaskedLm) throw Error("this model has no masked-LM head");
  return masked_lm_logits_of(forward_rows(batch, rows));
}

std::vector<float> EncoderModel::masked_lm_logits_of(const std::vector<float>& selected) const {
  if (config_.head != HeadKind::kMaskedLm) throw Error("this model has no masked-LM head");
  const int64_t h = config_.hidden_size, n = static_cast<int64_t>(selected.size()) / h;
  std::vector<float> transformed(selected.size());
  mlm_dense_.apply(selected.data(), n, transformed.data());
  ops::activate(config_.family == ModelFamily::kBert ? config_.activation : ops::Activation::kGeluErf,
                transformed.data(), n * h);
  ops::layer_norm(transformed.data(), nullptr, n, h, mlm_norm_.gamma.data, mlm_norm_.beta.data, config_.layer_norm_eps,
                  transformed.data());
  std::vector<float> logits(static_cast<std::size_t>(n * config_.vocab_size));
  mlm_decoder_.apply(transformed.data(), n, logits.data());
  return logits;
}

}  // namespace snapformer
