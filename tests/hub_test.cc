// The Hugging Face hub: model ids, the cache layout huggingface_hub uses,
// and downloads against a hub-protocol server on loopback (tests/hub_server.h):
// redirects to a CDN, ETag checks, resume of a broken transfer, gated repos,
// 404s, no network, offline mode, sharded weights, and the CLI end to end.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "cli_util.h"
#include "hub/file_digest.h"
#include "hub/hub_cache.h"
#include "hub/model_source.h"
#include "hub_server.h"
#include "io/safetensors.h"
#include "io/safetensors_writer.h"
#include "process_util.h"
#include "tasks/pipeline.h"
#include "test_util.h"
#include "util/error.h"

namespace snapformer {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using testing::HubRepo;
using testing::HubServer;

constexpr const char* kCommit = "0123456789abcdef0123456789abcdef01234567";
constexpr const char* kOtherCommit = "fedcba9876543210fedcba9876543210fedcba98";

std::string read_bytes(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// The files of a reference model folder, as a hub repo holds them.
HubRepo repo_of_folder(const std::string& folder, const std::string& commit = kCommit) {
  HubRepo repo;
  repo.commit = commit;
  for (const auto& entry : fs::directory_iterator(folder))
    if (entry.is_regular_file() && entry.path().filename() != "golden.json")
      repo.files[entry.path().filename().string()] = read_bytes(entry.path());
  repo.files["README.md"] = "# a model card the runtime does not need\n";
  repo.files["pytorch_model.bin"] = "not needed either";
  return repo;
}

class Hub : public ::testing::Test {
 protected:
  void SetUp() override {
    settings_.cache = testing::scratch_directory("hub") / "hub";
    settings_.endpoint = hub_.endpoint();
  }
  hub::PullResult pull(const std::string& id, hub::HubSettings settings) {
    return hub::pull_model(*hub::parse_model_id(id), settings);
  }
  hub::PullResult pull(const std::string& id) { return pull(id, settings_); }

  HubServer hub_;
  hub::HubSettings settings_;
};

TEST(HubModelId, ParsesIdsAndRevisionsAndRejectsPaths) {
  const auto id = hub::parse_model_id("google-bert/bert-base-uncased@v1.0");
  ASSERT_TRUE(id);
  EXPECT_EQ(id->repo, "google-bert/bert-base-uncased");
  EXPECT_EQ(id->revision, "v1.0");
  EXPECT_EQ(id->cache_folder_name(), "models--google-bert--bert-base-uncased");
  EXPECT_EQ(id->short_name(), "bert-base-uncased");
  EXPECT_FALSE(id->revision_is_commit());
  EXPECT_EQ(hub::parse_model_id("gpt2")->revision, "main");
  EXPECT_EQ(hub::parse_model_id("gpt2")->cache_folder_name(), "models--gpt2");
  EXPECT_TRUE(hub::parse_model_id(std::string("a/b@") + kCommit)->revision_is_commit());
  for (const char* bad : {"", "/abs/path", "a/b/c", "../x", "a/..", "a//b", "a/b@", "a/b@../../etc", "a b", "-a/b", "a/b@x y"})
    EXPECT_FALSE(hub::parse_model_id(bad)) << bad;
}

TEST(HubDigest, Sha256AndGitBlobIdsMatchKnownValues) {
  const fs::path file = testing::scratch_directory("digest") / "f";
  std::ofstream(file, std::ios::binary) << "hello\n";
  // `printf 'hello\n' | git hash-object --stdin` and `sha256sum`
  EXPECT_EQ(hub::git_blob_sha1_of_file(file), "ce013625030ba8dba906f756967f9e9ca394464a");
  EXPECT_EQ(hub::sha256_of_file(file), "5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03");
}

TEST(HubSettings, ReadsTheEnvironmentLikeHuggingfaceHub) {
  const fs::path home = testing::scratch_directory("hf-home");
  ::setenv("HF_HOME", home.c_str(), 1);
  ::unsetenv("HF_HUB_CACHE");
  ::unsetenv("HUGGINGFACE_HUB_CACHE");
  ::unsetenv("HF_TOKEN");
  ::unsetenv("HF_TOKEN_PATH");
  ::setenv("HF_ENDPOINT", "http://mirror.example:8080/", 1);
  ::setenv("HF_HUB_OFFLINE", "1", 1);
  std::ofstream(home / "token") << "hf_fromfile\n";
  hub::HubSettings s = hub::HubSettings::from_environment();
  EXPECT_EQ(s.cache, home / "hub");
  EXPECT_EQ(s.endpoint, "http://mirror.example:8080");
  EXPECT_EQ(s.token, "hf_fromfile");
  EXPECT_TRUE(s.offline);
  ::setenv("HF_HUB_CACHE", "/elsewhere/cache", 1);
  ::setenv("HF_TOKEN", "hf_fromenv", 1);
  ::setenv("HF_HUB_OFFLINE", "0", 1);
  s = hub::HubSettings::from_environment();
  EXPECT_EQ(s.cache, fs::path("/elsewhere/cache"));
  EXPECT_EQ(s.token, "hf_fromenv");
  EXPECT_FALSE(s.offline);
}

TEST_F(Hub, PullLaysOutTheCacheAsHuggingfaceHubDoesAndTheModelAnswers) {
  const std::string folder = testing::model_path("tiny-bert-cls");
  hub_.add_repo("test-org/tiny-bert-cls", repo_of_folder(folder));
  const hub::PullResult result = pull("test-org/tiny-bert-cls");

  const fs::path repo = settings_.cache / "models--test-org--tiny-bert-cls";
  EXPECT_EQ(result.commit, kCommit);
  EXPECT_EQ(result.snapshot, repo / "snapshots" / kCommit);
  EXPECT_EQ(read_bytes(repo / "refs" / "main"), kCommit);  // no newline, as Python writes it
  EXPECT_THAT(result.files, ::testing::UnorderedElementsAre("config.json", "model.safetensors", "tokenizer.json",
                                                            "tokenizer_config.json", "vocab.txt"));
  for (const std::string& name : result.files) {
    const fs::path pointer = result.snapshot / name;
    ASSERT_TRUE(fs::is_symlink(pointer)) << name;
    const std::string bytes = read_bytes(fs::path(folder) / name);
    const std::string etag = HubServer::digest(bytes, HubServer::is_lfs(name));
    EXPECT_EQ(fs::read_symlink(pointer), fs::path("../../blobs") / etag) << name;  // relative, like huggingface_hub
    EXPECT_EQ(read_bytes(pointer), bytes) << name;
  }
  EXPECT_FALSE(fs::exists(result.snapshot / "README.md"));
  EXPECT_FALSE(fs::exists(result.snapshot / "pytorch_model.bin"));
  EXPECT_EQ(hub_.count("GET /cdn/"), 1);  // the weights came through the redirect
  EXPECT_FALSE(hub_.authorization_leaked);

  const TaskInput input{.text = "the hub works"};
  const auto from_hub = Pipeline::load(result.snapshot.string())->classify({input});
  const auto from_folder = Pipeline::load(folder)->classify({input});
  EXPECT_EQ(from_hub[0].logits, from_folder[0].logits);

  // Pulled again: nothing is downloaded; resolving needs no network at all.
  const int requests = static_cast<int>(hub_.requests().size());
  EXPECT_EQ(pull("test-org/tiny-bert-cls").bytes_downloaded, 0);
  EXPECT_EQ(hub_.count("GET /cdn/"), 1);
  hub::HubSettings unreachable = settings_;
  unreachable.endpoint = "http://127.0.0.1:" + std::to_string(testing::free_port());
  EXPECT_EQ(hub::resolve_model_folder("test-org/tiny-bert-cls", unreachable), result.snapshot);
  EXPECT_GT(static_cast<int>(hub_.requests().size()), requests);
}

TEST_F(Hub, RevisionsAreBranchesTagsOrCommits) {
  HubRepo repo = repo_of_folder(testing::model_path("tiny-bert-cls"), kOtherCommit);
  repo.refs["v1"] = kOtherCommit;
  hub_.add_repo("org/m", repo);
  EXPECT_EQ(pull("org/m@v1").commit, kOtherCommit);
  EXPECT_EQ(read_bytes(settings_.cache / "models--org--m" / "refs" / "v1"), kOtherCommit);
  // A commit revision needs no ref and resolves offline.
  hub::HubSettings offline = settings_;
  offline.offline = true;
  EXPECT_EQ(hub::resolve_model_folder(std::string("org/m@") + kOtherCommit, offline),
            settings_.cache / "models--org--m" / "snapshots" / kOtherCommit);
  try {
    pull("org/m@nope");
    FAIL() << "pulled a missing revision";
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), HasSubstr("revision 'nope' of model 'org/m' was not found"));
  }
}

