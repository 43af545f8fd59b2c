// tls/context.cpp — see context.h.
#include "tls/context.h"

#include <dirent.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>
#include <map>
#include <set>

#include "tls/cert.h"

namespace herd::tls {

// Every bind context and every certificate file loaded (cert.h). Written
// by prepare() and the runtime API, both on one thread at a time (main
// thread before the workers, then the control thread).
std::map<std::string, std::shared_ptr<const Cert>>& loaded_certs() {
  static std::map<std::string, std::shared_ptr<const Cert>> m;
  return m;
}

// Never destroyed: a ServerContext owned by a static (a test's
// configuration) may be destroyed after it at exit and unregisters itself.
std::vector<ServerContext*>& bind_contexts() {
  static auto* v = new std::vector<ServerContext*>;
  return *v;
}

namespace {

// A file's whole text; false when it cannot be opened.
bool read_text(const std::string& path, std::string* text) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return false;
  text->assign(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
  return true;
}

// The private key of a PEM file, or null.
EVP_PKEY* read_key_file(const std::string& path) {
  BIO* b = BIO_new_file(path.c_str(), "r");
  if (!b) return nullptr;
  EVP_PKEY* k = PEM_read_bio_PrivateKey(b, nullptr, nullptr, nullptr);
  BIO_free(b);
  ERR_clear_error();
  return k;
}

std::string lower(std::string s) {
  for (char& c : s)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c + 32);
  return s;
}

// The DNS names of a certificate: its subjectAltName DNS entries and its CN.
std::vector<std::string> cert_names(X509* x) {
  std::vector<std::string> out;
  auto* sans =
      static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(x, NID_subject_alt_name, nullptr, nullptr));
  if (sans) {
    for (int i = 0; i < sk_GENERAL_NAME_num(sans); ++i) {
      const GENERAL_NAME* g = sk_GENERAL_NAME_value(sans, i);
      if (g->type != GEN_DNS) continue;
      const auto* d = ASN1_STRING_get0_data(g->d.dNSName);
      out.push_back(lower(std::string(reinterpret_cast<const char*>(d),
                                      static_cast<size_t>(ASN1_STRING_length(g->d.dNSName)))));
    }
    GENERAL_NAMES_free(sans);
  }
  X509_NAME* subj = X509_get_subject_name(x);
  for (int i = -1; (i = X509_NAME_get_index_by_NID(subj, NID_commonName, i)) >= 0;) {
    ASN1_STRING* s = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subj, i));
    unsigned char* utf8 = nullptr;
    int n = ASN1_STRING_to_UTF8(&utf8, s);
    if (n > 0)
      out.push_back(lower(std::string(reinterpret_cast<char*>(utf8), static_cast<size_t>(n))));
    OPENSSL_free(utf8);
  }
  return out;
}

// Loads a PEM file holding a certificate (then its chain) and its key, or
// the key in "<name>.key" (<name> without ".crt"), as haproxy's
// ssl-load-extra-files default. `err`: haproxy's message.
std::shared_ptr<Cert> load_pem(const std::string& path, std::string* err) {
  std::string text;
  if (!read_text(path, &text)) {
    *err = "unable to load certificate from file '" + path + "'.";
    return nullptr;
  }
  std::shared_ptr<Cert> c = parse_pem(path, text, err);
  if (!c) return nullptr;
  if (!c->key) {
    std::string base = path.ends_with(".crt") ? path.substr(0, path.size() - 4) : path;
    c->key = read_key_file(base + ".key");
  }
  if (!c->key) {
    *err = "unable to load SSL private key from PEM file '" + path + "'.";
    return nullptr;
  }
  if (X509_check_private_key(c->x509, c->key) != 1) {
    ERR_clear_error();
    *err =
        "inconsistencies between private key and certificate loaded from PEM file '" + path + "'.";
    return nullptr;
  }
  c->names = cert_names(c->x509);
  loaded_certs()[path] = c;
  return c;
}

bool is_extra_file(const std::string& name) {
  for (const char* ext : {".key", ".ocsp", ".issuer", ".sctl"})
    if (name.ends_with(ext)) return true;
  return false;
}

