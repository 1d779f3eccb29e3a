// Copyright (c) openbits authors. Licensed under the Apache License 2.0.
//
// Keys as generic passwords in the Keychain: service "openbits:<location>",
// account = the key's name, accessible only after first unlock on this
// device (kSecAttrAccessibleAfterFirstUnlockThisDeviceOnly, so backups do
// not carry them to another machine).

#include <CoreFoundation/CoreFoundation.h>
#include <Security/Security.h>
#include <cstdlib>
#include <string>
#include <vector>

#include "openbits/hresult.h"

#include "platform/key_protector.h"
#include "platform/macos/cf_ptr.h"

namespace openbits::platform {
namespace {

CfPtr<CFStringRef> CfString(const std::string& s) {
  return CfPtr<CFStringRef>(
      CFStringCreateWithBytes(nullptr, reinterpret_cast<const UInt8*>(s.data()),
                              static_cast<CFIndex>(s.size()), kCFStringEncodingUTF8, false));
}

std::string StdString(CFStringRef s) {
  if (s == nullptr) return {};
  const CFIndex max =
      CFStringGetMaximumSizeForEncoding(CFStringGetLength(s), kCFStringEncodingUTF8) + 1;
  std::string out(static_cast<std::size_t>(max), '\0');
  if (!CFStringGetCString(s, out.data(), max, kCFStringEncodingUTF8)) return {};
  out.resize(std::strlen(out.c_str()));
  return out;
}

Status KeychainError(OSStatus status, const std::string& what) {
  if (status == errSecItemNotFound) return Status(kNteNoKey, what + ": no such key");
  CfPtr<CFStringRef> text(SecCopyErrorMessageString(status, nullptr));
  return Status(status == errSecAuthFailed ? kEAccessDenied : kEFail,
                what + ": " + StdString(text.get()));
}

class KeychainKeyProtector final : public KeyProtector {
 public:
  explicit KeychainKeyProtector(std::string location)
      : service_("openbits:" + std::move(location)) {}

  std::string Describe() const override { return "Keychain service " + service_; }

  Result<SecretBuffer> Load(const std::string& name) override {
    auto query = Query(name);
    CFDictionarySetValue(query.get(), kSecReturnData, kCFBooleanTrue);
    CFDictionarySetValue(query.get(), kSecMatchLimit, kSecMatchLimitOne);
    CFTypeRef result = nullptr;
    const OSStatus status = SecItemCopyMatching(query.get(), &result);
    if (status != errSecSuccess) return KeychainError(status, "load key " + name);
    CfPtr<CFDataRef> data(static_cast<CFDataRef>(result));
    SecretBuffer key(CFDataGetBytePtr(data.get()),
                     static_cast<std::size_t>(CFDataGetLength(data.get())));
    return key;
  }

  Status Store(const std::string& name, const SecretBuffer& key) override {
    CfPtr<CFDataRef> data(CFDataCreate(nullptr, key.data(), static_cast<CFIndex>(key.size())));
    auto query = Query(name);
    CfPtr<CFMutableDictionaryRef> update(CFDictionaryCreateMutable(
        nullptr, 0, &kCFTypeDictionaryKeyCallBacks, &kCFTypeDictionaryValueCallBacks));
    CFDictionarySetValue(update.get(), kSecValueData, data.get());
    OSStatus status = SecItemUpdate(query.get(), update.get());
    if (status == errSecItemNotFound) {
      CFDictionarySetValue(query.get(), kSecValueData, data.get());
      CFDictionarySetValue(query.get(), kSecAttrAccessible,
                           kSecAttrAccessibleAfterFirstUnlockThisDeviceOnly);
      status = SecItemAdd(query.get(), nullptr);
    }
    return status == errSecSuccess ? Status::Ok() : KeychainError(status, "store key " + name);
  }

  Status Remove(const std::string& name) override {
    const OSStatus status = SecItemDelete(Query(name).get());
    if (status == errSecSuccess || status == errSecItemNotFound) return Status::Ok();
    return KeychainError(status, "remove key " + name);
  }

  Result<std::vector<std::string>> List(const std::string& prefix) override {
    std::vector<std::string> names;
    auto query = Query("");
    CFDictionaryRemoveValue(query.get(), kSecAttrAccount);
    CFDictionarySetValue(query.get(), kSecReturnAttributes, kCFBooleanTrue);
    CFDictionarySetValue(query.get(), kSecMatchLimit, kSecMatchLimitAll);
    CFTypeRef result = nullptr;
    const OSStatus status = SecItemCopyMatching(query.get(), &result);
    if (status == errSecItemNotFound) return names;
    if (status != errSecSuccess) return KeychainError(status, "list keys");
    CfPtr<CFArrayRef> items(static_cast<CFArrayRef>(result));
    for (CFIndex i = 0; i < CFArrayGetCount(items.get()); ++i) {
      auto item = static_cast<CFDictionaryRef>(CFArrayGetValueAtIndex(items.get(), i));
      auto account = static_cast<CFStringRef>(CFDictionaryGetValue(item, kSecAttrAccount));
      std::string n = StdString(account);
      if (n.rfind(prefix, 0) == 0) names.push_back(std::move(n));
    }
    return names;
  }

 private:
  CfPtr<CFMutableDictionaryRef> Query(const std::string& name) const {
    CfPtr<CFMutableDictionaryRef> q(CFDictionaryCreateMutable(
        nullptr, 0, &kCFTypeDictionaryKeyCallBacks, &kCFTypeDictionaryValueCallBacks));
    CFDictionarySetValue(q.get(), kSecClass, kSecClassGenericPassword);
    CFDictionarySetValue(q.get(), kSecAttrService, CfString(service_).get());
    CFDictionarySetValue(q.get(), kSecAttrAccount, CfString(name).get());
    return q;
  }

  std::string service_;
};

std::string Env(const char* name) {
  const char* value = std::getenv(name);
  return value != nullptr ? std::string(value) : std::string();
}

}  // namespace

std::unique_ptr<KeyProtector> NewKeyProtector(const std::string& location) {
  return std::make_unique<KeychainKeyProtector>(location);
}

std::string DefaultKeyLocation() {
  if (std::string dir = Env("OPENBITS_KEY_DIR"); !dir.empty()) return dir;
  if (std::string home = Env("HOME"); !home.empty()) return home + "/Library/openbits";
  return {};
}

std::string SystemKeyLocation() { return "/Library/openbits"; }

}  // namespace openbits::platform
