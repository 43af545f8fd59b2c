// config/keywords_rules.cpp — ACLs, conditions (`if`/`unless`), format
// strings, `use_backend`, `http-request` and `http-response`.
#include <algorithm>
#include <memory>
#include <utility>

#include "config/log_format.h"
#include "config/parser_internal.h"
#include "config/regex.h"
#include "config/units.h"

namespace herd::config::detail {
namespace {

constexpr const char* kFetches[] = {"path_beg",
                                    "path",
                                    "path_end",
                                    "path_sub",
                                    "path_reg",
                                    "hdr",
                                    "hdr_beg",
                                    "hdr_reg",
                                    "src",
                                    "method",
                                    "dst",
                                    "dst_port",
                                    "src_port",
                                    "status",
                                    "res.hdr",
                                    "shdr",
                                    "ssl_fc",
                                    "ssl_fc_sni",
                                    "ssl_fc_protocol",
                                    "ssl_fc_alpn",
                                    "ssl_c_used",
                                    "ssl_c_verify",
                                    "ssl_c_s_dn",
                                    "req_ssl_hello_type",
                                    "req.ssl_hello_type",
                                    "req_ssl_sni",
                                    "req.ssl_sni",
                                    "req.len",
                                    "req_len",
                                    "env",
                                    "var",
                                    "http_auth",
                                    "http_auth_group",
                                    "http_auth_user",
                                    "http_auth_pass",
                                    "http_auth_type"};
constexpr const char* kFormatFetches[] = {
    "src",          "dst",        "src_port",        "dst_port",       "status",
    "ssl_fc",       "ssl_fc_sni", "ssl_fc_protocol", "ssl_fc_alpn",    "ssl_c_used",
    "ssl_c_verify", "ssl_c_s_dn", "http_auth_user",  "http_auth_pass", "http_auth_type"};

// What a fetch needs (HAProxy's SMP_USE_*): the connection only, the
// request, or the response. A rule of the other phase never matches it.
enum class Needs { Conn, Request, Response };
Needs fetch_needs(std::string_view fetch) {
  std::string_view base = fetch.substr(0, fetch.find('('));
  if (base == "src" || base == "dst" || base == "src_port" || base == "dst_port" ||
      base.starts_with("ssl_") || base == "env" || base == "var")
    return Needs::Conn;
  if (base == "status" || base == "res.hdr" || base == "shdr") return Needs::Response;
  return Needs::Request;
}

// Fetches taking no pattern: a boolean (the match is the value itself).
bool boolean_fetch(std::string_view base) {
  return base == "ssl_fc" || base == "ssl_c_used" || base == "http_auth";
}
bool regex_fetch(std::string_view base, std::string_view match = "") {
  return base.ends_with("_reg") || match == "reg";
}

// Every http-request action of HAProxy 2.6, in the order its error message
// lists them ("(*)" marks actions taking an argument in parentheses).
constexpr const char* kHaproxyActions[] = {
    "wait-for-handshake", "ot-group", "set-log-level", "set-nice", "use-service",
    "sc-inc-gpc(*)", "sc-inc-gpc0(*)", "sc-inc-gpc1(*)", "sc-set-gpt(*)", "sc-set-gpt0(*)",
    "send-spoe-group", "do-resolve(*)", "cache-use", "add-acl(*)", "add-header", "allow",
    "auth", "capture", "del-acl(*)", "del-header", "del-map(*)", "deny", "disable-l7-retry",
    "early-hint", "normalize-uri", "redirect", "reject", "replace-header", "replace-path",
    "replace-pathq", "replace-uri", "replace-value", "return", "set-header", "set-map(*)",
    "set-method", "set-path", "set-pathq", "set-query", "set-uri", "strict-mode", "tarpit",
    "track-sc(*)", "set-timeout", "wait-for-body", "set-var-fmt(*)", "set-var(*)",
    "unset-var(*)", "set-dst", "set-dst-port", "set-mark", "set-src", "set-src-port",
    "set-tos", "silent-drop", "set-priority-class", "set-priority-offset"};

// Every http-response action of HAProxy 2.6, in the order its error message
// lists them.
constexpr const char* kHaproxyResponseActions[] = {
    "ot-group",       "set-log-level", "set-nice",       "sc-inc-gpc(*)",   "sc-inc-gpc0(*)",
    "sc-inc-gpc1(*)", "sc-set-gpt(*)", "sc-set-gpt0(*)", "send-spoe-group", "cache-store",
    "add-acl(*)",     "add-header",    "allow",          "capture",         "del-acl(*)",
    "del-header",     "del-map(*)",    "deny",           "redirect",        "replace-header",
    "replace-value",  "return",        "set-header",     "set-map(*)",      "set-status",
    "strict-mode",    "track-sc(*)",   "wait-for-body",  "set-var-fmt(*)",  "set-var(*)",
    "unset-var(*)",   "set-mark",      "set-tos",        "silent-drop"};

// The statuses HAProxy has a built-in page for (deny_status, errorfile).
bool known_error_status(int s) {
  static const int kCodes[] = {200, 400, 401, 403, 404, 405, 407, 408, 410,
                               413, 425, 429, 500, 501, 502, 503, 504};
  return std::find(std::begin(kCodes), std::end(kCodes), s) != std::end(kCodes);
}

template <size_t N>
bool action_in(const char* const (&table)[N], const std::string& a) {
  for (std::string_view k : table) {
    if (k.ends_with("(*)")) {
      k.remove_suffix(3);
      if (a.rfind(std::string(k) + "(", 0) == 0 || (k.back() == 'c' && a.rfind(k, 0) == 0))
        return true;
    } else if (a == k) {
      return true;
    }
  }
  return false;
}
bool haproxy_response_action(const std::string& a) { return action_in(kHaproxyResponseActions, a); }

bool haproxy_action(const std::string& a) { return action_in(kHaproxyActions, a); }

// Parses `<fetch> [-i] [--] <values...>` from w[i, end). On error fills
// `err` with the text HAProxy puts after "error detected while parsing ...: ".
bool parse_acl_expr(const Words& w, size_t i, size_t end, Acl* acl, std::string* err,
                    bool* no_values) {
  std::string fetch = i < end ? w[i] : "";
  if (fetch.empty()) {
    *err = "missing fetch method in ACL expression ''.";
    return false;
  }
  std::string base = fetch.substr(0, fetch.find('('));
  if (std::find(std::begin(kFetches), std::end(kFetches), base) == std::end(kFetches)) {
    *err = "unknown fetch method '" + base + "' in ACL expression '" + fetch + "'.";
    return false;
  }
  if (base.size() != fetch.size() && fetch.back() != ')') {
    *err = "missing closing ')' after arguments to fetch keyword '" + base +
           "' in ACL expression '" + fetch + "'.";
    return false;
  }
  acl->fetch = fetch;
  if (base == "var" && !valid_var_name(fetch.substr(4, fetch.size() - 5), err)) return false;
  ++i;
  bool dashdash = false;
  for (; i < end && !w[i].empty() && w[i][0] == '-' && !dashdash; ++i) {
    if (w[i] == "-i") {
      acl->ignore_case = true;
    } else if (w[i] == "-m" && (base == "env" || base == "var")) {
      // env() and var() are samples without a matching method of their own:
      // the string ones apply (and -m int to a variable).
      static const char* const kEnv[] = {"str", "beg", "end", "sub", "reg", "len", "found"};
      static const char* const kVar[] = {"str", "int", "beg", "end", "sub", "found"};
      const std::string m = i + 1 < end ? w[i + 1] : "";
      const bool ok = base == "env"
                          ? std::find(std::begin(kEnv), std::end(kEnv), m) != std::end(kEnv)
                          : std::find(std::begin(kVar), std::end(kVar), m) != std::end(kVar);
      if (!ok) {
        *err = "matching method '-m " + m + "' is not supported by herd for '" + base + "'.";
        return false;
      }
      acl->match = m;
      ++i;
    } else if (w[i] == "--") {
      dashdash = true;
    } else {
      *err = "ACL flag '" + w[i] + "' is not supported by herd.";
      return false;
    }
  }
  if (base == "var" && acl->match.empty()) {
    *err =
        "matching method must be specified first (using '-m') when using a sample fetch of this "
        "type ('var').";
    return false;
  }
  for (; i < end; ++i) {
    if ((base == "src" || base == "dst") && !valid_network(w[i])) {
      *err = "'" + w[i] + "' is not a valid IPv4 or IPv6 address.";
      return false;
    }
    if (boolean_fetch(base)) {
      *err = "ACL value '" + w[i] + "' for boolean fetch '" + base + "' is not supported by herd.";
      return false;
    }
    if (acl->match == "found") {
      *err = "'-m found' takes no pattern ('" + w[i] + "').";
      return false;
    }
    if (regex_fetch(base, acl->match)) {
      auto re = std::make_shared<Regex>();
      re->text = w[i];
      try {
        auto flags = std::regex::ECMAScript | std::regex::optimize;
        if (acl->ignore_case) flags |= std::regex::icase;
        re->re = std::regex(w[i], flags);
      } catch (const std::regex_error&) {
        *err = "regex '" + w[i] + "' is invalid.";
        return false;
      }
      acl->regexes.push_back(std::move(re));
    }
    acl->values.push_back(w[i]);
  }
  *no_values = acl->values.empty() && !dashdash && !boolean_fetch(base) && acl->match != "found";
  return true;
}

// set-var's sample expression: a literal (str(), int(), bool()) or one of
// the fetches herd evaluates, without converters.
bool set_var_expr(const std::string& e, bool response, std::string* err) {
  if (e.find(',') != std::string::npos && !e.starts_with("str(")) {
    *err = "sample converters in '" + e + "' are not supported by herd.";
    return false;
  }
  std::string base = e.substr(0, e.find('('));
  static const char* const kOk[] = {"str",      "int",      "bool", "src",    "dst",
                                    "src_port", "dst_port", "path", "url",    "method",
                                    "hdr",      "req.hdr",  "var",  "status", "res.hdr"};
  if (std::find_if(std::begin(kOk), std::end(kOk), [&](const char* k) { return base == k; }) ==
      std::end(kOk)) {
    *err = "sample fetch '" + base + "' in set-var is not supported by herd.";
    return false;
  }
  if (base.size() != e.size() && e.back() != ')') {
    *err = "missing closing ')' after arguments to fetch keyword '" + base + "'.";
    return false;
  }
  if (base == "var" && !valid_var_name(e.substr(4, e.size() - 5), err)) return false;
  Needs n = base == "str" || base == "int" || base == "bool" ? Needs::Conn : fetch_needs(base);
  if (base == "path" || base == "url" || base == "method") n = Needs::Request;
  if (n != Needs::Conn && (n == Needs::Response) != response) {
    *err = "sample fetch <" + e + "> may not be reliably used here because it needs '" +
           (response ? "HTTP request headers" : "HTTP response") + "' which is not available here.";
    return false;
  }
  return true;
}

void warn_no_values(Parser& p, const Acl& acl) {
  p.warn_raw("parsing acl keyword '" + acl.fetch +
             "' :\n"
             "  no pattern to match against were provided, so this ACL will never match.\n"
             "  If this is what you intended, please add '--' to get rid of this warning.\n"
             "  If you intended to match only for existence, please use '-m found'.\n"
             "  If you wanted to force an int to match as a bool, please use '-m bool'.\n");
}

// `%[fetch]` parts and literals. Fills `err` (HAProxy's text) on failure.
// `response`: the format is expanded on a response (http-response), where
// request fetches are not available, and the reverse.
bool parse_format(const std::string& s, FormatString* out, std::string* err,
                  bool response = false) {
  out->raw = s;
  out->parts.clear();
  std::string lit;
  auto flush = [&] {
    if (!lit.empty()) out->parts.push_back({false, std::exchange(lit, std::string())});
  };
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '%') {
      lit += s[i];
      continue;
    }
    if (i + 1 >= s.size()) {
      *err = "truncated line after '%'.";
      return false;
    }
    if (s[i + 1] == '%') {
      lit += '%';
      ++i;
      continue;
    }
    if (s[i + 1] != '[') {
      *err = "log-format variables such as '%" + std::string(1, s[i + 1]) +
             "' are not supported by herd; use %[<fetch>].";
      return false;
    }
    size_t close = s.find(']', i + 2);
    std::string expr = s.substr(i + 2, close == std::string::npos ? s.npos : close - i - 2);
    if (close == std::string::npos) {
      *err = "missing ']' after '" + expr + "'.";
      return false;
    }
    auto hdr_fetch = [&](std::string_view f) {
      return expr.rfind(f, 0) == 0 && expr.back() == ')' && expr.size() > f.size() + 1;
    };
    bool ok = std::find(std::begin(kFormatFetches), std::end(kFormatFetches), expr) !=
                  std::end(kFormatFetches) ||
              hdr_fetch("req.hdr(") || hdr_fetch("res.hdr(") || hdr_fetch("env(") ||
              (hdr_fetch("var(") && valid_var_name(expr.substr(4, expr.size() - 5), err));
    std::string base = expr.substr(0, expr.find_first_of("(,"));
    bool known_request = base == "path" || base == "url" || base == "method" || base == "hdr";
    if ((ok || known_request) && fetch_needs(base) != Needs::Conn &&
        (fetch_needs(base) == Needs::Response) != response) {
      *err = "sample fetch <" + s.substr(i + 2) +
             "> may not be reliably used here because it needs '" +
             (response ? "HTTP request headers" : "HTTP response") +
             "' which is not available here.";
      return false;
    }
    if (!ok) {
      *err = "failed to parse sample expression <" + s.substr(i + 2) +
             "> : unknown fetch method '" + base + "'.";
      return false;
    }
    flush();
    out->parts.push_back({true, expr});
    i = close;
  }
  flush();
  return true;
}

}  // namespace

