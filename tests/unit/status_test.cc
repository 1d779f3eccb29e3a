// Copyright (c) openbits authors. Licensed under the Apache License 2.0.

#include "openbits/status.h"

#include <gtest/gtest.h>

#include "openbits/hresult.h"
#include "openbits/types.h"

namespace openbits {
namespace {

TEST(StatusTest, DefaultIsOk) {
  Status s;
  EXPECT_TRUE(s.ok());
  EXPECT_EQ(s.code(), 0);
  EXPECT_EQ(s.ToString(), "OK");
}

TEST(StatusTest, SuccessCodesOtherThanZeroAreOk) {
  Status partial(kBgSPartialComplete, "some files were incomplete");
  EXPECT_TRUE(partial.ok());
  EXPECT_EQ(partial.code(), 0x00200017);
}

TEST(StatusTest, FailureCarriesCodeNameAndMessage) {
  Status s(kBgEEmpty, "the job has no files");
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(static_cast<std::uint32_t>(s.code()), 0x80200003u);
  EXPECT_EQ(s.ToString(), "0x80200003 BG_E_EMPTY: the job has no files");
}

TEST(StatusTest, HttpErrorCodesAre0x8019PlusStatus) {
  EXPECT_EQ(static_cast<std::uint32_t>(HttpErrorCode(404)), 0x80190194u);
  EXPECT_EQ(static_cast<std::uint32_t>(HttpErrorCode(503)), 0x801901F7u);
  EXPECT_EQ(HttpStatusOf(HttpErrorCode(416)), 416);
  EXPECT_EQ(HttpStatusOf(kBgEEmpty), 0);
  EXPECT_EQ(ErrorName(HttpErrorCode(404)), "BG_E_HTTP_ERROR_404");
  EXPECT_EQ(ErrorDescription(HttpErrorCode(404)),
            "The requested URL does not exist on the server.");
}

TEST(StatusTest, BitsCodesHaveTheirWindowsValues) {
  EXPECT_EQ(static_cast<std::uint32_t>(kBgENotFound), 0x80200001u);
  EXPECT_EQ(static_cast<std::uint32_t>(kBgEInvalidState), 0x80200002u);
  EXPECT_EQ(static_cast<std::uint32_t>(kBgEInsufficientRangeSupport), 0x80200013u);
  EXPECT_EQ(static_cast<std::uint32_t>(kBgEErrorInformationUnavailable), 0x8020000Fu);
  EXPECT_EQ(static_cast<std::uint32_t>(kBgEMaxDownloadTimeout), 0x80200054u);
  EXPECT_EQ(static_cast<std::uint32_t>(kWinHttpClientAuthCertNeeded), 0x80072F0Cu);
  EXPECT_EQ(FormatHResult(kBgEEmpty), "0x80200003");
  EXPECT_EQ(ErrorName(kBgEInvalidState), "BG_E_INVALID_STATE");
  EXPECT_NE(ErrorDescription(static_cast<HResult>(0x80201234)).find("0x80201234"),
            std::string::npos);
}

TEST(ResultTest, HoldsValueOrError) {
  Result<int> good(7);
  ASSERT_TRUE(good.ok());
  EXPECT_EQ(*good, 7);
  Result<int> bad(Status(kEInvalidArg, "nope"));
  EXPECT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), kEInvalidArg);
  EXPECT_EQ(bad.value_or(3), 3);
}

TEST(ResultTest, AnOkStatusWithoutValueIsAnError) {
  Result<int> weird{Status::Ok()};
  EXPECT_FALSE(weird.ok());
  EXPECT_FALSE(weird.status().ok());
}

TEST(NamesTest, StatesPrintAsBitsadminDoes) {
  EXPECT_EQ(JobStateName(JobState::kTransientError), "TRANSIENT_ERROR");
  EXPECT_EQ(JobStateName(JobState::kCancelled), "CANCELED");
  EXPECT_EQ(JobPriorityName(JobPriority::kForeground), "FOREGROUND");
  EXPECT_EQ(JobTypeName(JobType::kDownload), "DOWNLOAD");
  EXPECT_EQ(static_cast<int>(JobState::kSuspended), 3);
  EXPECT_EQ(ErrorContextDescription(ErrorContext::kRemoteFile),
            "The error occurred while the remote file was being processed.");
}

TEST(GuidTest, RoundTripsThroughText) {
  Guid g = Guid::Generate();
  std::string text = g.ToString();
  ASSERT_EQ(text.size(), 38u);
  EXPECT_EQ(text.front(), '{');
  EXPECT_EQ(text[9], '-');
  auto parsed = Guid::Parse(text);
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(*parsed, g);
  auto lower = Guid::Parse("6af46e48-41d3-453f-b7af-a694bbc823f7");
  ASSERT_TRUE(lower.ok());
  EXPECT_EQ(lower->ToString(), "{6AF46E48-41D3-453F-B7AF-A694BBC823F7}");
}

TEST(GuidTest, GeneratedIdsAreVersion4AndDistinct) {
  Guid a = Guid::Generate();
  Guid b = Guid::Generate();
  EXPECT_NE(a, b);
  EXPECT_EQ(a.bytes[6] >> 4, 4);
  EXPECT_EQ(a.bytes[8] & 0xC0, 0x80);
}

TEST(GuidTest, RejectsMalformedText) {
  for (const char* bad :
       {"", "{}", "6af46e48-41d3-453f-b7af-a694bbc823f", "{6af46e48x41d3-453f-b7af-a694bbc823f7}",
        "6af46e48-41d3-453f-b7af-a694bbc823fz", "job1"}) {
    EXPECT_FALSE(Guid::Parse(bad).ok()) << bad;
  }
}

}  // namespace
}  // namespace openbits
