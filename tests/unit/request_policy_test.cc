// Copyright (c) openbits authors. Licensed under the Apache License 2.0.

#include "auth/request_policy.h"

#include <gtest/gtest.h>

#include "openbits/hresult.h"

namespace openbits::auth {
namespace {

TEST(CustomHeadersTest, AcceptsCrlfSeparatedHeaders) {
  auto h = ParseCustomHeaders("X-Trace: 1\r\nAccept-Language: en\r\n");
  ASSERT_TRUE(h.ok());
  EXPECT_EQ(*h, (std::vector<std::string>{"X-Trace: 1", "Accept-Language: en"}));
  auto empty = ParseCustomHeaders("");
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->empty());
}

TEST(CustomHeadersTest, RefusesInjection) {
  for (const char* bad : {"X-A: 1\nHost: evil", "X-A: 1\rX-B: 2", "X-A: a\x01z", "NoColon",
                          ": empty", "Bad Name: 1", "X-A: 1\r\n\r\nX-B: 2"}) {
    auto h = ParseCustomHeaders(bad);
    EXPECT_FALSE(h.ok()) << bad;
    if (!h.ok()) {
      EXPECT_EQ(h.status().code(), kEInvalidArg);
    }
  }
}

TEST(CustomHeadersTest, RefusesHeadersOpenbitsManages) {
  for (const char* managed : {"Host: x", "range: bytes=0-", "If-Range: x", "Content-Length: 1",
                              "Transfer-Encoding: chunked", "Connection: close"}) {
    EXPECT_FALSE(ParseCustomHeaders(managed).ok()) << managed;
  }
}

TEST(RedactUrlTest, HidesPasswordsOnly) {
  EXPECT_EQ(RedactUrl("http://alice:s3cret@host/p"), "http://alice:****@host/p");
  EXPECT_EQ(RedactUrl("https://alice@host/p"), "https://alice@host/p");
  EXPECT_EQ(RedactUrl("http://host/p@q:r"), "http://host/p@q:r");
  EXPECT_EQ(RedactUrl("http://a:b:c@host"), "http://a:****@host");
  EXPECT_EQ(RedactUrl("not a url"), "not a url");
}

}  // namespace
}  // namespace openbits::auth
