// The caches: the LRU, the value encoding, the tokenization cache, the
// response cache over HTTP, and the Redis tiers against real redis-server
// processes (standalone and a three-master cluster): sharing between server
// processes, Redis going away and coming back, foreign values, MOVED and ASK.
#include <httplib.h>

#include <sstream>
#include <thread>

#include "cache/cached_response.h"
#include "cache/redis_cluster_store.h"
#include "cache/redis_connection.h"
#include "cache/redis_store.h"
#include "loopback_server.h"
#include "process_util.h"
#include "server/http_server.h"
#include "test_util.h"
#include "util/lru_cache.h"

namespace snapformer {
namespace {

using ::testing::HasSubstr;
using Clock = std::chrono::steady_clock;

using testing::repo_model;

std::string numbered(std::string prefix, long long n) { return prefix.append(std::to_string(n)); }

// ---------------------------------------------------------------- LRU

TEST(LruCache, EvictsLeastRecentlyUsedByEntriesAndBytes) {
  // 16 shards: 32 entries = 2 per shard. Keys that land in one shard show the order.
  LruCache<std::string> cache(32, 1 << 20, std::chrono::milliseconds(0), [](const std::string& v) { return v.size(); });
  std::vector<std::string> same_shard;
  for (int i = 0; same_shard.size() < 3; ++i) {
    const std::string key = numbered("k", i);
    if (std::hash<std::string>{}(key) % 16 == 0) same_shard.push_back(key);
  }
  cache.put(same_shard[0], "a");
  cache.put(same_shard[1], "b");
  EXPECT_EQ(cache.get(same_shard[0]), "a");  // now most recent: [1] is the oldest
  cache.put(same_shard[2], "c");
  EXPECT_FALSE(cache.get(same_shard[1]));
  EXPECT_EQ(cache.get(same_shard[0]), "a");
  EXPECT_EQ(cache.get(same_shard[2]), "c");
  EXPECT_EQ(cache.stats().evictions, 1u);

  // Bytes: a shard holds 1 MB / 16; two 40 KB values fit, a third evicts.
  LruCache<std::string> small(1000, 1 << 20, std::chrono::milliseconds(0), [](const std::string& v) { return v.size(); });
  for (const std::string& key : same_shard) small.put(key, std::string(40 << 10, 'x'));
  EXPECT_FALSE(small.get(same_shard[0]));
  EXPECT_TRUE(small.get(same_shard[2]));
  small.put("huge", std::string(2 << 20, 'x'));  // larger than a shard: not kept
  EXPECT_FALSE(small.get("huge"));
}

TEST(LruCache, EntriesExpireAfterTheTtl) {
  Clock::time_point now{};
  LruCache<int> cache(100, 1 << 20, std::chrono::milliseconds(1000), [](int) { return 4; }, [&] { return now; });
  cache.put("a", 1);
  now += std::chrono::milliseconds(999);
  EXPECT_EQ(cache.get("a"), 1);
  now += std::chrono::milliseconds(2);
  EXPECT_FALSE(cache.get("a"));
  EXPECT_EQ(cache.stats().expirations, 1u);
  EXPECT_EQ(cache.stats().entries, 0u);
}

// ---------------------------------------------------------------- value encoding

TEST(CachedResponse, RoundTripsAndRejectsAnythingElse) {
  const CachedResponse response{200, "application/json", R"([{"label":"fr","score":0.99}])"};
  const std::string value = encode_cached_response("key-1", response);
  const auto back = decode_cached_response(value, "key-1");
  ASSERT_TRUE(back);
  EXPECT_EQ(back->status, 200);
  EXPECT_EQ(back->content_type, response.content_type);
  EXPECT_EQ(back->body, response.body);
  EXPECT_FALSE(decode_cached_response(value, "key-2"));  // another key's value (a hash collision)
  for (std::size_t n = 0; n < value.size(); ++n) EXPECT_FALSE(decode_cached_response(value.substr(0, n), "key-1"));
  EXPECT_FALSE(decode_cached_response(value + "x", "key-1"));
  std::string other_version = value;
  other_version[4] = 2;
  EXPECT_FALSE(decode_cached_response(other_version, "key-1"));
  EXPECT_FALSE(decode_cached_response("{\"label\": \"fr\"}", "key-1"));  // a foreign writer's JSON
  EXPECT_EQ(store_key("key-1").size(), std::string("snapformer:v1:").size() + 32);
  EXPECT_NE(store_key("key-1"), store_key("key-2"));
}

TEST(RedisCluster, HashSlotsFollowTheSpecification) {
  EXPECT_EQ(cluster_slot("123456789"), 0x31C3 % 16384);  // the specification's CRC16 check value
  EXPECT_EQ(cluster_slot("foo"), 12182);                  // CLUSTER KEYSLOT foo
  EXPECT_EQ(cluster_slot("{user1000}.following"), cluster_slot("{user1000}.followers"));
  EXPECT_EQ(cluster_slot("{}x"), cluster_slot("{}x"));
  EXPECT_NE(cluster_slot("{}a"), cluster_slot("{}b"));  // an empty tag hashes the whole key
}

TEST(RedisUrl, ParsesEveryPartAndNamesErrors) {
  const RedisEndpoint e = parse_redis_url("redis://app:s3cret@cache.local:6380/2");
  EXPECT_EQ(e.host, "cache.local");
  EXPECT_EQ(e.port, 6380);
  EXPECT_EQ(e.user, "app");
  EXPECT_EQ(e.password, "s3cret");
  EXPECT_EQ(e.db, 2);
  EXPECT_EQ(parse_redis_url("redis://:pw@h").password, "pw");
  EXPECT_EQ(parse_redis_url("redis://h").port, 6379);
  EXPECT_THROW(parse_redis_url("http://h"), Error);
  EXPECT_THROW(parse_redis_url("redis://h:99999"), Error);
  EXPECT_THROW(parse_redis_url("redis://h/x"), Error);
  try {
    parse_redis_url("rediss://h");
    FAIL();
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), HasSubstr("TLS"));
  }
}

