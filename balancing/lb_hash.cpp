// balancing/lb_hash.cpp — the hashing algorithms (`balance source`, `uri`,
// `url_param`, `hdr(<name>)`) under `hash-type map-based` (haproxy's
// default) or `hash-type consistent`, with haproxy 2.6's hash functions.
//
// The key: the client IPv4 (or the XOR of an IPv6's four words: no hash
// function), or the hash function over the URI up to '?', the url_param's
// value, or the header's first value (`use_domain_only`: the label before
// the TLD); `avalanche` passes it through full_hash().
//   * map-based: key modulo the length of the static-rr table
//     (lb_static_rr.cpp) picks a slot.
//   * consistent: every server has weight x 16 (its eweight; less during a
//     slowstart ramp) points on a 32-bit ring, at full_hash(sid x 4096 + i)
//     (or derived from its address with `hash-key addr|addr-port`); the key
//     goes to the nearest point, the previous one on a tie, as haproxy's
//     chash_get_server_hash(); a server to avoid (redispatch) passes to the
//     next points.
// A url_param or header that is missing (or an empty header) falls back to
// round robin: over the map slots, or over the ring points in key order
// (haproxy's map_get_server_rr() / chash_get_next_server()), on
// BackendLive::cursor. With a single usable server the key is not computed.
// A saturated server makes a hashed pick fail (the caller queues) so the
// affinity holds.
#include <algorithm>
#include <cstring>

#include "balancing/lb.h"

