// Copyright (c) openbits authors. Licensed under the Apache License 2.0.
//
// Value types of the openbits API: job states, priorities, progress and error
// records. Numeric values equal those of the BITS IDL, so they may be stored
// or exchanged with Windows tools.

#ifndef OPENBITS_TYPES_H_
#define OPENBITS_TYPES_H_

#include <array>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "openbits/status.h"

namespace openbits {

// BG_JOB_STATE.
enum class JobState : int {
  kQueued = 0,
  kConnecting = 1,
  kTransferring = 2,
  kSuspended = 3,
  kError = 4,
  kTransientError = 5,
  kTransferred = 6,
  kAcknowledged = 7,
  kCancelled = 8,
  // Not a BITS state: the handle cannot reach its job (the daemon it was
  // served by is gone). GetInfo().status says why.
  kUnknown = 9,
};

// "QUEUED", "CONNECTING", ..., "CANCELED" (bitsadmin's spelling).
OPENBITS_EXPORT std::string_view JobStateName(JobState state);

// True for ACKNOWLEDGED and CANCELLED, the states a job never leaves.
constexpr bool IsFinal(JobState s) {
  return s == JobState::kAcknowledged || s == JobState::kCancelled;
}

// BG_JOB_TYPE. Only downloads are implemented; CreateJob refuses the others
// with E_NOTIMPL.
enum class JobType : int { kDownload = 0, kUpload = 1, kUploadReply = 2 };
OPENBITS_EXPORT std::string_view JobTypeName(JobType type);

// BG_JOB_PRIORITY. FOREGROUND jobs all run at once; the background
// priorities share a limited number of slots, highest first.
enum class JobPriority : int {
  kForeground = 0,
  kHigh = 1,
  kNormal = 2,
  kLow = 3,
};
OPENBITS_EXPORT std::string_view JobPriorityName(JobPriority priority);

// BG_ERROR_CONTEXT.
enum class ErrorContext : int {
  kNone = 0,
  kUnknown = 1,
  kGeneralQueueManager = 2,
  kQueueManagerNotification = 3,
  kLocalFile = 4,
  kRemoteFile = 5,
  kGeneralTransport = 6,
  kRemoteApplication = 7,
};

// The BITS sentence for a context ("The error occurred while the remote file
// was being processed.").
OPENBITS_EXPORT std::string ErrorContextDescription(ErrorContext context);

// Notify flags (BG_NOTIFY_*). The default is kNotifyJobTransferred |
// kNotifyJobError.
inline constexpr std::uint32_t kNotifyJobTransferred = 0x01;
inline constexpr std::uint32_t kNotifyJobError = 0x02;
inline constexpr std::uint32_t kNotifyDisable = 0x04;
inline constexpr std::uint32_t kNotifyJobModification = 0x08;
inline constexpr std::uint32_t kNotifyFileTransferred = 0x10;

// BG_SIZE_UNKNOWN: a size the server has not told yet.
inline constexpr std::uint64_t kSizeUnknown = ~std::uint64_t{0};
// BG_LENGTH_TO_EOF: a range that runs to the end of the remote file.
inline constexpr std::uint64_t kLengthToEof = ~std::uint64_t{0};

// A 128-bit job identifier, printed as {XXXXXXXX-XXXX-XXXX-XXXX-XXXXXXXXXXXX}.
struct OPENBITS_EXPORT Guid {
  std::array<std::uint8_t, 16> bytes{};

  // A new random (version 4) GUID.
  static Guid Generate();
  // Parses "{...}" or the bare 36-character form, case-insensitive.
  static Result<Guid> Parse(std::string_view text);
  // Upper-case hex with braces, as bitsadmin prints job ids.
  std::string ToString() const;

