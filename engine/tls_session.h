// Copyright (c) openbits authors. Licensed under the Apache License 2.0.
//
// A transfer's TLS policy (docs/tls.md): the client certificate, the
// owner's extra trust anchors and CRLs, BG_SSL_* security flags, and the
// ERROR_WINHTTP_CLIENT_AUTH_CERT_NEEDED rule. libcurl makes the
// connections; a TlsSession installs OpenSSL callbacks on each new one
// (CURLOPT_SSL_CTX_FUNCTION) and reads back what they saw.
//
// Connection sharing follows the policy: libcurl reuses a connection (and
// resumes a session) only for a transfer with the same client certificate
// and trust anchors (both are curl blobs, part of its match); a job whose
// flags change the checks gets connections of its own, never reused. TLS
// session resumption is off: a resumed session skips the server's
// certificate request, which would hide the 0x80072F0C case.

#ifndef OPENBITS_ENGINE_TLS_SESSION_H_
#define OPENBITS_ENGINE_TLS_SESSION_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <curl/curl.h>

#include "engine/tls_trust.h"
#include "platform/c_handles.h"
#include "platform/secret_buffer.h"

namespace openbits::engine {

struct TransferOutcome;

// What the callbacks of one connection saw. Shared by the connection's
// SSL_CTX and the transfer that opened it.
struct TlsVerdict {
  std::uint32_t flags = 0;
  bool has_client_certificate = false;
  // The server asked for a client certificate and there was none to send.
  bool certificate_requested = false;
  int verify_error = 0;  // the first X509_V_ERR_* that was not ignored
  int verify_depth = -1;
  int alert_received = -1;  // a fatal TLS alert from the server
  // CRL distribution points of a certificate whose CRL was missing.
  std::vector<std::string> missing_crl_urls;
};

struct TlsSettings {
  std::uint32_t flags = 0;  // BG_SSL_* bits of SetSecurityFlags
  // Unencrypted PKCS#12 of the client certificate; empty: none.
  std::shared_ptr<const platform::SecretBuffer> client_certificate;
  // Trust anchors, the system bundle plus the owner's ROOT and CA stores: a
  // file of them (PublishTrustAnchors), else their PEM text (the file could
  // not be written); both empty: the system bundle alone.
  std::string anchors_file;
  std::shared_ptr<const std::string> anchors_pem;
  // Revocation lists from the stores and fetched distribution points.
  std::vector<std::shared_ptr<X509_CRL>> crls;
  std::shared_ptr<const TlsTrust> engine_trust;  // ManagerOptions::additional_ca_file
};

class TlsSession {
 public:
  explicit TlsSession(TlsSettings settings) : settings_(std::move(settings)) {}
  TlsSession(const TlsSession&) = delete;
  TlsSession& operator=(const TlsSession&) = delete;

  // Sets the TLS options of a request on `easy` (after curl_easy_reset).
  // Certificates are lent to curl, not copied: this object must outlive the
  // request and stay until `easy` is reset or freed.
  void Apply(CURL* easy);

  // True when the connection `easy` answers on saw a certificate request
  // the job cannot satisfy; called when the response starts.
  bool CertificateNeeded(CURL* easy) const;

  // The BITS outcome of a failed request, when TLS explains it.
  std::optional<TransferOutcome> Explain(CURLcode code, const char* detail) const;

  // CRL distribution points the last connection lacked (CRL check on).
  std::vector<std::string> MissingCrlUrls() const;

  // Adds a revocation list for the connections opened from now on.
  void AddCrl(std::shared_ptr<X509_CRL> crl) { settings_.crls.push_back(std::move(crl)); }

  const TlsSettings& settings() const { return settings_; }

 private:
  static CURLcode OnSslContext(CURL* easy, void* ssl_ctx, void* self);
  TlsSettings settings_;
  std::shared_ptr<TlsVerdict> last_;  // of the last connection this session opened
};

// The system's CA bundle (libcurl's default CAINFO), read once.
std::shared_ptr<const std::string> SystemCaBundle();

// Makes `pem` a file in `directory`, named by its SHA-256, unless a file of
// that name and size is there; returns its path. curl is given the path
// (CURLOPT_CAINFO) rather than the bytes: libcurl 7.88 copies a CA blob into
// every transfer's connection candidate, 200 KB per file with the system
// bundle, but a path only once (and it may cache the store it builds from a
// file, CURLOPT_CA_CACHE_TIMEOUT).
Result<std::string> PublishTrustAnchors(const std::string& directory, const std::string& pem);

}  // namespace openbits::engine

#endif  // OPENBITS_ENGINE_TLS_SESSION_H_