bool Parser::parse_condition(const Words& w, size_t i, const std::string& what, Condition* out,
                             const std::string& phase_rule, bool response) {
  *out = Condition{};
  // HAProxy's warnings for an ACL that cannot match in this rule's phase
  // (a request fetch in http-response, `status` in http-request); the
  // evaluation gives false for it, as HAProxy's.
  auto wrong_phase = [&](const Acl& a) {
    Needs n = fetch_needs(a.fetch);
    return !phase_rule.empty() && n != Needs::Conn && (n == Needs::Response) != response;
  };
  out->unless = w[i] == "unless";
  std::vector<Condition::Term> group;
  for (++i; i < w.size(); ++i) {
    std::string word = w[i];
    if (word.empty()) continue;
    if (word == "or" || word == "||") {
      if (!group.empty()) out->any_of.push_back(std::move(group));
      group.clear();
      continue;
    }
    Condition::Term term;
    while (!word.empty() && word[0] == '!') {
      term.negate = !term.negate;
      word.erase(0, 1);
    }
    if (word.empty()) {  // a lone "!" negates the next word
      if (++i >= w.size()) break;
      word = w[i];
    }
    if (word == "{") {
      size_t close = i + 1;
      while (close < w.size() && w[close] != "}") ++close;
      if (close >= w.size()) {
        alert(what + "missing closing '}' in condition.");
        return false;
      }
      Acl acl;
      acl.where = loc();
      std::string err;
      bool no_values = false;
      if (!parse_acl_expr(w, i + 1, close, &acl, &err, &no_values)) {
        alert(what + err);
        return false;
      }
      if (no_values) warn_no_values(*this, acl);
      bind_userlist(&acl, "");
      if (wrong_phase(acl))
        warn("anonymous acl will never match because it uses keyword '" +
             acl.fetch.substr(0, acl.fetch.find('(')) + "' which is incompatible with '" +
             phase_rule + "'");
      term.inline_acl = std::move(acl);
      i = close;
    } else {
      auto named = cur->acls.find(word);
      if (named == cur->acls.end() && !is_predefined_acl(word)) {
        alert(what + "no such ACL : '" + word + "'.");
        return false;
      }
      if (named != cur->acls.end() && !phase_rule.empty()) {
        const Acl* bad = nullptr;
        bool all_bad = true;
        for (const auto& a : named->second) {
          if (wrong_phase(a)) {
            if (!bad) bad = &a;
          } else {
            all_bad = false;
          }
        }
        if (bad && all_bad)
          warn("acl '" + word +
               "' will never match because it only involves keywords that are incompatible "
               "with '" +
               phase_rule + "'");
        else if (bad)
          warn("acl '" + word + "' involves keywords '" +
               bad->fetch.substr(0, bad->fetch.find('(')) + "' which is incompatible with '" +
               phase_rule + "'");
      }
      term.acl = word;
    }
    group.push_back(std::move(term));
  }
  if (!group.empty()) out->any_of.push_back(std::move(group));
  return true;
}

