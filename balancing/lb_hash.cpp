// balancing/lb_hash.cpp — `balance source` and `balance uri` (HAProxy's
// default `hash-type map-based`).
//
// The key (client IPv4, or the sdbm hash of the path before '?') modulo the
// table length selects a slot of the static-rr table (lb_static_rr.cpp).
// A saturated server makes the pick fail (the caller queues) so the
// affinity holds; a server to avoid (redispatch) moves to the next slot.
#include "balancing/lb.h"

namespace herd::balancing {

uint32_t lb_sdbm(std::string_view s) {
  uint32_t h = 0;
  for (unsigned char c : s) h = c + (h << 6) + (h << 16) - h;
  return h;
}

namespace {
class HashIndex final : public LbIndex {
 public:
  std::vector<const Server*> servers;
  std::vector<uint32_t> table;
  bool by_uri = false;

  const Server* pick(const BackendSnapshot& be, const PickContext& ctx) const override {
    if (table.empty()) return nullptr;
    uint32_t key = ctx.client_ipv4;
    if (by_uri) {
      std::string_view path = ctx.uri_path;
      if (auto q = path.find('?'); q != std::string_view::npos) path = path.substr(0, q);
      key = lb_sdbm(path);
    }
    size_t slot = key % table.size();
    const Server* s = servers[table[slot]];
    if (s == ctx.avoid && servers.size() > 1) {
      for (size_t j = 1; j < table.size() && s == ctx.avoid; ++j)
        s = servers[table[(slot + j) % table.size()]];
    }
    if (!s->has_free_slot()) return nullptr;
    return lb_account(be, s);
  }
};
}  // namespace

std::unique_ptr<const LbIndex> build_hash(const BackendSnapshot& be, bool by_uri) {
  auto idx = std::make_unique<HashIndex>();
  idx->servers = lb_candidates(be).servers;
  idx->table = build_map_table(idx->servers);
  idx->by_uri = by_uri;
  return idx;
}

}  // namespace herd::balancing
