#include "models/config.h"

#include <filesystem>

#include "util/error.h"
#include "util/json_file.h"

namespace snapformer {

const char* family_name(ModelFamily family) {
  switch (family) {
    case ModelFamily::kBert: return "bert";
    case ModelFamily::kRoberta: return "roberta";
    case ModelFamily::kDistilBert: return "distilbert";
    case ModelFamily::kGpt2: return "gpt2";
    case ModelFamily::kCrammedBert: return "crammedBERT";
  }
  return "?";
}

const char* head_name(HeadKind head) {
  switch (head) {
    case HeadKind::kNone: return "base";
    case HeadKind::kSequenceClassification: return "sequence-classification";
    case HeadKind::kQuestionAnswering: return "question-answering";
    case HeadKind::kMaskedLm: return "masked-lm";
    case HeadKind::kCausalLm: return "causal-lm";
  }
  return "?";
}

namespace {

HeadKind head_from_architecture(const std::string& architecture) {
  auto ends_with = [&](const char* suffix) {
    const std::string s(suffix);
    return architecture.size() >= s.size() && architecture.compare(architecture.size() - s.size(), s.size(), s) == 0;
  };
  if (ends_with("ForSequenceClassification")) return HeadKind::kSequenceClassification;
  if (ends_with("ForQuestionAnswering")) return HeadKind::kQuestionAnswering;
  if (ends_with("ForMaskedLM")) return HeadKind::kMaskedLm;
  if (ends_with("LMHeadModel") || ends_with("ForCausalLM")) return HeadKind::kCausalLm;
  return HeadKind::kNone;
}

void require_positive(int64_t value, const char* field, const std::string& where) {
  if (value <= 0 || value > (int64_t{1} << 24)) throw Error(where + ": field '" + field + "' must be a positive integer");
}

// crammedBERT keeps its hyper-parameters under "arch". Fields that change the
// math must have the values this runtime implements (ULTRAFASTBERT.md, 2.2).
void load_crammed_bert_arch(const Json& json, const std::string& path, ModelConfig& c) {
  if (!json.contains("arch") || !json["arch"].is_object()) throw Error(path + ": crammedBERT config needs an 'arch' object");
  const Json& arch = json["arch"];
  const std::string where = path + ": arch";
  auto object = [&](const char* name) -> const Json& {
    if (!arch.contains(name) || !arch[name].is_object()) throw Error(where + ": missing object '" + name + "'");
    return arch[name];
  };
  const Json& attention = object("attention");
  const Json& embedding = object("embedding");
  auto require = [&](const Json& o, const char* field, const Json& expected, const std::string& label) {
    if (o.contains(field) && o[field] != expected)
      throw Error(where + ": unsupported " + label + "." + field + " = " + o[field].dump() + " (expected " + expected.dump() + ")");
  };
  require(attention, "qkv_bias", false, "attention");
  require(attention, "rotary_embedding", false, "attention");
  require(attention, "causal_attention", false, "attention");
  require(attention, "type", "self-attention", "attention");
  require(attention, "skip_output_projection", false, "attention");
  require(attention, "sequence_op", "torch-softmax", "attention");
  require(embedding, "pos_embedding", "scaled-sinusoidal", "embedding");
  require(embedding, "normalization", true, "embedding");
  require(arch, "norm", "LayerNorm", "arch");
  require(arch, "norm_scheme", "pre", "arch");
  require(arch, "nonlin", "GELU", "arch");
  require(arch, "final_norm", true, "arch");
  require(arch, "skip_head_transform", true, "arch");
  require(arch, "decoder_bias", false, "arch");
  require(arch, "use_bias", false, "arch");
  require(arch, "ffn_layer_frequency", 1, "arch");
  c.family = ModelFamily::kCrammedBert;
  c.hidden_size = json_int(arch, "hidden_size", where);
  c.num_layers = json_int(arch, "num_transformer_layers", where);
  c.num_heads = json_int(attention, "num_attention_heads", where + ".attention");
  c.vocab_size = json_int(embedding, "vocab_size", where + ".embedding");
  c.max_positions = json_int_or(embedding, "max_seq_length", 128, where + ".embedding");
  if (json_int_or(embedding, "embedding_dim", c.hidden_size, where) != c.hidden_size)
    throw Error(where + ": embedding_dim must equal hidden_size");
  c.pad_token_id = json_int_or(embedding, "pad_token_id", 0, where);
  c.layer_norm_eps = static_cast<float>(json_number_or(arch, "norm_eps", 1e-12, where));
  c.activation = ops::Activation::kGeluErf;
  const std::string ff = json_string_or(arch, "intermed_type", "ff", where);
  if (ff != "fff" && ff != "ff") throw Error(where + ": unsupported intermed_type '" + ff + "'");
  c.fast_feedforward = ff == "fff";
  c.fff_trees = json_int(arch, "intermed_size", where);
  c.fff_depth = c.fast_feedforward ? json_int(arch, "intermed_depth", where) : 0;
  if (c.fast_feedforward && (c.fff_depth < 0 || c.fff_depth > 24)) throw Error(where + ": intermed_depth must be in 0..24");
  c.intermediate_size = c.fast_feedforward ? c.fff_trees * ((int64_t{2} << c.fff_depth) - 1) : c.fff_trees;
  c.type_vocab_size = 0;
  if (c.head == HeadKind::kNone && c.architecture == "ScriptableLMForPreTraining") c.head = HeadKind::kMaskedLm;
  if (c.architecture == "ScriptableLMForPreTraining" || c.architecture.empty()) c.head = HeadKind::kMaskedLm;
}

}  // namespace

ModelConfig load_model_config(const std::string& directory) {
  const std::string path = (std::filesystem::path(directory) / "config.json").string();
  const Json json = read_json_file(path);
  if (!json.is_object()) throw Error(path + ": not a JSON object");
  ModelConfig c;
  c.model_type = json_string_or(json, "model_type", "", path);
  if (c.model_type.empty()) throw Error(path + ": missing required field 'model_type'");
  if (json.contains("architectures") && json["architectures"].is_array() && !json["architectures"].empty() &&
      json["architectures"][0].is_string())
    c.architecture = json["architectures"][0].get<std::string>();
  c.head = head_from_architecture(c.architecture);
  const std::string stored = json_string_or(json, "snapformer_dtype", "fp32", path);
  try {
    c.stored_precision = ops::parse_precision(stored);
  } catch (const Error& e) {
    throw Error(path + ": snapformer_dtype: " + e.what());
  }

  if (c.model_type == "bert" || c.model_type == "roberta") {
    c.family = c.model_type == "bert" ? ModelFamily::kBert : ModelFamily::kRoberta;
    c.hidden_size = json_int(json, "hidden_size", path);
    c.num_heads = json_int(json, "num_attention_heads", path);
    c.num_layers = json_int(json, "num_hidden_layers", path);
    c.intermediate_size = json_int(json, "intermediate_size", path);
    c.vocab_size = json_int(json, "vocab_size", path);
    c.max_positions = json_int_or(json, "max_position_embeddings", 512, path);
    c.type_vocab_size = json_int_or(json, "type_vocab_size", 2, path);
    c.pad_token_id = json_int_or(json, "pad_token_id", c.family == ModelFamily::kRoberta ? 1 : 0, path);
    c.layer_norm_eps = static_cast<float>(json_number_or(json, "layer_norm_eps", 1e-12, path));
    c.activation = ops::parse_activation(json_string_or(json, "hidden_act", "gelu", path), path + ": hidden_act");
    if (c.family == ModelFamily::kRoberta) c.position_offset = c.pad_token_id + 1;
    const std::string position_type = json_string_or(json, "position_embedding_type", "absolute", path);
    if (position_type != "absolute") throw Error(path + ": unsupported position_embedding_type '" + position_type + "'");
  } else if (c.model_type == "distilbert") {
    c.family = ModelFamily::kDistilBert;
    c.hidden_size = json_int(json, "dim", path);
    c.num_heads = json_int(json, "n_heads", path);
    c.num_layers = json_int(json, "n_layers", path);
    c.intermediate_size = json_int(json, "hidden_dim", path);
    c.vocab_size = json_int(json, "vocab_size", path);
    c.max_positions = json_int_or(json, "max_position_embeddings", 512, path);
    c.pad_token_id = json_int_or(json, "pad_token_id", 0, path);
    c.layer_norm_eps = 1e-12f;  // fixed in DistilBERT
    c.activation = ops::parse_activation(json_string_or(json, "activation", "gelu", path), path + ": activation");
    if (json.value("sinusoidal_pos_embds", false)) throw Error(path + ": sinusoidal_pos_embds is not supported");
  } else if (c.model_type == "gpt2") {
    c.family = ModelFamily::kGpt2;
    c.hidden_size = json_int(json, "n_embd", path);
    c.num_heads = json_int(json, "n_head", path);
    c.num_layers = json_int(json, "n_layer", path);
    c.intermediate_size = json_int_or(json, "n_inner", 4 * c.hidden_size, path);
    c.vocab_size = json_int(json, "vocab_size", path);
    c.max_positions = json_int_or(json, "n_positions", 1024, path);
    c.layer_norm_eps = static_cast<float>(json_number_or(json, "layer_norm_epsilon", 1e-5, path));
    c.activation = ops::parse_activation(json_string_or(json, "activation_function", "gelu_new", path),
                                         path + ": activation_function");
    c.eos_token_id = json_int_or(json, "eos_token_id", 50256, path);
    c.bos_token_id = json_int_or(json, "bos_token_id", 50256, path);
    if (json.value("scale_attn_by_inverse_layer_idx", false) || json.value("reorder_and_upcast_attn", false))
      throw Error(path + ": scale_attn_by_inverse_layer_idx / reorder_and_upcast_attn are not supported");
    if (c.head == HeadKind::kNone && c.architecture.empty()) c.head = HeadKind::kCausalLm;
  } else if (c.model_type == "crammedBERT") {
    load_crammed_bert_arch(json, path, c);
  } else {
    throw Error(path + ": unsupported model_type '" + c.model_type +
                "' (supported: bert, distilbert, roberta, gpt2, crammedBERT)");
  }
  require_positive(c.hidden_size, "hidden size", path);
  require_positive(c.num_heads, "attention heads", path);
  require_positive(c.num_layers, "layers", path);
  require_positive(c.intermediate_size, "intermediate size", path);
  require_positive(c.vocab_size, "vocab_size", path);
  require_positive(c.max_positions, "max positions", path);
  if (c.hidden_size % c.num_heads != 0) throw Error(path + ": hidden size is not divisible by the number of heads");
  if (c.max_sequence_length() <= 0) throw Error(path + ": no room for any position");

  if (json.contains("id2label") && json["id2label"].is_object()) {
    const auto& id2label = json["id2label"];
    c.labels.resize(id2label.size());
    for (const auto& [key, value] : id2label.items()) {
      std::size_t index = 0;
      try {
        index = std::stoul(key);
      } catch (...) {
        throw Error(path + ": id2label key '" + key + "' is not an integer");
      }
      if (index >= c.labels.size() || !value.is_string()) throw Error(path + ": id2label is not a dense list of names");
      c.labels[index] = value.get<std::string>();
    }
  }
  if (c.head == HeadKind::kSequenceClassification) {
    const int64_t num_labels = json_int_or(json, "num_labels", static_cast<int64_t>(c.labels.size()), path);
    if (c.labels.empty()) {
      const int64_t n = num_labels > 0 ? num_labels : 2;
      for (int64_t i = 0; i < n; ++i) c.labels.push_back("LABEL_" + std::to_string(i));
    }
  }
  return c;
}

}  // namespace snapformer
