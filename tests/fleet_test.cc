// A fleet on loopback: N `snapformer serve` replicas behind one shared Redis
// Cluster (real processes). An answer computed on one replica is a cache hit
// on the others; a replica or a Redis master killed mid-load loses no request
// (the client, as a load balancer would, retries another replica); and each
// replica's Prometheus counters add up to what the clients saw.
#include <httplib.h>

#include <atomic>
#include <fstream>
#include <mutex>
#include <thread>

#include "process_util.h"
#include "tasks/pipeline.h"
#include "test_util.h"

namespace snapformer {
namespace {

using testing::repo_model;

// The texts of the lang-id demo test set's first lines.
std::vector<std::string> demo_texts() {
  std::vector<std::string> texts;
  std::ifstream in(testing::data_path("demo/lang-id-test-head120.jsonl"));
  for (std::string line; std::getline(in, line);) texts.push_back(Json::parse(line)["text"].get<std::string>());
  return texts;
}

// What a client of the fleet does: each request goes to the next replica in
// turn; when a replica does not answer (refused, reset mid-request), the
// request goes to the next one. Inference is idempotent, so a retry is safe.
class FleetClient {
 public:
  struct Answer {
    int replica = -1;  // which one answered; -1: none did
    int status = 0;
    std::string body, cache;
  };
  explicit FleetClient(std::vector<int> ports) : ports_(std::move(ports)) {}

  Answer post(const std::string& path, const std::string& body) {
    for (std::size_t attempt = 0; attempt < 2 * ports_.size(); ++attempt) {
      const int replica = static_cast<int>(next_++ % ports_.size());
      auto r = post_to(replica, path, body);
      if (r) return {replica, r->status, r->body, r->get_header_value("x-cache")};
      retries_++;
    }
    return {};
  }
  httplib::Result post_to(int replica, const std::string& path, const std::string& body) {
    httplib::Client client("127.0.0.1", ports_[static_cast<std::size_t>(replica)]);
    client.set_connection_timeout(1, 0);
    client.set_read_timeout(30, 0);
    return client.Post(path.c_str(), body, "application/json");
  }
  int retries() const { return retries_; }

 private:
  std::vector<int> ports_;
  std::atomic<std::size_t> next_{0};
  std::atomic<int> retries_{0};
};

// A counter's value in a Prometheus text exposition (0 when absent).
double metric(const std::string& exposition, const std::string& series) {
  const auto at = exposition.find("\n" + series + " ");
  return at == std::string::npos ? 0.0 : std::stod(exposition.substr(at + series.size() + 2));
}

std::string metrics_of(const testing::ServeProcess& replica) {
  auto r = replica.client().Get("/metrics");
  return r && r->status == 200 ? r->body : "";
}

std::string top_label(const std::string& body) {
  const Json scores = Json::parse(body)[0];
  return scores[0]["label"].get<std::string>();  // sorted by score
}

class Fleet : public ::testing::Test {
 protected:
  void SetUp() override {
    cluster_ = std::make_unique<testing::RedisCluster>(3);
    ASSERT_TRUE(cluster_->ready());
    for (int i = 0; i < kReplicas; ++i)
      replicas_.push_back(std::make_unique<testing::ServeProcess>(std::vector<std::string>{
          "--model", "lang-id-bert=" + repo_model("lang-id-bert"), "--redis-cluster", cluster_->seeds()}));
    std::vector<int> ports;
    for (const auto& r : replicas_) {
      ports.push_back(r->port());
      ASSERT_TRUE(r->client().Get("/health")) << "a replica did not start";
    }
    client_ = std::make_unique<FleetClient>(ports);
  }