namespace herd::balancing {

uint32_t lb_sdbm(std::string_view s) {
  uint32_t h = 0;
  for (unsigned char c : s) h = c + (h << 6) + (h << 16) - h;
  return h;
}

uint32_t lb_djb2(std::string_view s) {
  uint32_t h = 5381;
  for (unsigned char c : s) h = (h << 5) + h + c;
  return h;
}

uint32_t lb_wt6(std::string_view s) {
  uint32_t h0 = 0xa53c965aU, h1 = 0x5ca6953aU;
  unsigned step0 = 6, step1 = 18;
  auto rotl = [](uint32_t v, unsigned n) { return n == 0 ? v : (v << n) | (v >> (32 - n)); };
  for (unsigned char c : s) {
    h0 = ~(h0 ^ c);
    h1 = ~(h1 + c);
    const uint32_t t = rotl(h1, step0);
    h1 = rotl(h0, step1);
    h0 = t;
    const uint32_t mix = ((h0 >> 16) ^ h1) & 0xffff;
    step0 = mix & 0x1f;
    step1 = mix >> 11;
  }
  return h0 ^ h1;
}

uint32_t lb_crc32(std::string_view s) {
  uint32_t h = ~0U;
  for (unsigned char c : s) {
    h ^= c;
    for (int bit = 0; bit < 8; ++bit) h = (h >> 1) ^ ((h & 1) ? 0xedb88320U : 0);
  }
  return ~h;
}

uint32_t lb_full_hash(uint32_t a) {
  // Bob Jenkins' 32-bit integer avalanche, then a multiplication by a prime
  // near 3/4 of 2^32, as haproxy spreads keys over its trees.
  a = (a + 0x7ed55d16) + (a << 12);
  a = (a ^ 0xc761c23c) ^ (a >> 19);
  a = (a + 0x165667b1) + (a << 5);
  a = (a + 0xd3a2646c) ^ (a << 9);
  a = (a + 0xfd7046c5) + (a << 3);
  a = (a ^ 0xb55a4f09) ^ (a >> 16);
  return a * 3221225473U;
}

uint32_t lb_xxh32(const uint8_t* p, size_t len, uint32_t seed) {
  constexpr uint32_t P1 = 2654435761U, P2 = 2246822519U, P3 = 3266489917U, P4 = 668265263U,
                     P5 = 374761393U;
  auto rotl = [](uint32_t v, int n) { return (v << n) | (v >> (32 - n)); };
  auto read32 = [](const uint8_t* q) {
    return uint32_t{q[0]} | uint32_t{q[1]} << 8 | uint32_t{q[2]} << 16 | uint32_t{q[3]} << 24;
  };
  auto step = [&](uint32_t acc, uint32_t in) { return rotl(acc + in * P2, 13) * P1; };
  const uint8_t* end = p + len;
  uint32_t h;
  if (len >= 16) {
    uint32_t v1 = seed + P1 + P2, v2 = seed + P2, v3 = seed, v4 = seed - P1;
    for (; p + 16 <= end; p += 16) {
      v1 = step(v1, read32(p));
      v2 = step(v2, read32(p + 4));
      v3 = step(v3, read32(p + 8));
      v4 = step(v4, read32(p + 12));
    }
    h = rotl(v1, 1) + rotl(v2, 7) + rotl(v3, 12) + rotl(v4, 18);
  } else {
    h = seed + P5;
  }
  h += static_cast<uint32_t>(len);
  for (; p + 4 <= end; p += 4) h = rotl(h + read32(p) * P3, 17) * P4;
  for (; p < end; ++p) h = rotl(h + *p * P5, 11) * P1;
  h ^= h >> 15;
  h *= P2;
  h ^= h >> 13;
  h *= P3;
  h ^= h >> 16;
  return h;
}

uint32_t lb_hash_text(const config::HashType& ht, std::string_view s) {
  uint32_t h = 0;
  switch (ht.function) {
    case config::HashFunction::Sdbm:
      h = lb_sdbm(s);
      break;
    case config::HashFunction::Djb2:
      h = lb_djb2(s);
      break;
    case config::HashFunction::Wt6:
      h = lb_wt6(s);
      break;
    case config::HashFunction::Crc32:
      h = lb_crc32(s);
      break;
  }
  return ht.avalanche ? lb_full_hash(h) : h;
}

std::optional<std::string_view> lb_url_param(std::string_view uri, std::string_view name) {
  // haproxy 2.6's get_server_ph(): after the first '?', a parameter whose
  // name is followed by '='; its value runs to the next '&'.
  const size_t q = uri.find('?');
  if (q == std::string_view::npos) return std::nullopt;
  std::string_view params = uri.substr(q + 1);
  const size_t plen = name.size();
  while (params.size() > plen) {
    if (params[plen] == '=' && params.substr(0, plen) == name) {
      std::string_view v = params.substr(plen + 1);
      return v.substr(0, v.find('&'));
    }
    const size_t amp = params.find('&');
    if (amp == std::string_view::npos) return std::nullopt;
    params.remove_prefix(amp + 1);
  }
  return std::nullopt;
}

std::string_view lb_header_first_value(std::string_view v) {
  // http_find_header() without `full`: the first comma-separated element,
  // without the blanks around it.
  v = v.substr(0, v.find(','));
  while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
  while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.remove_suffix(1);
  return v;
}

std::string_view lb_domain_only(std::string_view v) {
  // get_server_hh()'s `use_domain_only`: from the end, the label between
  // the last dot and the one before it ("www.example.com" -> "example");
  // the whole value without a dot.
  size_t i = v.size(), end = v.size(), left = v.size();
  bool in_domain = false;
  while (left > 0) {
    if (in_domain) {
      if (v[i - 1] == '.') break;
    } else if (i < v.size() && v[i] == '.') {
      end = i;
      in_domain = true;
    }
    --i;
    --left;
  }
  return v.substr(i, end - i);
}

uint32_t lb_chash_server_key(const Server& s) {
  using HK = config::Server::HashKey;
  HK hk = s.hash_key;
  const int family = s.addr.len > 0 ? s.addr.storage.ss_family : AF_UNSPEC;
  if (hk != HK::Id && family != AF_INET && family != AF_INET6) hk = HK::Id;
  if (hk == HK::Id) return 0;  // unused: Id keys are sid x 4096 + i (haproxy 2.6)
  uint32_t key = hk == HK::AddrPort ? lb_full_hash(s.addr.port) : 0;
  if (family == AF_INET) {
    // s_addr as a little-endian machine loads it (haproxy's memory order).
    const auto* b = reinterpret_cast<const uint8_t*>(
        &reinterpret_cast<const sockaddr_in*>(&s.addr.storage)->sin_addr.s_addr);
    const uint32_t a =
        uint32_t{b[0]} | uint32_t{b[1]} << 8 | uint32_t{b[2]} << 16 | uint32_t{b[3]} << 24;
    return lb_full_hash(key + a);
  }
  const auto* a6 = reinterpret_cast<const sockaddr_in6*>(&s.addr.storage)->sin6_addr.s6_addr;
  return lb_xxh32(a6, 16, key);
}

uint32_t lb_chash_node_key(const Server& s, uint32_t server_key, int i) {
  using HK = config::Server::HashKey;
  const int family = s.addr.len > 0 ? s.addr.storage.ss_family : AF_UNSPEC;
  if (s.hash_key == HK::Id || (family != AF_INET && family != AF_INET6))
    return lb_full_hash(static_cast<uint32_t>(s.id) * (256 * Server::kWeightScale) +
                        static_cast<uint32_t>(i));
  return lb_full_hash(server_key + static_cast<uint32_t>(i));
}

namespace {

class HashIndex final : public LbIndex {
 public:
  std::vector<const Server*> servers;
  BalanceAlgo algo = BalanceAlgo::Source;
  config::HashType ht;
  std::string_view param;  // url_param name (points into the config)
  bool domain_only = false;
  // map-based
  std::vector<uint32_t> table;
  // consistent: the points sorted by key, each with its index in `servers`
  std::vector<uint32_t> ring_keys;
  std::vector<uint32_t> ring_srv;

