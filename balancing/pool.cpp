// balancing/pool.cpp — Pool, PoolReader, PoolWriter and snapshot lookups
// (see pool.h for the contract).
#include "balancing/pool.h"

#include <algorithm>
#include <charconv>
#include <set>

#include "balancing/lb.h"

namespace herd::balancing {

// ---------------------------------------------------------------------------
// Snapshot lookups

void BackendSnapshot::index_servers() {
  by_name_.clear();
  by_cookie_.clear();
  by_id_.clear();
  for (const auto& s : servers) {
    by_name_.emplace(s->name, s.get());
    by_id_.emplace(s->id, s.get());
    if (!s->cookie.empty()) by_cookie_.emplace(s->cookie, s.get());
  }
  indexed_ = true;
}

const Server* BackendSnapshot::find_by_cookie(std::string_view value) const {
  if (value.empty()) return nullptr;
  if (indexed_) {
    auto it = by_cookie_.find(value);
    return it == by_cookie_.end() ? nullptr : it->second;
  }
  for (const auto& s : servers)
    if (s->cookie == value) return s.get();
  return nullptr;
}

const Server* BackendSnapshot::find(std::string_view server_name) const {
  if (indexed_) {
    auto it = by_name_.find(server_name);
    return it == by_name_.end() ? nullptr : it->second;
  }
  for (const auto& s : servers)
    if (s->name == server_name) return s.get();
  return nullptr;
}

const Server* BackendSnapshot::find_id(int sid) const {
  if (indexed_) {
    auto it = by_id_.find(sid);
    return it == by_id_.end() ? nullptr : it->second;
  }
  for (const auto& s : servers)
    if (s->id == sid) return s.get();
  return nullptr;
}

int BackendSnapshot::usable_weight() const {
  int act = 0, bck = 0;
  const Server* first_backup = nullptr;
  for (const auto& s : servers) {
    if (!s->usable()) continue;
    if (s->backup) {
      bck += s->scaled_weight();
      if (!first_backup) first_backup = s.get();
    } else {
      act += s->scaled_weight();
    }
  }
  // haproxy's tot_weight in the user's unit, rounded up (slowstart ramps
  // make it a fraction).
  constexpr int k = Server::kWeightScale;
  if (act > 0) return (act + k - 1) / k;
  if (!allbackups && first_backup) return first_backup->effective_weight();
  return (bck + k - 1) / k;
}

int BackendSnapshot::usable_active() const {
  return static_cast<int>(std::count_if(servers.begin(), servers.end(),
                                        [](const auto& s) { return !s->backup && s->usable(); }));
}

int BackendSnapshot::usable_backup() const {
  return static_cast<int>(std::count_if(servers.begin(), servers.end(),
                                        [](const auto& s) { return s->backup && s->usable(); }));
}

const BackendSnapshot* PoolSnapshot::find(std::string_view name) const {
  for (const auto& b : backends)
    if (b->name == name) return b.get();
  return nullptr;
}

bool is_hash_algo(BalanceAlgo algo) {
  return algo == BalanceAlgo::Source || algo == BalanceAlgo::Uri || algo == BalanceAlgo::UrlParam ||
         algo == BalanceAlgo::Hdr;
}

bool is_static_algo(BalanceAlgo algo, bool consistent) {
  return algo == BalanceAlgo::StaticRR || (is_hash_algo(algo) && !consistent);
}

// ---------------------------------------------------------------------------
// Pool and PoolReader

Pool::Pool() : snap_(std::make_shared<const PoolSnapshot>()) {}

std::shared_ptr<const PoolSnapshot> Pool::current() const {
  std::lock_guard<std::mutex> lock(mu_);
  return snap_;
}

void Pool::publish(std::shared_ptr<const PoolSnapshot> snap) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    snap_ = snap;
    version_.store(snap->version, std::memory_order_release);
  }
  for (auto& cb : listeners_) cb(*snap);
}

void Pool::on_publish(std::function<void(const PoolSnapshot&)> cb) {
  listeners_.push_back(std::move(cb));
}

void PoolReader::refresh() {
  std::shared_ptr<const PoolSnapshot> snap = pool_.current();
  seen_ = snap->version;
  cached_ = std::move(snap);
}

// ---------------------------------------------------------------------------
// PoolWriter

