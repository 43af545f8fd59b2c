// tls/cert_store.cpp — see cert_store.h.
#include "tls/cert_store.h"

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <set>

#include "tls/cert.h"

namespace herd::tls {

namespace {

// The ongoing transaction (HAProxy keeps one for the whole process).
struct Transaction {
  std::string path;
  std::shared_ptr<const Cert> cert;
};
Transaction& txn() {
  static Transaction t;
  return t;
}

// The entries `new ssl cert` made: no bind loads them (herd has no `add ssl
// crt-list`), so they show as unused and may be deleted.
std::set<std::string>& created() {
  static std::set<std::string> s;
  return s;
}

std::string hex(const unsigned char* p, size_t n) {
  static const char* d = "0123456789ABCDEF";
  std::string out;
  for (size_t i = 0; i < n; ++i) {
    out += d[p[i] >> 4];
    out += d[p[i] & 15];
  }
  return out;
}

std::string bio_text(BIO* b) {
  char* data = nullptr;
  long n = BIO_get_mem_data(b, &data);
  std::string s(data, n > 0 ? static_cast<size_t>(n) : 0);
  BIO_free(b);
  return s;
}

std::string time_text(const ASN1_TIME* t) {
  BIO* b = BIO_new(BIO_s_mem());
  ASN1_TIME_print(b, t);
  return bio_text(b);
}

std::string dn_text(const X509_NAME* n) {
  char buf[1024];
  X509_NAME_oneline(n, buf, sizeof buf);
  return buf;
}

// "Algorithm: EC256", "RSA2048", as haproxy 2.6 names the key.
std::string algorithm(X509* x) {
  EVP_PKEY* k = X509_get0_pubkey(x);
  if (!k) return "";
  const int bits = EVP_PKEY_get_bits(k);
  switch (EVP_PKEY_get_base_id(k)) {
    case EVP_PKEY_RSA:
      return "RSA" + std::to_string(bits);
    case EVP_PKEY_EC:
      return "EC" + std::to_string(bits);
    case EVP_PKEY_DSA:
      return "DSA" + std::to_string(bits);
    default:
      return "Unknown";
  }
}

std::string details(const std::string& shown_name, const Cert& c, bool used) {
  std::string out = "Filename: " + shown_name + "\n";
  // An entry `new ssl cert` made, not filled yet.
  if (!c.x509) return out + "Status: Empty\nOCSP Response Key: \n";
  out += std::string("Status: ") + (used ? "Used" : "Unused") + "\n";
  std::string serial;
  if (BIGNUM* bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(c.x509), nullptr)) {
    if (char* h = BN_bn2hex(bn)) {
      serial = h;
      OPENSSL_free(h);
    }
    BN_free(bn);
  }
  out += "Serial: " + serial + "\n";
  out += "notBefore: " + time_text(X509_get0_notBefore(c.x509)) + "\n";
  out += "notAfter: " + time_text(X509_get0_notAfter(c.x509)) + "\n";
  std::string san;
  const int i = X509_get_ext_by_NID(c.x509, NID_subject_alt_name, -1);
  if (i >= 0) {
    BIO* b = BIO_new(BIO_s_mem());
    X509V3_EXT_print(b, X509_get_ext(c.x509, i), 0, 0);
    san = bio_text(b);
  }
  out += "Subject Alternative Name: " + san + "\n";
  out += "Algorithm: " + algorithm(c.x509) + "\n";
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  X509_digest(c.x509, EVP_sha1(), md, &n);
  out += "SHA1 FingerPrint: " + hex(md, n) + "\n";
  out += "Subject: " + dn_text(X509_get_subject_name(c.x509)) + "\n";
  out += "Issuer: " + dn_text(X509_get_issuer_name(c.x509)) + "\n";
  for (int j = 0; c.chain && j < sk_X509_num(c.chain); ++j) {
    X509* ca = sk_X509_value(c.chain, j);
    out += "Chain Subject: " + dn_text(X509_get_subject_name(ca)) + "\n";
    out += "Chain Issuer: " + dn_text(X509_get_issuer_name(ca)) + "\n";
  }
  out += "OCSP Response Key: \n";
  ERR_clear_error();
  return out;
}

int64_t now_s() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

constexpr int64_t kRetiredGraceS = 60;

}  // namespace

std::shared_ptr<Cert> parse_pem(const std::string& path, const std::string& text,
                                std::string* err) {
  auto c = std::make_shared<Cert>();
  c->path = path;
  BIO* in = BIO_new_mem_buf(text.data(), static_cast<int>(text.size()));
  c->x509 = PEM_read_bio_X509_AUX(in, nullptr, nullptr, nullptr);
  if (c->x509) {
    c->chain = sk_X509_new_null();
    while (X509* ca = PEM_read_bio_X509(in, nullptr, nullptr, nullptr)) sk_X509_push(c->chain, ca);
  }
  BIO_free(in);
  ERR_clear_error();
  if (!c->x509) {
    *err = "unable to load certificate from file '" + path + "'.";
    return nullptr;
  }
  in = BIO_new_mem_buf(text.data(), static_cast<int>(text.size()));
  c->key = PEM_read_bio_PrivateKey(in, nullptr, nullptr, nullptr);
  BIO_free(in);
  ERR_clear_error();
  return c;
}

