// dns/message.cpp — see message.h.
#include "dns/message.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cctype>

namespace herd::dns {
namespace {

constexpr size_t kHeader = 12;
constexpr size_t kMaxName = 255;
constexpr int kMaxPointers = 64;
constexpr int kMaxCnameLinks = 8;

void put16(std::string& out, uint16_t v) {
  out += static_cast<char>(v >> 8);
  out += static_cast<char>(v & 0xff);
}

class Reader {
 public:
  explicit Reader(std::string_view p) : p_(p) {}
  bool u8(size_t at, uint8_t* v) const {
    if (at >= p_.size()) return false;
    *v = static_cast<uint8_t>(p_[at]);
    return true;
  }
  bool u16(size_t at, uint16_t* v) const {
    if (at + 2 > p_.size() || at + 2 < at) return false;
    *v =
        static_cast<uint16_t>(static_cast<uint8_t>(p_[at]) << 8 | static_cast<uint8_t>(p_[at + 1]));
    return true;
  }
  bool u32(size_t at, uint32_t* v) const {
    uint16_t hi = 0, lo = 0;
    if (!u16(at, &hi) || !u16(at + 2, &lo)) return false;
    *v = static_cast<uint32_t>(hi) << 16 | lo;
    return true;
  }
  size_t size() const { return p_.size(); }
  std::string_view bytes(size_t at, size_t n) const { return p_.substr(at, n); }

  // Reads the (possibly compressed) name at `at` into `out` (lower case,
  // dot-separated, no final dot); `*next` is the offset after the name in
  // place. Pointers must go strictly backwards.
  bool name(size_t at, std::string* out, size_t* next) const {
    out->clear();
    size_t pos = at;
    size_t encoded = 0;  // wire length of the name, for the 255 limit
    bool jumped = false;
    int pointers = 0;
    size_t floor = at;  // a pointer must point before this
    for (;;) {
      uint8_t len = 0;
      if (!u8(pos, &len)) return false;
      if ((len & 0xc0) == 0xc0) {
        uint8_t lo = 0;
        if (!u8(pos + 1, &lo)) return false;
        size_t target = static_cast<size_t>(len & 0x3f) << 8 | lo;
        if (target >= floor || ++pointers > kMaxPointers) return false;
        if (!jumped) *next = pos + 2;
        jumped = true;
        floor = target;
        pos = target;
        continue;
      }
      if ((len & 0xc0) != 0) return false;  // 0x40/0x80: reserved label types
      encoded += 1 + len;
      if (encoded > kMaxName) return false;
      if (len == 0) {
        if (!jumped) *next = pos + 1;
        return true;
      }
      if (pos + 1 + len > p_.size()) return false;
      if (!out->empty()) *out += '.';
      for (char c : p_.substr(pos + 1, len))
        *out += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      pos += 1 + len;
    }
  }

