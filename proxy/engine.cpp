// proxy/engine.cpp — the backend-neutral part of the engine: routing tables,
// the choice of I/O backend, limits, log formatting. See engine.h; the
// workers themselves are in workers.cpp (one copy per I/O backend).
#include "proxy/engine.h"

#include <arpa/inet.h>
#include <liburing.h>
#include <sys/resource.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <thread>

#include "proxy/io_engine.h"
#include "proxy/rules.h"

namespace herd::proxy {

struct Engine::Impl {
  Shared shared;
  IoBackend backend;
  std::unique_ptr<IoEngine> io;
  Impl(const config::Config& cfg, balancing::Pool& pool, balancing::ProcessLive& process, Hooks h,
       IoBackend b)
      : shared{cfg, pool, process, std::move(h), {}, {}, {}, 0, {0}, {false}, {}}, backend(b) {}
};

const char* to_string(IoBackend b) { return b == IoBackend::IoUring ? "io_uring" : "epoll"; }

std::string io_uring_unavailable() {
  io_uring ring;
  // The same ring size a worker asks for, so a memlock limit shows here too.
  int rc = io_uring_queue_init(16384, &ring, 0);
  if (rc < 0) return std::strerror(-rc);
  io_uring_queue_exit(&ring);
  return "";
}

}  // namespace herd::proxy

// Asio's io_uring backend creates its rings with no setup flags; the io_uring
// copy of the workers is compiled with io_uring_queue_init renamed to this
// (proxy/CMakeLists.txt), which asks for cooperative task running first:
// completions are then run when the worker next enters the kernel instead of
// interrupting it (TWA_SIGNAL). Kernels before 5.19 reject the flag (EINVAL)
// and get Asio's default.
extern "C" int herd_io_uring_queue_init(unsigned entries, struct io_uring* ring, unsigned flags) {
  io_uring_params p{};
  p.flags = flags | IORING_SETUP_COOP_TASKRUN;
  int rc = io_uring_queue_init_params(entries, ring, &p);
  if (rc != -EINVAL) return rc;
  p = io_uring_params{};
  p.flags = flags;
  return io_uring_queue_init_params(entries, ring, &p);
}

