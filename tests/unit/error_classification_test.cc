// Copyright (c) openbits authors. Licensed under the Apache License 2.0.
//
// Transient versus fatal, per bits-api.md §4.

#include <gtest/gtest.h>

#include "openbits/hresult.h"

#include "engine/file_transfer.h"

namespace openbits::engine {
namespace {

TEST(ErrorClassificationTest, NetworkTroubleIsTransient) {
  for (CURLcode code : {CURLE_COULDNT_CONNECT, CURLE_COULDNT_RESOLVE_HOST, CURLE_OPERATION_TIMEDOUT,
                        CURLE_RECV_ERROR, CURLE_SEND_ERROR, CURLE_GOT_NOTHING, CURLE_PARTIAL_FILE,
                        CURLE_HTTP2_STREAM, CURLE_SSL_CONNECT_ERROR}) {
    TransferOutcome o = ClassifyCurlError(code, "detail");
    EXPECT_TRUE(o.transient) << curl_easy_strerror(code);
    EXPECT_EQ(o.context, ErrorContext::kGeneralTransport);
    EXPECT_NE(o.why.find("detail"), std::string::npos);
  }
  EXPECT_EQ(ClassifyCurlError(CURLE_COULDNT_CONNECT, "").error, kWinHttpCannotConnect);
  EXPECT_EQ(ClassifyCurlError(CURLE_COULDNT_RESOLVE_HOST, "").error, kWinHttpNameNotResolved);
  EXPECT_EQ(ClassifyCurlError(CURLE_OPERATION_TIMEDOUT, "").error, kWinHttpTimeout);
  EXPECT_EQ(ClassifyCurlError(CURLE_RECV_ERROR, "").error, kWinHttpConnectionError);
}

TEST(ErrorClassificationTest, ProtocolAndTrustFailuresAreFatal) {
  EXPECT_FALSE(ClassifyCurlError(CURLE_UNSUPPORTED_PROTOCOL, "").transient);
  EXPECT_EQ(ClassifyCurlError(CURLE_UNSUPPORTED_PROTOCOL, "").error, kWinHttpUnrecognizedScheme);
  EXPECT_FALSE(ClassifyCurlError(CURLE_TOO_MANY_REDIRECTS, "").transient);
  EXPECT_EQ(ClassifyCurlError(CURLE_TOO_MANY_REDIRECTS, "").error, kWinHttpRedirectFailed);
  EXPECT_FALSE(ClassifyCurlError(CURLE_PEER_FAILED_VERIFICATION, "").transient);
  EXPECT_EQ(ClassifyCurlError(CURLE_PEER_FAILED_VERIFICATION, "").error, kWinHttpSecureFailure);
}

TEST(ErrorClassificationTest, LocalProblemsThatClearUpAreTransient) {
  TransferOutcome full = LocalFileFailure(Status(kEDiskFull, "write: No space left on device"));
  EXPECT_TRUE(full.transient);
  EXPECT_EQ(full.context, ErrorContext::kLocalFile);
  EXPECT_EQ(full.error, kEDiskFull);
  TransferOutcome denied = LocalFileFailure(Status(kEAccessDenied, "open: Permission denied"));
  EXPECT_FALSE(denied.transient);
  EXPECT_FALSE(LocalFileFailure(Status(kEPathNotFound, "gone")).transient);
}

// Not an error class, but the same header: the receive buffer a file gets.
TEST(ReceiveBufferTest, KnownSizeDecidesElseTheJobsLastFile) {
  EXPECT_EQ(ReceiveBufferFor(16 * 1024, false), kSmallReceiveBuffer);
  EXPECT_EQ(ReceiveBufferFor(kSmallFileBytes, false), kSmallReceiveBuffer);
  EXPECT_EQ(ReceiveBufferFor(kSmallFileBytes + 1, true), kLargeReceiveBuffer);
  EXPECT_EQ(ReceiveBufferFor(std::uint64_t{1} << 30, true), kLargeReceiveBuffer);
  EXPECT_EQ(ReceiveBufferFor(kSizeUnknown, false), kLargeReceiveBuffer);
  EXPECT_EQ(ReceiveBufferFor(kSizeUnknown, true), kSmallReceiveBuffer);
}

}  // namespace
}  // namespace openbits::engine
