// snapformer preload --model DIR [--check]
#include <cstdio>
#include <iostream>

#include "cli/arguments.h"
#include "cli/commands.h"
#include "cli/model_folder.h"
#include "io/page_cache.h"
#include "io/weights.h"
#include "util/error.h"

namespace snapformer::cli {

int preload_command(const std::vector<std::string>& raw) {
  const Arguments args(raw, {"help", "check"}, {"model"});
  if (args.flag("help")) {
    std::cout << "usage: snapformer preload --model DIR [--check]\n"
                 "Puts the model's weight files into the page cache in 2 MB pages, so that every later\n"
                 "process maps them 2 MB a page fault (a faster cold start). Run it once after the files\n"
                 "were downloaded, copied or written: the page cache keeps a file it got by a write in\n"
                 "4 KB pages. Pages that a running process maps are left as they are.\n"
                 "--check only reports how the files are cached now.\n";
    return 0;
  }
  if (!args.value("model")) throw Error("--model DIR|ORG/NAME is required");
  const std::string model = model_folder(*args.value("model"));
  for (const std::string& path : weight_file_paths(model)) {
    const PageCacheReport report = args.flag("check") ? inspect_page_cache(path) : recache_in_huge_pages(path);
    const double megabytes = static_cast<double>(report.file_bytes) / 1e6;
    const double huge_share =
        report.resident_bytes == 0 ? 0.0 : 100.0 * static_cast<double>(report.huge_page_bytes) / report.resident_bytes;
    char line[160];
    std::snprintf(line, sizeof line, "%.1f MB, %.0f%% mapped with 2 MB pages", megabytes, huge_share);
    std::cout << path << ": " << line << "\n";
  }
  return 0;
}

}  // namespace snapformer::cli