TEST_F(Hub, ShardedWeightsBringEveryShard) {
  // tiny-bert-cls split into two shards and an index.
  const std::string folder = testing::model_path("tiny-bert-cls");
  HubRepo repo = repo_of_folder(folder);
  repo.files.erase("model.safetensors");
  const SafetensorsFile weights(folder + "/model.safetensors");
  std::vector<TensorToWrite> shards[2];
  nlohmann::json weight_map = nlohmann::json::object();
  int i = 0;
  for (const auto& [name, info] : weights.header().tensors) {
    const int shard = i++ % 2;
    shards[shard].push_back({name, info.dtype, info.shape, weights.tensor_data(info), info.end - info.begin});
    weight_map[name] = "model-0000" + std::to_string(shard + 1) + "-of-00002.safetensors";
  }
  const fs::path scratch = testing::scratch_directory("shards");
  for (int s = 0; s < 2; ++s) {
    const std::string name = "model-0000" + std::to_string(s + 1) + "-of-00002.safetensors";
    write_safetensors((scratch / name).string(), shards[s], {{"format", "pt"}});
    repo.files[name] = read_bytes(scratch / name);
  }
  repo.files["model.safetensors.index.json"] = nlohmann::json{{"metadata", nlohmann::json::object()}, {"weight_map", weight_map}}.dump();
  hub_.add_repo("org/sharded", repo);

  // An index that names a path outside the snapshot is refused before any download.
  HubRepo evil = repo;
  evil.files["model.safetensors.index.json"] = R"({"weight_map": {"x": "../../../escaped.safetensors"}})";
  evil.files["../../../escaped.safetensors"] = "x";
  hub_.add_repo("org/evil", evil);
  try {
    pull("org/evil");
    FAIL() << "followed a path out of the snapshot";
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), HasSubstr("'../../../escaped.safetensors', which is not a plain file name"));
  }
  EXPECT_EQ(hub_.count("GET /cdn/"), 0);

  const hub::PullResult result = pull("org/sharded");
  EXPECT_EQ(hub_.count("GET /cdn/"), 2);
  EXPECT_TRUE(hub::holds_loadable_model(result.snapshot));
  const TaskInput input{.text = "two shards"};
  EXPECT_EQ(Pipeline::load(result.snapshot.string())->classify({input})[0].logits,
            Pipeline::load(folder)->classify({input})[0].logits);
}

