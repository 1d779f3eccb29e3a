// Copyright (c) openbits authors. Licensed under the Apache License 2.0.
//
// Extra trust anchors for HTTPS from ManagerOptions::additional_ca_file,
// added to each TLS context curl creates, on top of the system bundle
// (TlsSession installs them).

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

  std::size_t size() const { return certificates_.size(); }
  std::vector<X509*> certificates() const {
    std::vector<X509*> out;
    for (const CPtr<X509>& c : certificates_) out.push_back(c.get());
    return out;
  }

 private:
  std::vector<CPtr<X509>> certificates_;
};

}  // namespace openbits::engine

#endif  // OPENBITS_ENGINE_TLS_TRUST_H_
