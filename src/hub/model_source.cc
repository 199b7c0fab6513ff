#include "hub/model_source.h"

#include <sys/file.h>
#include <unistd.h>

#include <charconv>
#include <chrono>
#include <cstdio>
#include <fcntl.h>
#include <ostream>
#include <set>
#include <thread>

#include "hub/file_digest.h"
#include "hub/hub_cache.h"
#include "hub/hub_http.h"
#include "util/error.h"
#include "util/json_file.h"

namespace snapformer::hub {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

// Files the runtime reads besides the weights (tasks/pipeline.cc, tokenizers/tokenizer.cc).
const std::set<std::string> kSupportFiles = {
    "config.json",        "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json",
    "added_tokens.json",  "vocab.txt",      "vocab.json",            "merges.txt",
    "generation_config.json", "1_Pooling/config.json", "modules.json", "sentence_bert_config.json"};

// Percent-encodes a path for a URL, keeping '/' between its parts.
std::string url_path(const std::string& text, bool keep_slash) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : text) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~' || (keep_slash && c == '/')) {
      out.push_back(static_cast<char>(c));
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

// ETag header -> blob name: without a weak marker and quotes.
std::string normalize_etag(std::string etag) {
  if (etag.rfind("W/", 0) == 0) etag = etag.substr(2);
  if (etag.size() >= 2 && etag.front() == '"' && etag.back() == '"') etag = etag.substr(1, etag.size() - 2);
  return etag;
}

bool is_hex(const std::string& text, std::size_t length) {
  return text.size() == length && text.find_first_not_of("0123456789abcdef") == std::string::npos;
}

// Turns an error status of the hub into a message a user can act on.
[[noreturn]] void throw_for_status(const HttpReply& reply, const ModelId& id, const std::string& what,
                                   const std::string& url) {
  const std::string code = reply.header("x-error-code");
  std::string detail = reply.header("x-error-message");
  if (detail.empty() && reply.body.size() < 300 && reply.body.find('<') == std::string::npos) detail = reply.body;
  const std::string suffix = " (HTTP " + std::to_string(reply.status) + (detail.empty() ? "" : ": " + detail) + ")";
  const std::string model = "model '" + id.repo + "'";
  if (code == "GatedRepo")
    throw Error(model + " is gated: accept its conditions on the hub, then set HF_TOKEN to a token of that account" + suffix);
  if (reply.status == 401)
    throw Error(model + " was not found or is private: check the id, or set HF_TOKEN to a token that can read it" + suffix);
  if (reply.status == 403) throw Error("access to " + model + " is refused for this token" + suffix);
  if (code == "RevisionNotFound") throw Error("revision '" + id.revision + "' of " + model + " was not found" + suffix);
  if (code == "EntryNotFound") throw Error(what + " is not in " + model + " at revision '" + id.revision + "'" + suffix);
  if (reply.status == 404) throw Error(model + " was not found on the hub" + suffix);
  if (reply.status == 429) throw Error("the hub is rate-limiting requests for " + model + "; retry later" + suffix);
  throw Error(url + " answered " + std::to_string(reply.status) + " for " + what + suffix);
}

std::string megabytes(int64_t bytes) {
  char text[32];
  std::snprintf(text, sizeof text, "%.1f MB", static_cast<double>(bytes) / 1e6);
  return text;
}

// A progress line per file, redrawn at most 10 times a second.
class ProgressBar {
 public:
  ProgressBar(bool enabled, std::string name, int64_t offset)
      : enabled_(enabled), name_(std::move(name)), offset_(offset) {}
  void update(int64_t received, int64_t total) {
    if (!enabled_) return;
    const auto now = Clock::now();
    if (now - last_ < std::chrono::milliseconds(100) && received < total) return;
    last_ = now;
    const int64_t done = offset_ + received, all = total > 0 ? offset_ + total : 0;
    const double seconds = std::chrono::duration<double>(now - start_).count();
    char line[256];
    if (all > 0) {
      const int percent = static_cast<int>(100.0 * static_cast<double>(done) / static_cast<double>(all));
      std::string bar(20, ' ');
      for (int i = 0; i < percent / 5; ++i) bar[static_cast<std::size_t>(i)] = '#';
      std::snprintf(line, sizeof line, "\r%-32.32s [%s] %3d%% %s / %s  %.1f MB/s ", name_.c_str(), bar.c_str(), percent,
                    megabytes(done).c_str(), megabytes(all).c_str(),
                    seconds > 0 ? static_cast<double>(received) / 1e6 / seconds : 0.0);
    } else {
      std::snprintf(line, sizeof line, "\r%-32.32s %s ", name_.c_str(), megabytes(done).c_str());
    }
    std::fputs(line, stderr);
    drawn_ = true;
  }
  ~ProgressBar() {
    if (drawn_) std::fputs("\n", stderr);
  }

