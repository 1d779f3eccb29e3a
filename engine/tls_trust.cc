// Copyright (c) openbits authors. Licensed under the Apache License 2.0.

#include "engine/tls_trust.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>

#include "openbits/hresult.h"

namespace openbits::engine {

Result<std::shared_ptr<const TlsTrust>> TlsTrust::FromPemFile(const std::string& path) {
  CPtr<BIO> bio(BIO_new_file(path.c_str(), "r"));
  if (!bio) return Status(kEInvalidArg, "cannot read the CA file " + path);
  auto trust = std::make_shared<TlsTrust>();
  while (X509* cert = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)) {
    trust->certificates_.emplace_back(cert);
  }
  ERR_clear_error();  // the read that ended the loop left "no start line"
  if (trust->certificates_.empty()) {
    return Status(kEInvalidArg, "no PEM certificate in " + path);
  }
  return std::shared_ptr<const TlsTrust>(std::move(trust));
}

}  // namespace openbits::engine
