// Copyright (c) openbits authors. Licensed under the Apache License 2.0.
//
// Proxy discovery with WinHTTP, as BITS itself does: PRECONFIG reads the
// user's Internet settings (WinHttpGetIEProxyConfigForCurrentUser) and runs
// their auto-configuration when they ask for it; AUTODETECT is WPAD
// (WINHTTP_AUTOPROXY_AUTO_DETECT) or the configured script. WinHTTP runs PAC
// scripts out of process in its own service, so no helper is needed here.

#include <windows.h>
// After windows.h, which it needs.
#include <winhttp.h>

#include <algorithm>
#include <atomic>
#include <mutex>
#include <string>
#include <vector>

#include "openbits/hresult.h"

#include "platform/proxy_resolver.h"
#include "platform/windows/utf16.h"

namespace openbits::platform {
namespace {

// WinHTTP's proxy string: "host:port", "http=host:port;https=host2:port",
// entries separated by ';' or blanks. Keeps the entries for `scheme`.
std::vector<std::string> ParseProxyString(const std::string& text, const std::string& scheme) {
  std::vector<std::string> out;
  std::size_t i = 0;
  while (i < text.size()) {
    const std::size_t end = std::min(text.find_first_of("; ", i), text.size());
    std::string entry = text.substr(i, end - i);
    i = end + 1;
    if (entry.empty()) continue;
    if (auto eq = entry.find('='); eq != std::string::npos) {
      if (entry.substr(0, eq) != scheme) continue;
      entry = entry.substr(eq + 1);
    }
    out.push_back(entry.find("://") == std::string::npos ? "http://" + entry : entry);
  }
  if (out.empty()) out.push_back("direct://");
  return out;
}

class WinHttpResolver final : public ProxyResolver {
 public:
  WinHttpResolver(ProxyDiscovery mode, std::string script_url)
      : mode_(mode), script_url_(Widen(script_url)) {}
  ~WinHttpResolver() override {
    if (session_ != nullptr) WinHttpCloseHandle(session_);
  }

  Result<std::vector<std::string>> ProxiesFor(const std::string& url,
                                              std::chrono::milliseconds timeout) override {
    std::lock_guard<std::mutex> lock(mu_);
    if (cancelled_) return Status(kEAbort, "proxy discovery was cancelled");
    if (session_ == nullptr) {
      session_ = WinHttpOpen(L"openbits", WINHTTP_ACCESS_TYPE_NO_PROXY, WINHTTP_NO_PROXY_NAME,
                             WINHTTP_NO_PROXY_BYPASS, 0);
      if (session_ == nullptr) {
        return Status(kWinHttpAutoProxyServiceError, "proxy discovery: WinHttpOpen failed");
      }
    }
    const int ms = static_cast<int>(timeout.count());
    WinHttpSetTimeouts(session_, ms, ms, ms, ms);
    const std::string scheme = url.substr(0, url.find(':'));

    WINHTTP_AUTOPROXY_OPTIONS options{};
    if (mode_ == ProxyDiscovery::kAutodetect) {
      if (script_url_.empty()) {
        options.dwFlags = WINHTTP_AUTOPROXY_AUTO_DETECT;
        options.dwAutoDetectFlags = WINHTTP_AUTO_DETECT_TYPE_DHCP | WINHTTP_AUTO_DETECT_TYPE_DNS_A;
      } else {
        options.dwFlags = WINHTTP_AUTOPROXY_CONFIG_URL;
        options.lpszAutoConfigUrl = script_url_.c_str();
      }
    } else {
      WINHTTP_CURRENT_USER_IE_PROXY_CONFIG ie{};
      if (!WinHttpGetIEProxyConfigForCurrentUser(&ie)) return std::vector<std::string>{"direct://"};
      const std::string manual =
          Narrow(ie.lpszProxy != nullptr ? std::wstring_view(ie.lpszProxy) : std::wstring_view());
      std::wstring config_url = ie.lpszAutoConfigUrl != nullptr ? ie.lpszAutoConfigUrl : L"";
      const bool auto_detect = ie.fAutoDetect != FALSE;
      GlobalFree(ie.lpszProxy);
      GlobalFree(ie.lpszProxyBypass);
      GlobalFree(ie.lpszAutoConfigUrl);
      if (!auto_detect && config_url.empty()) {
        return manual.empty() ? std::vector<std::string>{"direct://"}
                              : ParseProxyString(manual, scheme);
      }
      configured_script_ = std::move(config_url);
      options.dwFlags = auto_detect ? WINHTTP_AUTOPROXY_AUTO_DETECT : 0;
      options.dwAutoDetectFlags =
          auto_detect ? WINHTTP_AUTO_DETECT_TYPE_DHCP | WINHTTP_AUTO_DETECT_TYPE_DNS_A : 0;
      if (!configured_script_.empty()) {
        options.dwFlags |= WINHTTP_AUTOPROXY_CONFIG_URL;
        options.lpszAutoConfigUrl = configured_script_.c_str();
      }
    }
    options.fAutoLogonIfChallenged = TRUE;
    WINHTTP_PROXY_INFO info{};
    if (!WinHttpGetProxyForUrl(session_, Widen(url).c_str(), &options, &info)) {
      const DWORD error = GetLastError();
      if (cancelled_) return Status(kEAbort, "proxy discovery was cancelled");
      // No script found: direct, as BITS goes.
      if (error == ERROR_WINHTTP_AUTODETECTION_FAILED) return std::vector<std::string>{"direct://"};
      return Status(
          MakeHResult(0x80070000u | (error & 0xFFFFu)),
          "proxy discovery: WinHttpGetProxyForUrl failed (" + std::to_string(error) + ")");
    }
    std::vector<std::string> proxies = {"direct://"};
    if (info.dwAccessType == WINHTTP_ACCESS_TYPE_NAMED_PROXY && info.lpszProxy != nullptr) {
      proxies = ParseProxyString(Narrow(info.lpszProxy), scheme);
    }
    GlobalFree(info.lpszProxy);
    GlobalFree(info.lpszProxyBypass);
    return proxies;
  }

  // WinHTTP runs in this process and starts within the first call.
  void Prepare() override {}

  void Cancel() override {
    cancelled_ = true;  // WinHTTP's own timeouts bound a call in flight
  }

 private:
  const ProxyDiscovery mode_;
  const std::wstring script_url_;
  std::wstring configured_script_;
  std::atomic<bool> cancelled_{false};
  std::mutex mu_;
  HINTERNET session_ = nullptr;
};

}  // namespace

bool ProxyResolutionAvailable() { return true; }

std::unique_ptr<ProxyResolver> NewProxyResolver(ProxyDiscovery mode, std::string script_url) {
  return std::make_unique<WinHttpResolver>(mode, std::move(script_url));
}

}  // namespace openbits::platform
