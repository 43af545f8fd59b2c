// The TLS engine (tls/conn.h) against an OpenSSL client over memory: the
// handshake, records both ways, SNI selection from `crt` and `crt-list`,
// ALPN, strict-sni, garbage instead of a ClientHello, close_notify; and
// the config alerts of tls::prepare.
#include "tls/conn.h"

#include <gtest/gtest.h>
#include <openssl/ssl.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>

#include "config/parser.h"
#include "tests/tls_self_signed.h"
#include "tls/context.h"

namespace {

namespace fs = std::filesystem;
using herd::tls::Conn;

// A self-signed certificate for `cn` in dir/<cn>.pem (.rsa.pem for RSA).
std::string make_cert(const fs::path& dir, const std::string& cn, bool rsa) {
  std::string path = (dir / (cn + (rsa ? ".rsa.pem" : ".pem"))).string();
  herd::testing::write_self_signed(path, cn, rsa);
  return path;
}

class TlsConnTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("herd-tls-" + std::to_string(getpid()));
    fs::create_directories(dir_);
    a_ = make_cert(dir_, "a.test", false);
    b_ = make_cert(dir_, "b.test", true);
  }
  void TearDown() override { fs::remove_all(dir_); }

  herd::config::ParseResult parse(const std::string& bind_opts) {
    std::string text =
        "defaults\n  mode http\n  timeout client 1s\n  timeout server 1s\n  timeout connect 1s\n"
        "frontend f\n  bind 127.0.0.1:1 " +
        bind_opts + "\n  default_backend b\nbackend b\n  server s 127.0.0.1:2\n";
    herd::config::ParseOptions o;
    o.resolve_hostnames = false;
    auto pr = herd::config::parse_text(text, "t.cfg", o);
    herd::tls::prepare(pr);
    return pr;
  }
  static const herd::tls::ServerContext* bind_ctx(const herd::config::ParseResult& pr) {
    for (const auto& px : pr.config.proxies)
      if (px.name == "f" && !px.binds.empty()) return herd::tls::server_context(px.binds[0]);
    return nullptr;
  }
  static std::string diags(const herd::config::ParseResult& pr) {
    std::string s;
    for (const auto& d : pr.diags) s += d.text + "\n";
    return s;
  }

  fs::path dir_;
  std::string a_, b_;
};

// An OpenSSL client over memory BIOs, wired to a server Conn.
struct Client {
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  SSL* ssl = nullptr;
  explicit Client(const char* sni, const char* alpn = nullptr) {
    ssl = SSL_new(ctx);
    BIO* r = BIO_new(BIO_s_mem());
    BIO* w = BIO_new(BIO_s_mem());
    BIO_set_mem_eof_return(r, -1);
    SSL_set_bio(ssl, r, w);
    SSL_set_connect_state(ssl);
    if (sni) SSL_set_tlsext_host_name(ssl, sni);
    if (alpn) {
      std::string wire(1, static_cast<char>(std::strlen(alpn)));
      wire += alpn;
      SSL_set_alpn_protos(ssl, reinterpret_cast<const unsigned char*>(wire.data()),
                          static_cast<unsigned>(wire.size()));
    }
  }
  ~Client() {
    SSL_free(ssl);
    SSL_CTX_free(ctx);
  }
  // Moves bytes both ways until neither side has anything to send; the
  // server side reads only while its handshake is not done.
  void pump(Conn& s) {
    for (int i = 0; i < 20; ++i) {
      if (!SSL_is_init_finished(ssl)) SSL_do_handshake(ssl);
      char buf[65536];
      bool moved = false;
      int n;
      while ((n = BIO_read(SSL_get_wbio(ssl), buf, sizeof buf)) > 0) {
        s.feed(buf, static_cast<size_t>(n));
        moved = true;
      }
      size_t got = 0;
      if (!s.handshake_done()) s.read(buf, sizeof buf, &got);
      if (s.out_size() > 0) {
        BIO_write(SSL_get_rbio(ssl), s.out_data(), static_cast<int>(s.out_size()));
        s.out_consume(s.out_size());
        moved = true;
      }
      if (!moved && SSL_is_init_finished(ssl)) return;
      if (!moved && i > 2) return;
    }
  }
  std::string subject_cn() {
    X509* x = SSL_get0_peer_certificate(ssl);
    if (!x) return "";
    char buf[256];
    X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_commonName, buf, sizeof buf);
    return buf;
  }
};

