// `snapformer run`: one task over command-line texts or a JSON Lines file.
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <iostream>

#include "cli/arguments.h"
#include "cli/commands.h"
#include "cli/model_folder.h"
#include "cli/result_json.h"
#include "ops/threads.h"
#include "tasks/task_input_json.h"
#include "util/error.h"
#include "util/utf8.h"

namespace snapformer::cli {
namespace {

constexpr std::size_t kBatchInputs = 32;  // inputs packed into one forward pass

std::vector<TaskInput> read_inputs(const Arguments& args, Task task) {
  std::vector<TaskInput> inputs;
  if (const auto file = args.value("input-file")) {
    std::ifstream stream;
    std::istream* in = &std::cin;
    const std::string label = *file == "-" ? "<stdin>" : *file;
    if (*file != "-") {
      stream.open(*file, std::ios::binary);
      if (!stream) throw Error(*file + ": cannot open input file");
      in = &stream;
    }
    std::string line;
    for (std::size_t number = 1; std::getline(*in, line); ++number) {
      if (!line.empty() && line.back() == '\r') line.pop_back();
      if (line.find_first_not_of(" \t") == std::string::npos) continue;
      inputs.push_back(task_input_from_json_line(line, label + ":" + std::to_string(number)));
    }
  }
  const auto& texts = args.positional();
  for (const std::string& text : texts)
    if (!utf8::is_valid(text)) throw Error("command-line text is not valid UTF-8");
  if (task == Task::kQuestionAnswering) {
    if (texts.size() % 2 != 0) throw Error("qa takes texts in pairs: QUESTION CONTEXT");
    for (std::size_t i = 0; i < texts.size(); i += 2) {
      TaskInput input;
      input.question = texts[i];
      input.context = texts[i + 1];
      inputs.push_back(std::move(input));
    }
  } else {
    for (const std::string& text : texts) inputs.push_back(TaskInput{.text = text});
  }
  if (inputs.empty()) throw Error("no input: give TEXT arguments or --input-file FILE (- for standard input)");
  return inputs;
}

Pooling parse_pooling(const std::string& name) {
  if (name == "cls") return Pooling::kCls;
  if (name == "mean") return Pooling::kMean;
  if (name.empty() || name == "default") return Pooling::kDefault;
  throw Error("--pooling must be cls or mean, got '" + name + "'");
}

GenerationOptions generation_options(const Arguments& args) {
  GenerationOptions o;
  o.max_new_tokens = args.int_or("max-new-tokens", 20);
  o.do_sample = args.flag("do-sample");
  o.temperature = static_cast<float>(args.number_or("temperature", 1.0));
  o.top_k = args.int_or("top-k", 0);
  o.top_p = static_cast<float>(args.number_or("top-p", 1.0));
  o.repetition_penalty = static_cast<float>(args.number_or("repetition-penalty", 1.0));
  if (args.value("seed")) o.seed = static_cast<uint64_t>(args.int_or("seed", 0));
  o.stop = args.values("stop");
  return o;
}

void print(bool json, const Json& value, const std::string& text) {
  if (json) std::cout << value.dump(-1, ' ', false, Json::error_handler_t::replace) << "\n";
  else std::cout << text << "\n";
}

}  // namespace

int run_command(const std::vector<std::string>& raw) {
  const Arguments args(raw, {"json", "truncate", "normalize", "do-sample", "help"},
                       {"model", "task", "input-file", "max-length", "pooling", "max-new-tokens", "temperature", "top-k",
                        "top-p", "repetition-penalty", "seed", "stop", "threads", "max-answer-length", "dtype"});
  if (args.flag("help")) {
    std::cout << "usage: snapformer run --model DIR|ORG/NAME[@REV] --task TASK [--json] [--input-file FILE|-] [--truncate]\n"
                 "                      [--max-length N] [TEXT...]\n"
                 "tasks: tokenize classify qa embed fill-mask generate forward\n"
                 "--threads N (default: all cores)   --dtype fp32|bf16|int8 (default: the folder's own, fp32)\n"
                 "embed: --pooling cls|mean --normalize    generate: --max-new-tokens N --do-sample\n"
                 "       --temperature T --top-k K --top-p P --repetition-penalty R --seed S --stop TEXT\n";
    return 0;
  }
  const auto model_spec = args.value("model");
  if (!model_spec) throw Error("--model DIR|ORG/NAME is required");
  const std::string model = model_folder(*model_spec);
  const Task task = parse_task(args.value_or("task", ""));
  ops::set_num_threads(static_cast<int>(args.int_or("threads", 0)));
  const bool json = args.flag("json");
  // SNAPFORMER_TIMING=1 reports the stages of a cold start on standard error.
  const bool timing = std::getenv("SNAPFORMER_TIMING") != nullptr;
  const auto started = std::chrono::steady_clock::now();
  const auto since_start = [&] {
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started).count();
  };
  LoadOptions load_options;
  if (const auto dtype = args.value("dtype")) load_options.precision = ops::parse_precision(*dtype);
  const auto pipeline = Pipeline::load(model, /*tokenizer_only=*/task == Task::kTokenize, load_options);
  if (timing) std::cerr << "timing: load " << since_start() << " ms\n";
  if (!pipeline->supports(task)) {
    throw Error(std::string("task '") + task_name(task) + "' is not supported by " + *model_spec + " (" +
                pipeline->config().architecture + ")");
  }
  const std::vector<TaskInput> inputs = read_inputs(args, task);
  const TruncationOptions truncation{args.flag("truncate"), args.int_or("max-length", 0)};
  if (truncation.max_length < 0) throw Error("--max-length must be positive");

