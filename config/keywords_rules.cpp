// config/keywords_rules.cpp — ACLs, conditions (`if`/`unless`), format
// strings, `use_backend` and `http-request`.
#include <algorithm>
#include <utility>

#include "config/parser_internal.h"

namespace herd::config::detail {
namespace {

constexpr const char* kFetches[] = {"path_beg",     "path",
                                    "path_end",     "path_sub",
                                    "hdr",          "hdr_beg",
                                    "src",          "method",
                                    "dst",          "dst_port",
                                    "src_port",     "ssl_fc",
                                    "ssl_fc_sni",   "ssl_fc_protocol",
                                    "ssl_fc_alpn",  "ssl_c_used",
                                    "ssl_c_verify", "ssl_c_s_dn"};
// Boolean fetches: without a pattern they match when true (no warning).
constexpr const char* kBoolFetches[] = {"ssl_fc", "ssl_c_used"};
constexpr const char* kFormatFetches[] = {
    "src",        "dst",          "src_port",        "dst_port",
    "ssl_fc",     "ssl_fc_sni",   "ssl_fc_protocol", "ssl_fc_alpn",
    "ssl_c_used", "ssl_c_verify", "ssl_c_s_dn"};

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

bool haproxy_action(const std::string& a) {
  for (std::string_view k : kHaproxyActions) {
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
  ++i;
  bool dashdash = false;
  for (; i < end && !w[i].empty() && w[i][0] == '-' && !dashdash; ++i) {
    if (w[i] == "-i") {
      acl->ignore_case = true;
    } else if (w[i] == "--") {
      dashdash = true;
    } else {
      *err = "ACL flag '" + w[i] + "' is not supported by herd.";
      return false;
    }
  }
  for (; i < end; ++i) {
    if ((base == "src" || base == "dst") && !valid_network(w[i])) {
      *err = "'" + w[i] + "' is not a valid IPv4 or IPv6 address.";
      return false;
    }
    acl->values.push_back(w[i]);
  }
  *no_values =
      acl->values.empty() && !dashdash &&
      std::find(std::begin(kBoolFetches), std::end(kBoolFetches), base) == std::end(kBoolFetches);
  return true;
}

void warn_no_values(Parser& p, const Acl& acl) {
  p.warn_raw("parsing acl keyword '" + acl.fetch.substr(0, acl.fetch.find('(')) +
             "' :\n"
             "  no pattern to match against were provided, so this ACL will never match.\n"
             "  If this is what you intended, please add '--' to get rid of this warning.\n"
             "  If you intended to match only for existence, please use '-m found'.\n"
             "  If you wanted to force an int to match as a bool, please use '-m bool'.\n");
}

// `%[fetch]` parts and literals. Fills `err` (HAProxy's text) on failure.
bool parse_format(const std::string& s, FormatString* out, std::string* err) {
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
    bool ok = std::find(std::begin(kFormatFetches), std::end(kFormatFetches), expr) !=
                  std::end(kFormatFetches) ||
              (expr.rfind("req.hdr(", 0) == 0 && expr.back() == ')' && expr.size() > 9);
    if (!ok) {
      std::string base = expr.substr(0, expr.find_first_of("(,"));
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

bool Parser::parse_condition(const Words& w, size_t i, const std::string& what, Condition* out) {
  *out = Condition{};
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
      term.inline_acl = std::move(acl);
      i = close;
    } else {
      if (cur->acls.find(word) == cur->acls.end() && !is_predefined_acl(word)) {
        alert(what + "no such ACL : '" + word + "'.");
        return false;
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
      "FALSE", "HTTP", "HTTP_1.0", "HTTP_1.1", "HTTP_CONTENT", "HTTP_URL_ABS", "HTTP_URL_SLASH",
      "HTTP_URL_STAR", "LOCALHOST", "METH_CONNECT", "METH_DELETE", "METH_GET", "METH_HEAD",
      "METH_OPTIONS", "METH_POST", "METH_PUT", "METH_TRACE", "RDP_COOKIE", "REQ_CONTENT", "TRUE",
      "WAIT_END"};
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
  // http-request: any error aborts the parse, as in HAProxy.
  set_abort_on_alert(true);
  http_request_rule(w);
  set_abort_on_alert(false);
}

void Parser::http_request_rule(const Words& w) {
  const std::string& action = arg(w, 1);
  HttpRequestRule rule;
  rule.where = loc();
  size_t cond_at = 0;
  std::string rule_ctx = "error detected in " + std::string(kind_name(*cur)) + " '" + cur->name +
                         "' while parsing 'http-request " + action + "' rule : ";
  if (action == "set-header" || action == "add-header") {
    rule.action = action == "set-header" ? HttpRequestRule::Action::SetHeader
                                         : HttpRequestRule::Action::AddHeader;
    if (!has(w, 2) || !has(w, 3)) return alert(rule_ctx + "expects exactly 2 arguments.");
    rule.name = w[2];
    std::string err;
    if (!parse_format(w[3], &rule.value, &err)) return alert(rule_ctx + err);
    cond_at = 4;
  } else if (action == "del-header") {
    rule.action = HttpRequestRule::Action::DelHeader;
    if (!has(w, 2)) return alert(rule_ctx + "expects at least 1 argument.");
    rule.name = w[2];
    cond_at = 3;
  } else if (action == "deny" || action == "allow") {
    rule.action =
        action == "deny" ? HttpRequestRule::Action::Deny : HttpRequestRule::Action::Allow;
    cond_at = 2;
    if (action == "deny") {
      rule.status = 403;
      if (arg(w, 2) == "deny_status") {
        rule.status = lax_int(arg(w, 3));
        cond_at = 4;
      }
    }
  } else if (haproxy_action(action)) {
    return alert("'http-request " + action + "' is not supported by herd.");
  } else {
    std::string msg = "parsing " + where() + ": 'http-request' expects ";
    for (const char* a : kHaproxyActions) msg += std::string("'") + a + "', ";
    if (action.empty()) return alert_raw(msg + "but got '' (missing argument).");
    std::vector<std::string_view> cands(std::begin(kHaproxyActions), std::end(kHaproxyActions));
    std::string sug = suggest(action, cands);
    return alert_raw(msg + "but got '" + action + "'." +
                     (sug.empty() ? "" : " Did you mean '" + sug + "' maybe ?"));
  }
  if (has(w, cond_at)) {
    if (w[cond_at] != "if" && w[cond_at] != "unless")
      return alert_raw("parsing " + where() + ": 'http-request " + action +
                       "' expects either 'if' or 'unless' followed by a condition but found '" +
                       w[cond_at] + "'.");
    Condition c;
    if (!parse_condition(w, cond_at,
                         "error detected while parsing an 'http-request " + action +
                             "' condition : ",
                         &c))
      return;
    if (!c.empty()) rule.cond = std::move(c);
  }
  if (cur_extra->last_rule_final_uncond)
    warn_raw("parsing " + where() +
             ": previous 'http-request' action is final and has no condition attached, further "
             "entries are NOOP.");
  cur_extra->last_rule_final_uncond =
      !rule.cond && (rule.action == HttpRequestRule::Action::Deny ||
                     rule.action == HttpRequestRule::Action::Allow);
  cur->http_request.push_back(std::move(rule));
}

}  // namespace herd::config::detail
