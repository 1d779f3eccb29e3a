// Copyright (c) openbits authors. Licensed under the Apache License 2.0.
//
// Certificate stores on macOS (docs/tls.md): the directory stores of every
// Unix system, plus the Keychain. Store "MY" adds the identities
// (certificate and private key) of the user's keychain search list
// (CURRENT_USER) or of the System keychain (LOCAL_MACHINE); store "ROOT"
// adds the certificates with user (CURRENT_USER) or admin (LOCAL_MACHINE)
// trust settings. Identities leave the Keychain as PKCS#12 with an empty
// passphrase (SecItemExport); the Keychain may ask the user to allow that
// once per application, which a daemon without a session cannot answer:
// there, keep the identity in a directory store.
//
// Written against the Security framework documentation; the macOS build is
// not part of CI (no SDK on the Linux runners).

#include <CoreFoundation/CoreFoundation.h>
#include <Security/Security.h>
#include <cctype>
#include <memory>
#include <string>
#include <type_traits>

#include "openbits/hresult.h"

#include "platform/cert_store.h"
#include "platform/macos/cf_ptr.h"
#include "platform/posix/cert_store_directory.h"

namespace openbits::platform {
namespace {

std::vector<std::uint8_t> Bytes(CFDataRef data) {
  if (data == nullptr) return {};
  const UInt8* p = CFDataGetBytePtr(data);
  return std::vector<std::uint8_t>(p, p + CFDataGetLength(data));
}

std::vector<std::uint8_t> CertificateDer(SecCertificateRef cert) {
  CfPtr<CFDataRef> der(SecCertificateCopyData(cert));
  return Bytes(der.get());
}

void AddIdentities(CertStoreLocation location, CertStoreContents* out) {
  CfPtr<CFMutableDictionaryRef> query(CFDictionaryCreateMutable(
      nullptr, 0, &kCFTypeDictionaryKeyCallBacks, &kCFTypeDictionaryValueCallBacks));
  CFDictionarySetValue(query.get(), kSecClass, kSecClassIdentity);
  CFDictionarySetValue(query.get(), kSecMatchLimit, kSecMatchLimitAll);
  CFDictionarySetValue(query.get(), kSecReturnRef, kCFBooleanTrue);
  CfPtr<CFArrayRef> search_list;
  if (location == CertStoreLocation::kLocalMachine) {
    SecKeychainRef system = nullptr;
#pragma clang diagnostic push
#pragma clang diagnostic ignored "-Wdeprecated-declarations"
    if (SecKeychainOpen("/Library/Keychains/System.keychain", &system) != errSecSuccess) return;
#pragma clang diagnostic pop
    CfPtr<SecKeychainRef> owned(system);
    const void* one[] = {system};
    search_list.reset(CFArrayCreate(nullptr, one, 1, &kCFTypeArrayCallBacks));
    CFDictionarySetValue(query.get(), kSecMatchSearchList, search_list.get());
  }
  CFTypeRef result = nullptr;
  if (SecItemCopyMatching(query.get(), &result) != errSecSuccess || result == nullptr) return;
  CfPtr<CFArrayRef> items(static_cast<CFArrayRef>(result));
  for (CFIndex i = 0; i < CFArrayGetCount(items.get()); ++i) {
    auto identity =
        static_cast<SecIdentityRef>(const_cast<void*>(CFArrayGetValueAtIndex(items.get(), i)));
    SecCertificateRef raw_cert = nullptr;
    if (SecIdentityCopyCertificate(identity, &raw_cert) != errSecSuccess) continue;
    CfPtr<SecCertificateRef> cert(raw_cert);
    StoredCertificate entry;
    entry.der = CertificateDer(cert.get());
    entry.source = "Keychain";
    SecItemImportExportKeyParameters params = {};
    params.version = SEC_KEY_IMPORT_EXPORT_PARAMS_VERSION;
    params.passphrase = CFSTR("");
    CFDataRef exported = nullptr;
    if (SecItemExport(identity, kSecFormatPKCS12, 0, &params, &exported) == errSecSuccess) {
      CfPtr<CFDataRef> p12(exported);
      const std::vector<std::uint8_t> bytes = Bytes(p12.get());
      entry.identity_p12 = SecretBuffer(bytes.data(), bytes.size());
    }
    if (!entry.der.empty()) out->certificates.push_back(std::move(entry));
  }
}

void AddTrustedRoots(CertStoreLocation location, CertStoreContents* out) {
  const SecTrustSettingsDomain domain = location == CertStoreLocation::kCurrentUser
                                            ? kSecTrustSettingsDomainUser
                                            : kSecTrustSettingsDomainAdmin;
  CFArrayRef raw = nullptr;
  if (SecTrustSettingsCopyCertificates(domain, &raw) != errSecSuccess || raw == nullptr) return;
  CfPtr<CFArrayRef> certs(raw);
  for (CFIndex i = 0; i < CFArrayGetCount(certs.get()); ++i) {
    auto cert =
        static_cast<SecCertificateRef>(const_cast<void*>(CFArrayGetValueAtIndex(certs.get(), i)));
    StoredCertificate entry;
    entry.der = CertificateDer(cert);
    entry.source = "Keychain trust settings";
    if (!entry.der.empty()) out->certificates.push_back(std::move(entry));
  }
}

}  // namespace

Result<CertStoreContents> ReadCertStore(const CertStoreRoots& roots, const std::string& home,
                                        CertStoreLocation location, std::string_view store_name,
                                        const SecretBuffer* password) {
  auto directory = ReadDirectoryCertStore(roots, home, location, store_name, password);
  if (location != CertStoreLocation::kCurrentUser && location != CertStoreLocation::kLocalMachine) {
    return directory;
  }
  if (!directory.ok() && directory.status().code() != kCryptENotFound) return directory;
  std::string name(store_name);
  for (char& c : name) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  if (name != "MY" && name != "ROOT") return directory;
  CertStoreContents out;
  if (directory.ok()) out = std::move(*directory);
  if (out.description.empty()) {
    out.description = std::string(CertStoreLocationName(location)) + " Keychain " + name;
  }
  if (name == "MY") {
    AddIdentities(location, &out);
  } else {
    AddTrustedRoots(location, &out);
  }
  return out;
}

}  // namespace openbits::platform
