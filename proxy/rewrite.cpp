// proxy/rewrite.cpp — see rewrite.h.
#include "proxy/rewrite.h"

#include <array>
#include <regex>

#include "config/regex.h"

namespace herd::proxy {

namespace {

// "HTTP/1.1 <status>[ <reason>]\r\n": the status line of every response
// head herd sends on (the server's version is not passed through).
void append_status_line(std::string& out, const char* head, const http1::Head& resp,
                        const ResponseEdits* ed = nullptr) {
  out += "HTTP/1.1 ";
  if (ed && ed->status) {
    out += std::to_string(ed->status);
    out += ' ';
    out.append(ed->reason);
    out += "\r\n";
    return;
  }
  out.append(head + 9, 3);
  if (!resp.reason.empty()) {
    out += ' ';
    out.append(resp.reason);
  }
  out += "\r\n";
}

// HAProxy's reason phrase for a status (http_get_reason()).
std::string_view standard_reason(int status) {
  switch (status) {
    case 100:
      return "Continue";
    case 101:
      return "Switching Protocols";
    case 102:
      return "Processing";
    case 200:
      return "OK";
    case 201:
      return "Created";
    case 202:
      return "Accepted";
    case 203:
      return "Non-Authoritative Information";
    case 204:
      return "No Content";
    case 205:
      return "Reset Content";
    case 206:
      return "Partial Content";
    case 207:
      return "Multi-Status";
    case 210:
      return "Content Different";
    case 226:
      return "IM Used";
    case 300:
      return "Multiple Choices";
    case 301:
      return "Moved Permanently";
    case 302:
      return "Found";
    case 303:
      return "See Other";
    case 304:
      return "Not Modified";
    case 305:
      return "Use Proxy";
    case 307:
      return "Temporary Redirect";
    case 308:
      return "Permanent Redirect";
    case 310:
      return "Too many Redirects";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 402:
      return "Payment Required";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 406:
      return "Not Acceptable";
    case 407:
      return "Proxy Authentication Required";
    case 408:
      return "Request Time-out";
    case 409:
      return "Conflict";
    case 410:
      return "Gone";
    case 411:
      return "Length Required";
    case 412:
      return "Precondition Failed";
    case 413:
      return "Request Entity Too Large";
    case 414:
      return "Request-URI Too Long";
    case 415:
      return "Unsupported Media Type";
    case 416:
      return "Requested range unsatisfiable";
    case 417:
      return "Expectation failed";
    case 418:
      return "I'm a teapot";
    case 421:
      return "Misdirected Request";
    case 422:
      return "Unprocessable entity";
    case 423:
      return "Locked";
    case 424:
      return "Method failure";
    case 425:
      return "Too Early";
    case 426:
      return "Upgrade Required";
    case 428:
      return "Precondition Required";
    case 429:
      return "Too Many Requests";
    case 431:
      return "Request Header Fields Too Large";
    case 449:
      return "Retry With";
    case 450:
      return "Blocked by Windows Parental Controls";
    case 451:
      return "Unavailable For Legal Reasons";
    case 456:
      return "Unrecoverable Error";
    case 499:
      return "client has closed connection";
    case 500:
      return "Internal Server Error";
    case 501:
      return "Not Implemented";
    case 502:
      return "Bad Gateway or Proxy Error";
    case 503:
      return "Service Unavailable";
    case 504:
      return "Gateway Time-out";
    case 505:
      return "HTTP Version not supported";
    case 506:
      return "Variant also negociate";
    case 507:
      return "Insufficient storage";
    case 508:
      return "Loop detected";
    case 509:
      return "Bandwidth Limit Exceeded";
    case 510:
      return "Not extended";
    case 511:
      return "Network authentication required";
    case 520:
      return "Web server is returning an unknown error";
    default:
      return "Other";
  }
}

// `replace-header`/`replace-value`: when `re` matches in `v`, the whole of
// `v` becomes `fmt` with \0..\9 replaced by the match's groups (HAProxy's
// exp_replace()). Returns whether it matched.
bool regex_replace_value(std::string& out, std::string_view v, const std::regex& re,
                         std::string_view fmt) {
  std::match_results<std::string_view::const_iterator> m;
  if (!std::regex_search(v.begin(), v.end(), m, re)) return false;
  out.clear();
  for (size_t i = 0; i < fmt.size(); ++i) {
    if (fmt[i] == '\\' && i + 1 < fmt.size() && fmt[i + 1] >= '0' && fmt[i + 1] <= '9') {
      size_t g = static_cast<size_t>(fmt[++i] - '0');
      if (g < m.size() && m[g].matched) out.append(m[g].first, m[g].second);
    } else {
      out += fmt[i];
    }
  }
  return true;
}

bool is_hop_by_hop(std::string_view name) {
  return http1::iequals(name, "connection") || http1::iequals(name, "keep-alive") ||
         http1::iequals(name, "proxy-connection");
}

// Appends "connection: <options>\r\n" with the options of a received
// Connection value less close and keep-alive; nothing when none is left.
void append_connection_options(std::string& out, std::string_view value) {
  const size_t start = out.size();
  out += "connection: ";
  const size_t first = out.size();
  http1::for_each_token(value, [&](std::string_view t) {
    if (http1::iequals(t, "close") || http1::iequals(t, "keep-alive")) return;
    if (out.size() > first) out += ", ";
    out.append(t);
  });
  if (out.size() == first) {
    out.resize(start);
  } else {
    out += "\r\n";
  }
}

}  // namespace

void lower_append(std::string& out, std::string_view s) {
  size_t n = out.size();
  out.append(s);
  for (size_t i = n; i < out.size(); ++i) {
    char c = out[i];
    if (c >= 'A' && c <= 'Z') out[i] = static_cast<char>(c + 32);
  }
}

bool response_cacheable(std::string_view method, int status, const char* base,
                        const http1::Head& h) {
  if (method != "GET" && method != "HEAD" && method != "OPTIONS" && method != "TRACE") return false;
  switch (status) {
    case 200:
    case 203:
    case 204:
    case 206:
    case 300:
    case 301:
    case 404:
    case 405:
    case 410:
    case 414:
    case 501:
      break;
    default:
      return false;
  }
  bool fresh = false;
  for (size_t i = 0; i < h.nfields; ++i) {
    auto n = h.name(base, i);
    auto v = h.value(base, i);
    if (http1::iequals(n, "pragma") && v.find("no-cache") != std::string_view::npos) return false;
    if (http1::iequals(n, "cache-control")) {
      std::string lv;
      lower_append(lv, v);
      if (lv.find("private") != std::string::npos || lv.find("no-cache") != std::string::npos ||
          lv.find("no-store") != std::string::npos || lv.find("max-age=0") != std::string::npos)
        return false;
      if (lv.find("max-age") != std::string::npos || lv.find("s-maxage") != std::string::npos)
        fresh = true;
    }
    if (http1::iequals(n, "expires") || http1::iequals(n, "etag") ||
        http1::iequals(n, "last-modified"))
      fresh = true;
  }
  return fresh;
}

bool build_upstream_head(std::string& out, AddedFields& added, const UpstreamHeadIn& in) {
  const RequestView& rv = in.rv;
  const http1::Head& req = *rv.head;
  const char* base = rv.base;
  const config::Proxy& b = in.be;
  out.clear();
  out.append(req.method);
  out += ' ';
  out.append(req.target);
  out += ' ';  // 1.1 and above go as HTTP/1.1, older versions as received (haproxy)
  out += req.version == 10 ? req.version_str : std::string_view("HTTP/1.1");
  out += "\r\n";
  // Header edits from http-request rules (frontend, then backend), applied
  // in order; deletions mark fields, additions are appended after the
  // original fields.
  std::array<bool, http1::kMaxHeaders> drop{};
  added.n = 0;
  auto apply_rules = [&](const config::Proxy& px) {
    for (const auto& rule : px.http_request) {
      if (rule.cond && !eval_condition(*rule.cond, px, rv)) continue;
      using A = config::HttpRequestRule::Action;
      if (rule.action == A::Allow || rule.action == A::Deny || rule.action == A::Auth ||
          rule.action == A::Tarpit)
        break;  // the proxy's last rule
      if (rule.action == A::SetHeader || rule.action == A::DelHeader) {
        for (size_t i = 0; i < req.nfields; ++i)
          if (http1::iequals(req.name(base, i), rule.name)) drop[i] = true;
        size_t keep = 0;  // drop earlier additions of this name, in order
        for (size_t i = 0; i < added.n; ++i)
          if (!http1::iequals(added.fields[i].first, rule.name))
            std::swap(added.fields[keep++], added.fields[i]);
        added.n = keep;
      }
      if (rule.action == A::SetHeader || rule.action == A::AddHeader) {
        if (added.n == added.fields.size()) added.fields.emplace_back();
        auto& [name, value] = added.fields[added.n++];
        name = rule.name;
        value.clear();
        append_format(value, rule.value, rv);
      }
    }
  };
  apply_rules(in.fe);
  if (&b != &in.fe) apply_rules(b);

  const bool strip_cookie_hdr = b.cookie.enabled && b.cookie.indirect;
  bool cl_sent = false;
  for (size_t i = 0; i < req.nfields; ++i) {
    if (drop[i]) continue;
    auto n = req.name(base, i);
    // The Connection header goes on less its close and keep-alive tokens
    // (herd states its own persistence below), and so do the fields it
    // nominates, Keep-Alive and Proxy-Connection: what haproxy 2.6 does.
    if (n.size() == 10 && http1::iequals(n, "connection")) {
      append_connection_options(out, req.value(base, i));
      continue;
    }
    if (http1::iequals(n, "content-length")) {
      // Dropped under Transfer-Encoding; otherwise sent once, normalised
      // ("3, 3" and repeated fields become one `content-length: 3`).
      if (req.chunked || cl_sent) continue;
      cl_sent = true;
      if (req.cl_normalise) {
        out += "content-length: ";
        out += std::to_string(req.content_length);
        out += "\r\n";
        continue;
      }
    }
    // Several Host fields agree (the parser refuses them otherwise): one goes on.
    if (static_cast<int>(i) > req.host_index && req.host_index >= 0 && n.size() == 4 &&
        http1::iequals(n, "host"))
      continue;
    auto v = req.value(base, i);
    if (static_cast<int>(i) == req.host_index && in.method == "CONNECT") {
      // CONNECT's Host goes on without the port of http or https (:80,
      // :443), as haproxy normalises it.
      for (std::string_view port : {std::string_view(":80"), std::string_view(":443")}) {
        if (v.size() > port.size() && v.substr(v.size() - port.size()) == port) {
          v.remove_suffix(port.size());
          break;
        }
      }
    }
    // A request with a body does not switch protocols: its Upgrade field
    // goes (haproxy's choice; Connection: upgrade stays).
    if (req.upgrade && !in.upgrade && in.body_len != 0 && n.size() == 7 &&
        http1::iequals(n, "upgrade"))
      continue;
    if (strip_cookie_hdr && http1::iequals(n, "cookie")) {
      std::string rest = strip_cookie(v, b.cookie.name);
      if (rest.empty()) continue;
      lower_append(out, n);
      out += ": ";
      out += rest;
      out += "\r\n";
      continue;
    }
    lower_append(out, n);
    out += ": ";
    out.append(v);
    out += "\r\n";
  }
  for (size_t i = 0; i < added.n; ++i) {
    const auto& [n, v] = added.fields[i];
    lower_append(out, n);
    out += ": ";
    out += v;
    out += "\r\n";
  }
  if (!in.unique_id_header.empty()) {
    lower_append(out, in.unique_id_header);
    out += ": ";
    out += in.unique_id;
    out += "\r\n";
  }
  // option forwardfor: the frontend's or the backend's.
  const config::ForwardFor* ff = b.forwardfor.enabled
                                     ? &b.forwardfor
                                     : (in.fe.forwardfor.enabled ? &in.fe.forwardfor : nullptr);
  if (ff && (ff->except_net.empty() || !ip_in_network(rv.src_ip, ff->except_net))) {
    bool present = false;
    if (ff->if_none) {
      for (size_t i = 0; i < req.nfields && !present; ++i)
        present = !drop[i] && http1::iequals(req.name(base, i), ff->header);
    }
    if (!present) {
      lower_append(out, ff->header);
      out += ": ";
      out += rv.src_ip;
      out += "\r\n";
    }
  }
  // Connection header towards the server.
  const bool server_close = b.conn_mode != config::HttpConnMode::KeepAlive ||
                            in.fe.conn_mode == config::HttpConnMode::ServerClose ||
                            in.fe.conn_mode == config::HttpConnMode::Close;
  if (in.upgrade)
    ;  // the client's `connection: upgrade` was forwarded above
  else if (server_close)
    out += "connection: close\r\n";
  else if (req.version == 10 && !req.chunked)  // haproxy: not for a chunked 1.0 body
    out += "connection: keep-alive\r\n";
  out += "\r\n";
  return server_close;
}

std::string redirect_response(const config::HttpRequestRule& rule, const RequestView& rv,
                              bool close) {
  using RT = config::HttpRequestRule::RedirectType;
  std::string loc;
  if (rule.redirect_type == RT::Location) {
    append_format(loc, rule.value, rv);
  } else {
    // The path and query of an origin-form or absolute-form target.
    std::string_view pq = rv.head->target;
    if (!pq.empty() && pq[0] != '/') {
      auto scheme = pq.find("://");
      if (scheme != std::string_view::npos) {
        auto slash = pq.find('/', scheme + 3);
        pq = slash == std::string_view::npos ? std::string_view("/") : pq.substr(slash);
      }
    }
    if (rule.drop_query) pq = pq.substr(0, pq.find('?'));
    append_format(loc, rule.value, rv);
    if (rule.redirect_type == RT::Scheme) {
      loc += "://";
      loc += header_value(rv, "host");
    } else if (loc == "/") {
      loc.clear();  // prefix "/": the path alone
    }
    loc += pq;
  }
  if (rule.append_slash && (loc.empty() || loc.back() != '/')) loc += '/';
  std::string out = "HTTP/1.1 " + std::to_string(rule.status) + " ";
  out += standard_reason(rule.status);
  out += "\r\ncontent-length: 0\r\nlocation: ";
  out += loc;
  out += "\r\n";
  if (rule.status == 302 || rule.status == 303 || rule.status == 307)
    out += "cache-control: no-cache\r\n";
  if (close) out += "connection: close\r\n";
  out += "\r\n";
  return out;
}

int apply_response_rules(ResponseEdits& ed, const RequestView& rv, const config::Proxy& fe,
                         const config::Proxy& be) {
  ed.drop.fill(false);
  ed.replaced.fill(false);
  ed.added.n = 0;
  ed.status = 0;
  ed.any = false;
  const http1::Head& resp = *rv.resp;
  const char* base = rv.resp_base;
  std::string scratch, fmt;
  using A = config::HttpRequestRule::Action;
  // One rule's replace on a value (`replace-value`: element by element).
  auto replace = [&](const config::HttpRequestRule& rule, std::string_view v, std::string& out) {
    if (rule.action == A::ReplaceHeader) return regex_replace_value(out, v, rule.regex->re, fmt);
    bool any = false;
    std::string acc;
    // replace-value matches the element and, when it matches, replaces the
    // whole segment as written: "a, b" -> "a,B", as haproxy.
    http1::for_each_element(v, [&](std::string_view raw, std::string_view e, bool last) {
      if (regex_replace_value(scratch, e, rule.regex->re, fmt)) {
        any = true;
        acc += scratch;
      } else {
        acc.append(raw);
      }
      if (!last) acc += ',';
    });
    if (any) out = std::move(acc);
    return any;
  };
  auto run = [&](const config::Proxy& px) -> int {
    for (const auto& rule : px.http_response) {
      if (rule.cond && !eval_condition(*rule.cond, px, rv)) continue;
      ed.any = true;
      switch (rule.action) {
        case A::Allow:
          return -1;
        case A::Redirect:  // not http-response actions in herd (refused at parse time)
        case A::Auth:
        case A::Tarpit:
          break;
        case A::Deny:
          return rule.status;
        case A::SetVar:
        case A::UnsetVar:
          apply_var_rule(rule, rv);
          break;
        case A::SetStatus:
          ed.status = rule.status;
          ed.reason =
              rule.reason.empty() ? standard_reason(rule.status) : std::string_view(rule.reason);
          break;
        case A::SetHeader:
        case A::DelHeader:
        case A::AddHeader:
          if (rule.action != A::AddHeader) {
            for (size_t i = 0; i < resp.nfields; ++i)
              if (http1::iequals(resp.name(base, i), rule.name)) ed.drop[i] = true;
            size_t keep = 0;
            for (size_t i = 0; i < ed.added.n; ++i)
              if (!http1::iequals(ed.added.fields[i].first, rule.name))
                std::swap(ed.added.fields[keep++], ed.added.fields[i]);
            ed.added.n = keep;
          }
          if (rule.action != A::DelHeader) {
            if (ed.added.n == ed.added.fields.size()) ed.added.fields.emplace_back();
            auto& [name, value] = ed.added.fields[ed.added.n++];
            name = rule.name;
            value.clear();
            append_format(value, rule.value, rv);
          }
          break;
        case A::ReplaceHeader:
        case A::ReplaceValue:
          fmt.clear();
          append_format(fmt, rule.value, rv);
          for (size_t i = 0; i < resp.nfields; ++i) {
            if (ed.drop[i] || !http1::iequals(resp.name(base, i), rule.name)) continue;
            std::string cur = ed.replaced[i] ? ed.value[i] : std::string(resp.value(base, i));
            if (replace(rule, cur, ed.value[i])) ed.replaced[i] = true;
          }
          for (size_t i = 0; i < ed.added.n; ++i) {
            auto& [name, value] = ed.added.fields[i];
            if (!http1::iequals(name, rule.name)) continue;
            std::string cur = value;
            replace(rule, cur, value);
          }
          break;
      }
    }
    return 0;
  };
  int r = run(be);
  if (r > 0) return r;
  if (&fe != &be) r = run(fe);
  return r > 0 ? r : 0;
}

void build_client_head(std::string& out, const ClientHeadIn& in) {
  const char* sb = in.base;
  const http1::Head& resp = in.resp;
  const config::Proxy& b = in.be;
  const bool chunked = in.chunked, keep = in.keep;
  const ResponseEdits* ed = in.edits && in.edits->any ? in.edits : nullptr;
  out.clear();
  append_status_line(out, sb, resp, ed);
  // A 204 has no body: its framing fields go, as haproxy drops them.
  // Several or listed Content-Length fields go out as one.
  const bool drop_framing = resp.status == 204;
  bool cl_sent = false;
  for (size_t i = 0; i < resp.nfields; ++i) {
    auto n = resp.name(sb, i);
    if (is_hop_by_hop(n)) continue;
    const bool is_cl = http1::iequals(n, "content-length");
    if (is_cl && (chunked || drop_framing || cl_sent)) continue;
    if (drop_framing && http1::iequals(n, "transfer-encoding")) continue;
    if (ed && ed->drop[i]) continue;
    lower_append(out, n);
    out += ": ";
    if (ed && ed->replaced[i]) {
      out += ed->value[i];
    } else if (is_cl && resp.cl_normalise) {
      out += std::to_string(resp.content_length);
    } else {
      out.append(resp.value(sb, i));
    }
    cl_sent = cl_sent || is_cl;
    out += "\r\n";
  }
  for (size_t i = 0; ed && i < ed->added.n; ++i) {
    lower_append(out, ed->added.fields[i].first);
    out += ": ";
    out += ed->added.fields[i].second;
    out += "\r\n";
  }
  if (b.cookie.enabled && b.cookie.insert && !in.cookie_valid) {
    out += "set-cookie: ";
    out += b.cookie.name;
    if (in.server_cookie.empty()) {
      out += "=; Expires=Thu, 01-Jan-1970 00:00:01 GMT; path=/";
    } else {
      out += '=';
      out += in.server_cookie;
      out += "; path=/";
    }
    for (const auto& d : b.cookie.domains) out += "; domain=" + d;
    if (b.cookie.httponly) out += "; HttpOnly";
    if (b.cookie.secure) out += "; Secure";
    out += "\r\n";
    if (b.cookie.nocache && response_cacheable(in.method, resp.status, sb, resp))
      out += "cache-control: private\r\n";
  }
  if (!keep) {
    out += "connection: close\r\n";
  } else if (in.req_is_10) {
    out += "connection: keep-alive\r\n";
  }
  out += "\r\n";
}

void build_interim_head(std::string& out, const char* base, const http1::Head& resp) {
  out.clear();
  append_status_line(out, base, resp);
  for (size_t i = 0; i < resp.nfields; ++i) {
    auto n = resp.name(base, i);
    if (http1::iequals(n, "content-length") || http1::iequals(n, "transfer-encoding")) continue;
    lower_append(out, n);
    out += ": ";
    out.append(resp.value(base, i));
    out += "\r\n";
  }
  out += "\r\n";
}

}  // namespace herd::proxy
