// JSON and human-readable renderings of task results for `snapformer run`.
// Field names are a contract other tooling relies on (see docs/API.md).
#pragma once

#include "tasks/pipeline.h"
#include "util/json_file.h"

namespace snapformer::cli {

Json tokenize_json(const Encoding& encoding);
Json classify_json(const ClassifyResult& result, const ModelConfig& config);
Json qa_json(const QaResult& result);
Json embed_json(const EmbedResult& result);
Json fill_mask_json(const FillMaskResult& result);
Json generate_json(const GenerateResult& result);
Json forward_json(const ForwardResult& result, const Pipeline& pipeline);

std::string tokenize_text(const Encoding& encoding);
std::string classify_text(const ClassifyResult& result);
std::string qa_text(const QaResult& result);
std::string embed_text(const EmbedResult& result);
std::string fill_mask_text(const FillMaskResult& result);
std::string forward_text(const ForwardResult& result);

}  // namespace snapformer::cli
