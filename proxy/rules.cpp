// proxy/rules.cpp — see rules.h.
#include "proxy/rules.h"

#include <arpa/inet.h>

#include <climits>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>

#include "config/regex.h"
#include "proxy/auth.h"
#include "proxy/client_hello.h"
#include "tls/conn.h"

namespace herd::proxy {
namespace {

bool istarts_with(std::string_view s, std::string_view p, bool icase) {
  if (s.size() < p.size()) return false;
  return icase ? http1::iequals(s.substr(0, p.size()), p) : s.substr(0, p.size()) == p;
}
bool iends_with(std::string_view s, std::string_view p, bool icase) {
  if (s.size() < p.size()) return false;
  auto tail = s.substr(s.size() - p.size());
  return icase ? http1::iequals(tail, p) : tail == p;
}
bool icontains(std::string_view s, std::string_view p, bool icase) {
  if (!icase) return s.find(p) != std::string_view::npos;
  if (p.empty()) return true;
  for (size_t i = 0; i + p.size() <= s.size(); ++i)
    if (http1::iequals(s.substr(i, p.size()), p)) return true;
  return false;
}
bool eq(std::string_view a, std::string_view b, bool icase) {
  return icase ? http1::iequals(a, b) : a == b;
}

// Calls fn(element) for each comma-separated element of a header value,
// trimmed of spaces and tabs, empty ones included (HAProxy's hdr() samples).
template <typename Fn>
void for_each_element(std::string_view v, Fn&& fn) {
  http1::for_each_element(v, [&](std::string_view, std::string_view e, bool) { fn(e); });
}

// "hdr(host)" -> "host"; "" when the fetch has no argument.
std::string_view fetch_arg(std::string_view fetch) {
  auto o = fetch.find('(');
  auto c = fetch.rfind(')');
  if (o == std::string_view::npos || c == std::string_view::npos || c < o) return {};
  auto a = fetch.substr(o + 1, c - o - 1);
  auto comma = a.find(',');
  return comma == std::string_view::npos ? a : a.substr(0, comma);
}
std::string_view fetch_name(std::string_view fetch) { return fetch.substr(0, fetch.find('(')); }

// The TLS samples as haproxy's text: ssl_fc/ssl_c_used "1"/"0", the others
// their value. False when the sample does not exist (no TLS, no SNI...).
bool tls_sample(std::string_view fn, const tls::Conn* t, std::string* out) {
  if (fn == "ssl_fc") {
    *out = t ? "1" : "0";
    return true;
  }
  if (!t) return false;
  if (fn == "ssl_c_used") {
    *out = t->client_cert_used() ? "1" : "0";
  } else if (fn == "ssl_c_verify") {
    *out = std::to_string(t->client_verify());
  } else if (fn == "ssl_c_s_dn") {
    if (!t->client_cert_used()) return false;
    *out = t->client_subject_dn();
  } else {
    std::string_view v = fn == "ssl_fc_sni"        ? t->sni()
                         : fn == "ssl_fc_protocol" ? t->protocol()
                         : fn == "ssl_fc_alpn"     ? t->alpn()
                                                   : std::string_view();
    if (v.empty()) return false;
    out->assign(v);
  }
  return true;
}

bool match_regex(const config::Acl& acl, std::string_view s) {
  for (const auto& re : acl.regexes)
    if (std::regex_search(s.begin(), s.end(), re->re)) return true;
  return false;
}

// An integer sample against `<n>`, `<lo>:<hi>` or `ge|gt|le|lt|eq <n>`-less
// ranges, as HAProxy's integer patterns.
bool match_int(long value, std::string_view v) {
  auto num = [](std::string_view t) { return std::atol(std::string(t).c_str()); };
  auto colon = v.find(':');
  if (colon == std::string_view::npos) return num(v) == value;
  long lo = colon ? num(v.substr(0, colon)) : 0;
  long hi = colon + 1 < v.size() ? num(v.substr(colon + 1)) : LONG_MAX;
  return value >= lo && value <= hi;
}

// The values of header `name` in `h` (each comma-separated element, as
// HAProxy's hdr() samples them) against the ACL's patterns; `kind` is the
// match suffix ("", "_beg", "_end", "_sub", "_reg").
bool match_header_values(const http1::Head& h, const char* base, std::string_view name,
                         std::string_view kind, const config::Acl& acl) {
  // Host values are compared case-insensitively, as DNS names are.
  const bool ic = acl.ignore_case || http1::iequals(name, "host");
  auto any = [&](auto pred) {
    for (const auto& v : acl.values)
      if (pred(std::string_view(v))) return true;
    return false;
  };
  for (size_t i = 0; i < h.nfields; ++i) {
    if (!http1::iequals(h.name(base, i), name)) continue;
    bool ok = false;
    for_each_element(h.value(base, i), [&](std::string_view val) {
      if (ok) return;
      if (kind.empty())
        ok = any([&](std::string_view v) { return eq(val, v, ic); });
      else if (kind == "_beg")
        ok = any([&](std::string_view v) { return istarts_with(val, v, ic); });
      else if (kind == "_end")
        ok = any([&](std::string_view v) { return iends_with(val, v, ic); });
      else if (kind == "_sub")
        ok = any([&](std::string_view v) { return icontains(val, v, ic); });
      else if (kind == "_reg")
        ok = match_regex(acl, val);
    });
    if (ok) return true;
  }
  return false;
}

// `var(<name>) -m <method> <values>`: an unset variable matches nothing
// (not even -m found); -m int takes "gt 0"-style operators and "lo:hi" ranges.
bool match_var(const config::Acl& acl, const RequestView& r) {
  std::string_view name = fetch_arg(acl.fetch);
  std::string val;
  if (name.starts_with("proc.")) {
    val = var_value(r, name);
    if (val.empty()) return false;
  } else {
    const std::string* v = r.vars ? r.vars->get(name) : nullptr;
    if (!v) return false;
    val = *v;
  }
  const std::string& m = acl.match;
  if (m == "found") return true;
  const bool ic = acl.ignore_case;
  if (m == "int") {
    char* end = nullptr;
    const long x = std::strtol(val.c_str(), &end, 10);
    if (end == val.c_str()) return false;  // not a number: no integer sample
    std::string_view op;
    for (const auto& v : acl.values) {
      if (v == "eq" || v == "ge" || v == "gt" || v == "le" || v == "lt") {
        op = v;
        continue;
      }
      const long n = std::atol(v.c_str());
      bool ok = op == "ge"   ? x >= n
                : op == "gt" ? x > n
                : op == "le" ? x <= n
                : op == "lt" ? x < n
                             : false;
      if (op.empty() || op == "eq") ok = match_int(x, v);
      if (ok) return true;
    }
    return false;
  }
  for (const auto& v : acl.values) {
    if (m == "str" && (ic ? http1::iequals(val, v) : val == v)) return true;
    if (m == "beg" && istarts_with(val, v, ic)) return true;
    if (m == "end" && iends_with(val, v, ic)) return true;
    if (m == "sub" && icontains(val, v, ic)) return true;
  }
  return false;
}

bool match_acl(const config::Acl& acl, const RequestView& r) {
  std::string_view fn = fetch_name(acl.fetch);
  bool ic = acl.ignore_case;
  auto any = [&](auto pred) {
    for (const auto& v : acl.values)
      if (pred(std::string_view(v))) return true;
    return false;
  };
  if (fn == "var") return match_var(acl, r);
  if (fn == "src") return any([&](std::string_view v) { return ip_in_network(r.src_ip, v); });
  if (fn == "dst") return any([&](std::string_view v) { return ip_in_network(r.dst_ip, v); });
  if (fn == "dst_port" || fn == "src_port") {  // a port or a range "lo:hi"
    const int port = fn == "dst_port" ? r.dst_port : r.src_port;
    return any([&](std::string_view v) {
      auto colon = v.find(':');
      auto num = [](std::string_view t) { return std::atoi(std::string(t).c_str()); };
      if (colon == std::string_view::npos) return num(v) == port;
      int lo = colon ? num(v.substr(0, colon)) : 0;
      int hi = colon + 1 < v.size() ? num(v.substr(colon + 1)) : 65535;
      return port >= lo && port <= hi;
    });
  }
  if (fn.starts_with("ssl_")) {
    std::string v;
    if (!tls_sample(fn, r.tls, &v)) return false;
    if (fn == "ssl_fc" || fn == "ssl_c_used")
      return acl.values.empty() ? v == "1" : any([&](std::string_view x) { return x == v; });
    if (fn == "ssl_c_verify")
      return any([&](std::string_view x) {
        return std::atol(std::string(x).c_str()) == std::atol(v.c_str());
      });
    return any([&](std::string_view x) { return eq(v, x, ic); });
  }
  if (fn == "env") {  // the process environment now, as haproxy's env()
    const char* v = std::getenv(std::string(fetch_arg(acl.fetch)).c_str());
    if (!v) return false;
    const std::string_view s = v;
    const std::string_view m = acl.match;
    if (m == "found") return true;
    if (m == "beg") return any([&](std::string_view x) { return istarts_with(s, x, ic); });
    if (m == "end") return any([&](std::string_view x) { return iends_with(s, x, ic); });
    if (m == "sub") return any([&](std::string_view x) { return icontains(s, x, ic); });
    if (m == "reg") return match_regex(acl, s);
    if (m == "len")
      return any([&](std::string_view x) { return match_int(static_cast<long>(s.size()), x); });
    return any([&](std::string_view x) { return eq(s, x, ic); });
  }
  if (fn == "req.len" || fn == "req_len") {  // what is there now (haproxy does not wait for it)
    return any(
        [&](std::string_view v) { return match_int(static_cast<long>(r.content.size()), v); });
  }
  if (fn == "req_ssl_hello_type" || fn == "req.ssl_hello_type" || fn == "req_ssl_sni" ||
      fn == "req.ssl_sni") {
    int type = 0;
    std::string_view sni;
    const bool sni_fetch = fn.ends_with("sni");
    Sample got = sni_fetch ? ssl_sni(r.content, &sni) : ssl_hello_type(r.content, &type);
    if (got == Sample::MayChange && !r.content_final && r.may_change) *r.may_change = true;
    if (got != Sample::Found) return false;
    if (sni_fetch) return any([&](std::string_view v) { return eq(sni, v, ic); });
    return any([&](std::string_view v) { return match_int(type, v); });
  }
  if (fn == "status" || fn == "res.hdr" || fn == "shdr") {
    if (!r.resp) return false;  // a request: no response sample
    if (fn == "status")
      return any([&](std::string_view v) { return match_int(r.resp->status, v); });
    return match_header_values(*r.resp, r.resp_base, fetch_arg(acl.fetch), "", acl);
  }
  if (!r.head) return false;  // a TCP connection or a response: no request sample
  if (fn.starts_with("http_auth")) {
    const AuthInfo a = parse_authorization(r.base, *r.head);
    if (fn == "http_auth_type") {
      if (a.method == AuthInfo::Method::None) return false;
      std::string_view t = a.method == AuthInfo::Method::Basic ? "Basic" : "Bearer";
      return any([&](std::string_view v) { return eq(t, v, ic); });
    }
    if (a.method != AuthInfo::Method::Basic) return false;
    if (fn == "http_auth_user" || fn == "http_auth_pass") {
      std::string_view s = fn == "http_auth_user" ? a.user : a.pass;
      return any([&](std::string_view v) { return eq(s, v, ic); });
    }
    if (!acl.userlist || !check_user(*acl.userlist, a.user, a.pass)) return false;
    if (fn == "http_auth") return true;
    const auto* groups = user_groups(*acl.userlist, a.user);
    return groups && any([&](std::string_view v) {
             for (const auto& g : *groups)
               if (g == v) return true;
             return false;
           });
  }
  if (fn == "method") return any([&](std::string_view v) { return eq(r.head->method, v, ic); });
  if (fn.starts_with("path") || fn.starts_with("url")) {
    std::string_view s = fn.starts_with("url") ? r.head->target : request_path(r.head->target);
    std::string_view kind = fn.substr(fn.starts_with("url") ? 3 : 4);
    if (kind.empty()) return any([&](std::string_view v) { return eq(s, v, ic); });
    if (kind == "_beg") return any([&](std::string_view v) { return istarts_with(s, v, ic); });
    if (kind == "_end") return any([&](std::string_view v) { return iends_with(s, v, ic); });
    if (kind == "_sub") return any([&](std::string_view v) { return icontains(s, v, ic); });
    if (kind == "_dir")
      return any([&](std::string_view v) {
        std::string d = "/" + std::string(v) + "/";
        return icontains(std::string("/") + std::string(s) + "/", d, ic);
      });
    if (kind == "_reg") return match_regex(acl, s);
    return false;
  }
  if (fn.starts_with("hdr") || fn.starts_with("req.hdr")) {
    std::string_view name = fetch_arg(acl.fetch);
    std::string_view kind = fn.substr(fn.starts_with("req.") ? 7 : 3);
    return match_header_values(*r.head, r.base, name, kind, acl);
  }
  return false;
}

// HAProxy's predefined ACLs (TRUE and FALSE are handled by the caller).
bool predefined_acl(std::string_view name, const RequestView& r) {
  if (name == "LOCALHOST") return ip_in_network(r.src_ip, "127.0.0.0/8") || r.src_ip == "::1";
  if (name == "WAIT_END" && !r.head && !r.resp) {
    // tcp-request content: true once inspect-delay is over (or no more
    // bytes can come); until then the rule waits.
    if (!r.content_final && r.may_change) *r.may_change = true;
    return r.content_final;
  }
  if (name == "HTTP" && !r.head && !r.resp) {
    // A TCP connection's first bytes: a complete, valid HTTP request head.
    http1::Head h;
    auto st = http1::parse_request(r.content.data(), r.content.size(), h);
    if (st == http1::Status::Incomplete && !r.content_final && r.may_change) *r.may_change = true;
    return st == http1::Status::Complete;
  }
  if (!r.head) return false;  // a TCP connection: no HTTP request
  std::string_view m = r.head->method;
  if (name == "HTTP") return true;
  if (name == "HTTP_1.0") return r.head->version_str == "HTTP/1.0";
  // `req.ver 1.1` / `req.ver 2.0`: the version as the request line gives it
  // (haproxy matches "GET / HTTP/2.0" sent on an HTTP/1 connection too).
  if (name == "HTTP_1.1") return r.head->version_str == "HTTP/1.1";
  if (name == "HTTP_2.0") return r.head->version_str == "HTTP/2.0";
  if (name == "HTTP_CONTENT") return r.head->content_length > 0 || r.head->chunked;
  if (name == "HTTP_URL_ABS") return r.head->target.find("://") != std::string_view::npos;
  if (name == "HTTP_URL_SLASH") return r.head->target.starts_with("/");
  if (name == "HTTP_URL_STAR") return r.head->target == "*";
  if (name == "LOCALHOST") return ip_in_network(r.src_ip, "127.0.0.0/8") || r.src_ip == "::1";
  if (name == "METH_GET") return m == "GET" || m == "HEAD";
  if (name.starts_with("METH_")) return m == name.substr(5);
  if (name == "REQ_CONTENT") return r.head->content_length > 0 || r.head->chunked;
  return false;  // RDP_COOKIE, WAIT_END: not applicable to HTTP requests here
}

bool eval_term(const config::Condition::Term& t, const config::Proxy& px, const RequestView& r) {
  bool v = false;
  if (t.inline_acl) {
    v = match_acl(*t.inline_acl, r);
  } else if (t.acl == "TRUE") {
    v = true;
  } else if (t.acl == "FALSE") {
    v = false;
  } else if (auto it = px.acls.find(t.acl); it == px.acls.end()) {
    v = predefined_acl(t.acl, r);
  } else {
    for (const auto& a : it->second)
      if (match_acl(a, r)) {
        v = true;
        break;
      }
  }
  return t.negate ? !v : v;
}

}  // namespace

std::string_view request_path(std::string_view target) {
  if (!target.empty() && target[0] != '/') {
    auto scheme = target.find("://");
    if (scheme != std::string_view::npos) {
      auto slash = target.find('/', scheme + 3);
      target = slash == std::string_view::npos ? std::string_view("/") : target.substr(slash);
    }
  }
  auto q = target.find('?');
  return q == std::string_view::npos ? target : target.substr(0, q);
}

std::string_view header_value(const RequestView& r, std::string_view name) {
  for (size_t i = 0; i < r.head->nfields; ++i)
    if (http1::iequals(r.head->name(r.base, i), name)) return r.head->value(r.base, i);
  return {};
}

bool eval_condition(const config::Condition& cond, const config::Proxy& px, const RequestView& r) {
  bool result = false;
  for (const auto& group : cond.any_of) {
    bool all = true;
    for (const auto& t : group)
      if (!eval_term(t, px, r)) {
        all = false;
        break;
      }
    if (all) {
      result = true;
      break;
    }
  }
  return cond.unless ? !result : result;
}

TcpVerdict tcp_request_verdict(const config::Proxy& px, bool content, const RequestView& r) {
  for (const auto& rule : px.tcp_request) {
    if (rule.content != content) continue;
    bool more = false;
    RequestView v = r;
    v.may_change = &more;
    const bool holds = !rule.cond || eval_condition(*rule.cond, px, v);
    if (more) return TcpVerdict::Wait;
    if (holds) return rule.accept ? TcpVerdict::Accept : TcpVerdict::Reject;
  }
  return TcpVerdict::Accept;
}

const config::HttpRequestRule* request_final_rule(const config::Proxy& px, const RequestView& r,
                                                  bool redirects) {
  using A = config::HttpRequestRule::Action;
  for (const auto& rule : px.http_request) {
    const bool var_rule = rule.action == A::SetVar || rule.action == A::UnsetVar;
    if (rule.action != A::Deny && rule.action != A::Allow && rule.action != A::Redirect &&
        rule.action != A::Auth && rule.action != A::Tarpit && !var_rule)
      continue;
    if (rule.cond && !eval_condition(*rule.cond, px, r)) continue;
    if (var_rule) {  // in order: later conditions see the variable
      apply_var_rule(rule, r);
      continue;
    }
    if (rule.action == A::Allow) break;
    return &rule;
  }
  return redirects ? redirect_rule(px, r) : nullptr;
}

const config::HttpRequestRule* redirect_rule(const config::Proxy& px, const RequestView& r) {
  for (const auto& rule : px.redirects)
    if (!rule.cond || eval_condition(*rule.cond, px, r)) return &rule;
  return nullptr;
}

std::string expand_format(const config::FormatString& f, const RequestView& r) {
  std::string out;
  append_format(out, f, r);
  return out;
}

void append_format(std::string& out, const config::FormatString& f, const RequestView& r) {
  for (const auto& p : f.parts) {
    if (!p.is_fetch) {
      out += p.text;
      continue;
    }
    std::string_view fn = fetch_name(p.text);
    if (fn == "src")
      out += r.src_ip;
    else if (fn == "dst")
      out += r.dst_ip;
    else if (fn == "src_port")
      out += std::to_string(r.src_port);
    else if (fn == "dst_port")
      out += std::to_string(r.dst_port);
    else if (fn == "method")
      out += r.head->method;
    else if (fn == "path")
      out += request_path(r.head->target);
    else if (fn == "url")
      out += r.head->target;
    else if (fn == "req.hdr" || fn == "hdr")
      out += last_header_value(r.base, *r.head, fetch_arg(p.text));
    else if (fn == "status")
      out += std::to_string(r.resp->status);
    else if (fn.starts_with("http_auth_") && r.head) {
      const AuthInfo a = parse_authorization(r.base, *r.head);
      if (fn == "http_auth_type" && a.method != AuthInfo::Method::None)
        out += a.method == AuthInfo::Method::Basic ? "Basic" : "Bearer";
      else if (a.method == AuthInfo::Method::Basic)
        out += fn == "http_auth_user" ? a.user : fn == "http_auth_pass" ? a.pass : "";
    } else if (fn == "res.hdr")
      out += last_header_value(r.resp_base, *r.resp, fetch_arg(p.text));
    else if (fn == "env") {
      if (const char* v = std::getenv(std::string(fetch_arg(p.text)).c_str())) out += v;
    } else if (fn == "var")
      out += var_value(r, fetch_arg(p.text));
    else if (std::string v; fn.starts_with("ssl_") && tls_sample(fn, r.tls, &v))
      out += v;
  }
}

const std::string* Vars::get(std::string_view name) const {
  for (const auto& [k, v] : values)
    if (k == name) return &v;
  return nullptr;
}

void Vars::set(std::string_view name, std::string value) {
  for (auto& [k, v] : values)
    if (k == name) {
      v = std::move(value);
      return;
    }
  values.emplace_back(std::string(name), std::move(value));
}

void Vars::unset(std::string_view name) {
  std::erase_if(values, [&](const auto& kv) { return kv.first == name; });
}

void Vars::end_request() {
  std::erase_if(values, [](const auto& kv) { return !kv.first.starts_with("sess."); });
}

namespace {
std::mutex proc_vars_mu;
Vars proc_vars;
}  // namespace

std::string var_value(const RequestView& r, std::string_view name) {
  if (name.starts_with("proc.")) {
    std::lock_guard lk(proc_vars_mu);
    const std::string* v = proc_vars.get(name);
    return v ? *v : std::string();
  }
  const std::string* v = r.vars ? r.vars->get(name) : nullptr;
  return v ? *v : std::string();
}

void set_var(const RequestView& r, std::string_view name, std::string value) {
  if (name.starts_with("proc.")) {
    std::lock_guard lk(proc_vars_mu);
    proc_vars.set(name, std::move(value));
  } else if (r.vars) {
    r.vars->set(name, std::move(value));
  }
}

void unset_var(const RequestView& r, std::string_view name) {
  if (name.starts_with("proc.")) {
    std::lock_guard lk(proc_vars_mu);
    proc_vars.unset(name);
  } else if (r.vars) {
    r.vars->unset(name);
  }
}

namespace {
// set-var's expression (config: set_var_expr): a literal or a fetch.
std::string var_expr_value(std::string_view e, const RequestView& r) {
  std::string_view fn = fetch_name(e);
  std::string_view arg =
      fn.size() < e.size() ? e.substr(fn.size() + 1, e.size() - fn.size() - 2) : std::string_view();
  if (fn == "str" || fn == "int") return std::string(arg);
  if (fn == "bool") return arg == "0" || arg.empty() ? "0" : "1";
  if (fn == "src") return std::string(r.src_ip);
  if (fn == "dst") return std::string(r.dst_ip);
  if (fn == "src_port") return std::to_string(r.src_port);
  if (fn == "dst_port") return std::to_string(r.dst_port);
  if (fn == "var") return var_value(r, arg);
  if (fn == "status") return r.resp ? std::to_string(r.resp->status) : std::string();
  if (fn == "res.hdr")
    return r.resp ? std::string(last_header_value(r.resp_base, *r.resp, arg)) : std::string();
  if (!r.head) return {};
  if (fn == "path") return std::string(request_path(r.head->target));
  if (fn == "url") return std::string(r.head->target);
  if (fn == "method") return std::string(r.head->method);
  if (fn == "hdr" || fn == "req.hdr") return std::string(last_header_value(r.base, *r.head, arg));
  return {};
}
}  // namespace

void apply_var_rule(const config::HttpRequestRule& rule, const RequestView& r) {
  if (rule.action == config::HttpRequestRule::Action::UnsetVar) return unset_var(r, rule.name);
  std::string v = rule.expr.empty() ? expand_format(rule.value, r) : var_expr_value(rule.expr, r);
  // A fetch that finds nothing (an absent header...) sets nothing, as in haproxy.
  if (v.empty() && !rule.expr.empty() && !rule.expr.starts_with("str(")) return;
  set_var(r, rule.name, std::move(v));
}

void log_samples(const config::LogFormat& f, const RequestView& r, std::vector<std::string>& out) {
  out.clear();
  for (const auto& n : f.nodes) {
    if (n.kind != config::LogFormat::Kind::Expr) continue;
    std::string& v = out.emplace_back();
    std::string_view e = n.text;
    if (e == "src")
      v = r.src_ip;
    else if (e == "dst")
      v = r.dst_ip;
    else if (e == "src_port")
      v = std::to_string(r.src_port);
    else if (e == "dst_port")
      v = std::to_string(r.dst_port);
    else if (e.starts_with("var("))
      v = var_value(r, e.substr(4, e.size() - 5));
    else if (e.starts_with("ssl_"))
      tls_sample(e, r.tls, &v);
  }
}

std::string_view last_header_value(const char* base, const http1::Head& h, std::string_view name) {
  std::string_view last;
  for (size_t i = 0; i < h.nfields; ++i)
    if (http1::iequals(h.name(base, i), name))
      for_each_element(h.value(base, i), [&](std::string_view e) { last = e; });
  return last;
}

std::string_view find_cookie(const RequestView& r, std::string_view name, bool& found) {
  found = false;
  for (size_t i = 0; i < r.head->nfields; ++i) {
    if (!http1::iequals(r.head->name(r.base, i), "cookie")) continue;
    std::string_view v = r.head->value(r.base, i);
    while (!v.empty()) {
      auto semi = v.find(';');
      std::string_view pair = v.substr(0, semi);
      v = semi == std::string_view::npos ? std::string_view() : v.substr(semi + 1);
      while (!pair.empty() && (pair.front() == ' ' || pair.front() == '\t')) pair.remove_prefix(1);
      auto eqp = pair.find('=');
      if (eqp == std::string_view::npos) continue;
      std::string_view k = pair.substr(0, eqp);
      while (!k.empty() && (k.back() == ' ' || k.back() == '\t')) k.remove_suffix(1);
      if (k == name) {
        found = true;
        std::string_view val = pair.substr(eqp + 1);
        while (!val.empty() && (val.back() == ' ' || val.back() == '\t')) val.remove_suffix(1);
        return val;
      }
    }
  }
  return {};
}

std::string strip_cookie(std::string_view value, std::string_view name) {
  std::string out;
  while (!value.empty()) {
    auto semi = value.find(';');
    std::string_view pair = value.substr(0, semi);
    value = semi == std::string_view::npos ? std::string_view() : value.substr(semi + 1);
    while (!pair.empty() && (pair.front() == ' ' || pair.front() == '\t')) pair.remove_prefix(1);
    while (!pair.empty() && (pair.back() == ' ' || pair.back() == '\t')) pair.remove_suffix(1);
    if (pair.empty()) continue;
    auto eqp = pair.find('=');
    std::string_view k = pair.substr(0, eqp);
    if (k == name) continue;
    if (!out.empty()) out += "; ";
    out += pair;
  }
  return out;
}

bool ip_in_network(std::string_view ip, std::string_view cidr) {
  std::string net(cidr);
  int bits = -1;
  if (auto slash = net.find('/'); slash != std::string::npos) {
    bits = std::atoi(net.c_str() + slash + 1);
    net.resize(slash);
  }
  std::string ipstr(ip);
  unsigned char a[16], b[16];
  int len = 0;
  if (inet_pton(AF_INET, ipstr.c_str(), a) == 1 && inet_pton(AF_INET, net.c_str(), b) == 1) {
    len = 4;
  } else if (inet_pton(AF_INET6, ipstr.c_str(), a) == 1 &&
             inet_pton(AF_INET6, net.c_str(), b) == 1) {
    len = 16;
  } else {
    return false;
  }
  if (bits < 0 || bits > len * 8) bits = len * 8;
  int full = bits / 8, rem = bits % 8;
  if (std::memcmp(a, b, static_cast<size_t>(full)) != 0) return false;
  if (rem == 0) return true;
  unsigned char mask = static_cast<unsigned char>(0xff << (8 - rem));
  return (a[full] & mask) == (b[full] & mask);
}

}  // namespace herd::proxy