  switch (task) {
    case Task::kTokenize:
      for (const TaskInput& input : inputs) {
        const Encoding e = pipeline->tokenize(input, truncation);
        print(json, tokenize_json(e), tokenize_text(e));
      }
      break;
    case Task::kClassify:
    case Task::kEmbed: {
      const Pooling pooling = parse_pooling(args.value_or("pooling", ""));
      for (std::size_t begin = 0; begin < inputs.size(); begin += kBatchInputs) {
        const std::vector<TaskInput> chunk(inputs.begin() + static_cast<std::ptrdiff_t>(begin),
                                           inputs.begin() + static_cast<std::ptrdiff_t>(std::min(inputs.size(), begin + kBatchInputs)));
        if (task == Task::kClassify) {
          for (const ClassifyResult& r : pipeline->classify(chunk, truncation))
            print(json, classify_json(r, pipeline->config()), classify_text(r));
        } else {
          for (const EmbedResult& r : pipeline->embed(chunk, pooling, args.flag("normalize"), truncation))
            print(json, embed_json(r), embed_text(r));
        }
      }
      break;
    }
    case Task::kQuestionAnswering: {
      QaOptions options;
      options.max_answer_length = args.int_or("max-answer-length", 15);
      options.top_k = std::max<int64_t>(1, args.int_or("top-k", 1));
      for (const TaskInput& input : inputs) {
        const QaResult r = pipeline->answer(input, options, truncation);
        print(json, qa_json(r), qa_text(r));
      }
      break;
    }
    case Task::kFillMask:
      for (const TaskInput& input : inputs) {
        const FillMaskResult r = pipeline->fill_mask(input, args.int_or("top-k", 10), truncation);
        print(json, fill_mask_json(r), fill_mask_text(r));
      }
      break;
    case Task::kGenerate: {
      const GenerationOptions options = generation_options(args);
      for (const TaskInput& input : inputs) {
        if (json) {
          print(true, generate_json(pipeline->generate(input, options)), "");
          continue;
        }
        std::cout << input.text << std::flush;  // stream the continuation as it is produced
        pipeline->generate(input, options, [](int32_t, const std::string& piece, float) {
          std::cout << piece << std::flush;
          return true;
        });
        std::cout << "\n";
      }
      break;
    }
    case Task::kForward:
      for (const TaskInput& input : inputs) {
        const ForwardResult r = pipeline->forward(input, truncation);
        print(json, forward_json(r, *pipeline), forward_text(r));
      }
      break;
  }
  std::cout.flush();
  if (timing) std::cerr << "timing: load + task " << since_start() << " ms\n";
  return 0;
}

}  // namespace snapformer::cli