std::string show_ssl_cert(const std::string& name) {
  const auto& certs = loaded_certs();
  const Transaction& t = txn();
  if (name.empty()) {
    std::string out;
    if (t.cert) out += "# transaction\n*" + t.path + "\n";
    out += "# filename\n";
    for (const auto& [path, c] : certs) out += path + "\n";
    return out;
  }
  if (name[0] == '*') {
    if (t.cert && name.substr(1) == t.path) return details(name, *t.cert, false);
  } else if (auto it = certs.find(name); it != certs.end()) {
    return details(name, *it->second, !created().count(name));
  }
  return "Can't display the certificate: Not found or the certificate is a bundle!\n";
}

std::string set_ssl_cert(const std::string& name, const std::string& payload) {
  if (name.empty() || payload.empty())
    return "'set ssl cert expects a filename and a certificate as a payload\n";
  Transaction& t = txn();
  if (t.cert && t.path != name)
    return "The ongoing transaction is about '" + t.path + "' but you are trying to set '" + name +
           "'\nCan't update " + name + "!\n";
  if (!t.cert && !loaded_certs().count(name))
    return "Can't replace a certificate which is not referenced by the configuration!\n"
           "Can't update " +
           name + "!\n";
  std::string err;
  auto c = parse_pem(name, payload, &err);
  if (!c) return err + "\nCan't load the payload\nCan't update " + name + "!\n";
  const bool created = !t.cert;
  t.path = name;
  t.cert = std::move(c);
  return std::string("Transaction ") + (created ? "created" : "updated") + " for certificate " +
         name + "!\n";
}

std::string abort_ssl_cert(const std::string& name) {
  if (name.empty()) return "'abort ssl cert' expects a filename\n";
  Transaction& t = txn();
  if (!t.cert) return "No ongoing transaction!\n";
  if (t.path != name)
    return "The ongoing transaction is about '" + t.path +
           "' but you are trying to abort a transaction for '" + name + "'\n";
  t = Transaction{};
  return "Transaction aborted for certificate '" + name + "'!\n";
}

std::string commit_ssl_cert(const std::string& name) {
  if (name.empty()) return "'commit ssl cert expects a filename\n";
  Transaction& t = txn();
  if (!t.cert) return "No ongoing transaction! !\nCan't commit " + name + "!\n";
  if (t.path != name)
    return "The ongoing transaction is about '" + t.path + "' but you are trying to set '" + name +
           "'\nCan't commit " + name + "!\n";
  const std::shared_ptr<const Cert> fresh = t.cert;
  if (!fresh->key)
    return "The transaction must contain at least a certificate and a private key!\nCan't commit " +
           name + "!\n";
  if (X509_check_private_key(fresh->x509, fresh->key) != 1) {
    ERR_clear_error();
    return "inconsistencies between private key and certificate loaded '" + name +
           "'.\nCan't commit " + name + "!\n";
  }
  const int64_t now = now_s();
  size_t binds = 0;  // haproxy prints a dot per bind (instance) rebuilt
  for (ServerContext* sc : bind_contexts()) {
    // Contexts replaced long enough ago that no worker can still be about to
    // take a reference to one.
    auto& r = sc->retired_;
    r.erase(std::remove_if(r.begin(), r.end(),
                           [&](const std::pair<int64_t, SSL_CTX*>& e) {
                             if (now - e.first < kRetiredGraceS) return false;
                             SSL_CTX_free(e.second);
                             return true;
                           }),
            r.end());
    bool bind_holds = false;
    for (const auto& slot : sc->slots_) {
      bool holds = false;
      for (auto& c : slot->certs)
        if (c->path == name) {
          c = fresh;
          holds = true;
        }
      if (!holds) continue;
      bind_holds = true;
      SSL_CTX* made = sc->make(slot->certs);
      SSL_CTX* old = slot->ctx.load(std::memory_order_acquire);
      // Session tickets issued under the old context still resume.
      unsigned char keys[80];
      if (SSL_CTX_get_tlsext_ticket_keys(old, keys, sizeof keys) == 1)
        SSL_CTX_set_tlsext_ticket_keys(made, keys, sizeof keys);
      slot->ctx.store(made, std::memory_order_release);
      r.emplace_back(now, old);
    }
    binds += bind_holds;
  }
  loaded_certs()[name] = fresh;
  t = Transaction{};
  ERR_clear_error();
  return "Committing " + name + std::string(binds, '.') + "\nSuccess!\n";
}

std::string new_ssl_cert(const std::string& name) {
  if (name.empty()) return "'new ssl cert' expects a filename\n";
  auto& certs = loaded_certs();
  if (certs.count(name)) return "Certificate '" + name + "' already exists!\n";
  auto c = std::make_shared<Cert>();
  c->path = name;
  certs[name] = std::move(c);
  created().insert(name);
  return "New empty certificate store '" + name + "'!\n";
}

std::string del_ssl_cert(const std::string& name) {
  if (name.empty()) return "'del ssl cert' expects a certificate name\n";
  const std::string no = "Can't remove the certificate: ";
  if (txn().cert && txn().path == name)
    return no + "ongoing transaction for the certificate '" + name + "'\n";
  auto& certs = loaded_certs();
  if (!certs.count(name)) return no + "certificate '" + name + "' doesn't exist!\n\n";
  if (!created().count(name))
    return no + "certificate '" + name + "' in use, can't be deleted!\n\n";
  certs.erase(name);
  created().erase(name);
  return "Certificate '" + name + "' deleted!\n";
}

}  // namespace herd::tls
