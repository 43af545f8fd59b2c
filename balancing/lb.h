// balancing/lb.h — internal to balancing/: the pieces shared by the
// algorithm files (lb_*.cpp) behind build_lb_index()/make_lb_state().
//
// Not for other modules: include balancing/pool.h instead.
//
// Thread rules: build_* and LbState are the writer's (control thread);
// LbIndex::pick() implementations run on any worker, concurrently, and
// touch nothing but atomics (BackendLive, ServerLive) and immutable data.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "balancing/pool.h"

namespace herd::balancing {

// The writer's persistent per-backend balancer state, kept across snapshots
// (the FWRR model for roundrobin, the walk offset for static-rr).
struct LbState {
  virtual ~LbState() = default;
};

// The servers the balancer chooses among in `be`: the usable active servers
// in sid order or, when there are none, the usable backups (all of them with
// `option allbackups`, otherwise only the first declared one).
struct LbCandidates {
  std::vector<const Server*> servers;
  bool backup = false;
};
LbCandidates lb_candidates(const BackendSnapshot& be);
// The backup servers the balancer would use when no active one is usable.
std::vector<const Server*> lb_backup_candidates(const BackendSnapshot& be);

// Bookkeeping for a successful pick: LbTotal on the server and on the
// backend, last_session_ms on both. Returns `s`.
const Server* lb_account(const BackendSnapshot& be, const Server* s);

// Steady-clock milliseconds (the unit of last_session_ms).
int64_t lb_now_ms();

// An index walked with BackendLive::cursor: position p = cursor - base +
// offset maps to seq[p] for p < prefix, then cycles over the rest.
// Used by roundrobin (the precomputed FWRR order) and static-rr.
class CursorTableIndex final : public LbIndex {
 public:
  std::vector<const Server*> servers;
  std::vector<uint32_t> seq;  // indexes into `servers`
  uint64_t prefix = 0;        // seq[0, prefix) is played once, then seq[prefix, end) cycles
  uint64_t offset = 0;

  uint64_t position(uint64_t step) const {
    uint64_t p = step + offset;
    if (p < prefix) return p;
    return prefix + (p - prefix) % (seq.size() - prefix);
  }
  const Server* pick(const BackendSnapshot& be, const PickContext& ctx) const override;
};

// The map-based table of static-rr/source/uri: sum(weight/gcd) slots in
// HAProxy's order. Entries index `servers`.
std::vector<uint32_t> build_map_table(const std::vector<const Server*>& servers);

// First server after a scan of `servers` (in order) that has a free slot and
// is not `avoid`; `avoid` itself when it is the only one with a slot.
const Server* lb_first_free(const std::vector<const Server*>& servers, const Server* avoid);

// Per-algorithm builders.
std::unique_ptr<const LbIndex> build_roundrobin(const BackendSnapshot& be, LbState& state,
                                                uint64_t cursor_now);
std::unique_ptr<LbState> make_roundrobin_state();
std::unique_ptr<const LbIndex> build_static_rr(const BackendSnapshot& be, LbState& state,
                                               uint64_t cursor_now);
std::unique_ptr<LbState> make_static_rr_state();
std::unique_ptr<const LbIndex> build_leastconn(const BackendSnapshot& be);
std::unique_ptr<const LbIndex> build_first(const BackendSnapshot& be);
std::unique_ptr<const LbIndex> build_hash(const BackendSnapshot& be, bool by_uri);
std::unique_ptr<const LbIndex> build_random(const BackendSnapshot& be);

// sdbm over `s` (32-bit), as `balance uri` hashes the path.
uint32_t lb_sdbm(std::string_view s);

}  // namespace herd::balancing
