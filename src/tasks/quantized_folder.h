// write_quantized_folder: `snapformer quantize`. Writes a model folder whose
// linear layers are stored already converted to bf16 or int8, so that it
// loads in place (no conversion work at start-up, and 2x / 4x fewer bytes to
// map for those layers than float32).
//
// The new folder holds everything the source has (tokenizer files, other
// configs, subfolders such as 1_Pooling), config.json with
// "snapformer_dtype" added, and one model.safetensors: every stored tensor as
// it was except the converted layers' weights, which are replaced by the
// tensors named in models/linear_weights.h (NAME.weight.int8 /
// .weight.scale / .weight.sum, or NAME.weight.bf16). Embeddings, norms and
// biases keep their stored dtype.
#pragma once

#include <cstddef>
#include <string>

#include "ops/precision.h"

namespace snapformer {

struct QuantizeReport {
  std::size_t layers = 0;         // linear layers converted
  std::size_t bytes_before = 0;   // tensor bytes of the source
  std::size_t bytes_after = 0;    // tensor bytes written
};

// Throws Error naming the problem: fp32 asked for, `out_dir` equal to
// `in_dir` or not writable, a source folder that does not load.
QuantizeReport write_quantized_folder(const std::string& in_dir, ops::Precision precision, const std::string& out_dir);

}  // namespace snapformer
