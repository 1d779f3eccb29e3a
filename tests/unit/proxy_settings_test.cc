// Copyright (c) openbits authors. Licensed under the Apache License 2.0.

#include "auth/proxy_settings.h"

#include <gtest/gtest.h>

#include "openbits/hresult.h"

#include "platform/proxy_resolver.h"

namespace openbits::auth {
namespace {

using Route = ProxyChoice::Route;

TEST(ProxySettingsTest, ValidationFollowsBits) {
  EXPECT_TRUE(ValidateProxySettings(ProxyUsage::kPreconfig, "", "").ok());
  EXPECT_TRUE(ValidateProxySettings(ProxyUsage::kNoProxy, "", "").ok());
  EXPECT_EQ(ValidateProxySettings(ProxyUsage::kNoProxy, "p:80", "").code(), kEInvalidArg);
  EXPECT_EQ(ValidateProxySettings(ProxyUsage::kPreconfig, "", "<local>").code(), kEInvalidArg);
  EXPECT_EQ(ValidateProxySettings(ProxyUsage::kOverride, "", "").code(), kEInvalidArg);
  EXPECT_TRUE(ValidateProxySettings(ProxyUsage::kOverride, "proxy1:80,proxy2,proxy3", "").ok());
  EXPECT_TRUE(ValidateProxySettings(ProxyUsage::kOverride, "http=a:3128 https=https://b:443",
                                    "<local> *.example.org 10.1.2.3")
                  .ok());
  EXPECT_EQ(ValidateProxySettings(ProxyUsage::kOverride, "ftp=a:21", "").code(), kEInvalidArg);
  EXPECT_EQ(ValidateProxySettings(ProxyUsage::kOverride, "socks5://a:1080", "").code(),
            kEInvalidArg);
  EXPECT_EQ(ValidateProxySettings(ProxyUsage::kOverride, "a:99999", "").code(), kEInvalidArg);
  EXPECT_EQ(ValidateProxySettings(ProxyUsage::kOverride, "a:80", "bad/host").code(), kEInvalidArg);
  EXPECT_EQ(ValidateProxySettings(ProxyUsage::kOverride, std::string(32768, 'a'), "").code(),
            kBgEProxyListTooLarge);
  EXPECT_EQ(ValidateProxySettings(ProxyUsage::kOverride, "a", std::string(32768, 'b')).code(),
            kBgEProxyBypassListTooLarge);
  EXPECT_EQ(ValidateProxySettings(static_cast<ProxyUsage>(9), "", "").code(), kENotImpl);
  // AUTODETECT needs libproxy's helper; it takes no lists either way.
  EXPECT_EQ(ValidateProxySettings(ProxyUsage::kAutodetect, "", "").code(),
            platform::ProxyResolutionAvailable() ? kSOk : kENotImpl);
  EXPECT_EQ(ValidateProxySettings(ProxyUsage::kAutodetect, "p:80", "").code(),
            platform::ProxyResolutionAvailable() ? kEInvalidArg : kENotImpl);
}

TEST(ProxySettingsTest, OverridePicksTheFirstEntryForTheScheme) {
  const ProxySettings s{ProxyUsage::kOverride, "https=secure:8443, plain:3128", ""};
  auto http = ChooseProxy(s, "http", "example.org");
  ASSERT_TRUE(http.ok());
  EXPECT_EQ(http->route, Route::kProxy);
  EXPECT_EQ(http->proxy, "http://plain:3128");
  auto https = ChooseProxy(s, "https", "example.org");
  EXPECT_EQ(https->proxy, "http://secure:8443");
  auto defaulted = ChooseProxy({ProxyUsage::kOverride, "https://p", ""}, "http", "h");
  EXPECT_EQ(defaulted->proxy, "https://p:443");
  auto none = ChooseProxy({ProxyUsage::kOverride, "https=only:1", ""}, "http", "h");
  EXPECT_EQ(none->route, Route::kDirect);
}

TEST(ProxySettingsTest, BypassListAndUsages) {
  const ProxySettings s{ProxyUsage::kOverride, "p:3128", "<local> *.corp.example 10.0.0.1"};
  EXPECT_EQ(ChooseProxy(s, "http", "intranet")->route, Route::kDirect);
  EXPECT_EQ(ChooseProxy(s, "http", "files.CORP.example")->route, Route::kDirect);
  EXPECT_EQ(ChooseProxy(s, "http", "10.0.0.1")->route, Route::kDirect);
  EXPECT_EQ(ChooseProxy(s, "http", "example.org")->route, Route::kProxy);
  EXPECT_EQ(ChooseProxy(s, "http", "example.org")->no_proxy, "corp.example,10.0.0.1");
  EXPECT_EQ(ChooseProxy({ProxyUsage::kNoProxy, "", ""}, "http", "x")->route, Route::kDirect);
  EXPECT_EQ(ChooseProxy({ProxyUsage::kPreconfig, "", ""}, "http", "x")->route, Route::kEnvironment);
}

}  // namespace
}  // namespace openbits::auth
