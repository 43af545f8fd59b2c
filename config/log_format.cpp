// config/log_format.cpp — haproxy's log-format language (`log-format`,
// `unique-id-format`, the httplog and tcplog layouts): `%<var>` log
// variables with `%{+Q,+X,+E}` flags, `%o` (flags for every later
// variable), `%[<fetch>]` sample expressions, `%%`, literal text and
// separators, parsed as haproxy 2.6's parse_logformat_string does.
//
// Thread rules: pure functions; any thread.
#include "config/log_format.h"

#include <cctype>
#include <cstring>
#include <string_view>

namespace herd::config {
namespace {

// The log variables herd fills, and whether haproxy reserves them for
// `mode http` (its logformat_keywords table).
struct VarInfo {
  const char* name;
  bool http_only;
};
constexpr VarInfo kVars[] = {
    {"o", false},   {"B", false},  {"CC", true},   {"CS", true},  {"H", false},   {"HM", true},
    {"HP", true},   {"HPO", true}, {"HQ", true},   {"HU", true},  {"HV", true},   {"ID", false},
    {"ST", false},  {"T", false},  {"Ta", true},   {"Tc", false}, {"Td", false},  {"Th", false},
    {"Ti", true},   {"Tl", false}, {"Tq", true},   {"TR", true},  {"Tr", true},   {"Ts", false},
    {"Tt", false},  {"Tu", false}, {"Tw", false},  {"U", false},  {"ac", false},  {"b", false},
    {"bc", false},  {"bi", false}, {"bp", false},  {"bq", false}, {"ci", false},  {"cp", false},
    {"f", false},   {"fc", false}, {"fi", false},  {"fp", false}, {"ft", false},  {"hr", false},
    {"hrl", false}, {"hs", false}, {"hsl", false}, {"ms", false}, {"pid", false}, {"r", true},
    {"rc", false},  {"rt", false}, {"s", false},   {"sc", false}, {"si", false},  {"sp", false},
    {"sq", false},  {"t", false},  {"tr", true},   {"trg", true}, {"trl", true},  {"ts", false},
    {"tsc", false}};

// Sample fetches herd evaluates at log time (the others need the request
// or response buffers, which haproxy has also released by then, or are not
// implemented by herd).
bool log_fetch_ok(std::string_view f, std::string* err) {
  std::string_view base = f.substr(0, f.find('('));
  static constexpr std::string_view kPlain[] = {
      "src",        "dst",          "src_port",        "dst_port",
      "ssl_fc",     "ssl_fc_sni",   "ssl_fc_protocol", "ssl_fc_alpn",
      "ssl_c_used", "ssl_c_verify", "ssl_c_s_dn",      "unique-id",
      "fe_name",    "be_name",      "srv_name"};
  for (auto k : kPlain)
    if (f == k) return true;
  if (base == "var") {
    if (f.back() != ')') {
      *err = "missing closing ')' after arguments to fetch keyword 'var'";
      return false;
    }
    std::string_view name = f.substr(4, f.size() - 5);
    return valid_var_name(name, err);
  }
  *err = "sample fetch '" + std::string(f) + "' is not supported in a log-format by herd";
  return false;
}

void apply_flags(std::string_view args, LogFormat::Node& n) {
  while (!args.empty()) {
    auto comma = args.find(',');
    std::string_view a = args.substr(0, comma);
    args = comma == std::string_view::npos ? std::string_view() : args.substr(comma + 1);
    if (a.size() < 2 || (a[0] != '+' && a[0] != '-')) continue;
    const bool on = a[0] == '+';
    a.remove_prefix(1);
    if (a == "Q")
      n.quote = on;
    else if (a == "X")
      n.hex = on;
    else if (a == "E")
      n.escape = on;
  }
}

}  // namespace

bool valid_var_name(std::string_view name, std::string* err) {
  static constexpr std::string_view kScopes[] = {"proc.", "sess.", "txn.", "req.", "res."};
  for (auto s : kScopes)
    if (name.starts_with(s) && name.size() > s.size()) return true;
  *err = "invalid args in fetch method 'var' : invalid variable name '" + std::string(name) +
         "'. A variable name must be start by its scope. The scope can be 'proc', 'sess', "
         "'txn', 'req', 'res' or 'check'";
  return false;
}

bool parse_log_format(std::string_view in, bool http, bool merge_spaces, LogFormat* out,
                      std::string* err) {
  const std::string copy(in);  // `in` may be out->raw itself
  const std::string_view s = copy;
  out->nodes.clear();
  out->raw = copy;
  bool q = false, x = false, e = false;  // %o's flags, given to every later variable
  auto text = [&](char c) {
    if (out->nodes.empty() || out->nodes.back().kind != LogFormat::Kind::Text)
      out->nodes.push_back({LogFormat::Kind::Text, "", false, false, false});
    out->nodes.back().text += c;
  };
  size_t i = 0;
  while (i < s.size()) {
    const char c = s[i];
    if (c == ' ' && merge_spaces) {
      // Consecutive spaces are one separator; each space after the first
      // is a separator of its own in haproxy too, but they print as one.
      out->nodes.push_back({LogFormat::Kind::Separator, "", false, false, false});
      ++i;
      continue;
    }
    if (c != '%') {
      text(c);
      ++i;
      continue;
    }
    ++i;  // after '%'
    if (i >= s.size()) {
      *err = "truncated line after '%'";
      return false;
    }
    if (s[i] == '%') {
      text('%');
      ++i;
      continue;
    }
    if (std::isdigit(static_cast<unsigned char>(s[i])) || s[i] == ' ' || s[i] == '\t') {
      *err = "unexpected variable name near '" + std::string(1, s[i]) + "' at position " +
             std::to_string(i) + " line : '" + std::string(s) +
             "'. Maybe you want to write a single '%', use the syntax '%%'";
      return false;
    }
    LogFormat::Node n{LogFormat::Kind::Var, "", q, x, e};
    std::string_view args;
    bool has_args = false;
    if (s[i] == '{') {
      size_t close = s.find('}', i + 1);
      if (close == std::string_view::npos) {
        *err = "truncated line after '" + std::string(s.substr(i + 1)) + "'";
        return false;
      }
      args = s.substr(i + 1, close - i - 1);
      has_args = true;
      i = close + 1;
      if (i >= s.size() || (s[i] != '[' && !std::isalnum(static_cast<unsigned char>(s[i])))) {
        *err = "parse argument modifier without variable name near '%{" + std::string(args) + "}'";
        return false;
      }
    }
    if (s[i] == '[') {
      size_t close = s.find(']', i + 1);
      if (close == std::string_view::npos) {
        *err = "missing ']' after '" + std::string(s.substr(i + 1)) + "'";
        return false;
      }
      n.kind = LogFormat::Kind::Expr;
      n.text = std::string(s.substr(i + 1, close - i - 1));
      std::string why;
      if (!log_fetch_ok(n.text, &why)) {
        *err = "failed to parse sample expression <" + std::string(s.substr(i + 1)) + "> : " + why;
        return false;
      }
      if (has_args) apply_flags(args, n);
      out->nodes.push_back(std::move(n));
      i = close + 1;
      continue;
    }
    if (!std::isalpha(static_cast<unsigned char>(s[i]))) {  // a literal '%' and this char
      text('%');
      continue;
    }
    size_t start = i;
    while (i < s.size() && std::isalnum(static_cast<unsigned char>(s[i]))) ++i;
    n.text = std::string(s.substr(start, i - start));
    const VarInfo* info = nullptr;
    for (const auto& v : kVars)
      if (n.text == v.name) info = &v;
    if (n.text == "lc" || n.text == "sslc" || n.text == "sslv") {
      *err = "format variable '" + n.text + "' is not supported by herd";
      return false;
    }
    if (!info) {
      *err = "no such format variable '" + n.text +
             "'. If you wanted to emit the '%' character verbatim, you need to use '%%'";
      return false;
    }
    if (info->http_only && !http) {
      *err = "format variable '" + n.text + "' is reserved for HTTP mode";
      return false;
    }
    if (has_args) apply_flags(args, n);
    if (n.text == "o") {
      q = n.quote;
      x = n.hex;
      e = n.escape;
      continue;
    }
    out->nodes.push_back(std::move(n));
  }
  return true;
}

const char* httplog_format() {
  return "%ci:%cp [%tr] %ft %b/%s %TR/%Tw/%Tc/%Tr/%Ta %ST %B %CC %CS %tsc %ac/%fc/%bc/%sc/%rc "
         "%sq/%bq %hr %hs %{+Q}r";
}
const char* tcplog_format() {
  return "%ci:%cp [%t] %ft %b/%s %Tw/%Tc/%Tt %B %ts %ac/%fc/%bc/%sc/%rc %sq/%bq";
}

}  // namespace herd::config