namespace {

constexpr const char* kNoBackend = "No such backend.";
constexpr const char* kNoServer = "No such server.";
constexpr const char* kDupServer = "Already exists a server with the same name in backend.";
constexpr const char* kBadAbsWeight = "Absolute weight can only be between 0 and 256 inclusive.";
constexpr const char* kStaticWeight =
    "Backend is using a static LB algorithm and only accepts weights '0%' and '100%'.";

// The state classes whose changes move lastchg.
struct StateClass {
  bool up, maint, drain, usable;
  bool operator==(const StateClass&) const = default;
};
StateClass state_class(const Server& s) {
  return {s.is_up(), s.in_maint(), s.draining(), s.usable()};
}

}  // namespace

struct PoolWriter::Impl {
  struct Stage {
    std::string name;
    int id = 0;
    BalanceAlgo algo = BalanceAlgo::RoundRobin;
    bool allbackups = false;
    const config::Proxy* config = nullptr;
    std::vector<std::shared_ptr<const Server>> servers;  // sid order
    std::shared_ptr<BackendLive> live;
    std::unique_ptr<LbState> lb_state;
    std::shared_ptr<const BackendSnapshot> published;
    bool dirty = true;
  };
  std::vector<Stage> stages;
  std::function<int64_t()> now_ms = lb_now_ms;  // slowstart's clock (set_clock())
  uint64_t version = 0;
  std::shared_ptr<const PoolSnapshot> published;
  std::vector<PoolChange> changes;  // staged, reported after the next publication
  std::vector<std::pair<int, ChangeFn>> subscribers;
  int next_subscriber = 1;
  bool notifying = false;

  void record(PoolChange::Kind k, std::string_view backend, std::string_view server) {
    changes.push_back({k, std::string(backend), std::string(server)});
  }
  // Reports staged changes to every subscriber; changes that subscribers
  // make meanwhile are reported in a following round, never re-entrantly.
  void notify() {
    if (notifying) return;
    notifying = true;
    while (!changes.empty()) {
      std::vector<PoolChange> batch;
      batch.swap(changes);
      auto subs = subscribers;  // a subscriber may (un)subscribe
      for (auto& [id, fn] : subs) fn(batch);
    }
    notifying = false;
  }

  Stage* find(std::string_view name) {
    for (auto& st : stages)
      if (st.name == name) return &st;
    return nullptr;
  }
  static std::shared_ptr<const Server>* find_server(Stage& st, std::string_view name) {
    for (auto& s : st.servers)
      if (s->name == name) return &s;
    return nullptr;
  }

  std::shared_ptr<const BackendSnapshot> build(Stage& st) {
    auto be = std::make_shared<BackendSnapshot>();
    be->name = st.name;
    be->id = st.id;
    be->algo = st.algo;
    be->allbackups = st.allbackups;
    be->config = st.config;
    be->servers = st.servers;
    be->live = st.live;
    be->index_servers();
    const uint64_t cursor_now = st.live->cursor.load(std::memory_order_acquire);
    be->lb = build_lb_index(st.algo, *be, *st.lb_state, cursor_now);
    be->cursor_base = cursor_now;
    bookkeeping(st, *be);
    return be;
  }

  // haproxy's server_recalc_eweight() at `now`: the weight factor w (dynamic
  // algorithms) and the maxconn ratio from the whole seconds since the ramp
  // began (haproxy's warm-up task runs each second after the server came
  // UP); the ramp ends (full throttle) once slowstart seconds passed.
  static void ramp_values(Server& s, bool dynamic, int64_t now) {
    const int64_t elapsed = now < s.ramp_start_ms ? -1 : (now - s.ramp_start_ms) / 1000;
    if (s.slowstart_s <= 0 || elapsed < 0 || elapsed >= s.slowstart_s) {
      s.ramp_start_ms = -1;
      s.ramp_w = Server::kWeightScale;
      s.ramp_pct = 100;
      return;
    }
    s.ramp_w =
        dynamic ? static_cast<int>((Server::kWeightScale * elapsed + s.slowstart_s) / s.slowstart_s)
                : Server::kWeightScale;
    s.ramp_pct = static_cast<int>(100 * elapsed / s.slowstart_s);
  }
  static bool dynamic_algo(const Stage& st) {
    return !is_static_algo(st.algo, st.config && st.config->hash_type.consistent);
  }