// HAProxy's predefined ACLs (configuration.txt §7.4), usable without `acl`.
bool is_predefined_acl(const std::string& name) {
  static const char* const kNames[] = {
      "FALSE",        "HTTP",         "HTTP_1.0",       "HTTP_1.1",      "HTTP_2.0",
      "HTTP_CONTENT", "HTTP_URL_ABS", "HTTP_URL_SLASH", "HTTP_URL_STAR", "LOCALHOST",
      "METH_CONNECT", "METH_DELETE",  "METH_GET",       "METH_HEAD",     "METH_OPTIONS",
      "METH_POST",    "METH_PUT",     "METH_TRACE",     "RDP_COOKIE",    "REQ_CONTENT",
      "TRUE",         "WAIT_END"};
  for (const char* n : kNames)
    if (name == n) return true;
  return false;
}

void Parser::condition_keyword(const Words& w) {
  const std::string& kw = w[0];
  if (kw == "acl") {
    if (!has(w, 1)) return alert("'acl' expects an ACL name.");
    char bad = 0;
    if (!valid_name(w[1], &bad))
      return alert("character '" + std::string(1, bad) + "' is not permitted in acl name '" +
                   w[1] + "'.");
    Acl acl;
    acl.name = w[1];
    acl.where = loc();
    std::string err;
    bool no_values = false;
    if (!parse_acl_expr(w, 2, w.size(), &acl, &err, &no_values))
      return alert("error detected while parsing ACL '" + w[1] + "' : " + err);
    if (no_values) warn_no_values(*this, acl);
    bind_userlist(&acl, acl.name);
    cur->acls[acl.name].push_back(std::move(acl));
    return;
  }
  if (kw == "use_backend") {
    if (!has(w, 1)) return alert("'use_backend' expects a backend name.");
    UseBackend ub;
    ub.backend = w[1];
    ub.where = loc();
    if (ub.backend.find('%') != std::string::npos)
      return alert("'use_backend' : dynamic backend names are not supported by herd.");
    if (has(w, 2)) {
      if (w[2] != "if" && w[2] != "unless")
        return alert("unexpected keyword '" + w[2] +
                     "' after switching rule, only 'if' and 'unless' are allowed.");
      if (!parse_condition(w, 2, "error detected while parsing switching rule : ", &ub.cond))
        return;
    }
    cur->use_backends.push_back(std::move(ub));
    return;
  }
  if (kw == "monitor") {  // `monitor fail if|unless <cond>`
    if (arg(w, 1) != "fail") return alert("'monitor' expects 'fail'");
    if (arg(w, 2) != "if" && arg(w, 2) != "unless")
      return alert("'monitor fail' expects 'if' or 'unless' followed by a condition.");
    Condition c;
    if (!parse_condition(w, 2, "error detected while parsing a 'monitor fail' condition : ", &c))
      return;
    cur->monitor_fail.push_back(std::move(c));
    return;
  }
  if (kw == "http-response") return http_rule(w, true);
  if (kw == "tcp-request") return tcp_request_rule(w);
  if (kw == "redirect") return redirect_rule(w);
  // http-request: any error aborts the parse, as in HAProxy.
  set_abort_on_alert(true);
  http_rule(w, false);
  set_abort_on_alert(false);
}

