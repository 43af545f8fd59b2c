// balancing/lb_static_rr.cpp — `balance static-rr` and the map-based table
// that source/uri hash into.
//
// The table has sum(weight/gcd) slots. Slot by slot, every server adds its
// (reduced) weight to a score; the server with the largest
// (score + tot) / tot wins (ties: first declared) and loses tot. Workers
// walk the table with BackendLive::cursor; the writer keeps the walk's
// position across rebuilds, as HAProxy keeps its index into the map.
#include <numeric>

#include "balancing/lb.h"

namespace herd::balancing {

std::vector<uint32_t> build_map_table(const std::vector<const Server*>& servers) {
  int64_t g = 0;
  for (const Server* s : servers) g = std::gcd(g, static_cast<int64_t>(s->weight));
  std::vector<uint32_t> table;
  if (g == 0) return table;
  std::vector<int64_t> w, score(servers.size(), 0);
  int64_t tot = 0;
  for (const Server* s : servers) {
    w.push_back(s->weight / g);
    tot += s->weight / g;
  }
  table.reserve(static_cast<size_t>(tot));
  for (int64_t slot = 0; slot < tot; ++slot) {
    size_t best = 0;
    int64_t best_val = INT64_MIN;
    for (size_t i = 0; i < servers.size(); ++i) {
      if (w[i] == 0) continue;
      score[i] += w[i];
      const int64_t v = (score[i] + tot) / tot;
      if (v > best_val) {
        best_val = v;
        best = i;
      }
    }
    score[best] -= tot;
    table.push_back(static_cast<uint32_t>(best));
  }
  return table;
}

namespace {
struct StaticRRState final : LbState {
  uint64_t base = 0;    // cursor at the last build
  uint64_t start = 0;   // table index at `base`
  uint64_t length = 0;  // table length of the last build
};
}  // namespace

std::unique_ptr<LbState> make_static_rr_state() { return std::make_unique<StaticRRState>(); }

std::unique_ptr<const LbIndex> build_static_rr(const BackendSnapshot& be, LbState& state,
                                               uint64_t cursor_now) {
  auto* st = dynamic_cast<StaticRRState*>(&state);
  auto idx = std::make_unique<CursorTableIndex>();
  idx->servers = lb_candidates(be).servers;
  idx->seq = build_map_table(idx->servers);
  uint64_t at = 0;
  if (st && st->length > 0) at = (st->start + (cursor_now - st->base)) % st->length;
  if (at >= idx->seq.size()) at = 0;
  idx->offset = at;
  if (st) {
    st->base = cursor_now;
    st->start = at;
    st->length = idx->seq.size();
  }
  return idx;
}

}  // namespace herd::balancing
