// balancing/lb_roundrobin.cpp — `balance roundrobin`: HAProxy's fast
// weighted round robin (FWRR), reimplemented from the behavioural model in
// tests/data/haproxy-captures/lb-sequences.txt.
//
// The writer keeps the model (one per server group: active, backup) across
// snapshots. At each rebuild it (1) advances the model by the number of
// picks the workers made since the previous rebuild (BackendLive::cursor),
// (2) applies the change (server gone/unusable: removed; new/back up:
// re-enters the current window; weight change: rescheduled), then (3) plays
// the model forward into a pick sequence: a transient prefix followed by a
// cycle that repeats forever (detected exactly, see precompute()). Workers
// index that sequence with cursor.fetch_add(1) - cursor_base, so sequential
// picks follow the model exactly and concurrent picks share one global order.
#include <algorithm>
#include <map>
#include <set>
#include <tuple>

#include "balancing/lb.h"

namespace herd::balancing {

namespace {

constexpr int64_t kWeightScale = 16;  // effective weight = 16 x weight

// The FWRR model of one server group.
struct FwrrModel {
  enum Where : uint8_t { kNone, kCur, kSetA, kSetB };
  struct Srv {
    std::shared_ptr<ServerLive> identity;
    uint32_t cand = 0;  // index into the candidate list of the current build
    int64_t ew = 0;     // effective weight
    int64_t npos = 0;   // next position, 0 = never scheduled
    int64_t rem = 0;    // remainder of T / ew accumulated
    int64_t lpos = 0;   // position of the last pick
    Where where = kNone;
    int64_t key = 0;
    uint64_t seq = 0;
  };
  using Key = std::tuple<int64_t, uint64_t, uint32_t>;  // key, fifo, index

  std::vector<Srv> srv;
  std::set<Key> cur, set_a, set_b;
  bool init_is_a = true;
  int64_t pos = 0, cw = 0, total = 0;
  uint64_t fifo = 0;
  bool fresh = true;  // nothing picked since the group was (re)initialised

  std::set<Key>& init() { return init_is_a ? set_a : set_b; }
  std::set<Key>& next() { return init_is_a ? set_b : set_a; }
  Where init_where() const { return init_is_a ? kSetA : kSetB; }
  Where next_where() const { return init_is_a ? kSetB : kSetA; }

  std::set<Key>* set_of(Where w) {
    switch (w) {
      case kCur:
        return &cur;
      case kSetA:
        return &set_a;
      case kSetB:
        return &set_b;
      case kNone:
        break;
    }
    return nullptr;
  }
  void dequeue(uint32_t i) {
    Srv& s = srv[i];
    if (auto* set = set_of(s.where)) set->erase(Key{s.key, s.seq, i});
    s.where = kNone;
  }
  void queue_cur(uint32_t i) {
    Srv& s = srv[i];
    s.key = 256 * s.npos + (4096 + s.rem - s.ew) / kWeightScale;
    s.seq = fifo++;
    s.where = kCur;
    cur.insert(Key{s.key, s.seq, i});
  }
  void queue_by_weight(uint32_t i, Where w) {
    Srv& s = srv[i];
    s.key = -s.ew;
    s.seq = fifo++;
    s.where = w;
    set_of(w)->insert(Key{s.key, s.seq, i});
  }
  // Puts a scheduled server back: into the current window, or into the next
  // one when its position lies beyond this window.
  void requeue(uint32_t i) {
    Srv& s = srv[i];
    if (s.npos >= 2 * cw || s.npos >= cw + total) {
      s.npos -= cw;
      queue_by_weight(i, next_where());
    } else {
      queue_cur(i);
    }
  }

  bool at_boundary() const { return cur.empty() && (init_is_a ? set_a : set_b).empty(); }

