// config/keywords_proxy.cpp — keywords of defaults, frontend, backend and
// listen sections (except server lines and rules, see keywords_server.cpp and
// keywords_rules.cpp).
#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <regex>
#include <sstream>

#include "config/parser_internal.h"
#include "config/units.h"

namespace herd::config::detail {
namespace {

constexpr int kFE = 1, kBE = 2;

using Handler = void (*)(Parser&, const Words&);

struct Keyword {
  const char* name;
  int caps;
  bool in_defaults;
  Handler fn;
};

// Emits HAProxy's "ignored because ... has no X capability" warning.
void warn_cap(Parser& p, const std::string& what, int caps, const char* hint = "") {
  const char* missing = (caps & kFE) ? "frontend" : "backend";
  p.warn("'" + what + "' ignored because " + Parser::kind_name(*p.cur) + " '" + p.cur->name +
         "' has no " + missing + " capability." + hint);
}

bool lacks(const Parser& p, int caps) {
  if (p.in_defaults()) return false;
  bool fe = p.cur->has_frontend(), be = p.cur->has_backend();
  return !(((caps & kFE) && fe) || ((caps & kBE) && be));
}

bool integer_arg(Parser& p, const Words& w, const std::string& kw, int* out,
                 const char* missing_suffix = "") {
  if (!has(w, 1)) {
    p.alert("'" + kw + "' expects an integer argument" + missing_suffix + ".");
    return false;
  }
  if (has(w, 2)) {
    p.alert("'" + kw + "' cannot handle unexpected argument '" + w[2] + "'.");
    return false;
  }
  *out = lax_int(w[1]);
  return true;
}

bool no_extra(Parser& p, const Words& w, size_t i, const std::string& what) {
  if (!has(w, i)) return true;
  p.alert("'" + what + "' cannot handle unexpected argument '" + w[i] + "'.");
  return false;
}

void kw_mode(Parser& p, const Words& w) {
  const std::string& m = arg(w, 1);
  if (m == "http")
    p.cur->mode = Mode::Http;
  else if (m == "tcp")
    p.cur->mode = Mode::Tcp;
  else if (m == "health")
    p.alert("'mode health' doesn't exist anymore. Please use 'http-request return status 200' "
            "instead.");
  else
    p.alert("unknown proxy mode '" + m + "'.");
}

// A TLS keyword of a bind line at w[i]: returns how many words it took
// (0: not a TLS keyword, -1: an error was reported). haproxy's wording.
int parse_bind_tls(Parser& p, const Words& w, size_t i, BindTls& t) {
  const std::string& o = w[i];
  const std::string head = "'bind " + w[1] + "' in section '" +
                           (p.cur->kind == Proxy::Kind::Listen ? "listen" : "frontend") + "' : ";
  auto need = [&](const std::string& msg) {
    if (has(w, i + 1) && !w[i + 1].empty()) return true;
    p.alert(head + "'" + o + "' : " + msg);
    return false;
  };
  const Global& g = p.config().global;
  if (o == "ssl") {
    t.enabled = true;
    return 1;
  }
  if (o == "strict-sni") {
    t.strict_sni = true;
    return 1;
  }
  if (o == "crt" || o == "crt-list") {
    if (!need(o == "crt" ? "missing certificate location" : "missing file name")) return -1;
    std::string path = w[i + 1];
    if (o == "crt" && path[0] != '/' && !g.crt_base.empty()) path = g.crt_base + "/" + path;
    t.certs.push_back({o == "crt-list", path});
    return 2;
  }
  if (o == "ca-file") {
    if (!need("missing CAfile path")) return -1;
    std::string path = w[i + 1];
    if (path[0] != '/' && !g.ca_base.empty()) path = g.ca_base + "/" + path;
    t.ca_file = path;
    return 2;
  }
  if (o == "verify") {
    if (!need("missing verify method")) return -1;
    const std::string& v = w[i + 1];
    if (v == "none")
      t.verify = BindTls::Verify::None;
    else if (v == "optional")
      t.verify = BindTls::Verify::Optional;
    else if (v == "required")
      t.verify = BindTls::Verify::Required;
    else {
      p.alert(head + "'verify' : unknown verify method '" + v +
              "', only 'none', 'optional', and 'required' are supported");
      return -1;
    }
    return 2;
  }
  if (o == "alpn") {
    if (!need("missing the comma-delimited ALPN protocol suite")) return -1;
    t.alpn.clear();
    std::string list = w[i + 1];
    for (size_t s = 0; s <= list.size();) {
      size_t c = list.find(',', s);
      if (c == std::string::npos) c = list.size();
      std::string one = list.substr(s, c - s);
      if (one.empty() || one.size() > 255) {
        p.alert(head + "'alpn' : empty protocol name or name too long");
        return -1;
      }
      if (one == "h2")
        p.notice("'bind " + w[1] +
                 "' : 'alpn h2' is not offered: herd speaks HTTP/1.1 only, "
                 "ALPN offers the other protocols of the list.");
      else
        t.alpn.push_back(one);
      s = c + 1;
    }
    return 2;
  }
  if (o == "ciphers" || o == "ciphersuites" || o == "curves") {
    if (!need(o == "curves" ? "missing curve suite" : "missing cipher suite")) return -1;
    if (o == "ciphers") {
      t.ciphers = w[i + 1];
      t.ciphers_set = true;
    } else if (o == "ciphersuites") {
      t.ciphersuites = w[i + 1];
      t.ciphersuites_set = true;
    } else {
      t.curves = w[i + 1];
    }
    return 2;
  }
  std::string err;
  int used = parse_tls_option(w, i, t.opts, &err);
  if (used > 0) {
    if (o == "ssl-min-ver") t.opts_set_min = true;
    if (o == "ssl-max-ver") t.opts_set_max = true;
    return used;
  }
  if (used < 0) {
    p.alert(head + err);
    return -1;
  }
  return 0;
}

void kw_bind(Parser& p, const Words& w) {
  if (!has(w, 1))
    return p.alert("'bind' expects {<path>|[addr1]:port1[-end1]}{,[addr]:port[-end]}... as "
                   "arguments.");
  std::vector<std::string> options;
  BindTls tls;
  tls.bind_text = w[1];
  for (size_t i = 2; i < w.size(); ++i) {
    const std::string& o = w[i];
    if (o.empty()) continue;
    if (o == "name" || o == "id" || o == "backlog") {
      if (!has(w, i + 1)) return p.alert("'bind " + w[1] + "' : '" + o + "' expects an argument.");
      options.push_back(o + " " + w[i + 1]);
      ++i;
    } else if (o == "v4v6" || o == "v6only") {
      options.push_back(o);
    } else if (int used = parse_bind_tls(p, w, i, tls); used != 0) {
      if (used < 0) return;
      i += static_cast<size_t>(used) - 1;
    } else if (o == "accept-proxy" || o == "transparent" || o == "tfo" || o == "defer-accept" ||
               o == "interface" || o == "process" || o == "thread" || o == "mode" || o == "user" ||
               o == "group") {
      return p.alert("'bind " + w[1] + "' : '" + o + "' is not supported by herd.");
    } else {
      // HAProxy's bind keywords, so that typos get its suggestions.
      static const std::vector<std::string_view> kBindKw = {
          "name", "id", "backlog", "v4v6", "v6only", "tfo", "ssl", "crt", "alpn",
          "accept-proxy", "transparent", "defer-accept", "interface", "process", "thread",
          "mode", "user", "group", "maxconn", "nice", "mss", "npn", "level", "severity-output",
          "accept-netscaler-cip", "expose-fd", "gid", "uid", "namespace", "proto", "quic-cc-algo",
          "allow-0rtt", "ca-file", "ciphers", "crl-file", "curves", "ecdhe", "verify"};
      // A keyword HAProxy has and herd lacks is not "unknown".
      if (std::find(kBindKw.begin(), kBindKw.end(), o) != kBindKw.end())
        return p.alert("'bind " + w[1] + "' : '" + o + "' is not supported by herd.");
      std::string s = suggest(o, kBindKw);
      return p.alert("'bind " + w[1] + "' in section '" +
                     (p.cur->kind == Proxy::Kind::Listen ? std::string("listen")
                                                         : std::string("frontend")) +
                     "': unknown keyword '" + o + "'" +
                     (s.empty() ? "." : "; did you mean '" + s + "' maybe ?"));
    }
  }
  std::string list = expand_address_vars(w[1], p.opts().env);
  std::vector<Bind> binds;
  size_t start = 0;
  while (start <= list.size()) {
    size_t comma = list.find(',', start);
    std::string one = list.substr(start, comma == std::string::npos ? list.npos : comma - start);
    start = comma == std::string::npos ? list.size() + 1 : comma + 1;
    HostPort hp;
    std::string err;
    if (!split_host_port(one, &hp, &err)) return p.alert("'bind' : " + err);
    if (!hp.has_port || hp.port_text.empty())
      return p.alert("'bind' : missing port specification in '" + one + "'");
    std::string lo = hp.port_text, hi = hp.port_text;
    if (size_t dash = lo.find('-'); dash != std::string::npos && dash > 0) {
      hi = lo.substr(dash + 1);
      lo = lo.substr(0, dash);
    }
    uint16_t plo = 0, phi = 0;
    if (!parse_port(lo, one, &plo, &err) || !parse_port(hi, one, &phi, &err)) {
      if (err.ends_with("\n")) err.pop_back();  // unlike 'server', no blank line here
      return p.alert("'bind' : " + err);
    }
    Bind b;
    b.options = options;
    b.tls = tls;
    b.where = p.loc();
    b.addr.host = hp.host;
    if (!resolve_host(hp.host, hp.family, true, &b.addr.ip))
      return p.alert("'bind' : invalid address: '" + hp.host + "' in '" + one + "'");
    for (uint32_t port = plo; port <= phi; ++port) {
      b.addr.port = static_cast<uint16_t>(port);
      binds.push_back(b);
    }
  }
  if (lacks(p, kFE)) return;  // warned by the caller; HAProxy ignores it
  for (auto& b : binds) p.cur->binds.push_back(std::move(b));
}

void kw_default_backend(Parser& p, const Words& w) {
  if (!has(w, 1)) return p.alert("'default_backend' expects a backend name.");
  p.cur->default_backend = w[1];
}

void kw_maxconn(Parser& p, const Words& w) { integer_arg(p, w, "maxconn", &p.cur->maxconn); }
// `hash-type map-based|consistent [sdbm|djb2|wt6|crc32] [avalanche]`, with
// haproxy 2.6's texts. Without a function: sdbm, plus avalanche when
// consistent.
void kw_hash_type(Parser& p, const Words& w) {
  HashType h;
  const std::string& type = arg(w, 1);
  if (type == "consistent") {
    h.consistent = true;
  } else if (type == "avalanche") {
    return p.alert(
        "experimental feature 'hash-type avalanche' is not supported anymore, please "
        "use 'hash-type map-based sdbm avalanche' instead.");
  } else if (type != "map-based") {
    return p.alert("'hash-type' only supports 'consistent' and 'map-based'.");
  }
  const std::string& fn = arg(w, 2);
  if (fn.empty()) {
    h.avalanche = h.consistent;
  } else {
    if (fn == "sdbm")
      h.function = HashFunction::Sdbm;
    else if (fn == "djb2")
      h.function = HashFunction::Djb2;
    else if (fn == "wt6")
      h.function = HashFunction::Wt6;
    else if (fn == "crc32")
      h.function = HashFunction::Crc32;
    else
      return p.alert("'hash-type' only supports 'sdbm', 'djb2', 'crc32', or 'wt6' hash functions.");
    const std::string& mod = arg(w, 3);
    if (mod == "avalanche")
      h.avalanche = true;
    else if (!mod.empty())
      return p.alert("'hash-type' only supports 'avalanche' as a modifier for hash functions.");
  }
  p.cur->hash_type = h;
}

void kw_fullconn(Parser& p, const Words& w) { integer_arg(p, w, "fullconn", &p.cur->fullconn); }
void kw_retries(Parser& p, const Words& w) {
  integer_arg(p, w, "retries", &p.cur->retries, " (dispatch counts for one)");
}

void kw_retry_on(Parser& p, const Words& w) {
  if (!has(w, 1)) return p.alert("'retry-on' needs at least one keyword to specify when to retry");
  Proxy::RetryOn r;
  r.set = true;
  r.conn_failure = false;
  static const int kStatuses[] = {401, 403, 404, 408, 425, 500, 501, 502, 503, 504};
  for (size_t i = 1; i < w.size(); ++i) {
    const std::string& k = w[i];
    if (k == "none") {
      if (w.size() != 2) return p.alert("'retry-on' 'none' keyworld only usable alone");
    } else if (k == "conn-failure") {
      r.conn_failure = true;
    } else if (k == "empty-response") {
      r.empty_response = true;
    } else if (k == "junk-response") {
      r.junk_response = true;
    } else if (k == "response-timeout") {
      r.response_timeout = true;
    } else if (k == "0rtt-rejected") {
      // TLS early data: herd has no TLS, nothing to retry.
    } else if (k == "all-retryable-errors") {
      r.conn_failure = r.empty_response = r.junk_response = r.response_timeout = true;
      for (int s : {500, 502, 503, 504}) r.statuses.push_back(s);
    } else if (auto it = std::find_if(std::begin(kStatuses), std::end(kStatuses),
                                      [&](int st) { return std::to_string(st) == k; });
               it != std::end(kStatuses)) {
      r.statuses.push_back(*it);
    } else {
      return p.alert("'retry-on': unknown keyword '" + k + "'");
    }
  }
  p.cur->retry_on = std::move(r);
}

void kw_balance(Parser& p, const Words& w) {
  if (!has(w, 1)) return;
  const std::string& a = w[1];
  Balance b;
  if (a == "roundrobin") {
    b.algo = BalanceAlgo::RoundRobin;
  } else if (a == "static-rr") {
    b.algo = BalanceAlgo::StaticRR;
  } else if (a == "leastconn") {
    b.algo = BalanceAlgo::LeastConn;
  } else if (a == "first") {
    b.algo = BalanceAlgo::First;
  } else if (a == "source") {
    b.algo = BalanceAlgo::Source;
  } else if (a == "uri") {
    b.algo = BalanceAlgo::Uri;
    if (has(w, 2)) return p.alert("balance uri : option '" + w[2] + "' is not supported by herd.");
  } else if (a.rfind("random", 0) == 0 && (a.size() == 6 || a[6] == '(')) {
    b.algo = BalanceAlgo::Random;
    if (a.size() > 6) {
      size_t i = 7;
      int n = 0;
      while (i < a.size() && a[i] >= '0' && a[i] <= '9') n = n * 10 + (a[i++] - '0');
      if (i >= a.size() || a[i] != ')' || i + 1 != a.size())
        return p.alert("balance random : unexpected character '" +
                       std::string(1, i < a.size() ? a[i] : ' ') + "' after argument.");
      if (n < 1) return p.alert("balance random : number of draws must be at least 1.");
      b.random_draws = n;
    }
  } else if (a == "url_param") {
    if (!has(w, 2)) return p.alert("balance url_param requires an URL parameter name.");
    b.algo = BalanceAlgo::UrlParam;
    b.arg = w[2];
    if (has(w, 3)) {
      if (w[3] != "check_post")
        return p.alert("balance url_param only accepts 'check_post' modifier (got '" + w[3] +
                       "').");
      return p.alert("balance url_param : option 'check_post' is not supported by herd.");
    }
  } else if (a.rfind("hdr(", 0) == 0) {
    const size_t end = a.find(')', 4);
    if (end == std::string::npos || end == 4)
      return p.alert("balance hdr requires an http header field name.");
    b.algo = BalanceAlgo::Hdr;
    b.arg = a.substr(4, end - 4);
    if (has(w, 2)) {
      if (w[2] != "use_domain_only")
        return p.alert("balance " + a + " only accepts 'use_domain_only' modifier (got '" + w[2] +
                       "').");
      b.use_domain_only = true;
    }
  } else if (a.rfind("rdp-cookie", 0) == 0 || a == "hash") {
    return p.alert("balance '" + a + "' is not supported by herd.");
  } else {
    return p.alert("balance only supports 'roundrobin', 'static-rr', 'leastconn', 'source', "
                   "'uri', 'url_param', 'hdr(name)' and 'rdp-cookie(name)' options.");
  }
  p.cur->balance = b;
}

void kw_timeout(Parser& p, const Words& w) {
  const std::string& which = arg(w, 1);
  static const char* const kFront[] = {"client", "http-request", "client-fin"};
  static const char* const kBack[] = {"server", "connect", "queue", "check", "tunnel",
                                      "server-fin"};
  Timeouts& t = p.cur->timeouts;
  int64_t* slot = which == "client"            ? &t.client
                  : which == "server"          ? &t.server
                  : which == "connect"         ? &t.connect
                  : which == "check"           ? &t.check
                  : which == "queue"           ? &t.queue
                  : which == "http-keep-alive" ? &t.http_keep_alive
                  : which == "http-request"    ? &t.http_request
                  : which == "tunnel"          ? &t.tunnel
                  : which == "client-fin"      ? &t.client_fin
                  : which == "server-fin"      ? &t.server_fin
                  : which == "tarpit"          ? &t.tarpit
                                               : nullptr;
  if (slot == nullptr) {
    return p.alert("'timeout' supports 'client', 'server', 'connect', 'check', 'queue', "
                   "'http-keep-alive', 'http-request', 'tunnel', 'tarpit', 'client-fin' and "
                   "'server-fin' (got '" +
                   which + "')");
  }
  const std::string kw = "timeout " + which;
  if (!p.in_defaults()) {
    bool front = std::find(std::begin(kFront), std::end(kFront), which) != std::end(kFront);
    bool back = std::find(std::begin(kBack), std::end(kBack), which) != std::end(kBack);
    if ((front && !p.cur->has_frontend()) || (back && !p.cur->has_backend()))
      p.warn("'" + kw + "' will be ignored because " + Parser::kind_name(*p.cur) + " '" +
             p.cur->name + "' has no " + (front ? "frontend" : "backend") + " capability");
  }
  const std::string& v = arg(w, 2);
  TimeValue tv = parse_time(v);
  if (tv.status != TimeValue::Status::Ok) return p.alert(time_error(tv, v, kw));
  if (has(w, 3))
    return p.alert("'" + kw + "' : unexpected extra argument '" + w[3] + "' after value '" + v +
                   "'.");
  if (!tv.trailing_junk.empty()) p.warn_raw(time_junk_warning(v, tv));
  *slot = tv.ms;
  if (which == "connect" && !p.in_defaults()) p.cur_extra->connect_set_here = true;
}

void kw_legacy_timeout(Parser& p, const Words& w) {
  const std::string& k = w[0];
  const char* repl = k == "contimeout" ? "connect" : k == "clitimeout" ? "client" : "server";
  p.alert("the '" + k + "' directive is not supported anymore since HAProxy 2.1. Use 'timeout " +
          repl + "'.");
}

void kw_log(Parser& p, const Words& w) {
  if (arg(w, 1) == "global") {
    if (!no_extra(p, w, 2, "log global")) return;
    p.cur->log_global = true;
    return;
  }
  p.parse_log(w, 1, &p.cur->logs);
}

// `log-format <fmt>`, `unique-id-format <fmt>`: one argument (spaces
// escaped), parsed in post_checks() once the proxy's mode is known.
// `log-format-sd` (RFC 5424 structured data) is not implemented.
void kw_format(Parser& p, const Words& w) {
  const std::string& kw = w[0];
  if (kw == "log-format-sd") return p.alert("'log-format-sd' is not supported by herd.");
  if (!has(w, 1)) return p.alert(kw + " expects an argument.");
  if (has(w, 2)) return p.alert(kw + " expects only one argument, don't forget to escape spaces!");
  if (kw == "log-format" && p.cur->kind == Proxy::Kind::Backend) {
    return p.warn("backend '" + p.cur->name + "' : 'log-format' directive is ignored in backends.");
  }
  LogFormat f;
  f.raw = w[1];
  f.where = p.loc();
  if (kw == "unique-id-format") {
    p.cur->unique_id_format = std::move(f);
    return;
  }
  p.cur->log_format = std::move(f);  // replaces option httplog/tcplog, as in haproxy
  p.cur->httplog = p.cur->tcplog = false;
}

void kw_unique_id_header(Parser& p, const Words& w) {
  if (!has(w, 1)) return p.alert("unique-id-header expects an argument.");
  p.cur->unique_id_header = w[1];
}

void kw_cookie(Parser& p, const Words& w) {
  if (!has(w, 1)) return p.alert("'cookie' expects <cookie_name> as argument.");
  Cookie c;
  c.enabled = true;
  c.name = w[1];
  for (size_t i = 2; i < w.size(); ++i) {
    const std::string& o = w[i];
    if (o.empty()) continue;
    if (o == "rewrite") {
      c.rewrite = true;
    } else if (o == "insert") {
      c.insert = true;
    } else if (o == "prefix") {
      c.prefix = true;
    } else if (o == "indirect") {
      c.indirect = true;
    } else if (o == "nocache") {
      c.nocache = true;
    } else if (o == "postonly") {
      c.postonly = true;
    } else if (o == "preserve") {
      c.preserve = true;
    } else if (o == "httponly") {
      c.httponly = true;
    } else if (o == "secure") {
      c.secure = true;
    } else if (o == "domain") {
      if (!has(w, i + 1))
        return p.alert_raw("parsing " + p.where() + ": 'domain' expects <domain> as argument.");
      c.domains.push_back(w[++i]);
    } else if (o == "maxidle" || o == "maxlife" || o == "dynamic" || o == "attr") {
      return p.alert("'cookie' : '" + o + "' is not supported by herd.");
    } else {
      return p.alert("'cookie' supports 'rewrite', 'insert', 'prefix', 'indirect', 'nocache', "
                     "'postonly', 'domain', 'maxidle', 'dynamic', 'maxlife' and 'attr' options.");
    }
  }
  if (int(c.rewrite) + int(c.insert) + int(c.prefix) > 1)
    return p.alert("cookie 'rewrite', 'insert' and 'prefix' modes are incompatible.");
  p.cur->cookie = c;
}

// `http-check connect`: the forms herd implements (port, addr, default,
// linger, comment); the TLS, PROXY and SOCKS ones are refused by name.
void http_check_connect(Parser& p, const Words& w, HttpCheck& hc) {
  if (p.cur_extra->has_http_check_rules)
    return p.alert(
        "'http-check connect' : first step MUST also be a 'connect', optionally preceded by a "
        "'set-var', an 'unset-var' or a 'comment', when there is a 'connect' step in the "
        "tcp-check ruleset.");
  HttpCheck tmp = hc;
  tmp.connect_rule = true;
  for (size_t i = 2; i < w.size(); ++i) {
    const std::string& o = w[i];
    if (o.empty() || o == "default" || o == "linger") continue;
    if (o == "comment") {
      if (!has(w, i + 1))
        return p.alert("'http-check connect' : 'comment' expects a string as argument.");
      ++i;
    } else if (o == "port") {
      int v = has(w, i + 1) ? lax_int(w[i + 1]) : 0;
      if (v < 1 || v > 65535)
        return p.alert("'http-check connect' : expects a valid port number (got '" + arg(w, i + 1) +
                       "').");
      tmp.connect_port = static_cast<uint16_t>(v);
      ++i;
    } else if (o == "addr") {
      if (!has(w, i + 1) || !valid_network(w[i + 1]) || w[i + 1].find('/') != std::string::npos)
        return p.alert("'http-check connect' : 'addr' expects an address (got '" + arg(w, i + 1) +
                       "').");
      tmp.connect_addr = w[++i];
    } else if (o == "send-proxy" || o == "via-socks4" || o == "ssl" || o == "sni" || o == "alpn" ||
               o == "proto") {
      return p.alert("'http-check connect' : '" + o + "' is not supported by herd.");
    } else {
      return p.alert(
          "'http-check connect' : expects 'comment', 'port', 'addr', 'send-proxy', 'via-socks4', "
          "'ssl', 'sni', 'alpn', 'proto', 'linger' or 'default' but got '" +
          o + "' as argument.");
    }
  }
  hc = tmp;
  p.cur_extra->has_http_check_rules = true;
}

void kw_http_check(Parser& p, const Words& w) {
  const std::string& sub = arg(w, 1);
  HttpCheck& hc = p.cur->httpchk;
  if (sub == "disable-on-404") {
    hc.disable_on_404 = true;
  } else if (sub == "send") {
    HttpCheck tmp = hc;
    for (size_t i = 2; i < w.size(); ++i) {
      const std::string& o = w[i];
      if (o.empty()) continue;
      if (o == "meth" || o == "uri" || o == "ver" || o == "body") {
        if (!has(w, i + 1))
          return p.alert("'http-check send' : '" + o + "' expects a string as argument..");
        const std::string& v = w[++i];
        (o == "meth" ? tmp.method : o == "uri" ? tmp.uri : o == "ver" ? tmp.version : tmp.body) =
            v;
      } else if (o == "hdr") {
        if (!has(w, i + 1) || i + 2 >= w.size())
          return p.alert("'http-check send' : 'hdr' expects <name> and <value> as arguments.");
        tmp.headers.emplace_back(w[i + 1], w[i + 2]);
        i += 2;
      } else if (o == "comment" || o == "uri-lf" || o == "body-lf") {
        return p.alert("'http-check send' : '" + o + "' is not supported by herd.");
      } else {
        return p.alert("'http-check send' : expects 'comment', 'meth', 'uri', 'uri-lf', 'ver', "
                       "'hdr', 'body' or 'body-lf' but got '" +
                       o + "' as argument..");
      }
    }
    hc = tmp;
    p.cur_extra->has_http_check_rules = true;
  } else if (sub == "expect") {
    size_t i = 2;
    bool neg = false;
    if (arg(w, i) == "!") {
      neg = true;
      ++i;
    }
    const std::string& type = arg(w, i);
    if (type.empty())
      return p.alert("'http-check expect' : expects at least a matching pattern as arguments.");
    HttpCheck::Expect e;
    if (type == "status")
      e = HttpCheck::Expect::Status;
    else if (type == "rstatus")
      e = HttpCheck::Expect::RStatus;
    else if (type == "string")
      e = HttpCheck::Expect::String;
    else if (type == "rstring")
      e = HttpCheck::Expect::RString;
    else if (type == "min-recv" || type == "string-lf" || type == "hdr" || type == "fhdr" ||
             type == "comment")
      return p.alert("'http-check expect' : '" + type + "' is not supported by herd.");
    else
      return p.alert("'http-check expect' : 'only supports min-recv, [!]string', '[!]rstring', "
                     "'[!]string-lf', '[!]status', '[!]rstatus', [!]hdr, [!]fhdr or comment but "
                     "got '" +
                     type + "' as argument..");
    if (!has(w, i + 1))
      return p.alert("'http-check expect' : '" + type + "' expects a <pattern> as argument.");
    if (has(w, i + 2))
      return p.alert("'http-check expect' : '" + w[i + 2] + "' is not supported by herd.");
    hc.expect = e;
    hc.expect_negate = neg;
    hc.expect_value = w[i + 1];
    p.cur_extra->has_http_check_rules = true;
  } else if (sub == "send-state") {
    if (has(w, 2))
      return p.alert("'http-check send-state' cannot handle unexpected argument '" + w[2] + "'.");
    hc.send_state = true;
  } else if (sub == "connect") {
    http_check_connect(p, w, hc);
  } else if (sub == "comment" || sub.rfind("set-var", 0) == 0 || sub.rfind("unset-var", 0) == 0) {
    p.alert("'http-check " + sub + "' is not supported by herd.");
  } else {
    p.alert("'http-check' only supports 'disable-on-404', 'send-state', 'comment', 'connect', "
            "'send', 'expect', 'set-var-fmt(*)', 'set-var(*)', 'unset-var(*)'. but got '" +
            sub + "'");
  }
}

// "50494e47" -> "PING"; on a bad digit, the alert HAProxy gives.
bool unhex(Parser& p, const std::string& what, const std::string& hex, std::string* out) {
  auto val = [](char c) {
    return c >= '0' && c <= '9'   ? c - '0'
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
           : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                  : -1;
  };
  out->clear();
  for (size_t i = 0; i < hex.size(); ++i) {
    if (val(hex[i]) < 0) {
      p.alert("'" + what + "' : '" + hex + "' invalid binary string (an hex digit is expected " +
              "(found '" + hex[i] + "')).");
      return false;
    }
  }
  if (hex.size() % 2) {
    p.alert("'" + what + "' : '" + hex + "' invalid binary string (odd number of digits).");
    return false;
  }
  for (size_t i = 0; i < hex.size(); i += 2)
    *out += static_cast<char>(val(hex[i]) * 16 + val(hex[i + 1]));
  return true;
}

// `tcp-check connect|send|send-binary|expect|comment` (HAProxy 2.6); the
// other rule kinds and options are refused by name.
void kw_tcp_check(Parser& p, const Words& w) {
  const std::string& sub = arg(w, 1);
  TcpCheck& tc = p.cur->tcpchk;
  if (tc.inherited) {  // a proxy's own rules replace those of its defaults
    tc.rules.clear();
    tc.inherited = false;
  }
  TcpCheckRule r;
  const std::string what = "tcp-check " + sub;
  // `comment <text>` anywhere after the rule's own arguments.
  auto take_comment = [&](size_t i) {
    if (arg(w, i) != "comment") return false;
    if (!has(w, i + 1)) {
      p.alert("'" + what + "' : '" + arg(w, i) + "' expects a string as argument.");
      return true;
    }
    r.comment = w[i + 1];
    return true;
  };
  if (sub == "comment") {
    if (!has(w, 2)) return p.alert("'tcp-check comment' : expects a string as argument.");
    r.kind = TcpCheckRule::Kind::Comment;
    r.comment = w[2];
  } else if (sub == "connect") {
    r.kind = TcpCheckRule::Kind::Connect;
    for (const auto& x : tc.rules) {
      if (x.kind == TcpCheckRule::Kind::Comment) continue;
      if (x.kind != TcpCheckRule::Kind::Connect)
        return p.alert(
            "'tcp-check connect' : first step MUST also be a 'connect', optionally "
            "preceded by a 'set-var', an 'unset-var' or a 'comment', when there is a "
            "'connect' step in the tcp-check ruleset.");
      break;
    }
    for (size_t i = 2; i < w.size(); ++i) {
      const std::string& o = w[i];
      if (o.empty()) continue;
      if (o == "comment") {
        if (!take_comment(i) || !has(w, i + 1)) return;
        ++i;
      } else if (o == "port") {
        int v = has(w, i + 1) ? lax_int(w[i + 1]) : 0;
        if (v < 1 || v > 65535)
          return p.alert("'tcp-check connect' : expects a valid port number (got '" +
                         arg(w, i + 1) + "').");
        r.port = static_cast<uint16_t>(v);
        ++i;
      } else if (o == "default" || o == "addr" || o == "send-proxy" || o == "via-socks4" ||
                 o == "ssl" || o == "sni" || o == "alpn" || o == "proto" || o == "linger") {
        return p.alert("'tcp-check connect' : '" + o + "' is not supported by herd.");
      } else {
        return p.alert(
            "'tcp-check connect' : expects 'comment', 'port', 'addr', 'send-proxy', "
            "'via-socks4', 'ssl', 'sni', 'alpn', 'proto', 'linger' or 'default' but "
            "got '" +
            o + "' as argument.");
      }
    }
  } else if (sub == "send" || sub == "send-binary") {
    r.kind = TcpCheckRule::Kind::Send;
    if (!has(w, 2)) return p.alert("'" + what + "' : expects a <data> as argument.");
    if (sub == "send")
      r.data = w[2];
    else if (!unhex(p, what, w[2], &r.data))
      return;
    if (has(w, 3) && !take_comment(3))
      return p.alert("'" + what + "' : expects 'comment' but got '" + w[3] + "' as argument.");
  } else if (sub == "send-lf" || sub == "send-binary-lf" || sub.rfind("set-var", 0) == 0 ||
             sub.rfind("unset-var", 0) == 0) {
    return p.alert("'tcp-check " + sub + "' is not supported by herd.");
  } else if (sub == "expect") {
    r.kind = TcpCheckRule::Kind::Expect;
    const char* kOnly =
        "'tcp-check expect' : 'only supports min-recv, '[!]binary', '[!]string', '[!]rstring', "
        "'[!]string-lf''[!]rbinary', '[!]binary-lf' or comment but got '";
    size_t i = 2;
    bool have_pattern = false;
    for (; i < w.size(); ++i) {
      const std::string& o = w[i];
      if (o.empty()) continue;
      if (o == "!") {
        r.negate = true;
      } else if (o == "comment") {
        if (!take_comment(i) || !has(w, i + 1)) return;
        ++i;
      } else if (!have_pattern && (o == "string" || o == "rstring" || o == "binary")) {
        if (!has(w, i + 1))
          return p.alert("'tcp-check expect' : '" + o + "' expects a <pattern> as argument.");
        r.match = o == "string"    ? TcpCheckRule::Match::String
                  : o == "rstring" ? TcpCheckRule::Match::RString
                                   : TcpCheckRule::Match::Binary;
        if (r.match == TcpCheckRule::Match::Binary) {
          if (!unhex(p, "tcp-check expect", w[i + 1], &r.data)) return;
        } else {
          r.data = w[i + 1];
        }
        if (r.match == TcpCheckRule::Match::RString) {
          try {
            std::regex re(r.data);  // ECMAScript, as http-check (close to PCRE)
          } catch (const std::regex_error&) {
            return p.alert("'tcp-check expect' : regex '" + r.data + "' is invalid.");
          }
        }
        have_pattern = true;
        ++i;
      } else if (o == "min-recv" || o == "rbinary" || o == "string-lf" || o == "binary-lf" ||
                 o == "ok-status" || o == "error-status" || o == "tout-status" ||
                 o == "on-success" || o == "on-error" || o == "status-code") {
        return p.alert("'tcp-check expect' : '" + o + "' is not supported by herd.");
      } else {
        return p.alert(kOnly + o + "' as argument..");
      }
    }
    if (!have_pattern)
      return p.alert("'tcp-check expect' : expects a pattern (string, rstring or binary).");
  } else {
    return p.alert(
        "'tcp-check' only supports 'comment', 'connect', 'send', 'send-binary', "
        "'expect', 'set-var-fmt(*)', 'set-var(*)', 'unset-var(*)'. but got '" +
        sub + "'");
  }
  // `tcp-check comment X` names the rule that follows it.
  if (r.kind != TcpCheckRule::Kind::Comment && r.comment.empty() && !tc.rules.empty() &&
      tc.rules.back().kind == TcpCheckRule::Kind::Comment)
    r.comment = tc.rules.back().comment;
  tc.rules.push_back(std::move(r));
  p.cur_extra->has_tcp_check_rules = true;
}

void kw_stats(Parser& p, const Words& w) {
  const std::string& sub = arg(w, 1);
  StatsConfig& st = p.cur->stats;
  if (sub == "enable") {
  } else if (sub == "uri") {
    if (!has(w, 2)) return p.alert("'uri' needs an URI prefix.");
    st.uri = w[2];
  } else if (sub == "realm") {
    if (!has(w, 2)) return p.alert("'realm' needs an realm name.");
    st.realm = w[2];
    st.realm_set = true;
  } else if (sub == "refresh") {
    TimeValue tv = parse_time(arg(w, 2));
    if (tv.status != TimeValue::Status::Ok)
      return p.alert_raw("parsing " + p.where() + ": unexpected character '" +
                         (tv.bad_char ? std::string(1, tv.bad_char) : std::string()) +
                         "' in argument to stats refresh interval.");
    st.refresh_ms = tv.ms;
  } else if (sub == "auth") {
    if (!has(w, 2)) return p.alert("'auth' needs a user:password account.");
    size_t colon = w[2].find(':');
    st.auth.emplace_back(w[2].substr(0, colon),
                         colon == std::string::npos ? "" : w[2].substr(colon + 1));
  } else if (sub == "hide-version") {
    st.hide_version = true;
  } else if (sub == "show-legends") {
    st.show_legends = true;
  } else if (sub == "show-node") {
    st.show_node = true;
  } else if (sub == "admin") {
    const std::string& k = arg(w, 2);
    if (k != "if" && k != "unless")
      return p.alert("'stats admin' requires either 'if' or 'unless' followed by a condition.");
    if (p.in_defaults()) return p.alert("'stats admin' is not supported in 'defaults' by herd.");
    Condition c;
    if (!p.parse_condition(w, 2, "error detected while parsing a 'stats admin' rule : ", &c))
      return;
    st.admin = std::move(c);
  } else if (sub == "scope") {
    if (!has(w, 2)) return p.alert("'scope' needs a proxy name.");
    st.scope.push_back(w[2]);
  } else if (sub == "http-request") {
    if (p.in_defaults())
      return p.alert_raw("parsing " + p.where() + ": 'stats' not allowed in 'defaults' section.");
    p.stats_http_rule(Words(w.begin() + 1, w.end()));
  } else if (sub == "show-desc") {
    return p.alert("'stats " + sub + "' is not supported by herd.");
  } else {
    return p.alert_raw("parsing " + p.where() + ": unknown stats parameter '" + sub +
                       "', expects 'admin', 'uri', 'realm', 'auth', 'scope', 'enable', "
                       "'hide-version', 'show-node', 'show-desc' or 'show-legends'.");
  }
  st.enabled = true;
}

// `source <addr>[:<port>] [usesrc <addr>[:<port>] | client | clientip]`.
void kw_source(Parser& p, const Words& w) {
  if (!has(w, 1))
    return p.alert(
        "'source' expects <addr>[:<port>], and optionally 'usesrc' <addr>, and 'interface' "
        "<name>.");
  ConnSource src;
  src.set = true;
  std::string err;
  if (!parse_source_addr(w[1], false, &src.host, &src.port, &err))
    return p.alert("'source " + w[1] + "' : " + err);
  for (size_t i = 2; i < w.size(); ++i) {
    if (w[i] == "usesrc") {
      if (!has(w, i + 1))
        return p.alert("'usesrc' expects <addr>[:<port>], 'client', or 'clientip' as argument.");
      if (!parse_usesrc(w[i + 1], &src, &err)) return p.alert(err);
      ++i;
    } else if (w[i] == "interface") {
      if (!has(w, i + 1)) return p.alert("'source' : missing interface name.");
      return p.alert("'source ... interface' is not supported by herd.");
    } else {
      return p.alert("'source' only supports optional keywords 'interface' and 'usesrc'.");
    }
  }
  p.cur->source = std::move(src);
}

void kw_errorfile(Parser& p, const Words& w) {
  if (!has(w, 1) || !has(w, 2))
    return p.alert("errorfile : expects <status_code> and <file> as arguments.\n");
  static const int kCodes[] = {200, 400, 401, 403, 404, 405, 407, 408, 410,
                               413, 425, 429, 500, 501, 502, 503, 504};
  int code = lax_int(w[1]);
  if (std::find(std::begin(kCodes), std::end(kCodes), code) == std::end(kCodes))
    return p.alert("errorfile : status code '" + w[1] + "' not handled.");
  std::ifstream in(p.config_relative(w[2]), std::ios::binary);
  if (!in) return p.alert("errorfile : error opening file '" + w[2] + "'.");
  std::stringstream ss;
  ss << in.rdbuf();
  std::string body = ss.str();
  if (body.rfind("HTTP/", 0) != 0)
    return p.alert("errorfile : '" + w[2] + "': unable to parse headers (error offset: 0)");
  p.cur->errorfiles[code] = std::move(body);
}

// ---- option ----

struct Option {
  const char* name;
  int caps;
  bool negatable;
};
constexpr Option kOptions[] = {{"forwardfor", kFE | kBE, false},
                               {"httplog", kFE, true},
                               {"tcplog", kFE, true},
                               {"dontlognull", kFE, true},
                               {"http-ignore-probes", kFE, true},
                               {"tcpka", kFE | kBE, false},
                               {"clitcpka", kFE, true},
                               {"tcp-smart-accept", kFE, true},
                               {"srvtcpka", kBE, true},
                               {"contstats", kFE, true},
                               {"http-keep-alive", kFE | kBE, true},
                               {"http-server-close", kFE | kBE, true},
                               {"httpclose", kFE | kBE, true},
                               {"allbackups", kBE, true},
                               {"redispatch", kBE, true},
                               {"abortonclose", kBE, true},
                               {"prefer-last-server", kBE, true},
                               {"httpchk", kBE, false},
                               {"tcp-check", kBE, false},
                               {"mysql-check", kBE, false},
                               {"accept-invalid-http-request", kFE, true},
                               {"accept-invalid-http-response", kBE, true},
                               {"splice-auto", kFE | kBE, true},
                               {"splice-request", kFE | kBE, true},
                               {"splice-response", kFE | kBE, true},
                               {"http-no-delay", kFE | kBE, true},
                               {"log-health-checks", kBE, true}};

void option_forwardfor(Parser& p, const Words& w, size_t i) {
  ForwardFor f;
  f.enabled = true;
  for (; i < w.size(); ++i) {
    const std::string& o = w[i];
    if (o.empty()) continue;
    if (o == "except") {
      if (!has(w, i + 1) || !valid_network(w[i + 1]))
        return p.alert("'option forwardfor except' expects <address>[/mask] as argument.");
      f.except_net = w[++i];
    } else if (o == "header") {
      if (!has(w, i + 1))
        return p.alert("'option forwardfor header' expects <header_name> as argument.");
      f.header = w[++i];
      std::transform(f.header.begin(), f.header.end(), f.header.begin(),
                     [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    } else if (o == "if-none") {
      f.if_none = true;
    } else {
      return p.alert("'option forwardfor' only supports optional values: 'except', 'header' and "
                     "'if-none'.");
    }
  }
  p.cur->forwardfor = f;
}

void option_httpchk(Parser& p, const Words& w, size_t i) {
  HttpCheck hc = p.cur->httpchk;
  hc.enabled = true;
  size_t n = 0;
  while (has(w, i + n)) ++n;
  if (n > 3) return p.alert("'option httpchk' cannot handle unexpected argument '" + w[i + 3] + "'.");
  hc.method = "OPTIONS";
  hc.uri = "/";
  hc.version = "HTTP/1.0";
  if (n == 1) hc.uri = w[i];
  if (n >= 2) {
    hc.method = w[i];
    hc.uri = w[i + 1];
  }
  if (n == 3) {
    std::string v = w[i + 2];
    size_t crlf = v.find("\r\n");
    hc.version = v.substr(0, crlf);
    if (crlf != std::string::npos) {
      p.warn_raw("parsing " + p.where() +
                 ": 'option httpchk' : hiding headers or body at the end of the version string is "
                 "deprecated. Please, consider to use 'http-check send' directive instead.");
      std::string rest = v.substr(crlf + 2);
      while (!rest.empty()) {
        size_t e = rest.find("\r\n");
        std::string line = rest.substr(0, e);
        rest = e == std::string::npos ? "" : rest.substr(e + 2);
        if (line.empty()) {
          hc.body = rest;
          break;
        }
        size_t colon = line.find(':');
        std::string value = colon == std::string::npos ? "" : line.substr(colon + 1);
        value.erase(0, value.find_first_not_of(" \t"));
        hc.headers.emplace_back(line.substr(0, colon), value);
      }
    }
  }
  p.cur->httpchk = hc;
  p.cur->tcpchk.enabled = false;  // the last of httpchk / tcp-check / mysql-check wins
  p.cur->mysqlchk.enabled = false;
}

// `option mysql-check [user <name> [post-41|pre-41]]` (haproxy 2.6's texts).
void option_mysql_check(Parser& p, const Words& w, size_t i) {
  MysqlCheck m;
  m.enabled = true;
  m.post41 = true;  // 2.6 sends the 4.1 packet unless told `pre-41`
  if (has(w, i)) {
    if (w[i] != "user")
      return p.alert("'option mysql-check' only supports optional values: 'user' (got '" + w[i] +
                     "').");
    if (!has(w, i + 1)) return p.alert("'option mysql-check user' expects <username> as argument.");
    m.user = w[i + 1];
    if (has(w, i + 2)) {
      if (w[i + 2] != "post-41" && w[i + 2] != "pre-41")
        return p.alert("keyword 'user' only supports 'post-41' and 'pre-41' (got '" + w[i + 2] +
                       "').");
      m.post41 = w[i + 2] == "post-41";
    }
  }
  p.cur->mysqlchk = m;
  p.cur->httpchk.enabled = false;
  p.cur->tcpchk.enabled = false;
}

void kw_option(Parser& p, const Words& w) {
  bool neg = w[0] == "no";
  size_t base = neg ? 1 : 0;  // w[base] == "option"
  const std::string& name = arg(w, base + 1);
  const Option* opt = nullptr;
  for (const auto& o : kOptions)
    if (name == o.name) opt = &o;
  if (opt == nullptr) {
    if (neg)
      return p.alert_raw("parsing " + p.where() + ": negation/default is not supported for option '" +
                         name + "'.");
    std::vector<std::string_view> cands;
    for (const auto& o : kOptions) cands.push_back(o.name);
    std::string s = suggest(name, cands);
    return p.alert("unknown option '" + name + "'" +
                   (s.empty() ? "." : "; did you mean '" + s + "' maybe ?"));
  }
  if (neg && !opt->negatable)
    return p.alert_raw("parsing " + p.where() + ": negation/default is not supported for option '" +
                       name + "'.");
  if (lacks(p, opt->caps)) warn_cap(p, name, opt->caps);
  Proxy& px = *p.cur;
  size_t next = base + 2;
  if (name == "forwardfor") return option_forwardfor(p, w, next);
  if (name == "httpchk") return option_httpchk(p, w, next);
  if (name == "tcp-check") {
    if (!no_extra(p, w, next, "option " + name)) return;
    px.tcpchk.enabled = true;  // replaces `option httpchk`, as in haproxy
    px.httpchk.enabled = false;
    px.mysqlchk.enabled = false;
    return;
  }
  if (name == "mysql-check") return option_mysql_check(p, w, next);
  if (name == "redispatch") {
    px.redispatch = !neg;
    if (has(w, next)) px.redispatch_interval = lax_int(w[next]);
    return;
  }
  if (name == "httplog" && has(w, next)) {
    if (w[next] == "clf") return p.alert("'option httplog clf' is not supported by herd.");
    return p.alert("keyword 'httplog' only supports option 'clf'.");
  }
  if (!no_extra(p, w, next, "option " + name)) return;
  if (name == "httplog" || name == "tcplog") {
    // Each sets the log format: the last one wins, as in haproxy.
    (name == "httplog" ? px.httplog : px.tcplog) = !neg;
    if (!neg) (name == "httplog" ? px.tcplog : px.httplog) = false;
    px.log_option_where = p.loc();
    if (!neg) px.log_format.reset();  // the option's layout replaces a log-format
  } else if (name == "dontlognull") {
    px.dontlognull = !neg;
  } else if (name == "http-ignore-probes") {
    px.http_ignore_probes = !neg;
  } else if (name == "tcp-smart-accept") {
    px.tcp_smart_accept = neg ? 0 : 1;
  } else if (name == "tcpka" || name == "clitcpka" || name == "srvtcpka") {
    if (name != "srvtcpka") px.clitcpka = !neg;
    if (name != "clitcpka") px.srvtcpka = !neg;
  } else if (name == "log-health-checks") {
    px.log_health_checks = !neg;
  } else if (name == "contstats") {
    px.contstats = !neg;
  } else if (name == "allbackups") {
    px.allbackups = !neg;
  } else if (name == "abortonclose") {
    px.abortonclose = !neg;
  } else if (name == "prefer-last-server") {
    px.prefer_last_server = !neg;
  } else if (name == "accept-invalid-http-request") {
    px.accept_invalid_request = !neg;
  } else if (name == "accept-invalid-http-response") {
    px.accept_invalid_response = !neg;
  } else if (name == "splice-auto") {
    px.splice_auto = neg ? 0 : 1;
  } else if (name == "splice-request") {
    px.splice_request = neg ? 0 : 1;
  } else if (name == "splice-response") {
    px.splice_response = neg ? 0 : 1;
  } else if (name == "http-no-delay") {
    px.http_no_delay = !neg;
  } else {
    HttpConnMode m = name == "http-keep-alive"     ? HttpConnMode::KeepAlive
                     : name == "http-server-close" ? HttpConnMode::ServerClose
                                                   : HttpConnMode::Close;
    if (!neg)
      px.conn_mode = m;
    else if (px.conn_mode == m)
      px.conn_mode = HttpConnMode::KeepAlive;
  }
}

// `load-server-state-from-file global|local|none` (HAProxy 2.6's texts).
void kw_load_server_state(Parser& p, const Words& w) {
  const std::string& v = arg(w, 1);
  using L = Proxy::StateLoad;
  if (v == "global")
    p.cur->load_server_state = L::Global;
  else if (v == "local")
    p.cur->load_server_state = L::Local;
  else if (v == "none")
    p.cur->load_server_state = L::None;
  else
    p.alert("'" + w[0] + "' expects 'global', 'local' or 'none'. Got '" + v + "'");
}

// `server-state-file-name [use-backend-name|<file>]`.
void kw_server_state_file_name(Parser& p, const Words& w) {
  if (has(w, 2)) return p.alert("'" + w[0] + "' cannot handle unexpected argument '" + w[2] + "'.");
  const std::string& v = arg(w, 1);
  p.cur->server_state_file_name = v.empty() || v == "use-backend-name" ? p.cur->name : v;
}

void kw_declare(Parser& p, const Words& w) {
  if (!p.cur->has_frontend())
    return p.alert("'declare' only available in frontend or listen section");
  if (!has(w, 1))
    return p.alert(
        "'declare' needs a second keyword that specify the type of declaration ('capture')");
  if (w[1] != "capture")
    return p.alert("unknown declaration type '" + w[1] + "' (supports 'capture')");
  const std::string& dir = arg(w, 2);
  if (dir != "request" && dir != "response")
    return p.alert("'declare capture' requires a direction ('request' or 'response')");
  if (arg(w, 3) != "len") return p.alert("'declare capture' requires a capture length ('len')");
  const std::string& v = arg(w, 4);
  if (v.empty())
    return p.alert(
        "'declare capture': 'len' requires a numeric value that represents the capture length");
  char* end = nullptr;
  long n = std::strtol(v.c_str(), &end, 10);
  if (*end != '\0') return p.alert("'declare capture': cannot parse the length 'len'.");
  if (n <= 0) return p.alert("length must be > 0");
  (dir == "request" ? p.cur->req_captures : p.cur->res_captures).push_back(static_cast<int>(n));
}

// `monitor-uri <uri>`: requests for exactly this target are answered by
// herd (200, or 503 when a `monitor fail` condition holds) and not logged.
void kw_monitor_uri(Parser& p, const Words& w) {
  if (!has(w, 1)) return p.alert("'monitor-uri' expects an URI.");
  p.cur->monitor_uri = w[1];
}

void kw_server(Parser& p, const Words& w) { p.server_line(w); }
void kw_rules(Parser& p, const Words& w) { p.condition_keyword(w); }

constexpr Keyword kKeywords[] = {
    {"mode", kFE | kBE, true, kw_mode},
    {"bind", kFE, false, kw_bind},
    {"default_backend", kFE, true, kw_default_backend},
    {"use_backend", kFE, false, kw_rules},
    {"monitor", kFE, false, kw_rules},
    {"monitor-uri", kFE, true, kw_monitor_uri},
    {"acl", kFE | kBE, false, kw_rules},
    {"http-request", kFE | kBE, false, kw_rules},
    {"http-response", kFE | kBE, false, kw_rules},
    {"tcp-request", kFE | kBE, false, kw_rules},
    {"redirect", kFE | kBE, false, kw_rules},
    {"declare", kFE, false, kw_declare},
    {"maxconn", kFE, true, kw_maxconn},
    {"fullconn", kBE, true, kw_fullconn},
    {"balance", kBE, true, kw_balance},
    {"hash-type", kBE, true, kw_hash_type},
    {"retries", kBE, true, kw_retries},
    {"retry-on", kBE, true, kw_retry_on},
    {"timeout", kFE | kBE, true, kw_timeout},
    {"contimeout", kFE | kBE, true, kw_legacy_timeout},
    {"clitimeout", kFE | kBE, true, kw_legacy_timeout},
    {"srvtimeout", kFE | kBE, true, kw_legacy_timeout},
    {"log", kFE | kBE, true, kw_log},
    {"log-format", kFE | kBE, true, kw_format},
    {"log-format-sd", kFE | kBE, true, kw_format},
    {"unique-id-format", kFE | kBE, true, kw_format},
    {"unique-id-header", kFE | kBE, true, kw_unique_id_header},
    {"cookie", kBE, true, kw_cookie},
    {"http-check", kBE, true, kw_http_check},
    {"tcp-check", kBE, true, kw_tcp_check},
    {"stats", kFE | kBE, true, kw_stats},
    {"source", kBE, true, kw_source},
    {"errorfile", kFE | kBE, true, kw_errorfile},
    {"option", kFE | kBE, true, kw_option},
    {"server", kBE, false, kw_server},
    {"default-server", kBE, true, kw_server},
    {"server-template", kBE, false, kw_server},
    {"load-server-state-from-file", kBE, true, kw_load_server_state},
    {"server-state-file-name", kBE, true, kw_server_state_file_name},
};

}  // namespace

void Parser::proxy_keyword(const Words& w) {
  const std::string& kw = w[0];
  if (kw == "no") {
    if (arg(w, 1) == "option") return kw_option(*this, w);
    if (arg(w, 1) == "log" && !has(w, 2)) {
      cur->logs.clear();
      cur->log_global = false;
      return;
    }
  }
  const Keyword* k = nullptr;
  for (const auto& e : kKeywords)
    if (kw == e.name) k = &e;
  if (k == nullptr) {
    std::vector<std::string_view> cands;
    for (const auto& e : kKeywords) cands.push_back(e.name);
    for (const char* s : {"global", "defaults", "frontend", "backend", "listen"})
      cands.push_back(s);
    std::string s = suggest(kw, cands);
    return alert("unknown keyword '" + kw + "' in '" + section_kw_ + "' section" +
                 (s.empty() ? "" : "; did you mean '" + s + "' maybe ?"));
  }
  if (k->fn == kw_server) return k->fn(*this, w);
  if (in_defaults_ && !k->in_defaults) {
    bool named = !cur->name.empty();
    if ((kw == "acl" || kw == "http-request" || kw == "http-response") && !named)
      return alert("'" + kw + "' not allowed in anonymous 'defaults' section.");
    return alert("'" + kw + "' not allowed in 'defaults' section.");
  }
  if (kw != "option" && kw != "timeout" && lacks(*this, k->caps)) {
    const char* hint = kw == "maxconn"    ? " Maybe you want 'fullconn' instead ?"
                       : kw == "fullconn" ? " Maybe you want 'maxconn' instead ?"
                                          : "";
    warn_cap(*this, kw, k->caps, hint);
  }
  k->fn(*this, w);
}

}  // namespace herd::config::detail