  friend bool operator==(const Guid&, const Guid&) = default;
  friend auto operator<=>(const Guid&, const Guid&) = default;
};

// BG_FILE_INFO.
struct FileInfo {
  std::string remote_name;  // http:// or https:// URL
  std::string local_name;   // absolute path
};

// BG_FILE_RANGE.
struct FileRange {
  std::uint64_t initial_offset = 0;
  std::uint64_t length = kLengthToEof;
  friend bool operator==(const FileRange&, const FileRange&) = default;
};

// BG_JOB_PROGRESS. bytes_total is kSizeUnknown while any file size is unknown.
struct JobProgress {
  std::uint64_t bytes_total = 0;
  std::uint64_t bytes_transferred = 0;
  std::uint32_t files_total = 0;
  std::uint32_t files_transferred = 0;
};

// BG_FILE_PROGRESS. `completed` is true once the whole file is downloaded.
struct FileProgress {
  std::uint64_t bytes_total = kSizeUnknown;
  std::uint64_t bytes_transferred = 0;
  bool completed = false;
};

// BG_JOB_TIMES, on the wall clock. A default-constructed time_point means
// "not yet" (transfer_completion before the job is TRANSFERRED).
struct JobTimes {
  std::chrono::system_clock::time_point creation;
  std::chrono::system_clock::time_point modification;
  std::chrono::system_clock::time_point transfer_completion;
};

// IBackgroundCopyError, as a value.
struct JobErrorInfo {
  HResult code = 0;
  ErrorContext context = ErrorContext::kNone;
  // Index of the file the error is about, if any (IBackgroundCopyError::GetFile).
  std::optional<std::uint32_t> file_index;
  std::string remote_name;  // of that file; URL passwords are redacted
  std::string local_name;
  std::string protocol;     // "http" or "https"; empty when not file-related
  std::string description;  // what went wrong, for humans
  std::string context_description;
};

// SetNotifyCmdLine's program and parameters (both empty: none).
struct NotifyCommandLine {
  std::string program;     // absolute path
  std::string parameters;  // first token: the program's name
};

// BG_JOB_PROXY_USAGE.
enum class ProxyUsage : int { kPreconfig = 0, kNoProxy = 1, kOverride = 2, kAutodetect = 3 };
// "PRECONFIG", "NO_PROXY", "OVERRIDE", "AUTODETECT"; "" for other values.
OPENBITS_EXPORT std::string_view ProxyUsageName(ProxyUsage usage);

// SetProxySettings / GetProxySettings.
struct ProxySettings {
  ProxyUsage usage = ProxyUsage::kPreconfig;
  std::string proxy_list;   // OVERRIDE only: [scheme=][scheme://]host[:port], comma/space separated
  std::string bypass_list;  // OVERRIDE only: host names, leftmost "*" wildcards, "<local>"
};

// A job property, for Job::SetProperty / GetProperty (as BITS 5's
// IBackgroundCopyJob5::SetProperty, BITS_JOB_PROPERTY_ID). Where BITS 5 has
// the property its number is kept; the others follow from 0x100.
enum class JobProperty : std::uint32_t {
  kDynamicContent = 3,               // bool; only before the first Resume
  kMinimumNotificationInterval = 9,  // uint32 milliseconds
  kDisplayName = 0x100,              // string, at most 256 characters
  kDescription = 0x101,              // string, at most 1024 characters
  kPriority = 0x102,                 // uint32 JobPriority (0..3)
  kMinimumRetryDelay = 0x103,        // uint32 seconds (at least 5)
  kNoProgressTimeout = 0x104,        // uint32 seconds (0: every error is fatal)
  kMaximumDownloadTime = 0x105,      // uint32 seconds (0: no limit)
  kNotifyFlags = 0x106,              // uint32 BG_NOTIFY_* bits
  kNotifyCommandLine = 0x107,        // NotifyCommandLine
  kHttpMethod = 0x108,               // string ("GET", or a custom method)
  kProxySettings = 0x109,            // ProxySettings
  kMaximumConcurrentFiles = 0x10A,   // uint32, 1..16
  kSecurityFlags = 0x10B,            // uint32 BG_SSL_* and redirect policy bits
  kCustomHeaders = 0x10C,            // string of CRLF-separated header lines
};
// The property's name on the daemon's wire and in messages ("displayName",
// "priority" ...); "" for values outside the enum.
OPENBITS_EXPORT std::string_view JobPropertyName(JobProperty property);
// The property with that name; E_INVALIDARG for an unknown name.
OPENBITS_EXPORT Result<JobProperty> ParseJobPropertyName(std::string_view name);

// A property's value: the alternative each JobProperty names.
using PropertyValue =
    std::variant<bool, std::uint32_t, std::string, NotifyCommandLine, ProxySettings>;

// BG_AUTH_TARGET: who asks for the credentials.
enum class AuthTarget : int { kServer = 1, kProxy = 2 };
// BG_AUTH_SCHEME. Passport is accepted by nothing any more and is refused.
enum class AuthScheme : int { kBasic = 1, kDigest = 2, kNtlm = 3, kNegotiate = 4, kPassport = 5 };
// "SERVER"/"PROXY", "BASIC"/"DIGEST"/"NTLM"/"NEGOTIATE"/"PASSPORT" (as
// bitsadmin spells them); "" for values outside the enums.
OPENBITS_EXPORT std::string_view AuthTargetName(AuthTarget target);
OPENBITS_EXPORT std::string_view AuthSchemeName(AuthScheme scheme);

// One credential slot of a job as listings show it: which target and scheme
// have credentials, and whether they are implicit. Never the password.
struct CredentialSlot {
  AuthTarget target = AuthTarget::kServer;
  AuthScheme scheme = AuthScheme::kBasic;
};

// BG_CERT_STORE_LOCATION. Where a client certificate's store lives; on
// Linux and other Unix systems only CURRENT_USER and LOCAL_MACHINE exist
// (docs/tls.md), the others fail with E_NOTIMPL.
enum class CertStoreLocation : int {
  kCurrentUser = 0,
  kLocalMachine = 1,
  kCurrentService = 2,
  kServices = 3,
  kUsers = 4,
  kCurrentUserGroupPolicy = 5,
  kLocalMachineGroupPolicy = 6,
  kLocalMachineEnterprise = 7,
};
// "CURRENT_USER", "LOCAL_MACHINE", ... ; "" for values outside the enum.
OPENBITS_EXPORT std::string_view CertStoreLocationName(CertStoreLocation location);

// The client certificate of a job (GetClientCertificate): the store it is
// taken from, the SHA-1 thumbprint of its DER encoding, and a subject:
// the text given to SetClientCertificateByName, or the certificate's common
// name when it was chosen by thumbprint.
struct ClientCertificate {
  CertStoreLocation location = CertStoreLocation::kCurrentUser;
  std::string store_name;
  std::array<std::uint8_t, 20> hash{};
  std::string subject;
};

// SetSecurityFlags bits (BG_SSL_* and BG_HTTP_REDIRECT_POLICY_*).
inline constexpr std::uint32_t kSslEnableCrlCheck = 0x0001;
inline constexpr std::uint32_t kSslIgnoreCertCnInvalid = 0x0002;
inline constexpr std::uint32_t kSslIgnoreCertDateInvalid = 0x0004;
inline constexpr std::uint32_t kSslIgnoreUnknownCa = 0x0008;
inline constexpr std::uint32_t kSslIgnoreCertWrongUsage = 0x0010;
inline constexpr std::uint32_t kRedirectPolicyAllowSilent = 0x0000;
inline constexpr std::uint32_t kRedirectPolicyAllowReport = 0x0100;
inline constexpr std::uint32_t kRedirectPolicyDisallow = 0x0200;
inline constexpr std::uint32_t kRedirectPolicyMask = 0x0700;
inline constexpr std::uint32_t kRedirectAllowHttpsToHttp = 0x0800;

// A consistent snapshot of a job, taken in one step (for listings).
struct JobInfo {
  // Ok; or why the snapshot could not be taken (a daemon that is gone):
  // then `state` is kUnknown and the other fields are their defaults.
  Status status;
  Guid id;
  JobType type = JobType::kDownload;
  JobState state = JobState::kSuspended;
  JobPriority priority = JobPriority::kNormal;
  std::string owner;
  std::string display_name;
  std::string description;
  JobProgress progress;
  JobTimes times;
  std::uint32_t error_count = 0;
  std::optional<JobErrorInfo> error;  // the last error, if any
  std::uint32_t minimum_retry_delay = 0;
  std::uint32_t no_progress_timeout = 0;
  std::uint32_t maximum_download_time = 0;
  std::uint32_t notify_flags = 0;
  bool dynamic_content = false;
  std::uint32_t max_concurrent_files = 1;   // openbits extension
  std::vector<CredentialSlot> credentials;  // set with SetCredentials
  ProxySettings proxy;
  std::uint32_t security_flags = 0;
  std::optional<ClientCertificate> client_certificate;
};

// What Manager::CreateJobs needs to make one job.
struct JobSpec {
  std::string display_name;
  std::string description;
  JobPriority priority = JobPriority::kNormal;
  std::vector<FileInfo> files;
  // Queue the job right away (as Resume() would) instead of leaving it
  // SUSPENDED. Requires at least one file.
  bool resume = false;
};

// Which jobs Manager::EnumJobs returns.
enum class EnumScope { kCurrentUser, kAllUsers };

}  // namespace openbits

#endif  // OPENBITS_TYPES_H_