  // One pick; returns the model index or -1 when the group is empty.
  int64_t pick() {
    for (int attempt = 0; attempt < 2; ++attempt) {
      int64_t chosen = -1;
      if (!cur.empty() && srv[std::get<2>(*cur.begin())].npos <= pos) {
        chosen = std::get<2>(*cur.begin());
      } else if (!init().empty()) {
        chosen = std::get<2>(*init().begin());
        srv[chosen].npos = 0;
        srv[chosen].rem = 0;
      } else if (!cur.empty()) {
        chosen = std::get<2>(*cur.begin());
      }
      if (chosen < 0) {
        if (next().empty()) return -1;
        init_is_a = !init_is_a;  // swap init and next
        cw = total;
        pos = cw;
        continue;
      }
      const auto i = static_cast<uint32_t>(chosen);
      dequeue(i);
      Srv& s = srv[i];
      if (s.npos == 0) s.npos = pos;
      s.npos += total / s.ew;
      s.rem += total % s.ew;
      if (s.rem >= s.ew) {
        s.rem -= s.ew;
        s.npos += 1;
      }
      s.lpos = pos;
      pos += 1;
      fresh = false;
      requeue(i);
      return chosen;
    }
    return -1;
  }

  // Makes the group hold exactly `cands` with their current weights.
  void apply(const std::vector<const Server*>& cands) {
    std::map<const ServerLive*, uint32_t> want;
    for (uint32_t c = 0; c < cands.size(); ++c) want[cands[c]->live.get()] = c;
    // Removals (server down, drained, in maintenance, deleted).
    for (uint32_t i = 0; i < srv.size(); ++i) {
      if (srv[i].where == kNone) continue;
      if (!want.count(srv[i].identity.get())) {
        total -= srv[i].ew;
        dequeue(i);
      }
    }
    compact();
    if (total <= 0) {
      // Empty group: the next servers start a fresh schedule.
      srv.clear();
      cur.clear();
      set_a.clear();
      set_b.clear();
      total = 0;
      fresh = true;
    }
    std::map<const ServerLive*, uint32_t> have;
    for (uint32_t i = 0; i < srv.size(); ++i) have[srv[i].identity.get()] = i;
    // Weight changes of servers that stay.
    for (uint32_t c = 0; c < cands.size(); ++c) {
      auto it = have.find(cands[c]->live.get());
      if (it == have.end()) continue;
      Srv& s = srv[it->second];
      s.cand = c;
      const int64_t ew = cands[c]->scaled_weight();
      if (ew != s.ew) reweight(it->second, ew);
    }
    // Arrivals, in sid order.
    const bool was_fresh = fresh;
    for (uint32_t c = 0; c < cands.size(); ++c) {
      if (have.count(cands[c]->live.get())) continue;
      Srv s;
      s.identity = cands[c]->live;
      s.cand = c;
      s.ew = cands[c]->scaled_weight();
      srv.push_back(s);
      total += s.ew;
      const auto i = static_cast<uint32_t>(srv.size() - 1);
      if (was_fresh) {
        queue_by_weight(i, init_where());
      } else {
        // Back up: scheduled a fraction of the remaining window ahead, so
        // it gets a turn soon and never catches up on missed turns.
        srv[i].npos = pos + (total + cw - pos) / srv[i].ew;
        srv[i].rem = 0;
        srv[i].lpos = pos;
        requeue(i);
      }
    }
    if (was_fresh) pos = cw = total;
  }

  void reweight(uint32_t i, int64_t ew) {
    Srv& s = srv[i];
    total += ew - s.ew;
    const Where w = s.where;
    dequeue(i);
    s.ew = ew;
    if (w != kCur) {
      queue_by_weight(i, w);
      return;
    }
    // Rescheduled one new step after its last pick, never later than it
    // was due, and not in the past.
    const int64_t step = total / ew;
    int64_t npos = s.lpos + step;
    if (npos > s.npos) npos = s.npos;
    if (npos < pos + 2) npos = pos + step;
    s.npos = npos;
    s.rem = 0;
    requeue(i);
  }

  // Drops removed entries, keeping every queue's order.
  void compact() {
    std::vector<Srv> keep;
    std::vector<std::pair<Where, Key>> order;
    for (auto* set : {&cur, &set_a, &set_b})
      for (const Key& k : *set) order.emplace_back(srv[std::get<2>(k)].where, k);
    cur.clear();
    set_a.clear();
    set_b.clear();
    for (auto& [w, k] : order) {
      keep.push_back(srv[std::get<2>(k)]);
      set_of(w)->insert(
          Key{std::get<0>(k), std::get<1>(k), static_cast<uint32_t>(keep.size() - 1)});
    }
    srv = std::move(keep);
  }

