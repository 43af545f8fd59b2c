// config/keywords_server.cpp — `server`, `default-server` and
// `server-template` lines and their options.
#include <algorithm>

#include "config/parser_internal.h"
#include "config/units.h"

namespace herd::config::detail {
namespace {

const std::vector<std::string_view>& server_keywords() {
  // clang-format off
  static const std::vector<std::string_view> kw = {
      "weight",         "backup",   "no-backup", "disabled",   "enabled",       "maxconn",
      "maxqueue",       "check",    "no-check",  "inter",      "fastinter",     "downinter",
      "rise",           "fall",     "port",      "addr",       "cookie",        "observe",
      "error-limit",    "on-error", "ssl",       "no-ssl",     "check-ssl",     "verify",
      "ca-file",        "sni",      "alpn",      "send-proxy", "send-proxy-v2", "resolvers",
      "resolve-prefer", "init-addr", "minconn", "on-marked-down", "on-marked-up",
      "source",         "socks4",   "check-via-socks4", "crt", "check-sni", "slowstart",
      "hash-key"};
  // clang-format on
  return kw;
}

// clang-format off
constexpr const char* kUnsupported[] = {
    "resolve-opts",  "resolve-net", "agent-check", "agent-port",
    "agent-inter",   "track",       "redir",     "id",          "proto",
    "tfo",           "namespace", "check-send-proxy",
    "weight-percent"};
// clang-format on

}  // namespace

bool Parser::parse_server_options(const Words& w, size_t i, Server* s, const std::string& label,
                                  bool is_default) {
  const std::string who = is_default ? "default-server" : s->name;
  auto fail = [&](const std::string& msg) {
    alert_raw(where() + " : " + label + msg);
    return false;
  };
  for (; i < w.size(); ++i) {
    const std::string& kw = w[i];
    if (kw.empty()) continue;
    const std::string& v = arg(w, i + 1);
    if (kw == "weight") {
      int n = lax_int(v);
      if (n < 0 || n > 256)
        return fail("weight of server " + who + " is not within 0 and 256 (" +
                    std::to_string(n) + ")..");
      s->weight = n;
      ++i;
    } else if (kw == "backup" || kw == "no-backup") {
      s->backup = kw == "backup";
    } else if (kw == "disabled" || kw == "enabled") {
      s->disabled = kw == "disabled";
    } else if (kw == "check" || kw == "no-check") {
      s->check = kw == "check";
    } else if (kw == "maxconn" || kw == "maxqueue" || kw == "minconn") {
      (kw == "maxconn" ? s->maxconn : kw == "maxqueue" ? s->maxqueue : s->minconn) = lax_int(v);
      ++i;
    } else if (kw == "on-marked-down") {
      if (v != "shutdown-sessions")
        return fail("'on-marked-down' expects 'shutdown-sessions' but got '" + v + "'");
      s->shutdown_on_down = true;
      ++i;
    } else if (kw == "on-marked-up") {
      if (v != "shutdown-backup-sessions")
        return fail("'on-marked-up' expects 'shutdown-backup-sessions' but got '" + v + "'");
      s->shutdown_backup_on_up = true;
      ++i;
    } else if (kw == "slowstart") {
      // haproxy 2.6 keeps it in seconds, rounded up.
      TimeValue t = parse_time(v);
      if (t.status == TimeValue::Status::BadChar || t.status == TimeValue::Status::Empty)
        return fail("unexpected character '" +
                    (t.bad_char ? std::string(1, t.bad_char) : std::string()) +
                    "' in 'slowstart' argument of server " + who + "..");
      if (t.status == TimeValue::Status::Overflow)
        return fail("overflow in argument <" + v + "> to <slowstart> of server " + who +
                    ", maximum value is 2147483647 ms (~24.8 days)..");
      s->slowstart_ms = (t.ms + 999) / 1000 * 1000;
      ++i;
    } else if (kw == "hash-key") {
      // haproxy 3.0's keyword (haproxy 2.6 refuses it); its texts.
      if (v == "id")
        s->hash_key = Server::HashKey::Id;
      else if (v == "addr")
        s->hash_key = Server::HashKey::Addr;
      else if (v == "addr-port")
        s->hash_key = Server::HashKey::AddrPort;
      else if (v.empty())
        return fail("'hash-key expects 'id', 'addr', or 'addr-port' value");
      else
        return fail("'hash-key' has to be 'id', 'addr', or 'addr-port'");
      ++i;
    } else if (kw == "inter" || kw == "fastinter" || kw == "downinter") {
      TimeValue t = parse_time(v);
      const std::string shown = kw == "inter" ? "agent-inter" : kw;
      if (t.status == TimeValue::Status::BadChar || t.status == TimeValue::Status::Empty)
        return fail("unexpected character '" +
                    (t.bad_char ? std::string(1, t.bad_char) : std::string()) + "' in '" +
                    shown + "' argument of server " + who + "..");
      if (t.status == TimeValue::Status::Overflow)
        return fail(time_error(t, v, kw));
      if (t.ms == 0)
        return fail("invalid value 0 for argument '" + kw + "' of server " + who + "..");
      (kw == "inter" ? s->inter_ms : kw == "fastinter" ? s->fastinter_ms : s->downinter_ms) =
          t.ms;
      ++i;
    } else if (kw == "rise" || kw == "fall") {
      int n = lax_int(v);
      if (n <= 0) return fail("'" + kw + "' has to be > 0..");
      (kw == "rise" ? s->rise : s->fall) = n;
      ++i;
    } else if (kw == "port") {
      s->check_port = static_cast<uint16_t>(lax_int(v));
      ++i;
    } else if (kw == "addr") {
      std::string a = expand_address_vars(v, opts_.env);
      std::string ip;
      if (!resolve_host(a, 0, opts_.resolve_hostnames, &ip) &&
          (opts_.resolve_hostnames || a.empty()))
        return fail("'addr' : invalid address: '" + a + "' in '" + a + "'.");
      s->check_addr = ip.empty() ? a : ip;
      ++i;
    } else if (kw == "cookie") {
      if (v.empty()) return fail("'cookie' expects <value> as argument..");
      s->cookie = v;
      ++i;
    } else if (kw == "observe") {
      if (v != "none" && v != "layer4" && v != "layer7")
        return fail("'observe' expects one of 'none', 'layer4', 'layer7' but got '" + v + "'.");
      s->observe = v == "none" ? "" : v;
      ++i;
    } else if (kw == "error-limit") {
      int n = lax_int(v);
      if (n <= 0) return fail("error-limit has to be > 0..");
      s->error_limit = n;
      ++i;
    } else if (kw == "on-error") {
      if (v != "fastinter" && v != "fail-check" && v != "sudden-death" && v != "mark-down")
        return fail(
            "'on-error' expects one of 'fastinter', 'fail-check', 'sudden-death' or 'mark-down' "
            "but got '" +
            v + "'.");
      s->on_error = v;
      ++i;
    } else if (kw == "ssl" || kw == "no-ssl") {
      s->tls.enabled = kw == "ssl";
    } else if (kw == "check-ssl") {
      s->tls.check_ssl = true;
    } else if (kw == "verify") {
      if (v == "none")
        s->tls.verify = Server::Tls::Verify::None;
      else if (v == "required")
        s->tls.verify = Server::Tls::Verify::Required;
      else
        return fail("'verify' : unknown verify method '" + v +
                    "', only 'none' and 'required' are supported.");
      ++i;
    } else if (kw == "ca-file") {
      if (v.empty()) return fail("'ca-file' : missing CAfile path.");
      const std::string& base = config().global.ca_base;
      s->tls.ca_file = v[0] != '/' && !base.empty() ? base + "/" + v : v;
      ++i;
    } else if (kw == "crt") {
      if (v.empty()) return fail("'crt' : missing certificate file path.");
      const std::string& base = config().global.crt_base;
      s->tls.crt = v[0] != '/' && !base.empty() ? base + "/" + v : v;
      ++i;
    } else if (kw == "check-sni") {
      if (v.empty()) return fail("'check-sni' : missing SNI.");
      s->tls.check_sni = v;
      ++i;
    } else if (kw == "sni") {
      if (v.empty()) return fail("'sni' : missing sni expression.");
      auto inside = [&](const char* f) -> std::string {
        std::string p = std::string(f) + "(";
        if (v.rfind(p, 0) != 0 || v.back() != ')') return {};
        return v.substr(p.size(), v.size() - p.size() - 1);
      };
      if (std::string a = inside("str"); !a.empty()) {
        s->tls.sni = Server::Tls::Sni::Literal;
        s->tls.sni_arg = a;
      } else if (std::string h = !inside("req.hdr").empty() ? inside("req.hdr") : inside("hdr");
                 !h.empty()) {
        s->tls.sni = Server::Tls::Sni::Header;
        s->tls.sni_arg = h;
      } else if (v == "ssl_fc_sni") {
        s->tls.sni = Server::Tls::Sni::ClientSni;
      } else {
        return fail("'sni' : expression '" + v +
                    "' is not supported by herd (str(), req.hdr(), ssl_fc_sni).");
      }
      ++i;
    } else if (kw == "alpn") {
      if (v.empty()) return fail("'alpn' : missing the comma-delimited ALPN protocol suite.");
      s->tls.alpn.clear();
      for (size_t b = 0; b <= v.size();) {
        size_t c = std::min(v.find(',', b), v.size());
        if (c > b && v.substr(b, c - b) != "h2") s->tls.alpn.push_back(v.substr(b, c - b));
        b = c + 1;
      }
      ++i;
    } else if (kw == "resolvers") {
      // The name is checked after parsing (post_checks), as haproxy does.
      if (v.empty()) return fail("unable to find required resolvers ''");
      s->resolvers = v;
      ++i;
    } else if (kw == "resolve-prefer") {
      if (v != "ipv4" && v != "ipv6")
        return fail("'resolve-prefer' expects either ipv4 or ipv6 as argument..");
      s->resolve_prefer_ipv4 = v == "ipv4";
      ++i;
    } else if (kw == "init-addr") {
      std::vector<std::string> methods;
      for (size_t b = 0; b < v.size();) {
        size_t c = std::min(v.find(',', b), v.size());
        std::string m = v.substr(b, c - b);
        std::string ip;
        if (m != "libc" && m != "last" && m != "none" && !resolve_host(m, 0, false, &ip))
          return fail("'init-addr' : unknown init-addr method '" + m +
                      "', supported methods are 'libc', 'last', 'none'..");
        if (!m.empty()) methods.push_back(ip.empty() ? m : ip);
        b = c + 1;
      }
      s->init_addr = std::move(methods);
      ++i;
    } else if (kw == "source") {
      if (v.empty())
        return fail(
            "'source' expects <addr>[:<port>[-<port>]], and optionally 'usesrc' <addr>, and "
            "'interface' <name> as argument..");
      ConnSource src;
      src.set = true;
      std::string err;
      if (!parse_source_addr(v, true, &src.host, &src.port, &err))
        return fail(err.ends_with("\n") ? "\n  'source " + v + "' : " + err + "  \n."
                                        : "'source " + v + "' : " + err + ".");
      ++i;
      // `usesrc` and `interface` belong to the `source` before them.
      for (; i + 1 < w.size() && (w[i + 1] == "usesrc" || w[i + 1] == "interface"); i += 2) {
        const std::string& k = w[i + 1];
        const std::string& a = arg(w, i + 2);
        auto fail_kw = [&](const std::string& msg) {
          fail(msg);
          alert_raw("error encountered while processing '" + k + "'.");
          return false;
        };
        if (k == "interface") {
          if (a.empty()) return fail_kw("'server' : missing interface name.");
          return fail("'interface' is not supported by herd.");
        }
        if (a.empty())
          return fail_kw(
              "'usesrc' expects <addr>[:<port>], 'client', 'clientip', or 'hdr_ip(name,#)' as "
              "argument.");
        if (!parse_usesrc(a, &src, &err)) return err.ends_with("\n") ? fail_kw(err) : fail(err);
      }
      s->source = std::move(src);
    } else if (kw == "socks4") {
      std::string err;
      if (v.empty()) return fail("'socks4' expects <addr>:<port> as argument..");
      HostPort hp;
      if (split_host_port(v, &hp, &err) && !hp.has_port)
        return fail("'socks4 " + v + "' : missing port specification in '" + v + "'.");
      if (!parse_source_addr(v, false, &s->socks4_host, &s->socks4_port, &err))
        return fail(err.ends_with("\n") ? "\n  'socks4 " + v + "' : " + err + "  \n."
                                        : "'socks4 " + v + "' : " + err + ".");
      ++i;
    } else if (kw == "check-via-socks4") {
      s->check_via_socks4 = true;
    } else if (kw == "send-proxy" || kw == "send-proxy-v2") {
      s->send_proxy = kw == "send-proxy" ? 1 : 2;
    } else if (std::find(std::begin(kUnsupported), std::end(kUnsupported), kw) !=
               std::end(kUnsupported)) {
      return fail("'" + kw + "' is not supported by herd.");
    } else {
      std::string sug = suggest(kw, server_keywords());
      std::string msg = "unknown keyword '" + kw + "'";
      msg += sug.empty() ? "." : "; did you mean '" + sug + "' maybe ?";
      if (is_default) msg += " Hint: no address was expected for this server.";
      return fail(msg);
    }
  }
  return true;
}

void Parser::server_line(const Words& w) {
  const std::string& kw = w[0];
  if (in_defaults_ && kw != "default-server")
    return alert_raw(where() + " : '" + kw + "' not allowed in 'defaults' section.");
  if (!in_defaults_ && !cur->has_backend())
    return alert_raw(where() + " : parsing " + where() + " : '" + kw + "' not allowed because " +
                     kind_name(*cur) + " '" + cur->name + "' has no backend capability.");
  if (kw == "default-server") {
    Server tmp = cur_extra->default_server;
    if (parse_server_options(w, 1, &tmp, "", true)) {
      cur_extra->default_server = tmp;
      cur->default_slowstart_ms = tmp.slowstart_ms;
    }
    return;
  }
  bool tmpl = kw == "server-template";
  size_t addr_idx = tmpl ? 3 : 2;
  if (!has(w, 1) || !has(w, addr_idx)) {
    return alert_raw(where() + (tmpl ? " : 'server-template' expects <prefix> <nb | range> "
                                       "<addr>[:<port>] as arguments."
                                     : " : 'server' expects <name> and <addr>[:<port>] as "
                                       "arguments."));
  }
  if (char bad = 0; !valid_name(w[1], &bad))
    return alert_raw(where() + " : character '" + std::string(1, bad) + "' is not permitted in " +
                     (tmpl ? "server-template prefix '" : "server name '") + w[1] + "'.");
  int first = 1, last = 1;
  if (tmpl) {
    const std::string& r = w[2];
    size_t dash = r.find('-');
    auto all_digits = [](const std::string& x) {
      return !x.empty() && std::all_of(x.begin(), x.end(), [](char c) { return c >= '0' && c <= '9'; });
    };
    bool ok;
    if (dash == std::string::npos) {
      ok = all_digits(r) && (last = lax_int(r)) >= 1;
    } else {
      std::string a = r.substr(0, dash), b = r.substr(dash + 1);
      ok = all_digits(a) && all_digits(b) && (first = lax_int(a)) >= 0 &&  // 0-9: s0..s9
           (last = lax_int(b)) >= first;
    }
    if (!ok) return alert_raw(where() + " : Wrong server-template number or range arg '" + r + "'.");
  }
  std::string label = "'" + kw + " " + cur->name + "/" + w[1] + "' : ";
  if (!tmpl) label = "'server " + cur->name + "/" + w[1] + "' : ";
  std::string addr_text = expand_address_vars(w[addr_idx], opts_.env);
  HostPort hp;
  std::string err;
  Server base = cur_extra->default_server;
  base.name = w[1];
  if (!split_host_port(addr_text, &hp, &err) ||
      !parse_port(hp.port_text, addr_text, &base.addr.port, &err))
    return alert_raw(where() + " : " + label + err);
  base.addr.host = hp.host;
  bool numeric = resolve_host(hp.host, hp.family, false, &base.addr.ip);
  if (!parse_server_options(w, addr_idx + 1, &base, label, false)) return;
  base.where = loc();
  for (int n = first; n <= last; ++n) {
    Server s = base;
    if (tmpl) s.name = w[1] + std::to_string(n);
    s.id = static_cast<int>(cur->servers.size()) + 1;
    if (!numeric) cur_extra->unresolved.push_back({cur->servers.size(), hp.host, hp.family});
    cur->servers.push_back(std::move(s));
  }
}

}  // namespace herd::config::detail