TEST_F(TlsConnTest, HandshakeAndRecordsBothWays) {
  auto pr = parse("ssl crt " + a_);
  ASSERT_FALSE(pr.fatal) << diags(pr);
  const auto* ctx = bind_ctx(pr);
  ASSERT_NE(ctx, nullptr);
  Conn s(*ctx);
  Client c("a.test");
  c.pump(s);
  ASSERT_TRUE(SSL_is_init_finished(c.ssl));
  EXPECT_EQ(c.subject_cn(), "a.test");
  // Client -> server.
  ASSERT_EQ(SSL_write(c.ssl, "GET / HTTP/1.1\r\n\r\n", 18), 18);
  c.pump(s);
  char buf[100];
  size_t n = 0;
  ASSERT_EQ(s.read(buf, sizeof buf, &n), Conn::Result::Ok);
  EXPECT_EQ(std::string(buf, n), "GET / HTTP/1.1\r\n\r\n");
  EXPECT_TRUE(s.handshake_done());
  EXPECT_EQ(s.sni(), "a.test");
  EXPECT_EQ(s.protocol(), "TLSv1.3");
  EXPECT_FALSE(s.client_cert_used());
  // Server -> client, larger than one record.
  std::string big(40000, 'x');
  size_t used = 0;
  ASSERT_EQ(s.write(big.data(), big.size(), &used), Conn::Result::Ok);
  EXPECT_EQ(used, big.size());
  c.pump(s);
  std::string got;
  char rb[16384];
  int r;
  while ((r = SSL_read(c.ssl, rb, sizeof rb)) > 0) got.append(rb, static_cast<size_t>(r));
  EXPECT_EQ(got.size(), big.size());
  EXPECT_TRUE(got == big);
  // close_notify from the client: end of stream.
  SSL_shutdown(c.ssl);
  c.pump(s);
  EXPECT_EQ(s.read(buf, sizeof buf, &n), Conn::Result::Closed);
}

// An idle connection trims its buffers (the memory BIOs are replaced):
// records go on both ways after it, and a partial record fed before the trim
// is kept (its BIO is not replaced) and completes after it.
TEST_F(TlsConnTest, TrimKeepsTheConnectionWorking) {
  auto pr = parse("ssl crt " + a_);
  ASSERT_FALSE(pr.fatal) << diags(pr);
  Conn s(*bind_ctx(pr));
  Client c("a.test");
  c.pump(s);
  ASSERT_TRUE(SSL_is_init_finished(c.ssl));
  std::string big(40000, 'y');
  size_t used = 0;
  ASSERT_EQ(s.write(big.data(), big.size(), &used), Conn::Result::Ok);
  c.pump(s);
  s.trim();
  EXPECT_EQ(s.out_size(), 0u);
  // A record split in two: its first half is fed, then the trim, then the rest.
  const std::string req = "GET /after HTTP/1.1\r\n\r\n";
  ASSERT_EQ(SSL_write(c.ssl, req.data(), static_cast<int>(req.size())),
            static_cast<int>(req.size()));
  char rec[4096];
  int rn = BIO_read(SSL_get_wbio(c.ssl), rec, sizeof rec);
  ASSERT_GT(rn, 10);
  s.feed(rec, 5);
  s.trim();
  s.feed(rec + 5, static_cast<size_t>(rn - 5));
  char buf[100];
  size_t n = 0;
  ASSERT_EQ(s.read(buf, sizeof buf, &n), Conn::Result::Ok);
  EXPECT_EQ(std::string(buf, n), req);
  s.trim();
  ASSERT_EQ(s.write("ok", 2, &used), Conn::Result::Ok);
  c.pump(s);
  std::string got;
  char rb[16384];
  int r;
  while ((r = SSL_read(c.ssl, rb, sizeof rb)) > 0) got.append(rb, static_cast<size_t>(r));
  EXPECT_EQ(got.size(), big.size() + 2);
  EXPECT_EQ(got.substr(big.size()), "ok");
}

TEST_F(TlsConnTest, SniPicksTheCertificateDefaultIsFirst) {
  auto pr = parse("ssl crt " + a_ + " crt " + b_);
  ASSERT_FALSE(pr.fatal) << diags(pr);
  const auto* ctx = bind_ctx(pr);
  for (auto [sni, want] : {std::pair<const char*, const char*>{"b.test", "b.test"},
                           {"A.TEST", "a.test"},
                           {"other.test", "a.test"},
                           {nullptr, "a.test"}}) {
    Conn s(*ctx);
    Client c(sni);
    c.pump(s);
    ASSERT_TRUE(SSL_is_init_finished(c.ssl)) << (sni ? sni : "(none)");
    EXPECT_EQ(c.subject_cn(), want) << (sni ? sni : "(none)");
  }
}

