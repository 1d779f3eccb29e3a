// Copyright (c) openbits authors. Licensed under the Apache License 2.0.
//
// Certificate stores as the CryptoAPI system stores, the ones BITS itself
// reads (docs/tls.md): every BG_CERT_STORE_LOCATION has its
// CERT_SYSTEM_STORE_* equivalent. A certificate whose private key can be
// exported is handed out as an unencrypted PKCS#12 (PFXExportCertStoreEx
// with an empty password); a key marked non-exportable counts as absent,
// with its reason in the store's description.

#include <windows.h>
// After windows.h, which it needs.
#include <wincrypt.h>

#include <string>
#include <vector>

#include "openbits/hresult.h"

#include "platform/cert_store.h"
#include "platform/windows/utf16.h"

namespace openbits::platform {
namespace {

DWORD SystemStoreFlag(CertStoreLocation location) {
  switch (location) {
    case CertStoreLocation::kCurrentUser:
      return CERT_SYSTEM_STORE_CURRENT_USER;
    case CertStoreLocation::kLocalMachine:
      return CERT_SYSTEM_STORE_LOCAL_MACHINE;
    case CertStoreLocation::kCurrentService:
      return CERT_SYSTEM_STORE_CURRENT_SERVICE;
    case CertStoreLocation::kServices:
      return CERT_SYSTEM_STORE_SERVICES;
    case CertStoreLocation::kUsers:
      return CERT_SYSTEM_STORE_USERS;
    case CertStoreLocation::kCurrentUserGroupPolicy:
      return CERT_SYSTEM_STORE_CURRENT_USER_GROUP_POLICY;
    case CertStoreLocation::kLocalMachineGroupPolicy:
      return CERT_SYSTEM_STORE_LOCAL_MACHINE_GROUP_POLICY;
    case CertStoreLocation::kLocalMachineEnterprise:
      return CERT_SYSTEM_STORE_LOCAL_MACHINE_ENTERPRISE;
  }
  return 0;
}

class StoreHandle {
 public:
  explicit StoreHandle(HCERTSTORE store) : store_(store) {}
  ~StoreHandle() {
    if (store_ != nullptr) CertCloseStore(store_, 0);
  }
  StoreHandle(const StoreHandle&) = delete;
  StoreHandle& operator=(const StoreHandle&) = delete;
  HCERTSTORE get() const { return store_; }

 private:
  HCERTSTORE store_;
};

bool HasPrivateKey(PCCERT_CONTEXT cert) {
  DWORD size = 0;
  return CertGetCertificateContextProperty(cert, CERT_KEY_PROV_INFO_PROP_ID, nullptr, &size) ||
         CertGetCertificateContextProperty(cert, CERT_KEY_CONTEXT_PROP_ID, nullptr, &size);
}

// The certificate with its key (and the chain the store can build) as a
// PKCS#12 protected by the empty password; empty if the key stays inside.
SecretBuffer ExportIdentity(PCCERT_CONTEXT cert) {
  StoreHandle memory(CertOpenStore(CERT_STORE_PROV_MEMORY, 0, 0, 0, nullptr));
  if (memory.get() == nullptr ||
      !CertAddCertificateContextToStore(memory.get(), cert, CERT_STORE_ADD_ALWAYS, nullptr)) {
    return {};
  }
  CRYPT_DATA_BLOB pfx{};
  const DWORD flags = EXPORT_PRIVATE_KEYS | REPORT_NOT_ABLE_TO_EXPORT_PRIVATE_KEY;
  if (!PFXExportCertStoreEx(memory.get(), &pfx, L"", nullptr, flags) || pfx.cbData == 0) {
    return {};
  }
  SecretBuffer out(pfx.cbData);
  pfx.pbData = out.data();
  if (!PFXExportCertStoreEx(memory.get(), &pfx, L"", nullptr, flags)) return {};
  out.Truncate(pfx.cbData);
  return out;
}

}  // namespace

Result<CertStoreContents> ReadCertStore(const CertStoreRoots& /*roots*/,
                                        const std::string& /*home*/, CertStoreLocation location,
                                        std::string_view store_name,
                                        const SecretBuffer* /*password*/) {
  OPENBITS_RETURN_IF_ERROR(ValidateStoreName(store_name));
  const DWORD where = SystemStoreFlag(location);
  if (where == 0) return Status(kEInvalidArg, "unknown certificate store location");
  const std::wstring name = Widen(store_name);
  StoreHandle store(CertOpenStore(CERT_STORE_PROV_SYSTEM_W, 0, 0,
                                  where | CERT_STORE_OPEN_EXISTING_FLAG | CERT_STORE_READONLY_FLAG,
                                  name.c_str()));
  const std::string description =
      std::string(CertStoreLocationName(location)) + "\\" + std::string(store_name);
  if (store.get() == nullptr) {
    return Status(kCryptENotFound, "the certificate store " + description + " cannot be opened");
  }
  CertStoreContents out;
  out.description = description;
  PCCERT_CONTEXT cert = nullptr;
  while ((cert = CertEnumCertificatesInStore(store.get(), cert)) != nullptr) {
    StoredCertificate entry;
    entry.der.assign(cert->pbCertEncoded, cert->pbCertEncoded + cert->cbCertEncoded);
    if (HasPrivateKey(cert)) entry.identity_p12 = ExportIdentity(cert);
    entry.source = description;
    out.certificates.push_back(std::move(entry));
  }
  PCCRL_CONTEXT crl = nullptr;
  while ((crl = CertEnumCRLsInStore(store.get(), crl)) != nullptr) {
    out.crls.emplace_back(crl->pbCrlEncoded, crl->pbCrlEncoded + crl->cbCrlEncoded);
  }
  return out;
}

}  // namespace openbits::platform