TEST_F(Hub, ABrokenConnectionIsResumedWhereItStopped) {
  HubRepo repo = repo_of_folder(testing::model_path("tiny-bert-cls"));
  const std::size_t size = repo.files["model.safetensors"].size();
  hub_.add_repo("org/m", repo);
  hub_.break_after_bytes = static_cast<int64_t>(size / 2);
  const hub::PullResult result = pull("org/m");
  EXPECT_EQ(read_bytes(result.snapshot / "model.safetensors"), repo.files["model.safetensors"]);
  // The second GET asked only for the rest.
  EXPECT_THAT(hub_.requests(), ::testing::Contains(HasSubstr("Range: bytes=" + std::to_string(size / 2) + "-")));
  EXPECT_EQ(hub_.count("GET /cdn/"), 2);
}

TEST_F(Hub, APartialFileLeftByAnEarlierRunIsResumed) {
  HubRepo repo = repo_of_folder(testing::model_path("tiny-bert-cls"));
  const std::string weights = repo.files["model.safetensors"];
  hub_.add_repo("org/m", repo);
  const fs::path blobs = settings_.cache / "models--org--m" / "blobs";
  fs::create_directories(blobs);
  std::ofstream(blobs / (HubServer::digest(weights, true) + ".incomplete"), std::ios::binary) << weights.substr(0, 1000);
  const hub::PullResult result = pull("org/m");
  EXPECT_EQ(read_bytes(result.snapshot / "model.safetensors"), weights);
  EXPECT_THAT(hub_.requests(), ::testing::Contains(HasSubstr("Range: bytes=1000-")));
  EXPECT_EQ(result.bytes_downloaded, static_cast<int64_t>(weights.size()) - 1000 +
                                         static_cast<int64_t>(repo.files["config.json"].size() + repo.files["tokenizer.json"].size() +
                                                              repo.files["tokenizer_config.json"].size() + repo.files["vocab.txt"].size()));
}