  static constexpr int kReplicas = 3;
  std::unique_ptr<testing::RedisCluster> cluster_;
  std::vector<std::unique_ptr<testing::ServeProcess>> replicas_;
  std::unique_ptr<FleetClient> client_;
};

TEST_F(Fleet, AnAnswerComputedOnOneReplicaIsAHitOnTheOthers) {
  const std::string body = R"({"inputs": "Dit is een zin in het Nederlands"})";
  const auto first = client_->post_to(0, "/models/lang-id-bert", body);
  ASSERT_TRUE(first);
  EXPECT_EQ(first->get_header_value("x-cache"), "miss");
  ASSERT_TRUE(testing::eventually([&] {
    int keys = 0;
    for (int i = 0; i < cluster_->size(); ++i)
      keys += std::atoi(cluster_->node(i).cli("DBSIZE").c_str());
    return keys == 1;
  }));
  for (int replica : {1, 2}) {
    const auto r = client_->post_to(replica, "/models/lang-id-bert", body);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->get_header_value("x-cache"), "hit") << replica;
    EXPECT_EQ(r->get_header_value("x-cache-tier"), "redis") << replica;
    EXPECT_EQ(r->body, first->body) << replica;
  }
  // The fleet's counters add up: 3 requests, 1 miss, 2 Redis hits.
  double requests = 0, misses = 0, redis_hits = 0;
  for (const auto& replica : replicas_) {
    const std::string m = metrics_of(*replica);
    requests += metric(m, R"(snapformer_requests_total{route="hf_inference",status="200"})");
    misses += metric(m, "snapformer_cache_misses_total");
    redis_hits += metric(m, R"(snapformer_cache_hits_total{tier="redis"})");
  }
  EXPECT_EQ(requests, 3);
  EXPECT_EQ(misses, 1);
  EXPECT_EQ(redis_hits, 2);
}

TEST_F(Fleet, KillingAReplicaAndARedisMasterMidLoadLosesNoRequest) {
  const std::vector<std::string> texts = demo_texts();
  ASSERT_GE(texts.size(), 100u);
  const auto pipeline = Pipeline::load(repo_model("lang-id-bert"));
  std::vector<std::string> expected;
  for (const std::string& text : texts) {
    const ClassifyResult r = pipeline->classify({TaskInput{.text = text}})[0];
    expected.push_back(r.label);
  }

  // 4 clients x 60 requests (each text twice, so later ones can be cache hits).
  constexpr int kClients = 4, kPerClient = 60;
  std::vector<FleetClient::Answer> answers(kClients * kPerClient);
  std::atomic<int> done{0};
  std::vector<std::thread> clients;
  for (int c = 0; c < kClients; ++c) {
    clients.emplace_back([&, c] {
      for (int i = 0; i < kPerClient; ++i) {
        const std::size_t text = static_cast<std::size_t>((c * kPerClient + i) % 120);
        answers[static_cast<std::size_t>(c * kPerClient + i)] =
            client_->post("/models/lang-id-bert", Json{{"inputs", texts[text % texts.size()]}}.dump());
        done++;
      }
    });
  }
  // A third of the way in a replica dies; two thirds in, a Redis master.
  ASSERT_TRUE(testing::eventually([&] { return done >= kClients * kPerClient / 3; }, 60000));
  replicas_[1]->kill();
  const int after_replica = done;
  ASSERT_TRUE(testing::eventually([&] { return done >= 2 * kClients * kPerClient / 3; }, 60000));
  cluster_->node(2).stop();
  const int after_master = done;
  for (auto& t : clients) t.join();
  EXPECT_LT(after_replica, kClients * kPerClient);  // both failures happened mid-load
  EXPECT_LT(after_master, kClients * kPerClient);

  std::map<int, int> answered_by;
  for (std::size_t i = 0; i < answers.size(); ++i) {
    const auto& a = answers[i];
    ASSERT_EQ(a.status, 200) << "request " << i << " was lost: " << a.body;
    EXPECT_EQ(top_label(a.body), expected[(i % 120) % texts.size()]) << i;
    answered_by[a.replica]++;
  }
  EXPECT_GT(client_->retries(), 0);  // the dead replica was tried and skipped
  // Every surviving replica counted exactly the requests it answered.
  for (int replica : {0, 2}) {
    const std::string m = metrics_of(*replicas_[static_cast<std::size_t>(replica)]);
    EXPECT_EQ(metric(m, R"(snapformer_requests_total{route="hf_inference",status="200"})"), answered_by[replica]) << replica;
    EXPECT_EQ(metric(m, R"(snapformer_cache_hits_total{tier="local"})") + metric(m, R"(snapformer_cache_hits_total{tier="redis"})") +
                  metric(m, "snapformer_cache_misses_total"),
              answered_by[replica])
        << replica;
  }
  EXPECT_EQ(answered_by[0] + answered_by[1] + answered_by[2], kClients * kPerClient);
  EXPECT_GT(answered_by[0], 0);
  EXPECT_GT(answered_by[2], 0);
}

}  // namespace
}  // namespace snapformer
