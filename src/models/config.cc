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
  } else {
    throw Error(path + ": unsupported model_type '" + c.model_type + "' (supported: bert, distilbert, roberta, gpt2)");
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
