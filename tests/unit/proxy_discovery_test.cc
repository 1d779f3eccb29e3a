// Copyright (c) openbits authors. Licensed under the Apache License 2.0.

#include "engine/proxy_discovery.h"

#include <gtest/gtest.h>

#include "openbits/hresult.h"

namespace openbits::engine {
namespace {

TEST(ProxyRouteTest, TheFirstRouteLibcurlCanUseIsTaken) {
  auto direct = FirstUsableRoute({"direct://", "http://p:3128"});
  ASSERT_TRUE(direct.ok());
  EXPECT_TRUE(direct->direct);

  auto proxy = FirstUsableRoute({"http://p:3128", "direct://"});
  ASSERT_TRUE(proxy.ok());
  EXPECT_FALSE(proxy->direct);
  EXPECT_EQ(proxy->proxy_url, "http://p:3128");

  // An unknown kind is skipped; PAC's plain SOCKS is SOCKS4.
  auto socks = FirstUsableRoute({"ftp://p:21", "socks://s:1080"});
  ASSERT_TRUE(socks.ok());
  EXPECT_EQ(socks->proxy_url, "socks4://s:1080");
  EXPECT_EQ(FirstUsableRoute({"socks5://s:1080"})->proxy_url, "socks5://s:1080");

  auto none = FirstUsableRoute({"ftp://p:21", "http://"});
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.status().code(), kWinHttpAutoProxyServiceError);
  EXPECT_NE(none.status().message().find("ftp://p:21"), std::string::npos);
}

TEST(ProxyRouteTest, AScriptSeesTheOriginOnly) {
  auto origin_of = [](const std::string& url) {
    auto origin = ParseOrigin(url);
    return origin.ok() ? FormatOrigin(*origin) : std::string();
  };
  EXPECT_EQ(origin_of("https://example.org/secret/path?token=1"), "https://example.org:443/");
  EXPECT_EQ(origin_of("http://example.org:8080/a"), "http://example.org:8080/");
  EXPECT_EQ(origin_of("http://user:pw@example.org/a"), "http://example.org:80/");
  EXPECT_EQ(origin_of("http://[::1]:81/"), "http://[::1]:81/");
  EXPECT_EQ(origin_of("not a url"), "");
}

TEST(ProxyRouteTest, TheLastOriginIsReusedOnlyForTheSameAuthority) {
  LastOrigin last;
  auto first = last.Of("http://a.example:8080/one");
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(first->host, "a.example");
  EXPECT_EQ(last.Of("http://a.example:8080/two?x=1")->port, "8080");
  // Same host, other port or scheme: parsed again.
  EXPECT_EQ(last.Of("http://a.example/three")->port, "80");
  EXPECT_EQ(last.Of("https://a.example/three")->port, "443");
  EXPECT_EQ(last.Of("https://a.example/three")->scheme, "https");
  // A prefix of the last authority is another authority.
  EXPECT_EQ(last.Of("https://a.exampl/x")->host, "a.exampl");
  EXPECT_EQ(last.Of("https://b.example?q")->host, "b.example");
  // A malformed URL is not remembered, and does not hide the next one.
  EXPECT_FALSE(last.Of("http://bad host/").ok());
  EXPECT_FALSE(last.Of("http://bad host/").ok());
  EXPECT_EQ(last.Of("http://c.example/")->host, "c.example");
  EXPECT_FALSE(last.Of("no scheme").ok());
}

}  // namespace
}  // namespace openbits::engine