// `crt <file|dir>`: the certificates, in order (a directory's files sorted).
bool load_crt(const std::string& path, std::vector<std::shared_ptr<Cert>>& out, std::string* err) {
  struct stat st {};
  if (stat(path.c_str(), &st) != 0) {
    *err =
        "unable to stat SSL certificate from file '" + path + "' : " + std::strerror(errno) + ".";
    return false;
  }
  if (!S_ISDIR(st.st_mode)) {
    auto c = load_pem(path, err);
    if (!c) return false;
    out.push_back(std::move(c));
    return true;
  }
  std::vector<std::string> names;
  if (DIR* d = opendir(path.c_str())) {
    while (dirent* e = readdir(d)) {
      std::string n = e->d_name;
      if (n.empty() || n[0] == '.' || is_extra_file(n)) continue;
      names.push_back(n);
    }
    closedir(d);
  }
  std::sort(names.begin(), names.end());
  std::string dir = path.ends_with("/") ? path : path + "/";
  for (const auto& n : names) {
    struct stat fs {};
    if (stat((dir + n).c_str(), &fs) != 0 || !S_ISREG(fs.st_mode)) continue;
    auto c = load_pem(dir + n, err);
    if (!c) return false;
    out.push_back(std::move(c));
  }
  return true;
}

// `crt-list <file>`: "<crt> [filters...]" per line; `[...]` options are not
// supported. A line's positive filters replace the certificate's names.
bool load_crt_list(const std::string& path, const std::string& crt_base,
                   std::vector<std::shared_ptr<Cert>>& out, std::string* err) {
  std::ifstream in(path);
  if (!in) {
    *err = "'crt-list' : cannot open file '" + path + "' : " + std::strerror(errno);
    return false;
  }
  std::string line;
  int lineno = 0;
  while (std::getline(in, line)) {
    ++lineno;
    std::vector<std::string> words;
    for (size_t i = 0; i < line.size();) {
      while (i < line.size() && (line[i] == ' ' || line[i] == '\t' || line[i] == '\r')) ++i;
      if (i >= line.size() || line[i] == '#') break;
      size_t j = i;
      while (j < line.size() && line[j] != ' ' && line[j] != '\t' && line[j] != '\r') ++j;
      words.push_back(line.substr(i, j - i));
      i = j;
    }
    if (words.empty()) continue;
    const std::string where = "crt-list: '" + path + "':" + std::to_string(lineno) + ": ";
    for (const auto& w : words)
      if (w[0] == '[') {
        *err = where + "ssl options between '[' and ']' are not supported by herd.";
        return false;
      }
    std::string crt = words[0];
    if (crt[0] != '/' && !crt_base.empty()) crt = crt_base + "/" + crt;
    std::vector<std::shared_ptr<Cert>> certs;
    if (!load_crt(crt, certs, err)) {
      *err = where + *err;
      return false;
    }
    std::vector<std::string> pos, neg;
    for (size_t i = 1; i < words.size(); ++i)
      (words[i][0] == '!' ? neg : pos)
          .push_back(lower(words[i][0] == '!' ? words[i].substr(1) : words[i]));
    for (auto& c : certs) {
      if (!pos.empty()) c->names = pos;
      c->excluded = neg;
      out.push_back(std::move(c));
    }
  }
  return true;
}

int alpn_select(SSL*, const unsigned char** out, unsigned char* outlen, const unsigned char* in,
                unsigned inlen, void* arg) {
  const auto* sc = static_cast<const ServerContext*>(arg);
  const auto* ours = reinterpret_cast<const unsigned char*>(sc->alpn_wire.data());
  unsigned char* sel = nullptr;
  if (SSL_select_next_proto(&sel, outlen, ours, static_cast<unsigned>(sc->alpn_wire.size()), in,
                            inlen) != OPENSSL_NPN_NEGOTIATED)
    return SSL_TLSEXT_ERR_NOACK;
  *out = sel;
  return SSL_TLSEXT_ERR_OK;
}