 private:
  bool enabled_;
  std::string name_;
  int64_t offset_;
  bool drawn_ = false;
  Clock::time_point start_ = Clock::now();
  Clock::time_point last_{};
};

// An exclusive flock() held for its lifetime: the lock file huggingface_hub
// takes for the same blob, so a Python download and ours never interleave.
class BlobLock {
 public:
  explicit BlobLock(const fs::path& path) {
    fs::create_directories(path.parent_path());
    fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd_ < 0) throw Error(path.string() + ": cannot open the download lock");
    if (::flock(fd_, LOCK_EX) != 0) throw Error(path.string() + ": cannot take the download lock");
  }
  ~BlobLock() { ::close(fd_); }
  BlobLock(const BlobLock&) = delete;
  BlobLock& operator=(const BlobLock&) = delete;

 private:
  int fd_ = -1;
};

struct FileMetadata {
  std::string etag;
  int64_t size = -1;
  std::string download_url;
};

class Puller {
 public:
  Puller(const ModelId& id, const HubSettings& settings, const PullOptions& options)
      : id_(id), settings_(settings), options_(options), cache_(settings.cache, id), http_(settings.endpoint, settings.token) {}

  PullResult run() {
    const std::string info_url = settings_.endpoint + "/api/models/" + url_path(id_.repo, true) + "/revision/" +
                                 url_path(id_.revision, false);
    HttpReply info;
    try {
      info = http_.request("GET", info_url);
    } catch (const NetworkError& e) {
      throw NetworkError(std::string("cannot reach the hub: ") + e.what() +
                         " (no network? HF_HUB_OFFLINE=1 uses only the cache; HF_ENDPOINT names a mirror)");
    }
    if (info.status >= 300) throw_for_status(info, id_, "the model's file list", info_url);
    Json json;
    try {
      json = Json::parse(info.body);
    } catch (const Json::exception&) {
      throw Error(info_url + ": the answer is not JSON");
    }
    if (!json.is_object() || !json.contains("sha") || !json["sha"].is_string() || !json.contains("siblings") ||
        !json["siblings"].is_array())
      throw Error(info_url + ": the answer has no 'sha' string and 'siblings' list");
    PullResult result;
    result.commit = json["sha"].get<std::string>();
    if (!is_hex(result.commit, 40)) throw Error(info_url + ": 'sha' is not a 40-hex commit hash");
    std::set<std::string> listed;
    for (const Json& sibling : json["siblings"])
      if (sibling.is_object() && sibling.contains("rfilename") && sibling["rfilename"].is_string())
        listed.insert(sibling["rfilename"].get<std::string>());

    std::vector<std::string> wanted;
    for (const std::string& name : listed)
      if (kSupportFiles.count(name)) wanted.push_back(name);
    if (!listed.count("config.json")) throw Error("model '" + id_.repo + "' has no config.json at revision '" + id_.revision + "'");
    const bool single = listed.count("model.safetensors") > 0;
    if (single) {
      wanted.push_back("model.safetensors");
    } else if (listed.count("model.safetensors.index.json")) {
      wanted.push_back("model.safetensors.index.json");
    } else {
      throw Error("model '" + id_.repo + "' has no safetensors weights at revision '" + id_.revision +
                  "' (snapformer reads model.safetensors or model.safetensors.index.json, not pytorch_model.bin)");
    }
    for (const std::string& name : wanted) result.bytes_downloaded += fetch(result.commit, name);
    result.files = wanted;
    if (!single) {
      for (const std::string& shard : safetensors_shard_names(cache_.snapshot_folder(result.commit) / "model.safetensors.index.json")) {
        if (shard.empty() || shard.find('/') != std::string::npos || shard.find('\\') != std::string::npos || shard == "." || shard == "..")
          throw Error("model '" + id_.repo + "': model.safetensors.index.json names '" + shard + "', which is not a plain file name");
        if (!listed.count(shard))
          throw Error("model '" + id_.repo + "': model.safetensors.index.json names '" + shard + "', which the repo does not hold");
        result.bytes_downloaded += fetch(result.commit, shard);
        result.files.push_back(shard);
      }
    }
    cache_.write_ref(result.commit);
    result.snapshot = cache_.snapshot_folder(result.commit);
    return result;
  }

