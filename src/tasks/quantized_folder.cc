#include "tasks/quantized_folder.h"

#include <filesystem>
#include <fstream>
#include <set>
#include <vector>

#include "io/safetensors_writer.h"
#include "models/linear_weights.h"
#include "ops/int8_panels.h"
#include "tasks/pipeline.h"
#include "util/error.h"
#include "util/json_file.h"

namespace snapformer {

namespace fs = std::filesystem;

namespace {

bool is_weights_file(const fs::path& path) {
  const std::string name = path.filename().string();
  return path.extension() == ".safetensors" || name == "model.safetensors.index.json";
}

// The lowered tensors of one layer, borrowed from the loaded model: int8
// weights as the model holds them (rows, or VNNI panels where this CPU's
// int8 kernels read those: such a folder loads in place on CPUs like it).
void add_lowered(const LinearWeights::LoweredLayer& layer, std::vector<TensorToWrite>& tensors) {
  const LoweredTensorNames names = lowered_tensor_names(layer.base);
  const ops::Linear& l = layer.linear;
  const auto weights = static_cast<std::size_t>(l.out * l.in);
  const auto channels = static_cast<std::size_t>(l.out);
  if (l.precision == ops::Precision::kBf16) {
    tensors.push_back({names.bf16, DType::BF16, {l.out, l.in}, l.weight_bf16, weights * 2});
    return;
  }
  if (l.weight_int8_panels != nullptr)
    tensors.push_back({names.int8_panels, DType::I8, ops::int8_panel_shape(l.out, l.in), l.weight_int8_panels,
                       static_cast<std::size_t>(ops::int8_panel_bytes(l.out, l.in))});
  else
    tensors.push_back({names.int8, DType::I8, {l.out, l.in}, l.weight_int8, weights});
  tensors.push_back({names.scale, DType::F32, {l.out}, l.weight_scale, channels * 4});
  tensors.push_back({names.sum, DType::I32, {l.out}, l.weight_sum, channels * 4});
}

}  // namespace

QuantizeReport write_quantized_folder(const std::string& in_dir, ops::Precision precision, const std::string& out_dir) {
  if (precision == ops::Precision::kFp32) throw Error("--dtype must be int8 or bf16 (fp32 is what folders store)");
  std::error_code ignored;
  if (fs::exists(out_dir) && fs::equivalent(in_dir, out_dir, ignored))
    throw Error(out_dir + ": the output folder must differ from the model folder");
  const auto pipeline = Pipeline::load(in_dir, /*tokenizer_only=*/false, LoadOptions{precision});
  const LinearWeights& linears =
      pipeline->encoder() != nullptr ? pipeline->encoder()->linear_weights() : pipeline->decoder()->linear_weights();

  QuantizeReport report;
  std::vector<TensorToWrite> tensors;
  std::set<std::string> dropped;  // replaced weights, and lowered tensors already stored (re-quantizing)
  for (const auto& layer : linears.lowered_layers()) {
    if (!layer.replaced_tensor.empty()) dropped.insert(layer.replaced_tensor);
    const LoweredTensorNames names = lowered_tensor_names(layer.base);
    dropped.insert({names.bf16, names.int8, names.int8_panels, names.scale, names.sum});
    add_lowered(layer, tensors);
    ++report.layers;
  }
  for (const RawTensor& raw : linears.weights().all_tensors()) {
    report.bytes_before += raw.bytes;
    if (dropped.count(raw.name) == 0) tensors.push_back({raw.name, raw.dtype, raw.shape, raw.data, raw.bytes});
  }
  for (const TensorToWrite& t : tensors) report.bytes_after += t.bytes;

  fs::create_directories(out_dir);
  // Everything but the weights and config.json, as it is.
  for (const auto& entry : fs::directory_iterator(in_dir)) {
    const fs::path target = fs::path(out_dir) / entry.path().filename();
    if (entry.is_directory()) {
      fs::copy(entry.path(), target, fs::copy_options::recursive | fs::copy_options::overwrite_existing);
    } else if (entry.is_regular_file() && !is_weights_file(entry.path()) && entry.path().filename() != "config.json") {
      fs::copy_file(entry.path(), target, fs::copy_options::overwrite_existing);
    }
  }
  Json config = read_json_file((fs::path(in_dir) / "config.json").string());
  config["snapformer_dtype"] = ops::precision_name(precision);
  const std::string config_path = (fs::path(out_dir) / "config.json").string();
  std::ofstream(config_path) << config.dump(2) << "\n";
  if (!fs::exists(config_path)) throw Error(config_path + ": cannot write");
  write_safetensors((fs::path(out_dir) / "model.safetensors").string(), std::move(tensors),
                    {{"format", "pt"}, {"snapformer_dtype", ops::precision_name(precision)}});
  return report;
}

}  // namespace snapformer
