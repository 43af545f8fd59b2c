// Every vector of haproxy-captures/lb-sequences.txt (HAProxy 2.6.12, 20
// sequential requests on a fresh process), replayed through PoolWriter.
#include <gtest/gtest.h>

#include "helpers.h"
#include "test_data.h"

namespace herd::balancing {
namespace {

using namespace testing;
using config::BalanceAlgo;

struct Vector {
  std::string algo;
  std::vector<int> weights;
  std::string expected;
};

std::vector<Vector> load_vectors() {
  std::istringstream in(herd::testing::read_data("haproxy-captures/lb-sequences.txt"));
  std::vector<Vector> out;
  for (std::string line; std::getline(in, line);) {
    if (line.empty() || line[0] == '#') continue;
    auto colon = line.find("requests:");
    if (colon == std::string::npos) continue;
    auto head = split(line.substr(0, colon));
    Vector v;
    v.algo = head.at(0);
    std::string w = head.at(2);
    for (size_t p = 0; p <= w.size();) {
      size_t q = w.find(':', p);
      if (q == std::string::npos) q = w.size();
      v.weights.push_back(std::stoi(w.substr(p, q - p)));
      p = q + 1;
    }
    v.expected = join(split(line.substr(colon + 9)));
    out.push_back(v);
  }
  return out;
}

BalanceAlgo algo_of(const std::string& name) {
  if (name == "roundrobin") return BalanceAlgo::RoundRobin;
  if (name == "static-rr") return BalanceAlgo::StaticRR;
  if (name == "leastconn") return BalanceAlgo::LeastConn;
  ADD_FAILURE() << "unknown algorithm " << name;
  return BalanceAlgo::RoundRobin;
}

TEST(LbVectors, AllCapturedSequences) {
  auto vectors = load_vectors();
  ASSERT_EQ(vectors.size(), 13u);
  for (const auto& v : vectors) {
    auto cfg = make_config(algo_of(v.algo), v.weights);
    Pool pool;
    PoolWriter writer(pool, cfg);
    // Sequential requests: each is picked, runs and finishes.
    std::vector<std::string> got;
    for (int i = 0; i < 20; ++i) {
      const Server* s = pool.current()->find("b")->pick({});
      ASSERT_NE(s, nullptr);
      s->live->inflight.inc();
      got.push_back(s->name);
      s->live->inflight.dec();
    }
    EXPECT_EQ(join(got), v.expected) << v.algo << " " << v.weights.size() << " servers";
  }
}

}  // namespace
}  // namespace herd::balancing
