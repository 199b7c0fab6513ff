// Precision: the number format the linear layers compute in.
//
//   fp32  float32 weights and activations (default; exact to Hugging Face
//         within the goldens' tolerance).
//   bf16  bfloat16 weights and activations, float32 accumulation and output
//         (oneDNN; fast on CPUs with AVX512_BF16, emulated on other AVX-512 CPUs).
//   int8  dynamic quantization: int8 weights per output channel (symmetric),
//         activations quantized per token at run time (uint8 with a zero
//         point), int32 accumulation (VNNI where the CPU has it).
//
// Only the linear layers change; embeddings, LayerNorm, softmax, attention
// and GELU stay in float32 in every mode.
#pragma once

#include <string>

namespace snapformer::ops {

enum class Precision { kFp32, kBf16, kInt8 };

const char* precision_name(Precision precision);
// Parses "fp32", "bf16" or "int8"; throws Error naming the bad value.
Precision parse_precision(const std::string& name);

}  // namespace snapformer::ops
