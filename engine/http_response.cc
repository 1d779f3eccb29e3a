// Copyright (c) openbits authors. Licensed under the Apache License 2.0.

#include "engine/http_response.h"

#include <algorithm>
#include <cctype>
#include <charconv>

#include <curl/curl.h>

#include "openbits/hresult.h"

namespace openbits::engine {
namespace {

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() &&
         (s.back() == ' ' || s.back() == '\t' || s.back() == '\r' || s.back() == '\n')) {
    s.remove_suffix(1);
  }
  return s;
}

bool IEquals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

bool ParseU64(std::string_view s, std::uint64_t* out) {
  if (s.empty() || s.size() > 20) return false;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
  }
  return std::from_chars(s.data(), s.data() + s.size(), *out).ec == std::errc();
}

Decision Fail(HResult error, bool transient, std::string why) {
  Decision d;
  d.verdict = Verdict::kFail;
  d.error = error;
  d.transient = transient;
  d.why = std::move(why);
  return d;
}

Decision Invalid(std::string why) {
  return Fail(kBgEInvalidServerResponse, /*transient=*/true, std::move(why));
}

bool IsIdentityEncoding(std::string_view encoding) {
  return encoding.empty() || IEquals(encoding, "identity");
}

std::string U(std::uint64_t v) { return std::to_string(v); }

}  // namespace

std::optional<ContentRange> ParseContentRange(std::string_view value) {
  value = Trim(value);
  if (value.size() < 6 || !IEquals(value.substr(0, 5), "bytes") || value[5] != ' ') {
    return std::nullopt;
  }
  value = Trim(value.substr(6));
  const auto slash = value.find('/');
  if (slash == std::string_view::npos) return std::nullopt;
  std::string_view range = value.substr(0, slash);
  std::string_view length = value.substr(slash + 1);
  ContentRange cr;
  if (length != "*") {
    std::uint64_t n = 0;
    if (!ParseU64(length, &n)) return std::nullopt;
    cr.complete_length = n;
  }
  if (range == "*") {
    if (!cr.complete_length) return std::nullopt;
    cr.unsatisfied = true;
    return cr;
  }
  const auto dash = range.find('-');
  if (dash == std::string_view::npos) return std::nullopt;
  if (!ParseU64(range.substr(0, dash), &cr.first) || !ParseU64(range.substr(dash + 1), &cr.last)) {
    return std::nullopt;
  }
  if (cr.last < cr.first) return std::nullopt;
  if (cr.complete_length && cr.last >= *cr.complete_length) return std::nullopt;
  return cr;
}

void ResponseHeaders::Reset(int status) {
  *this = ResponseHeaders();
  status_ = status;
}

void ResponseHeaders::OnHeaderLine(std::string_view line) {
  line = Trim(line);
  if (line.size() >= 5 && line.substr(0, 5) == "HTTP/") {
    // "HTTP/1.1 206 Partial Content", "HTTP/2 200"
    const auto sp = line.find(' ');
    int status = 0;
    if (sp != std::string_view::npos && line.size() >= sp + 4) {
      std::from_chars(line.data() + sp + 1, line.data() + sp + 4, status);
    }
    Reset(status);
    return;
  }
  const auto colon = line.find(':');
  if (colon == std::string_view::npos) return;
  std::string_view name = Trim(line.substr(0, colon));
  std::string_view value = Trim(line.substr(colon + 1));
  if (IEquals(name, "Content-Range")) {
    has_content_range_ = true;
    content_range_ = ParseContentRange(value);
  } else if (IEquals(name, "Content-Length")) {
    std::uint64_t n = 0;
    if (ParseU64(value, &n)) {
      content_length_ = n;
    } else {
      content_length_.reset();
    }
  } else if (IEquals(name, "ETag")) {
    etag_ = std::string(value);
  } else if (IEquals(name, "Last-Modified")) {
    last_modified_ = std::string(value);
  } else if (IEquals(name, "Accept-Ranges")) {
    accept_ranges_bytes_ = IEquals(value, "bytes");
  } else if (IEquals(name, "Content-Encoding")) {
    content_encoding_ = std::string(value);
  } else if (IEquals(name, "Content-Type")) {
    content_type_ = std::string(value);
  } else if (IEquals(name, "WWW-Authenticate")) {
    if (www_authenticate_.size() < 32) www_authenticate_.emplace_back(value);
  } else if (IEquals(name, "Proxy-Authenticate")) {
    if (proxy_authenticate_.size() < 32) proxy_authenticate_.emplace_back(value);
  } else if (IEquals(name, "Retry-After")) {
    retry_after_ = std::string(value.substr(0, 128));
  }
}