// `<type> <fmt> [code <n>] [drop-query] [append-slash] ...` from w[i] on,
// then the condition; `ctx` prefixes the errors (HAProxy's texts). Returns
// the index of the `if`/`unless` (w.size() when none), 0 on error.
size_t Parser::parse_redirect(const Words& w, size_t i, const std::string& ctx,
                              HttpRequestRule* rule) {
  using RT = HttpRequestRule::RedirectType;
  rule->action = HttpRequestRule::Action::Redirect;
  rule->status = 302;
  bool typed = false;
  for (; i < w.size(); ++i) {
    const std::string& o = w[i];
    if (o.empty()) continue;
    if (o == "if" || o == "unless") break;
    if (o == "location" || o == "prefix" || o == "scheme") {
      if (!has(w, i + 1)) {
        alert(ctx + "missing argument for '" + o + "'.");
        return 0;
      }
      rule->redirect_type = o == "location" ? RT::Location
                            : o == "prefix" ? RT::Prefix
                                            : RT::Scheme;
      std::string err;
      if (!parse_format(w[++i], &rule->value, &err)) {
        alert(ctx + err);
        return 0;
      }
      typed = true;
    } else if (o == "code") {
      if (!has(w, i + 1)) {
        alert(ctx + "missing argument for 'code'.");
        return 0;
      }
      int code = lax_int(w[++i]);
      if (code != 301 && code != 302 && code != 303 && code != 307 && code != 308) {
        alert(ctx + "'code': unsupported HTTP code '" + w[i] +
              "' (must be one of 301, 302, 303, 307 or 308).");
        return 0;
      }
      rule->status = code;
    } else if (o == "drop-query") {
      rule->drop_query = true;
    } else if (o == "append-slash") {
      rule->append_slash = true;
    } else if (o == "set-cookie" || o == "clear-cookie" || o == "ignore-empty") {
      alert(ctx + "'" + o + "' is not supported by herd.");
      return 0;
    } else {
      alert(ctx +
            "expects 'code', 'prefix', 'location', 'scheme', 'set-cookie', 'clear-cookie', "
            "'drop-query', 'ignore-empty' or 'append-slash' (was '" +
            o + "').");
      return 0;
    }
  }
  if (!typed) {
    alert(ctx + "redirection type expected ('prefix', 'location', or 'scheme').");
    return 0;
  }
  return i;
}