  // Slowstart: a server with `slowstart` that comes UP in this commit (out
  // of MAINT or DOWN, or added UP after the start) begins its ramp now; one
  // that goes down leaves it. Before the stage is built.
  void ramp_transitions(Stage& st) {
    if (!st.published) return;  // servers UP at startup run at full weight, as in haproxy
    std::unordered_map<const ServerLive*, const Server*> before;
    for (const auto& o : st.published->servers) before.emplace(o->live.get(), o.get());
    const int64_t now = now_ms();
    for (auto& sp : st.servers) {
      const Server& s = *sp;
      auto it = before.find(s.live.get());
      const Server* was = it == before.end() ? nullptr : it->second;
      const bool start = s.slowstart_s > 0 && s.is_up() && (!was || !was->is_up());
      const bool stop = s.ramp_start_ms >= 0 && !s.is_up();
      if (!start && !stop) continue;
      auto copy = std::make_shared<Server>(s);
      copy->ramp_start_ms = now;
      if (stop) copy->slowstart_s = 0;  // ramp_values() resets
      ramp_values(*copy, dynamic_algo(st), now);
      copy->slowstart_s = s.slowstart_s;
      sp = std::move(copy);
    }
  }

  // Advances every running ramp to `now`; true when one changed.
  bool ramp_tick() {
    const int64_t now = now_ms();
    bool changed = false;
    for (auto& st : stages) {
      for (auto& sp : st.servers) {
        if (sp->ramp_start_ms < 0) continue;
        Server next = *sp;
        ramp_values(next, dynamic_algo(st), now);
        if (next.ramp_w == sp->ramp_w && next.ramp_pct == sp->ramp_pct &&
            next.ramp_start_ms == sp->ramp_start_ms)
          continue;
        record(PoolChange::Kind::Weight, st.name, sp->name);
        sp = std::make_shared<const Server>(std::move(next));
        st.dirty = true;
        changed = true;
      }
    }
    return changed;
  }
  // Milliseconds until the next step of a running ramp, -1 when none runs.
  int64_t next_ramp_step() const {
    const int64_t now = now_ms();
    int64_t next = -1;
    for (const auto& st : stages)
      for (const auto& sp : st.servers) {
        if (sp->ramp_start_ms < 0) continue;
        const int64_t in = 1000 - (now - sp->ramp_start_ms) % 1000;
        if (next < 0 || in < next) next = in;
      }
    return next;
  }

  // lastchg/downtime of servers and backend, on the control thread.
  static void bookkeeping(Stage& st, const BackendSnapshot& now_be) {
    const auto now = std::chrono::steady_clock::now();
    if (st.published) {
      for (const auto& s : now_be.servers) {
        const Server* before = nullptr;
        for (const auto& o : st.published->servers)
          if (o->live == s->live) before = o.get();
        if (!before || state_class(*before) == state_class(*s)) continue;
        if (!before->is_up() && s->is_up()) s->live->downtime += now - s->live->last_change;
        s->live->last_change = now;
      }
      const bool was = st.published->usable_active() + st.published->usable_backup() > 0;
      const bool is = now_be.usable_active() + now_be.usable_backup() > 0;
      if (was != is) st.live->last_change = now;
    }
  }
};

PoolWriter::PoolWriter(Pool& pool, const config::Config& cfg)
    : pool_(pool), impl_(std::make_unique<Impl>()) {
  for (const auto& px : cfg.proxies) {
    if (!px.has_backend()) continue;
    Impl::Stage st;
    st.name = px.name;
    st.id = px.id;
    st.algo = px.balance.algo;
    st.allbackups = px.allbackups;
    st.config = &px;
    st.live = std::make_shared<BackendLive>();
    st.lb_state = make_lb_state(st.algo);
    int next_id = 1;
    for (const auto& cs : px.servers) {
      auto s = std::make_shared<Server>(Server::from_line(cs));
      s->id = cs.id > 0 ? cs.id : next_id;
      next_id = std::max(next_id, s->id) + 1;
      if (!Endpoint::parse(cs.addr.ip, cs.addr.port, s->addr)) {
        s->addr.ip = cs.addr.ip;
        s->addr.port = cs.addr.port;
      }
      s->origin = Origin::Config;
      s->admin = cs.disabled ? (kAdminConfigMaint | kAdminForcedMaint) : 0;
      // `init-addr none` without an address: in maintenance until DNS gives one.
      if (cs.no_initial_addr) {
        s->admin |= kAdminResolveMaint;
        s->addr = Endpoint{};
        s->addr.port = cs.addr.port;
      }
      s->op = OpState::Running;
      // haproxy 2.6's check health (`show servers state`): rise at start,
      // with or without checks; 0 for a `disabled` server.
      s->health = cs.disabled ? 0 : cs.rise;
      s->live = std::make_shared<ServerLive>();
      s->live->health.health = s->health;
      s->fullconn = px.fullconn;  // `minconn`'s dynamic limit (server.h)
      s->be_conns = &st.live->inflight;
      st.servers.push_back(std::move(s));
    }
    std::stable_sort(st.servers.begin(), st.servers.end(),
                     [](const auto& a, const auto& b) { return a->id < b->id; });
    impl_->stages.push_back(std::move(st));
  }
  Transaction(*this).commit();
}

