// Copyright (c) openbits authors. Licensed under the Apache License 2.0.

#include "engine/request_config.h"

#include <ctime>
#include <utility>
#include <vector>

#include <curl/curl.h>
#include <openssl/pem.h>

#include "openbits/hresult.h"

#include "auth/client_certificate.h"
#include "auth/credentials.h"
#include "auth/login_plan.h"
#include "auth/proxy_settings.h"
#include "auth/request_policy.h"
#include "engine/http_method.h"
#include "engine/job_secrets.h"

namespace openbits::engine {
namespace {

void AppendPem(const std::vector<std::uint8_t>& der, std::string* out) {
  const unsigned char* p = der.data();
  CPtr<X509> cert(d2i_X509(nullptr, &p, static_cast<long>(der.size())));
  CPtr<BIO> bio(BIO_new(BIO_s_mem()));
  if (!cert || !bio || PEM_write_bio_X509(bio.get(), cert.get()) != 1) return;
  char* data = nullptr;
  const long n = BIO_get_mem_data(bio.get(), &data);
  if (n > 0) out->append(data, static_cast<std::size_t>(n));
}

}  // namespace

RequestConfig::RequestConfig(const ManagerOptions& options, const store::Vault& vault,
                             OwnerAccess& owners, ProxyDiscovery* discovery,
                             std::shared_ptr<const TlsTrust> trust,
                             auth::ImplicitCredentialPolicy policy)
    : options_(options),
      vault_(vault),
      owners_(owners),
      discovery_(discovery),
      trust_(std::move(trust)),
      policy_(policy) {}

Status RequestConfig::Build(JobData& job, const store::FileRecord& file, TransferConfig* config) {
  config->checkpoint_bytes = options_.checkpoint_bytes;
  config->checkpoint_interval = options_.checkpoint_interval;
  config->stall_timeout = options_.stall_timeout;
  // A custom method is not idempotent: no ranges, like dynamic content.
  config->dynamic_content = job.rec.dynamic_content || HasCustomHttpMethod(job.rec);
  config->http_method = job.rec.http_method;
  config->receive_buffer_bytes =
      ReceiveBufferFor(file.remote_size == kSizeUnknown || file.bytes_transferred > file.remote_size
                           ? kSizeUnknown
                           : file.remote_size - file.bytes_transferred,
                       job.last_file_small);
  if (auto owner = owners_.Identity(job.rec.owner); owner.ok()) config->owner = *owner;
  auto header_text = CustomHeadersOf(vault_, job.rec);
  if (!header_text.ok()) return header_text.status();
  auto headers = auth::ParseCustomHeaders(*header_text);
  if (headers.ok()) config->headers = std::move(*headers);
  OPENBITS_RETURN_IF_ERROR(ResolveCredentials(job, file, config));
  return ResolveTls(job, config);
}

void RequestConfig::UseCredentialCache(const std::string& owner, std::string_view cache) {
  if (cache.empty()) {
    credential_caches_.erase(owner);
  } else {
    credential_caches_[owner] = std::string(cache);
  }
}

Status RequestConfig::ResolveCredentials(const JobData& job, const store::FileRecord& file,
                                         TransferConfig* config) {
  auto url = auth::SplitUserInfo(file.remote_name);
  if (!url.ok()) return url.status();
  config->request_url = url->bare_url;

  // The route: OVERRIDE proxies, bypass list, or the environment.
  const Result<UrlOrigin> origin = last_origin_.Of(url->bare_url);
  if (!origin.ok()) return Status(kEInvalidArg, "the remote URL is malformed: " + file.remote_name);
  const std::string& host = origin->host;
  const std::string& scheme = origin->scheme;
  auto route = auth::ChooseProxy(
      ProxySettings{job.rec.proxy_usage, job.rec.proxy_list, job.rec.proxy_bypass}, scheme, host);
  if (!route.ok()) return route.status();
  switch (route->route) {
    case auth::ProxyChoice::Route::kEnvironment:
      config->route = TransferConfig::Route::kEnvironment;
      if (discovery_ != nullptr && ProxyDiscovery::Handles(job.rec.proxy_usage)) {
        config->discovery = discovery_;
        config->discovery_usage = job.rec.proxy_usage;
      } else if (job.rec.proxy_usage == ProxyUsage::kAutodetect) {
        return Status(kENotImpl,
                      "AUTODETECT needs proxy discovery, which this build does not have "
                      "(built without libproxy)");
      }
      break;
    case auth::ProxyChoice::Route::kDirect:
      config->route = TransferConfig::Route::kDirect;
      break;
    case auth::ProxyChoice::Route::kProxy:
      config->route = TransferConfig::Route::kProxy;
      config->proxy_url = route->proxy;
      config->no_proxy = route->no_proxy;
      break;
  }

  // Every credential of the job, opened once (most jobs have none: nothing
  // to look up, per file).
  auth::JobCredentials credentials;
  if (!job.rec.secrets.empty()) {
    for (AuthTarget target : {AuthTarget::kServer, AuthTarget::kProxy}) {
      for (AuthScheme scheme_id :
           {AuthScheme::kNegotiate, AuthScheme::kNtlm, AuthScheme::kDigest, AuthScheme::kBasic}) {
        const auto* secret = FindSecret(job.rec, auth::CredentialPurpose(target, scheme_id));
        if (secret == nullptr) continue;
        auto plain = vault_.Unseal(job.rec.id, secret->purpose, secret->sealed);
        if (!plain.ok()) return plain.status();
        auto credential = auth::DecodeCredential(*plain);
        if (!credential.ok()) return credential.status();
        auth::OpenedCredential& slot = credentials.at(target, scheme_id);
        slot.present = true;
        slot.implicit = credential->implicit;
        slot.user_name = std::move(credential->user_name);
        slot.password = std::move(credential->password);
      }
    }
  }
  auth::UrlCredentials url_login;
  url_login.user_name = url->user_name;
  if (!url_login.user_name.empty()) {
    if (const auto* secret = FindSecret(job.rec, auth::UrlPasswordPurpose(file.index))) {
      auto password = vault_.Unseal(job.rec.id, secret->purpose, secret->sealed);
      if (!password.ok()) return password.status();
      url_login.password = std::move(*password);
    }
  }
  auth::LoginPlan plan = auth::PlanLogins(std::move(credentials), std::move(url_login),
                                          auth::SendsImplicitWithoutSetCredentials(policy_));

  // Implicit identities use the owner's credential cache, when told one.
  const auto cache = credential_caches_.find(job.rec.owner);
  auto package = [&](auth::PackageLogin& from, NegotiateLogin* to) {
    to->enabled = from.enabled;
    to->prefer_ntlm = from.prefer_ntlm;
    to->identity = std::move(from.identity);
    if (to->identity.implicit && cache != credential_caches_.end()) {
      to->identity.credential_cache = cache->second;
    }
  };
  auto client = [](auth::ClientLogin& from, HttpLogin* to) {
    to->schemes = (from.basic ? static_cast<long>(CURLAUTH_BASIC) : 0) |
                  (from.digest ? static_cast<long>(CURLAUTH_DIGEST) : 0);
    to->user_name = std::move(from.user_name);
    to->password = std::move(from.password);
  };
  config->server_negotiate.host = host;
  package(plan.server_package, &config->server_negotiate);
  package(plan.proxy_package, &config->proxy_negotiate);
  client(plan.server_client, &config->server);
  client(plan.proxy_client, &config->proxy);
  if (plan.server_client.basic && scheme == "http") {
    Log(options_.log, LogLevel::kWarning,
        "job " + job.rec.id.ToString() +
            ": Basic credentials may be sent in clear text to http://" + host + " (use https)");
  }
  return Status::Ok();
}

Result<platform::CertStoreContents> RequestConfig::ReadOwnerStore(
    const store::JobRecord& job, CertStoreLocation location, std::string_view store_name,
    const platform::SecretBuffer* password) {
  auto identity = owners_.Identity(job.owner);
  if (!identity.ok()) return identity.status();
  const std::string home = *identity ? (*identity)->home : std::string();
  platform::CertStoreRoots roots{options_.current_user_certstores,
                                 options_.local_machine_certstores};
  // The store is read with the owner's rights only (system mode).
  auto as_owner = owners_.ActAs(job.owner);
  if (!as_owner.ok()) return as_owner.status();
  return platform::ReadCertStore(roots, home, location, store_name, password);
}

Status RequestConfig::ResolveTls(JobData& job, TransferConfig* config) {
  const store::JobRecord& r = job.rec;
  config->tls.engine_trust = trust_;
  config->tls.flags = r.security_flags & ~(kRedirectPolicyMask | kRedirectAllowHttpsToHttp);
  config->redirect_flags = r.security_flags & (kRedirectPolicyMask | kRedirectAllowHttpsToHttp);
  if (!job.trust || job.trust->security_flags != r.security_flags) {
    // Trust anchors and intermediates of the owner's ROOT and CA stores, on
    // top of the system bundle; their CRLs when the job checks revocation.
    JobData::Trust trust;
    trust.security_flags = r.security_flags;
    std::string anchors;
    for (CertStoreLocation location :
         {CertStoreLocation::kCurrentUser, CertStoreLocation::kLocalMachine}) {
      for (const char* name : {"ROOT", "CA"}) {
        auto contents = ReadOwnerStore(r, location, name, nullptr);
        if (!contents.ok()) continue;  // most users have no such store
        for (const platform::StoredCertificate& c : contents->certificates) {
          AppendPem(c.der, &anchors);
        }
        if ((r.security_flags & kSslEnableCrlCheck) != 0) {
          for (const std::vector<std::uint8_t>& der : contents->crls) {
            const unsigned char* p = der.data();
            if (X509_CRL* crl = d2i_X509_CRL(nullptr, &p, static_cast<long>(der.size()))) {
              trust.crls.emplace_back(crl, X509_CRL_free);
            }
          }
        }
      }
    }
    if (!anchors.empty()) {
      std::string bundle = *SystemCaBundle() + "\n" + anchors;
      auto file = PublishTrustAnchors(options_.state_directory + "/trust", bundle);
      if (file.ok()) {
        trust.anchors_file = std::move(*file);
      } else {
        trust.anchors_pem = std::make_shared<const std::string>(std::move(bundle));
      }
    }
    job.trust = std::make_unique<JobData::Trust>(std::move(trust));
  }
  config->tls.crls = job.trust->crls;
  config->tls.anchors_file = job.trust->anchors_file;
  config->tls.anchors_pem = job.trust->anchors_pem;
  if ((r.security_flags & kSslEnableCrlCheck) != 0) {
    for (auto it = crl_cache_.begin(); it != crl_cache_.end();) {
      const ASN1_TIME* next = X509_CRL_get0_nextUpdate(it->second.get());
      if (next != nullptr && X509_cmp_current_time(next) <= 0) {
        it = crl_cache_.erase(it);  // stale: fetched again when needed
        continue;
      }
      config->tls.crls.push_back(it->second);
      ++it;
    }
  }
  if (r.cert_location < 0) return Status::Ok();
  auto password = CertificatePasswordOf(vault_, r);
  if (!password.ok()) return password.status();
  auto contents =
      ReadOwnerStore(r, static_cast<CertStoreLocation>(r.cert_location), r.cert_store, &*password);
  if (!contents.ok()) return contents.status();
  auto hash = auth::ParseThumbprint(r.cert_hash);
  if (!hash.ok()) return Status(kBgEDatabaseCorrupt, "the job's certificate hash is damaged");
  auth::CertificateQuery query;
  query.thumbprint = &*hash;
  auto index = auth::SelectClientCertificate(*contents, query, std::time(nullptr));
  if (!index.ok()) return index.status();
  config->tls.client_certificate = std::make_shared<const platform::SecretBuffer>(
      std::move(contents->certificates[*index].identity_p12));
  return Status::Ok();
}

void RequestConfig::OnCrlFetched(const std::string& url, std::shared_ptr<X509_CRL> crl) {
  constexpr std::size_t kMaxCachedCrls = 64;
  if (crl_cache_.size() >= kMaxCachedCrls && crl_cache_.count(url) == 0) crl_cache_.clear();
  crl_cache_[url] = std::move(crl);
}

}  // namespace openbits::engine