std::optional<std::uint64_t> ParseRetryAfter(std::string_view value, std::int64_t now) {
  value = Trim(value);
  if (value.empty()) return std::nullopt;
  if (std::all_of(value.begin(), value.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    std::uint64_t seconds = 0;
    if (!ParseU64(value, &seconds)) return kMaxRetryAfterSeconds * 1000;  // absurd: capped later
    return seconds;
  }
  const std::string text(value);
  const time_t when = curl_getdate(text.c_str(), nullptr);
  if (when < 0) return std::nullopt;
  return when <= now ? 0 : static_cast<std::uint64_t>(when - now);
}

std::uint64_t RetryDelaySeconds(std::uint64_t minimum_retry_delay,
                                std::optional<std::uint64_t> retry_after) {
  if (!retry_after) return minimum_retry_delay;
  return std::max(minimum_retry_delay, std::min(*retry_after, kMaxRetryAfterSeconds));
}

bool IsStrongEtag(std::string_view etag) {
  return etag.size() >= 2 && etag.front() == '"' && etag.back() == '"';
}

std::string RequestPlan::IfRange() const {
  if (!send_range) return {};
  const bool resuming = remote_offset > 0 || !whole_file;
  if (!resuming) return {};
  if (IsStrongEtag(stored_etag)) return stored_etag;
  if (!stored_last_modified.empty()) return stored_last_modified;
  return {};
}

std::string RequestPlan::RangeHeader() const {
  std::string out = "bytes=" + U(remote_offset) + "-";
  if (length != kLengthToEof) out += U(remote_offset + length - 1);
  return out;
}

bool IsTransientHttpStatus(int status) {
  if (status == 408 || status == 429) return true;
  if (status >= 500 && status <= 599) return status != 501 && status != 505;
  return false;
}

namespace {

// The response's validators differ from those the local bytes came with.
bool ValidatorsChanged(const RequestPlan& plan, const ResponseHeaders& r) {
  if (!plan.stored_etag.empty() && !r.etag().empty()) {
    return plan.stored_etag != r.etag();
  }
  if (!plan.stored_last_modified.empty() && !r.last_modified().empty()) {
    return plan.stored_last_modified != r.last_modified();
  }
  return false;
}

bool HasLocalBytes(const RequestPlan& plan) { return plan.remote_offset > 0 || !plan.whole_file; }

}  // namespace

Decision DecideResponse(const RequestPlan& plan, const ResponseHeaders& r) {
  const int status = r.status();

  if (status == 416) {
    const auto& cr = r.content_range();
    if (plan.send_range && cr && cr->unsatisfied) {
      const std::uint64_t size = *cr->complete_length;
      if (!plan.whole_file) {
        return Fail(
            kBgEInvalidRange, false,
            "a requested range starts beyond the end of the remote file (" + U(size) + " bytes)");
      }
      if (HasLocalBytes(plan) && ValidatorsChanged(plan, r)) {
        Decision d;
        d.verdict = Verdict::kRestartRequest;
        d.why = "the remote file changed (validator differs)";
        return d;
      }
      if (size == plan.remote_offset) {
        Decision d;
        d.verdict = Verdict::kAlreadyComplete;
        d.remote_total = size;
        d.expected_body = 0;
        return d;
      }
      if (size < plan.remote_offset) {
        Decision d;
        d.verdict = Verdict::kRestartRequest;
        d.why = "the remote file shrank to " + U(size) + " bytes";
        return d;
      }
    }
    return Invalid("416 without a usable Content-Range for " + plan.RangeHeader());
  }

  if (status >= 300 || status < 200) {
    return Fail(HttpErrorCode(status), IsTransientHttpStatus(status),
                "HTTP status " + std::to_string(status));
  }

  if (status == 200) {
    const auto length = r.content_length();
    if (plan.dynamic_content) {
      Decision d;
      d.verdict = Verdict::kRestartWithBody;
      d.remote_total = length.value_or(kSizeUnknown);
      d.expected_body = length.value_or(kSizeUnknown);
      return d;
    }
    if (!IsIdentityEncoding(r.content_encoding())) {
      return Invalid("the server applied Content-Encoding \"" + r.content_encoding() +
                     "\" although none was accepted");
    }
    if (!plan.whole_file) {
      // A failed If-Range is a changed file, not a server without ranges:
      // fetch the ranges again from the new version.
      if (ValidatorsChanged(plan, r)) {
        Decision d;
        d.verdict = Verdict::kRestartRequest;
        d.why = "the remote file changed (If-Range failed)";
        return d;
      }
      return Fail(kBgEInsufficientRangeSupport, false,
                  "the server ignored the Range header of a ranged file");
    }
    if (!length) {
      return Fail(kBgEMissingFileSize, false, "the response has no Content-Length");
    }
    if (plan.remote_offset == 0 && !r.accepts_byte_ranges()) {
      return Fail(kBgEInsufficientRangeSupport, false,
                  "the server ignores Range requests and does not announce byte ranges;"
                  " allow dynamic content to download it without resume");
    }
    // A full body in answer to a resume: If-Range failed or the server
    // stopped honouring ranges. Either way the old bytes are discarded.
    Decision d;
    d.verdict = Verdict::kRestartWithBody;
    d.remote_total = *length;
    d.expected_body = *length;
    return d;
  }

  if (status != 206) {
    return Fail(HttpErrorCode(status), IsTransientHttpStatus(status),
                "unexpected HTTP status " + std::to_string(status));
  }

  // 206 Partial Content.
  if (!plan.send_range) return Invalid("206 to a request without a Range header");
  if (r.content_type().rfind("multipart/byteranges", 0) == 0) {
    return Invalid("multipart/byteranges answer to a single-range request");
  }
  if (!IsIdentityEncoding(r.content_encoding())) {
    return Invalid("the server applied Content-Encoding \"" + r.content_encoding() +
                   "\" to a range");
  }
  const auto& cr = r.content_range();
  if (!cr || cr->unsatisfied) {
    return Invalid(r.has_content_range() ? "206 with a malformed Content-Range"
                                         : "206 without Content-Range");
  }
  // A range that starts before the byte asked for but covers it carries
  // honest bytes, placed by the header: the overlap is skipped. One that
  // starts after it would leave a hole; one that ends before it holds
  // nothing asked for.
  if (cr->first > plan.remote_offset || cr->last < plan.remote_offset) {
    return Invalid("Content-Range " + U(cr->first) + "-" + U(cr->last) +
                   " does not start at the requested byte " + U(plan.remote_offset));
  }
  if (HasLocalBytes(plan) && ValidatorsChanged(plan, r)) {
    Decision d;
    d.verdict = Verdict::kRestartRequest;
    d.why = "the server ignored If-Range: the remote file changed";
    return d;
  }
  if (cr->complete_length && plan.known_total != kSizeUnknown &&
      *cr->complete_length != plan.known_total) {
    if (HasLocalBytes(plan)) {
      Decision d;
      d.verdict = Verdict::kRestartRequest;
      d.why = "the remote file size changed from " + U(plan.known_total) + " to " +
              U(*cr->complete_length);
      return d;
    }
  }
  if (!cr->complete_length && plan.length == kLengthToEof && !plan.dynamic_content) {
    return Fail(kBgEMissingFileSize, false,
                "the server does not tell the file size (Content-Range .../*)");
  }
  if (plan.length != kLengthToEof) {
    const std::uint64_t wanted_last = plan.remote_offset + plan.length - 1;
    if (cr->last > wanted_last) {
      return Invalid("Content-Range ends at byte " + U(cr->last) + " beyond the requested " +
                     U(wanted_last));
    }
    if (cr->last < wanted_last && cr->complete_length && cr->last + 1 == *cr->complete_length) {
      return Fail(kBgEInvalidRange, false,
                  "the range " + plan.RangeHeader() + " extends beyond the end of the " +
                      "remote file (" + U(*cr->complete_length) + " bytes)");
    }
  }
  const std::uint64_t body = cr->last - cr->first + 1;
  if (r.content_length() && *r.content_length() != body) {
    return Invalid("Content-Length " + U(*r.content_length()) + " does not match Content-Range " +
                   U(cr->first) + "-" + U(cr->last));
  }
  Decision d;
  d.verdict = Verdict::kAppend;
  d.remote_total = cr->complete_length.value_or(plan.known_total);
  d.expected_body = body;
  d.skip_bytes = plan.remote_offset - cr->first;
  return d;
}

Status ValidateRanges(const std::vector<FileRange>& ranges) {
  if (ranges.empty()) return Status(kBgEInvalidRange, "the range list is empty");
  if (ranges.size() > kMaxRangesPerFile) {
    return Status(kBgETooManyRangesInFile,
                  "at most " + std::to_string(kMaxRangesPerFile) + " ranges per file");
  }
  std::vector<FileRange> sorted = ranges;
  for (const FileRange& r : sorted) {
    if (r.length == 0) return Status(kBgEInvalidRange, "a range has length 0");
    if (r.length != kLengthToEof && r.initial_offset + r.length < r.initial_offset) {
      return Status(kBgEInvalidRange, "a range overflows 64 bits");
    }
  }
  std::sort(sorted.begin(), sorted.end(), [](const FileRange& a, const FileRange& b) {
    return a.initial_offset < b.initial_offset;
  });
  for (std::size_t i = 1; i < sorted.size(); ++i) {
    const FileRange& prev = sorted[i - 1];
    if (prev.length == kLengthToEof ||
        prev.initial_offset + prev.length > sorted[i].initial_offset) {
      return Status(kBgEOverlappingRanges, "ranges at offsets " + U(prev.initial_offset) + " and " +
                                               U(sorted[i].initial_offset) + " overlap");
    }
  }
  return Status::Ok();
}

std::optional<RangeCursor> NextRange(const std::vector<FileRange>& ranges,
                                     std::uint64_t local_bytes, std::uint64_t remote_total) {
  if (ranges.empty()) {
    if (remote_total != kSizeUnknown && local_bytes >= remote_total) return std::nullopt;
    return RangeCursor{local_bytes, kLengthToEof, true};
  }
  std::uint64_t remaining = local_bytes;
  for (const FileRange& r : ranges) {
    std::uint64_t len = r.length;
    if (len == kLengthToEof) {
      if (remote_total == kSizeUnknown) {
        return RangeCursor{r.initial_offset + remaining, kLengthToEof, false};
      }
      len = remote_total > r.initial_offset ? remote_total - r.initial_offset : 0;
    }
    if (remaining < len) {
      const std::uint64_t length = r.length == kLengthToEof ? kLengthToEof : len - remaining;
      return RangeCursor{r.initial_offset + remaining, length, false};
    }
    remaining -= len;
  }
  return std::nullopt;
}

std::uint64_t LocalTotal(const std::vector<FileRange>& ranges, std::uint64_t remote_total) {
  if (ranges.empty()) return remote_total;
  std::uint64_t sum = 0;
  for (const FileRange& r : ranges) {
    if (r.length == kLengthToEof) {
      if (remote_total == kSizeUnknown) return kSizeUnknown;
      sum += remote_total > r.initial_offset ? remote_total - r.initial_offset : 0;
    } else {
      sum += r.length;
    }
  }
  return sum;
}

}  // namespace openbits::engine