TEST_F(Hub, CorruptBytesAreRejectedByTheEtag) {
  hub_.add_repo("org/m", repo_of_folder(testing::model_path("tiny-bert-cls")));
  hub_.corrupt_next = true;
  try {
    pull("org/m");
    FAIL() << "accepted corrupt weights";
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), HasSubstr("'model.safetensors' of model 'org/m' is corrupt: its sha256 is"));
  }
  EXPECT_FALSE(fs::exists(settings_.cache / "models--org--m" / "snapshots" / kCommit / "model.safetensors"));
  EXPECT_TRUE(pull("org/m").snapshot / "model.safetensors" != "");  // the next try downloads it whole
  EXPECT_TRUE(hub::holds_loadable_model(settings_.cache / "models--org--m" / "snapshots" / kCommit));
}

TEST_F(Hub, GatedPrivateAndMissingReposSayWhatToDo) {
  HubRepo repo = repo_of_folder(testing::model_path("tiny-bert-cls"));
  repo.required_token = "hf_secret";
  hub_.add_repo("org/gated", repo);
  const auto error_of = [this](const std::string& id, const hub::HubSettings& settings) -> std::string {
    try {
      pull(id, settings);
    } catch (const Error& e) {
      return e.what();
    }
    return "no error";
  };
  EXPECT_THAT(error_of("org/gated", settings_), HasSubstr("model 'org/gated' is gated: accept its conditions on the hub, then set HF_TOKEN"));
  EXPECT_THAT(error_of("org/gated", settings_), HasSubstr("HTTP 401"));
  hub::HubSettings wrong = settings_;
  wrong.token = "hf_wrong";
  EXPECT_THAT(error_of("org/gated", wrong), HasSubstr("HTTP 403"));
  EXPECT_THAT(error_of("org/missing", settings_), HasSubstr("model 'org/missing' was not found or is private"));
  hub::HubSettings right = settings_;
  right.token = "hf_secret";
  EXPECT_TRUE(hub::holds_loadable_model(pull("org/gated", right).snapshot));
  EXPECT_FALSE(hub_.authorization_leaked);  // the token stays with the hub, not the CDN

  HubRepo no_weights = repo_of_folder(testing::model_path("tiny-bert-cls"));
  no_weights.files.erase("model.safetensors");
  hub_.add_repo("org/bin-only", no_weights);
  EXPECT_THAT(error_of("org/bin-only", settings_), HasSubstr("has no safetensors weights"));
}

TEST_F(Hub, NoNetworkAndOfflineModeAreClearErrors) {
  hub::HubSettings unreachable = settings_;
  unreachable.endpoint = "http://127.0.0.1:" + std::to_string(testing::free_port());
  try {
    hub::resolve_model_folder("org/m", unreachable);
    FAIL();
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), HasSubstr("cannot reach the hub"));
    EXPECT_THAT(e.what(), HasSubstr("HF_HUB_OFFLINE=1"));
  }
  hub::HubSettings offline = settings_;
  offline.offline = true;
  try {
    hub::resolve_model_folder("org/m", offline);
    FAIL();
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), HasSubstr("is not in the hub cache at " + settings_.cache.string()));
  }
  // Paths that cannot be ids go to the loader as they are, which names them.
  EXPECT_EQ(hub::resolve_model_folder("/no/such/folder", unreachable), fs::path("/no/such/folder"));
  EXPECT_EQ(hub::resolve_model_folder("./relative", unreachable), fs::path("./relative"));
  EXPECT_TRUE(hub_.requests().empty());
}

