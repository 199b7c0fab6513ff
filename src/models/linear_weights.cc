#include "models/linear_weights.h"

#include <cstring>

#include "ops/cpu.h"
#include "ops/int8_panels.h"
#include "ops/quantize.h"
#include "util/error.h"

namespace snapformer {

namespace {

// A pre-converted tensor checked for dtype and shape, returned in place when
// aligned for T, else copied into `storage`.
template <typename T>
const T* typed_tensor(const RawTensor& raw, DType dtype, const std::vector<int64_t>& shape,
                      std::deque<std::vector<T>>& storage) {
  if (raw.dtype != dtype)
    throw Error(raw.where + " has dtype " + dtype_name(raw.dtype) + ", expected " + dtype_name(dtype));
  if (raw.shape != shape)
    throw Error(raw.where + " has shape " + shape_string(raw.shape) + ", expected " + shape_string(shape));
  if (reinterpret_cast<std::uintptr_t>(raw.data) % alignof(T) == 0) return reinterpret_cast<const T*>(raw.data);
  auto& copy = storage.emplace_back(raw.bytes / sizeof(T));
  std::memcpy(copy.data(), raw.data, raw.bytes);
  return copy.data();
}

}  // namespace

LoweredTensorNames lowered_tensor_names(const std::string& base) {
  return {base + ".weight.bf16", base + ".weight.int8", base + ".weight.int8_panels", base + ".weight.scale",
          base + ".weight.sum"};
}

LinearWeights::LinearWeights(Weights& weights, ops::Precision precision)
    : weights_(weights),
      precision_(precision),
      int8_panels_(precision == ops::Precision::kInt8 && ops::int8_uses_vnni()) {
  ops::check_precision_supported(precision);
}

void LinearWeights::set_int8(const std::int8_t* rows, Use use, ops::Linear& linear) {
  if (!packs(use)) {
    linear.weight_int8 = rows;
    return;
  }
  // Not zeroed first: packing writes every byte.
  auto& panels = panels_.emplace_back(std::make_unique_for_overwrite<std::int8_t[]>(
      static_cast<std::size_t>(ops::int8_panel_bytes(linear.out, linear.in))));
  ops::pack_int8_panels(rows, linear.out, linear.in, panels.get());
  linear.weight_int8_panels = panels.get();
}

bool LinearWeights::load_lowered(const std::string& base, Use use, ops::Linear& linear) {
  const LoweredTensorNames names = lowered_tensor_names(base);
  const std::vector<int64_t> shape{linear.out, linear.in}, channels{linear.out};
  if (precision_ == ops::Precision::kBf16) {
    const auto raw = weights_.find_raw({names.bf16});
    if (!raw) return false;
    linear.weight_bf16 = typed_tensor(*raw, DType::BF16, shape, bf16_);
    return true;
  }
  // Rows, or panels where the folder was written on a CPU whose int8
  // kernels read them; either is converted when this one wants the other.
  const auto rows = weights_.find_raw({names.int8});
  const auto panels = rows ? std::nullopt : weights_.find_raw({names.int8_panels});
  if (!rows && !panels) return false;
  const RawTensor& stored = rows ? *rows : *panels;
  const auto scale = weights_.find_raw({names.scale});
  const auto sum = weights_.find_raw({names.sum});
  if (!scale || !sum) throw Error(stored.where + " has no '" + names.scale + "' or '" + names.sum + "' beside it");
  if (rows) {
    set_int8(typed_tensor(*rows, DType::I8, shape, int8_), use, linear);
    if (packs(use)) Weights::release(*rows);  // the stored rows are not read again
  } else {
    const std::int8_t* packed =
        typed_tensor(*panels, DType::I8, ops::int8_panel_shape(linear.out, linear.in), int8_);
    if (packs(use)) {
      linear.weight_int8_panels = packed;  // in place
    } else {
      auto& unpacked = int8_.emplace_back(static_cast<std::size_t>(linear.out * linear.in));
      ops::unpack_int8_panels(packed, linear.out, linear.in, unpacked.data());
      linear.weight_int8 = unpacked.data();
      Weights::release(*panels);
    }
  }
  linear.weight_scale = typed_tensor(*scale, DType::F32, channels, scales_);
  linear.weight_sum = typed_tensor(*sum, DType::I32, channels, sums_);
  return true;
}

void LinearWeights::lower(const float* weight, bool input_major, Use use, ops::Linear& linear) {
  const auto count = static_cast<std::size_t>(linear.in * linear.out);
  if (precision_ == ops::Precision::kBf16) {
    auto& converted = bf16_.emplace_back(count);
    ops::weight_to_bfloat16(weight, linear.out, linear.in, input_major, converted.data());
    linear.weight_bf16 = converted.data();
    return;
  }
  std::vector<std::int8_t> q(count);
  auto& scale = scales_.emplace_back(static_cast<std::size_t>(linear.out));
  auto& sum = sums_.emplace_back(static_cast<std::size_t>(linear.out));
  ops::quantize_weight_int8(weight, linear.out, linear.in, input_major, q.data(), scale.data(), sum.data());
  set_int8(q.data(), use, linear);
  if (!packs(use)) linear.weight_int8 = int8_.emplace_back(std::move(q)).data();  // kept as rows
  linear.weight_scale = scale.data();
  linear.weight_sum = sum.data();
}

ops::Linear LinearWeights::load(const std::vector<std::string>& base_names, int64_t in, int64_t out, bool bias,
                                bool input_major) {
  return load_layer(base_names, in, out, bias, input_major, Use::kGemm);
}

ops::Linear LinearWeights::load_rows(const std::vector<std::string>& base_names, int64_t in, int64_t out,
                                     bool input_major) {
  return load_layer(base_names, in, out, /*bias=*/false, input_major, Use::kRowTable);
}

ops::Linear LinearWeights::load_layer(const std::vector<std::string>& base_names, int64_t in, int64_t out, bool bias,
                                      bool input_major, Use use) {
  ops::Linear linear;
  linear.in = in;
  linear.out = out;
  linear.precision = precision_;
  if (bias) linear.bias = weights_.get(with_suffix(base_names, ".bias"), {out}).data;
  const std::vector<int64_t> shape = input_major ? std::vector<int64_t>{in, out} : std::vector<int64_t>{out, in};
  if (precision_ == ops::Precision::kFp32) {
    linear.weight = weights_.get(with_suffix(base_names, ".weight"), shape).data;
    linear.input_major = input_major;
    return linear;
  }
  for (const std::string& base : base_names)
    if (load_lowered(base, use, linear)) {
      lowered_.push_back({base, "", linear});
      return linear;
    }

  const auto raw = weights_.find_raw(with_suffix(base_names, ".weight"));
  if (!raw) throw Error(weights_.directory() + ": missing tensor '" + base_names.front() + ".weight'");
  if (raw->shape != shape)
    throw Error(raw->where + " has shape " + shape_string(raw->shape) + ", expected " + shape_string(shape));
  const std::string base = raw->name.substr(0, raw->name.size() - std::string(".weight").size());
  if (precision_ == ops::Precision::kBf16 && raw->dtype == DType::BF16 && !input_major &&
      reinterpret_cast<std::uintptr_t>(raw->data) % alignof(std::uint16_t) == 0) {
    linear.weight_bf16 = reinterpret_cast<const std::uint16_t*>(raw->data);  // already what the GEMM reads
  } else {
    const FloatBuffer floats = Weights::to_floats(*raw);
    lower(floats.data(), input_major, use, linear);
    Weights::release(*raw);
  }
  lowered_.push_back({base, raw->name, linear});
  return linear;
}

bool LinearWeights::contains(const std::vector<std::string>& base_names) const {
  for (const std::string& base : base_names) {
    const LoweredTensorNames names = lowered_tensor_names(base);
    if (weights_.contains({base + ".weight", names.bf16, names.int8, names.int8_panels})) return true;
  }
  return false;
}

ops::Linear LinearWeights::tied(const std::string& base_name, const FloatTensor& weight, const float* bias) {
  ops::Linear linear;
  linear.in = weight.dim(1);
  linear.out = weight.dim(0);
  linear.bias = bias;
  linear.precision = precision_;
  linear.weight = weight.data;
  if (precision_ == ops::Precision::kFp32) return linear;
  if (!load_lowered(base_name, Use::kGemm, linear)) lower(weight.data, false, Use::kGemm, linear);
  lowered_.push_back({base_name, "", linear});
  return linear;
}

}  // namespace snapformer
