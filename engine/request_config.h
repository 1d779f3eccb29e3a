// Copyright (c) openbits authors. Licensed under the Apache License 2.0.
//
// RequestConfig: what one file's request takes from its job, gathered on
// the engine thread as the file starts: custom headers, the route (proxy,
// bypass list, discovery), credentials by the login plan
// (auth/login_plan.h), and TLS (flags, the owner's trust anchors and CRLs,
// the client certificate read again from its store as the owner).
//
// Engine thread only.

#ifndef OPENBITS_ENGINE_REQUEST_CONFIG_H_
#define OPENBITS_ENGINE_REQUEST_CONFIG_H_

#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>

#include <openssl/x509.h>

#include "openbits/manager.h"
#include "openbits/status.h"

#include "auth/implicit_policy.h"
#include "engine/file_transfer.h"
#include "engine/job_data.h"
#include "engine/log.h"
#include "engine/owner_access.h"
#include "engine/proxy_discovery.h"
#include "engine/tls_trust.h"
#include "platform/cert_store.h"
#include "store/vault.h"

namespace openbits::engine {

class RequestConfig {
 public:
  // `discovery` may be null (built without proxy discovery); it, `vault`
  // and `owners` outlive this object.
  RequestConfig(const ManagerOptions& options, const store::Vault& vault, OwnerAccess& owners,
                ProxyDiscovery* discovery, std::shared_ptr<const TlsTrust> trust,
                auth::ImplicitCredentialPolicy policy);

  // Fills `config` for `file` of `job`: headers, route, logins, TLS. A
  // secret that does not open is an error (NTE_*), never guessed at.
  Status Build(JobData& job, const store::FileRecord& file, TransferConfig* config);

  // Reads a certificate store of the job's owner, as the owner.
  Result<platform::CertStoreContents> ReadOwnerStore(const store::JobRecord& job,
                                                     CertStoreLocation location,
                                                     std::string_view store_name,
                                                     const platform::SecretBuffer* password);

  // The Kerberos credential cache whose tickets are `owner`'s implicit
  // credentials ("" forgets it). Not persisted.
  void UseCredentialCache(const std::string& owner, std::string_view cache);

  // A CRL fetched from a distribution point, kept until its nextUpdate.
  void OnCrlFetched(const std::string& url, std::shared_ptr<X509_CRL> crl);

 private:
  Status ResolveCredentials(const JobData& job, const store::FileRecord& file,
                            TransferConfig* config);
  Status ResolveTls(JobData& job, TransferConfig* config);

  const ManagerOptions& options_;
  const store::Vault& vault_;
  OwnerAccess& owners_;
  ProxyDiscovery* discovery_;
  std::shared_ptr<const TlsTrust> trust_;
  auth::ImplicitCredentialPolicy policy_;
  LastOrigin last_origin_;
  std::unordered_map<std::string, std::string> credential_caches_;  // owner -> cache
  // CRLs fetched from distribution points, by URL, until their nextUpdate.
  std::unordered_map<std::string, std::shared_ptr<X509_CRL>> crl_cache_;
};

}  // namespace openbits::engine

#endif  // OPENBITS_ENGINE_REQUEST_CONFIG_H_
