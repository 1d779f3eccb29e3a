// Copyright (c) openbits authors. Licensed under the Apache License 2.0.

#include "engine/tls_session.h"

#include <algorithm>
#include <array>
#include <cstring>
#include <fstream>
#include <mutex>
#include <sstream>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "openbits/hresult.h"
#include "openbits/types.h"

#include "auth/client_certificate.h"
#include "engine/file_transfer.h"
#include "platform/file_system.h"

namespace openbits::engine {
namespace {

// The SSL_CTX owns a heap copy of the verdict's shared_ptr.
void FreeVerdict(void* /*parent*/, void* ptr, CRYPTO_EX_DATA* /*ad*/, int /*idx*/, long /*argl*/,
                 void* /*argp*/) {
  delete static_cast<std::shared_ptr<TlsVerdict>*>(ptr);
}

int VerdictIndex() {
  static const int index = SSL_CTX_get_ex_new_index(0, nullptr, nullptr, nullptr, &FreeVerdict);
  return index;
}

TlsVerdict* VerdictOf(const SSL_CTX* ctx) {
  if (ctx == nullptr) return nullptr;
  auto* holder =
      static_cast<std::shared_ptr<TlsVerdict>*>(SSL_CTX_get_ex_data(ctx, VerdictIndex()));
  return holder == nullptr ? nullptr : holder->get();
}

// Which BG_SSL_IGNORE_* flag admits an X509_V_ERR_* (0: none does).
std::uint32_t IgnoreFlagFor(int error) {
  switch (error) {
    case X509_V_ERR_CERT_HAS_EXPIRED:
    case X509_V_ERR_CERT_NOT_YET_VALID:
      return kSslIgnoreCertDateInvalid;
    case X509_V_ERR_HOSTNAME_MISMATCH:
    case X509_V_ERR_IP_ADDRESS_MISMATCH:
      return kSslIgnoreCertCnInvalid;
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
    case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
    case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
    case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
    case X509_V_ERR_CERT_UNTRUSTED:
      return kSslIgnoreUnknownCa;
    case X509_V_ERR_INVALID_PURPOSE:
      return kSslIgnoreCertWrongUsage;
    default:
      return 0;
  }
}

HResult CodeForVerifyError(int error) {
  switch (IgnoreFlagFor(error)) {
    case kSslIgnoreCertDateInvalid:
      return kWinHttpSecureCertDateInvalid;
    case kSslIgnoreCertCnInvalid:
      return kWinHttpSecureCertCnInvalid;
    case kSslIgnoreUnknownCa:
      return kWinHttpSecureInvalidCa;
    case kSslIgnoreCertWrongUsage:
      return kWinHttpSecureCertWrongUsage;
    default:
      break;
  }
  switch (error) {
    case X509_V_ERR_CERT_REVOKED:
      return kWinHttpSecureCertRevoked;
    case X509_V_ERR_UNABLE_TO_GET_CRL:
    case X509_V_ERR_UNABLE_TO_GET_CRL_ISSUER:
    case X509_V_ERR_CRL_HAS_EXPIRED:
    case X509_V_ERR_CRL_NOT_YET_VALID:
    case X509_V_ERR_CRL_SIGNATURE_FAILURE:
    case X509_V_ERR_UNABLE_TO_DECRYPT_CRL_SIGNATURE:
    case X509_V_ERR_ERROR_IN_CRL_LAST_UPDATE_FIELD:
    case X509_V_ERR_ERROR_IN_CRL_NEXT_UPDATE_FIELD:
    case X509_V_ERR_DIFFERENT_CRL_SCOPE:
      return kWinHttpSecureCertRevFailed;
    default:
      return kWinHttpSecureInvalidCert;
  }
}

void RecordCrlDistributionPoints(X509* cert, TlsVerdict* verdict) {
  if (cert == nullptr) return;
  auto* points = static_cast<CRL_DIST_POINTS*>(
      X509_get_ext_d2i(cert, NID_crl_distribution_points, nullptr, nullptr));
  if (points == nullptr) return;
  for (int i = 0; i < sk_DIST_POINT_num(points); ++i) {
    DIST_POINT* point = sk_DIST_POINT_value(points, i);
    if (point->distpoint == nullptr || point->distpoint->type != 0) continue;
    GENERAL_NAMES* names = point->distpoint->name.fullname;
    for (int j = 0; j < sk_GENERAL_NAME_num(names); ++j) {
      GENERAL_NAME* name = sk_GENERAL_NAME_value(names, j);
      if (name->type != GEN_URI) continue;
      const auto* uri = name->d.uniformResourceIdentifier;
      std::string url(reinterpret_cast<const char*>(ASN1_STRING_get0_data(uri)),
                      static_cast<std::size_t>(ASN1_STRING_length(uri)));
      if (url.rfind("http://", 0) == 0 || url.rfind("https://", 0) == 0) {
        verdict->missing_crl_urls.push_back(std::move(url));
      }
    }
  }
  CRL_DIST_POINTS_free(points);
}

int OnVerify(int ok, X509_STORE_CTX* store) {
  auto* ssl =
      static_cast<SSL*>(X509_STORE_CTX_get_ex_data(store, SSL_get_ex_data_X509_STORE_CTX_idx()));
  TlsVerdict* verdict = ssl != nullptr ? VerdictOf(SSL_get_SSL_CTX(ssl)) : nullptr;
  if (ok == 1 || verdict == nullptr) return ok;
  const int error = X509_STORE_CTX_get_error(store);
  const std::uint32_t flag = IgnoreFlagFor(error);
  if (flag != 0 && (verdict->flags & flag) != 0) {
    // Admitted: this error, and only this one, is forgotten.
    X509_STORE_CTX_set_error(store, X509_V_OK);
    return 1;
  }
  if (error == X509_V_ERR_UNABLE_TO_GET_CRL) {
    RecordCrlDistributionPoints(X509_STORE_CTX_get_current_cert(store), verdict);
  }
  if (verdict->verify_error == 0) {
    verdict->verify_error = error;
    verdict->verify_depth = X509_STORE_CTX_get_error_depth(store);
  }
  return 0;
}

int OnClientCertificateRequest(SSL* ssl, X509** /*cert*/, EVP_PKEY** /*key*/) {
  if (TlsVerdict* verdict = VerdictOf(SSL_get_SSL_CTX(ssl))) verdict->certificate_requested = true;
  return 0;  // nothing to send; the server decides whether that is enough
}

void OnInfo(const SSL* ssl, int where, int value) {
  if ((where & SSL_CB_READ_ALERT) == 0) return;
  // value: level in the high byte, description in the low byte.
  if ((value >> 8) != SSL3_AL_FATAL) return;
  if (TlsVerdict* verdict = VerdictOf(SSL_get_SSL_CTX(ssl))) {
    if (verdict->alert_received < 0) verdict->alert_received = value & 0xff;
  }
}

const SSL* SslOf(CURL* easy) {
  curl_tlssessioninfo* info = nullptr;
  if (curl_easy_getinfo(easy, CURLINFO_TLS_SSL_PTR, &info) != CURLE_OK || info == nullptr ||
      info->backend != CURLSSLBACKEND_OPENSSL) {
    return nullptr;
  }
  return static_cast<const SSL*>(info->internals);
}

}  // namespace

std::shared_ptr<const std::string> SystemCaBundle() {
  static std::once_flag once;
  static std::shared_ptr<const std::string> bundle;
  std::call_once(once, [] {
    std::string path;
    if (CURL* probe = curl_easy_init()) {
      char* cainfo = nullptr;
      if (curl_easy_getinfo(probe, CURLINFO_CAINFO, &cainfo) == CURLE_OK && cainfo != nullptr) {
        path = cainfo;
      }
      curl_easy_cleanup(probe);
    }
    if (path.empty()) path = "/etc/ssl/certs/ca-certificates.crt";
    std::ifstream in(path, std::ios::binary);
    std::stringstream text;
    text << in.rdbuf();
    bundle = std::make_shared<const std::string>(text.str());
  });
  return bundle;
}

void TlsSession::Apply(CURL* easy) {
  const std::uint32_t flags = settings_.flags;
  curl_easy_setopt(easy, CURLOPT_SSL_VERIFYPEER, 1L);
  // libcurl checks the host name itself; the flag turns exactly that off.
  curl_easy_setopt(easy, CURLOPT_SSL_VERIFYHOST, (flags & kSslIgnoreCertCnInvalid) != 0 ? 0L : 2L);
  curl_easy_setopt(easy, CURLOPT_SSL_SESSIONID_CACHE, 0L);
  // Blobs are lent, not copied: settings_ holds them for as long as this
  // session, which outlives every request made with `easy` (FileTransfer
  // declares its easy handle after its TlsSession). A copy would cost a
  // request the whole CA bundle (about 200 KB, with the system's) even for
  // a plain-HTTP file.
  if (settings_.client_certificate && !settings_.client_certificate->empty()) {
    curl_blob blob{const_cast<std::uint8_t*>(settings_.client_certificate->data()),
                   settings_.client_certificate->size(), CURL_BLOB_NOCOPY};
    curl_easy_setopt(easy, CURLOPT_SSLCERT_BLOB, &blob);
    curl_easy_setopt(easy, CURLOPT_SSLCERTTYPE, "P12");
  }
  if (!settings_.anchors_file.empty()) {
    curl_easy_setopt(easy, CURLOPT_CAINFO, settings_.anchors_file.c_str());
  } else if (settings_.anchors_pem && !settings_.anchors_pem->empty()) {
    curl_blob blob{const_cast<char*>(settings_.anchors_pem->data()), settings_.anchors_pem->size(),
                   CURL_BLOB_NOCOPY};
    curl_easy_setopt(easy, CURLOPT_CAINFO_BLOB, &blob);
  }
  const std::uint32_t checks = kSslEnableCrlCheck | kSslIgnoreCertDateInvalid |
                               kSslIgnoreUnknownCa | kSslIgnoreCertWrongUsage;
  if ((flags & checks) != 0 || !settings_.crls.empty()) {
    // The callbacks below decide differently from other jobs': nothing is
    // shared with them, and the certificate store is this connection's own.
    curl_easy_setopt(easy, CURLOPT_FRESH_CONNECT, 1L);
    curl_easy_setopt(easy, CURLOPT_FORBID_REUSE, 1L);
    curl_easy_setopt(easy, CURLOPT_CA_CACHE_TIMEOUT, 0L);
  }
  curl_easy_setopt(easy, CURLOPT_SSL_CTX_FUNCTION, &TlsSession::OnSslContext);
  curl_easy_setopt(easy, CURLOPT_SSL_CTX_DATA, this);
}

CURLcode TlsSession::OnSslContext(CURL* /*easy*/, void* raw_ctx, void* raw_self) {
  auto* self = static_cast<TlsSession*>(raw_self);
  auto* ctx = static_cast<SSL_CTX*>(raw_ctx);
  if (self->settings_.engine_trust) {
    X509_STORE* store = SSL_CTX_get_cert_store(ctx);
    for (X509* cert : self->settings_.engine_trust->certificates()) {
      // An anchor already present (the same CA in the system bundle) is fine.
      if (X509_STORE_add_cert(store, cert) != 1) ERR_clear_error();
    }
  }
  auto verdict = std::make_shared<TlsVerdict>();
  verdict->flags = self->settings_.flags;
  verdict->has_client_certificate =
      self->settings_.client_certificate && !self->settings_.client_certificate->empty();
  auto* holder = new std::shared_ptr<TlsVerdict>(verdict);
  if (SSL_CTX_set_ex_data(ctx, VerdictIndex(), holder) != 1) {
    delete holder;
    return CURLE_OUT_OF_MEMORY;
  }
  self->last_ = verdict;
  SSL_CTX_set_verify(ctx, SSL_CTX_get_verify_mode(ctx), &OnVerify);
  if (!verdict->has_client_certificate) {
    SSL_CTX_set_client_cert_cb(ctx, &OnClientCertificateRequest);
  }
  SSL_CTX_set_info_callback(ctx, &OnInfo);
  if ((self->settings_.flags & kSslEnableCrlCheck) != 0) {
    X509_VERIFY_PARAM_set_flags(SSL_CTX_get0_param(ctx),
                                X509_V_FLAG_CRL_CHECK | X509_V_FLAG_CRL_CHECK_ALL);
    X509_STORE* store = SSL_CTX_get_cert_store(ctx);
    for (const auto& crl : self->settings_.crls) {
      if (X509_STORE_add_crl(store, crl.get()) != 1) ERR_clear_error();
    }
  }
  return CURLE_OK;
}

bool TlsSession::CertificateNeeded(CURL* easy) const {
  const SSL* ssl = SslOf(easy);
  if (ssl == nullptr) return false;
  const TlsVerdict* verdict = VerdictOf(SSL_get_SSL_CTX(ssl));
  return verdict != nullptr && verdict->certificate_requested && !verdict->has_client_certificate;
}

std::vector<std::string> TlsSession::MissingCrlUrls() const {
  return last_ ? last_->missing_crl_urls : std::vector<std::string>();
}

std::optional<TransferOutcome> TlsSession::Explain(CURLcode code, const char* detail) const {
  const TlsVerdict* v = last_.get();
  TransferOutcome o;
  o.context = ErrorContext::kGeneralTransport;
  o.transient = false;
  const std::string curl_text = detail != nullptr ? detail : "";
  if (v != nullptr && v->verify_error != 0 &&
      (code == CURLE_PEER_FAILED_VERIFICATION || code == CURLE_SSL_CONNECT_ERROR)) {
    o.error = CodeForVerifyError(v->verify_error);
    o.why = std::string("the server's certificate was refused: ") +
            X509_verify_cert_error_string(v->verify_error) + " (at depth " +
            std::to_string(v->verify_depth) + ")";
    return o;
  }
  if (code == CURLE_PEER_FAILED_VERIFICATION) {
    // Only libcurl's own host name check fails without the verify callback.
    o.error = curl_text.find("host name") != std::string::npos ? kWinHttpSecureCertCnInvalid
                                                               : kWinHttpSecureFailure;
    o.why = "the server's certificate was refused: " + curl_text;
    return o;
  }
  const bool tls_failure = code == CURLE_SSL_CONNECT_ERROR || code == CURLE_RECV_ERROR ||
                           code == CURLE_SEND_ERROR || code == CURLE_SSL_CERTPROBLEM;
  if (v == nullptr || !tls_failure) return std::nullopt;
  if (v->certificate_requested && !v->has_client_certificate) {
    o.error = kWinHttpClientAuthCertNeeded;
    o.why = "the server requires a client certificate and the job has none";
    if (v->alert_received >= 0) {
      o.why += std::string(" (TLS alert: ") + SSL_alert_desc_string_long(v->alert_received) + ")";
    }
    return o;
  }
  if (v->alert_received >= 0 && v->has_client_certificate) {
    o.error = kWinHttpSecureChannelError;
    o.why = std::string("the server refused the client certificate (TLS alert: ") +
            SSL_alert_desc_string_long(v->alert_received) + ")";
    return o;
  }
  if (code == CURLE_SSL_CERTPROBLEM) {
    o.error = kCryptENoKeyProperty;
    o.context = ErrorContext::kGeneralQueueManager;
    o.why = "the client certificate could not be loaded: " + curl_text;
    return o;
  }
  return std::nullopt;
}

Result<std::string> PublishTrustAnchors(const std::string& directory, const std::string& pem) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  if (EVP_Digest(pem.data(), pem.size(), digest, &length, EVP_sha256(), nullptr) != 1) {
    return Status(kEFail, "could not hash the trust anchors");
  }
  // Named by the first 20 bytes, in the hex of a certificate thumbprint.
  std::array<std::uint8_t, 20> prefix{};
  std::copy_n(digest, prefix.size(), prefix.begin());
  const std::string name = auth::ThumbprintHex(prefix) + ".pem";
  OPENBITS_RETURN_IF_ERROR(platform::MakeDirectories(directory, 0700));
  auto dir = platform::OpenDirectory(directory);
  if (!dir.ok()) return dir.status();
  const std::string path = directory + "/" + name;
  if (auto existing = platform::OpenExisting(*dir, name); existing.ok()) {
    // The same name with another size is a write a crash cut short.
    auto size = platform::FileSize(*existing);
    if (size.ok() && *size == pem.size()) return path;
  }
  // Written whole under a temporary name, then renamed: a reader sees the
  // old file or the new one, never a part.
  const std::string temporary = name + "." + NewTemporaryName();
  auto fd = platform::CreateExclusive(*dir, temporary, 0644);
  if (!fd.ok()) return fd.status();
  Status written = platform::WriteAt(*fd, pem.data(), pem.size(), 0);
  if (written.ok()) written = platform::RenameAt(*dir, temporary, name);
  if (!written.ok()) {
    (void)platform::RemoveAt(*dir, temporary);
    return written;
  }
  return path;
}

}  // namespace openbits::engine