int servername_cb(SSL* ssl, int* al, void* arg) {
  const auto* sc = static_cast<const ServerContext*>(arg);
  const char* name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
  SSL_CTX* ctx = name ? sc->find(lower(name)) : nullptr;
  if (!ctx) {
    if (!sc->strict_sni) return SSL_TLSEXT_ERR_OK;  // the default certificate
    *al = SSL_AD_UNRECOGNIZED_NAME;
    return SSL_TLSEXT_ERR_ALERT_FATAL;
  }
  if (ctx != SSL_get_SSL_CTX(ssl)) SSL_set_SSL_CTX(ssl, ctx);
  return SSL_TLSEXT_ERR_OK;
}

// The version range of `o` (bind/server) over `g` (global defaults), as
// haproxy: min TLSv1.2 unless told; `no-*` bits narrow it. 0 min: all off.
std::pair<int, int> version_range(const config::TlsOptions& o, bool set_min, bool set_max,
                                  const config::TlsOptions& g, int default_min) {
  int lo = set_min ? o.min_ver : g.min_ver ? g.min_ver : default_min;
  int hi = set_max ? o.max_ver : g.max_ver ? g.max_ver : 0x0304;
  unsigned no = o.no_versions | g.no_versions;
  while (lo <= hi && (no & (1u << (lo - 0x0300)))) ++lo;
  while (hi >= lo && (no & (1u << (hi - 0x0300)))) --hi;
  if (lo > hi) return {0, 0};
  return {lo, hi};
}

std::string bind_label(const config::Proxy& px, const config::Bind& b) {
  return "'bind " + b.tls.bind_text + "' in section '" +
         (px.kind == config::Proxy::Kind::Listen ? "listen" : "frontend") + "' : ";
}

std::string at(const config::Location& l) {
  return "[" + l.file + ":" + std::to_string(l.line) + "]";
}

X509_STORE* load_ca(const std::string& path, std::string* err) {
  X509_STORE* st = X509_STORE_new();
  if (X509_STORE_load_file(st, path.c_str()) != 1) {
    ERR_clear_error();
    X509_STORE_free(st);
    *err = "'ca-file' : unable to load " + path;
    return nullptr;
  }
  return st;
}

class Builder {
 public:
  explicit Builder(config::ParseResult& pr) : pr_(pr) {}

  void alert(const std::string& text) {
    alerts_.push_back(text);
    failed_files_.insert(current_file_);
  }

