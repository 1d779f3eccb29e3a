// Copyright (c) openbits authors. Licensed under the Apache License 2.0.

#include "auth/client_certificate.h"

#include <algorithm>
#include <cctype>
#include <optional>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "openbits/hresult.h"

#include "platform/c_handles.h"

namespace openbits::auth {
namespace {

std::string Lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string NameText(X509_NAME* name) {
  CPtr<BIO> bio(BIO_new(BIO_s_mem()));
  if (!bio) return {};
  // "CN=a, O=b" with UTF-8 kept as it is.
  X509_NAME_print_ex(
      bio.get(), name, 0,
      (XN_FLAG_SEP_COMMA_PLUS | XN_FLAG_DN_REV | ASN1_STRFLGS_UTF8_CONVERT | XN_FLAG_FN_SN) &
          ~ASN1_STRFLGS_ESC_MSB);
  char* data = nullptr;
  const long n = BIO_get_mem_data(bio.get(), &data);
  return n > 0 ? std::string(data, static_cast<std::size_t>(n)) : std::string();
}

std::string EntryValue(X509_NAME_ENTRY* entry) {
  unsigned char* utf8 = nullptr;
  const int n = ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(entry));
  if (n < 0) return {};
  std::string out(reinterpret_cast<char*>(utf8), static_cast<std::size_t>(n));
  OPENSSL_free(utf8);
  return out;
}

CPtr<X509> Parse(const std::vector<std::uint8_t>& der) {
  const unsigned char* p = der.data();
  CPtr<X509> cert(d2i_X509(nullptr, &p, static_cast<long>(der.size())));
  if (!cert) ERR_clear_error();
  return cert;
}

bool SubjectContains(X509* certificate, std::string_view subject) {
  if (subject.empty()) return false;
  const std::string needle = Lower(subject);
  X509_NAME* name = X509_get_subject_name(certificate);
  if (Lower(NameText(name)).find(needle) != std::string::npos) return true;
  for (int i = 0; i < X509_NAME_entry_count(name); ++i) {
    if (Lower(EntryValue(X509_NAME_get_entry(name, i))).find(needle) != std::string::npos) {
      return true;
    }
  }
  return false;
}

std::string CommonName(X509* certificate) {
  X509_NAME* name = X509_get_subject_name(certificate);
  const int i = X509_NAME_get_index_by_NID(name, NID_commonName, -1);
  return i < 0 ? std::string() : EntryValue(X509_NAME_get_entry(name, i));
}

}  // namespace

bool SubjectContains(const std::vector<std::uint8_t>& der, std::string_view subject) {
  CPtr<X509> cert = Parse(der);
  return cert && SubjectContains(cert.get(), subject);
}

std::string CommonName(const std::vector<std::uint8_t>& der) {
  CPtr<X509> cert = Parse(der);
  return cert ? CommonName(cert.get()) : std::string();
}

std::array<std::uint8_t, 20> Thumbprint(const std::vector<std::uint8_t>& der) {
  std::array<std::uint8_t, 20> out{};
  unsigned int len = 0;
  unsigned char digest[EVP_MAX_MD_SIZE];
  if (EVP_Digest(der.data(), der.size(), digest, &len, EVP_sha1(), nullptr) == 1 &&
      len == out.size()) {
    std::copy(digest, digest + out.size(), out.begin());
  }
  return out;
}

std::string ThumbprintHex(const std::array<std::uint8_t, 20>& thumbprint) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (std::uint8_t b : thumbprint) {
    out += kHex[b >> 4];
    out += kHex[b & 15];
  }
  return out;
}

Result<std::array<std::uint8_t, 20>> ParseThumbprint(std::string_view text) {
  std::string digits;
  for (char c : text) {
    if (c == ' ' || c == '\t') continue;
    if (!std::isxdigit(static_cast<unsigned char>(c))) {
      return Status(kEInvalidArg, "a certificate hash is 40 hexadecimal digits");
    }
    digits += c;
  }
  if (digits.size() != 40) {
    return Status(kEInvalidArg, "a certificate hash is 40 hexadecimal digits (SHA-1), not " +
                                    std::to_string(digits.size()));
  }
  std::array<std::uint8_t, 20> out{};
  for (std::size_t i = 0; i < out.size(); ++i) {
    out[i] = static_cast<std::uint8_t>(std::stoi(digits.substr(2 * i, 2), nullptr, 16));
  }
  return out;
}

Result<std::size_t> SelectClientCertificate(const platform::CertStoreContents& store,
                                            const CertificateQuery& query, std::time_t now) {
  if (query.thumbprint == nullptr && query.subject.empty()) {
    return Status(kEInvalidArg, "a certificate is chosen by its hash or by a subject");
  }
  std::optional<Status> best_refusal;
  for (std::size_t i = 0; i < store.certificates.size(); ++i) {
    const platform::StoredCertificate& entry = store.certificates[i];
    CPtr<X509> parsed = Parse(entry.der);
    if (!parsed) continue;
    X509* cert = parsed.get();
    const bool matches = query.thumbprint != nullptr ? Thumbprint(entry.der) == *query.thumbprint
                                                     : SubjectContains(cert, query.subject);
    if (!matches) continue;
    const std::string what = "the certificate \"" + CommonName(cert) + "\" in " + entry.source;
    std::time_t when = now;
    if (X509_cmp_time(X509_get0_notAfter(cert), &when) <= 0 ||
        X509_cmp_time(X509_get0_notBefore(cert), &when) >= 0) {
      if (!best_refusal)
        best_refusal = Status(kCertEExpired, what + " is outside its validity period");
      continue;
    }
    if (entry.identity_p12.empty()) {
      if (!best_refusal || best_refusal->code() != kCertEExpired) {
        best_refusal = Status(kCryptENoKeyProperty,
                              what + " has no usable private key in " + store.description);
      }
      continue;
    }
    return i;
  }
  if (best_refusal) return *best_refusal;
  const std::string wanted = query.thumbprint != nullptr
                                 ? "with the hash " + ThumbprintHex(*query.thumbprint)
                                 : "whose subject contains \"" + std::string(query.subject) + "\"";
  if (!store.locked.empty()) {
    std::string files;
    for (const std::string& f : store.locked) files += (files.empty() ? "" : ", ") + f;
    return Status(kEInvalidPassword, "no certificate " + wanted + " in " + store.description +
                                         "; these files did not open with the job's certificate "
                                         "password (SetClientCertificatePassword): " +
                                         files);
  }
  return Status(kCryptENotFound, "no certificate " + wanted + " in " + store.description);
}

}  // namespace openbits::auth
