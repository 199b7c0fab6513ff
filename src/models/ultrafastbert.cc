#include "models/ultrafastbert.h"

#include <cmath>

#include "ops/attention.h"
#include "ops/elementwise.h"
#include "util/error.h"

namespace snapformer {

UltraFastBertModel::UltraFastBertModel(const std::string& directory, ModelConfig config, ops::Precision precision)
    : config_(std::move(config)),
      weights_(std::make_unique<Weights>(directory)),
      linears_(std::make_unique<LinearWeights>(*weights_, precision)) {
  const int64_t h = config_.hidden_size;
  auto tensor = [&](const std::string& name, const std::vector<int64_t>& shape) { return weights_->get({name}, shape); };
  word_embedding_ = tensor("encoder.embedding.word_embedding.weight", {config_.vocab_size, h});
  decoder_ = weights_->contains({"decoder.weight"})
                 ? linears_->load({"decoder"}, h, config_.vocab_size, /*bias=*/false)
                 : linears_->tied("decoder", word_embedding_, nullptr);  // tied when not stored
  position_scale_ = tensor("encoder.embedding.pos_embedding.scale_factor", {1}).data[0];
  embedding_gamma_ = tensor("encoder.embedding.norm.weight", {h});
  embedding_beta_ = tensor("encoder.embedding.norm.bias", {h});
  final_gamma_ = tensor("encoder.final_norm.weight", {h});
  final_beta_ = tensor("encoder.final_norm.bias", {h});

  // The scaled sinusoidal table, in float32 exactly as torch builds it.
  positions_.resize(static_cast<std::size_t>(config_.max_positions * h));
  const float step = static_cast<float>(-std::log(10000.0) / static_cast<double>(h));
  for (int64_t p = 0; p < config_.max_positions; ++p)
    for (int64_t i = 0; i < h; i += 2) {
      const float angle = static_cast<float>(p) * std::exp(static_cast<float>(i) * step);
      positions_[p * h + i] = std::sin(angle);
      if (i + 1 < h) positions_[p * h + i + 1] = std::cos(angle);
    }

  const int64_t width = config_.intermediate_size;
  for (int64_t i = 0; i < config_.num_layers; ++i) {
    const std::string p = "encoder.layers." + std::to_string(i) + ".";
    Layer layer;
    layer.norm1_gamma = tensor(p + "norm1.weight", {h});
    layer.norm1_beta = tensor(p + "norm1.bias", {h});
    layer.norm2_gamma = tensor(p + "norm2.weight", {h});
    layer.norm2_beta = tensor(p + "norm2.bias", {h});
    layer.query_key_value = linears_->load({p + "attn.self_attention.query_key_value"}, h, 3 * h, /*bias=*/false);
    layer.dense = linears_->load({p + "attn.dense"}, h, h, /*bias=*/false);
    const auto factor = weights_->get_optional({p + "attn.self_attention.norm_factor"});
    if (factor && factor->size() != 1) throw Error(directory + ": tensor '" + p + "attn.self_attention.norm_factor' must hold one value");
    layer.norm_factor = factor ? factor->data[0] : 1.0f / std::sqrt(static_cast<float>(h / config_.num_heads));
    if (config_.fast_feedforward) {
      const float* bias = tensor(p + "ffn.linear_in.bias", {width}).data;
      if (precision == ops::Precision::kInt8) {
        // Both tree matrices as int8 rows per node (W_in as stored [nodes, h];
        // W_out [h, nodes] read input-major, so its rows are per node too),
        // through LinearWeights: quantized at load, or read in place from a
        // `snapformer quantize` folder, which stores them this way.
        const ops::Linear in_rows = linears_->load_rows({p + "ffn.linear_in"}, h, width);
        const ops::Linear out_rows = linears_->load_rows({p + "ffn.linear_out"}, h, width, /*input_major=*/true);
        layer.fff = {nullptr, bias, nullptr, nullptr, h, config_.fff_depth, config_.fff_trees};
        layer.fff.in_int8 = in_rows.weight_int8;
        layer.fff.in_scale = in_rows.weight_scale;
        layer.fff.out_by_node_int8 = out_rows.weight_int8;
        layer.fff.out_scale = out_rows.weight_scale;
      } else {
        const FloatTensor in = tensor(p + "ffn.linear_in.weight", {width, h});
        const FloatTensor out = tensor(p + "ffn.linear_out.weight", {h, width});
        auto& by_node = transposed_out_.emplace_back(static_cast<std::size_t>(width * h));
        for (int64_t r = 0; r < h; ++r)
          for (int64_t n = 0; n < width; ++n) by_node[n * h + r] = out.data[r * width + n];
        layer.fff = {in.data, bias, by_node.data(), out.data, h, config_.fff_depth, config_.fff_trees};
      }
    } else {
      layer.ff_in = linears_->load({p + "ffn.dense_in"}, h, width, /*bias=*/false);
      layer.ff_out = linears_->load({p + "ffn.dense_out"}, width, h, /*bias=*/false);
    }
    layers_.push_back(layer);
  }
  weights_->prefault_in_background();
}

std::vector<float> UltraFastBertModel::forward_traced(const PackedBatch& batch, std::vector<std::vector<int32_t>>* routing,
                                                      bool dense_reference) const {
  const int64_t tokens = batch.tokens(), h = config_.hidden_size;
  batch.check(config_.max_positions, config_.vocab_size);

  std::vector<float> x(static_cast<std::size_t>(tokens * h));
  for (int64_t s = 0; s < batch.sequences(); ++s)
    for (int64_t t = batch.starts[s]; t < batch.starts[s + 1]; ++t) {
      const float* word = word_embedding_.data + static_cast<int64_t>(batch.ids[t]) * h;
      const float* pe = positions_.data() + (t - batch.starts[s]) * h;
      for (int64_t i = 0; i < h; ++i) x[t * h + i] = word[i] + position_scale_ * pe[i];
    }
  ops::layer_norm(x.data(), nullptr, tokens, h, embedding_gamma_.data, embedding_beta_.data, config_.layer_norm_eps, x.data());

  const int64_t head_dim = h / config_.num_heads;
  // Each written whole before it is read.
  FloatBuffer normed(x.size()), qkv(static_cast<std::size_t>(tokens * 3 * h)), context(x.size()), projected(x.size());
  // Every layer attends over the same rows of qkv and context.
  std::vector<ops::AttentionSpan> spans;
  for (int64_t s = 0; s < batch.sequences(); ++s) {
    const float* base = qkv.data() + batch.starts[s] * 3 * h;
    spans.push_back({base, base + head_dim, base + 2 * head_dim, batch.length(s), batch.length(s),
                     context.data() + batch.starts[s] * h});
  }
  // Per-head interleaved rows: head j's q, k and v start at columns 3dj, 3dj+d, 3dj+2d.
  const ops::AttentionShape shape{config_.num_heads, head_dim, 3 * h, 3 * h, h, 3 * head_dim};
  if (routing) routing->assign(layers_.size(), {});
  std::vector<float> inner;

  for (std::size_t l = 0; l < layers_.size(); ++l) {
    const Layer& layer = layers_[l];
    ops::layer_norm(x.data(), nullptr, tokens, h, layer.norm1_gamma.data, layer.norm1_beta.data, config_.layer_norm_eps,
                    normed.data());
    layer.query_key_value.apply(normed.data(), tokens, qkv.data());
    ops::attend_batch(spans, shape, /*causal=*/false, layer.norm_factor, linears_->precision());
    layer.dense.apply(context.data(), tokens, projected.data());
    ops::add_in_place(x.data(), projected.data(), tokens * h);
    ops::layer_norm(x.data(), nullptr, tokens, h, layer.norm2_gamma.data, layer.norm2_beta.data, config_.layer_norm_eps,
                    normed.data());
    if (config_.fast_feedforward) {
      int32_t* paths = nullptr;
      if (routing) {
        (*routing)[l].resize(static_cast<std::size_t>(tokens * layer.fff.trees * (layer.fff.depth + 1)));
        paths = (*routing)[l].data();
      }
      if (dense_reference && !routing) {
        if (layer.fff.in == nullptr) throw Error("the dense masked FFF needs float trees (load the model without --dtype int8)");
        ops::fff_dense_masked(layer.fff, normed.data(), tokens, projected.data());
      }
      else ops::fff_conditional(layer.fff, normed.data(), tokens, projected.data(), paths);
    } else {
      inner.resize(static_cast<std::size_t>(tokens * layer.ff_in.out));
      layer.ff_in.apply(normed.data(), tokens, inner.data(), ops::Activation::kGeluErf);
      layer.ff_out.apply(inner.data(), tokens, projected.data());
    }
    ops::add_in_place(x.data(), projected.data(), tokens * h);
  }
  ops::layer_norm(x.data(), nullptr, tokens, h, final_gamma_.data, final_beta_.data, config_.layer_norm_eps, x.data());
  return x;
}

std::vector<float> UltraFastBertModel::masked_lm_logits(const std::vector<float>& hidden,
                                                        const std::vector<int64_t>& rows) const {
  const int64_t n = static_cast<int64_t>(rows.size());
  const std::vector<float> selected = gather_rows(hidden, rows, config_.hidden_size);
  std::vector<float> logits(static_cast<std::size_t>(n * config_.vocab_size));
  decoder_.apply(selected.data(), n, logits.data());
  return logits;
}

}  // namespace snapformer
