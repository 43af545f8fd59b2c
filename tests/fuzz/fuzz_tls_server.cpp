// tests/fuzz/fuzz_tls_server.cpp — the TLS record path of a client
// connection (tls/conn.h) on any bytes: the input, after its first byte
// (the split seed), is fed as ciphertext from the peer in pieces, with a
// read after each piece; once the handshake is done a response is written.
// The server context is a `bind ... ssl crt <P-256 cert> alpn http/1.1`
// built once (certificate made in memory, written to a temporary file).
// Invariants: a Failed engine stays Failed, a read never returns more
// than asked, out_consume takes exactly what is there.
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <string>

#include "config/parser.h"
#include "tests/fuzz/fuzz_support.h"
#include "tests/tls_self_signed.h"
#include "tls/conn.h"
#include "tls/context.h"

namespace {

const herd::tls::ServerContext* make_context() {
  static herd::config::ParseResult pr;  // owns the context
  std::string path = "/tmp/herd-fuzz-tls-" + std::to_string(getpid()) + ".pem";
  herd::testing::write_self_signed(path, "a.test");
  herd::config::ParseOptions o;
  o.resolve_hostnames = false;
  pr = herd::config::parse_text("frontend f\n  mode http\n  bind 127.0.0.1:1 ssl crt " + path +
                                    " alpn http/1.1\n  default_backend b\nbackend b\n  mode http\n"
                                    "  server s 127.0.0.1:2\n",
                                "fuzz.cfg", o);
  herd::tls::prepare(pr);
  std::remove(path.c_str());
  for (const auto& px : pr.config.proxies)
    if (px.name == "f" && !px.binds.empty()) return herd::tls::server_context(px.binds[0]);
  return nullptr;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const herd::tls::ServerContext* ctx = make_context();
  FUZZ_CHECK(ctx != nullptr);
  if (size == 0) return 0;
  herd::tls::Conn c(*ctx);
  const char* p = reinterpret_cast<const char*>(data + 1);
  bool failed = false;
  bool wrote = false;
  char buf[4096];
  for (size_t piece : herd::fuzz::split_points(data[0], size - 1)) {
    c.feed(p, piece);
    p += piece;
    for (;;) {
      size_t n = 0;
      auto r = c.read(buf, sizeof buf, &n);
      FUZZ_CHECK(n <= sizeof buf);
      if (failed) FUZZ_CHECK(r == herd::tls::Conn::Result::Failed);
      if (r == herd::tls::Conn::Result::Failed) failed = true;
      if (r != herd::tls::Conn::Result::Ok) break;
      FUZZ_CHECK(n > 0);
    }
    if (c.handshake_done() && !failed && !wrote) {
      static const char kResp[] = "HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n";
      size_t used = 0;
      if (c.write(kResp, sizeof kResp - 1, &used) == herd::tls::Conn::Result::Ok)
        FUZZ_CHECK(used == sizeof kResp - 1);
      wrote = true;
      (void)c.sni();
      (void)c.alpn();
      (void)c.protocol();
      (void)c.client_subject_dn();
    }
    size_t out = c.out_size();
    c.out_consume(out);
    FUZZ_CHECK(c.out_size() == 0);
  }
  c.close_notify();
  return 0;
}
