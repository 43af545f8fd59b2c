// config/tokenizer.cpp — see tokenizer.h.
#include "config/tokenizer.h"

#include <cstdlib>
#include <utility>

namespace herd::config {
namespace {

bool is_name_first(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_';
}
bool is_name_char(char c) { return is_name_first(c) || (c >= '0' && c <= '9'); }
int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// A parsed `$NAME` / `${NAME[*]-default}` reference starting at a `$`.
struct VarRef {
  std::string name;
  bool braced = false;
  bool split = false;  // [*]
  std::optional<std::string> fallback;
  size_t end = 0;  // index just past the reference
  // On error: position (0-based) the message points at and its text.
  size_t err_pos = 0;
  const char* err = nullptr;
};

VarRef parse_var_ref(std::string_view s, size_t dollar) {
  VarRef r;
  size_t j = dollar + 1;
  if (j < s.size() && s[j] == '{') {
    r.braced = true;
    ++j;
  }
  size_t name_begin = j;
  bool dotted = r.braced && j < s.size() && s[j] == '.';
  if (dotted) ++j;
  if (j >= s.size() || !is_name_first(s[j])) {
    r.err_pos = name_begin;
    r.err = "forbidden first char in environment variable name";
    return r;
  }
  while (j < s.size() && is_name_char(s[j])) ++j;
  r.name = std::string(s.substr(name_begin, j - name_begin));
  if (dotted && r.name != ".FILE" && r.name != ".LINE" && r.name != ".SECTION") {
    r.err_pos = name_begin;
    r.err = "forbidden first char in environment variable name";
    return r;
  }
  if (!r.braced) {
    r.end = j;
    return r;
  }
  if (s.substr(j, 3) == "[*]") {
    r.split = true;
    j += 3;
  }
  if (j < s.size() && s[j] == '-') {
    size_t close = s.find('}', j + 1);
    if (close != std::string_view::npos) {
      r.fallback = std::string(s.substr(j + 1, close - j - 1));
      j = close;
    }
  }
  if (j >= s.size() || s[j] != '}') {
    r.err_pos = name_begin - 1;
    r.err = "unmatched brace in environment variable name";
    return r;
  }
  r.end = j + 1;
  return r;
}

std::string var_value(const VarRef& r, const LineContext& ctx, const EnvLookup& env) {
  if (r.name == ".FILE") return ctx.file;
  if (r.name == ".LINE") return std::to_string(ctx.line);
  if (r.name == ".SECTION") return ctx.section;
  std::optional<std::string> v = env ? env(r.name) : std::nullopt;
  if (v) return *v;
  return r.fallback.value_or("");
}

std::string error_text(std::string_view line, size_t lead, size_t pos, const char* what) {
  std::string out = what;
  out += " at position " + std::to_string(pos + 1) + ":\n  ";
  out += line.substr(lead);
  out += "\n  ";
  out += std::string(pos >= lead ? pos - lead : 0, ' ');
  out += '^';
  return out;
}

}  // namespace

EnvLookup process_env() {
  return [](const std::string& name) -> std::optional<std::string> {
    const char* v = std::getenv(name.c_str());
    if (v == nullptr) return std::nullopt;
    return std::string(v);
  };
}

TokenizedLine tokenize_line(std::string_view line, const LineContext& ctx, const EnvLookup& env) {
  TokenizedLine out;
  size_t lead = 0;
  while (lead < line.size() && (line[lead] == ' ' || line[lead] == '\t')) ++lead;

  std::string cur;
  bool in_word = false;
  char quote = 0;
  size_t quote_start = 0;
  auto fail = [&](size_t pos, const char* what) {
    out.words.clear();
    out.error = error_text(line, lead, pos, what);
    return out;
  };

  size_t i = lead;
  while (i < line.size()) {
    char c = line[i];
    if (quote == '\'') {
      if (c == '\'')
        quote = 0;
      else
        cur += c;
      ++i;
      continue;
    }
    if (quote == 0) {
      if (c == ' ' || c == '\t') {
        if (in_word) out.words.push_back(std::move(cur));
        cur.clear();
        in_word = false;
        ++i;
        continue;
      }
      if (c == '#') break;
      if (c == '\'' || c == '"') {
        quote = c;
        quote_start = i;
        in_word = true;
        ++i;
        continue;
      }
    } else if (c == '"') {  // closing double quote
      quote = 0;
      ++i;
      continue;
    }
    in_word = true;
    if (c == '\\' && i + 1 < line.size()) {
      char n = line[i + 1];
      switch (n) {
        case ' ':
        case '#':
        case '\\':
        case '\'':
        case '"':
        case '$':
          cur += n;
          i += 2;
          continue;
        case 'n':
          cur += '\n';
          i += 2;
          continue;
        case 'r':
          cur += '\r';
          i += 2;
          continue;
        case 't':
          cur += '\t';
          i += 2;
          continue;
        case 'x': {
          int hi = i + 2 < line.size() ? hex_value(line[i + 2]) : -1;
          int lo = i + 3 < line.size() ? hex_value(line[i + 3]) : -1;
          if (hi < 0 || lo < 0) return fail(i, "truncated or invalid hexadecimal sequence");
          cur += static_cast<char>(hi * 16 + lo);
          i += 4;
          continue;
        }
        default:
          cur += c;  // unknown escape: the backslash stays
          ++i;
          continue;
      }
    }
    if (c == '$' && quote == '"') {
      VarRef r = parse_var_ref(line, i);
      if (r.err != nullptr) return fail(r.err_pos, r.err);
      std::string v = var_value(r, ctx, env);
      if (!r.split) {
        cur += v;
      } else {
        bool first = true;
        size_t p = 0;
        while (p < v.size()) {
          size_t sp = v.find(' ', p);
          if (sp == std::string::npos) sp = v.size();
          if (sp > p) {
            if (!first) out.words.push_back(std::exchange(cur, std::string()));
            cur += v.substr(p, sp - p);
            first = false;
          }
          p = sp + 1;
        }
      }
      i = r.end;
      continue;
    }
    cur += c;
    ++i;
  }
  if (quote != 0) return fail(quote_start, "unmatched quote");
  if (in_word) out.words.push_back(std::move(cur));
  return out;
}

std::string expand_address_vars(std::string_view word, const EnvLookup& env) {
  std::string out;
  size_t i = 0;
  while (i < word.size()) {
    if (word[i] == '$') {
      VarRef r = parse_var_ref(word, i);
      if (r.err == nullptr && r.name[0] != '.') {
        std::optional<std::string> v = env ? env(r.name) : std::nullopt;
        out += v ? *v : r.fallback.value_or("");
        i = r.end;
        continue;
      }
    }
    out += word[i++];
  }
  return out;
}

}  // namespace herd::config
