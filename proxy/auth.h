// proxy/auth.h — HTTP Basic authentication against `userlist` sections:
// the `Authorization` header as haproxy 2.6 reads it (get_http_auth() in
// its http_fetch.c) and the password check (check_user() in auth.c, with
// crypt(3) for hashed passwords).
//
// Thread rules: pure functions; crypt_r() with a per-thread work area, so
// any thread.
#pragma once

#include <string>
#include <string_view>

#include "config/model.h"
#include "proxy/http1.h"

namespace herd::proxy {

// What the request's first `Authorization` element carries.
struct AuthInfo {
  enum class Method { None, Basic, Bearer };
  Method method = Method::None;
  std::string user, pass;  // Basic only
};

// Reads the first comma-separated element of the first `Authorization`
// header: "<scheme> <data>". A scheme that is a case-insensitive prefix of
// "Basic" (as haproxy compares it) with base64 data "user:pass" is Basic;
// "Bearer" is Bearer; anything else (or broken base64, no ':') is None.
AuthInfo parse_authorization(const char* base, const http1::Head& h);

// Whether `user`/`pass` are valid in `ul`: a clear-text comparison for
// `insecure-password`, crypt(3) of `pass` with the stored hash as setting
// otherwise.
bool check_user(const config::Userlist& ul, const std::string& user, const std::string& pass);

// The groups `user` belongs to in `ul` (null when no such user).
const std::vector<std::string>* user_groups(const config::Userlist& ul, std::string_view user);

}  // namespace herd::proxy
