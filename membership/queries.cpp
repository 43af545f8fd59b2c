// membership/queries.cpp — see queries.h.
#include "membership/queries.h"

#include <algorithm>
#include <cmath>
#include <memory>
#include <regex>

namespace herd::membership {

namespace {

using namespace std::chrono_literals;

constexpr auto kGossipInterval = 200ms;  // memberlist LAN default
constexpr int kQueryTimeoutMult = 16;    // serf default
// Serf needs protocol 5 on a member before relaying through it.
constexpr uint8_t kRelayMinProtocol = 5;

std::optional<swim::Address> address_of(const Bytes& ip, int64_t port) {
  if ((ip.size() != 4 && ip.size() != 16) || port <= 0 || port > 65535) return std::nullopt;
  return swim::Address{ip, static_cast<uint16_t>(port)};
}

// 0x06 + serf Member, as serf's conflict handler answers.
Bytes encode_conflict_member(const MemberInfo& m, const Bytes& addr) {
  msgpack::Writer w;
  w.raw(Bytes{static_cast<uint8_t>(serf::MessageType::kConflictResponse)});
  msgpack::StructWriter s(w);
  s.field("Addr").bin(addr);
  s.field("DelegateCur").uint(m.delegate_cur);
  s.field("DelegateMax").uint(m.delegate_max);
  s.field("DelegateMin").uint(m.delegate_min);
  s.field("Name").str(m.name);
  s.field("Port").uint(m.port);
  s.field("ProtocolCur").uint(m.protocol_cur);
  s.field("ProtocolMax").uint(m.protocol_max);
  s.field("ProtocolMin").uint(m.protocol_min);
  s.field("Status").uint(static_cast<uint8_t>(m.status));
  msgpack::Writer& t = s.field("Tags");
  t.map_header(static_cast<uint32_t>(m.tags.size()));
  for (const auto& [k, v] : m.tags) {
    t.str(k);
    t.str(v);
  }
  s.finish();
  return w.take();
}

// The Addr and Port of a conflict response (0x06 + serf Member).
std::optional<swim::Address> decode_conflict_member(ByteView body) {
  if (body.empty() || body[0] != static_cast<uint8_t>(serf::MessageType::kConflictResponse))
    return std::nullopt;
  msgpack::Reader r(body.subspan(1));
  swim::Address a;
  const bool ok = r.read_struct([&](std::string_view k) {
    if (k == "Addr") return r.read_bytes(a.ip);
    if (k == "Port") return r.read_uint_as(a.port);
    return false;
  });
  if (!ok) return std::nullopt;
  // Go's net.IP.Equal: an IPv4 address equals its IPv4-mapped IPv6 form.
  static const uint8_t kV4Mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  if (a.ip.size() == 16 && std::equal(a.ip.begin(), a.ip.begin() + 12, kV4Mapped))
    a.ip.erase(a.ip.begin(), a.ip.begin() + 12);
  return a;
}

}  // namespace

Queries::Queries(std::string node, QueryHost& host, uint64_t seed)
    : node_(std::move(node)), host_(host), rng_(seed) {}

std::chrono::nanoseconds Queries::default_timeout() const {
  const double n = static_cast<double>(host_.num_members());
  const auto mult = static_cast<int64_t>(std::ceil(std::log10(n + 1)));
  return std::chrono::duration_cast<std::chrono::nanoseconds>(kGossipInterval) * kQueryTimeoutMult *
         std::max<int64_t>(1, mult);
}

bool Queries::should_process(const std::optional<std::vector<Bytes>>& filters) const {
  if (!filters) return true;
  for (const auto& raw : *filters) {
    auto f = serf::decode_filter(raw);
    if (!f) return false;
    if (const auto* nf = std::get_if<serf::NodeFilter>(&*f)) {
      if (std::find(nf->nodes.begin(), nf->nodes.end(), node_) == nf->nodes.end()) return false;
    } else {
      const auto& tf = std::get<serf::TagFilter>(*f);
      const auto tags = host_.tags();
      auto it = tags.find(tf.tag);
      const std::string value = it == tags.end() ? std::string() : it->second;
      try {
        // Go's regexp.MatchString: unanchored.
        if (!std::regex_search(value, std::regex(tf.expr))) return false;
      } catch (const std::regex_error&) {
        return false;
      }
    }
  }
  return true;
}

bool Queries::handle_query(const serf::Query& q, swim::TimePoint now) {
  witness(q.ltime);
  if (q.ltime < min_time_) return false;  // older than a restored snapshot: Serf ignores it
  if (clock_ > kQueryBuffer && q.ltime < clock_ - kQueryBuffer) {
    ++counters_.duplicates;
    return false;
  }
  Seen& seen = seen_[q.ltime % kQueryBuffer];
  if (seen.ltime == q.ltime) {
    if (std::find(seen.ids.begin(), seen.ids.end(), q.id) != seen.ids.end()) {
      ++counters_.duplicates;
      return false;
    }
  } else {
    seen = Seen{q.ltime, {}};
  }
  seen.ids.push_back(q.id);
  ++counters_.received;
  const bool rebroadcast = (q.flags & serf::kQueryFlagNoBroadcast) == 0;
  if (!should_process(q.filters)) {
    ++counters_.filtered;
    return rebroadcast;
  }
  if (q.flags & serf::kQueryFlagAck) {
    serf::QueryResponse ack{serf::kQueryFlagAck, node_, q.id, q.ltime, std::nullopt};
    if (auto dest = address_of(q.addr, q.port)) {
      host_.send_direct(*dest, serf::encode(ack));
      relay(q.relay_factor, *dest, ack);
      ++counters_.acks_sent;
    }
  }
  const auto deadline = now + std::chrono::duration_cast<swim::Duration>(
                                  std::chrono::nanoseconds(std::max<int64_t>(0, q.timeout_ns)));
  if (q.name.starts_with(kInternalQueryPrefix)) {
    delivered_[0] = Delivered{q, deadline};  // slot 0: internal, answered at once
    internal(q, now);
    delivered_.erase(0);
    return rebroadcast;
  }
  const uint64_t id = next_local_id_++;
  delivered_[id] = Delivered{q, deadline};
  MemberEvent ev;
  ev.type = MemberEvent::Type::Query;
  ev.user_name = q.name;
  if (q.payload) ev.payload.assign(q.payload->begin(), q.payload->end());
  ev.ltime = q.ltime;
  ev.query_id = id;
  host_.deliver(std::move(ev));
  return rebroadcast;
}

void Queries::send_response(const serf::Query& q, serf::QueryResponse r) {
  auto dest = address_of(q.addr, q.port);
  if (!dest) return;
  host_.send_direct(*dest, serf::encode(r));
  relay(q.relay_factor, *dest, r);
  ++counters_.responses_sent;
}

void Queries::relay(uint8_t factor, const swim::Address& dest, const serf::QueryResponse& r) {
  if (factor == 0) return;
  auto peers = host_.peers();
  if (peers.size() < static_cast<std::size_t>(factor) + 1) return;
  std::erase_if(peers, [&](const QueryHost::Peer& p) {
    return !p.alive || p.protocol_max < kRelayMinProtocol || p.name == node_;
  });
  std::shuffle(peers.begin(), peers.end(), rng_);
  if (peers.size() > factor) peers.resize(factor);
  serf::Relay rel;
  rel.dest_ip = dest.ip;
  rel.dest_port = dest.port;
  rel.inner = serf::encode(r);
  const Bytes msg = serf::encode(rel);
  for (const auto& p : peers) host_.send_direct(p.addr, msg);
}

void Queries::handle_relay(const serf::Relay& r) {
  auto dest = address_of(r.dest_ip, r.dest_port);
  if (!dest || r.inner.empty()) return;
  ++counters_.relayed;
  host_.send_direct(*dest, r.inner);
}

void Queries::handle_response(const serf::QueryResponse& r) {
  auto it = outgoing_.find(r.ltime);
  if (it == outgoing_.end() || it->second.id != r.id) return;
  Outgoing& o = it->second;
  if (r.flags & serf::kQueryFlagAck) {
    if (!o.acks.insert(r.from).second) return;
    if (o.h.ack) o.h.ack(r.from);
  } else {
    if (!o.responses.insert(r.from).second) return;
    if (o.h.response) o.h.response(r.from, r.payload.value_or(Bytes{}));
  }
}

std::string Queries::start(const std::string& name, std::optional<Bytes> payload, const Params& p,
                           Handlers h, swim::TimePoint now, bool internal_ok) {
  if (!internal_ok && name.starts_with(kInternalQueryPrefix) &&
      (name != std::string(kInternalQueryPrefix) + "ping" || (payload && !payload->empty())))
    return "Queries cannot contain the '" + std::string(kInternalQueryPrefix) + "' prefix";
  serf::Query q;
  const swim::Address self = host_.self_address();
  q.addr = self.ip;
  q.port = self.port;
  q.source_node = node_;
  std::vector<Bytes> filters;
  if (p.filter_nodes) filters.push_back(serf::encode_filter(serf::NodeFilter{*p.filter_nodes}));
  for (const auto& [tag, expr] : p.filter_tags)
    filters.push_back(serf::encode_filter(serf::TagFilter{tag, expr}));
  if (!filters.empty()) q.filters = std::move(filters);
  q.flags = p.request_ack ? serf::kQueryFlagAck : 0;
  q.relay_factor = p.relay_factor;
  const auto timeout = p.timeout.count() > 0 ? p.timeout : default_timeout();
  q.timeout_ns = timeout.count();
  q.name = name;
  q.payload = std::move(payload);
  q.ltime = clock_;
  q.id = static_cast<uint32_t>(rng_() & 0x7fffffff);
  Bytes raw = serf::encode(q);
  if (raw.size() > kQuerySizeLimit)
    return "query exceeds limit of " + std::to_string(kQuerySizeLimit) + " bytes";
  ++clock_;
  ++counters_.started;
  Outgoing o;
  o.id = q.id;
  o.deadline = now + std::chrono::duration_cast<swim::Duration>(timeout);
  o.h = std::move(h);
  outgoing_[q.ltime] = std::move(o);
  handle_query(q, now);
  host_.broadcast(std::move(raw));
  return "";
}

std::string Queries::respond(uint64_t query_id, const Bytes& payload, swim::TimePoint now) {
  auto it = delivered_.find(query_id);
  if (it == delivered_.end() || query_id == 0) return "response already sent";
  if (now > it->second.deadline) {
    delivered_.erase(it);
    return "response is past the deadline";
  }
  const serf::Query& q = it->second.q;
  serf::QueryResponse r{0, node_, q.id, q.ltime, payload};
  if (serf::encode(r).size() > kQueryResponseSizeLimit)
    return "response exceeds limit of " + std::to_string(kQueryResponseSizeLimit) + " bytes";
  send_response(q, std::move(r));
  delivered_.erase(it);
  return "";
}

Bytes Queries::key_reply(const serf::Query& q) {
  const std::string op = q.name.substr(kInternalQueryPrefix.size());
  serf::KeyResponse resp;
  Keyring* kr = host_.keyring();
  std::optional<Bytes> key;
  bool decoded = false;
  if (op != "list-keys" && q.payload) {
    auto m = serf::decode(*q.payload);
    if (m && std::holds_alternative<serf::KeyRequest>(*m)) {
      key = std::get<serf::KeyRequest>(*m).key;
      decoded = true;
    }
  }
  if (op == "list-keys") {
    if (!kr) {
      resp.message = "Keyring is empty (encryption not enabled)";
    } else {
      std::vector<std::string> keys;
      for (const auto& k : kr->keys()) keys.push_back(base64_encode(k));
      resp.keys = std::move(keys);
      resp.primary_key = base64_encode(kr->primary());
      resp.result = true;
    }
  } else if (!decoded) {
    resp.message = "Unable to decode request";
  } else if (!kr) {
    resp.message = "No keyring to modify (encryption not enabled)";
  } else {
    const Bytes k = key.value_or(Bytes{});
    std::optional<WireError> err;
    // memberlist's keyring error texts, which `serf keys` prints.
    std::string text;
    if (op == "install-key") {
      host_.log("serf: Received install-key query");
      if ((err = kr->add_key(k))) text = "key size must be 16, 24 or 32 bytes";
    } else if (op == "use-key") {
      host_.log("serf: Received use-key query");
      if ((err = kr->use_key(k))) text = "Requested key is not in the keyring";
    } else {
      host_.log("serf: Received remove-key query");
      if ((err = kr->remove_key(k)))
        text = kr->primary() == k ? "Removing the primary key is not allowed" : err->detail;
    }
    if (err) {
      resp.message = text;
    } else if (std::string e = host_.keyring_changed(); !e.empty()) {
      resp.message = e;
    } else {
      resp.result = true;
    }
  }
  return serf::encode(resp);
}

void Queries::internal(const serf::Query& q, swim::TimePoint now) {
  const std::string op = q.name.substr(kInternalQueryPrefix.size());
  Bytes payload;
  if (op == "ping") return;  // the ack is the answer
  if (op == "conflict") {
    const std::string name(q.payload ? std::string(q.payload->begin(), q.payload->end()) : "");
    if (name == node_) return;  // the conflict is about us: others answer
    auto m = host_.member(name);
    if (!m) return;
    Bytes addr;
    for (const auto& p : host_.peers())
      if (p.name == name) addr = p.addr.ip;
    payload = encode_conflict_member(*m, addr);
  } else if (op == "install-key" || op == "use-key" || op == "remove-key" || op == "list-keys") {
    payload = key_reply(q);
  } else {
    return;  // unknown internal query: serf ignores it
  }
  serf::QueryResponse r{0, node_, q.id, q.ltime, std::move(payload)};
  if (serf::encode(r).size() > kQueryResponseSizeLimit) {
    host_.log("serf: response to " + q.name + " exceeds the size limit");
    return;
  }
  if (now > delivered_[0].deadline) return;
  send_response(q, std::move(r));
}

void Queries::key_request(std::string_view op, const std::string& key_b64, uint8_t relay_factor,
                          std::function<void(std::string, rpc::KeyResponse)> done,
                          swim::TimePoint now) {
  struct State {
    rpc::KeyResponse resp;
    bool finished = false;
    std::function<void(std::string, rpc::KeyResponse)> done;
  };
  auto st = std::make_shared<State>();
  st->done = std::move(done);
  std::optional<Bytes> payload;
  if (op != rpc::kListKeys) {
    auto raw = base64_decode(key_b64);
    if (!raw) return st->done("illegal base64 data in key", st->resp);
    payload = serf::encode(serf::KeyRequest{*raw});
  } else {
    payload = serf::encode(serf::KeyRequest{Bytes{}});
  }
  auto finish = [st] {
    if (st->finished) return;
    st->finished = true;
    auto& r = st->resp;
    std::string err;
    if (r.num_err != 0)
      err =
          std::to_string(r.num_err) + "/" + std::to_string(r.num_nodes) + " nodes reported failure";
    else if (r.num_resp != r.num_nodes)
      err = std::to_string(r.num_resp) + "/" + std::to_string(r.num_nodes) +
            " nodes reported success";
    st->done(err, r);
  };
  Params p;
  p.relay_factor = relay_factor;
  Handlers h;
  h.response = [st, finish](const std::string& from, const Bytes& body) {
    if (st->finished) return;
    auto& r = st->resp;
    ++r.num_resp;
    auto m = body.empty() || body[0] != static_cast<uint8_t>(serf::MessageType::kKeyResponse)
                 ? Result<serf::Message>(WireError{WireErrc::kUnknownType, ""})
                 : serf::decode(body);
    if (!m || !std::holds_alternative<serf::KeyResponse>(*m)) {
      r.messages[from] = "Invalid key query response";
      ++r.num_err;
    } else {
      const auto& kr = std::get<serf::KeyResponse>(*m);
      if (!kr.result) {
        r.messages[from] = kr.message;
        ++r.num_err;
      }
      if (kr.keys)
        for (const auto& k : *kr.keys) ++r.keys[k];
    }
    if (r.num_resp == r.num_nodes) finish();
  };
  h.done = finish;
  st->resp.num_nodes = static_cast<int64_t>(host_.num_members());
  std::string name = std::string(kInternalQueryPrefix) + std::string(op);
  std::string err = start(name, std::move(payload), p, std::move(h), now, true);
  if (!err.empty()) {
    st->finished = true;
    st->done(err, st->resp);
  }
}

void Queries::resolve_conflict(std::function<void(bool, int, int)> done, swim::TimePoint now) {
  struct Tally {
    int responses = 0, matching = 0;
  };
  auto tally = std::make_shared<Tally>();
  const swim::Address self = host_.self_address();
  Handlers h;
  h.response = [tally, self](const std::string&, const Bytes& body) {
    auto a = decode_conflict_member(body);
    if (!a) return;
    ++tally->responses;
    if (*a == self) ++tally->matching;
  };
  h.done = [tally, done] {
    const int majority = tally->responses / 2 + 1;
    done(tally->matching >= majority, tally->matching, tally->responses);
  };
  const std::string name = std::string(kInternalQueryPrefix) + "conflict";
  std::string err = start(name, Bytes(node_.begin(), node_.end()), {}, std::move(h), now, true);
  if (!err.empty()) done(false, 0, 0);
}

void Queries::tick(swim::TimePoint now) {
  std::vector<Handlers> finished;
  for (auto it = outgoing_.begin(); it != outgoing_.end();) {
    if (now >= it->second.deadline) {
      finished.push_back(std::move(it->second.h));
      it = outgoing_.erase(it);
    } else {
      ++it;
    }
  }
  std::erase_if(delivered_, [&](const auto& kv) { return now > kv.second.deadline; });
  for (auto& h : finished)
    if (h.done) h.done();
}

swim::TimePoint Queries::next_deadline() const {
  swim::TimePoint t = swim::TimePoint::max();
  for (const auto& [lt, o] : outgoing_) t = std::min(t, o.deadline);
  return t;
}

}  // namespace herd::membership
