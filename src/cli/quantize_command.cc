// snapformer quantize --model DIR --dtype int8|bf16 --out DIR2
#include <iostream>

#include "cli/arguments.h"
#include "cli/commands.h"
#include "cli/model_folder.h"
#include "tasks/quantized_folder.h"
#include "util/error.h"

namespace snapformer::cli {

int quantize_command(const std::vector<std::string>& raw) {
  const Arguments args(raw, {"help"}, {"model", "dtype", "out"});
  if (args.flag("help")) {
    std::cout << "usage: snapformer quantize --model DIR --dtype int8|bf16 --out DIR2\n"
                 "Writes DIR2: the model folder DIR with its linear layers stored in DTYPE, which\n"
                 "loads in place (snapformer run/serve --model DIR2 --dtype DTYPE, or no --dtype).\n";
    return 0;
  }
  const auto model = args.value("model");
  const auto dtype = args.value("dtype");
  const auto out = args.value("out");
  if (!model || !dtype || !out) throw Error("--model DIR, --dtype int8|bf16 and --out DIR2 are required");
  const QuantizeReport report = write_quantized_folder(model_folder(*model), ops::parse_precision(*dtype), *out);
  std::cout << "wrote " << *out << ": " << report.layers << " linear layers in " << *dtype << ", tensor bytes "
            << report.bytes_before << " -> " << report.bytes_after << "\n";
  return 0;
}

}  // namespace snapformer::cli
