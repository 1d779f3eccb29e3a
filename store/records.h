// Copyright (c) openbits authors. Licensed under the Apache License 2.0.
//
// What the queue persists about jobs and files (docs/store_format.md).

#ifndef OPENBITS_STORE_RECORDS_H_
#define OPENBITS_STORE_RECORDS_H_

#include <cstdint>
#include <string>
#include <vector>

#include "openbits/types.h"

namespace openbits::store {

struct FileRecord {
  std::uint32_t index = 0;
  std::string remote_name;
  std::string local_name;
  // Basename of the temporary file in the local file's directory; empty
  // until the transfer of this file starts.
  std::string temp_name;
  std::vector<FileRange> ranges;  // empty: the whole file
  // Size of the local file once complete (BG_FILE_PROGRESS.BytesTotal).
  std::uint64_t bytes_total = kSizeUnknown;
  // Size of the remote file, once a response told it.
  std::uint64_t remote_size = kSizeUnknown;
  // Bytes durably written to the temporary file (the checkpoint).
  std::uint64_t bytes_transferred = 0;
  bool completed = false;  // every byte is in the temporary file
  bool renamed = false;    // Complete() moved it to local_name
  // Validators of the response the bytes came from.
  std::string etag;
  std::string last_modified;
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

struct JobRecord {
  Guid id;
  std::int64_t sequence = 0;  // creation order, for EnumJobs
  std::string owner;
  JobType type = JobType::kDownload;
  JobState state = JobState::kSuspended;
  JobPriority priority = JobPriority::kNormal;
  std::string display_name;
  std::string description;
  std::uint32_t minimum_retry_delay_s = 600;
  std::uint32_t no_progress_timeout_s = 1209600;
  std::uint32_t maximum_download_time_s = 7776000;
  std::uint32_t notify_flags = kNotifyJobTransferred | kNotifyJobError;
  std::uint32_t min_notification_interval_ms = 500;
  std::string custom_headers;
  // SetNotifyCmdLine: an absolute program path and its argument string
  // (first token: the program's name); both empty when unset.
  std::string notify_program;
  std::string notify_parameters;
  bool dynamic_content = false;
  // openbits extension: how many of the job's files may download at once
  // (1, BITS's one file after another, unless changed).
  std::uint32_t max_concurrent_files = 1;
  // SetHttpMethod; "GET" unless changed.
  std::string http_method = "GET";
  // SetProxySettings; the lists are empty unless usage is kOverride.
  ProxyUsage proxy_usage = ProxyUsage::kPreconfig;
  std::string proxy_list;
  std::string proxy_bypass;
  // SetSecurityFlags (BG_SSL_*, BG_HTTP_REDIRECT_POLICY_*).
  std::uint32_t security_flags = 0;
  // The client certificate: BG_CERT_STORE_LOCATION (-1: none), store name,
  // SHA-1 thumbprint in hex, and the subject (ByName's text, or the common
  // name). Its files' password is the secret "client-certificate-password".
  int cert_location = -1;
  std::string cert_store;
  std::string cert_hash;
  std::string cert_subject;
  bool ever_resumed = false;
  // Wall-clock times in milliseconds since the Unix epoch; 0 = not set.
  std::int64_t creation_time_ms = 0;
  std::int64_t modification_time_ms = 0;
  std::int64_t completion_time_ms = 0;
  // The last error (error_code 0: none).
  HResult error_code = 0;
  ErrorContext error_context = ErrorContext::kNone;
  std::int64_t error_file = -1;
  std::string error_description;
  std::uint32_t error_count = 0;
  // Accumulated active transfer time, for MaximumDownloadTime.
  std::int64_t active_time_ms = 0;
  PendingAction pending = PendingAction::kNone;
  std::vector<FileRecord> files;
  std::vector<SecretRecord> secrets;  // sorted by purpose
};

}  // namespace openbits::store

#endif  // OPENBITS_STORE_RECORDS_H_