namespace herd::proxy {

Engine::Engine(const config::Config& cfg, balancing::Pool& pool, balancing::ProcessLive& process,
               Hooks hooks, IoBackend backend)
    : impl_(std::make_unique<Impl>(cfg, pool, process, std::move(hooks), backend)) {
  auto& sh = impl_->shared;
  auto snap = pool.current();
  // Backends keep their index in every snapshot (backends are fixed at start-up).
  for (const auto& be : snap->backends) {
    sh.backend_cfg.push_back(cfg.find_backend(be->name));
    sh.queues.push_back(std::make_unique<BackendQueue>());
  }
  auto backend_index = [&](const std::string& name) -> int {
    for (size_t i = 0; i < snap->backends.size(); ++i)
      if (snap->backends[i]->name == name) return static_cast<int>(i);
    return -1;
  };
  for (const auto& px : cfg.proxies) {
    if (!px.has_frontend()) continue;
    FrontendRt fe;
    fe.cfg = &px;
    fe.live = process.frontend(px.name);
    if (!fe.live) {
      auto l = std::make_unique<balancing::FrontendLive>();
      l->name = px.name;
      l->id = px.id;
      l->maxconn = px.maxconn;
      fe.live = l.get();
      process.frontends.push_back(std::move(l));
    }
    fe.default_backend = px.kind == config::Proxy::Kind::Listen && px.default_backend.empty()
                             ? backend_index(px.name)
                             : backend_index(px.default_backend);
    for (const auto& ub : px.use_backends) fe.routes.push_back({backend_index(ub.backend), &ub});
    fe.close_client = px.conn_mode == config::HttpConnMode::Close;
    fe.tcp = px.mode == config::Mode::Tcp;
    fe.logs = sh.hooks.log && sh.hooks.logs_requests && sh.hooks.logs_requests(px);
    sh.frontends.push_back(std::move(fe));
  }
  sh.maxconn = effective_maxconn(cfg);
  unsigned n = cfg.global.nbthread > 0 ? static_cast<unsigned>(cfg.global.nbthread)
                                       : std::max(1u, std::thread::hardware_concurrency());
  impl_->io = backend == IoBackend::IoUring ? make_uring_engine(sh, n) : make_epoll_engine(sh, n);
}

Engine::~Engine() {
  hard_stop();
  join();
}

void Engine::bind(const Inherit& inherit) { impl_->io->bind(inherit); }
std::vector<int> Engine::listener_fds() const { return impl_->io->listener_fds(); }
void Engine::set_handed_over() { impl_->shared.handed_over = true; }
void Engine::start() { impl_->io->start(); }
void Engine::soft_stop() { impl_->io->soft_stop(); }
void Engine::abort_sessions() {
  if (impl_->io) impl_->io->abort_sessions();
}
void Engine::hard_stop() {
  if (impl_->io) impl_->io->hard_stop();
}
void Engine::join() {
  if (impl_->io) impl_->io->join();
}

int Engine::effective_maxconn(const config::Config& cfg) {
  if (cfg.global.maxconn > 0) return cfg.global.maxconn;
  rlimit rl{};
  getrlimit(RLIMIT_NOFILE, &rl);
  rlim_t fds = rl.rlim_cur == RLIM_INFINITY ? 1048576 : rl.rlim_cur;
  return static_cast<int>(std::max<rlim_t>(100, (fds - 100) / 2));
}

unsigned Engine::threads() const { return impl_->io->threads(); }

void Engine::on_pool_changes(const std::vector<balancing::PoolChange>& changes) {
  using Kind = balancing::PoolChange::Kind;
  auto& sh = impl_->shared;
  std::shared_ptr<const balancing::PoolSnapshot> snap;
  for (const auto& ch : changes) {
    if (ch.kind == Kind::Removed || ch.kind == Kind::Address || ch.kind == Kind::CheckEnabled)
      continue;
    if (!snap) snap = sh.pool.current();
    // Backends keep their index in every snapshot (fixed at start-up).
    for (size_t i = 0; i < snap->backends.size() && i < sh.queues.size(); ++i) {
      const balancing::BackendSnapshot& be = *snap->backends[i];
      if (be.name != ch.backend) continue;
      BackendQueue& q = *sh.queues[i];
      const balancing::Server* s = be.find(ch.server);
      if (s && ch.kind == Kind::Operational && impl_->io) {
        // on-marked-down: its sessions go; on-marked-up: the backups'.
        if (s->op == balancing::OpState::Stopped && s->shutdown_on_down)
          impl_->io->kill_server_sessions(s->live.get(), 'D');
        if (s->op == balancing::OpState::Running && !s->backup && s->shutdown_backup_on_up)
          for (const auto& b : be.servers)
            if (b->backup) impl_->io->kill_server_sessions(b->live.get(), 'U');
      }
      if (q.has_waiters() && s && s->is_up())
        q.grant_free(
            s->live.get(), s->usable(), [s] { return s->take_slot(); },
            [s] { s->live->inflight.dec(); });
      break;
    }
  }
}

IoBackend Engine::io_backend() const { return impl_->backend; }

std::string log_accept_date() { return log_accept_date(std::chrono::system_clock::now()); }

std::string log_accept_date(std::chrono::system_clock::time_point now) {
  std::time_t t = std::chrono::system_clock::to_time_t(now);
  int ms = static_cast<int>(
      std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000);
  std::tm tm{};
  localtime_r(&t, &tm);
  char buf[64];
  size_t n = std::strftime(buf, sizeof buf, "%d/%b/%Y:%H:%M:%S", &tm);
  std::snprintf(buf + n, sizeof buf - n, ".%03d", ms);
  return buf;
}

namespace {

// "<client> [<accept date>] <frontend> <backend>/<server> ": both formats start so.
void append_log_head(std::string& s, const LogRecord& r) {
  s += r.client;
  s += " [";
  s += r.accept_date;
  s += "] ";
  s += r.frontend;
  s += ' ';
  s += r.backend;
  s += '/';
  s += r.server;
  s += ' ';
}

// "<ac>/<fc>/<bc>/<sc>/<rc> <sq>/<bq>": connection counts and queues.
void append_log_counts(std::string& s, const LogRecord& r) {
  s += std::to_string(r.actconn) + '/' + std::to_string(r.feconn) + '/' + std::to_string(r.beconn) +
       '/' + std::to_string(r.srvconn) + '/' + std::to_string(r.retries);
  s += ' ';
  s += std::to_string(r.srv_queue) + '/' + std::to_string(r.be_queue);
}

}  // namespace

std::string format_httplog(const LogRecord& r, const config::Proxy* fe) {
  std::string s;
  s.reserve(256);
  append_log_head(s, r);
  s += std::to_string(r.tr) + '/' + std::to_string(r.tw) + '/' + std::to_string(r.tc) + '/' +
       std::to_string(r.tres) + '/' + std::to_string(r.ta);
  s += ' ';
  s += std::to_string(r.status);
  s += ' ';
  s += std::to_string(r.bytes_out);
  s += " - - ";
  s.append(r.term, 4);
  s += ' ';
  append_log_counts(s, r);
  if (fe) {  // the capture slots, empty: " {|}" for two
    for (const auto* caps : {&fe->req_captures, &fe->res_captures}) {
      if (caps->empty()) continue;
      s += " {";
      s.append(caps->size() - 1, '|');
      s += '}';
    }
  }
  s += " \"";
  s += r.request_line;
  s += '"';
  return s;
}

uint64_t next_request_id() {
  static std::atomic<uint64_t> counter{0};
  return counter.fetch_add(1, std::memory_order_relaxed);
}

namespace {

// haproxy's url_encode_map (%r, %HU...): '"', '#', controls and bytes
// >= 127 as "#XX"; http_encode_map (unique-id samples): controls but HTAB,
// and 0x7f, as "%XX".
bool url_encoded(unsigned char c) { return c < 32 || c >= 127 || c == '"' || c == '#'; }
bool http_encoded(unsigned char c) { return (c < 32 && c != '\t') || c == 0x7f; }

void append_hex_byte(std::string& s, char esc, unsigned char c) {
  static const char kHex[] = "0123456789ABCDEF";
  s += esc;
  s += kHex[c >> 4];
  s += kHex[c & 15];
}

// lf_text_len: the value, quoted with Q, '"', '\\' and ']' escaped with E;
// an empty one as "-" when `mandatory` (and not quoted).
void lf_text(std::string& s, std::string_view v, const config::LogFormat::Node& n, bool mandatory) {
  if (n.quote) s += '"';
  if (!v.empty()) {
    for (char c : v) {
      if (n.escape && (c == '"' || c == '\\' || c == ']')) s += '\\';
      s += c;
    }
  } else if (mandatory && !n.quote) {
    s += '-';
  }
  if (n.quote) s += '"';
}

// lf_encode_chunk: `v` with the bytes `map` selects as <esc>XX.
template <typename Map>
void lf_encode(std::string& s, std::string_view v, char esc, Map map,
               const config::LogFormat::Node& n) {
  for (char c : v) {
    auto u = static_cast<unsigned char>(c);
    if (map(u))
      append_hex_byte(s, esc, u);
    else if (n.escape && (c == '"' || c == '\\' || c == ']'))
      (s += '\\') += c;
    else
      s += c;
  }
}

void lf_ip(std::string& s, const std::string& ip, const config::LogFormat::Node& n,
           bool mandatory) {
  if (ip.empty()) return lf_text(s, "", n, mandatory);
  if (!n.hex) return lf_text(s, ip, n, mandatory);
  unsigned char a[16];
  char buf[40];
  if (::inet_pton(AF_INET, ip.c_str(), a) == 1) {
    std::snprintf(buf, sizeof buf, "%02X%02X%02X%02X", a[0], a[1], a[2], a[3]);
    s += buf;
  } else if (::inet_pton(AF_INET6, ip.c_str(), a) == 1) {
    for (unsigned char b : a) {
      std::snprintf(buf, sizeof buf, "%02X", b);
      s += buf;
    }
  }
}

void lf_port(std::string& s, const std::string& ip, int port, const config::LogFormat::Node& n,
             bool mandatory) {
  if (ip.empty()) return lf_text(s, "", n, mandatory);
  char buf[16];
  std::snprintf(buf, sizeof buf, n.hex ? "%04X" : "%d", port);
  s += buf;
}

void append_hex_or_dec(std::string& s, unsigned long long v, bool hex) {
  char buf[24];
  std::snprintf(buf, sizeof buf, hex ? "%04llX" : "%llu", v);
  s += buf;
}

std::string log_date_gmt(std::chrono::system_clock::time_point at) {
  std::time_t t = std::chrono::system_clock::to_time_t(at);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, "%d/%b/%Y:%H:%M:%S +0000", &tm);
  return buf;
}

std::string log_date_local(std::chrono::system_clock::time_point at) {
  std::time_t t = std::chrono::system_clock::to_time_t(at);
  std::tm tm{};
  localtime_r(&t, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, "%d/%b/%Y:%H:%M:%S %z", &tm);
  return buf;
}

// The parts of the request line haproxy's %HM, %HU, %HP, %HV take.
struct RequestLine {
  std::string_view method, uri, version;
  bool ok = false;  // at least a method and a URI
};
RequestLine split_request_line(std::string_view line) {
  RequestLine rl;
  auto sp = line.find(' ');
  if (sp == std::string_view::npos) return rl;
  rl.method = line.substr(0, sp);
  auto rest = line.substr(sp);
  while (!rest.empty() && (rest[0] == ' ' || rest[0] == '\t')) rest.remove_prefix(1);
  auto sp2 = rest.find_first_of(" \t");
  rl.uri = rest.substr(0, sp2);
  rest = sp2 == std::string_view::npos ? std::string_view() : rest.substr(sp2);
  while (!rest.empty() && (rest[0] == ' ' || rest[0] == '\t')) rest.remove_prefix(1);
  rl.version = rest.empty() ? std::string_view("HTTP/0.9") : rest;
  rl.ok = true;
  return rl;
}

}  // namespace

