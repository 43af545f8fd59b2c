// balancing/lb_common.cpp — dispatch to the algorithms and the helpers they
// share (see lb.h).
#include <chrono>

#include "balancing/lb.h"

namespace herd::balancing {

int64_t lb_now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

std::vector<const Server*> lb_backup_candidates(const BackendSnapshot& be) {
  std::vector<const Server*> out;
  for (const auto& s : be.servers) {
    if (!s->backup || !s->usable()) continue;
    out.push_back(s.get());
    if (!be.allbackups) break;
  }
  return out;
}

LbCandidates lb_candidates(const BackendSnapshot& be) {
  LbCandidates c;
  for (const auto& s : be.servers)
    if (!s->backup && s->usable()) c.servers.push_back(s.get());
  if (c.servers.empty()) {
    c.backup = true;
    c.servers = lb_backup_candidates(be);
  }
  return c;
}

const Server* lb_account(const BackendSnapshot& be, const Server* s) {
  const int64_t now = lb_now_ms();
  s->live->counters.add(Counter::LbTotal);
  s->live->last_session_ms.store(now, std::memory_order_relaxed);
  if (be.live) {
    be.live->counters.add(Counter::LbTotal);
    be.live->last_session_ms.store(now, std::memory_order_relaxed);
  }
  return s;
}

const Server* lb_first_free(const std::vector<const Server*>& servers, const Server* avoid) {
  const Server* avoided = nullptr;
  for (const Server* s : servers) {
    if (!s->has_free_slot()) continue;
    if (s == avoid) {
      avoided = s;
      continue;
    }
    return s;
  }
  return avoided;
}

const Server* CursorTableIndex::pick(const BackendSnapshot& be, const PickContext& ctx) const {
  if (seq.empty() || !be.live) return nullptr;
  // Saturated (maxconn) or avoided servers are skipped; their turn is
  // consumed, as HAProxy re-queues a skipped server at its next position.
  const size_t bound = std::min<size_t>(seq.size(), 2 * servers.size() + 8);
  for (size_t i = 0; i < bound; ++i) {
    const uint64_t step = be.live->cursor.fetch_add(1, std::memory_order_relaxed) - be.cursor_base;
    const Server* s = servers[seq[position(step)]];
    if (!s->has_free_slot()) continue;
    if (s == ctx.avoid && servers.size() > 1) continue;
    return lb_account(be, s);
  }
  const Server* s = lb_first_free(servers, ctx.avoid);
  return s ? lb_account(be, s) : nullptr;
}

std::unique_ptr<const LbIndex> build_lb_index(BalanceAlgo algo, const BackendSnapshot& be,
                                              LbState& state, uint64_t cursor_now) {
  switch (algo) {
    case BalanceAlgo::RoundRobin:
      return build_roundrobin(be, state, cursor_now);
    case BalanceAlgo::StaticRR:
      return build_static_rr(be, state, cursor_now);
    case BalanceAlgo::LeastConn:
      return build_leastconn(be);
    case BalanceAlgo::First:
      return build_first(be);
    case BalanceAlgo::Source:
    case BalanceAlgo::Uri:
    case BalanceAlgo::UrlParam:
    case BalanceAlgo::Hdr:
      return build_hash(be);
    case BalanceAlgo::Random:
      return build_random(be);
  }
  return build_roundrobin(be, state, cursor_now);
}

std::unique_ptr<LbState> make_lb_state(BalanceAlgo algo) {
  switch (algo) {
    case BalanceAlgo::RoundRobin:
      return make_roundrobin_state();
    case BalanceAlgo::StaticRR:
      return make_static_rr_state();
    default:
      return std::make_unique<LbState>();
  }
}

}  // namespace herd::balancing
