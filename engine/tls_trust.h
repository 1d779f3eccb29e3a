// Copyright (c) openbits authors. Licensed under the Apache License 2.0.
//
// Extra trust anchors for HTTPS, added to each TLS context curl creates, on
// top of the system bundle (CURLOPT_CAINFO would replace the bundle).

#ifndef OPENBITS_ENGINE_TLS_TRUST_H_
#define OPENBITS_ENGINE_TLS_TRUST_H_

#include <memory>
#include <string>
#include <vector>

#include <curl/curl.h>

#include "openbits/status.h"

#include "platform/c_handles.h"

namespace openbits::engine {

class TlsTrust {
 public:
  // Reads every certificate of a PEM file. E_INVALIDARG if there is none.
  static Result<std::shared_ptr<const TlsTrust>> FromPemFile(const std::string& path);

  // Installs the anchors on `easy` (CURLOPT_SSL_CTX_FUNCTION). `trust` must
  // outlive the transfer.
  static void Apply(CURL* easy, const TlsTrust* trust);

  std::size_t size() const { return certificates_.size(); }

 private:
  static CURLcode OnSslContext(CURL* easy, void* ssl_ctx, void* self);
  std::vector<CPtr<X509>> certificates_;
};

}  // namespace openbits::engine

#endif  // OPENBITS_ENGINE_TLS_TRUST_H_