std::string format_log(const config::LogFormat& f, const LogRecord& r, const config::Proxy* fe,
                       bool mandatory) {
  using K = config::LogFormat::Kind;
  using SysClock = std::chrono::system_clock;
  std::string s;
  s.reserve(256);
  bool last_space = true;
  size_t sample = 0;
  const bool dated = r.date != SysClock::time_point{};
  const SysClock::time_point tr_at = dated ? r.date : SysClock::now();
  const SysClock::time_point t_at = tr_at - std::chrono::milliseconds(r.ti + r.th);
  const long ta = r.ta;  // active time, from the request
  const long tq = r.tr >= 0 ? r.tr + r.ti + r.th : -1;
  const bool badreq = r.request_line.empty() || r.request_line == "<BADREQ>";
  const RequestLine rl = badreq ? RequestLine{} : split_request_line(r.request_line);
  for (const auto& n : f.nodes) {
    switch (n.kind) {
      case K::Separator:
        if (!last_space) s += ' ';
        last_space = true;
        continue;
      case K::Text:
        s += n.text;
        last_space = false;
        continue;
      case K::Expr: {
        std::string_view v;
        if (sample < r.samples.size()) v = r.samples[sample];
        ++sample;
        if (n.text == "unique-id") v = r.unique_id;
        if (n.text == "fe_name") v = r.frontend;
        if (n.text == "be_name") v = r.backend;
        if (n.text == "srv_name" && !r.server.starts_with('<')) v = r.server;
        if (!mandatory) {  // unique-id-format: %-encoded, never quoted
          lf_encode(s, v, '%', http_encoded, n);
        } else {
          lf_text(s, v, n, mandatory);
        }
        last_space = false;
        continue;
      }
      case K::Var:
        break;
    }
    const std::string& v = n.text;
    const bool was_space = last_space;
    last_space = false;
    auto num = [&](long x) { s += std::to_string(x); };
    auto quoted = [&](auto&& body) {
      if (n.quote) s += '"';
      body();
      if (n.quote) s += '"';
    };
    auto captures = [&](const std::vector<int>& caps, bool list) {
      if (caps.empty()) {  // nothing printed: a following separator stays merged
        last_space = was_space;
        return;
      }
      if (list) {
        for (size_t i = 0; i < caps.size(); ++i) {
          if (i) s += ' ';
          if (n.quote)
            s += "\"\"";
          else
            s += '-';
        }
        return;
      }
      quoted([&] {
        s += '{';
        s.append(caps.size() - 1, '|');
        s += '}';
      });
    };
    if (v == "ci") {
      lf_ip(s, r.client.substr(0, r.client.rfind(':')), n, mandatory);
    } else if (v == "cp") {
      auto colon = r.client.rfind(':');
      lf_port(s, r.client, colon == std::string::npos ? 0 : std::atoi(r.client.c_str() + colon + 1),
              n, mandatory);
    } else if (v == "fi") {
      lf_ip(s, r.fe_ip, n, mandatory);
    } else if (v == "fp") {
      lf_port(s, r.fe_ip, r.fe_port, n, mandatory);
    } else if (v == "bi") {
      lf_ip(s, r.be_ip, n, mandatory);
    } else if (v == "bp") {
      lf_port(s, r.be_ip, r.be_port, n, mandatory);
    } else if (v == "si") {
      lf_ip(s, r.srv_ip, n, mandatory);
    } else if (v == "sp") {
      lf_port(s, r.srv_ip, r.srv_port, n, mandatory);
    } else if (v == "t") {
      s += dated ? log_accept_date(t_at) : r.accept_date;
    } else if (v == "tr") {
      s += dated ? log_accept_date(tr_at) : r.accept_date;
    } else if (v == "T") {
      s += log_date_gmt(t_at);
    } else if (v == "trg") {
      s += log_date_gmt(tr_at);
    } else if (v == "Tl") {
      s += log_date_local(t_at);
    } else if (v == "trl") {
      s += log_date_local(tr_at);
    } else if (v == "Ts") {
      append_hex_or_dec(s, static_cast<unsigned long long>(SysClock::to_time_t(t_at)), n.hex);
    } else if (v == "ms") {
      auto ms =
          std::chrono::duration_cast<std::chrono::milliseconds>(t_at.time_since_epoch()).count() %
          1000;
      char buf[8];
      std::snprintf(buf, sizeof buf, n.hex ? "%02X" : "%03d", static_cast<int>(ms));
      s += buf;
    } else if (v == "f") {
      lf_text(s, r.frontend, n, mandatory);
    } else if (v == "ft") {
      quoted([&] {
        s += r.frontend;
        if (r.ssl) s += '~';
      });
    } else if (v == "b") {
      lf_text(s, r.backend, n, mandatory);
    } else if (v == "s") {
      lf_text(s, r.server, n, mandatory);
    } else if (v == "Th") {
      num(r.th);
    } else if (v == "Ti") {
      num(r.ti);
    } else if (v == "TR") {
      num(r.tr);
    } else if (v == "Tq") {
      num(tq);
    } else if (v == "Tw") {
      num(r.tw);
    } else if (v == "Tc") {
      num(r.tc);
    } else if (v == "Tr") {
      num(r.tres);
    } else if (v == "Td") {
      // Tt - (Tq + Tw + Tc + Tr): the data transfer time.
      long base = r.http ? (r.tres >= 0 && r.tc >= 0 && r.tw >= 0 && tq >= 0
                                ? ta + r.ti + r.th - (tq + r.tw + r.tc + r.tres)
                                : -1)
                         : (r.tc >= 0 && r.tw >= 0 ? ta - (r.tw + r.tc) : -1);
      num(base);
    } else if (v == "Ta") {
      num(ta);
    } else if (v == "Tt") {
      num(ta + r.ti + r.th);
    } else if (v == "Tu") {
      num(ta + r.th);
    } else if (v == "ST") {
      num(r.status);
    } else if (v == "B") {
      s += std::to_string(r.bytes_out);
    } else if (v == "U") {
      s += std::to_string(r.bytes_in);
    } else if (v == "CC" || v == "CS") {
      lf_text(s, "", n, mandatory);  // herd captures no cookie (`capture cookie` is refused)
    } else if (v == "ts") {
      s.append(r.term, 2);
    } else if (v == "tsc") {
      s.append(r.term, 2);
      s.append(r.http ? r.term + 2 : "--", 2);
    } else if (v == "ac") {
      num(r.actconn);
    } else if (v == "fc") {
      num(r.feconn);
    } else if (v == "bc") {
      num(r.beconn);
    } else if (v == "sc") {
      num(r.srvconn);
    } else if (v == "rc") {
      num(r.retries);
    } else if (v == "sq") {
      num(r.srv_queue);
    } else if (v == "bq") {
      num(r.be_queue);
    } else if (v == "hr" || v == "hrl") {
      static const std::vector<int> kNone;
      captures(fe ? fe->req_captures : kNone, v == "hrl");
    } else if (v == "hs" || v == "hsl") {
      static const std::vector<int> kNone;
      captures(fe ? fe->res_captures : kNone, v == "hsl");
    } else if (v == "r") {
      quoted([&] { lf_encode(s, badreq ? "<BADREQ>" : r.request_line, '#', url_encoded, n); });
    } else if (v == "HM" || v == "HU" || v == "HP" || v == "HPO" || v == "HQ" || v == "HV") {
      std::string_view part = "<BADREQ>";
      if (rl.ok) {
        if (v == "HM") part = rl.method;
        if (v == "HU") part = rl.uri;
        if (v == "HP") part = rl.uri.substr(0, rl.uri.find('?'));
        if (v == "HPO") part = request_path(rl.uri);
        if (v == "HV") part = rl.version;
      }
      if (v == "HQ") {
        auto q = r.request_line.find('?');
        part = badreq ? std::string_view("<BADREQ>") : std::string_view();
        if (!badreq && q != std::string::npos) {
          std::string_view rest = std::string_view(r.request_line).substr(q);
          part = rest.substr(0, rest.find_first_of(" \t"));
        }
      }
      quoted([&] { lf_encode(s, part, '#', url_encoded, n); });
    } else if (v == "rt") {
      append_hex_or_dec(s, r.req_id, n.hex);
    } else if (v == "H") {
      char host[256] = "";
      ::gethostname(host, sizeof host - 1);
      lf_text(s, host, n, mandatory);
    } else if (v == "pid") {
      append_hex_or_dec(s, static_cast<unsigned long long>(::getpid()), n.hex);
    } else if (v == "ID") {
      lf_text(s, r.unique_id, n, mandatory);
    } else if (v == "sslc" || v == "sslv") {
      lf_text(s, "", n, mandatory);
    }
  }
  return s;
}

std::string format_tcplog(const LogRecord& r) {
  std::string s;
  s.reserve(160);
  append_log_head(s, r);
  s += std::to_string(r.tw) + '/' + std::to_string(r.tc) + '/' + std::to_string(r.ta);
  s += ' ';
  s += std::to_string(r.bytes_out);
  s += ' ';
  s.append(r.term, 2);
  s += ' ';
  append_log_counts(s, r);
  return s;
}

}  // namespace herd::proxy