 private:
  std::string_view p_;
};

Response invalid(Response r, std::string why) {
  r.status = Response::Status::Invalid;
  r.error = std::move(why);
  r.addresses.clear();
  return r;
}

}  // namespace

std::string normalize_name(std::string_view name) {
  std::string out;
  out.reserve(name.size());
  for (char c : name) out += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (!out.empty() && out.back() == '.') out.pop_back();
  return out;
}

std::string Response::Address::text() const {
  char buf[INET6_ADDRSTRLEN] = {};
  inet_ntop(v6 ? AF_INET6 : AF_INET, bytes, buf, sizeof buf);
  return buf;
}

uint16_t message_id(std::string_view packet) {
  uint16_t id = 0;
  Reader(packet).u16(0, &id);
  return id;
}

std::string build_query(uint16_t id, std::string_view name, RType type, int payload_size) {
  const std::string n = normalize_name(name);
  std::string q;
  put16(q, id);
  put16(q, 0x0100);  // RD
  put16(q, 1);       // QDCOUNT
  put16(q, 0);
  put16(q, 0);
  put16(q, 1);  // ARCOUNT: the OPT record (always, as haproxy)
  size_t encoded = 1;
  for (size_t b = 0; b <= n.size();) {
    size_t e = std::min(n.find('.', b), n.size());
    size_t len = e - b;
    if (len == 0 || len > 63) return {};
    encoded += 1 + len;
    if (encoded > kMaxName) return {};
    q += static_cast<char>(len);
    q.append(n, b, len);
    b = e + 1;
  }
  q += '\0';
  put16(q, static_cast<uint16_t>(type));
  put16(q, 1);  // IN
  q += '\0';    // root
  put16(q, static_cast<uint16_t>(RType::Opt));
  put16(q, static_cast<uint16_t>(std::clamp(payload_size, 0, 65535)));
  put16(q, 0);
  put16(q, 0);  // extended RCODE, version, flags
  put16(q, 0);  // RDLEN
  return q;
}

Response parse_response(std::string_view packet, uint16_t id, std::string_view qname, RType type) {
  Response r;
  Reader rd(packet);
  uint16_t flags = 0, qd = 0, an = 0;
  if (!rd.u16(0, &r.id) || !rd.u16(2, &flags) || !rd.u16(4, &qd) || !rd.u16(6, &an) ||
      packet.size() < kHeader)
    return invalid(r, "short header");
  if (r.id != id) return invalid(r, "unexpected id");
  if (!(flags & 0x8000)) return invalid(r, "not a response");
  if (((flags >> 11) & 0xf) != 0) return invalid(r, "not a standard query");
  if (flags & 0x0200) {
    r.status = Response::Status::Truncated;
    return r;
  }
  if (qd != 1) return invalid(r, "question count is not 1");
  const std::string want = normalize_name(qname);
  std::string n;
  size_t pos = kHeader;
  if (!rd.name(pos, &n, &pos)) return invalid(r, "bad question name");
  uint16_t qtype = 0, qclass = 0;
  if (!rd.u16(pos, &qtype) || !rd.u16(pos + 2, &qclass)) return invalid(r, "short question");
  pos += 4;
  if (n != want || qtype != static_cast<uint16_t>(type) || qclass != 1)
    return invalid(r, "question does not match the query");
  switch (flags & 0xf) {
    case 0:
      break;
    case 3:
      r.status = Response::Status::Nx;
      return r;
    case 5:
      r.status = Response::Status::Refused;
      return r;
    default:
      r.status = Response::Status::Other;
      return r;
  }
  // Each record takes at least 11 bytes: a count the packet cannot hold is a lie.
  if (static_cast<size_t>(an) * 11 > packet.size() - pos) return invalid(r, "answer count too big");
  struct Rec {
    std::string owner;
    uint16_t type;
    uint32_t ttl;
    size_t data, len;
  };
  std::vector<Rec> recs;
  for (int i = 0; i < an; ++i) {
    Rec rec;
    if (!rd.name(pos, &rec.owner, &pos)) return invalid(r, "bad answer name");
    uint16_t cls = 0, rdlen = 0;
    if (!rd.u16(pos, &rec.type) || !rd.u16(pos + 2, &cls) || !rd.u32(pos + 4, &rec.ttl) ||
        !rd.u16(pos + 8, &rdlen))
      return invalid(r, "short answer record");
    pos += 10;
    if (pos + rdlen > packet.size()) return invalid(r, "record data past the end");
    rec.data = pos;
    rec.len = rdlen;
    pos += rdlen;
    if (cls != 1) continue;
    recs.push_back(std::move(rec));
  }
  // The names that stand for the query: it, then CNAME targets from it.
  std::vector<std::string> names{want};
  for (int link = 0; link < kMaxCnameLinks; ++link) {
    bool grew = false;
    for (const auto& rec : recs) {
      if (rec.type != static_cast<uint16_t>(RType::Cname) || rec.owner != names.back()) continue;
      std::string target;
      size_t after = 0;
      if (!rd.name(rec.data, &target, &after) || after != rec.data + rec.len)
        return invalid(r, "bad CNAME target");
      if (std::find(names.begin(), names.end(), target) != names.end())
        return invalid(r, "CNAME loop");
      names.push_back(std::move(target));
      grew = true;
      break;
    }
    if (!grew) break;
  }
  for (const auto& rec : recs) {
    if (rec.type != static_cast<uint16_t>(type)) continue;
    if (std::find(names.begin(), names.end(), rec.owner) == names.end()) continue;
    const size_t want_len = type == RType::A ? 4 : 16;
    if (rec.len != want_len) return invalid(r, "bad address length");
    Response::Address a;
    a.v6 = type == RType::Aaaa;
    a.ttl = rec.ttl;
    std::string_view b = rd.bytes(rec.data, rec.len);
    std::copy(b.begin(), b.end(), a.bytes);
    r.addresses.push_back(a);
  }
  r.status = r.addresses.empty() ? Response::Status::NoRecord : Response::Status::Valid;
  return r;
}

}  // namespace herd::dns
