#include "hub/hub_http.h"

#include <curl/curl.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <mutex>

namespace snapformer::hub {
namespace {

constexpr std::size_t kMaxBodyBytes = 16 << 20;

void global_init_once() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

// Keeps the headers of the last response only: a redirect's headers are
// replaced by those of the response it leads to.
std::size_t on_header(char* data, std::size_t size, std::size_t count, void* user) {
  auto* reply = static_cast<HttpReply*>(user);
  const std::string line(data, size * count);
  if (line.rfind("HTTP/", 0) == 0) {
    reply->headers.clear();
    return size * count;
  }
  const auto colon = line.find(':');
  if (colon == std::string::npos) return size * count;
  std::string name = line.substr(0, colon);
  std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return std::tolower(c); });
  std::string value = line.substr(colon + 1);
  const auto first = value.find_first_not_of(" \t");
  const auto last = value.find_last_not_of(" \t\r\n");
  value = first == std::string::npos ? "" : value.substr(first, last - first + 1);
  reply->headers[name] = value;
  return size * count;
}

std::size_t on_body_to_string(char* data, std::size_t size, std::size_t count, void* user) {
  auto* body = static_cast<std::string*>(user);
  const std::size_t n = size * count;
  if (body->size() + n > kMaxBodyBytes) return 0;  // aborts the transfer
  body->append(data, n);
  return n;
}

struct FileSink {
  std::FILE* file;
  int64_t offset;           // bytes already in the file, asked for with a Range
  bool started = false;
  std::string* error_body;  // error bodies are kept here, not written to the file
  void* curl;
};

std::size_t on_body_to_file(char* data, std::size_t size, std::size_t count, void* user) {
  auto* sink = static_cast<FileSink*>(user);
  const std::size_t n = size * count;
  long status = 0;
  curl_easy_getinfo(static_cast<CURL*>(sink->curl), CURLINFO_RESPONSE_CODE, &status);
  if (status >= 300) {
    if (sink->error_body->size() < 65536) sink->error_body->append(data, std::min<std::size_t>(n, 65536));
    return n;
  }
  if (!sink->started) {
    sink->started = true;
    // A 200 to a Range request is the whole file again: start the file over.
    if (status == 200 && sink->offset > 0) {
      if (std::fflush(sink->file) != 0 || ::ftruncate(::fileno(sink->file), 0) != 0) return 0;
      std::rewind(sink->file);
    }
  }
  return std::fwrite(data, 1, n, sink->file);
}

int on_progress(void* user, curl_off_t total, curl_off_t received, curl_off_t, curl_off_t) {
  const auto& callback = *static_cast<const ProgressCallback*>(user);
  if (callback) callback(static_cast<int64_t>(received), static_cast<int64_t>(total));
  return 0;
}

}  // namespace

HubHttp::HubHttp(std::string endpoint, std::string token) : endpoint_(std::move(endpoint)), token_(std::move(token)) {
  global_init_once();
  curl_ = curl_easy_init();
  if (!curl_) throw Error("libcurl: cannot create a transfer handle");
}

HubHttp::~HubHttp() { curl_easy_cleanup(static_cast<CURL*>(curl_)); }

void HubHttp::prepare(const std::string& url, HttpReply& reply) {
  CURL* curl = static_cast<CURL*>(curl_);
  curl_easy_reset(curl);
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_USERAGENT, "snapformer/0.1.0");
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, 10L);
  // A connection that moves less than 1 byte/s for 30 s is broken.
  curl_easy_setopt(curl, CURLOPT_LOW_SPEED_LIMIT, 1L);
  curl_easy_setopt(curl, CURLOPT_LOW_SPEED_TIME, 30L);
  curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(curl, CURLOPT_HEADERDATA, &reply);
  curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(curl, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
}

void HubHttp::perform(const std::string& url) {
  CURL* curl = static_cast<CURL*>(curl_);
  curl_slist* headers = nullptr;
  headers = curl_slist_append(headers, "Accept-Encoding: identity");
  if (!token_.empty() && url.rfind(endpoint_ + "/", 0) == 0) headers = curl_slist_append(headers, ("Authorization: Bearer " + token_).c_str());
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  const CURLcode code = curl_easy_perform(curl);
  curl_slist_free_all(headers);
  if (code != CURLE_OK) throw NetworkError(url + ": " + curl_easy_strerror(code));
}

HttpReply HubHttp::request(const std::string& method, const std::string& url) {
  HttpReply reply;
  CURL* curl = static_cast<CURL*>(curl_);
  prepare(url, reply);
  if (method == "HEAD") {
    curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);
  } else {
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body_to_string);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &reply.body);
  }
  perform(url);
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &reply.status);
  return reply;
}

HttpReply HubHttp::download(const std::string& url, std::FILE* out, int64_t offset, const ProgressCallback& progress) {
  HttpReply reply;
  CURL* curl = static_cast<CURL*>(curl_);
  prepare(url, reply);
  FileSink sink{out, offset, false, &reply.body, curl};
  curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 1L);
  curl_easy_setopt(curl, CURLOPT_MAXREDIRS, 10L);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body_to_file);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &sink);
  curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, on_progress);
  curl_easy_setopt(curl, CURLOPT_XFERINFODATA, &progress);
  const std::string range = std::to_string(offset) + "-";
  if (offset > 0) curl_easy_setopt(curl, CURLOPT_RANGE, range.c_str());
  try {
    perform(url);
  } catch (const NetworkError&) {
    std::fflush(out);
    throw;
  }
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &reply.status);
  std::fflush(out);
  return reply;
}

}  // namespace snapformer::hub
