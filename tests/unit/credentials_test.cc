// Copyright (c) openbits authors. Licensed under the Apache License 2.0.

#include "auth/credentials.h"

#include <gtest/gtest.h>

#include "openbits/hresult.h"

namespace openbits::auth {
namespace {

TEST(SplitUserInfoTest, ThePasswordIsSplitOffAndDecoded) {
  auto u = SplitUserInfo("https://ann:p%40ss%3Aw0rd@example.org:8443/a/b?q=1");
  ASSERT_TRUE(u.ok());
  EXPECT_TRUE(u->has_password);
  EXPECT_EQ(u->user_name, "ann");
  EXPECT_EQ(u->password.view(), "p@ss:w0rd");
  EXPECT_EQ(u->redacted_url, "https://ann:****@example.org:8443/a/b?q=1");
  EXPECT_EQ(u->bare_url, "https://example.org:8443/a/b?q=1");
}

TEST(SplitUserInfoTest, UrlsWithoutPasswordsStayAsTheyAre) {
  auto plain = SplitUserInfo("http://host/path@not-userinfo");
  ASSERT_TRUE(plain.ok());
  EXPECT_FALSE(plain->has_password);
  EXPECT_EQ(plain->user_name, "");
  EXPECT_EQ(plain->redacted_url, "http://host/path@not-userinfo");
  auto user_only = SplitUserInfo("http://bob@host/x");
  ASSERT_TRUE(user_only.ok());
  EXPECT_FALSE(user_only->has_password);
  EXPECT_EQ(user_only->user_name, "bob");
  EXPECT_EQ(user_only->bare_url, "http://host/x");
  auto empty_password = SplitUserInfo("http://bob:@host/x");
  ASSERT_TRUE(empty_password.ok());
  EXPECT_TRUE(empty_password->has_password);
  EXPECT_TRUE(empty_password->password.empty());
}

TEST(SplitUserInfoTest, AmbiguousUserInformationIsRefused) {
  EXPECT_EQ(SplitUserInfo("http://a:b@evil@host/").status().code(), kEInvalidArg);
}

TEST(CredentialTest, EncodingRoundTrips) {
  auto explicit_c = DecodeCredential(EncodeCredential(false, "DOMAIN\\ann", "pässwörd"));
  ASSERT_TRUE(explicit_c.ok());
  EXPECT_FALSE(explicit_c->implicit);
  EXPECT_EQ(explicit_c->user_name.view(), "DOMAIN\\ann");
  EXPECT_EQ(explicit_c->password.view(), "pässwörd");
  auto implicit_c = DecodeCredential(EncodeCredential(true, "ignored", "ignored"));
  ASSERT_TRUE(implicit_c.ok());
  EXPECT_TRUE(implicit_c->implicit);
  EXPECT_TRUE(implicit_c->user_name.empty());
  EXPECT_EQ(
      DecodeCredential(platform::SecretBuffer::FromString("\x01\xff\xff\xff\xff")).status().code(),
      kNteBadData);
}

TEST(CredentialTest, BitsRulesForSetCredentials) {
  EXPECT_TRUE(ValidateCredentials(AuthTarget::kServer, AuthScheme::kBasic, false, "u", "p").ok());
  EXPECT_EQ(
      ValidateCredentials(static_cast<AuthTarget>(3), AuthScheme::kBasic, false, "u", "p").code(),
      kBgEInvalidAuthTarget);
  EXPECT_EQ(
      ValidateCredentials(AuthTarget::kServer, static_cast<AuthScheme>(9), false, "u", "p").code(),
      kBgEInvalidAuthScheme);
  EXPECT_EQ(ValidateCredentials(AuthTarget::kServer, AuthScheme::kPassport, false, "u", "p").code(),
            kENotImpl);
  EXPECT_EQ(ValidateCredentials(AuthTarget::kServer, AuthScheme::kBasic, true, "", "").code(),
            kEInvalidArg);
  EXPECT_TRUE(ValidateCredentials(AuthTarget::kProxy, AuthScheme::kNegotiate, true, "", "").ok());
  EXPECT_EQ(
      ValidateCredentials(AuthTarget::kServer, AuthScheme::kNtlm, false, std::string(301, 'u'), "p")
          .code(),
      kBgEUsernameTooLarge);
  EXPECT_EQ(ValidateCredentials(AuthTarget::kServer, AuthScheme::kNtlm, false, "u",
                                std::string(65537, 'p'))
                .code(),
            kBgEPasswordTooLarge);
  EXPECT_EQ(ValidateCredentials(AuthTarget::kServer, AuthScheme::kBasic, false, "a:b", "p").code(),
            kEInvalidArg);
}

TEST(CredentialTest, PurposesNameTargetAndScheme) {
  EXPECT_EQ(CredentialPurpose(AuthTarget::kProxy, AuthScheme::kNtlm), "credential/proxy/ntlm");
  CredentialSlot slot;
  ASSERT_TRUE(ParseCredentialPurpose("credential/server/digest", &slot));
  EXPECT_EQ(slot.target, AuthTarget::kServer);
  EXPECT_EQ(slot.scheme, AuthScheme::kDigest);
  EXPECT_FALSE(ParseCredentialPurpose("url-password/0", &slot));
}

}  // namespace
}  // namespace openbits::auth