  void bind(const config::Proxy& px, config::Bind& b) {
    const auto& t = b.tls;
    const auto& g = pr_.config.global;
    current_file_ = b.where.file;
    const std::string parse = "parsing " + at(b.where) + " : " + bind_label(px, b);
    std::vector<std::shared_ptr<Cert>> certs;
    for (const auto& src : t.certs) {
      std::string err;
      bool ok = src.is_list ? load_crt_list(src.path, g.crt_base, certs, &err)
                            : load_crt(src.path, certs, &err);
      if (!ok) return alert(parse + err);
    }
    if (!t.enabled) return;  // certificates loaded (and checked) but no TLS, as haproxy
    if (px.mode == config::Mode::Tcp)
      return alert(parse + "'ssl' on a 'mode tcp' proxy is not supported by herd.");
    const std::string post = "Proxy '" + px.name + "': ";
    const std::string tail = " for bind '" + t.bind_text + "' at " + at(b.where) + ".";
    if (certs.empty()) {
      post_alerts_.push_back(post + "no SSL certificate specified" +
                             tail.substr(0, tail.size() - 1) + " (use 'crt').");
      return;
    }
    X509_STORE* store = nullptr;
    if (!t.ca_file.empty()) {
      std::string err;
      struct stat st {};
      if (stat(t.ca_file.c_str(), &st) != 0)
        alert("Couldn't open the ca-file '" + t.ca_file + "' (" + std::strerror(errno) + ").");
      store = load_ca(t.ca_file, &err);
      if (!store) return alert(parse + err);
    }
    if (t.verify != config::BindTls::Verify::None && !store) {
      post_alerts_.push_back(post + "verify is enabled but no CA file specified" + tail);
      return;
    }
    const auto range =
        version_range(t.opts, t.opts_set_min, t.opts_set_max, g.bind_options, 0x0303);
    const int lo = range.first, hi = range.second;
    if (lo == 0) {
      post_alerts_.push_back(post + "all SSL/TLS versions are disabled" + tail);
      X509_STORE_free(store);
      return;
    }
    auto sc = std::make_shared<ServerContext>();
    sc->strict_sni = t.strict_sni;
    for (const auto& a : t.alpn) {
      sc->alpn_wire.push_back(static_cast<char>(a.size()));
      sc->alpn_wire += a;
    }
    const std::string ciphers = t.ciphers_set        ? t.ciphers
                                : g.bind_ciphers_set ? g.bind_ciphers
                                                     : "";
    const std::string suites = t.ciphersuites_set        ? t.ciphersuites
                               : g.bind_ciphersuites_set ? g.bind_ciphersuites
                                                         : "";
    const bool no_tickets = t.opts.no_tickets || g.bind_options.no_tickets;
    const bool prefer_client = t.opts.prefer_client_ciphers || g.bind_options.prefer_client_ciphers;
    std::string failure;
    if (store) {
      X509_STORE_up_ref(store);
      sc->ca_store = store;
    }
    // A context holding `set` (certificates of one name: several key types).
    // Kept in the ServerContext: `commit ssl cert` builds replacements with it.
    const std::string ca_file = t.ca_file, curves = t.curves;
    const auto verify = t.verify;
    ServerContext* raw = sc.get();
    sc->make = [=](const std::vector<std::shared_ptr<const Cert>>& set) -> SSL_CTX* {
      SSL_CTX* ctx = SSL_CTX_new(TLS_server_method());
      uint64_t op = SSL_OP_ALL | SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION |
                    SSL_OP_NO_SESSION_RESUMPTION_ON_RENEGOTIATION | SSL_OP_PRIORITIZE_CHACHA;
      if (!prefer_client) op |= SSL_OP_CIPHER_SERVER_PREFERENCE;
      if (no_tickets) op |= SSL_OP_NO_TICKET;
      SSL_CTX_set_options(ctx, op);
      SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                                SSL_MODE_RELEASE_BUFFERS);
      SSL_CTX_set_min_proto_version(ctx, lo);
      SSL_CTX_set_max_proto_version(ctx, hi);
      static const unsigned char kSid[] = "herd";
      SSL_CTX_set_session_id_context(ctx, kSid, sizeof kSid - 1);
      SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER);
      // (The lists were checked when the first context was made.)
      if (!ciphers.empty()) SSL_CTX_set_cipher_list(ctx, ciphers.c_str());
      if (!suites.empty()) SSL_CTX_set_ciphersuites(ctx, suites.c_str());
      if (!curves.empty()) SSL_CTX_set1_curves_list(ctx, curves.c_str());
      ERR_clear_error();
      if (raw->ca_store) {
        SSL_CTX_set1_cert_store(ctx, raw->ca_store);
        if (STACK_OF(X509_NAME)* cas = SSL_load_client_CA_file(ca_file.c_str()))
          SSL_CTX_set_client_CA_list(ctx, cas);
        ERR_clear_error();
      }
      if (verify != config::BindTls::Verify::None)
        SSL_CTX_set_verify(
            ctx,
            SSL_VERIFY_PEER |
                (verify == config::BindTls::Verify::Required ? SSL_VERIFY_FAIL_IF_NO_PEER_CERT : 0),
            nullptr);
      if (!raw->alpn_wire.empty()) SSL_CTX_set_alpn_select_cb(ctx, alpn_select, raw);
      SSL_CTX_set_tlsext_servername_callback(ctx, servername_cb);
      SSL_CTX_set_tlsext_servername_arg(ctx, raw);
      for (const auto& c : set) {
        SSL_CTX_use_cert_and_key(ctx, c->x509, c->key, c->chain, 0);
        ERR_clear_error();
      }
      return ctx;
    };
    // The lists are checked once, with haproxy's messages.
    if (SSL_CTX* probe = SSL_CTX_new(TLS_server_method())) {
      if (!ciphers.empty() && SSL_CTX_set_cipher_list(probe, ciphers.c_str()) != 1)
        failure = post + "unable to set SSL cipher list to '" + ciphers + "'" + tail;
      if (failure.empty() && !suites.empty() &&
          SSL_CTX_set_ciphersuites(probe, suites.c_str()) != 1)
        failure = post + "unable to set TLS 1.3 cipher suites to '" + suites + "'" + tail;
      if (failure.empty() && !curves.empty() &&
          SSL_CTX_set1_curves_list(probe, curves.c_str()) != 1)
        failure = post + "unable to set SSL curves list to '" + curves + "'" + tail;
      ERR_clear_error();
      SSL_CTX_free(probe);
    }
    // Names -> the certificates answering for them (in order).
    std::map<std::string, std::vector<std::shared_ptr<const Cert>>> by_name;
    for (const auto& c : certs)
      for (const auto& n : c->names)
        if (std::find(c->excluded.begin(), c->excluded.end(), n) == c->excluded.end())
          by_name[n].push_back(c);
    std::map<std::vector<std::shared_ptr<const Cert>>, ServerContext::Slot*> made;
    auto slot_for = [&](const std::vector<std::shared_ptr<const Cert>>& set) {
      auto it = made.find(set);
      if (it != made.end()) return it->second;
      auto slot = std::make_unique<ServerContext::Slot>();
      slot->certs = set;
      slot->ctx.store(sc->make(set), std::memory_order_release);
      sc->slots_.push_back(std::move(slot));
      return made[set] = sc->slots_.back().get();
    };
    sc->default_ = slot_for({certs.front()});
    for (const auto& [name, set] : by_name) {
      ServerContext::Slot* slot = slot_for(set);
      if (name.starts_with("*."))
        sc->wild_.emplace_back(name.substr(1), slot);
      else
        sc->exact_.emplace_back(name, slot);
    }
    X509_STORE_free(store);
    if (!failure.empty()) {
      post_alerts_.push_back(failure);
      return;
    }
    bind_contexts().push_back(sc.get());
    b.tls_ctx = sc;
  }

  // `server ... ssl`: the client context (haproxy 2.6 verifies by default:
  // ssl-server-verify required).
  void server(const config::Proxy& px, config::Server& sv) {
    const auto& t = sv.tls;
    const auto& g = pr_.config.global;
    current_file_ = sv.where.file;
    const std::string label = at(sv.where) + " : 'server " + px.name + "/" + sv.name + "' : ";
    if (!t.enabled && !t.check_ssl) return;
    X509_STORE* store = nullptr;
    if (!t.ca_file.empty()) {
      struct stat st {};
      if (stat(t.ca_file.c_str(), &st) != 0) {
        alert(label + "Couldn't open the ca-file '" + t.ca_file + "' (" + std::strerror(errno) +
              ").");
        return alert("'ca-file' : unable to load " + t.ca_file + ".");
      }
      std::string err;
      store = load_ca(t.ca_file, &err);
      if (!store) return alert(label + err + ".");
    }
    const bool verify = t.verify != config::Server::Tls::Verify::None;
    if (verify && !store) {
      post_alerts_.push_back(
          label + (t.verify == config::Server::Tls::Verify::Default
                       ? "verify is enabled by default but no CA file specified. If you're "
                         "running on a LAN where you're certain to trust the server's "
                         "certificate, please set an explicit 'verify none' statement on the "
                         "'server' line, or use 'ssl-server-verify none' in the global section "
                         "to disable server-side verifications by default."
                       : "verify is enabled but no CA file specified."));
      return;
    }
    // `crt`: the client certificate (and its chain and key), haproxy's
    // messages, which it gives after parsing (no "Error(s) found in file").
    std::shared_ptr<Cert> client_cert;
    if (!t.crt.empty()) {
      struct stat st {};
      if (stat(t.crt.c_str(), &st) != 0) {
        X509_STORE_free(store);
        post_alerts_.push_back(label + "unable to stat SSL certificate from file '" + t.crt +
                               "' : " + std::strerror(errno) + ".");
        return;
      }
      std::string err, text;
      read_text(t.crt, &text);
      client_cert = parse_pem(t.crt, text, &err);
      if (client_cert && !client_cert->key) {
        const std::string key_file = t.crt + ".key";
        client_cert->key = read_key_file(key_file);
        if (!client_cert->key) err = "No Private Key found in '" + key_file + "'.";
      }
      if (client_cert && client_cert->key &&
          X509_check_private_key(client_cert->x509, client_cert->key) != 1) {
        ERR_clear_error();
        err = "inconsistencies between private key and certificate loaded '" + t.crt + "'.";
      }
      if (!client_cert || !err.empty()) {
        X509_STORE_free(store);
        post_alerts_.push_back(label + err);
        return;
      }
    }
    auto [lo, hi] = version_range({}, false, false, g.server_options, 0x0303);
    auto cc = std::make_shared<ClientContext>();
    cc->verify = verify;
    cc->check_sni = t.check_sni;
    cc->ctx = SSL_CTX_new(TLS_client_method());
    SSL_CTX_set_options(cc->ctx, SSL_OP_ALL | SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION |
                                     (g.server_options.no_tickets ? SSL_OP_NO_TICKET : 0));
    SSL_CTX_set_mode(cc->ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                                  SSL_MODE_RELEASE_BUFFERS);
    if (lo) {
      SSL_CTX_set_min_proto_version(cc->ctx, lo);
      SSL_CTX_set_max_proto_version(cc->ctx, hi);
    }
    if (g.server_ciphers_set) SSL_CTX_set_cipher_list(cc->ctx, g.server_ciphers.c_str());
    if (g.server_ciphersuites_set) SSL_CTX_set_ciphersuites(cc->ctx, g.server_ciphersuites.c_str());
    ERR_clear_error();
    if (store) SSL_CTX_set1_cert_store(cc->ctx, store);
    X509_STORE_free(store);
    SSL_CTX_set_verify(cc->ctx, verify ? SSL_VERIFY_PEER : SSL_VERIFY_NONE, nullptr);
    if (client_cert) {
      SSL_CTX_use_cert_and_key(cc->ctx, client_cert->x509, client_cert->key, client_cert->chain, 1);
      ERR_clear_error();
    }
    if (!t.alpn.empty()) {
      std::string wire;
      for (const auto& a : t.alpn) {
        wire.push_back(static_cast<char>(a.size()));
        wire += a;
      }
      SSL_CTX_set_alpn_protos(cc->ctx, reinterpret_cast<const unsigned char*>(wire.data()),
                              static_cast<unsigned>(wire.size()));
    }
    // Sessions the server gives (TLS 1.3 tickets come after the handshake)
    // go to the context, per SNI, for the next new connection (tls::Conn).
    SSL_CTX_set_session_cache_mode(cc->ctx,
                                   SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
    SSL_CTX_set_app_data(cc->ctx, cc.get());
    SSL_CTX_sess_set_new_cb(cc->ctx, [](SSL* ssl, SSL_SESSION* sess) -> int {
      const auto* owner =
          static_cast<const ClientContext*>(SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl)));
      if (!owner) return 0;
      const char* name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
      // A copy: the connection's own session object is marked not resumable
      // when the connection ends without a close_notify sent (a pooled one
      // the server closed), which would spoil the one kept.
      if (SSL_SESSION* copy = SSL_SESSION_dup(sess)) owner->keep_session(name ? name : "", copy);
      return 0;  // OpenSSL keeps its reference
    });
    sv.tls_ctx = cc;
  }

  // Inserts the alerts before parse_paths()'s summary lines.
  void finish() {
    if (alerts_.empty() && post_alerts_.empty()) return;
    auto& d = pr_.diags;
    auto is_summary = [](const config::Diagnostic& x) {
      return x.text.starts_with("Error(s) found in configuration file") ||
             x.text.starts_with("Fatal errors found in configuration");
    };
    auto pos = std::find_if(d.begin(), d.end(), is_summary);
    std::vector<config::Diagnostic> add;
    for (const auto& a : alerts_) add.push_back({config::Diagnostic::Level::Alert, a});
    if (!alerts_.empty())
      for (const auto& f : failed_files_) {
        bool had = std::any_of(d.begin(), d.end(), [&](const config::Diagnostic& x) {
          return x.text == "Error(s) found in configuration file : " + f;
        });
        if (!had)
          add.push_back(
              {config::Diagnostic::Level::Alert, "Error(s) found in configuration file : " + f});
      }
    // Post-parse alerts come after the file errors, before "Fatal errors".
    pos = std::find_if(d.begin(), d.end(), is_summary);
    while (pos != d.end() && pos->text.starts_with("Error(s) found")) ++pos;
    pos = d.insert(pos, add.begin(), add.end());
    pos += static_cast<long>(add.size());
    std::vector<config::Diagnostic> post;
    for (const auto& a : post_alerts_) post.push_back({config::Diagnostic::Level::Alert, a});
    pos = d.insert(pos, post.begin(), post.end());
    pos += static_cast<long>(post.size());
    if (!std::any_of(d.begin(), d.end(), [](const config::Diagnostic& x) {
          return x.text.starts_with("Fatal errors found in configuration");
        }))
      d.insert(pos, {config::Diagnostic::Level::Alert, "Fatal errors found in configuration."});
    pr_.fatal = true;
  }

 private:
  config::ParseResult& pr_;
  std::vector<std::string> alerts_, post_alerts_;
  std::set<std::string> failed_files_;
  std::string current_file_;
};

}  // namespace