// ---------------------------------------------------------------- HTTP

// An in-process server on the embedded models with the given cache options.
class CachedServer : public testing::LoopbackServer {
 public:
  explicit CachedServer(ServerOptions options)
      : LoopbackServer({"lang-id-bert=" + repo_model("lang-id-bert"), "fortune-gpt2=" + repo_model("fortune-gpt2"),
                        testing::model_path("tiny-bert-qa")},
                       options) {}
  httplib::Result post(const std::string& path, const std::string& body) {
    return client().Post(path.c_str(), body, "application/json");
  }
  std::string metrics() { return client().Get("/metrics")->body; }
};

// The value of one sample line of /metrics ("name value"), or -1.
double metric(const std::string& text, const std::string& name) {
  const auto at = text.find("\n" + name + " ");
  if (at == std::string::npos) return -1;
  return std::stod(text.substr(at + name.size() + 2));
}

TEST(ResponseCache, SecondIdenticalRequestIsAHitWithTheSameAnswer) {
  CachedServer s(ServerOptions{});
  const auto first = s.post("/predict", R"({"inputs": "Bonjour tout le monde"})");
  ASSERT_EQ(first->status, 200);
  EXPECT_EQ(first->get_header_value("x-cache"), "miss");
  // Same request, other key order and spacing: the canonical body is the key.
  const auto second = s.post("/predict", "{ \"inputs\" :\"Bonjour tout le monde\" }");
  EXPECT_EQ(second->get_header_value("x-cache"), "hit");
  EXPECT_EQ(second->get_header_value("x-cache-tier"), "local");
  EXPECT_EQ(second->body, first->body);
  EXPECT_EQ(second->get_header_value("x-inference-time"), "0");
  EXPECT_EQ(s.post("/predict", R"({"inputs": "Hallo zusammen"})")->get_header_value("x-cache"), "miss");
  // Errors are not cached.
  EXPECT_EQ(s.post("/predict", R"({"inputs": 5})")->status, 422);
  EXPECT_EQ(s.post("/predict", R"({"inputs": 5})")->get_header_value("x-cache"), "miss");
  const std::string m = s.metrics();
  EXPECT_EQ(metric(m, "snapformer_cache_hits_total{tier=\"local\"}"), 1);
  EXPECT_EQ(metric(m, "snapformer_cache_misses_total"), 4);
}