PoolWriter::~PoolWriter() = default;

const PoolSnapshot& PoolWriter::staged() const { return *impl_->published; }

PoolWriter::Transaction::Transaction(PoolWriter& w) : w_(w) {}

PoolWriter::Transaction::~Transaction() {
  if (!committed_) commit();
}

void PoolWriter::Transaction::commit() {
  committed_ = true;
  Impl& im = *w_.impl_;
  bool any = !im.published;
  for (auto& st : im.stages) any = any || st.dirty;
  if (!any) return;
  auto snap = std::make_shared<PoolSnapshot>();
  snap->version = ++im.version;
  for (auto& st : im.stages) {
    if (st.dirty || !st.published) {
      im.ramp_transitions(st);
      st.published = im.build(st);
      st.dirty = false;
    }
    snap->backends.push_back(st.published);
  }
  im.published = snap;
  w_.pool_.publish(std::move(snap));
  committed_ = false;  // the transaction may be reused for more edits
  im.notify();
}

int64_t PoolWriter::tick_slowstart() {
  if (impl_->ramp_tick()) Transaction(*this).commit();
  return impl_->next_ramp_step();
}

void PoolWriter::set_clock(std::function<int64_t()> now_ms) { impl_->now_ms = std::move(now_ms); }

int PoolWriter::subscribe(ChangeFn fn) {
  const int id = impl_->next_subscriber++;
  impl_->subscribers.emplace_back(id, std::move(fn));
  return id;
}

void PoolWriter::unsubscribe(int id) {
  std::erase_if(impl_->subscribers, [id](const auto& s) { return s.first == id; });
}

const char* to_string(PoolChange::Kind k) {
  switch (k) {
    case PoolChange::Kind::Added:
      return "added";
    case PoolChange::Kind::Removed:
      return "removed";
    case PoolChange::Kind::Admin:
      return "admin";
    case PoolChange::Kind::Operational:
      return "operational";
    case PoolChange::Kind::Weight:
      return "weight";
    case PoolChange::Kind::Address:
      return "address";
    case PoolChange::Kind::CheckEnabled:
      return "check-enabled";
    case PoolChange::Kind::Updated:
      return "updated";
  }
  return "?";
}

PoolWriter::Transaction::Result PoolWriter::Transaction::update(
    std::string_view backend, std::string_view server, const std::function<void(Server&)>& edit,
    PoolChange::Kind kind) {
  return edit_server(kind, backend, server, edit);
}

PoolWriter::Transaction::Result PoolWriter::Transaction::edit_server(
    PoolChange::Kind kind, std::string_view backend, std::string_view server,
    const std::function<void(Server&)>& edit) {
  Impl::Stage* st = w_.impl_->find(backend);
  if (!st) return kNoBackend;
  auto* slot = Impl::find_server(*st, server);
  if (!slot) return kNoServer;
  auto copy = std::make_shared<Server>(**slot);
  edit(*copy);
  // Identity is not editable.
  copy->id = (*slot)->id;
  copy->name = (*slot)->name;
  copy->live = (*slot)->live;
  *slot = std::move(copy);
  st->dirty = true;
  w_.impl_->record(kind, backend, server);
  return std::nullopt;
}

PoolWriter::Transaction::Result PoolWriter::Transaction::set_admin(std::string_view backend,
                                                                   std::string_view server,
                                                                   uint32_t set_flags,
                                                                   uint32_t clear_flags) {
  return edit_server(PoolChange::Kind::Admin, backend, server,
                     [&](Server& s) { s.admin = (s.admin & ~clear_flags) | set_flags; });
}

PoolWriter::Transaction::Result PoolWriter::Transaction::set_op(std::string_view backend,
                                                                std::string_view server, OpState op,
                                                                int health) {
  return edit_server(PoolChange::Kind::Operational, backend, server, [&](Server& s) {
    s.op = op;
    s.health = health;
  });
}