ClientContext::~ClientContext() {
  for (auto& [name, s] : sessions_) SSL_SESSION_free(s);
  SSL_CTX_free(ctx);
}

SSL_SESSION* ClientContext::session_for(const std::string& sni) const {
  std::lock_guard lock(sessions_mu_);
  auto it = sessions_.find(sni);
  if (it == sessions_.end()) return nullptr;
  SSL_SESSION_up_ref(it->second);
  return it->second;
}

void ClientContext::keep_session(const std::string& sni, SSL_SESSION* s) const {
  std::lock_guard lock(sessions_mu_);
  auto it = sessions_.find(sni);
  if (it != sessions_.end()) {
    SSL_SESSION_free(it->second);
    it->second = s;
    return;
  }
  if (sessions_.size() >= kMaxSessions) {  // names from a header: bounded, the oldest goes
    SSL_SESSION_free(sessions_.begin()->second);
    sessions_.erase(sessions_.begin());
  }
  sessions_.emplace(sni, s);
}

ServerContext::~ServerContext() {
  for (const auto& slot : slots_) SSL_CTX_free(slot->ctx.load());
  for (const auto& r : retired_) SSL_CTX_free(r.second);
  X509_STORE_free(ca_store);
  auto& all = bind_contexts();
  all.erase(std::remove(all.begin(), all.end(), this), all.end());
}

