// A small Hugging Face hub on a loopback port, for the hub tests: the model
// info API, resolve URLs (HEAD and GET) with the hub's headers, LFS files
// redirected to a CDN route that honours Range, gated repos, and injected
// failures (a connection broken mid-file, corrupt bytes). It records every
// request so tests can assert what the client asked for.
#pragma once

#include <httplib.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "hub/file_digest.h"

namespace snapformer::testing {

struct HubRepo {
  std::string commit;                               // 40 hex digits
  std::map<std::string, std::string> refs;          // branch or tag -> commit ("main" added)
  std::map<std::string, std::string> files;         // path in the repo -> bytes
  std::string required_token;                       // non-empty: a gated repo
};

class HubServer {
 public:
  HubServer() {
    server_.Get(R"(/api/models/(.+)/revision/([^/]+))", [this](const httplib::Request& q, httplib::Response& r) {
      note(q);
      const HubRepo* repo = find(q, r, q.matches[1]);
      if (!repo) return;
      const std::string commit = resolve(*repo, q.matches[2]);
      if (commit.empty()) return error(r, 404, "RevisionNotFound", "Invalid rev id: " + std::string(q.matches[2]));
      nlohmann::json siblings = nlohmann::json::array();
      for (const auto& [name, bytes] : repo->files) siblings.push_back({{"rfilename", name}});
      r.set_content(nlohmann::json{{"id", std::string(q.matches[1])}, {"sha", commit}, {"siblings", siblings}}.dump(),
                    "application/json");
    });
    server_.Get(R"((.+?)/resolve/([^/]+)/(.+))", [this](const httplib::Request& q, httplib::Response& r) {
      note(q);
      const HubRepo* repo = find(q, r, std::string(q.matches[1]).substr(1));
      if (!repo) return;
      const std::string commit = resolve(*repo, q.matches[2]);
      if (commit.empty()) return error(r, 404, "RevisionNotFound", "Invalid rev id");
      const auto file = repo->files.find(q.matches[3]);
      if (file == repo->files.end()) return error(r, 404, "EntryNotFound", "Entry not found");
      r.set_header("X-Repo-Commit", commit);
      if (is_lfs(file->first)) {
        const std::string sha = digest(file->second, true);
        {
          std::lock_guard<std::mutex> lock(mutex_);
          cdn_[sha] = file->second;
        }
        r.status = 302;
        // Another host name for the same server, as the hub's CDN is another host.
        r.set_header("Location", "http://localhost:" + std::to_string(port_) + "/cdn/" + sha);
        r.set_header("X-Linked-Etag", "\"" + sha + "\"");
        r.set_header("X-Linked-Size", std::to_string(file->second.size()));
        r.set_header("ETag", "\"" + digest(file->second, false) + "\"");  // the pointer file's, as the hub does
        return;
      }
      r.set_header("ETag", "\"" + digest(file->second, false) + "\"");
      r.set_content(file->second, "application/octet-stream");
    });
    server_.Get(R"(/cdn/([0-9a-f]+))", [this](const httplib::Request& q, httplib::Response& r) {
      note(q);
      std::string bytes;
      {
        std::lock_guard<std::mutex> lock(mutex_);
        const auto it = cdn_.find(q.matches[1]);
        if (it == cdn_.end()) return error(r, 404, "", "no such object");
        bytes = it->second;
      }
      if (q.has_header("Authorization")) authorization_leaked = true;
      if (corrupt_next.exchange(false)) bytes[bytes.size() / 2] ^= 0x55;
      const int64_t break_at = break_after_bytes.exchange(-1);
      r.set_content_provider(bytes.size(), "application/octet-stream",
                             [bytes, break_at](std::size_t offset, std::size_t length, httplib::DataSink& sink) {
                               std::size_t end = offset + length;
                               if (break_at >= 0 && static_cast<std::size_t>(break_at) < end) end = static_cast<std::size_t>(break_at);
                               if (end > offset) sink.write(bytes.data() + offset, end - offset);
                               return end == offset + length;  // false closes the connection mid-body
                             });
    });
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    while (!server_.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  ~HubServer() {
    server_.stop();
    thread_.join();
  }

  void add_repo(const std::string& id, HubRepo repo) {
    repo.refs.emplace("main", repo.commit);
    std::lock_guard<std::mutex> lock(mutex_);
    repos_[id] = std::move(repo);
  }
  std::string endpoint() const { return "http://127.0.0.1:" + std::to_string(port_); }

  // Requests so far, as "METHOD PATH [Range: ...]".
  std::vector<std::string> requests() {
    std::lock_guard<std::mutex> lock(mutex_);
    return requests_;
  }
  int count(const std::string& prefix) {
    int n = 0;
    for (const std::string& r : requests()) n += r.rfind(prefix, 0) == 0;
    return n;
  }

  std::atomic<int64_t> break_after_bytes{-1};  // the next CDN GET stops after this byte offset, once
  std::atomic<bool> corrupt_next{false};       // the next CDN GET flips one byte
  std::atomic<bool> authorization_leaked{false};

  // The hub stores *.safetensors in LFS.
  static bool is_lfs(const std::string& name) { return name.size() > 12 && name.substr(name.size() - 12) == ".safetensors"; }
  // sha256 (LFS) or git blob sha1 of bytes.
  static std::string digest(const std::string& bytes, bool sha256) {
    static std::atomic<int> counter{0};
    const auto path = std::filesystem::temp_directory_path() /
                      ("snapformer-hub-digest-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
    std::ofstream(path, std::ios::binary) << bytes;
    const std::string hex = sha256 ? hub::sha256_of_file(path) : hub::git_blob_sha1_of_file(path);
    std::filesystem::remove(path);
    return hex;
  }

 private:
  void note(const httplib::Request& q) {
    std::string line = q.method + " " + q.path;
    if (q.has_header("Range")) line += " Range: " + q.get_header_value("Range");
    std::lock_guard<std::mutex> lock(mutex_);
    requests_.push_back(line);
  }
  static void error(httplib::Response& r, int status, const std::string& code, const std::string& message) {
    r.status = status;
    if (!code.empty()) r.set_header("X-Error-Code", code);
    r.set_header("X-Error-Message", message);
    r.set_content(nlohmann::json{{"error", message}}.dump(), "application/json");
  }
  // The repo, or an error answered the way the hub answers it.
  const HubRepo* find(const httplib::Request& q, httplib::Response& r, const std::string& id) {
    std::lock_guard<std::mutex> lock(mutex_);
    const auto it = repos_.find(id);
    if (it == repos_.end()) {
      error(r, 401, "RepoNotFound", "Repository Not Found for url: " + q.path + ".");
      return nullptr;
    }
    const std::string& token = it->second.required_token;
    if (!token.empty() && q.get_header_value("Authorization") != "Bearer " + token) {
      if (q.has_header("Authorization")) error(r, 403, "GatedRepo", "Access to model " + id + " is restricted and you are not in the authorized list.");
      else error(r, 401, "GatedRepo", "Access to model " + id + " is restricted. You must be authenticated to access it.");
      return nullptr;
    }
    return &it->second;
  }
  static std::string resolve(const HubRepo& repo, const std::string& revision) {
    if (revision == repo.commit) return repo.commit;
    for (const auto& [ref, commit] : repo.refs)
      if (ref == revision || commit == revision) return commit;
    return "";
  }

  httplib::Server server_;
  std::thread thread_;
  int port_ = 0;
  std::mutex mutex_;
  std::map<std::string, HubRepo> repos_;
  std::map<std::string, std::string> cdn_;
  std::vector<std::string> requests_;
};

}  // namespace snapformer::testing
