// config/parser.cpp — the file/section driver, post-parse checks and the
// `-c` report. Keywords live in keywords_*.cpp. See parser.h.
#include "config/parser.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <ostream>
#include <sstream>

#include "config/log_format.h"
#include "config/parser_internal.h"

namespace herd::config {
namespace detail {
namespace {

// What a section takes of its defaults' tcp-check rules: all of them when
// the defaults say `option tcp-check` (a proxy's own rules then replace
// them), none otherwise (as HAProxy 2.6 does).
void inherit_tcp_check(TcpCheck& tc) {
  if (!tc.enabled) tc.rules.clear();
  tc.inherited = !tc.rules.empty();
}

bool names_conflict(Proxy::Kind a, Proxy::Kind b) {
  if (a == Proxy::Kind::Listen || b == Proxy::Kind::Listen) return true;
  return a == b;
}

constexpr const char* kMissingTimeouts =
    "'.\n"
    "   | While not properly invalid, you will certainly encounter various problems\n"
    "   | with such a configuration. To fix this, please ensure that all following\n"
    "   | timeouts are set to a non-zero value: 'client', 'connect', 'server'.";

}  // namespace

const char* Parser::kind_name(const Proxy& p) {
  switch (p.kind) {
    case Proxy::Kind::Frontend: return "frontend";
    case Proxy::Kind::Backend: return "backend";
    case Proxy::Kind::Listen: return "proxy";
    case Proxy::Kind::Defaults: return "defaults";
  }
  return "proxy";
}

std::string Parser::where() const { return "[" + file_ + ":" + std::to_string(line_) + "]"; }

void Parser::alert(const std::string& msg) { alert_raw("parsing " + where() + " : " + msg); }
void Parser::warn(const std::string& msg) { warn_raw("parsing " + where() + " : " + msg); }
void Parser::alert_continue(const std::string& msg) {
  res_.diags.push_back({Diagnostic::Level::Alert, "parsing " + where() + " : " + msg});
}
void Parser::notice(const std::string& msg) {
  res_.diags.push_back({Diagnostic::Level::Notice, "parsing " + where() + " : " + msg});
}
void Parser::alert_raw(const std::string& text) {
  res_.diags.push_back({Diagnostic::Level::Alert, text});
  file_has_error_ = true;
  if (abort_on_alert_) aborted_ = true;
}
void Parser::warn_raw(const std::string& text) {
  res_.diags.push_back({Diagnostic::Level::Warning, text});
}

void Parser::parse_file(std::string_view text, const std::string& filename) {
  file_ = filename;
  default_path_.clear();  // HAProxy returns to its starting directory for each file
  line_ = 0;
  file_has_error_ = false;
  section_ = Section::None;
  cur = nullptr;
  cur_extra = nullptr;
  res_.config.files.push_back(filename);
  size_t pos = 0;
  while (pos < text.size() && !aborted_) {
    size_t nl = text.find('\n', pos);
    std::string_view raw = text.substr(pos, nl == std::string_view::npos ? text.npos : nl - pos);
    pos = nl == std::string_view::npos ? text.size() : nl + 1;
    ++line_;
    if (!raw.empty() && raw.back() == '\r') raw.remove_suffix(1);
    TokenizedLine t = tokenize_line(raw, LineContext{file_, line_, section_name_}, opts_.env);
    if (!t.ok()) {
      alert_raw("parsing " + where() + ": " + t.error);
      continue;
    }
    const Words& w = t.words;
    if (w.empty() || w[0].empty()) continue;
    static const char* const kSections[] = {"global",    "defaults", "frontend",   "backend",
                                            "listen",    "userlist", "peers",      "resolvers",
                                            "cache",     "program",  "http-errors", "ring",
                                            "mailers"};
    if (std::find(std::begin(kSections), std::end(kSections), w[0]) != std::end(kSections)) {
      start_section(w);
      continue;
    }
    if (w[0][0] == '.') {
      alert("conditional blocks and directives such as '" + w[0] +
            "' are not supported by herd.");
      continue;
    }
    switch (section_) {
      case Section::None:
        alert_raw("parsing " + where() + ": unknown keyword '" + w[0] + "' out of section.");
        break;
      case Section::Global:
        global_keyword(w);
        break;
      case Section::Defaults:
      case Section::Proxy:
        proxy_keyword(w);
        break;
      case Section::Resolvers:
        resolvers_keyword(w);
        break;
      case Section::Userlist:
        userlist_keyword(w);
        break;
      case Section::Unsupported:
        break;  // the section line already failed
    }
  }
  if (file_has_error_) {
    alert_raw("Error(s) found in configuration file : " + filename);
    parse_error_ = true;
  }
}

void Parser::start_section(const Words& w) {
  const std::string& kw = w[0];
  cur = nullptr;
  cur_extra = nullptr;
  cur_userlist_ = nullptr;
  in_defaults_ = false;
  section_kw_ = kw;
  if (kw == "global") {
    section_ = Section::Global;
    section_name_ = "global";
    if (has(w, 1)) alert("'global' cannot handle unexpected argument '" + w[1] + "'.");
    return;
  }
  if (kw == "frontend" || kw == "backend" || kw == "listen") {
    start_proxy(w, kw == "frontend"  ? Proxy::Kind::Frontend
                   : kw == "backend" ? Proxy::Kind::Backend
                                     : Proxy::Kind::Listen);
    return;
  }
  if (kw == "resolvers") return start_resolvers(w);
  if (kw == "defaults") {
    size_t i = 1;
    std::string name;
    if (has(w, 1) && w[1] != "from") name = w[i++];
    char bad = 0;
    if (!valid_name(name, &bad))
      alert("character '" + std::string(1, bad) + "' is not permitted in 'defaults' name '" + name +
            "'.");
    const DefaultsEntry* base = &builtin_;
    if (arg(w, i) == "from") {
      const std::string& from = arg(w, i + 1);
      const DefaultsEntry* found = nullptr;
      for (const auto& d : defaults_)
        if (d.extra.named_defaults && d.proxy.name == from) found = &d;
      if (found == nullptr) {
        aborted_ = true;
        alert("defaults section '" + from + "' not found for defaults '" + name + "'.");
      }
      else
        base = found;
    }
    defaults_.push_back(*base);
    DefaultsEntry& d = defaults_.back();
    d.proxy.kind = Proxy::Kind::Defaults;
    d.proxy.name = name;
    d.proxy.where = loc();
    d.extra.named_defaults = !name.empty();
    inherit_tcp_check(d.proxy.tcpchk);
    last_defaults_ = &d;
    cur = &d.proxy;
    cur_extra = &d.extra;
    in_defaults_ = true;
    section_ = Section::Defaults;
    section_name_ = name;
    return;
  }
  if (kw == "userlist") return start_userlist(w);
  section_ = Section::Unsupported;
  section_name_ = arg(w, 1);
  alert("'" + kw + "' sections are not supported by herd.");
}

void Parser::start_proxy(const Words& w, Proxy::Kind kind) {
  const std::string& kw = w[0];
  if (!has(w, 1)) {
    aborted_ = true;
    alert("'" + kw + "' expects an <id> argument");
    section_ = Section::Unsupported;
    return;
  }
  const std::string& name = w[1];
  char bad = 0;
  if (!valid_name(name, &bad))
    alert("character '" + std::string(1, bad) + "' is not permitted in '" + kw + "' name '" +
          name + "'.");
  Proxy probe;
  probe.kind = kind;
  for (const auto& p : res_.config.proxies) {
    if (p.name == name && names_conflict(p.kind, kind)) {
      alert_raw("Parsing " + where() + ": " + kind_name(probe) + " '" + name +
                "' has the same name as " + kind_name(p) + " '" + name + "' declared at " +
                p.where.file + ":" + std::to_string(p.where.line) + ".");
      break;
    }
  }
  const DefaultsEntry* base = last_defaults_ != nullptr ? last_defaults_ : &builtin_;
  if (arg(w, 2) == "from") {
    const std::string& from = arg(w, 3);
    const DefaultsEntry* found = nullptr;
    for (const auto& d : defaults_)
      if (d.extra.named_defaults && d.proxy.name == from) found = &d;
    if (found == nullptr) {
      aborted_ = true;
      alert("defaults section '" + from + "' not found for " + kind_name(probe) + " '" + name +
            "'.");
    }
    else
      base = found;
  }
  Proxy p = base->proxy;
  p.kind = kind;
  p.name = name;
  p.id = next_proxy_id_++;
  p.where = loc();
  p.binds.clear();
  p.servers.clear();
  p.acls.clear();
  p.use_backends.clear();
  p.http_request.clear();
  p.http_response.clear();
  p.redirects.clear();
  p.req_captures.clear();
  p.res_captures.clear();
  res_.config.proxies.push_back(std::move(p));
  extras_.push_back(base->extra);
  extras_.back().named_defaults = false;
  extras_.back().unresolved.clear();
  extras_.back().last_rule_final_uncond = false;
  extras_.back().last_response_rule_final_uncond = false;
  extras_.back().has_tcp_check_rules = false;
  extras_.back().connect_set_here = false;
  cur = &res_.config.proxies.back();
  inherit_tcp_check(cur->tcpchk);
  cur_extra = &extras_.back();
  section_ = Section::Proxy;
  section_name_ = name;
  // `listen stats *:1936`: until HAProxy 2.2 the section line could carry
  // the listening address; 2.4 and later refuse it. herd binds it as 2.2 did
  // (never accepted and ignored), with a warning naming the line.
  if (has(w, 2) && w[2] != "from") {
    if (kind == Proxy::Kind::Backend)
      return alert("please use the 'bind' keyword for listening addresses.");
    warn("'" + kw + " " + name + " " + w[2] + "' : the address on the '" + kw +
         "' line is deprecated (HAProxy 2.2 bound it, 2.4 and later refuse it); herd binds "
         "it. Please use 'bind " +
         w[2] + "' in the section instead.");
    proxy_keyword({"bind", w[2]});
    // Nothing may follow the address (`from` came after 2.2 dropped it).
    if (has(w, 3)) alert("'" + kw + " " + name + "' : unexpected argument '" + w[3] + "'.");
  }
}

void Parser::post_checks() {
  auto post_alert = [this](const std::string& text) {
    res_.diags.push_back({Diagnostic::Level::Alert, text});
    res_.fatal = true;
  };
  Config& cfg = res_.config;
  for (const auto& rs : cfg.resolvers)
    if (rs.nameservers.empty())
      res_.diags.push_back({Diagnostic::Level::Warning, "resolvers '" + rs.name + "' [" +
                                                            rs.where.file + ":" +
                                                            std::to_string(rs.where.line) +
                                                            "] has no nameservers configured!"});
  check_userlists();
  for (auto& px : cfg.proxies) {
    for (auto& sv : px.servers) {
      // haproxy: a minconn above maxconn becomes the maxconn.
      if (sv.minconn > sv.maxconn) sv.maxconn = sv.minconn;
      // haproxy then derives fullconn from its frontends' maxconn; herd
      // needs it written.
      // herd cuts the sessions of `mode tcp` backends only.
      if (px.mode == Mode::Http && (sv.shutdown_on_down || sv.shutdown_backup_on_up))
        post_alert("parsing [" + sv.where.file + ":" + std::to_string(sv.where.line) + "] : '" +
                   kind_name(px) + " " + px.name + "/" + sv.name + "' : '" +
                   (sv.shutdown_on_down ? "on-marked-down" : "on-marked-up") +
                   "' in 'mode http' is not supported by herd.");
      if (px.has_backend() && sv.minconn > 0 && sv.minconn < sv.maxconn && px.fullconn == 0)
        post_alert("parsing [" + sv.where.file + ":" + std::to_string(sv.where.line) + "] : '" +
                   kind_name(px) + " " + px.name + "/" + sv.name +
                   "' : 'minconn' without 'fullconn' in the backend is not supported by herd.");
    }
  }
  for (size_t i = 0; i < cfg.proxies.size(); ++i) {
    const Proxy& p = cfg.proxies[i];
    // `timeout tarpit` defaults to `timeout connect`, which a frontend has
    // only from its own section (haproxy copies it from defaults to
    // backends only).
    if (cfg.proxies[i].timeouts.tarpit == 0 && (p.has_backend() || extras_[i].connect_set_here))
      cfg.proxies[i].timeouts.tarpit = p.timeouts.connect;
    if (!p.default_backend.empty() && cfg.find_backend(p.default_backend) == nullptr)
      post_alert("Proxy '" + p.name + "': unable to find required default_backend: '" +
                 p.default_backend + "'.");
    for (const auto& ub : p.use_backends)
      if (cfg.find_backend(ub.backend) == nullptr)
        post_alert("Proxy '" + p.name + "': unable to find required use_backend: '" +
                   ub.backend + "'.");
    if (!p.stats.http_request.empty() && (!p.stats.auth.empty() || p.stats.realm_set))
      post_alert(std::string("proxy '") + p.name +
                 "': stats 'auth'/'realm' and 'http-request' can't be used at the same time.");
    for (const auto& sv : p.servers) {
      if (!sv.resolvers.empty() && !cfg.find_resolvers(sv.resolvers))
        post_alert(std::string(kind_name(p)) + " '" + p.name + "', server '" + sv.name +
                   "': unable to find required resolvers '" + sv.resolvers + "'");
      // haproxy sends the PROXY header on the health checks of such a
      // server too (unless they go to another port or address); herd's
      // checks do not, so it refuses the mix rather than fail the checks.
      if (sv.send_proxy && sv.check && sv.check_port == 0 && sv.check_addr.empty())
        post_alert("parsing [" + sv.where.file + ":" + std::to_string(sv.where.line) + "] : '" +
                   kind_name(p) + " " + p.name + "/" + sv.name +
                   "' : health checks carrying the PROXY protocol header ('send-proxy' with "
                   "'check' on the traffic port) are not supported by herd.");
    }
    for (size_t a = 0; a < p.servers.size(); ++a) {
      for (size_t b = 0; b < a; ++b) {
        if (p.servers[a].name != p.servers[b].name) continue;
        post_alert("parsing [" + p.servers[a].where.file + ":" +
                   std::to_string(p.servers[a].where.line) + "] : " + kind_name(p) + " '" +
                   p.name + "', another server named '" + p.servers[a].name +
                   "' was already defined at line " + std::to_string(p.servers[b].where.line) +
                   ", please use distinct names.");
        break;
      }
    }
    // An HTTP frontend cannot hand its streams to a TCP backend (a TCP
    // frontend may use an HTTP backend: haproxy upgrades the stream).
    auto where_of = [](const Proxy& x) {
      return "(" + x.where.file + ":" + std::to_string(x.where.line) + ")";
    };
    auto mode_mix = [&](const std::string& name, const char* how) {
      const Proxy* b = cfg.find_backend(name);
      if (p.mode != Mode::Http || !b || b->mode == Mode::Http) return;
      post_alert(std::string("http ") + kind_name(p) + " '" + p.name + "' " + where_of(p) +
                 " tries to use incompatible tcp " + kind_name(*b) + " '" + b->name + "' " +
                 where_of(*b) + " " + how + " (see 'mode').");
    };
    if (p.has_frontend()) {
      for (const auto& ub : p.use_backends) mode_mix(ub.backend, "in a 'use_backend' rule");
      if (!p.default_backend.empty()) mode_mix(p.default_backend, "as its default backend");
    }
    if (p.mode == Mode::Tcp) tcp_mode_checks(cfg.proxies[i]);
    const Timeouts& t = p.timeouts;
    if ((p.has_frontend() && t.client == 0) ||
        (p.has_backend() && !p.servers.empty() &&
         (t.connect == 0 || (t.server == 0 && t.tunnel == 0))))
      warn_raw(std::string("missing timeouts for ") + kind_name(p) + " '" + p.name +
               kMissingTimeouts);
    bool any_log = !p.logs.empty() || (p.log_global && !cfg.global.logs.empty());
    parse_formats(cfg.proxies[i], post_alert);
    if (p.has_frontend() && (p.httplog || p.tcplog || p.log_format) && !any_log)
      warn_raw(std::string("log format ignored for ") + kind_name(p) + " '" + p.name +
               "' since it has no log address.");
    if (extras_[i].has_http_check_rules && !p.httpchk.enabled)
      warn_raw(std::string(kind_name(p)) + " '" + p.name +
               "' uses http-check rules without 'option httpchk', so the rules are ignored.");
    if (extras_[i].has_tcp_check_rules && !p.tcpchk.enabled)
      warn_raw(std::string(kind_name(p)) + " '" + p.name +
               "' uses tcp-check rules without 'option tcp-check', so the rules are ignored.");
  }
}

// Compiles the proxy's log-format and unique-id-format now that its mode
// is known (haproxy refuses HTTP-only variables in a TCP proxy). A
// backend's are not used (haproxy uses the frontend's), so not checked.
void Parser::parse_formats(Proxy& p, const std::function<void(const std::string&)>& post_alert) {
  if (!p.has_frontend()) {
    p.log_format.reset();
    return;
  }
  const bool http = p.mode == Mode::Http;
  auto one = [&](std::optional<LogFormat>& f, const char* what) {
    if (!f) return;
    std::string err;
    if (!parse_log_format(f->raw, http, true, &*f, &err)) {
      post_alert("Parsing [" + f->where.file + ":" + std::to_string(f->where.line) +
                 "]: failed to parse " + what + " : " + err + ".");
      f.reset();
    }
  };
  one(p.log_format, "log-format");
  one(p.unique_id_format, "unique-id-format");
}

// What haproxy says and does about HTTP-only settings of a TCP proxy.
void Parser::tcp_mode_checks(Proxy& p) {
  const std::string name = "proxy '" + p.name + "'";
  if (p.cookie.enabled) {
    warn_raw("cookie will be ignored for " + name + " (needs 'mode http').");
    p.cookie.enabled = false;
  }
  if (p.has_backend() &&
      (p.balance.algo == BalanceAlgo::Uri || p.balance.algo == BalanceAlgo::UrlParam ||
       p.balance.algo == BalanceAlgo::Hdr)) {
    warn_raw("Layer 7 hash not possible for " + name +
             " (needs 'mode http'). Falling back to round robin.");
    p.balance.algo = BalanceAlgo::RoundRobin;
  }
  if (p.has_frontend() && p.httplog) {
    warn_raw("parsing [" + p.log_option_where.file + ":" + std::to_string(p.log_option_where.line) +
             "] : 'option httplog' not usable with " + kind_name(p) + " '" + p.name +
             "' (needs 'mode http'). Falling back to 'option tcplog'.");
    p.httplog = false;
    p.tcplog = true;
  }
  if (p.stats.enabled) {
    warn_raw("'stats' statement ignored for " + name + " as it requires HTTP mode.");
    p.stats.enabled = false;
  }
  if (!p.http_request.empty()) {
    warn_raw("'http-request' rules ignored for " + name + " as they require HTTP mode.");
    p.http_request.clear();
  }
  if (!p.http_response.empty()) {
    warn_raw("'http-response' rules ignored for " + name + " as they require HTTP mode.");
    p.http_response.clear();
  }
  if (p.forwardfor.enabled) {
    warn_raw("'option forwardfor' ignored for " + name + " as it requires HTTP mode.");
    p.forwardfor.enabled = false;
  }
  for (auto& s : p.servers) {
    if (s.cookie.empty()) continue;
    warn_raw(name + " : ignoring cookie for server '" + s.name + "' as HTTP mode is disabled.");
    s.cookie.clear();
  }
}

void Parser::resolve_servers() {
  bool failed = false;
  Config& cfg = res_.config;
  for (size_t i = 0; i < cfg.proxies.size(); ++i) {
    Proxy& p = cfg.proxies[i];
    for (const auto& pending : extras_[i].unresolved) {
      Server& s = p.servers[pending.server];
      if (!opts_.resolve_hostnames) continue;
      // `init-addr` methods in order (haproxy's default: last,libc, and
      // none too with `resolvers`). `last` is the server-state file's
      // address, applied after parsing (stats/server_state_file.h) over
      // whatever this gives. A fallback after a failed `libc` warns.
      static const std::vector<std::string> kDefault = {"last", "libc"};
      static const std::vector<std::string> kDefaultDns = {"last", "libc", "none"};
      const auto& methods = !s.init_addr.empty()  ? s.init_addr
                            : s.resolvers.empty() ? kDefault
                                                  : kDefaultDns;
      bool done = false, failed_libc = false;
      auto warn_fallback = [&](const char* what) {
        if (!failed_libc) return;
        res_.diags.push_back(
            {Diagnostic::Level::Warning, "[" + s.where.file + ":" + std::to_string(s.where.line) +
                                             "] : 'server " + p.name + "/" + s.name +
                                             "' : could not resolve address '" + pending.host +
                                             "', " + what + "."});
      };
      for (const auto& m : methods) {
        if (m == "last") continue;
        if (m == "libc") {
          done = resolve_host(pending.host, pending.family, true, &s.addr.ip);
          failed_libc = failed_libc || !done;
        } else if (m == "none") {
          s.addr.ip.clear();
          s.no_initial_addr = true;
          warn_fallback("disabling server");
          done = true;
        } else {
          s.addr.ip = m;
          warn_fallback("falling back to configured address");
          done = true;
        }
        if (done) break;
      }
      if (!done) {
        res_.diags.push_back(
            {Diagnostic::Level::Alert, "[" + s.where.file + ":" + std::to_string(s.where.line) +
                                           "] : 'server " + p.name + "/" + s.name +
                                           "' : could not resolve address '" + pending.host +
                                           "'."});
        failed = true;
      }
    }
  }
  if (failed) {
    res_.diags.push_back({Diagnostic::Level::Alert, "Failed to initialize server(s) addr."});
    res_.fatal = true;
  }
}

ParseResult Parser::finish() {
  if (parse_error_) {
    if (!aborted_)
      res_.diags.push_back({Diagnostic::Level::Alert, "Fatal errors found in configuration."});
    res_.fatal = true;
  } else {
    post_checks();
    if (res_.fatal)
      res_.diags.push_back({Diagnostic::Level::Alert, "Fatal errors found in configuration."});
    else
      resolve_servers();
  }
  if (!res_.fatal && res_.config.global.zero_warning) {
    for (const auto& d : res_.diags) {
      if (d.level != Diagnostic::Level::Warning) continue;
      res_.diags.push_back({Diagnostic::Level::Alert,
                            "Some warnings were found and 'zero-warning' is set. Aborting."});
      res_.fatal = true;
      break;
    }
  }
  for (const auto& p : res_.config.proxies)
    if (p.has_frontend() && !p.binds.empty()) res_.has_listener = true;
  if (res_.config.global.node.empty()) {
    char host[256] = {};
    if (gethostname(host, sizeof host - 1) == 0) res_.config.global.node = host;
  }
  return std::move(res_);
}

}  // namespace detail

std::string detail::Parser::config_relative(const std::string& path) const {
  if (default_path_.empty() || path.empty() || path[0] == '/') return path;
  return default_path_ + "/" + path;
}

ParseResult parse_text(std::string_view text, const std::string& filename) {
  return parse_text(text, filename, ParseOptions{});
}

ParseResult parse_text(std::string_view text, const std::string& filename,
                       const ParseOptions& opts) {
  detail::Parser p(opts);
  p.parse_file(text, filename);
  return p.finish();
}

ParseResult parse_paths(const std::vector<std::string>& paths) {
  return parse_paths(paths, ParseOptions{});
}

ParseResult parse_paths(const std::vector<std::string>& paths, const ParseOptions& opts) {
  std::vector<std::string> files;
  for (const auto& path : paths) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) {
      ParseResult r;
      r.diags.push_back({Diagnostic::Level::Alert, "Cannot open configuration file/directory " +
                                                       path + " : " + std::strerror(errno)});
      r.fatal = true;
      return r;
    }
    if (!S_ISDIR(st.st_mode)) {
      files.push_back(path);
      continue;
    }
    std::vector<std::string> names;
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator(path, ec)) {
      std::string n = e.path().filename().string();
      if (n.size() > 4 && n.ends_with(".cfg") && e.is_regular_file(ec)) names.push_back(n);
    }
    std::sort(names.begin(), names.end());
    std::string dir = path;
    if (!dir.ends_with("/")) dir += '/';
    for (const auto& n : names) files.push_back(dir + n);
  }
  detail::Parser p(opts);
  for (const auto& f : files) {
    if (p.aborted()) break;
    std::ifstream in(f, std::ios::binary);
    if (!in) {
      ParseResult r;
      r.diags.push_back({Diagnostic::Level::Alert, "Cannot open configuration file/directory " +
                                                       f + " : " + std::strerror(errno)});
      r.fatal = true;
      return r;
    }
    std::stringstream ss;
    ss << in.rdbuf();
    p.parse_file(ss.str(), f);
  }
  return p.finish();
}

