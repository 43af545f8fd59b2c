// tls/cert.h — a certificate file as loaded (its certificate, chain and
// key, the names it answers for), shared by context.cpp, which builds the
// bind contexts from them, and cert_store.cpp, which shows and replaces
// them at runtime. Internal to tls/.
//
// Thread rules: a Cert is immutable once loaded and may be read by any
// thread; loaded_certs() and bind_contexts() belong to the main thread
// until the workers start, then to the control thread.
#pragma once

#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "tls/context.h"

namespace herd::tls {

struct Cert {
  std::string path;  // the file's name as the configuration gives it
  X509* x509 = nullptr;  // null: an empty entry `new ssl cert` made
  EVP_PKEY* key = nullptr;
  STACK_OF(X509) * chain = nullptr;
  std::vector<std::string> names;     // lower case; "*.x" for wildcards
  std::vector<std::string> excluded;  // crt-list "!name" filters
  Cert() = default;
  Cert(const Cert&) = delete;
  Cert& operator=(const Cert&) = delete;
  ~Cert() {
    X509_free(x509);
    EVP_PKEY_free(key);
    sk_X509_pop_free(chain, X509_free);
  }
};

// Every certificate file loaded, by path (the latest of a path wins), and
// the entries `new ssl cert` made (cert_store.cpp).
std::map<std::string, std::shared_ptr<const Cert>>& loaded_certs();
// Every bind context alive.
std::vector<ServerContext*>& bind_contexts();

// Reads a PEM text holding a certificate, then its chain, and a private
// key. `err`: haproxy's message naming `path`. No key is not an error here
// (the caller decides).
std::shared_ptr<Cert> parse_pem(const std::string& path, const std::string& text, std::string* err);

}  // namespace herd::tls
