// Copyright (c) openbits authors. Licensed under the Apache License 2.0.

#include "engine/notify_command.h"

#include <gtest/gtest.h>

#include "openbits/hresult.h"

namespace openbits::engine {
namespace {

TEST(NotifyCommandTest, SplitsLikeACommandLineWithoutAShell) {
  auto args = SplitCommandLine(R"(sh -c "echo 'a b' > \"f\"" $HOME  ;)");
  ASSERT_TRUE(args.ok());
  EXPECT_EQ(*args, (std::vector<std::string>{"sh", "-c", R"(echo 'a b' > "f")", "$HOME", ";"}));
  EXPECT_EQ(*SplitCommandLine(R"(prog "" x)"), (std::vector<std::string>{"prog", "", "x"}));
  EXPECT_TRUE(SplitCommandLine("  ")->empty());
  EXPECT_EQ(SplitCommandLine(R"(prog "open)").status().code(), kEInvalidArg);
}

TEST(NotifyCommandTest, FollowsBitsRules) {
  EXPECT_TRUE(ValidateNotifyCommand("", "").ok());  // removes
  EXPECT_TRUE(ValidateNotifyCommand("/bin/sh", "").ok());
  EXPECT_TRUE(ValidateNotifyCommand("/bin/sh", "sh -c true").ok());
  EXPECT_TRUE(ValidateNotifyCommand("/bin/sh", "/bin/sh -c true").ok());
  EXPECT_EQ(ValidateNotifyCommand("sh", "sh").code(), kEInvalidArg);  // not absolute
  EXPECT_EQ(ValidateNotifyCommand("/bin/sh", "bash -c true").code(), kEInvalidArg);
  EXPECT_EQ(ValidateNotifyCommand("", "sh").code(), kEInvalidArg);
  EXPECT_EQ(ValidateNotifyCommand("/bin/sh", "sh\n-c").code(), kEInvalidArg);
  EXPECT_EQ(ValidateNotifyCommand("/bin/sh", "sh " + std::string(4000, 'x')).code(),
            kBgEStringTooLong);
}

}  // namespace
}  // namespace openbits::engine
