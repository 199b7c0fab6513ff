#include "hub/file_digest.h"

#include <openssl/evp.h>

#include <fstream>
#include <memory>

#include "util/error.h"

namespace snapformer::hub {
namespace {

std::string digest_of_file(const std::filesystem::path& path, const EVP_MD* algorithm, const std::string& prefix) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(path.string() + ": cannot open to check its digest");
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> context(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  if (!context || EVP_DigestInit_ex(context.get(), algorithm, nullptr) != 1) throw Error("OpenSSL: cannot start a digest");
  EVP_DigestUpdate(context.get(), prefix.data(), prefix.size());
  std::string buffer(1 << 20, '\0');
  while (in) {
    in.read(buffer.data(), static_cast<std::streamsize>(buffer.size()));
    EVP_DigestUpdate(context.get(), buffer.data(), static_cast<std::size_t>(in.gcount()));
  }
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  EVP_DigestFinal_ex(context.get(), digest, &length);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string hex;
  for (unsigned int i = 0; i < length; ++i) {
    hex.push_back(kHex[digest[i] >> 4]);
    hex.push_back(kHex[digest[i] & 15]);
  }
  return hex;
}

}  // namespace

std::string sha256_of_file(const std::filesystem::path& path) { return digest_of_file(path, EVP_sha256(), ""); }

std::string git_blob_sha1_of_file(const std::filesystem::path& path) {
  const std::string header = "blob " + std::to_string(std::filesystem::file_size(path));
  return digest_of_file(path, EVP_sha1(), std::string(header.c_str(), header.size() + 1));
}

}  // namespace snapformer::hub
