// health/check_request.cpp — HTTP check request bytes and response
// evaluation (see check_request.h). Behaviour observed on haproxy 2.6.12.
#include "health/check_request.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <regex>

namespace herd::health {

namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r'))
    s.remove_suffix(1);
  return s;
}

bool parse_int(std::string_view s, long& out) {
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && end == s.data() + s.size() && !s.empty();
}

bool regex_search(const std::string& pattern, std::string_view text) {
  try {
    std::regex re(pattern);
    return std::regex_search(text.begin(), text.end(), re);
  } catch (const std::regex_error&) {
    return false;
  }
}

}  // namespace

std::string build_check_request(const config::HttpCheck& hc, std::string_view state_header) {
  std::string req = hc.method + " " + hc.uri + " " + hc.version + "\r\n";
  for (const auto& [name, value] : hc.headers) {
    if (iequals(name, "content-length") || iequals(name, "connection")) continue;
    req += lower(name) + ": " + value + "\r\n";
  }
  if (!state_header.empty()) {
    req += "x-haproxy-server-state: ";
    req += state_header;
    req += "\r\n";
  }
  if (!hc.body.empty()) req += "content-length: " + std::to_string(hc.body.size()) + "\r\n";
  if (hc.version != "HTTP/1.0") req += "connection: close\r\n";
  req += "\r\n";
  req += hc.body;
  return req;
}

std::string server_state_header(const ServerStateFields& f) {
  return f.status + "; address=" + f.addr + "; port=" + std::to_string(f.port) +
         "; name=" + f.backend + "/" + f.server + "; node=" + f.node +
         "; weight=" + std::to_string(f.weight) + "/" + std::to_string(f.total_weight) +
         "; scur=" + std::to_string(f.scur) + "/" + std::to_string(f.backend_conns) +
         "; qcur=" + std::to_string(f.qcur);
}

std::optional<ResponseHead> parse_response_head(std::string_view data, bool& invalid) {
  invalid = false;
  // The status line must start like "HTTP/x.y NNN".
  constexpr std::string_view kProto = "HTTP/";
  const size_t probe = std::min(data.size(), kProto.size());
  if (data.substr(0, probe) != kProto.substr(0, probe)) {
    invalid = true;
    return std::nullopt;
  }
  size_t eol = data.find('\n');
  if (eol == std::string_view::npos) return std::nullopt;
  std::string_view line = data.substr(0, eol);
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  // "HTTP/1.1 200 OK"
  size_t sp = line.find(' ');
  if (sp == std::string_view::npos || line.size() < sp + 4) {
    invalid = true;
    return std::nullopt;
  }
  std::string_view code_text = line.substr(sp + 1, 3);
  long code = 0;
  if (!parse_int(code_text, code) || code < 100 || code > 999 ||
      (line.size() > sp + 4 && line[sp + 4] != ' ')) {
    invalid = true;
    return std::nullopt;
  }
  ResponseHead head;
  head.code = static_cast<int>(code);
  head.reason = std::string(line.size() > sp + 5 ? line.substr(sp + 5) : std::string_view{});
  // Headers up to the blank line.
  size_t pos = eol + 1;
  while (true) {
    size_t e = data.find('\n', pos);
    if (e == std::string_view::npos) return std::nullopt;
    std::string_view h = data.substr(pos, e - pos);
    if (!h.empty() && h.back() == '\r') h.remove_suffix(1);
    pos = e + 1;
    if (h.empty()) break;
    size_t colon = h.find(':');
    if (colon == std::string_view::npos) continue;
    if (iequals(trim(h.substr(0, colon)), "content-length")) {
      long n = 0;
      if (parse_int(trim(h.substr(colon + 1)), n) && n >= 0)
        head.content_length = static_cast<size_t>(n);
    }
  }
  head.header_len = pos;
  return head;
}

bool response_complete(const config::HttpCheck& hc, std::string_view data) {
  bool invalid = false;
  auto head = parse_response_head(data, invalid);
  if (invalid) return true;
  if (!head) return false;
  const bool needs_body = hc.expect == config::HttpCheck::Expect::String ||
                          hc.expect == config::HttpCheck::Expect::RString;
  if (!needs_body) return true;
  if (!head->content_length) return false;  // read to the end of the connection
  return data.size() - head->header_len >= *head->content_length;
}

bool status_matches_list(std::string_view list, int code) {
  while (!list.empty()) {
    size_t comma = list.find(',');
    std::string_view item = trim(list.substr(0, comma));
    list = comma == std::string_view::npos ? std::string_view{} : list.substr(comma + 1);
    size_t dash = item.find('-');
    long lo = 0, hi = 0;
    if (dash == std::string_view::npos) {
      if (!parse_int(item, lo)) continue;
      hi = lo;
    } else if (!parse_int(item.substr(0, dash), lo) || !parse_int(item.substr(dash + 1), hi)) {
      continue;
    }
    if (code >= lo && code <= hi) return true;
  }
  return false;
}

CheckResult evaluate_response(const config::HttpCheck& hc, std::string_view data) {
  using Expect = config::HttpCheck::Expect;
  CheckResult r;
  bool invalid = false;
  auto head = parse_response_head(data, invalid);
  if (!head) {
    r.outcome = CheckResult::Outcome::Fail;
    r.status = CheckStatus::L7Rsp;
    return r;
  }
  r.code = head->code;
  r.info = head->reason;
  if (hc.disable_on_404 && head->code == 404) {
    r.outcome = CheckResult::Outcome::CondPass;
    r.status = CheckStatus::L7OkC;
    return r;
  }
  std::string_view body = data.substr(head->header_len);
  if (head->content_length && body.size() > *head->content_length)
    body = body.substr(0, *head->content_length);
  bool ok = false;
  switch (hc.expect) {
    case Expect::Default:
      ok = head->code >= 200 && head->code <= 399;
      break;
    case Expect::Status:
      ok = status_matches_list(hc.expect_value, head->code) != hc.expect_negate;
      break;
    case Expect::RStatus:
      ok = regex_search(hc.expect_value, std::to_string(head->code)) != hc.expect_negate;
      break;
    case Expect::String:
      ok = (body.find(hc.expect_value) != std::string_view::npos) != hc.expect_negate;
      break;
    case Expect::RString:
      ok = regex_search(hc.expect_value, body) != hc.expect_negate;
      break;
  }
  if (ok) {
    r.outcome = CheckResult::Outcome::Pass;
    r.status = CheckStatus::L7Ok;
    return r;
  }
  r.outcome = CheckResult::Outcome::Fail;
  if (hc.expect == Expect::String || hc.expect == Expect::RString) {
    r.status = CheckStatus::L7Rsp;
    r.info = "HTTP content check did not match";
  } else {
    r.status = CheckStatus::L7Sts;
  }
  return r;
}

}  // namespace herd::health
