// Copyright (c) openbits authors. Licensed under the Apache License 2.0.
//
// What the queue persists about jobs and files (docs/store_format.md).

#ifndef OPENBITS_STORE_RECORDS_H_
#define OPENBITS_STORE_RECORDS_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "openbits/types.h"

namespace openbits::store {

// A string that most records leave empty: 8 bytes where std::string takes
// 32, which matters for a queue of 100,000 jobs. Reads as a std::string.
class RareString {
 public:
  RareString() = default;
  RareString(std::string text) { Assign(std::move(text)); }        // NOLINT: implicit on purpose
  RareString(const char* text) : RareString(std::string(text)) {}  // NOLINT
  RareString(const RareString& other) { *this = other; }
  RareString(RareString&&) noexcept = default;
  RareString& operator=(const RareString& other) {
    if (this != &other) text_ = other.text_ ? std::make_unique<std::string>(*other.text_) : nullptr;
    return *this;
  }
  RareString& operator=(RareString&&) noexcept = default;
  RareString& operator=(std::string text) {
    Assign(std::move(text));
    return *this;
  }
  RareString& operator=(const char* text) { return *this = std::string(text); }
  ~RareString() = default;

  const std::string& str() const { return text_ ? *text_ : Empty(); }
  operator const std::string&() const { return str(); }  // NOLINT: implicit on purpose
  operator std::string_view() const { return str(); }    // NOLINT
  bool empty() const { return !text_; }
  std::size_t size() const { return str().size(); }
  const char* c_str() const { return str().c_str(); }
  const char* data() const { return str().data(); }
  void clear() { text_.reset(); }

  friend bool operator==(const RareString& a, const RareString& b) { return a.str() == b.str(); }
  friend bool operator==(const RareString& a, std::string_view b) { return a.str() == b; }
  friend bool operator==(const RareString& a, const char* b) { return a.str() == b; }
  friend std::string operator+(const std::string& a, const RareString& b) { return a + b.str(); }
  friend std::string operator+(const char* a, const RareString& b) { return a + b.str(); }
  friend std::string operator+(const RareString& a, const std::string& b) { return a.str() + b; }
  friend std::string operator+(const RareString& a, const char* b) { return a.str() + b; }

 private:
  static const std::string& Empty() {
    static const std::string empty;
    return empty;
  }
  void Assign(std::string text) {
    text_ = text.empty() ? nullptr : std::make_unique<std::string>(std::move(text));
  }
  std::unique_ptr<std::string> text_;
};

struct FileRecord {
  std::uint32_t index = 0;
  bool completed = false;  // every byte is in the temporary file
  bool renamed = false;    // Complete() moved it to local_name
  // Not stored: in this run, the sync thread gave the finished file its
  // published mode and time (Engine::SyncBatch), so Complete() only renames.
  bool ready_to_publish = false;
  std::string remote_name;
  std::string local_name;
  // Basename of the temporary file in the local file's directory; empty
  // until the transfer of this file starts.
  RareString temp_name;
  std::vector<FileRange> ranges;  // empty: the whole file
  // Size of the local file once complete (BG_FILE_PROGRESS.BytesTotal).
  std::uint64_t bytes_total = kSizeUnknown;
  // Size of the remote file, once a response told it.
  std::uint64_t remote_size = kSizeUnknown;
  // Bytes durably written to the temporary file (the checkpoint).
  std::uint64_t bytes_transferred = 0;
  // Validators of the response the bytes came from.
  RareString etag;
  RareString last_modified;
};

// One sealed secret of a job (docs/vault.md): `purpose` names what it is
// ("credential/server/basic", "url-password/3"); `sealed` is the vault's
// record, never plaintext.
struct SecretRecord {
  std::string purpose;
  std::vector<std::uint8_t> sealed;
};

// Work the engine must finish after a crash: set before the first file
// operation of Complete()/Cancel() and cleared with the job's deletion.
enum class PendingAction : int { kNone = 0, kComplete = 1, kCancel = 2 };

// Members are grouped by size, not by topic: a queue may hold 100,000 of
// these, and padding between mixed sizes would add up.
struct JobRecord {
  Guid id;
  std::int64_t sequence = 0;  // creation order, for EnumJobs
  std::string owner;
  JobType type = JobType::kDownload;
  JobState state = JobState::kSuspended;
  JobPriority priority = JobPriority::kNormal;
  PendingAction pending = PendingAction::kNone;
  std::string display_name;
  RareString description;
  std::uint32_t minimum_retry_delay_s = 600;
  std::uint32_t no_progress_timeout_s = 1209600;
  std::uint32_t maximum_download_time_s = 7776000;
  std::uint32_t notify_flags = kNotifyJobTransferred | kNotifyJobError;
  std::uint32_t min_notification_interval_ms = 500;
  // openbits extension: how many of the job's files may download at once
  // (1, BITS's one file after another, unless changed).
  std::uint32_t max_concurrent_files = 1;
  RareString custom_headers;
  // SetNotifyCmdLine: an absolute program path and its argument string
  // (first token: the program's name); both empty when unset.
  RareString notify_program;
  RareString notify_parameters;
  // SetHttpMethod; "GET" unless changed.
  std::string http_method = "GET";
  // SetProxySettings; the lists are empty unless usage is kOverride.
  ProxyUsage proxy_usage = ProxyUsage::kPreconfig;
  // SetSecurityFlags (BG_SSL_*, BG_HTTP_REDIRECT_POLICY_*).
  std::uint32_t security_flags = 0;
  RareString proxy_list;
  RareString proxy_bypass;
  // The client certificate: BG_CERT_STORE_LOCATION (-1: none), store name,
  // SHA-1 thumbprint in hex, and the subject (ByName's text, or the common
  // name). Its files' password is the secret "client-certificate-password".
  int cert_location = -1;
  RareString cert_store;
  RareString cert_hash;
  RareString cert_subject;
  // Wall-clock times in milliseconds since the Unix epoch; 0 = not set.
  std::int64_t creation_time_ms = 0;
  std::int64_t modification_time_ms = 0;
  std::int64_t completion_time_ms = 0;
  // The last error (error_code 0: none).
  HResult error_code = 0;
  ErrorContext error_context = ErrorContext::kNone;
  std::int64_t error_file = -1;
  RareString error_description;
  std::uint32_t error_count = 0;
  bool dynamic_content = false;
  bool ever_resumed = false;
  // Accumulated active transfer time, for MaximumDownloadTime.
  std::int64_t active_time_ms = 0;
  std::vector<FileRecord> files;
  std::vector<SecretRecord> secrets;  // sorted by purpose
};

}  // namespace openbits::store

#endif  // OPENBITS_STORE_RECORDS_H_