  // The order of the queued servers at a window boundary: with `cur` and
  // `init` empty every server waits in `next`, and positions restart, so
  // this order is the whole state that matters for the future picks.
  std::vector<uint32_t> boundary_key() {
    std::vector<uint32_t> k;
    for (const Key& e : next()) k.push_back(std::get<2>(e));
    return k;
  }
};

struct RoundRobinState final : LbState {
  FwrrModel group[2];  // [0] active servers, [1] backup servers
  int in_use = -1;     // group the published sequence was built from
  uint64_t base = 0;   // cursor value at that build
  uint64_t prefix = 0, cycle = 0;
  FwrrModel cycle_start;  // the model after `prefix` picks
};

// Plays `m` forward into seq: prefix then a cycle (exact when a window
// boundary state repeats, which it does within two windows for fixed weights).
void precompute(const FwrrModel& start, RoundRobinState& st, CursorTableIndex& idx) {
  FwrrModel m = start;
  std::map<std::vector<uint32_t>, size_t> seen;            // boundary state -> index in boundaries
  std::vector<std::pair<uint64_t, FwrrModel>> boundaries;  // (position in seq, model)
  const uint64_t cap = 4 * static_cast<uint64_t>(m.total) + 64;
  idx.seq.clear();
  while (true) {
    if (m.at_boundary()) {
      auto key = m.boundary_key();
      auto it = seen.find(key);
      if (it != seen.end()) {
        st.prefix = boundaries[it->second].first;
        st.cycle = idx.seq.size() - st.prefix;
        st.cycle_start = std::move(boundaries[it->second].second);
        break;
      }
      seen.emplace(std::move(key), boundaries.size());
      boundaries.emplace_back(idx.seq.size(), m);
    }
    if (idx.seq.size() >= cap) {  // no repetition found: wrap (approximate)
      st.prefix = 0;
      st.cycle = idx.seq.size();
      st.cycle_start = start;
      break;
    }
    const int64_t i = m.pick();
    if (i < 0) break;
    idx.seq.push_back(m.srv[static_cast<size_t>(i)].cand);
  }
  idx.prefix = st.prefix;
}

}  // namespace

std::unique_ptr<LbState> make_roundrobin_state() { return std::make_unique<RoundRobinState>(); }

std::unique_ptr<const LbIndex> build_roundrobin(const BackendSnapshot& be, LbState& state,
                                                uint64_t cursor_now) {
  auto* st = dynamic_cast<RoundRobinState*>(&state);
  if (!st) return nullptr;
  // 1. Catch the model up with the picks made on the previous sequence.
  if (st->in_use >= 0 && st->cycle > 0) {
    FwrrModel& m = st->group[st->in_use];
    uint64_t k = cursor_now - st->base;
    if (k >= st->prefix) {
      m = st->cycle_start;
      k = (k - st->prefix) % st->cycle;
    }
    for (uint64_t n = 0; n < k; ++n) m.pick();
  }
  // 2. Apply the change.
  LbCandidates cands = lb_candidates(be);
  const int use = cands.backup ? 1 : 0;
  std::vector<const Server*> active, backup;
  if (cands.backup) {
    backup = cands.servers;
  } else {
    active = cands.servers;
    backup = lb_backup_candidates(be);
  }
  st->group[0].apply(active);
  st->group[1].apply(backup);
  // 3. Play the next cycle.
  auto idx = std::make_unique<CursorTableIndex>();
  idx->servers = cands.servers;
  st->base = cursor_now;
  st->in_use = cands.servers.empty() ? -1 : use;
  st->prefix = st->cycle = 0;
  if (st->in_use >= 0) precompute(st->group[use], *st, *idx);
  if (idx->seq.empty()) st->in_use = -1;
  return idx;
}

}  // namespace herd::balancing
