// membership/mapper.cpp — member events -> pool servers.
#include "membership/mapper.h"

#include <spdlog/spdlog.h>

#include <charconv>
#include <sstream>

#include "config/parser.h"

namespace herd::membership {

using balancing::PoolWriter;
using balancing::Server;

MemberMapper::MemberMapper(boost::asio::io_context& control, PoolWriter& writer,
                           std::vector<PoolRule> rules)
    : MemberMapper(control, writer, std::move(rules), Options{}) {}

MemberMapper::MemberMapper(boost::asio::io_context& control, PoolWriter& writer,
                           std::vector<PoolRule> rules, Options opts)
    : control_(control), writer_(writer), opts_(opts), timer_(control) {
  for (auto& r : rules) {
    Rule rule;
    for (const auto& [tag, re] : r.match) {
      try {
        rule.match.emplace_back(tag, std::regex("^" + re + "$"));
      } catch (const std::regex_error&) {
        // finalize() rejected it already; a literal match keeps us safe.
        rule.match.emplace_back(
            tag, std::regex("^" +
                            std::regex_replace(re, std::regex(R"([.^$|()\[\]{}*+?\\])"), R"(\$&)") +
                            "$"));
      }
    }
    rule.cfg = std::move(r);
    rules_.push_back(std::move(rule));
  }
}

MemberMapper::~MemberMapper() {
  *alive_ = false;
  timer_.cancel();
}

namespace {

bool port_from_tag(const MemberInfo& m, const std::string& tag, uint16_t& port) {
  auto it = m.tags.find(tag);
  if (it == m.tags.end()) return false;
  const std::string& v = it->second;
  unsigned n = 0;
  auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
  if (ec != std::errc() || p != v.data() + v.size() || n == 0 || n > 65535) return false;
  port = static_cast<uint16_t>(n);
  return true;
}

const char* server_state(const Server& s) {
  if (s.in_maint()) return "MAINT";
  if (s.draining()) return "DRAIN";
  if (s.op == balancing::OpState::Stopped) return "DOWN";
  return "UP";
}

}  // namespace

bool MemberMapper::matches(const Rule& r, const MemberInfo& m, uint16_t& port) const {
  for (const auto& [tag, re] : r.match) {
    auto it = m.tags.find(tag);
    // Serf matches an absent tag as "".
    const std::string& v = it == m.tags.end() ? std::string() : it->second;
    if (!std::regex_search(v, re)) return false;
  }
  if (!r.cfg.port_tag.empty()) return port_from_tag(m, r.cfg.port_tag, port);
  port = r.cfg.port;
  return port != 0;
}

bool MemberMapper::rule_matches(const PoolRule& rule, const MemberInfo& member) {
  for (const auto& [tag, re] : rule.match) {
    auto it = member.tags.find(tag);
    const std::string& v = it == member.tags.end() ? std::string() : it->second;
    try {
      if (!std::regex_search(v, std::regex("^" + re + "$"))) return false;
    } catch (const std::regex_error&) {
      if (v != re) return false;
    }
  }
  uint16_t port = rule.port;
  if (!rule.port_tag.empty()) return port_from_tag(member, rule.port_tag, port);
  return port != 0;
}

void MemberMapper::apply(std::span<const MemberEvent> events) {
  {
    auto t = writer_.begin();
    for (const auto& ev : events) {
      if (!ev.is_member_event()) continue;
      for (const auto& m : ev.members) {
        Action a = Action::Up;
        switch (ev.type) {
          case MemberEvent::Type::Join:
          case MemberEvent::Type::Update:
            if (m.status == MemberInfo::Status::Leaving || m.status == MemberInfo::Status::Left)
              a = Action::Drain;
            else if (m.status == MemberInfo::Status::Failed)
              a = Action::Remove;
            break;
          case MemberEvent::Type::Leave:
            a = Action::Drain;
            break;
          case MemberEvent::Type::Failed:
          case MemberEvent::Type::Reap:
            a = Action::Remove;
            break;
          default:
            break;
        }
        MemberInfo info = m;
        if (ev.type == MemberEvent::Type::Leave && info.status == MemberInfo::Status::Alive)
          info.status = MemberInfo::Status::Left;
        if (ev.type == MemberEvent::Type::Failed && info.status == MemberInfo::Status::Alive)
          info.status = MemberInfo::Status::Failed;
        if (ev.type == MemberEvent::Type::Reap)
          members_.erase(info.name);
        else
          members_[info.name] = info;
        handle(t, info, a);
      }
    }
    release_held(t);
    t.commit();
  }
  arm_timer();
}

void MemberMapper::handle(PoolWriter::Transaction& t, const MemberInfo& m, Action a) {
  std::set<std::string> backends_done;  // the first matching rule of a backend wins
  for (std::size_t i = 0; i < rules_.size(); ++i) {
    const Rule& r = rules_[i];
    Key k{r.cfg.backend, m.name};
    auto it = mapped_.find(k);
    if (it != mapped_.end() && it->second.rule != i) {
      continue;  // another rule of this backend owns it
    }
    if (a == Action::Remove) {
      if (it != mapped_.end()) fail(t, k, it->second);
      continue;
    }
    if (a == Action::Drain) {
      if (it != mapped_.end()) drain(t, k, it->second);
      continue;
    }
    uint16_t port = 0;
    bool ok = !backends_done.count(r.cfg.backend) && matches(r, m, port);
    if (!ok) {
      // Stopped matching (tag change): leave gracefully.
      if (it != mapped_.end()) drain(t, k, it->second);
      continue;
    }
    if (m.name.empty() || !config::valid_name(m.name)) {
      if (unnamed_.size() < kMaxUnnamed && unnamed_.insert(m.name).second)
        spdlog::warn(
            "membership: member '{}' not mapped: a server name takes letters, digits, "
            "'.', '-', '_' and ':' only",
            printable(m.name));
      continue;
    }
    balancing::Endpoint ep;
    if (!balancing::Endpoint::parse(m.addr, port, ep)) {
      spdlog::warn("membership: member '{}' has no usable address '{}'", m.name, m.addr);
      continue;
    }
    backends_done.insert(r.cfg.backend);
    if (it != mapped_.end()) {
      Mapped& mp = it->second;
      bool addr_changed = mp.ip != ep.ip || mp.port != port;
      bool was_draining = mp.draining;
      if (mp.held) {
        mp.held = false;
        spdlog::warn("membership: server {}/{} is no longer held: member {} is alive again",
                     k.first, k.second, m.name);
      }
      if (!addr_changed && !was_draining) continue;
      auto err = t.update(k.first, k.second, [&](Server& s) {
        s.addr = ep;
        s.admin &= ~static_cast<uint32_t>(balancing::kAdminForcedDrain);
      });
      if (err) {
        spdlog::warn("membership: cannot update server {}/{}: {}", k.first, k.second, *err);
        mapped_.erase(it);
        drains_.erase(k);
        continue;
      }
      mp.ip = ep.ip;
      mp.port = port;
      mp.draining = false;
      drains_.erase(k);
      if (addr_changed)
        spdlog::info("membership: server {}/{} now at {}", k.first, k.second, ep.to_string());
      if (was_draining)
        spdlog::info("membership: server {}/{} is back (member {} rejoined)", k.first, k.second,
                     m.name);
      continue;
    }
    const config::Server& o = r.cfg.options;
    Server s = Server::from_line(o);
    s.name = m.name;
    s.addr = ep;
    s.origin = balancing::Origin::Member;
    // Ring points from the member's address:port, which every balancer of
    // the cluster sees alike (its sid depends on the order members joined
    // in): the same `hash-type consistent` ring everywhere, uncoordinated.
    s.hash_key = config::Server::HashKey::AddrPort;
    s.admin = o.disabled ? (balancing::kAdminConfigMaint | balancing::kAdminForcedMaint) : 0u;
    // With `check` the first passing check brings it UP (h reaches rise).
    s.op = o.check ? balancing::OpState::Stopped : balancing::OpState::Running;
    s.health = o.check ? o.rise - 1 : 0;
    s.live = std::make_shared<balancing::ServerLive>();
    s.live->health.health = s.health;
    auto live = s.live;
    if (auto err = t.add_server(k.first, std::move(s))) {
      if (conflicts_.insert(k).second)
        spdlog::warn("membership: member '{}' not added to backend '{}': {}", m.name, k.first,
                     *err);
      continue;
    }
    conflicts_.erase(k);
    mapped_[k] = Mapped{i, live, ep.ip, port, false, {}, false};
    spdlog::info("membership: server {}/{} added at {} (member {})", k.first, k.second,
                 ep.to_string(), m.name);
  }
}

void MemberMapper::drain(PoolWriter::Transaction& t, const Key& k, Mapped& mp) {
  if (mp.draining) return;
  if (auto err = t.set_admin(k.first, k.second, balancing::kAdminForcedDrain, 0)) {
    spdlog::warn("membership: cannot drain {}/{}: {}", k.first, k.second, *err);
    mapped_.erase(k);
    return;
  }
  mp.draining = true;
  mp.drain_since = opts_.now();
  drains_.insert(k);
  spdlog::info("membership: server {}/{} is draining ({} in flight)", k.first, k.second,
               mp.live->inflight.get());
}

void MemberMapper::remove(PoolWriter::Transaction& t, const Key& k) {
  auto err = t.remove_server(k.first, k.second);
  if (err)
    spdlog::warn("membership: cannot remove {}/{}: {}", k.first, k.second, *err);
  else
    spdlog::info("membership: server {}/{} removed", k.first, k.second);
  mapped_.erase(k);
  drains_.erase(k);
}

MemberMapper::Share MemberMapper::share(const std::string& backend) {
  Share s;
  for (const auto& [k, mp] : mapped_) {
    if (k.first != backend || mp.draining) continue;
    (mp.held ? s.held : s.alive) += 1;
  }
  // The backend's own servers from haproxy.cfg (not in maintenance) serve too.
  if (const auto* be = writer_.staged().find(backend))
    for (const auto& sv : be->servers)
      if (sv->origin != balancing::Origin::Member && !sv->in_maint()) ++s.alive;
  auto& times = failed_at_[backend];
  const auto now = opts_.now();
  std::erase_if(times, [&](const auto& t) { return now - t > opts_.panic_window; });
  s.recent = times.size();
  return s;
}

bool MemberMapper::panics(const Share& s) const {
  const std::size_t total = s.alive + s.held + s.recent;
  return total > 0 && s.alive * 100 < static_cast<std::size_t>(opts_.panic_threshold) * total;
}

void MemberMapper::fail(PoolWriter::Transaction& t, const Key& k, Mapped& mp) {
  if (mp.held) return;
  if (mp.draining) return remove(t, k);  // leaving anyway
  Share s = share(k.first);
  s.alive -= 1;  // this one
  s.recent += 1;
  if (panics(s)) {
    mp.held = true;
    spdlog::warn(
        "membership: keeping server {}/{} although its member failed: {} of {} member servers "
        "of backend {} would be alive, under the panic threshold of {}% (herd may have lost "
        "contact with the cluster: key mismatch or partition); health checks decide",
        k.first, k.second, s.alive, s.alive + s.held + s.recent, k.first, opts_.panic_threshold);
    return;
  }
  failed_at_[k.first].push_back(opts_.now());
  remove(t, k);
}

void MemberMapper::release_held(PoolWriter::Transaction& t) {
  std::set<std::string> backends;
  for (const auto& [k, mp] : mapped_)
    if (mp.held) backends.insert(k.first);
  for (const auto& b : backends) {
    // Releasing a held server turns it into a recent failure: the share is
    // the same for all of them, so either all go or none.
    if (panics(share(b))) continue;
    std::vector<Key> release;
    for (const auto& [k, mp] : mapped_)
      if (k.first == b && mp.held) release.push_back(k);
    for (const auto& k : release) {
      spdlog::warn("membership: releasing held server {}/{}: backend {} is out of panic", k.first,
                   k.second, b);
      failed_at_[b].push_back(opts_.now());
      remove(t, k);
    }
  }
}

std::vector<std::string> MemberMapper::held() const {
  std::vector<std::string> out;
  for (const auto& [k, mp] : mapped_)
    if (mp.held) out.push_back(k.first + "/" + k.second);
  return out;
}

int MemberMapper::poll_drains() {
  if (drains_.empty()) return 0;
  int n = 0;
  auto now = opts_.now();
  {
    auto t = writer_.begin();
    std::vector<Key> done;
    for (const auto& k : drains_) {
      auto it = mapped_.find(k);
      if (it == mapped_.end()) {
        done.push_back(k);
        continue;
      }
      bool idle = it->second.live->inflight.get() <= 0;
      bool expired =
          opts_.drain_timeout.count() > 0 && now - it->second.drain_since >= opts_.drain_timeout;
      if (idle || expired) done.push_back(k);
    }
    for (const auto& k : done)
      if (mapped_.count(k)) {
        remove(t, k);
        ++n;
      } else {
        drains_.erase(k);
      }
    t.commit();
  }
  return n;
}

void MemberMapper::arm_timer() {
  if (timer_armed_ || drains_.empty()) return;
  timer_armed_ = true;
  timer_.expires_after(opts_.drain_poll);
  timer_.async_wait([this, alive = alive_](const boost::system::error_code& ec) {
    if (!*alive) return;
    timer_armed_ = false;
    if (ec) return;
    poll_drains();
    arm_timer();
  });
}

std::vector<MemberMapper::MemberRow> MemberMapper::describe() const {
  std::vector<MemberRow> rows;
  const auto& snap = writer_.staged();
  for (const auto& [name, m] : members_) {
    MemberRow r;
    r.name = name;
    bool v6 = m.addr.find(':') != std::string::npos;
    r.address = (v6 ? "[" + m.addr + "]" : m.addr) + ":" + std::to_string(m.port);
    r.status = to_string(m.status);
    r.tags = m.tags;
    r.incarnation = m.incarnation;
    for (const auto& [k, mp] : mapped_) {
      if (k.second != name) continue;
      std::string state = "?";
      if (const auto* be = snap.find(k.first))
        if (const Server* s = be->find(k.second)) state = server_state(*s);
      if (mp.draining) state = "DRAIN (" + std::to_string(mp.live->inflight.get()) + " in flight)";
      if (mp.held) state += " (held: member failed)";
      r.servers.emplace_back(k.first + "/" + k.second, state);
    }
    rows.push_back(std::move(r));
  }
  return rows;
}

std::string MemberMapper::show_members() const {
  std::ostringstream out;
  out << "# name address status incarnation servers tags\n";
  for (const auto& r : describe()) {
    std::string servers, tags;
    for (const auto& [s, st] : r.servers) {
      if (!servers.empty()) servers += ',';
      std::string state = st;
      for (auto& c : state)
        if (c == ' ') c = '_';
      servers += s + "(" + state + ")";
    }
    for (const auto& [k, v] : r.tags) {
      if (!tags.empty()) tags += ',';
      tags += printable(k) + "=" + printable(v);
    }
    out << (r.name.empty() ? "-" : printable(r.name)) << ' ' << printable(r.address) << ' '
        << r.status << ' ' << r.incarnation << ' ' << (servers.empty() ? "-" : servers) << ' '
        << (tags.empty() ? "-" : tags) << '\n';
  }
  return out.str();
}

std::vector<std::string> MemberMapper::managed() const {
  std::vector<std::string> out;
  for (const auto& [k, mp] : mapped_) out.push_back(k.first + "/" + k.second);
  return out;
}

}  // namespace herd::membership