TEST_F(TlsConnTest, CrtListFiltersAndStrictSni) {
  std::string list = (dir_ / "list.txt").string();
  std::ofstream(list) << "# comment\n" << b_ << " *.w.test other.test\n" << a_ << "\n";
  auto pr = parse("ssl crt-list " + list + " strict-sni");
  ASSERT_FALSE(pr.fatal) << diags(pr);
  const auto* ctx = bind_ctx(pr);
  {
    Conn s(*ctx);
    Client c("x.w.test");
    c.pump(s);
    ASSERT_TRUE(SSL_is_init_finished(c.ssl));
    EXPECT_EQ(c.subject_cn(), "b.test");
  }
  {
    Conn s(*ctx);
    Client c("b.test");  // its own name is replaced by the filters
    c.pump(s);
    EXPECT_FALSE(SSL_is_init_finished(c.ssl));
    EXPECT_TRUE(s.failed_handshake());
  }
  {
    Conn s(*ctx);
    Client c(nullptr);
    c.pump(s);
    EXPECT_FALSE(SSL_is_init_finished(c.ssl));
  }
}

TEST_F(TlsConnTest, AlpnOffersHttp11NotH2) {
  auto pr = parse("ssl crt " + a_ + " alpn h2,http/1.1");
  ASSERT_FALSE(pr.fatal) << diags(pr);
  EXPECT_NE(diags(pr).find("'alpn h2' is not offered"), std::string::npos);
  const auto* ctx = bind_ctx(pr);
  {
    Conn s(*ctx);
    Client c("a.test", "h2");
    c.pump(s);
    ASSERT_TRUE(SSL_is_init_finished(c.ssl));
    EXPECT_EQ(s.alpn(), "");
  }
  {
    Conn s(*ctx);
    Client c("a.test", "http/1.1");
    c.pump(s);
    EXPECT_EQ(s.alpn(), "http/1.1");
  }
}

TEST_F(TlsConnTest, GarbageIsAFailedHandshake) {
  auto pr = parse("ssl crt " + a_);
  const auto* ctx = bind_ctx(pr);
  Conn s(*ctx);
  const char req[] = "GET / HTTP/1.1\r\nhost: x\r\n\r\n";
  s.feed(req, sizeof req - 1);
  char buf[100];
  size_t n = 0;
  EXPECT_EQ(s.read(buf, sizeof buf, &n), Conn::Result::Failed);
  EXPECT_TRUE(s.failed_handshake());
  EXPECT_EQ(s.read(buf, sizeof buf, &n), Conn::Result::Failed);  // stays failed
}

TEST_F(TlsConnTest, ConfigAlertsAsHaproxy) {
  auto pr = parse("ssl crt /nonexistent.pem");
  EXPECT_TRUE(pr.fatal);
  EXPECT_NE(diags(pr).find("parsing [t.cfg:7] : 'bind 127.0.0.1:1' in section 'frontend' : "
                           "unable to stat SSL certificate from file '/nonexistent.pem' : No such "
                           "file or directory."),
            std::string::npos)
      << diags(pr);
  pr = parse("ssl");
  EXPECT_TRUE(pr.fatal);
  EXPECT_NE(diags(pr).find("Proxy 'f': no SSL certificate specified for bind '127.0.0.1:1' at "
                           "[t.cfg:7] (use 'crt')."),
            std::string::npos)
      << diags(pr);
  pr = parse("ssl crt " + a_ + " verify required");
  EXPECT_NE(diags(pr).find("verify is enabled but no CA file specified"), std::string::npos);
  pr = parse("ssl crt " + a_ + " ssl-min-ver TLSv9");
  EXPECT_NE(diags(pr).find("'TLSv9' : unknown ssl/tls version"), std::string::npos);
  pr = parse("ssl crt " + a_ + " ssl-min-ver TLSv1.3 ssl-max-ver TLSv1.2");
  EXPECT_NE(diags(pr).find("all SSL/TLS versions are disabled"), std::string::npos);
  pr = parse("ssl crt " + a_ + " ciphers NOPE");
  EXPECT_NE(diags(pr).find("unable to set SSL cipher list to 'NOPE'"), std::string::npos);
}

}  // namespace