 private:
  // HEAD of the file's resolve URL at the commit: its ETag, size and the URL
  // its bytes come from (the hub redirects LFS files to a CDN). Redirects
  // within the hub (a renamed repo: relative Location) are followed.
  FileMetadata metadata(const std::string& commit, const std::string& filename) {
    std::string url = settings_.endpoint + "/" + url_path(id_.repo, true) + "/resolve/" + commit + "/" +
                      url_path(filename, true);
    for (int hop = 0; hop < 5; ++hop) {
      const HttpReply reply = http_.request("HEAD", url);
      if (reply.status >= 400) throw_for_status(reply, id_, "'" + filename + "'", url);
      const std::string location = reply.header("location");
      const bool redirect = reply.status >= 300 && reply.status < 400 && !location.empty();
      if (redirect && location.front() == '/') {
        url = settings_.endpoint + location;
        continue;
      }
      FileMetadata m;
      m.etag = normalize_etag(!reply.header("x-linked-etag").empty() ? reply.header("x-linked-etag") : reply.header("etag"));
      const std::string size = !reply.header("x-linked-size").empty() ? reply.header("x-linked-size")
                                                                      : reply.header("content-length");
      if (!size.empty()) {
        int64_t parsed = -1;
        const auto [end, ec] = std::from_chars(size.data(), size.data() + size.size(), parsed);
        if (ec != std::errc() || end != size.data() + size.size() || parsed < 0)
          throw Error(url + ": the hub gave a malformed size '" + size + "' for '" + filename + "'");
        m.size = parsed;
      }
      m.download_url = redirect ? location : url;
      if (m.etag.empty() || m.etag.find_first_of("/\\") != std::string::npos || m.etag.find("..") != std::string::npos)
        throw Error(url + ": the hub gave no usable ETag for '" + filename + "'");
      return m;
    }
    throw Error(url + ": too many redirects for '" + filename + "'");
  }

  // Makes snapshots/<commit>/<filename> point at a complete, checked blob.
  // Returns the bytes downloaded.
  int64_t fetch(const std::string& commit, const std::string& filename) {
    const fs::path pointer = cache_.snapshot_folder(commit) / filename;
    if (fs::exists(pointer)) {  // follows the symlink: the blob is there
      if (options_.log) *options_.log << "  " << filename << ": in the cache\n";
      return 0;
    }
    const FileMetadata m = metadata(commit, filename);
    const fs::path blob = cache_.blob_path(m.etag);
    int64_t downloaded = 0;
    if (!fs::exists(blob)) {
      BlobLock lock(cache_.lock_path(m.etag));
      if (!fs::exists(blob)) downloaded = download_blob(filename, m, blob);
    }
    cache_.link_snapshot_file(commit, filename, m.etag);
    if (options_.log)
      *options_.log << "  " << filename << ": " << (downloaded ? "downloaded " + megabytes(downloaded) : "in the cache") << "\n";
    return downloaded;
  }