void Parser::redirect_rule(const Words& w) {
  HttpRequestRule rule;
  rule.where = loc();
  std::string ctx = "error detected in " + std::string(kind_name(*cur)) + " '" + cur->name +
                    "' while parsing redirect rule : ";
  size_t at = parse_redirect(w, 1, ctx, &rule);
  if (at == 0) return;
  if (at < w.size()) {
    Condition c;
    if (!parse_condition(w, at, "error detected while parsing redirect rule condition : ", &c))
      return;
    if (!c.empty()) rule.cond = std::move(c);
  }
  cur->redirects.push_back(std::move(rule));
}

void Parser::tcp_request_rule(const Words& w) {
  const std::string& what = arg(w, 1);
  const std::string in = " in " + std::string(kind_name(*cur)) + " '" + cur->name + "'";
  if (what.empty()) return alert("missing argument for 'tcp-request'" + in);
  if (what == "inspect-delay") {
    const std::string& v = arg(w, 2);
    TimeValue tv = parse_time(v);
    if (v.empty() || tv.status == TimeValue::Status::Empty)
      return alert("'tcp-request inspect-delay' expects a positive delay in milliseconds," + in);
    if (tv.status == TimeValue::Status::BadChar)
      return alert("'tcp-request inspect-delay' expects a positive delay in milliseconds," + in +
                   " (unexpected character '" + std::string(1, tv.bad_char) + "')");
    if (tv.status != TimeValue::Status::Ok)
      return alert(time_error(tv, v, "tcp-request inspect-delay"));
    cur->inspect_delay = tv.ms;
    return;
  }
  if (what != "connection" && what != "content")
    return alert("'tcp-request' expects 'inspect-delay', 'connection', or 'content'" + in +
                 " (got '" + what + "')");
  const std::string& action = arg(w, 2);
  if (action != "accept" && action != "reject") {
    static const char* const kContent =
        "'accept', 'reject', 'capture', 'expect-proxy', 'expect-netscaler-cip', 'track-sc0' ... "
        "'track-sc2', 'ot-group', 'set-log-level', 'set-nice', 'switch-mode', 'use-service', "
        "'sc-inc-gpc(*)', 'sc-inc-gpc0(*)', 'sc-inc-gpc1(*)', 'sc-set-gpt(*)', 'sc-set-gpt0(*)', "
        "'send-spoe-group', 'do-resolve(*)', 'set-var-fmt(*)', 'set-var(*)', 'unset-var(*)', "
        "'set-src', 'set-src-port', 'set-dst', 'set-dst-port', 'set-mark', 'set-tos', "
        "'silent-drop', 'set-priority-class', 'set-priority-offset'";
    if (!action.empty() && std::string_view(kContent).find(
                               "'" + action.substr(0, action.find('('))) != std::string_view::npos)
      return alert("'tcp-request " + what + " " + action + "' is not supported by herd.");
    return alert("'tcp-request " + what + "' expects " + kContent + in + " (got '" + action +
                 "').\n");
  }
  TcpRequestRule rule;
  rule.content = what == "content";
  rule.accept = action == "accept";
  rule.where = loc();
  if (has(w, 3)) {
    if (w[3] != "if" && w[3] != "unless")
      return alert("'tcp-request " + what + " " + action + "' only accepts 'if' or 'unless'," + in +
                   " (got '" + w[3] + "')");
    Condition c;
    if (!parse_condition(
            w, 3, "error detected while parsing a 'tcp-request " + what + "' condition : ", &c))
      return;
    if (!c.empty()) rule.cond = std::move(c);
  }
  cur->tcp_request.push_back(std::move(rule));
}

