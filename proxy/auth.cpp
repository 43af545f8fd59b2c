// proxy/auth.cpp — see auth.h.
#include "proxy/auth.h"

#include <crypt.h>

#include <cstring>
#include <memory>

namespace herd::proxy {
namespace {

// haproxy's base64dec(): the length must be a multiple of 4, '=' only as
// padding at the end; false on anything else.
bool base64_decode(std::string_view in, std::string* out) {
  if (in.size() % 4 != 0) return false;
  static constexpr std::string_view kAlphabet =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  out->clear();
  for (size_t i = 0; i < in.size(); i += 4) {
    int v[4];
    int pad = 0;
    for (int k = 0; k < 4; ++k) {
      char c = in[i + k];
      if (c == '=') {
        // Padding: only in the last quantum, and only at its end.
        if (i + 4 != in.size() || k < 2) return false;
        v[k] = 0;
        ++pad;
        continue;
      }
      if (pad) return false;
      const size_t at = kAlphabet.find(c);
      if (at == std::string_view::npos) return false;
      v[k] = static_cast<int>(at);
    }
    const unsigned n = static_cast<unsigned>((v[0] << 18) | (v[1] << 12) | (v[2] << 6) | v[3]);
    out->push_back(static_cast<char>(n >> 16));
    if (pad < 2) out->push_back(static_cast<char>((n >> 8) & 0xff));
    if (pad < 1) out->push_back(static_cast<char>(n & 0xff));
  }
  return true;
}

}  // namespace

AuthInfo parse_authorization(const char* base, const http1::Head& h) {
  AuthInfo info;
  std::string_view value;
  bool found = false;
  for (size_t i = 0; i < h.nfields && !found; ++i) {
    if (!http1::iequals(h.name(base, i), "authorization")) continue;
    http1::for_each_element(h.value(base, i), [&](std::string_view, std::string_view e, bool) {
      if (!found) value = e;
      found = true;
    });
  }
  if (!found) return info;
  const size_t sp = value.find(' ');
  if (sp == std::string_view::npos || sp == 0) return info;
  std::string_view scheme = value.substr(0, sp);
  std::string_view data = value.substr(sp);
  while (!data.empty() && data.front() == ' ') data.remove_prefix(1);
  // haproxy: strncasecmp("Basic", scheme, len(scheme)).
  auto prefix_of = [&](std::string_view word) {
    return scheme.size() <= word.size() && http1::iequals(word.substr(0, scheme.size()), scheme);
  };
  if (prefix_of("Basic")) {
    std::string decoded;
    if (!base64_decode(data, &decoded)) return info;
    // C strings from here on, as in haproxy: a NUL ends them.
    decoded.resize(std::strlen(decoded.c_str()));
    const size_t colon = decoded.find(':');
    if (colon == std::string::npos) return info;
    info.user = decoded.substr(0, colon);
    info.pass = decoded.substr(colon + 1);
    info.method = AuthInfo::Method::Basic;
  } else if (prefix_of("Bearer")) {
    info.method = AuthInfo::Method::Bearer;
  }
  return info;
}

bool check_user(const config::Userlist& ul, const std::string& user, const std::string& pass) {
  const config::Userlist::User* u = ul.find(user);
  if (!u || !u->has_password) return false;
  if (u->insecure) return pass == u->password;
  thread_local std::unique_ptr<crypt_data> work;
  if (!work) work = std::make_unique<crypt_data>();
  std::memset(work.get(), 0, sizeof(crypt_data));
  const char* ep = crypt_r(pass.c_str(), u->password.c_str(), work.get());
  return ep != nullptr && u->password == ep;
}

const std::vector<std::string>* user_groups(const config::Userlist& ul, std::string_view user) {
  const config::Userlist::User* u = ul.find(user);
  return u ? &u->groups : nullptr;
}

}  // namespace herd::proxy
