// tls/conn.cpp — see conn.h.
#include "tls/conn.h"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <climits>
#include <string>

#include "tls/context.h"

namespace herd::tls {

Conn::Conn(const ServerContext& ctx) {
  ssl_ = SSL_new(ctx.initial());
  BIO* rbio = BIO_new(BIO_s_mem());
  BIO* wbio = BIO_new(BIO_s_mem());
  BIO_set_mem_eof_return(rbio, -1);  // empty: "retry", not end of stream
  SSL_set_bio(ssl_, rbio, wbio);
  SSL_set_accept_state(ssl_);
}

Conn::Conn(const ClientContext& ctx, std::string_view sni) {
  ssl_ = SSL_new(ctx.ctx);
  BIO* rbio = BIO_new(BIO_s_mem());
  BIO* wbio = BIO_new(BIO_s_mem());
  BIO_set_mem_eof_return(rbio, -1);
  SSL_set_bio(ssl_, rbio, wbio);
  SSL_set_connect_state(ssl_);
  std::string name(sni);
  if (!sni.empty()) {
    SSL_set_tlsext_host_name(ssl_, name.c_str());
    if (ctx.verify) SSL_set1_host(ssl_, name.c_str());
  }
  // Resumes the last session the server gave for this SNI (context.h).
  if (SSL_SESSION* s = ctx.session_for(name)) {
    SSL_set_session(ssl_, s);
    SSL_SESSION_free(s);
  }
}

Conn::~Conn() { SSL_free(ssl_); }

Conn::Result Conn::handshake() {
  if (failed_) return Result::Failed;
  if (done_) return Result::Ok;
  int r = SSL_do_handshake(ssl_);
  if (r == 1) {
    done_ = true;
    drain_out();
    return Result::Ok;
  }
  if (SSL_get_error(ssl_, r) == SSL_ERROR_WANT_READ) {
    drain_out();
    return Result::WantRead;
  }
  return fail();
}

void Conn::feed(const char* p, size_t n) {
  while (n > 0) {
    int chunk = n > INT_MAX ? INT_MAX : static_cast<int>(n);
    int w = BIO_write(SSL_get_rbio(ssl_), p, chunk);
    if (w <= 0) return;
    p += w;
    n -= static_cast<size_t>(w);
  }
}

void Conn::drain_out() {
  BIO* w = SSL_get_wbio(ssl_);
  size_t pending = BIO_ctrl_pending(w);
  if (pending == 0) return;
  if (out_pos_ == out_.size()) {
    out_.clear();
    out_pos_ = 0;
  }
  size_t old = out_.size();
  out_.resize(old + pending);
  int n = BIO_read(w, out_.data() + old, static_cast<int>(pending));
  out_.resize(old + (n > 0 ? static_cast<size_t>(n) : 0));
}

void Conn::out_consume(size_t n) {
  out_pos_ += n;
  if (out_pos_ >= out_.size()) {
    out_.clear();
    out_pos_ = 0;
  }
}

void Conn::take_out(std::string& dst) {
  dst.clear();
  if (out_pos_ == 0) {
    dst.swap(out_);
  } else {
    dst.assign(out_, out_pos_);
    out_.clear();
  }
  out_pos_ = 0;
}

Conn::Result Conn::fail() {
  failed_ = true;
  ERR_clear_error();
  drain_out();  // an alert, if OpenSSL queued one
  return Result::Failed;
}

void Conn::trim() {
  if (BIO_ctrl_pending(SSL_get_rbio(ssl_)) == 0) {
    BIO* rbio = BIO_new(BIO_s_mem());
    BIO_set_mem_eof_return(rbio, -1);
    SSL_set0_rbio(ssl_, rbio);  // frees the old one
  }
  if (BIO_ctrl_pending(SSL_get_wbio(ssl_)) == 0) SSL_set0_wbio(ssl_, BIO_new(BIO_s_mem()));
  if (out_size() == 0) {
    std::string().swap(out_);
    out_pos_ = 0;
  }
}

bool Conn::has_buffered() const {
  return SSL_pending(ssl_) > 0 || BIO_ctrl_pending(SSL_get_rbio(ssl_)) > 0;
}

Conn::Result Conn::read(char* out, size_t cap, size_t* n) {
  *n = 0;
  if (failed_) return Result::Failed;
  int cap_i = cap > INT_MAX ? INT_MAX : static_cast<int>(cap);
  int r = SSL_read(ssl_, out, cap_i);
  if (!done_ && SSL_is_init_finished(ssl_)) done_ = true;
  if (r > 0) {
    drain_out();
    *n = static_cast<size_t>(r);
    return Result::Ok;
  }
  switch (SSL_get_error(ssl_, r)) {
    case SSL_ERROR_WANT_READ:
      drain_out();
      return Result::WantRead;
    case SSL_ERROR_ZERO_RETURN:
      drain_out();
      return Result::Closed;
    default:
      return fail();
  }
}

Conn::Result Conn::write(const char* p, size_t n, size_t* used) {
  *used = 0;
  if (failed_) return Result::Failed;
  if (n == 0) return Result::Ok;
  // Partial writes are on (a record at a time); the memory BIO never
  // refuses, so everything goes in one call.
  int r = 1;
  while (*used < n) {
    size_t w = 0;
    r = SSL_write_ex(ssl_, p + *used, n - *used, &w);
    if (r != 1) break;
    *used += w;
  }
  if (!done_ && SSL_is_init_finished(ssl_)) done_ = true;
  if (r == 1 || *used > 0) {
    drain_out();
    return Result::Ok;
  }
  int e = SSL_get_error(ssl_, r);
  if (e == SSL_ERROR_WANT_READ) {
    drain_out();
    return Result::WantRead;
  }
  return fail();
}

void Conn::close_notify() {
  if (!done_ || failed_) return;
  SSL_shutdown(ssl_);
  ERR_clear_error();
  drain_out();
}

bool Conn::resumed() const { return SSL_session_reused(ssl_) == 1; }

std::string_view Conn::sni() const {
  const char* s = SSL_get_servername(ssl_, TLSEXT_NAMETYPE_host_name);
  return s ? std::string_view(s) : std::string_view();
}

std::string_view Conn::alpn() const {
  const unsigned char* p = nullptr;
  unsigned n = 0;
  SSL_get0_alpn_selected(ssl_, &p, &n);
  return p ? std::string_view(reinterpret_cast<const char*>(p), n) : std::string_view();
}

std::string_view Conn::protocol() const { return SSL_get_version(ssl_); }

bool Conn::client_cert_used() const { return SSL_get0_peer_certificate(ssl_) != nullptr; }

long Conn::client_verify() const { return SSL_get_verify_result(ssl_); }

std::string Conn::client_subject_dn() const {
  X509* x = SSL_get0_peer_certificate(ssl_);
  if (!x) return {};
  char buf[1024];
  X509_NAME_oneline(X509_get_subject_name(x), buf, sizeof buf);
  return buf;
}

}  // namespace herd::tls