void Parser::stats_http_rule(const Words& w) {
  using A = HttpRequestRule::Action;
  auto& rules = cur->stats.http_request;
  // haproxy warns on the line after any rule without a condition.
  const bool after_uncond = !rules.empty() && !rules.back().cond;
  const size_t before = cur->http_request.size();
  const bool saved_final = cur_extra->last_rule_final_uncond;
  cur_extra->last_rule_final_uncond = false;
  const size_t diags = res_.diags.size();
  set_abort_on_alert(true);  // as haproxy: a bad rule ends the parse
  http_rule(w, false);
  set_abort_on_alert(false);
  cur_extra->last_rule_final_uncond = saved_final;
  // (not the `redirect` ordering warning: it is about the proxy's rules)
  if (res_.diags.size() > diags &&
      res_.diags.back().text.find("placed after a 'redirect' rule") != std::string::npos)
    res_.diags.pop_back();
  if (cur->http_request.size() == before) return;  // refused, said why
  HttpRequestRule rule = std::move(cur->http_request.back());
  cur->http_request.pop_back();
  // haproxy runs only these on the stats applet's requests.
  if (rule.action != A::Allow && rule.action != A::Deny && rule.action != A::Auth)
    return alert("'stats http-request " + arg(w, 1) +
                 "' is not supported by herd (only 'allow', 'deny' and 'auth').");
  if (after_uncond)
    warn_raw("parsing " + where() +
             ": previous 'stats' action has no condition attached, further entries are NOOP.");
  if (rule.action == A::Auth && rule.realm.empty()) rule.realm = "HAProxy Statistics";
  rules.push_back(std::move(rule));
}