TEST(ResponseCache, SamplingIsCachedOnlyWithASeed) {
  CachedServer s(ServerOptions{});
  const std::string sampled = R"({"inputs": "Why", "parameters": {"do_sample": true, "max_new_tokens": 5}})";
  EXPECT_EQ(s.post("/generate", sampled)->get_header_value("x-cache"), "miss");
  EXPECT_EQ(s.post("/generate", sampled)->get_header_value("x-cache"), "miss");
  const std::string seeded = R"({"inputs": "Why", "parameters": {"do_sample": true, "seed": 7, "max_new_tokens": 5}})";
  const auto a = s.post("/generate", seeded);
  const auto b = s.post("/generate", seeded);
  EXPECT_EQ(b->get_header_value("x-cache"), "hit");
  EXPECT_EQ(a->body, b->body);
  // OpenAI samples by default (temperature 1): temperature 0 is greedy.
  const std::string sampled_openai = R"({"model": "fortune-gpt2", "prompt": "Why", "max_tokens": 5})";
  s.post("/v1/completions", sampled_openai);
  EXPECT_EQ(s.post("/v1/completions", sampled_openai)->get_header_value("x-cache"), "miss");
  const std::string greedy = R"({"model": "fortune-gpt2", "prompt": "Why", "max_tokens": 5, "temperature": 0})";
  s.post("/v1/completions", greedy);
  EXPECT_EQ(s.post("/v1/completions", greedy)->get_header_value("x-cache"), "hit");
}

TEST(ResponseCache, BoundsAndTtlAndOff) {
  ServerOptions options;
  options.response_cache.max_entries = 16;  // one per shard
  options.response_cache.ttl = std::chrono::seconds(1);
  CachedServer s(options);
  for (int i = 0; i < 64; ++i) s.post("/predict", Json{{"inputs", numbered("text number ", i)}}.dump());
  EXPECT_GT(metric(s.metrics(), "snapformer_cache_evictions_total"), 0);
  EXPECT_LE(metric(s.metrics(), "snapformer_cache_entries"), 16);
  s.post("/predict", R"({"inputs": "expires"})");
  EXPECT_EQ(s.post("/predict", R"({"inputs": "expires"})")->get_header_value("x-cache"), "hit");
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));
  EXPECT_EQ(s.post("/predict", R"({"inputs": "expires"})")->get_header_value("x-cache"), "miss");
  EXPECT_GE(metric(s.metrics(), "snapformer_cache_expirations_total"), 1);

  ServerOptions off;
  off.cache = false;
  off.tokenization_cache_entries = 0;
  CachedServer plain(off);
  const auto r = plain.post("/predict", R"({"inputs": "Bonjour"})");
  EXPECT_EQ(r->status, 200);
  EXPECT_FALSE(r->has_header("x-cache"));
  EXPECT_EQ(metric(plain.metrics(), "snapformer_cache_misses_total"), -1);
}