  int64_t download_blob(const std::string& filename, const FileMetadata& m, const fs::path& blob) {
    fs::create_directories(blob.parent_path());
    const fs::path partial = blob.string() + ".incomplete";
    std::unique_ptr<std::FILE, decltype(&std::fclose)> out(std::fopen(partial.c_str(), "ab"), std::fclose);
    if (!out) throw Error(partial.string() + ": cannot write the download");
    int64_t start = static_cast<int64_t>(fs::file_size(partial));
    const int64_t first_offset = start;
    for (int attempt = 1;; ++attempt) {
      if (m.size >= 0 && start == m.size) break;  // a previous run got every byte
      if (m.size >= 0 && start > m.size) {       // not this file's bytes: start over
        if (::ftruncate(::fileno(out.get()), 0) != 0) throw Error(partial.string() + ": cannot truncate");
        start = 0;
      }
      ProgressBar bar(options_.progress_bar, filename, start);
      try {
        const HttpReply reply = http_.download(m.download_url, out.get(), start,
                                               [&bar](int64_t received, int64_t total) { bar.update(received, total); });
        if (reply.status == 416 && m.size >= 0 && start == m.size) break;
        if (reply.status >= 300) throw_for_status(reply, id_, "'" + filename + "'", m.download_url);
        break;
      } catch (const NetworkError& e) {
        start = static_cast<int64_t>(fs::file_size(partial));
        if (attempt >= options_.max_attempts)
          throw Error("download of '" + filename + "' of model '" + id_.repo + "' failed " + std::to_string(attempt) +
                      " times, last: " + e.what() + " (" + std::to_string(start) +
                      " bytes kept; run again to resume, or set HF_HUB_OFFLINE=1 to use only the cache)");
        if (options_.log) *options_.log << "  " << filename << ": " << e.what() << "; resuming at byte " << start << "\n";
        std::this_thread::sleep_for(std::chrono::milliseconds(100 << std::min(attempt, 5)));
      }
    }
    out.reset();
    const int64_t size = static_cast<int64_t>(fs::file_size(partial));
    if (m.size >= 0 && size != m.size)
      throw Error("download of '" + filename + "' has " + std::to_string(size) + " bytes, the hub announced " +
                  std::to_string(m.size) + " (kept to resume: " + partial.string() + ")");
    std::string actual, kind;
    if (is_hex(m.etag, 64)) {
      actual = sha256_of_file(partial);
      kind = "sha256";
    } else if (is_hex(m.etag, 40)) {
      actual = git_blob_sha1_of_file(partial);
      kind = "git sha1";
    }
    if (!kind.empty() && actual != m.etag) {
      fs::remove(partial);
      throw Error("download of '" + filename + "' of model '" + id_.repo + "' is corrupt: its " + kind + " is " + actual +
                  ", the hub's ETag says " + m.etag + " (the partial file was removed; run again)");
    }
    fs::rename(partial, blob);
    fs::permissions(blob, fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read | fs::perms::others_read);
    return size - first_offset;
  }

  const ModelId& id_;
  const HubSettings& settings_;
  const PullOptions& options_;
  HubCache cache_;
  HubHttp http_;
};

}  // namespace

PullResult pull_model(const ModelId& id, const HubSettings& settings, const PullOptions& options) {
  if (settings.offline)
    throw Error("cannot download model '" + id.repo + "': HF_HUB_OFFLINE is set (unset it, or fill the cache at " +
                settings.cache.string() + " on a machine that reaches the hub)");
  return Puller(id, settings, options).run();
}

fs::path resolve_model_folder(const std::string& spec, const HubSettings& settings, const PullOptions& options) {
  const auto id = parse_model_id(spec);
  // A directory, or what can only be a path: the loader names what is missing.
  if (fs::is_directory(spec) || !id) return spec;
  const HubCache cache(settings.cache, *id);
  if (const auto snapshot = cache.complete_snapshot()) return *snapshot;
  if (settings.offline)
    throw Error(spec + ": no such folder, and model '" + id->repo + "' at revision '" + id->revision +
                "' is not in the hub cache at " + settings.cache.string() + " (HF_HUB_OFFLINE is set)");
  try {
    return pull_model(*id, settings, options).snapshot;
  } catch (const Error& e) {
    throw Error("'" + spec + "' is no folder here; as a hub model id: " + e.what());
  }
}

}  // namespace snapformer::hub