PoolWriter::Transaction::Result PoolWriter::Transaction::set_weight(std::string_view backend,
                                                                    std::string_view server,
                                                                    int weight) {
  Impl::Stage* st = w_.impl_->find(backend);
  if (!st) return kNoBackend;
  auto* slot = Impl::find_server(*st, server);
  if (!slot) return kNoServer;
  if (weight < 0 || weight > 256) return kBadAbsWeight;
  if (weight != 0 && weight != (*slot)->initial_weight &&
      is_static_algo(st->algo, st->config && st->config->hash_type.consistent))
    return kStaticWeight;
  return edit_server(PoolChange::Kind::Weight, backend, server,
                     [&](Server& s) { s.weight = weight; });
}

PoolWriter::Transaction::Result PoolWriter::Transaction::set_weight_text(std::string_view backend,
                                                                         std::string_view server,
                                                                         std::string_view text) {
  Impl::Stage* st = w_.impl_->find(backend);
  if (!st) return kNoBackend;
  auto* slot = Impl::find_server(*st, server);
  if (!slot) return kNoServer;
  if (text.empty()) return std::string("Require <weight> or <weight%>.");
  long w = 0;
  const char* first = text.data();
  const char* last = text.data() + text.size();
  if (*first == '+') ++first;
  auto [end, ec] = std::from_chars(first, last, w);
  if (ec != std::errc() || end == text.data())
    return std::string("Empty weight string empty or preceded by garbage");
  if (end + 1 == last && *end == '%') {
    if (w < 0) return std::string("Relative weight must be positive.");
    w = std::min<long>(w, 25600);
    w = static_cast<long>((*slot)->initial_weight) * w / 100;
    w = std::min<long>(w, 256);
  } else if (w < 0 || w > 256) {
    return kBadAbsWeight;
  } else if (end != last) {
    return std::string("Trailing garbage in weight string");
  }
  return set_weight(backend, server, static_cast<int>(w));
}

PoolWriter::Transaction::Result PoolWriter::Transaction::set_addr(std::string_view backend,
                                                                  std::string_view server,
                                                                  const Endpoint& addr) {
  return edit_server(PoolChange::Kind::Address, backend, server, [&](Server& s) { s.addr = addr; });
}

PoolWriter::Transaction::Result PoolWriter::Transaction::set_check_enabled(std::string_view backend,
                                                                           std::string_view server,
                                                                           bool on) {
  return edit_server(PoolChange::Kind::CheckEnabled, backend, server,
                     [&](Server& s) { s.check_enabled = on; });
}

PoolWriter::Transaction::Result PoolWriter::Transaction::add_server(std::string_view backend,
                                                                    Server s) {
  Impl::Stage* st = w_.impl_->find(backend);
  if (!st) return kNoBackend;
  if (Impl::find_server(*st, s.name)) return kDupServer;
  std::set<int> used;
  for (const auto& o : st->servers) used.insert(o->id);
  if (s.id <= 0 || used.count(s.id)) {
    s.id = 1;
    while (used.count(s.id)) ++s.id;
  }
  if (!s.live) s.live = std::make_shared<ServerLive>();
  // A member's server ramps up with the backend's default-server slowstart.
  if (s.origin == Origin::Member && s.slowstart_s == 0 && st->config)
    s.slowstart_s = static_cast<int>(st->config->default_slowstart_ms / 1000);
  auto ptr = std::make_shared<const Server>(std::move(s));
  auto pos = std::upper_bound(st->servers.begin(), st->servers.end(), ptr->id,
                              [](int id, const auto& o) { return id < o->id; });
  w_.impl_->record(PoolChange::Kind::Added, backend, ptr->name);
  st->servers.insert(pos, std::move(ptr));
  st->dirty = true;
  return std::nullopt;
}

PoolWriter::Transaction::Result PoolWriter::Transaction::remove_server(std::string_view backend,
                                                                       std::string_view server) {
  Impl::Stage* st = w_.impl_->find(backend);
  if (!st) return kNoBackend;
  auto* slot = Impl::find_server(*st, server);
  if (!slot) return kNoServer;
  w_.impl_->record(PoolChange::Kind::Removed, backend, server);
  st->servers.erase(st->servers.begin() + (slot - st->servers.data()));
  st->dirty = true;
  return std::nullopt;
}

}  // namespace herd::balancing