// A cache as huggingface_hub leaves it (blobs named by ETag, relative links,
// refs/main) is used as it is, without a server.
TEST(HubCache, ACacheFilledByPythonIsUsedAsIs) {
  const fs::path cache = testing::scratch_directory("python-cache");
  const fs::path repo = cache / "models--bert-base-uncased-tiny";
  const std::string folder = testing::model_path("tiny-bert-cls");
  for (const auto& entry : fs::directory_iterator(folder)) {
    const std::string name = entry.path().filename().string();
    if (name == "golden.json") continue;
    const std::string bytes = read_bytes(entry.path());
    const std::string etag = HubServer::digest(bytes, HubServer::is_lfs(name));
    fs::create_directories(repo / "blobs");
    std::ofstream(repo / "blobs" / etag, std::ios::binary) << bytes;
    fs::create_directories(repo / "snapshots" / kCommit);
    fs::create_symlink(fs::path("../../blobs") / etag, repo / "snapshots" / kCommit / name);
  }
  fs::create_directories(repo / "refs");
  std::ofstream(repo / "refs" / "main") << kCommit;
  hub::HubSettings settings;
  settings.cache = cache;
  settings.offline = true;
  const fs::path snapshot = hub::resolve_model_folder("bert-base-uncased-tiny", settings);
  EXPECT_EQ(snapshot, repo / "snapshots" / kCommit);
  EXPECT_EQ(Pipeline::load(snapshot.string())->classify({TaskInput{.text = "x"}})[0].logits,
            Pipeline::load(folder)->classify({TaskInput{.text = "x"}})[0].logits);
  // A snapshot missing its weights is not complete.
  fs::remove(repo / "snapshots" / kCommit / "model.safetensors");
  EXPECT_THROW(hub::resolve_model_folder("bert-base-uncased-tiny", settings), Error);
}

TEST_F(Hub, CommandLineTakesModelIdsAndPullPrintsTheSnapshot) {
  const std::string folder = testing::model_path("tiny-bert-cls");
  hub_.add_repo("test-org/tiny-bert-cls", repo_of_folder(folder));
  ::setenv("HF_HUB_CACHE", settings_.cache.c_str(), 1);
  ::setenv("HF_ENDPOINT", hub_.endpoint().c_str(), 1);
  ::unsetenv("HF_HUB_OFFLINE");
  ::unsetenv("HF_TOKEN");

  const auto pulled = testing::run_cli({"pull", "test-org/tiny-bert-cls"});
  ASSERT_EQ(pulled.exit_code, 0) << pulled.err;
  EXPECT_EQ(pulled.out, (settings_.cache / "models--test-org--tiny-bert-cls" / "snapshots" / kCommit).string() + "\n");
  EXPECT_THAT(pulled.err, HasSubstr("model.safetensors: downloaded"));

  const auto expected = testing::run_cli({"run", "--model", folder, "--task", "classify", "--json", "hello hub"});
  ::setenv("HF_HUB_OFFLINE", "1", 1);  // the pulled snapshot is used without the network
  const auto from_id = testing::run_cli({"run", "--model", "test-org/tiny-bert-cls", "--task", "classify", "--json", "hello hub"});
  ASSERT_EQ(from_id.exit_code, 0) << from_id.err;
  EXPECT_EQ(from_id.out, expected.out);
  const auto missing = testing::run_cli({"run", "--model", "test-org/other", "--task", "classify", "x"});
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_THAT(missing.err, HasSubstr("HF_HUB_OFFLINE is set"));
  ::unsetenv("HF_HUB_OFFLINE");
  const auto traversal = testing::run_cli({"pull", "test-org/tiny-bert-cls", "--revision", "../../escape"});
  EXPECT_EQ(traversal.exit_code, 1);
  EXPECT_THAT(traversal.err, HasSubstr("is not a hub model id"));
  const auto not_found = testing::run_cli({"pull", "test-org/other"});
  EXPECT_EQ(not_found.exit_code, 1);
  EXPECT_THAT(not_found.err, HasSubstr("was not found or is private"));

  // On a terminal (script(1) gives the command a pseudo-terminal) each file
  // gets a progress line.
  hub_.add_repo("test-org/progress", repo_of_folder(folder, kOtherCommit));
  const std::string terminal = testing::shell(
      "script -qec " + testing::shell_quote(testing::shell_quote(SNAPFORMER_BINARY) + " pull test-org/progress") + " /dev/null");
  EXPECT_THAT(terminal, HasSubstr("model.safetensors"));
  EXPECT_THAT(terminal, HasSubstr("[####################] 100%"));
  EXPECT_THAT(terminal, HasSubstr("MB/s"));

  // serve names a hub model by its repo name.
  testing::ServeProcess server({"--model", "test-org/tiny-bert-cls"});
  auto reply = server.client().Post("/models/tiny-bert-cls", R"({"inputs": "hello hub"})", "application/json");
  ASSERT_TRUE(reply);
  EXPECT_EQ(reply->status, 200) << reply->body;
}

}  // namespace
}  // namespace snapformer
