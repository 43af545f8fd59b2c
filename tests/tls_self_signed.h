// tests/tls_self_signed.h — a self-signed certificate and its key, made in
// memory and written to one PEM file, for the TLS unit tests and the TLS
// fuzz target (no openssl command needed). Any thread.
#pragma once

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <cstdio>
#include <string>

namespace herd::testing {

// Writes a certificate for `cn` (ECDSA P-256, or RSA 2048 with `rsa`) and
// its key to `path`. Returns false when the file cannot be written.
inline bool write_self_signed(const std::string& path, const std::string& cn, bool rsa = false) {
  EVP_PKEY* key = rsa ? EVP_RSA_gen(2048) : EVP_EC_gen("P-256");
  X509* x = X509_new();
  X509_set_version(x, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
  X509_gmtime_adj(X509_getm_notBefore(x), -60);
  X509_gmtime_adj(X509_getm_notAfter(x), 86400);
  X509_set_pubkey(x, key);
  X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0);
  X509_set_issuer_name(x, X509_get_subject_name(x));
  X509_sign(x, key, EVP_sha256());
  FILE* f = std::fopen(path.c_str(), "w");
  if (f) {
    PEM_write_X509(f, x);
    PEM_write_PrivateKey(f, key, nullptr, nullptr, 0, nullptr, nullptr);
    std::fclose(f);
  }
  X509_free(x);
  EVP_PKEY_free(key);
  return f != nullptr;
}

}  // namespace herd::testing
