// config/keywords_global.cpp — the `global` section and the `log` keyword
// (shared with proxies). See docs/configuration.md for the supported set.
#include <grp.h>
#include <pwd.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "config/parser_internal.h"
#include "config/units.h"

namespace herd::config::detail {
namespace {

constexpr const char* kFacilities[] = {
    "kern",  "user",  "mail",   "daemon", "auth",   "syslog", "lpr",    "news",
    "uucp",  "cron",  "auth2",  "ftp",    "ntp",    "audit",  "alert",  "cron2",
    "local0", "local1", "local2", "local3", "local4", "local5", "local6", "local7"};
constexpr const char* kLevels[] = {"emerg",   "alert",  "crit", "err",
                                   "warning", "notice", "info", "debug"};

int index_of(const std::string& w, const char* const* table, size_t n) {
  for (size_t i = 0; i < n; ++i)
    if (w == table[i]) return static_cast<int>(i);
  return -1;
}

// Global keywords HAProxy has that herd accepts but does nothing with.
constexpr const char* kIgnoredGlobal[] = {"tune.ssl.default-dh-param"};

}  // namespace

bool Parser::parse_log(const Words& w, size_t first, std::vector<LogTarget>* out) {
  const std::string missing = std::string("log : expects <address> and <facility>") +
                              (section_ == Section::Global ? " " : " or global") +
                              " as arguments";
  if (!has(w, first) || !has(w, first + 1)) {
    alert(missing);
    return false;
  }
  LogTarget t;
  t.where = loc();
  std::string target = expand_address_vars(w[first], opts_.env);
  if (target == "stdout" || target == "fd@1") {
    t.kind = LogTarget::Kind::Stdout;
  } else if (target == "stderr" || target == "fd@2") {
    t.kind = LogTarget::Kind::Stderr;
  } else if (target[0] == '/' || target.rfind("unix@", 0) == 0) {
    t.unix_path = target[0] == '/' ? target : target.substr(5);
  } else {
    HostPort hp;
    std::string err;
    if (target.rfind("udp@", 0) == 0) target = target.substr(4);
    if (target.rfind("udp4@", 0) == 0 || target.rfind("udp6@", 0) == 0)
      target = "ipv" + std::string(1, target[3]) + "@" + target.substr(5);
    if (!split_host_port(target, &hp, &err)) {
      alert("log : " + err);
      return false;
    }
    t.addr.host = hp.host;
    t.addr.port = 514;
    if (hp.has_port && !hp.port_text.empty() && !parse_port(hp.port_text, target, &t.addr.port, &err)) {
      alert("log : " + err);
      return false;
    }
    if (!resolve_host(hp.host, hp.family, true, &t.addr.ip)) {
      alert("log : invalid address: '" + hp.host + "' in '" + w[first] + "'\n");
      return false;
    }
  }
  size_t i = first + 1;
  while (i + 1 < w.size() && (w[i] == "len" || w[i] == "format" || w[i] == "sample")) {
    if (w[i] == "len") {
      int n = lax_int(w[i + 1]);
      if (n < 80 || n > 65535) {
        alert("log : invalid log length '" + w[i + 1] + "', must be between 80 and 65535");
        return false;
      }
      t.max_len = n;
    } else if (w[i] == "format") {
      static const char* const kKnown[] = {"rfc3164", "rfc5424", "raw",      "short",
                                           "iso",     "local",   "priority", "timed"};
      const std::string& f = w[i + 1];
      if (std::find(std::begin(kKnown), std::end(kKnown), f) == std::end(kKnown)) {
        alert("log : unknown log format '" + f + "'");
        return false;
      }
      if (f != "rfc3164" && f != "rfc5424" && f != "raw" && f != "short") {
        alert("log : format '" + f + "' is not supported by herd.");
        return false;
      }
      t.format = f;
    } else {
      alert("log : 'sample' is not supported by herd.");
      return false;
    }
    i += 2;
  }
  if (!has(w, i)) {
    alert(missing);
    return false;
  }
  t.facility = index_of(w[i], kFacilities, std::size(kFacilities));
  if (t.facility < 0) {
    alert("log : unknown log facility '" + w[i] + "'");
    return false;
  }
  if (has(w, i + 1)) {
    t.max_level = index_of(w[i + 1], kLevels, std::size(kLevels));
    if (t.max_level < 0) {
      alert("log : unknown optional log level '" + w[i + 1] + "'");
      return false;
    }
  }
  if (has(w, i + 2)) {
    t.min_level = index_of(w[i + 2], kLevels, std::size(kLevels));
    if (t.min_level < 0) {
      alert("log : unknown optional minimum log level '" + w[i + 2] + "'");
      return false;
    }
  }
  if (has(w, i + 3)) {
    alert("log : cannot handle unexpected argument '" + w[i + 3] + "'");
    return false;
  }
  out->push_back(std::move(t));
  return true;
}

namespace {

bool parse_stats_socket(Parser& p, const Words& w) {
  if (!has(w, 2)) {
    p.alert("'stats socket' in global section expects an address or a path to a UNIX socket");
    return false;
  }
  StatsSocket s;
  s.where = p.loc();
  std::string addr = expand_address_vars(w[2], p.opts().env);
  bool tcp = addr.rfind("ipv4@", 0) == 0 || addr.rfind("ipv6@", 0) == 0 ||
             addr.rfind("tcp@", 0) == 0 ||
             (addr.find(':') != std::string::npos && addr.find('/') == std::string::npos &&
              addr.find('@') == std::string::npos);
  if (tcp) {
    HostPort hp;
    std::string err;
    s.is_unix = false;
    if (!split_host_port(addr, &hp, &err) ||
        !parse_port(hp.port_text, addr, &s.addr.port, &err)) {
      p.alert("'stats socket' : " + err);
      return false;
    }
    s.addr.host = hp.host;
    if (!resolve_host(hp.host, hp.family, true, &s.addr.ip)) {
      p.alert("parsing " + p.where() + " : 'stats socket' : invalid address: '" + hp.host +
              "' in '" + addr + "'\n\n");
      return false;
    }
  } else if (addr.rfind("unix@", 0) == 0) {
    s.path = addr.substr(5);
  } else if (addr.find('@') != std::string::npos) {
    p.alert("'stats socket' : address '" + addr + "' is not supported by herd.");
    return false;
  } else {
    s.path = addr;
  }
  for (size_t i = 3; i < w.size(); ++i) {
    if (w[i].empty()) continue;
    const std::string& v = arg(w, i + 1);
    if (w[i] == "mode") {
      char* end = nullptr;
      unsigned long m = std::strtoul(v.c_str(), &end, 8);
      if (v.empty() || *end != '\0') {
        p.alert("'stats socket' : ''mode' : missing or invalid mode '" + v +
                "' (octal integer expected)'");
        return false;
      }
      s.mode = static_cast<uint32_t>(m);
      ++i;
    } else if (w[i] == "user" || w[i] == "group") {
      // Names are looked up now, as haproxy does (getpwnam/getgrnam).
      const bool user = w[i] == "user";
      if (v.empty()) {
        p.alert("'stats socket' : ''" + w[i] + "' : missing " + w[i] + " name'");
        return false;
      }
      if (user) {
        const struct passwd* pw = ::getpwnam(v.c_str());
        if (!pw) {
          p.alert("'stats socket' : ''user' : unknown user name '" + v + "''");
          return false;
        }
        s.uid = pw->pw_uid;
      } else {
        const struct group* gr = ::getgrnam(v.c_str());
        if (!gr) {
          p.alert("'stats socket' : ''group' : unknown group name '" + v + "''");
          return false;
        }
        s.gid = gr->gr_gid;
      }
      ++i;
    } else if (w[i] == "uid" || w[i] == "gid") {
      // haproxy reads these with atol(): no error, "12x" is 12, "x" is 0.
      if (v.empty()) {
        p.alert("'stats socket' : ''" + w[i] + "' : missing value'");
        return false;
      }
      (w[i] == "uid" ? s.uid : s.gid) = std::atol(v.c_str());
      ++i;
    } else if (w[i] == "level") {
      if (v == "user")
        s.level = StatsSocket::Level::User;
      else if (v == "operator")
        s.level = StatsSocket::Level::Operator;
      else if (v == "admin")
        s.level = StatsSocket::Level::Admin;
      else {
        p.alert("'stats socket' : ''level' only supports 'user', 'operator', and 'admin' (got '" +
                v + "')'");
        return false;
      }
      ++i;
    } else if (w[i] == "expose-fd") {
      if (v != "listeners") {
        p.alert("'stats socket' : ''expose-fd' only supports 'listeners' (got '" + v + "')'");
        return false;
      }
      s.expose_fd_listeners = true;
      ++i;
    } else {
      p.alert("'stats socket' : unknown keyword '" + w[i] + "'.");
      return false;
    }
  }
  p.config().global.stats_sockets.push_back(std::move(s));
  return true;
}

}  // namespace

void Parser::global_keyword(const Words& w) {
  Global& g = res_.config.global;
  const std::string& kw = w[0];
  if (g.where.line == 0) g.where = loc();
  if (kw == "ulimit-n") {
    if (!has(w, 1)) return alert("'ulimit-n' expects an integer argument.");
    if (has(w, 2)) return alert("'ulimit-n' cannot handle unexpected argument '" + w[2] + "'.");
    if (g.ulimit_n != 0) return alert_continue("'ulimit-n' already specified. Continuing.");
    g.ulimit_n = lax_int(w[1]);
  } else if (kw == "strict-limits" || kw == "zero-warning" ||
             (kw == "no" && arg(w, 1) == "strict-limits")) {
    const size_t at = kw == "no" ? 2 : 1;
    const std::string& name = w[at - 1];
    if (has(w, at))
      return alert("'" + name + "' cannot handle unexpected argument '" + w[at] + "'.");
    (name == "zero-warning" ? g.zero_warning : g.strict_limits) = kw != "no";
  } else if (kw == "maxconn") {
    if (!has(w, 1)) return alert("'maxconn' expects an integer argument.");
    if (has(w, 2)) return alert("'maxconn' cannot handle unexpected argument '" + w[2] + "'.");
    g.maxconn = lax_int(w[1]);
  } else if (kw == "maxpipes" || kw == "tune.pipesize") {
    // haproxy 2.6 reads both with atol(): a word that is not a number is 0.
    if (!has(w, 1)) return alert("'" + kw + "' expects an integer argument.");
    if (has(w, 2)) return alert("'" + kw + "' cannot handle unexpected argument '" + w[2] + "'.");
    (kw == "maxpipes" ? g.maxpipes : g.pipesize) = std::max(0, lax_int(w[1]));
  } else if (kw == "tune.maxaccept") {
    // haproxy 2.6 reads it with atol(): a word that is not a number is 0
    // (the default); a negative value means unlimited.
    if (!has(w, 1)) return alert("'" + kw + "' expects an integer argument.");
    if (has(w, 2)) return alert("'" + kw + "' cannot handle unexpected argument '" + w[2] + "'.");
    if (g.maxaccept_set) return alert_continue("'" + kw + "' already specified. Continuing.");
    g.maxaccept_set = true;
    g.maxaccept = std::max(-1, lax_int(w[1]));
  } else if (kw == "nbthread") {
    const std::string& v = arg(w, 1);
    char* end = nullptr;
    long n = std::strtol(v.c_str(), &end, 10);
    if (v.empty() || *end != '\0')
      return alert("'nbthread' passed a missing or unparsable integer value in '" + v + "'");
    if (n < 1 || n > 64)
      return alert("'nbthread' value must be between 1 and 64 (was " + std::to_string(n) + ")");
    g.nbthread = static_cast<int>(n);
  } else if (kw == "default-path") {
    // HAProxy 2.6 changes directory while it parses the rest of the file;
    // herd resolves the relative files it reads (errorfile) the same way.
    const std::string& m = arg(w, 1);
    const std::string modes =
        "' for 'default-path', supported modes include 'current', "
        "'config', 'parent', and 'origin'.";
    const size_t slash = file_.rfind('/');
    const std::string dir = slash == std::string::npos ? "." : file_.substr(0, slash + 1);
    std::string base;
    if (m.empty()) return alert("missing default-path mode '" + m + modes);
    if (m == "current") {
      base.clear();
    } else if (m == "config") {
      base = dir;
    } else if (m == "parent") {
      base = dir + "/..";
    } else if (m == "origin") {
      if (!has(w, 2)) return alert("'default-path origin' expects a directory as an argument.");
      base = config_relative(w[2]);
    } else {
      return alert("unsupported default-path mode '" + m + modes);
    }
    struct stat st {};
    if (!base.empty() && (::stat(base.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)))
      return alert("couldn't set 'default-path' to " + m + " '" + (m == "origin" ? w[2] : base) +
                   "': " + std::strerror(errno) + ".");
    default_path_ = base;
  } else if (kw == "daemon") {
    if (has(w, 1)) return alert("'daemon' cannot handle unexpected argument '" + w[1] + "'.");
    g.daemon = true;
  } else if (kw == "uid" || kw == "gid") {
    // HAProxy 2.6's messages; 0 means unchanged.
    const bool u = kw == "uid";
    uint32_t& id = u ? g.uid : g.gid;
    if (id != 0)
      return alert_continue(std::string(u ? "user/uid" : "group/gid") +
                            " already specified. Continuing.");
    if (!has(w, 1)) return alert("'" + kw + "' expects an integer argument.");
    char* end = nullptr;
    const unsigned long n = std::strtoul(w[1].c_str(), &end, 10);
    if (*end != '\0' || n > 0xffffffffUL)
      return warn(" " + kw + ": string '" + w[1] +
                  "' is not a number.\n   | You might want to use the '" + (u ? "user" : "group") +
                  "' parameter to use a system " + (u ? "user" : "group") + " name.");
    id = static_cast<uint32_t>(n);
  } else if (kw == "user" || kw == "group") {
    const bool u = kw == "user";
    uint32_t& id = u ? g.uid : g.gid;
    if (id != 0)
      return alert_continue(u ? "user/uid already specified. Continuing."
                              : "gid/group was already specified. Continuing.");
    errno = 0;
    if (u) {
      const passwd* pw = has(w, 1) ? getpwnam(w[1].c_str()) : nullptr;
      if (pw) return void(id = pw->pw_uid);
    } else {
      const group* gr = has(w, 1) ? getgrnam(w[1].c_str()) : nullptr;
      if (gr) return void(id = gr->gr_gid);
    }
    const int e = errno;
    alert(std::string("cannot find ") + (u ? "user" : "group") + " id for '" + arg(w, 1) + "' (" +
          std::to_string(e) + ":" + std::strerror(e) + ")");
  } else if (kw == "chroot") {
    if (!g.chroot.empty()) return alert_continue("'chroot' already specified. Continuing.");
    if (!has(w, 1)) return alert("'chroot' expects a directory as an argument.");
    g.chroot = w[1];
  } else if (kw == "pidfile") {
    if (!has(w, 1)) return alert("'pidfile' expects a file name as an argument.");
    g.pidfile = w[1];
  } else if (kw == "node") {
    const std::string& v = arg(w, 1);
    bool ok = !v.empty() && std::all_of(v.begin(), v.end(), [](char c) {
      return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
             c == '.' || c == '-' || c == '_';
    });
    if (!ok)
      return alert_raw("parsing " + where() +
                       ": 'node' requires valid node name - non-empty string with digits(0-9), "
                       "letters(A-Z, a-z), dot(.), hyphen(-) or underscode(_).");
    g.node = v;
  } else if (kw == "log") {
    if (arg(w, 1) == "global")
      return alert("log : 'global' is not supported for a global syslog server");
    parse_log(w, 1, &g.logs);
  } else if (kw == "stats") {
    const std::string& sub = arg(w, 1);
    if (sub == "socket") {
      parse_stats_socket(*this, w);
    } else if (sub == "timeout") {
      TimeValue v = parse_time(arg(w, 2));
      if (v.status == TimeValue::Status::Overflow)
        return alert(time_error(v, arg(w, 2), "stats timeout"));
      if (v.status != TimeValue::Status::Ok || v.ms == 0) {
        // For an empty value HAProxy prints a NUL character: the line stops.
        return alert("'stats timeout' : unexpected character '" +
                     (v.bad_char ? std::string(1, v.bad_char) + "'" : std::string()));
      }
      g.stats_timeout_ms = v.ms;
    } else if (sub == "maxconn" || sub == "bind-process") {
      notice("'stats " + sub + "' is accepted but ignored by herd.");
    } else {
      alert("'stats' only supports 'socket', 'maxconn', 'bind-process' and 'timeout' (got '" +
            sub + "')");
    }
  } else if (kw == "hard-stop-after") {
    // HAProxy's own wording (and trailing newlines) for these errors.
    if (!has(w, 1)) return alert("'hard-stop-after' expects <time> as argument.\n");
    TimeValue v = parse_time(w[1]);
    if (v.status == TimeValue::Status::Overflow)
      return alert(time_error(v, w[1], "hard-stop-after"));
    if (v.status != TimeValue::Status::Ok || !v.trailing_junk.empty()) {
      char c = v.bad_char ? v.bad_char : v.trailing_junk.empty() ? '?' : v.trailing_junk[0];
      return alert("unexpected character '" + std::string(1, c) +
                   "' in argument to <hard-stop-after>.\n");
    }
    g.hard_stop_after_ms = v.ms;
  } else if (kw == "master-worker") {
    if (has(w, 1) && w[1] != "no-exit-on-failure")
      return alert("'master-worker' only supports 'no-exit-on-failure' option.");
    g.master_worker = true;
    g.master_exit_on_failure = !has(w, 1);
  } else if (kw == "close-spread-time") {
    // haproxy 2.6's proxy_parse_close_spread_time(): "infinite" turns the
    // active close off; 0 leaves the keyword unset.
    if (!has(w, 1)) return alert("'close-spread-time' expects <time> as argument.\n");
    if (w[1] == "infinite") {
      g.close_spread_infinite = true;
      g.close_spread_time_ms = 0;
      return;
    }
    TimeValue v = parse_time(w[1]);
    if (v.status == TimeValue::Status::Overflow)
      return alert(time_error(v, w[1], "close-spread-time"));
    if (v.status != TimeValue::Status::Ok)
      return alert("unexpected character '" + std::string(1, v.bad_char ? v.bad_char : '?') +
                   "' in argument to <close-spread-time>.\n");
    if (!v.trailing_junk.empty()) warn_raw(time_junk_warning(w[1], v));
    g.close_spread_infinite = false;
    g.close_spread_time_ms = v.ms;
  } else if (kw == "server-state-file" || kw == "server-state-base") {
    const bool file = kw == "server-state-file";
    std::string& slot = file ? g.server_state_file : g.server_state_base;
    if (!slot.empty()) return alert_continue("'" + kw + "' already specified. Continuing.");
    if (!has(w, 1))
      return alert("'" + kw +
                   (file ? "' expect one argument: a file path."
                         : "' expects one argument: a directory path."));
    slot = w[1];
  } else if (kw == "crt-base" || kw == "ca-base") {
    if (!has(w, 1))
      return alert("global statement '" + kw + "' expects a directory path as an argument.");
    (kw == "crt-base" ? g.crt_base : g.ca_base) = w[1];
  } else if (kw == "ssl-default-bind-ciphers" || kw == "ssl-default-bind-ciphersuites" ||
             kw == "ssl-default-server-ciphers" || kw == "ssl-default-server-ciphersuites") {
    if (!has(w, 1))
      return alert("global statement '" + kw + "' expects a cipher suite as an argument.");
    const bool bind = kw.find("-bind-") != std::string::npos;
    const bool suites = kw.ends_with("ciphersuites");
    (bind ? (suites ? g.bind_ciphersuites : g.bind_ciphers)
          : (suites ? g.server_ciphersuites : g.server_ciphers)) = w[1];
    (bind ? (suites ? g.bind_ciphersuites_set : g.bind_ciphers_set)
          : (suites ? g.server_ciphersuites_set : g.server_ciphers_set)) = true;
  } else if (kw == "ssl-default-bind-options" || kw == "ssl-default-server-options") {
    TlsOptions& o = kw == "ssl-default-bind-options" ? g.bind_options : g.server_options;
    for (size_t i = 1; i < w.size();) {
      std::string err;
      int used = parse_tls_option(w, i, o, &err);
      if (used == 0)
        return alert("unknown option '" + w[i] + "' on global statement '" + kw + "'.");
      if (used < 0) return alert(err + " on global statement '" + kw + "'.");
      i += static_cast<size_t>(used);
    }
  } else if (kw == "nbproc") {
    alert(
        "nbproc is not supported any more since HAProxy 2.5. Threads will automatically be used "
        "on multi-processor machines if available.");
  } else if (std::find(std::begin(kIgnoredGlobal), std::end(kIgnoredGlobal), kw) !=
             std::end(kIgnoredGlobal)) {
    notice("'" + kw + "' is accepted but ignored by herd.");
  } else {
    static const std::vector<std::string_view> kKnown = {"maxconn",
                                                         "nbthread",
                                                         "daemon",
                                                         "pidfile",
                                                         "node",
                                                         "log",
                                                         "stats",
                                                         "user",
                                                         "group",
                                                         "chroot",
                                                         "ca-base",
                                                         "crt-base",
                                                         "hard-stop-after",
                                                         "close-spread-time",
                                                         "master-worker",
                                                         "server-state-file",
                                                         "server-state-base",
                                                         "maxpipes",
                                                         "tune.pipesize",
                                                         "tune.maxaccept"};
    std::string s = suggest(kw, kKnown);
    alert("unknown keyword '" + kw + "' in 'global' section" +
          (s.empty() ? "" : "; did you mean '" + s + "' maybe ?"));
  }
}

}  // namespace herd::config::detail