void Parser::http_rule(const Words& w, bool response) {
  const std::string& action = arg(w, 1);
  const std::string kw = response ? "http-response" : "http-request";
  HttpRequestRule rule;
  rule.where = loc();
  size_t cond_at = 0;
  std::string rule_ctx = "error detected in " + std::string(kind_name(*cur)) + " '" + cur->name +
                         "' while parsing '" + kw + " " + action + "' rule : ";
  using A = HttpRequestRule::Action;
  if (action == "set-header" || action == "add-header") {
    rule.action = action == "set-header" ? A::SetHeader : A::AddHeader;
    if (!has(w, 2) || !has(w, 3)) return alert(rule_ctx + "expects exactly 2 arguments.");
    rule.name = w[2];
    std::string err;
    if (!parse_format(w[3], &rule.value, &err, response)) return alert(rule_ctx + err);
    cond_at = 4;
  } else if (response && (action == "replace-header" || action == "replace-value")) {
    rule.action = action == "replace-header" ? A::ReplaceHeader : A::ReplaceValue;
    if (!has(w, 2) || !has(w, 3) || !has(w, 4))
      return alert(rule_ctx + "expects exactly 3 arguments.");
    rule.name = w[2];
    auto re = std::make_shared<Regex>();
    re->text = w[3];
    try {
      re->re = std::regex(w[3], std::regex::ECMAScript | std::regex::optimize);
    } catch (const std::regex_error&) {
      return alert(rule_ctx + "regex '" + w[3] + "' is invalid.");
    }
    rule.regex = std::move(re);
    std::string err;
    if (!parse_format(w[4], &rule.value, &err, response)) return alert(rule_ctx + err);
    cond_at = 5;
  } else if (response && action == "set-status") {
    rule.action = A::SetStatus;
    if (!has(w, 2))
      return alert(rule_ctx +
                   "expects 1 argument: <status>; or 3 arguments: <status> reason <fmt>.");
    rule.status = lax_int(w[2]);
    if (rule.status < 100 || rule.status > 999)
      return alert(rule_ctx + "expects an integer status code between 100 and 999.");
    cond_at = 3;
    if (arg(w, 3) == "reason" && has(w, 4)) {
      if (w[4].find('%') != std::string::npos)
        return alert(rule_ctx + "a log-format reason is not supported by herd.");
      rule.reason = w[4];
      cond_at = 5;
    }
  } else if (!response && action == "redirect") {
    cond_at = parse_redirect(w, 2, rule_ctx, &rule);
    if (cond_at == 0) return;
  } else if (action == "del-header") {
    rule.action = HttpRequestRule::Action::DelHeader;
    if (!has(w, 2)) return alert(rule_ctx + "expects at least 1 argument.");
    rule.name = w[2];
    cond_at = 3;
  } else if (action == "deny" || action == "allow") {
    rule.action = action == "deny" ? A::Deny : A::Allow;
    cond_at = 2;
    if (action == "deny") {
      rule.status = response ? 502 : 403;
      if (arg(w, 2) == "deny_status") {
        rule.status = lax_int(arg(w, 3));
        if (!known_error_status(rule.status))
          return alert(rule_ctx + "Unexpected status code '" + arg(w, 3) + "'.");
        cond_at = 4;
      }
    }
  } else if (action.starts_with("set-var(") || action.starts_with("set-var-fmt(") ||
             action.starts_with("unset-var(")) {
    const bool unset = action[0] == 'u', is_fmt = action.starts_with("set-var-fmt(");
    auto paren = action.find('(');
    if (action.back() != ')') return alert(rule_ctx + "missing closing ')' after variable name.");
    rule.name = action.substr(paren + 1, action.size() - paren - 2);
    std::string err;
    if (!valid_var_name(rule.name, &err)) {
      return alert(rule_ctx + "invalid variable name '" + rule.name +
                   "'. A variable name must be start by its scope. The scope can be 'proc', "
                   "'sess', 'txn', 'req', 'res' or 'check'.");
    }
    rule.action = unset ? A::UnsetVar : A::SetVar;
    cond_at = 2;
    if (!unset) {
      if (!has(w, 2)) return alert(rule_ctx + "expects a sample expression.");
      cond_at = 3;
      if (is_fmt) {
        if (!parse_format(w[2], &rule.value, &err, response)) return alert(rule_ctx + err);
      } else if (!set_var_expr(w[2], response, &err)) {
        return alert(rule_ctx + err);
      } else {
        rule.expr = w[2];
      }
    }
  } else if (!response && (action == "auth" || action == "tarpit")) {
    cond_at = 2;
    if (action == "auth") {
      rule.action = A::Auth;
      if (arg(w, 2) == "realm") {
        if (!has(w, 3)) return alert(rule_ctx + "missing realm value.\n.");
        rule.realm = w[3];
        cond_at = 4;
      }
    } else {
      rule.action = A::Tarpit;
      rule.status = 500;
      if (arg(w, 2) == "deny_status") {
        rule.status = lax_int(arg(w, 3));
        if (!known_error_status(rule.status))
          return alert(rule_ctx + "Unexpected status code '" + arg(w, 3) + "'.");
        cond_at = 4;
      }
      static const char* const kReply[] = {
          "status",  "content-type", "default-errorfiles", "errorfile", "errorfiles", "file",
          "lf-file", "string",       "lf-string",          "hdr"};
      for (const char* k : kReply)
        if (arg(w, cond_at) == k)
          return alert("'http-request tarpit' : the '" + std::string(k) +
                       "' reply argument is not supported by herd (only 'deny_status').");
    }
  } else if (response ? haproxy_response_action(action) : haproxy_action(action)) {
    return alert("'" + kw + " " + action + "' is not supported by herd.");
  } else {
    std::string msg = "parsing " + where() + ": '" + kw + "' expects ";
    std::vector<std::string_view> cands;
    if (response)
      cands.assign(std::begin(kHaproxyResponseActions), std::end(kHaproxyResponseActions));
    else
      cands.assign(std::begin(kHaproxyActions), std::end(kHaproxyActions));
    for (std::string_view a : cands) msg += "'" + std::string(a) + "', ";
    if (action.empty()) return alert_raw(msg + "but got '' (missing argument).");
    std::string sug = suggest(action, cands);
    return alert_raw(msg + "but got '" + action + "'." +
                     (sug.empty() ? "" : " Did you mean '" + sug + "' maybe ?"));
  }
  if (has(w, cond_at)) {
    if (w[cond_at] != "if" && w[cond_at] != "unless")
      return alert_raw("parsing " + where() + ": '" + kw + " " + action +
                       "' expects either 'if' or 'unless' followed by a condition but found '" +
                       w[cond_at] + "'.");
    // HAProxy names the rule by the side whose rules run it: a listen's
    // request rules are its frontend's, its response rules its backend's.
    const bool fe_side = response ? !cur->has_backend() : cur->has_frontend();
    std::string phase_rule = std::string(fe_side ? "frontend " : "backend ") + kw + " header rule";
    Condition c;
    if (!parse_condition(w, cond_at,
                         "error detected while parsing an '" + kw + " " + action + "' condition : ",
                         &c, phase_rule, response))
      return;
    if (!c.empty()) rule.cond = std::move(c);
  }
  if (!response && !cur->redirects.empty())
    warn("a 'http-request' rule placed after a 'redirect' rule will still be processed before.");
  bool& last_final =
      response ? cur_extra->last_response_rule_final_uncond : cur_extra->last_rule_final_uncond;
  if (last_final)
    warn_raw("parsing " + where() + ": previous '" + kw +
             "' action is final and has no condition attached, further entries are NOOP.");
  last_final = !rule.cond &&
               (rule.action == A::Deny || rule.action == A::Allow || rule.action == A::Redirect ||
                rule.action == A::Auth || rule.action == A::Tarpit);
  (response ? cur->http_response : cur->http_request).push_back(std::move(rule));
}

}  // namespace herd::config::detail