  std::optional<uint32_t> key(const PickContext& ctx) const {
    if (servers.size() == 1) return 0u;  // haproxy does not hash for one server
    switch (algo) {
      case BalanceAlgo::Source:
        return ht.avalanche ? lb_full_hash(ctx.client_ipv4) : ctx.client_ipv4;
      case BalanceAlgo::UrlParam: {
        auto v = lb_url_param(ctx.uri, param);
        if (!v) return std::nullopt;
        return lb_hash_text(ht, *v);
      }
      case BalanceAlgo::Hdr: {
        std::string_view v = lb_header_first_value(ctx.hash_header);
        if (v.empty()) return std::nullopt;
        return lb_hash_text(ht, domain_only ? lb_domain_only(v) : v);
      }
      default: {
        std::string_view u = ctx.uri.empty() ? ctx.uri_path : ctx.uri;
        return lb_hash_text(ht, u.substr(0, u.find('?')));
      }
    }
  }

  const Server* lookup_map(uint32_t h, const Server* avoid) const {
    const size_t slot = h % table.size();
    const Server* s = servers[table[slot]];
    if (s == avoid && servers.size() > 1) {
      for (size_t j = 1; j < table.size() && s == avoid; ++j)
        s = servers[table[(slot + j) % table.size()]];
    }
    return s;
  }

  const Server* lookup_ring(uint32_t h, const Server* avoid) const {
    const size_t n = ring_keys.size();
    size_t next = static_cast<size_t>(std::lower_bound(ring_keys.begin(), ring_keys.end(), h) -
                                      ring_keys.begin());
    if (next == n) next = 0;
    const size_t prev = next == 0 ? n - 1 : next - 1;
    const uint32_t dp = h - ring_keys[prev], dn = ring_keys[next] - h;
    size_t at = dp <= dn ? prev : next;
    const Server* s = servers[ring_srv[at]];
    for (size_t j = 0; s == avoid && j < n; ++j) {
      at = at + 1 == n ? 0 : at + 1;
      s = servers[ring_srv[at]];
    }
    return s;
  }

  // Round robin when the key is missing: the first server with a free
  // slot from the cursor on, `avoid` only when no other has one.
  const Server* next_rr(const BackendSnapshot& be, const Server* avoid) const {
    const std::vector<uint32_t>& seq = ht.consistent ? ring_srv : table;
    const Server* fallback = nullptr;
    for (size_t k = 0; k < seq.size(); ++k) {
      const uint64_t c = be.live->cursor.fetch_add(1, std::memory_order_relaxed);
      const Server* s = servers[seq[c % seq.size()]];
      const bool free = s->has_free_slot();
      if (free && s != avoid) return s;
      if (free) fallback = s;
    }
    return fallback;
  }

  const Server* pick(const BackendSnapshot& be, const PickContext& ctx) const override {
    if (servers.empty() || (ht.consistent ? ring_keys.empty() : table.empty())) return nullptr;
    const std::optional<uint32_t> h = key(ctx);
    if (!h) {
      if (!be.live) return nullptr;
      const Server* s = next_rr(be, ctx.avoid);
      return s ? lb_account(be, s) : nullptr;
    }
    const Server* s = ht.consistent ? lookup_ring(*h, ctx.avoid) : lookup_map(*h, ctx.avoid);
    if (!s->has_free_slot()) return nullptr;
    return lb_account(be, s);
  }
};

}  // namespace

std::unique_ptr<const LbIndex> build_hash(const BackendSnapshot& be) {
  auto idx = std::make_unique<HashIndex>();
  idx->servers = lb_candidates(be).servers;
  idx->algo = be.algo;
  if (be.config) {
    idx->ht = be.config->hash_type;
    idx->param = be.config->balance.arg;
    idx->domain_only = be.config->balance.use_domain_only;
  }
  if (!idx->ht.consistent) {
    idx->table = build_map_table(idx->servers);
    return idx;
  }
  struct Point {
    uint32_t key, srv;
  };
  std::vector<Point> points;
  for (size_t i = 0; i < idx->servers.size(); ++i) {
    const Server& s = *idx->servers[i];
    const uint32_t base = lb_chash_server_key(s);
    for (int n = 0; n < s.scaled_weight(); ++n)
      points.push_back({lb_chash_node_key(s, base, n), static_cast<uint32_t>(i)});
  }
  std::stable_sort(points.begin(), points.end(),
                   [](const Point& a, const Point& b) { return a.key < b.key; });
  idx->ring_keys.reserve(points.size());
  idx->ring_srv.reserve(points.size());
  for (const Point& p : points) {
    idx->ring_keys.push_back(p.key);
    idx->ring_srv.push_back(p.srv);
  }
  return idx;
}

}  // namespace herd::balancing
