// Copyright (c) openbits authors. Licensed under the Apache License 2.0.

#include "auth/challenge.h"

#include <gtest/gtest.h>

namespace openbits::auth {
namespace {

TEST(ChallengeTest, OneChallengePerHeaderAsApacheSendsThem) {
  auto c = ParseChallenges({"Negotiate", "NTLM", "Basic realm=\"rig-basic\""});
  ASSERT_EQ(c.size(), 3u);
  EXPECT_EQ(c[0].scheme, "negotiate");
  EXPECT_TRUE(c[0].token68.empty());
  EXPECT_EQ(c[1].scheme, "ntlm");
  EXPECT_EQ(c[2].scheme, "basic");
  EXPECT_EQ(c[2].params.at("realm"), "rig-basic");
}

TEST(ChallengeTest, SeveralChallengesInOneValue) {
  auto c = ParseChallenges(
      {"Digest realm=\"a, b\", qop=\"auth\", nonce=\"x=\", algorithm=MD5, Basic realm=y, "
       "Negotiate YIIBhwYGKwYBBQUCoIIBezCCAXe=, NTLM"});
  ASSERT_EQ(c.size(), 4u);
  EXPECT_EQ(c[0].scheme, "digest");
  EXPECT_EQ(c[0].params.at("realm"), "a, b");
  EXPECT_EQ(c[0].params.at("nonce"), "x=");
  EXPECT_EQ(c[0].params.at("algorithm"), "MD5");
  EXPECT_EQ(c[1].scheme, "basic");
  EXPECT_EQ(c[1].params.at("realm"), "y");
  EXPECT_EQ(c[2].scheme, "negotiate");
  EXPECT_EQ(c[2].token68, "YIIBhwYGKwYBBQUCoIIBezCCAXe=");
  EXPECT_EQ(c[3].scheme, "ntlm");
  EXPECT_NE(FindChallenge(c, "ntlm"), nullptr);
  EXPECT_EQ(FindChallenge(c, "bearer"), nullptr);
}

TEST(ChallengeTest, GarbageIsSkippedNotFatal) {
  for (const char* junk : {"", ",,,", "\"", "=", "Basic realm=\"unterminated", "@@@ , Basic",
                           "Negotiate ===", "x y z"}) {
    (void)ParseChallenges({junk});  // must not crash or loop
  }
  auto c = ParseChallenges({"@@@ , Basic realm=r"});
  ASSERT_FALSE(c.empty());
  EXPECT_EQ(c.back().scheme, "basic");
}

}  // namespace
}  // namespace openbits::auth
