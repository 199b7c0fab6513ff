// snapformer pull ID: the files of a hub model that the runtime needs, into
// the Hugging Face cache (hub/model_source.h).
#include <unistd.h>

#include <iostream>

#include "cli/arguments.h"
#include "cli/commands.h"
#include "hub/model_source.h"
#include "util/error.h"

namespace snapformer::cli {

int pull_command(const std::vector<std::string>& raw) {
  const Arguments args(raw, {"help", "quiet"}, {"revision"});
  if (args.flag("help") || args.positional().size() != 1) {
    (args.flag("help") ? std::cout : std::cerr)
        << "usage: snapformer pull ORG/NAME[@REVISION] [--revision R] [--quiet]\n"
           "Downloads config.json, the tokenizer files and the safetensors weights (sharded or not)\n"
           "of a Hugging Face hub model into the hub cache ($HF_HUB_CACHE, else $HF_HOME/hub, else\n"
           "~/.cache/huggingface/hub), laid out as huggingface_hub lays it out, and prints the\n"
           "snapshot folder. Files already there are not fetched again; a broken download resumes.\n"
           "Environment: HF_ENDPOINT (default https://huggingface.co), HF_TOKEN (gated and private\n"
           "models), HF_HUB_OFFLINE=1 (refuse to download).\n";
    return args.flag("help") ? 0 : 2;
  }
  std::string spec = args.positional()[0];
  if (const auto revision = args.value("revision")) spec = spec.substr(0, spec.find('@')) + "@" + *revision;
  const auto id = hub::parse_model_id(spec);
  if (!id) throw Error("'" + spec + "' is not a hub model id (ORG/NAME or NAME, optionally @REVISION)");
  hub::PullOptions options;
  options.progress_bar = !args.flag("quiet") && ::isatty(STDERR_FILENO) != 0;
  if (!args.flag("quiet")) options.log = &std::cerr;
  const hub::HubSettings settings = hub::HubSettings::from_environment();
  if (!args.flag("quiet")) std::cerr << "pulling " << id->repo << "@" << id->revision << " from " << settings.endpoint << "\n";
  const hub::PullResult result = hub::pull_model(*id, settings, options);
  if (!args.flag("quiet"))
    std::cerr << "commit " << result.commit << ", " << result.files.size() << " files, "
              << result.bytes_downloaded << " bytes downloaded\n";
  std::cout << result.snapshot.string() << "\n";
  return 0;
}

}  // namespace snapformer::cli