TEST(TokenizationCache, QaContextIsTokenizedOnceForAllQuestions) {
  CachedServer s(ServerOptions{});
  const std::string context = "The Eiffel tower is in Paris. It was finished in 1889 and is 330 metres tall.";
  std::vector<std::string> answers;
  for (const char* question : {"Where is the tower?", "When was it finished?", "How tall is it?"}) {
    const Json body = {{"inputs", {{"question", question}, {"context", context}}}};
    const auto r = s.post("/models/tiny-bert-qa", body.dump());
    ASSERT_EQ(r->status, 200) << r->body;
    answers.push_back(r->body);
  }
  // Three questions and one context: the context was a hit twice.
  EXPECT_GE(metric(s.metrics(), "snapformer_tokenization_cache_hits_total"), 2);
  // Answers equal those of a server without the cache.
  ServerOptions off;
  off.cache = false;
  off.tokenization_cache_entries = 0;
  CachedServer plain(off);
  const Json body = {{"inputs", {{"question", "How tall is it?"}, {"context", context}}}};
  EXPECT_EQ(plain.post("/models/tiny-bert-qa", body.dump())->body, answers[2]);
}

// ---------------------------------------------------------------- Redis

using testing::eventually;

int count_keys(const testing::RedisServer& redis) {
  const std::string keys = redis.cli("--scan --pattern 'snapformer:v1:*'");
  return static_cast<int>(std::count(keys.begin(), keys.end(), '\n'));
}

TEST(RedisCache, TwoServerProcessesShareAnswers) {
  testing::RedisServer redis;
  const std::vector<std::string> args{"--model", repo_model("lang-id-bert"), "--redis", redis.url()};
  testing::ServeProcess first(args), second(args);
  const std::string body = R"({"inputs": "Buongiorno a tutti"})";
  const auto a = first.client().Post("/predict", body, "application/json");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->get_header_value("x-cache"), "miss");
  ASSERT_TRUE(eventually([&] { return count_keys(redis) == 1; }));
  const auto b = second.client().Post("/predict", body, "application/json");
  EXPECT_EQ(b->get_header_value("x-cache"), "hit");
  EXPECT_EQ(b->get_header_value("x-cache-tier"), "redis");
  EXPECT_EQ(b->body, a->body);
}

TEST(RedisCache, RedisKilledAndRestartedWithoutAFailedRequest) {
  testing::RedisServer redis;
  ServerOptions options;
  options.redis_url = redis.url();
  options.redis_timeout_ms = 50;
  CachedServer s(options);
  ASSERT_EQ(s.post("/predict", R"({"inputs": "before"})")->status, 200);
  ASSERT_TRUE(eventually([&] { return count_keys(redis) == 1; }));
  redis.stop();
  const auto down_since = Clock::now();
  for (int i = 0; i < 20; ++i) {
    const auto r = s.post("/predict", Json{{"inputs", numbered("while down ", i)}}.dump());
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200) << r->body;
  }
  // Twenty answers cost at most a few timeouts, not twenty: the breaker opened.
  EXPECT_LT(Clock::now() - down_since, std::chrono::seconds(5));
  EXPECT_GE(metric(s.metrics(), "snapformer_cache_redis_errors_total"), 1);
  EXPECT_EQ(metric(s.metrics(), "snapformer_cache_redis_available"), 0);
  redis.start();  // same port, empty
  // After the breaker's pause the server reconnects by itself and writes again.
  EXPECT_TRUE(eventually(
      [&] {
        s.post("/predict", Json{{"inputs", numbered("after ", Clock::now().time_since_epoch().count())}}.dump());
        return count_keys(redis) >= 1;
      },
      8000));
  EXPECT_EQ(metric(s.metrics(), "snapformer_cache_redis_available"), 1);
}

TEST(RedisCache, CorruptAndForeignValuesAreIgnoredAndReplaced) {
  testing::RedisServer redis;
  ServerOptions options;
  options.redis_url = redis.url();
  const std::string body = R"({"inputs": "Hola a todos"})";
  std::string expected;
  {
    CachedServer writer(options);
    expected = writer.post("/predict", body)->body;
    writer.server().response_cache()->flush();
  }
  const std::string key = redis.cli("--scan --pattern 'snapformer:v1:*'");
  ASSERT_FALSE(key.empty());
  const std::string name = key.substr(0, key.find('\n'));
  for (const std::string& garbage : {std::string("SFRC\\x01garbage"), std::string("{\"label\":\"xx\"}")}) {
    redis.cli("SET " + name + " '" + garbage + "'");
    CachedServer reader(options);  // empty local tier: goes to Redis
    const auto r = reader.post("/predict", body);
    ASSERT_EQ(r->status, 200);
    EXPECT_EQ(r->get_header_value("x-cache"), "miss");
    EXPECT_EQ(r->body, expected);
    EXPECT_GE(metric(reader.metrics(), "snapformer_cache_redis_rejected_values_total"), 1);
    reader.server().response_cache()->flush();
    // The good value was written back over the bad one.
    EXPECT_THAT(redis.cli("GET " + name), HasSubstr("SFRC"));
  }
}