SSL_CTX* ServerContext::find(const std::string& sni) const {
  auto lookup = [](const auto& v, const std::string& k) -> SSL_CTX* {
    for (const auto& [n, slot] : v)
      if (n == k) return slot->ctx.load(std::memory_order_acquire);
    return nullptr;
  };
  if (SSL_CTX* c = lookup(exact_, sni)) return c;
  size_t dot = sni.find('.');
  if (dot == std::string::npos) return nullptr;
  return lookup(wild_, sni.substr(dot));
}

void prepare(config::ParseResult& pr) {
  Builder b(pr);
  for (auto& px : pr.config.proxies)
    for (auto& bind : px.binds)
      if (bind.tls.enabled || !bind.tls.certs.empty()) b.bind(px, bind);
  for (auto& px : pr.config.proxies) {
    if (px.kind == config::Proxy::Kind::Defaults) continue;
    for (auto& sv : px.servers) b.server(px, sv);
  }
  b.finish();
}

const ServerContext* server_context(const config::Bind& b) {
  return static_cast<const ServerContext*>(b.tls_ctx.get());
}

std::string offload_mode() {
  std::ifstream in("/proc/sys/net/ipv4/tcp_available_ulp");
  std::string ulp, word;
  bool has_tls = false;
  while (in >> word) has_tls |= word == "tls";
  return has_tls ? "userspace (kTLS offload not implemented)"
                 : "userspace (the kernel offers no tls ULP)";
}

const ClientContext* client_context(const std::shared_ptr<const void>& tls_ctx) {
  return static_cast<const ClientContext*>(tls_ctx.get());
}

const char* library_version() { return OpenSSL_version(OPENSSL_VERSION); }

}  // namespace herd::tls
