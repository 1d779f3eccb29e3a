// Copyright (c) openbits authors. Licensed under the Apache License 2.0.
//
// What a download request asks for, what the server answered, and whether
// the answer's bytes may be appended to the temporary file. Pure functions:
// the rules that protect a resumed file from mixed content live here and are
// unit-tested exhaustively.

#ifndef OPENBITS_ENGINE_HTTP_RESPONSE_H_
#define OPENBITS_ENGINE_HTTP_RESPONSE_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "openbits/status.h"
#include "openbits/types.h"

namespace openbits::engine {

// A parsed Content-Range value.
struct ContentRange {
  bool unsatisfied = false;  // "bytes */N"
  std::uint64_t first = 0;
  std::uint64_t last = 0;
  std::optional<std::uint64_t> complete_length;  // nullopt for "/*"
};

// Parses "bytes first-last/length", "bytes first-last/*" or "bytes */length".
// nullopt when malformed (including last < first, last >= length, overflow).
std::optional<ContentRange> ParseContentRange(std::string_view value);

// The headers of one response, fed line by line as curl delivers them. A new
// status line (an interim or redirect response) starts afresh.
class ResponseHeaders {
 public:
  void OnHeaderLine(std::string_view line);

  int status() const { return status_; }
  bool has_content_range() const { return has_content_range_; }
  // nullopt if absent or malformed; check content_range_malformed().
  const std::optional<ContentRange>& content_range() const { return content_range_; }
  bool content_range_malformed() const { return has_content_range_ && !content_range_; }
  std::optional<std::uint64_t> content_length() const { return content_length_; }
  const std::string& etag() const { return etag_; }
  const std::string& last_modified() const { return last_modified_; }
  bool accepts_byte_ranges() const { return accept_ranges_bytes_; }
  const std::string& content_encoding() const { return content_encoding_; }
  const std::string& content_type() const { return content_type_; }
  // The WWW-Authenticate values of this response, in order.
  const std::vector<std::string>& www_authenticate() const { return www_authenticate_; }
  // The Proxy-Authenticate values of this response, in order.
  const std::vector<std::string>& proxy_authenticate() const { return proxy_authenticate_; }
  // The Retry-After value as sent ("" when absent).
  const std::string& retry_after() const { return retry_after_; }

 private:
  void Reset(int status);
  int status_ = 0;
  bool has_content_range_ = false;
  std::optional<ContentRange> content_range_;
  std::optional<std::uint64_t> content_length_;
  std::string etag_;
  std::string last_modified_;
  bool accept_ranges_bytes_ = false;
  std::string content_encoding_;
  std::string content_type_;
  std::vector<std::string> www_authenticate_;
  std::vector<std::string> proxy_authenticate_;
  std::string retry_after_;
};

// True for an ETag usable in If-Range (not W/ weak).
bool IsStrongEtag(std::string_view etag);

// One GET of (part of) a file.
struct RequestPlan {
  bool send_range = true;           // false only for dynamic content
  std::uint64_t remote_offset = 0;  // first byte asked
  std::uint64_t length = kLengthToEof;
  bool whole_file = true;                    // the file is the whole remote file, not ranges
  std::uint64_t known_total = kSizeUnknown;  // remote size from earlier responses
  std::string stored_etag;                   // validators the local bytes came with
  std::string stored_last_modified;
  bool dynamic_content = false;

  // The If-Range value to send ("" for none): a strong ETag, else a
  // Last-Modified date, and only when resuming (remote_offset > 0 or ranges).
  std::string IfRange() const;
  // "bytes=first-" or "bytes=first-last".
  std::string RangeHeader() const;
};

enum class Verdict {
  kAppend,           // 206 as asked: write at the current offset
  kRestartWithBody,  // 200 full body: discard local bytes, write from 0
  kRestartRequest,   // the remote file changed: discard local bytes, ask again from 0
  kAlreadyComplete,  // 416 at exactly the end: nothing left to fetch
  kFail,
};

struct Decision {
  Verdict verdict = Verdict::kFail;
  // With kAppend/kRestartWithBody: the remote file's size if now known.
  std::uint64_t remote_total = kSizeUnknown;
  // How many body bytes this response must carry (kSizeUnknown: unknown).
  std::uint64_t expected_body = kSizeUnknown;
  // With kAppend: the body's first bytes, before the offset asked for, that
  // the file holds already (a Content-Range that starts earlier but covers
  // the offset): skipped, not written.
  std::uint64_t skip_bytes = 0;
  // With kFail:
  HResult error = 0;
  bool transient = false;
  std::string why;
};

// Decides what to do with the response to `plan`. Never trusts a body
// whose position in the remote file is not proven.
Decision DecideResponse(const RequestPlan& plan, const ResponseHeaders& response);

// HTTP statuses that are worth retrying (408, 429, 5xx but 501 and 505).
bool IsTransientHttpStatus(int status);

// Seconds to wait according to a Retry-After value: delay-seconds, or an
// HTTP-date (relative to `now`, Unix seconds). nullopt when malformed; a
// date in the past is 0.
std::optional<std::uint64_t> ParseRetryAfter(std::string_view value, std::int64_t now);

// The most a server's Retry-After may hold a job back: an hour.
inline constexpr std::uint64_t kMaxRetryAfterSeconds = 3600;

// The delay before retrying a job in TRANSIENT_ERROR: the job's
// MinimumRetryDelay, or the server's Retry-After when that is longer, but
// never more than kMaxRetryAfterSeconds on the server's word alone.
std::uint64_t RetryDelaySeconds(std::uint64_t minimum_retry_delay,
                                std::optional<std::uint64_t> retry_after);

// --- Ranges of AddFileWithRanges -------------------------------------------

// BITS's MaxRangesPerFile default.
inline constexpr std::size_t kMaxRangesPerFile = 500;

// Checks a range list: not empty, no zero length, at most kMaxRangesPerFile,
// no two ranges overlapping (a zero-length range never occurs, so equal
// offsets always overlap).
Status ValidateRanges(const std::vector<FileRange>& ranges);

// The next request for a file given how many bytes are already local.
// `ranges` empty means the whole file. nullopt when the file is complete.
// REQUIRES: remote_total known if a range before the current one runs to EOF.
struct RangeCursor {
  std::uint64_t remote_offset;
  std::uint64_t length;  // kLengthToEof allowed
  bool whole_file;
};
std::optional<RangeCursor> NextRange(const std::vector<FileRange>& ranges,
                                     std::uint64_t local_bytes, std::uint64_t remote_total);

// Size of the local file once complete: the remote size for a whole file,
// the sum of the range lengths otherwise (kSizeUnknown if not yet known).
std::uint64_t LocalTotal(const std::vector<FileRange>& ranges, std::uint64_t remote_total);

}  // namespace openbits::engine

#endif  // OPENBITS_ENGINE_HTTP_RESPONSE_H_