int check_exit_code(const ParseResult& r) {
  if (r.fatal) return 1;
  return r.has_listener ? 0 : 2;
}

std::string format_diagnostic(const Diagnostic& d, int pid) {
  const char* tag = d.level == Diagnostic::Level::Alert     ? "[ALERT]"
                    : d.level == Diagnostic::Level::Warning ? "[WARNING]"
                                                            : "[NOTICE]";
  std::string out = tag;
  out.resize(10, ' ');
  out += " (" + std::to_string(pid) + ") : config : " + d.text;
  return out;
}

int write_check_report(const ParseResult& r, int pid, bool quiet, std::ostream& out,
                       std::ostream& err) {
  bool warnings = false;
  for (const auto& d : r.diags) {
    err << format_diagnostic(d, pid) << '\n';
    if (d.level == Diagnostic::Level::Warning) warnings = true;
  }
  int rc = check_exit_code(r);
  if (rc == 1) return rc;
  if (warnings && !quiet) out << "Warnings were found.\n";
  if (rc == 2)
    out << "Configuration file has no error but will not start (no listener) => exit(2).\n";
  else if (!quiet)
    out << "Configuration file is valid\n";
  return rc;
}

std::string quickstart_config(uint16_t front_port, const std::vector<std::string>& servers) {
  std::string out =
      "# generated by herd's quick start\n"
      "defaults\n"
      "    mode http\n"
      "    timeout connect 5s\n"
      "    timeout client 50s\n"
      "    timeout server 50s\n"
      "frontend quickstart\n"
      "    bind *:" +
      std::to_string(front_port) +
      "\n"
      "    default_backend servers\n"
      "backend servers\n"
      "    balance roundrobin\n";
  int n = 0;
  for (const auto& s : servers) out += "    server s" + std::to_string(++n) + " " + s + " check\n";
  return out;
}

}  // namespace herd::config
