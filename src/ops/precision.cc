#include "ops/precision.h"

#include "util/error.h"

namespace snapformer::ops {

const char* precision_name(Precision precision) {
  switch (precision) {
    case Precision::kFp32: return "fp32";
    case Precision::kBf16: return "bf16";
    case Precision::kInt8: return "int8";
  }
  return "?";
}

Precision parse_precision(const std::string& name) {
  if (name == "fp32" || name == "float32") return Precision::kFp32;
  if (name == "bf16" || name == "bfloat16") return Precision::kBf16;
  if (name == "int8") return Precision::kInt8;
  throw Error("unknown dtype '" + name + "' (expected fp32, bf16 or int8)");
}

}  // namespace snapformer::ops
