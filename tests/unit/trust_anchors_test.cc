// Copyright (c) openbits authors. Licensed under the Apache License 2.0.

#include <unistd.h>

#include <fstream>
#include <string>
#include <sys/stat.h>

#include <gtest/gtest.h>

#include "engine/tls_session.h"
#include "tests/support/test_support.h"

namespace openbits::engine {
namespace {

std::string Contents(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

TEST(TrustAnchorsTest, OneFilePerContentWrittenWholeAndRepairedWhenCut) {
  testing::TempDir state;
  const std::string directory = state / "trust";
  const std::string a = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
  const std::string b = a + a;

  auto first = PublishTrustAnchors(directory, a);
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  EXPECT_EQ(Contents(*first), a);
  struct stat st {};
  ASSERT_EQ(::stat(directory.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);

  // The same anchors: the same file, not written again.
  struct stat before {};
  ASSERT_EQ(::stat(first->c_str(), &before), 0);
  auto again = PublishTrustAnchors(directory, a);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again, *first);
  struct stat after {};
  ASSERT_EQ(::stat(again->c_str(), &after), 0);
  EXPECT_EQ(after.st_ino, before.st_ino);

  // Other anchors: another file; the first stays for the jobs using it.
  auto other = PublishTrustAnchors(directory, b);
  ASSERT_TRUE(other.ok());
  EXPECT_NE(*other, *first);
  EXPECT_EQ(Contents(*other), b);
  EXPECT_EQ(Contents(*first), a);

  // A file a crash cut short is written again; no temporary file is left.
  ASSERT_EQ(::truncate(first->c_str(), 10), 0);
  auto repaired = PublishTrustAnchors(directory, a);
  ASSERT_TRUE(repaired.ok());
  EXPECT_EQ(Contents(*repaired), a);
  EXPECT_EQ(testing::ListDirectory(directory).size(), 2u);
}

}  // namespace
}  // namespace openbits::engine
