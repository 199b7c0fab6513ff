#include "models/gpt2.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "ops/attention.h"
#include "ops/elementwise.h"
#include "ops/quantize.h"
#include "util/error.h"

namespace snapformer {
namespace {

// One position's keys or values, the heads side by side in `row`, into their
// heads' slabs of a KV cache: head n's head_dim values to first + n * head_rows.
template <typename T>
void scatter_heads(const T* row, int64_t heads, int64_t head_dim, int64_t head_rows, T* first) {
  for (int64_t n = 0; n < heads; ++n)
    std::memcpy(first + n * head_rows, row + n * head_dim, static_cast<std::size_t>(head_dim) * sizeof(T));
}

}  // namespace

FloatTensor Gpt2Model::tensor(const std::string& name, const std::vector<int64_t>& shape) {
  return weights_->get({"transformer." + name, name}, shape);
}

ops::Linear Gpt2Model::conv1d(const std::string& name, int64_t in, int64_t out) {
  return linears_->load({"transformer." + name, name}, in, out, /*bias=*/true, /*input_major=*/true);
}

Gpt2Model::Gpt2Model(const std::string& directory, ModelConfig config, ops::Precision precision)
    : config_(std::move(config)),
      weights_(std::make_unique<Weights>(directory)),
      linears_(std::make_unique<LinearWeights>(*weights_, precision)) {
  const int64_t h = config_.hidden_size, ff = config_.intermediate_size;
  wte_ = tensor("wte.weight", {config_.vocab_size, h});
  wpe_ = tensor("wpe.weight", {config_.max_positions, h});
  for (int64_t i = 0; i < config_.num_layers; ++i) {
    const std::string p = "h." + std::to_string(i) + ".";
    Layer layer;
    layer.ln_1_gamma = tensor(p + "ln_1.weight", {h});
    layer.ln_1_beta = tensor(p + "ln_1.bias", {h});
    layer.c_attn = conv1d(p + "attn.c_attn", h, 3 * h);
    layer.attn_c_proj = conv1d(p + "attn.c_proj", h, h);
    layer.ln_2_gamma = tensor(p + "ln_2.weight", {h});
    layer.ln_2_beta = tensor(p + "ln_2.bias", {h});
    layer.c_fc = conv1d(p + "mlp.c_fc", h, ff);
    layer.mlp_c_proj = conv1d(p + "mlp.c_proj", ff, h);
    layers_.push_back(layer);
  }
  ln_f_gamma_ = tensor("ln_f.weight", {h});
  ln_f_beta_ = tensor("ln_f.bias", {h});
  // Tied to wte unless stored (a quantized folder stores its lowered copy under lm_head).
  lm_head_ = weights_->contains({"lm_head.weight"}) ? linears_->load({"lm_head"}, h, config_.vocab_size, /*bias=*/false)
                                                     : linears_->tied("lm_head", wte_, nullptr);
  weights_->prefault_in_background();
}

Gpt2Model::KvCache Gpt2Model::new_cache(int64_t capacity) const {
  KvCache cache;
  cache.capacity = std::min(capacity, config_.max_positions);
  const auto size = static_cast<std::size_t>(config_.num_layers * cache.capacity * config_.hidden_size);
  if (ops::kv_cache_in_bf16(linears_->precision())) {
    cache.keys_bf16.resize(size);
    cache.values_bf16.resize(size);
  } else {
    cache.keys.resize(size);
    cache.values.resize(size);
  }
  return cache;
}

std::vector<float> Gpt2Model::forward(const std::vector<Step>& steps) const {
  const int64_t h = config_.hidden_size, ff = config_.intermediate_size;
  int64_t rows = 0;
  for (const Step& step : steps) {
    if (step.cache->length + step.count > step.cache->capacity)
      throw InputTooLongError("sequence of " + std::to_string(step.cache->length + step.count) +
                              " tokens exceeds the model's " + std::to_string(step.cache->capacity) + " positions");
    for (int64_t i = 0; i < step.count; ++i)
      if (step.ids[i] < 0 || step.ids[i] >= config_.vocab_size)
        throw Error("token id " + std::to_string(step.ids[i]) + " is outside the vocabulary of " +
                    std::to_string(config_.vocab_size));
    rows += step.count;
  }

  std::vector<float> x(static_cast<std::size_t>(rows * h));
  for (int64_t r = 0, s = 0; s < static_cast<int64_t>(steps.size()); ++s) {
    for (int64_t i = 0; i < steps[s].count; ++i, ++r) {
      const float* word = wte_.data + static_cast<int64_t>(steps[s].ids[i]) * h;
      const float* pos = wpe_.data + (steps[s].cache->length + i) * h;
      for (int64_t c = 0; c < h; ++c) x[r * h + c] = word[c] + pos[c];
    }
  }

  // Each written whole before it is read.
  FloatBuffer normed(x.size()), qkv(static_cast<std::size_t>(rows * 3 * h)), context(x.size()), projected(x.size()),
      inner(static_cast<std::size_t>(rows * ff));
  std::vector<ops::AttentionSpan> spans;
  std::vector<std::uint16_t> rounded(static_cast<std::size_t>(2 * h));  // one row's keys and values as bf16
  const int64_t head_dim = h / config_.num_heads;
  const float scale = 1.0f / std::sqrt(static_cast<float>(head_dim));
  // K and V come from the caches, one head's rows after another (kv_stride head_dim).
  const ops::AttentionShape shape{config_.num_heads, head_dim, 3 * h, head_dim, h};

  for (std::size_t l = 0; l < layers_.size(); ++l) {
    const Layer& layer = layers_[l];
    ops::layer_norm(x.data(), nullptr, rows, h, layer.ln_1_gamma.data, layer.ln_1_beta.data, config_.layer_norm_eps,
                    normed.data());
    layer.c_attn.apply(normed.data(), rows, qkv.data());
    spans.clear();
    for (int64_t r = 0, s = 0; s < static_cast<int64_t>(steps.size()); ++s) {
      KvCache& cache = *steps[s].cache;
      const int64_t layer_start = static_cast<int64_t>(l) * cache.capacity * h;
      const int64_t head_rows = cache.capacity * head_dim;  // one head's slab of the layer
      const bool bf16 = !cache.keys_bf16.empty();
      // This step's keys and values (columns h.. and 2h.. of each qkv row)
      // into their heads' slabs, as float32 or rounded to bf16 (a row's 2h
      // values at once).
      for (int64_t i = 0; i < steps[s].count; ++i) {
        const float* row = qkv.data() + (r + i) * 3 * h;
        const int64_t at = layer_start + (cache.length + i) * head_dim;  // the position in head 0's slab
        if (bf16) {
          ops::floats_to_bfloat16(row + h, 2 * h, rounded.data());
          scatter_heads(rounded.data(), config_.num_heads, head_dim, head_rows, cache.keys_bf16.data() + at);
          scatter_heads(rounded.data() + h, config_.num_heads, head_dim, head_rows, cache.values_bf16.data() + at);
        } else {
          scatter_heads(row + h, config_.num_heads, head_dim, head_rows, cache.keys.data() + at);
          scatter_heads(row + 2 * h, config_.num_heads, head_dim, head_rows, cache.values.data() + at);
        }
      }
      ops::AttentionSpan span{qkv.data() + r * 3 * h, nullptr, nullptr, steps[s].count, cache.length + steps[s].count,
                              context.data() + r * h, head_rows};
      if (bf16) {
        span.k_bf16 = cache.keys_bf16.data() + layer_start;
        span.v_bf16 = cache.values_bf16.data() + layer_start;
      } else {
        span.k = cache.keys.data() + layer_start;
        span.v = cache.values.data() + layer_start;
      }
      spans.push_back(span);
      r += steps[s].count;
    }
    ops::attend_batch(spans, shape, /*causal=*/true, scale, linears_->precision());
    layer.attn_c_proj.apply(context.data(), rows, projected.data());
    ops::add_in_place(x.data(), projected.data(), rows * h);
    ops::layer_norm(x.data(), nullptr, rows, h, layer.ln_2_gamma.data, layer.ln_2_beta.data, config_.layer_norm_eps,
                    normed.data());
    layer.c_fc.apply(normed.data(), rows, inner.data(), config_.activation);  // bias + activation fused
    layer.mlp_c_proj.apply(inner.data(), rows, projected.data());
    ops::add_in_place(x.data(), projected.data(), rows * h);
  }
  for (const Step& step : steps) step.cache->length += step.count;
  ops::layer_norm(x.data(), nullptr, rows, h, ln_f_gamma_.data, ln_f_beta_.data, config_.layer_norm_eps, x.data());
  return x;
}

std::vector<float> Gpt2Model::logits(const float* hidden, int64_t rows) const {
  std::vector<float> out(static_cast<std::size_t>(rows * config_.vocab_size));
  lm_head_.apply(hidden, rows, out.data());
  return out;
}

}  // namespace snapformer
