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
#include <optional>
#include <string_view>
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
// source, uri, url_param, hdr; be.config's hash-type (none: map-based sdbm).
std::unique_ptr<const LbIndex> build_hash(const BackendSnapshot& be);
std::unique_ptr<const LbIndex> build_random(const BackendSnapshot& be);

// haproxy 2.6's hash functions (hash.c), 32-bit.
uint32_t lb_sdbm(std::string_view s);
uint32_t lb_djb2(std::string_view s);
uint32_t lb_wt6(std::string_view s);
uint32_t lb_crc32(std::string_view s);
// haproxy's full_hash(): the avalanche and the ring's point keys.
uint32_t lb_full_hash(uint32_t a);
// XXH32 (the IPv6 `hash-key` of haproxy 3.0).
uint32_t lb_xxh32(const uint8_t* p, size_t len, uint32_t seed);
// The hash-type's function over `s`, then full_hash() with `avalanche`.
uint32_t lb_hash_text(const config::HashType& ht, std::string_view s);
// `balance url_param`: the value of parameter `name` in the query string of
// `uri`, as haproxy 2.6 finds it; nullopt when absent.
std::optional<std::string_view> lb_url_param(std::string_view uri, std::string_view name);
// `balance hdr`: the first comma-separated element of a header value, and
// the part `use_domain_only` hashes.
std::string_view lb_header_first_value(std::string_view v);
std::string_view lb_domain_only(std::string_view v);
// The consistent ring: a server's base key from its `hash-key` (0 for id)
// and the key of its point number `i`.
uint32_t lb_chash_server_key(const Server& s);
uint32_t lb_chash_node_key(const Server& s, uint32_t server_key, int i);

}  // namespace herd::balancing
