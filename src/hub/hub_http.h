// HubHttp: the HTTP requests of the hub protocol over libcurl (HEAD of a
// resolve URL, small JSON GETs, resumable file downloads).
//
// Thread-safety: one HubHttp per thread (it owns a curl easy handle, reused
// so that consecutive requests share the connection).
#pragma once

#include <cstdint>
#include <cstdio>
#include <functional>
#include <map>
#include <string>

#include "util/error.h"

namespace snapformer::hub {

// The transfer itself failed (no connection, timeout, connection broken
// mid-body): no HTTP status to report. The message names the URL and curl's reason.
class NetworkError : public Error {
 public:
  using Error::Error;
};

struct HttpReply {
  long status = 0;
  std::map<std::string, std::string> headers;  // of the last response, names lower-cased
  std::string body;                            // GET: the body (bounded); HEAD: empty

  std::string header(const std::string& lower_name) const {
    const auto it = headers.find(lower_name);
    return it == headers.end() ? "" : it->second;
  }
};

// Called during downloads with the bytes of this transfer so far and its
// expected total (0 when unknown).
using ProgressCallback = std::function<void(int64_t received, int64_t total)>;

class HubHttp {
 public:
  // `token`: sent as "Authorization: Bearer TOKEN" with requests for URLs under
  // `endpoint` only: never to a CDN the hub redirects to (curl drops it on
  // redirects to other hosts too).
  HubHttp(std::string endpoint, std::string token);
  ~HubHttp();
  HubHttp(const HubHttp&) = delete;
  HubHttp& operator=(const HubHttp&) = delete;

  // HEAD or GET without following redirects; a GET keeps up to 16 MB of body.
  // Throws NetworkError when no answer came.
  HttpReply request(const std::string& method, const std::string& url);

  // GET `url` (redirects followed) and append the body to `out`, asking for
  // bytes from `offset` on with a Range header when offset > 0. Returns the
  // final reply (status 200, 206, or an error status with its body). Throws
  // NetworkError when the connection fails or breaks mid-body; what arrived
  // before that is already written to `out`.
  HttpReply download(const std::string& url, std::FILE* out, int64_t offset, const ProgressCallback& progress);

 private:
  void prepare(const std::string& url, HttpReply& reply);
  void perform(const std::string& url);

  void* curl_;  // CURL*
  std::string endpoint_;
  std::string token_;
};

}  // namespace snapformer::hub
