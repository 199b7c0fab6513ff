// LinearWeights: builds a model's ops::Linear layers in the precision the
// model was loaded with, and owns whatever that conversion allocates.
//
//   fp32  the float32 weights, in place in the mapping (F16/BF16 converted
//         by Weights).
//   bf16  bfloat16 [out, in]: in place when the file already stores that
//         (BF16 nn.Linear weights, or a folder written by `snapformer
//         quantize --dtype bf16`), else converted at load.
//   int8  int8 [out, in] + per-channel scales and sums: in place from a
//         folder written by `snapformer quantize --dtype int8`, else
//         quantized at load from F32/F16/BF16. Where the int8 kernels take
//         VNNI (ops::int8_uses_vnni()), a GEMM layer's weights are packed
//         into VNNI panels (ops/int8_panels.h) instead, and only those are
//         kept (Linear::weight_int8 null); load_rows() never packs.
//
// Converted sources are released from resident memory as soon as they are
// converted (Weights::release), so an int8 model does not keep both copies.
//
// Pre-converted tensors are named after the layer's weight with a suffix
// (lowered_tensor_names): NAME.weight.bf16 [out, in] BF16; NAME.weight.int8
// [out, in] I8 or NAME.weight.int8_panels (the same weights in VNNI panels,
// ops::int8_panel_shape; written where the writing CPU packs them, loaded
// in place where the loading CPU does, else unpacked), NAME.weight.scale
// [out] F32, NAME.weight.sum [out] I32.
//
// Ownership: Linears returned by load() borrow from this object and from
// `weights`; both must outlive them. Not thread-safe (load time only).
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "io/weights.h"
#include "ops/linear.h"
#include "ops/precision.h"

namespace snapformer {

class LinearWeights {
 public:
  LinearWeights(Weights& weights, ops::Precision precision);

  const Weights& weights() const { return weights_; }
  // The precision the layers compute in (attention follows it: attention.h).
  ops::Precision precision() const { return precision_; }

  // Every layer load() or tied() made in bf16/int8, for `snapformer quantize`.
  struct LoweredLayer {
    std::string base;              // the lowered tensors' names: lowered_tensor_names(base)
    std::string replaced_tensor;   // the stored weight it stands for; "" when tied (that tensor stays)
    ops::Linear linear;
  };
  const std::vector<LoweredLayer>& lowered_layers() const { return lowered_; }

  // The layer whose weight is `BASE.weight` ([out, in], or [in, out] when
  // input_major) and bias `BASE.bias` (when `bias`), for the first base name
  // that exists. Throws Error naming the missing or misshapen tensor.
  ops::Linear load(const std::vector<std::string>& base_names, int64_t in, int64_t out, bool bias,
                   bool input_major = false);

  // As load() for int8 weights read as a table of rows, never packed into
  // panels (UltraFastBERT's tree nodes: fff.h reads one row per node).
  ops::Linear load_rows(const std::vector<std::string>& base_names, int64_t in, int64_t out,
                        bool input_major = false);

  // True when the folder stores the layer (its float weight, or a converted copy).
  bool contains(const std::vector<std::string>& base_names) const;

  // A layer over a weight the model already holds as float32 [out, in]
  // (tied weights: GPT-2's lm_head = wte, MLM decoders = word embeddings).
  // `base_name` names its pre-converted tensors in quantized folders.
  ops::Linear tied(const std::string& base_name, const FloatTensor& weight, const float* bias);

 private:
  // How a layer's int8 weights are read: by the GEMM (packed into panels
  // where int8_panels_) or as rows.
  enum class Use { kGemm, kRowTable };
  bool packs(Use use) const { return use == Use::kGemm && int8_panels_; }

  ops::Linear load_layer(const std::vector<std::string>& base_names, int64_t in, int64_t out, bool bias,
                         bool input_major, Use use);
  // Fills the bf16/int8 fields of `linear` from pre-converted tensors named
  // after `base`; false when the folder has none.
  bool load_lowered(const std::string& base, Use use, ops::Linear& linear);
  // Converts float32 weights into owned buffers.
  void lower(const float* weight, bool input_major, Use use, ops::Linear& linear);
  // Sets weight_int8 to `rows` (borrowed), or weight_int8_panels to an owned
  // packed copy of them.
  void set_int8(const std::int8_t* rows, Use use, ops::Linear& linear);

  Weights& weights_;
  ops::Precision precision_;
  bool int8_panels_;  // int8 GEMM layers are packed into VNNI panels
  std::deque<std::vector<std::uint16_t>> bf16_;
  std::deque<std::vector<std::int8_t>> int8_;
  std::deque<std::unique_ptr<std::int8_t[]>> panels_;
  std::deque<std::vector<float>> scales_;
  std::deque<std::vector<std::int32_t>> sums_;
  std::vector<LoweredLayer> lowered_;
};

// The tensor names a quantized folder stores for the layer `base`.
struct LoweredTensorNames {
  std::string bf16, int8, int8_panels, scale, sum;
};
LoweredTensorNames lowered_tensor_names(const std::string& base);

}  // namespace snapformer
