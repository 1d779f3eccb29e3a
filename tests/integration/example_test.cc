// Copyright (c) openbits authors. Licensed under the Apache License 2.0.
//
// Builds on examples/download_three_files.cc: runs it against a real nginx
// and checks what it downloaded.

#include <gtest/gtest.h>

#include "tests/support/test_support.h"

namespace openbits {
namespace {

TEST(ExampleTest, DownloadsThreeFilesWithProgress) {
  testing::NginxServer server;
  ASSERT_TRUE(server.ok()) << server.error();
  const std::string a = testing::WriteTestFile(server.root() + "/a.bin", 20 << 20, 1);
  const std::string b = testing::WriteTestFile(server.root() + "/b.bin", 12345, 2);
  const std::string c = testing::WriteTestFile(server.root() + "/c.bin", 1, 3);
  testing::TempDir state;
  testing::TempDir dest;
  std::string output;
  const int rc =
      testing::RunProgram({OPENBITS_EXAMPLE, state / "q", dest.path(), server.Url("/a.bin"),
                           server.Url("/b.bin"), server.Url("/c.bin")},
                          &output);
  ASSERT_EQ(rc, 0) << output;
  EXPECT_NE(output.find("TRANSFERRING"), std::string::npos) << output;
  EXPECT_NE(output.find("completed 3 file(s), 20983866 bytes: OK"), std::string::npos) << output;
  EXPECT_EQ(testing::Sha256OfFile(dest / "a.bin"), a);
  EXPECT_EQ(testing::Sha256OfFile(dest / "b.bin"), b);
  EXPECT_EQ(testing::Sha256OfFile(dest / "c.bin"), c);
}

}  // namespace
}  // namespace openbits