TEST(RedisCache, AclUserAndPasswordAndWrongCredentials) {
  testing::RedisServer redis(false, {"--requirepass", "s3cret"});
  redis.cli("-a s3cret ACL SETUSER app on '>apppw' '~snapformer:*' '+get' '+set'");
  ServerOptions options;
  options.redis_url = "redis://app:apppw@" + redis.address();
  {
    CachedServer s(options);
    ASSERT_EQ(s.post("/predict", R"({"inputs": "Bom dia a todos"})")->status, 200);
    s.server().response_cache()->flush();
    EXPECT_EQ(metric(s.metrics(), "snapformer_cache_redis_writes_total"), 1);
  }
  EXPECT_THAT(redis.cli("-a s3cret --scan --pattern 'snapformer:v1:*'"), HasSubstr("snapformer:v1:"));
  // Wrong password: every request is still answered; the errors are counted.
  options.redis_url = "redis://app:wrong@" + redis.address();
  CachedServer s(options);
  EXPECT_EQ(s.post("/predict", R"({"inputs": "Dobré ráno"})")->status, 200);
  s.server().response_cache()->flush();
  EXPECT_GE(metric(s.metrics(), "snapformer_cache_redis_errors_total"), 1);
}

TEST(RedisCache, SlowRedisDoesNotDelayAnswers) {
  testing::RedisServer redis(false, {"--enable-debug-command", "yes"});
  ServerOptions options;
  options.redis_url = redis.url();
  options.redis_timeout_ms = 50;
  CachedServer s(options);
  ASSERT_EQ(s.post("/predict", R"({"inputs": "warm up"})")->status, 200);
  std::thread sleeper([&] { redis.cli("DEBUG SLEEP 1.5"); });  // Redis answers nothing for 1.5 s
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  for (int i = 0; i < 5; ++i) {
    const auto started = Clock::now();
    const auto r = s.post("/predict", Json{{"inputs", numbered("slow ", i)}}.dump());
    ASSERT_EQ(r->status, 200);
    // One lookup waits at most for its timeout (a reconnect may add another).
    EXPECT_LT(Clock::now() - started, std::chrono::milliseconds(400)) << i;
  }
  sleeper.join();
  EXPECT_GE(metric(s.metrics(), "snapformer_cache_redis_errors_total"), 1);
}

// Three masters on loopback, slots spread by redis-cli --cluster create.
class RedisClusterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    cluster_ = std::make_unique<testing::RedisCluster>(3);
    ASSERT_TRUE(cluster_->ready());
    for (int i = 0; i < 3; ++i) nodes_.push_back(&cluster_->node(i));
  }
  std::string seeds() const { return cluster_->seeds(); }
  std::string id(int node) const {
    std::string text = nodes_[node]->cli("CLUSTER MYID");
    return text.substr(0, text.find('\n'));
  }
  // The node that owns `slot` now (by its own CLUSTER NODES line).
  int owner(std::size_t slot) const {
    for (int i = 0; i < 3; ++i)
      if (slot_range_of(i, slot)) return i;
    return -1;
  }
  bool slot_range_of(int node, std::size_t slot) const {
    const std::string nodes = nodes_[node]->cli("CLUSTER NODES");
    const auto self = nodes.find("myself");
    const auto line_end = nodes.find('\n', self);
    const auto line_start = nodes.rfind('\n', self) + 1;
    std::istringstream fields(nodes.substr(line_start, line_end - line_start));
    std::string field;
    for (int i = 0; i < 8 && fields >> field; ++i) {
    }
    while (fields >> field) {
      if (field.empty() || field[0] == '[') continue;  // [slot->-id]: a migration in progress
      const auto dash = field.find('-');
      const std::size_t first = std::stoul(field.substr(0, dash));
      const std::size_t last = dash == std::string::npos ? first : std::stoul(field.substr(dash + 1));
      if (slot >= first && slot <= last) return true;
    }
    return false;
  }
  std::unique_ptr<testing::RedisCluster> cluster_;
  std::vector<testing::RedisServer*> nodes_;
};

