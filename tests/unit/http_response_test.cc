// Copyright (c) openbits authors. Licensed under the Apache License 2.0.
//
// The rules that keep a resumed file from mixing content of two versions.

#include "engine/http_response.h"

#include <initializer_list>

#include <gtest/gtest.h>

#include "openbits/hresult.h"

namespace openbits::engine {
namespace {

ResponseHeaders Response(std::initializer_list<const char*> lines) {
  ResponseHeaders r;
  for (const char* line : lines) r.OnHeaderLine(std::string(line) + "\r\n");
  return r;
}

RequestPlan Fresh() { return RequestPlan{}; }

RequestPlan Resume(std::uint64_t offset, std::uint64_t total, const char* etag) {
  RequestPlan p;
  p.remote_offset = offset;
  p.known_total = total;
  p.stored_etag = etag;
  return p;
}

TEST(ContentRangeTest, ParsesTheThreeForms) {
  auto a = ParseContentRange("bytes 100-199/1000");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->first, 100u);
  EXPECT_EQ(a->last, 199u);
  EXPECT_EQ(*a->complete_length, 1000u);
  auto b = ParseContentRange("bytes 0-9/*");
  ASSERT_TRUE(b);
  EXPECT_FALSE(b->complete_length);
  auto c = ParseContentRange("bytes */1073741824");
  ASSERT_TRUE(c);
  EXPECT_TRUE(c->unsatisfied);
  EXPECT_EQ(*c->complete_length, 1073741824u);
}

TEST(ContentRangeTest, RejectsLies) {
  for (const char* bad : {"", "bytes", "bytes 5-4/10", "bytes 0-10/10", "bytes 0-9/x",
                          "items 0-9/10", "bytes -1-9/10", "bytes 0-99999999999999999999999/1",
                          "bytes */*", "bytes 1-2", "bytes  a-b/3"}) {
    EXPECT_FALSE(ParseContentRange(bad)) << bad;
  }
}

TEST(ResponseHeadersTest, ARedirectOrInterimResponseStartsAfresh) {
  ResponseHeaders r = Response({"HTTP/1.1 302 Found", "Location: /x", "Content-Length: 5",
                                "ETag: \"old\"", "", "HTTP/1.1 206 Partial Content",
                                "Content-Range: bytes 0-9/10", "Content-Length: 10"});
  EXPECT_EQ(r.status(), 206);
  EXPECT_EQ(r.etag(), "");
  EXPECT_EQ(*r.content_length(), 10u);
}

TEST(ResponseHeadersTest, ReadsHttp2StatusLinesAndCaseInsensitiveNames) {
  ResponseHeaders r =
      Response({"HTTP/2 206", "content-range: bytes 1-2/3", "etag: \"e\"", "accept-ranges: bytes",
                "last-modified: Tue, 01 Jan 2030 00:00:00 GMT"});
  EXPECT_EQ(r.status(), 206);
  EXPECT_TRUE(r.content_range());
  EXPECT_EQ(r.etag(), "\"e\"");
  EXPECT_TRUE(r.accepts_byte_ranges());
  EXPECT_EQ(r.last_modified(), "Tue, 01 Jan 2030 00:00:00 GMT");
}

TEST(RequestPlanTest, IfRangeOnlyWhenResumingWithAStrongValidator) {
  EXPECT_EQ(Fresh().IfRange(), "");
  EXPECT_EQ(Resume(10, 100, "\"abc\"").IfRange(), "\"abc\"");
  RequestPlan weak = Resume(10, 100, "W/\"abc\"");
  EXPECT_EQ(weak.IfRange(), "");
  weak.stored_last_modified = "Tue, 01 Jan 2030 00:00:00 GMT";
  EXPECT_EQ(weak.IfRange(), "Tue, 01 Jan 2030 00:00:00 GMT");
  EXPECT_EQ(Resume(10, 100, "\"a\"").RangeHeader(), "bytes=10-");
  RequestPlan bounded;
  bounded.remote_offset = 5;
  bounded.length = 10;
  EXPECT_EQ(bounded.RangeHeader(), "bytes=5-14");
}

TEST(DecideTest, A206AsAskedIsAppended) {
  Decision d =
      DecideResponse(Resume(100, 1000, "\"v1\""),
                     Response({"HTTP/1.1 206 Partial Content", "ETag: \"v1\"",
                               "Content-Range: bytes 100-999/1000", "Content-Length: 900"}));
  EXPECT_EQ(d.verdict, Verdict::kAppend);
  EXPECT_EQ(d.remote_total, 1000u);
  EXPECT_EQ(d.expected_body, 900u);
}

TEST(DecideTest, AContentRangeThatMissesTheOffsetIsAnErrorNotData) {
  // Starting after the byte asked for would leave a hole; ending before it
  // carries nothing of what was asked.
  for (const char* range :
       {"Content-Range: bytes 200-999/1000", "Content-Range: bytes 0-99/1000"}) {
    Decision d = DecideResponse(Resume(100, 1000, "\"v1\""),
                                Response({"HTTP/1.1 206", "ETag: \"v1\"", range}));
    EXPECT_EQ(d.verdict, Verdict::kFail) << range;
    EXPECT_EQ(d.error, kBgEInvalidServerResponse) << range;
    EXPECT_TRUE(d.transient) << range;
  }
}

TEST(DecideTest, AContentRangeThatStartsEarlierButCoversTheOffsetSkipsTheOverlap) {
  // Honest bytes placed by the header: the 100 already held are skipped.
  Decision d =
      DecideResponse(Resume(100, 1000, "\"v1\""),
                     Response({"HTTP/1.1 206", "ETag: \"v1\"", "Content-Range: bytes 0-999/1000",
                               "Content-Length: 1000"}));
  EXPECT_EQ(d.verdict, Verdict::kAppend);
  EXPECT_EQ(d.skip_bytes, 100u);
  EXPECT_EQ(d.expected_body, 1000u);
  EXPECT_EQ(d.remote_total, 1000u);
  Decision exact = DecideResponse(
      Resume(100, 1000, "\"v1\""),
      Response({"HTTP/1.1 206", "ETag: \"v1\"", "Content-Range: bytes 100-999/1000"}));
  EXPECT_EQ(exact.skip_bytes, 0u);
}

TEST(DecideTest, A206WithoutOrWithAMalformedContentRangeIsAnError) {
  EXPECT_EQ(DecideResponse(Resume(100, 1000, "\"v1\""), Response({"HTTP/1.1 206"})).error,
            kBgEInvalidServerResponse);
  EXPECT_EQ(DecideResponse(Resume(100, 1000, "\"v1\""),
                           Response({"HTTP/1.1 206", "Content-Range: bytes 100-99/1000"}))
                .error,
            kBgEInvalidServerResponse);
}

TEST(DecideTest, ContentLengthDisagreeingWithContentRangeIsAnError) {
  Decision d =
      DecideResponse(Resume(100, 1000, "\"v1\""),
                     Response({"HTTP/1.1 206", "ETag: \"v1\"", "Content-Range: bytes 100-999/1000",
                               "Content-Length: 10"}));
  EXPECT_EQ(d.error, kBgEInvalidServerResponse);
}

TEST(DecideTest, AChangedEtagOnA206RestartsTheFile) {
  Decision d = DecideResponse(
      Resume(100, 1000, "\"v1\""),
      Response({"HTTP/1.1 206", "ETag: \"v2\"", "Content-Range: bytes 100-999/1000"}));
  EXPECT_EQ(d.verdict, Verdict::kRestartRequest);
}

TEST(DecideTest, AChangedSizeRestartsTheFile) {
  Decision d = DecideResponse(Resume(100, 1000, ""),
                              Response({"HTTP/1.1 206", "Content-Range: bytes 100-1999/2000"}));
  EXPECT_EQ(d.verdict, Verdict::kRestartRequest);
}

TEST(DecideTest, A200ToAResumeRestartsWithItsBody) {
  Decision d =
      DecideResponse(Resume(100, 1000, "\"v1\""),
                     Response({"HTTP/1.1 200 OK", "ETag: \"v2\"", "Content-Length: 1200"}));
  EXPECT_EQ(d.verdict, Verdict::kRestartWithBody);
  EXPECT_EQ(d.remote_total, 1200u);
  EXPECT_EQ(d.expected_body, 1200u);
}

TEST(DecideTest, A200ToTheFirstRequestNeedsRangeSupportOrDynamicContent) {
  ResponseHeaders no_ranges = Response({"HTTP/1.1 200 OK", "Content-Length: 10"});
  Decision d = DecideResponse(Fresh(), no_ranges);
  EXPECT_EQ(d.verdict, Verdict::kFail);
  EXPECT_EQ(d.error, kBgEInsufficientRangeSupport);
  EXPECT_FALSE(d.transient);

  ResponseHeaders announced =
      Response({"HTTP/1.1 200 OK", "Content-Length: 10", "Accept-Ranges: bytes"});
  EXPECT_EQ(DecideResponse(Fresh(), announced).verdict, Verdict::kRestartWithBody);

  RequestPlan dynamic;
  dynamic.dynamic_content = true;
  dynamic.send_range = false;
  EXPECT_EQ(DecideResponse(dynamic, Response({"HTTP/1.1 200 OK"})).verdict,
            Verdict::kRestartWithBody);
}

TEST(DecideTest, NoSizeIsBgEMissingFileSize) {
  Decision d = DecideResponse(Resume(5, kSizeUnknown, ""),
                              Response({"HTTP/1.1 200 OK", "Accept-Ranges: bytes"}));
  EXPECT_EQ(d.error, kBgEMissingFileSize);
  Decision star = DecideResponse(Fresh(), Response({"HTTP/1.1 206", "Content-Range: bytes 0-9/*"}));
  EXPECT_EQ(star.error, kBgEMissingFileSize);
}

TEST(DecideTest, A416AtTheEndMeansTheFileIsComplete) {
  Decision d =
      DecideResponse(Resume(1000, 1000, "\"v1\""),
                     Response({"HTTP/1.1 416", "ETag: \"v1\"", "Content-Range: bytes */1000"}));
  EXPECT_EQ(d.verdict, Verdict::kAlreadyComplete);
  Decision shrank = DecideResponse(Resume(1000, 1000, ""),
                                   Response({"HTTP/1.1 416", "Content-Range: bytes */500"}));
  EXPECT_EQ(shrank.verdict, Verdict::kRestartRequest);
}

TEST(DecideTest, HttpErrorsCarryTheirStatusAndRetryClass) {
  Decision nf = DecideResponse(Fresh(), Response({"HTTP/1.1 404 Not Found"}));
  EXPECT_EQ(nf.error, HttpErrorCode(404));
  EXPECT_FALSE(nf.transient);
  Decision busy = DecideResponse(Fresh(), Response({"HTTP/1.1 503 Service Unavailable"}));
  EXPECT_EQ(busy.error, HttpErrorCode(503));
  EXPECT_TRUE(busy.transient);
  EXPECT_FALSE(IsTransientHttpStatus(501));
  EXPECT_FALSE(IsTransientHttpStatus(505));
  EXPECT_TRUE(IsTransientHttpStatus(429));
  EXPECT_TRUE(IsTransientHttpStatus(408));
  EXPECT_FALSE(IsTransientHttpStatus(401));
}

TEST(DecideTest, AnEncodedBodyIsNotTakenAsFileBytes) {
  Decision d = DecideResponse(
      Fresh(), Response({"HTTP/1.1 206", "Content-Encoding: gzip", "Content-Range: bytes 0-9/10"}));
  EXPECT_EQ(d.error, kBgEInvalidServerResponse);
}

TEST(DecideTest, RangesBeyondTheEndFailWithInvalidRange) {
  RequestPlan p;
  p.whole_file = false;
  p.remote_offset = 900;
  p.length = 200;
  Decision d = DecideResponse(p, Response({"HTTP/1.1 206", "Content-Range: bytes 900-999/1000"}));
  EXPECT_EQ(d.error, kBgEInvalidRange);
  Decision past = DecideResponse(p, Response({"HTTP/1.1 416", "Content-Range: bytes */800"}));
  EXPECT_EQ(past.error, kBgEInvalidRange);
  Decision ignored = DecideResponse(p, Response({"HTTP/1.1 200", "Content-Length: 1000"}));
  EXPECT_EQ(ignored.error, kBgEInsufficientRangeSupport);
}

TEST(DecideTest, AFailedIfRangeOnARangedFileRestartsItsRanges) {
  RequestPlan p;
  p.whole_file = false;
  p.remote_offset = 5000;
  p.length = 100;
  p.stored_etag = "\"v1\"";
  // The server sends the whole new version: the ranges are fetched again.
  Decision changed =
      DecideResponse(p, Response({"HTTP/1.1 200 OK", "Content-Length: 9000", "ETag: \"v2\""}));
  EXPECT_EQ(changed.verdict, Verdict::kRestartRequest);
  // The same validator: the server just ignores ranges.
  Decision same =
      DecideResponse(p, Response({"HTTP/1.1 200 OK", "Content-Length: 9000", "ETag: \"v1\""}));
  EXPECT_EQ(same.error, kBgEInsufficientRangeSupport);
}

TEST(RangesTest, ValidationFollowsBits) {
  EXPECT_TRUE(ValidateRanges({{0, 100}, {2000, 100}, {5000, kLengthToEof}}).ok());
  EXPECT_EQ(ValidateRanges({}).code(), kBgEInvalidRange);
  EXPECT_EQ(ValidateRanges({{0, 0}}).code(), kBgEInvalidRange);
  EXPECT_EQ(ValidateRanges({{0, 100}, {50, 10}}).code(), kBgEOverlappingRanges);
  EXPECT_EQ(ValidateRanges({{100, kLengthToEof}, {200, 5}}).code(), kBgEOverlappingRanges);
  std::vector<FileRange> many(kMaxRangesPerFile + 1);
  for (std::size_t i = 0; i < many.size(); ++i) many[i] = {i * 10, 5};
  EXPECT_EQ(ValidateRanges(many).code(), kBgETooManyRangesInFile);
}

TEST(RangesTest, NextRangeWalksTheListInOrder) {
  std::vector<FileRange> r = {{1000, 10}, {0, 5}, {2000, kLengthToEof}};
  auto first = NextRange(r, 0, kSizeUnknown);
  ASSERT_TRUE(first);
  EXPECT_EQ(first->remote_offset, 1000u);
  EXPECT_EQ(first->length, 10u);
  auto mid = NextRange(r, 12, kSizeUnknown);
  ASSERT_TRUE(mid);
  EXPECT_EQ(mid->remote_offset, 2u);
  EXPECT_EQ(mid->length, 3u);
  auto tail = NextRange(r, 15, kSizeUnknown);
  ASSERT_TRUE(tail);
  EXPECT_EQ(tail->remote_offset, 2000u);
  EXPECT_EQ(tail->length, kLengthToEof);
  EXPECT_FALSE(NextRange(r, 15 + 500, 2500));
  EXPECT_EQ(LocalTotal(r, 2500), 515u);
  EXPECT_EQ(LocalTotal(r, kSizeUnknown), kSizeUnknown);
}

TEST(RangesTest, AWholeFileIsOneOpenRange) {
  auto c = NextRange({}, 42, kSizeUnknown);
  ASSERT_TRUE(c);
  EXPECT_TRUE(c->whole_file);
  EXPECT_EQ(c->remote_offset, 42u);
  EXPECT_FALSE(NextRange({}, 100, 100));
}

TEST(RetryAfterTest, SecondsAndDatesAreParsedAndBounded) {
  const std::int64_t now = 1700000000;  // 2023-11-14T22:13:20Z
  EXPECT_EQ(ParseRetryAfter("120", now), 120u);
  EXPECT_EQ(ParseRetryAfter(" 0 ", now), 0u);
  EXPECT_EQ(ParseRetryAfter("Tue, 14 Nov 2023 22:15:20 GMT", now), 120u);
  EXPECT_EQ(ParseRetryAfter("Tue, 14 Nov 2023 20:00:00 GMT", now), 0u);  // in the past
  EXPECT_FALSE(ParseRetryAfter("soon", now).has_value());
  EXPECT_FALSE(ParseRetryAfter("", now).has_value());
  EXPECT_FALSE(ParseRetryAfter("-5", now).has_value());
  // An absurd number is not an error, and is capped by RetryDelaySeconds.
  const auto huge = ParseRetryAfter("99999999999999999999999", now);
  ASSERT_TRUE(huge.has_value());
  EXPECT_EQ(RetryDelaySeconds(600, huge), kMaxRetryAfterSeconds);
  EXPECT_EQ(RetryDelaySeconds(600, std::nullopt), 600u);
  EXPECT_EQ(RetryDelaySeconds(600, 30), 600u);    // never sooner than the job allows
  EXPECT_EQ(RetryDelaySeconds(5, 30), 30u);       // later when the server asks
  EXPECT_EQ(RetryDelaySeconds(7200, 30), 7200u);  // the job's own delay is not capped
}

TEST(ResponseHeadersTest, RetryAfterIsKept) {
  ResponseHeaders h;
  h.OnHeaderLine("HTTP/1.1 503 Service Unavailable\r\n");
  h.OnHeaderLine("Retry-After: 30\r\n");
  EXPECT_EQ(h.retry_after(), "30");
  h.OnHeaderLine("HTTP/1.1 200 OK\r\n");
  EXPECT_EQ(h.retry_after(), "");
}

}  // namespace
}  // namespace openbits::engine
