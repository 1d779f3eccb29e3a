// Copyright (c) openbits authors. Licensed under the Apache License 2.0.
//
// The seed rules of bits-authentication.md as the login plan applies them
// (auth/login_plan.h): which credential answers which challenge.

#include "auth/login_plan.h"

#include <gtest/gtest.h>

namespace openbits::auth {
namespace {

void Set(JobCredentials& c, AuthTarget target, AuthScheme scheme, const char* user,
         const char* password) {
  OpenedCredential& slot = c.at(target, scheme);
  slot.present = true;
  slot.user_name = platform::SecretBuffer::FromString(user);
  slot.password = platform::SecretBuffer::FromString(password);
}

void SetImplicit(JobCredentials& c, AuthTarget target, AuthScheme scheme) {
  c.at(target, scheme).present = true;
  c.at(target, scheme).implicit = true;
}

UrlCredentials Url(const char* user, const char* password) {
  return UrlCredentials{user, platform::SecretBuffer::FromString(password)};
}

constexpr AuthTarget kServer = AuthTarget::kServer;
constexpr AuthTarget kProxy = AuthTarget::kProxy;

TEST(LoginPlanTest, NothingSetAnswersNothing) {
  LoginPlan plan = PlanLogins({}, {}, /*implicit_without_set_credentials=*/false);
  EXPECT_FALSE(plan.server_package.enabled);
  EXPECT_FALSE(plan.server_client.any());
  EXPECT_FALSE(plan.proxy_package.enabled);
  EXPECT_FALSE(plan.proxy_client.any());
}

TEST(LoginPlanTest, UrlCredentialsWinOverSetCredentialsForEveryServerScheme) {
  JobCredentials c;
  Set(c, kServer, AuthScheme::kBasic, "ann", "ann-pass");
  Set(c, kServer, AuthScheme::kNegotiate, "ann", "ann-pass");
  LoginPlan plan = PlanLogins(std::move(c), Url("bob", "bob-pass"), false);
  EXPECT_TRUE(plan.server_client.basic);
  EXPECT_TRUE(plan.server_client.digest);
  EXPECT_EQ(plan.server_client.user_name.view(), "bob");
  EXPECT_EQ(plan.server_client.password.view(), "bob-pass");
  ASSERT_TRUE(plan.server_package.enabled);
  EXPECT_FALSE(plan.server_package.identity.implicit);
  EXPECT_EQ(plan.server_package.identity.user_name, "bob");
  EXPECT_EQ(plan.server_package.identity.password.view(), "bob-pass");
  EXPECT_FALSE(plan.server_package.prefer_ntlm);
}

TEST(LoginPlanTest, ExplicitNegotiateComesBeforeExplicitNtlm) {
  JobCredentials c;
  Set(c, kServer, AuthScheme::kNtlm, "nt", "nt-pass");
  Set(c, kServer, AuthScheme::kNegotiate, "krb", "krb-pass");
  LoginPlan plan = PlanLogins(std::move(c), {}, false);
  EXPECT_EQ(plan.server_package.identity.user_name, "krb");
  EXPECT_FALSE(plan.server_package.identity.ntlm_only);
}

TEST(LoginPlanTest, CredentialsGivenForNtlmOnlyAnswerNtlm) {
  JobCredentials c;
  Set(c, kServer, AuthScheme::kNtlm, "nt", "nt-pass");
  LoginPlan plan = PlanLogins(std::move(c), {}, false);
  ASSERT_TRUE(plan.server_package.enabled);
  EXPECT_EQ(plan.server_package.identity.user_name, "nt");
  EXPECT_TRUE(plan.server_package.identity.ntlm_only);
  EXPECT_TRUE(plan.server_package.prefer_ntlm);
}

TEST(LoginPlanTest, ImplicitCredentialsAreTheOwnersLogon) {
  JobCredentials negotiate;
  SetImplicit(negotiate, kServer, AuthScheme::kNegotiate);
  LoginPlan plan = PlanLogins(std::move(negotiate), {}, false);
  ASSERT_TRUE(plan.server_package.enabled);
  EXPECT_TRUE(plan.server_package.identity.implicit);
  EXPECT_FALSE(plan.server_package.identity.ntlm_only);

  JobCredentials ntlm;
  SetImplicit(ntlm, kServer, AuthScheme::kNtlm);
  plan = PlanLogins(std::move(ntlm), {}, false);
  EXPECT_TRUE(plan.server_package.identity.implicit);
  EXPECT_TRUE(plan.server_package.identity.ntlm_only);
}

TEST(LoginPlanTest, ImplicitProxyCredentialsAlsoAnswerTheServer) {
  JobCredentials c;
  SetImplicit(c, kProxy, AuthScheme::kNegotiate);
  LoginPlan plan = PlanLogins(std::move(c), {}, false);
  EXPECT_TRUE(plan.proxy_package.enabled);
  EXPECT_TRUE(plan.proxy_package.identity.implicit);
  EXPECT_TRUE(plan.server_package.enabled);
  EXPECT_TRUE(plan.server_package.identity.implicit);
}

TEST(LoginPlanTest, ThePolicyDecidesForAServerWithoutPackageCredentials) {
  // Basic is no Negotiate/NTLM credential: the policy still applies.
  JobCredentials basic;
  Set(basic, kServer, AuthScheme::kBasic, "ann", "pw");
  LoginPlan allowed = PlanLogins(std::move(basic), {}, /*implicit_without_set_credentials=*/true);
  EXPECT_TRUE(allowed.server_package.identity.implicit);
  EXPECT_TRUE(allowed.server_client.basic);
  LoginPlan refused = PlanLogins({}, {}, /*implicit_without_set_credentials=*/false);
  EXPECT_FALSE(refused.server_package.enabled);
  // Explicit NTLM credentials are never replaced by the logon.
  JobCredentials ntlm;
  Set(ntlm, kServer, AuthScheme::kNtlm, "nt", "pw");
  LoginPlan explicit_wins = PlanLogins(std::move(ntlm), {}, true);
  EXPECT_FALSE(explicit_wins.server_package.identity.implicit);
}

TEST(LoginPlanTest, DigestAndBasicShareALoginOnlyWithTheSameUserAndPassword) {
  JobCredentials same;
  Set(same, kServer, AuthScheme::kDigest, "ann", "pw");
  Set(same, kServer, AuthScheme::kBasic, "ann", "pw");
  LoginPlan both = PlanLogins(std::move(same), {}, false);
  EXPECT_TRUE(both.server_client.digest);
  EXPECT_TRUE(both.server_client.basic);

  JobCredentials different;
  Set(different, kServer, AuthScheme::kDigest, "ann", "pw");
  Set(different, kServer, AuthScheme::kBasic, "bob", "pw2");
  LoginPlan digest_only = PlanLogins(std::move(different), {}, false);
  EXPECT_TRUE(digest_only.server_client.digest);
  EXPECT_FALSE(digest_only.server_client.basic);
  EXPECT_EQ(digest_only.server_client.user_name.view(), "ann");
}

TEST(LoginPlanTest, ProxyCredentialsStayWithTheProxy) {
  JobCredentials c;
  Set(c, kProxy, AuthScheme::kNtlm, "proxyuser", "proxypass");
  Set(c, kProxy, AuthScheme::kBasic, "proxyuser", "proxypass");
  LoginPlan plan = PlanLogins(std::move(c), {}, false);
  ASSERT_TRUE(plan.proxy_package.enabled);
  EXPECT_EQ(plan.proxy_package.identity.user_name, "proxyuser");
  EXPECT_TRUE(plan.proxy_package.identity.ntlm_only);
  EXPECT_TRUE(plan.proxy_client.basic);
  EXPECT_FALSE(plan.server_package.enabled);
  EXPECT_FALSE(plan.server_client.any());
}

}  // namespace
}  // namespace openbits::auth