TEST_F(RedisClusterTest, KeysSpreadOverMastersAndFollowMovedAndAsk) {
  RedisClusterStore store(seeds(), std::chrono::milliseconds(500));
  for (int i = 0; i < 60; ++i) store.set(numbered("key", i), numbered("value", i), std::chrono::seconds(0));
  for (int i = 0; i < 60; ++i) EXPECT_EQ(store.get(numbered("key", i)), numbered("value", i));
  int populated = 0;
  for (const auto& n : nodes_) populated += n->cli("DBSIZE").find_first_not_of("0\n") != std::string::npos;
  EXPECT_EQ(populated, 3);  // every master holds some keys

  // Migrate the slot of "key7" to another master, as redis-cli --cluster reshard does.
  const std::string moving = "key7";
  const std::size_t slot = cluster_slot(moving);
  const int from = owner(slot), to = (from + 1) % 3;
  ASSERT_GE(from, 0);
  const std::string s = std::to_string(slot);
  nodes_[to]->cli("CLUSTER SETSLOT " + s + " IMPORTING " + id(from));
  nodes_[from]->cli("CLUSTER SETSLOT " + s + " MIGRATING " + id(to));
  // During the migration a key that is not on the old owner gets ASK: written on the new one.
  std::string fresh;
  for (int i = 0; fresh.empty(); ++i)
    if (cluster_slot(numbered("fresh", i)) == slot) fresh = numbered("fresh", i);
  store.set(fresh, "new", std::chrono::seconds(0));
  EXPECT_EQ(store.get(fresh), "new");
  EXPECT_GE(store.ask_redirections(), 2u);
  EXPECT_EQ(store.get(moving), "value7");  // still on the old owner
  nodes_[from]->cli("MIGRATE 127.0.0.1 " + std::to_string(nodes_[to]->port()) + " \"\" 0 5000 KEYS " + moving);
  for (const auto& n : nodes_) n->cli("CLUSTER SETSLOT " + s + " NODE " + id(to));
  // The store's map still names the old owner: MOVED sends it to the new one.
  EXPECT_EQ(store.moved_redirections(), 0u);
  EXPECT_EQ(store.get(moving), "value7");
  EXPECT_EQ(store.moved_redirections(), 1u);
  EXPECT_EQ(store.get(fresh), "new");
  EXPECT_EQ(owner(slot), to);
}

TEST_F(RedisClusterTest, ServerProcessesShareThroughTheCluster) {
  const std::vector<std::string> args{"--model", repo_model("lang-id-bert"), "--redis-cluster", seeds()};
  testing::ServeProcess first(args), second(args);
  const std::string body = R"({"inputs": "Goedemorgen allemaal"})";
  const auto a = first.client().Post("/predict", body, "application/json");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->get_header_value("x-cache"), "miss");
  ASSERT_TRUE(eventually([&] {
    int keys = 0;
    for (const auto& n : nodes_) keys += count_keys(*n);
    return keys == 1;
  }));
  const auto b = second.client().Post("/predict", body, "application/json");
  EXPECT_EQ(b->get_header_value("x-cache"), "hit");
  EXPECT_EQ(b->get_header_value("x-cache-tier"), "redis");
  EXPECT_EQ(b->body, a->body);
}

}  // namespace
}  // namespace snapformer
