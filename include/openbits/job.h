// Copyright (c) openbits authors. Licensed under the Apache License 2.0.
//
// Job and File: handles to a transfer job in the queue (IBackgroundCopyJob,
// IBackgroundCopyFile).
//
// Handles are cheap, thread-safe, and remain valid after the job reaches a
// final state: a completed job's handle still answers GetState() with
// ACKNOWLEDGED, while every state-changing call fails with
// BG_E_INVALID_STATE. All calls are synchronous; none blocks on the network.

#ifndef OPENBITS_JOB_H_
#define OPENBITS_JOB_H_

#include <array>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "openbits/export.h"
#include "openbits/status.h"
#include "openbits/types.h"

namespace openbits {

class Job;

// One file of a job.
class OPENBITS_EXPORT File {
 public:
  virtual ~File() = default;

  // The file's position in its job, from 0 in the order files were added.
  virtual std::uint32_t index() const = 0;
  // The URL (a password it contained is shown as "****").
  virtual std::string GetRemoteName() const = 0;
  // The absolute local path the file gets on Complete().
  virtual std::string GetLocalName() const = 0;
  virtual FileProgress GetProgress() const = 0;
  // The temporary file in the destination directory that receives the data
  // until Complete(); empty before the transfer of this file starts.
  virtual std::string GetTemporaryName() const = 0;
  // The ranges given to AddFileWithRanges; empty for a whole file.
  virtual std::vector<FileRange> GetFileRanges() const = 0;
};

// Receives job events (IBackgroundCopyCallback). Methods are called on the
// engine's notification thread, one at a time per manager, never from inside
// an openbits API call. They may call any Job method, but should return
// quickly: a slow callback delays the notifications of other jobs (transfers
// are not affected).
class OPENBITS_EXPORT JobCallback {
 public:
  virtual ~JobCallback() = default;
  // The job entered TRANSFERRED (notify flag kNotifyJobTransferred).
  virtual void JobTransferred(Job& job) { (void)job; }
  // The job entered ERROR (notify flag kNotifyJobError).
  virtual void JobError(Job& job, const JobErrorInfo& error) {
    (void)job;
    (void)error;
  }
  // State, progress or a property changed (notify flag
  // kNotifyJobModification); progress notifications come at most once per
  // minimum notification interval.
  virtual void JobModification(Job& job) { (void)job; }
  // One file finished downloading (notify flag kNotifyFileTransferred).
  virtual void FileTransferred(Job& job, File& file) {
    (void)job;
    (void)file;
  }
};

// A job: an ordered list of files transferred together.
class OPENBITS_EXPORT Job {
 public:
  virtual ~Job() = default;

  virtual Guid GetId() const = 0;
  virtual JobType GetType() const = 0;
  // The owner's account (on POSIX the numeric user id as text).
  virtual std::string GetOwner() const = 0;

  // --- Files -------------------------------------------------------------

  // Appends a file. `remote_url` must be an http or https URL; `local_path`
  // must be absolute, name a file (not a directory) in an existing
  // directory, and contain no control characters. Fails with E_INVALIDARG
  // (bad argument), BG_E_INVALID_STATE (final job), or
  // BG_E_TOO_MANY_FILES_IN_JOB (more files than MaxFilesPerJob in the
  // queue's openbits.conf allows; no limit unless set, and none for
  // administrators). Adding files to a TRANSFERRED job puts it
  // back in the queue on the next Resume().
  virtual Status AddFile(std::string_view remote_url, std::string_view local_path) = 0;
  // Adds several files atomically: either all are added or none.
  virtual Status AddFileSet(const std::vector<FileInfo>& files) = 0;
  // Adds a file of which only `ranges` are downloaded, concatenated in the
  // given order into the local file. Fails with BG_E_OVERLAPPING_RANGES,
  // BG_E_INVALID_RANGE (empty list, zero length), BG_E_TOO_MANY_RANGES_IN_FILE.
  // A range beyond the end of the remote file fails the job at transfer time
  // with BG_E_INVALID_RANGE.
  virtual Status AddFileWithRanges(std::string_view remote_url, std::string_view local_path,
                                   const std::vector<FileRange>& ranges) = 0;
  virtual std::vector<std::shared_ptr<File>> EnumFiles() const = 0;

  // --- Life cycle (BITS state machine) -------------------------------------

  // Queues the job (SUSPENDED, ERROR, TRANSIENT_ERROR -> QUEUED). A job with
  // no file stays SUSPENDED and BG_E_EMPTY is returned.
  virtual Status Resume() = 0;
  // Stops the job's transfer (checkpointing it) and moves it to SUSPENDED.
  virtual Status Suspend() = 0;
  // Deletes the job and all of its temporary files; files already renamed
  // to their final names by an earlier Complete() are not touched.
  virtual Status Cancel() = 0;
  // Makes the downloaded files available under their local names and
  // removes the job. Files not yet fully downloaded are deleted; then
  // BG_S_PARTIAL_COMPLETE is returned (a success). If a rename fails, the
  // job stays in the queue in TRANSFERRED with the error, and Complete()
  // may be called again.
  virtual Status Complete() = 0;

  // The job's state; JobState::kUnknown when the handle cannot reach the
  // job (a daemon that is gone), never a state the job may not be in.
  virtual JobState GetState() const = 0;
  virtual JobProgress GetProgress() const = 0;
  virtual JobTimes GetTimes() const = 0;
  // The last error; BG_E_ERROR_INFORMATION_UNAVAILABLE when there is none.
  virtual Result<JobErrorInfo> GetError() const = 0;
  // How many errors the job has met (transient ones included).
  virtual std::uint32_t GetErrorCount() const = 0;
  // Everything above in one consistent snapshot; JobInfo::status tells
  // whether it could be taken. The other getters return the snapshot's
  // fields (defaults when it could not be taken); GetProperty reports the
  // failure itself.
  virtual JobInfo GetInfo() const = 0;

  // --- Properties ----------------------------------------------------------
  // Sets one property by its id (as BITS 5's IBackgroundCopyJob5::SetProperty);
  // `value` holds the alternative the property takes (types.h). The typed
  // setters below are the same calls. E_INVALIDARG for a value of the wrong
  // type, and each property's own errors as its typed setter documents.
  virtual Status SetProperty(JobProperty property, const PropertyValue& value) = 0;
  // The property's value; BG_E_INVALID_STATE-class errors only when the job
  // cannot be reached (a daemon that is gone).
  virtual Result<PropertyValue> GetProperty(JobProperty property) const = 0;

  // Setters fail with BG_E_INVALID_STATE on a final job.

  // At most 256 characters (E_INVALIDARG otherwise).
  virtual Status SetDisplayName(std::string_view name) = 0;
  virtual std::string GetDisplayName() const = 0;
  // At most 1024 characters (E_INVALIDARG otherwise).
  virtual Status SetDescription(std::string_view description) = 0;
  virtual std::string GetDescription() const = 0;
  virtual Status SetPriority(JobPriority priority) = 0;
  virtual JobPriority GetPriority() const = 0;
  // Seconds to wait before retrying after a transient error. Default 600;
  // values under 5 are raised to 5.
  virtual Status SetMinimumRetryDelay(std::uint32_t seconds) = 0;
  virtual std::uint32_t GetMinimumRetryDelay() const = 0;
  // Seconds without progress after which a transient error becomes fatal.
  // Default 1209600 (14 days); 0 makes every error fatal.
  virtual Status SetNoProgressTimeout(std::uint32_t seconds) = 0;
  virtual std::uint32_t GetNoProgressTimeout() const = 0;
  // Seconds of active transfer after which the job fails with
  // BG_E_MAXDOWNLOAD_TIMEOUT. Default 7776000 (90 days); 0 means no limit.
  virtual Status SetMaximumDownloadTime(std::uint32_t seconds) = 0;
  virtual std::uint32_t GetMaximumDownloadTime() const = 0;
  // Extra request headers, "Name: value" lines separated by CRLF; empty
  // removes them. Fails with E_INVALIDARG on a malformed line, a bare CR or
  // LF, or a header openbits manages itself (Host, Range, If-Range,
  // Content-Length, Transfer-Encoding, Connection).
  // They are kept encrypted on disk, like credentials.
  virtual Status SetCustomHeaders(std::string_view headers) = 0;
  // The headers as set; "" once they are write-only.
  virtual std::string GetCustomHeaders() const = 0;
  // From now on GetCustomHeaders (and bitsadmin /getcustomheaders) returns
  // "", for these headers and any set later; they are still sent. There is
  // no way back (HttpOptions3::MakeCustomHeadersWriteOnly).
  virtual Status MakeCustomHeadersWriteOnly() = 0;
  // BG_NOTIFY_* flags; default kNotifyJobTransferred | kNotifyJobError.
  // Unknown bits fail with E_NOTIMPL.
  virtual Status SetNotifyFlags(std::uint32_t flags) = 0;
  virtual std::uint32_t GetNotifyFlags() const = 0;
  // The callback object; nullptr removes it. Not persisted: it lives as long
  // as this process holds the reference.
  virtual Status SetNotifyInterface(std::shared_ptr<JobCallback> callback) = 0;
  // Minimum interval between two progress notifications
  // (BITS_JOB_PROPERTY_MINIMUM_NOTIFICATION_INTERVAL_MS). Default 500 ms.
  virtual Status SetMinimumNotificationInterval(std::chrono::milliseconds ms) = 0;
  // The program run when the job enters TRANSFERRED or ERROR (per the
  // notify flags), unless a JobCallback is set. `parameters` is split into
  // arguments (blanks separate, double quotes group) and must start with the
  // program's name; no shell is involved. A run that exits non-zero is
  // repeated after MinimumRetryDelay while the job stays in that state.
  // Both empty remove it. E_INVALIDARG / BG_E_STRING_TOO_LONG on bad input.
  virtual Status SetNotifyCmdLine(std::string_view program, std::string_view parameters) = 0;
  virtual NotifyCommandLine GetNotifyCmdLine() const = 0;
  // BITS_JOB_PROPERTY_DYNAMIC_CONTENT: allow servers that do not support
  // ranges or do not announce a size; any interruption then restarts the
  // file from byte 0. Only before the first Resume() (else
  // BG_E_READ_ONLY_PROPERTY_AFTER_RESUME).
  virtual Status SetDynamicContent(bool enable) = 0;
  virtual bool GetDynamicContent() const = 0;
  // openbits extension: up to `count` (1..16) of the job's files download
  // at once, sharing connections (HTTP/1.1 keep-alive, HTTP/2 streams).
  // Files still start in the order they were added, and the job is one job
  // to the scheduler. 1, the default, is BITS's one file after another.
  // E_INVALIDARG outside 1..16. A change applies to the running job.
  virtual Status SetMaximumConcurrentFiles(std::uint32_t count) = 0;
  virtual std::uint32_t GetMaximumConcurrentFiles() const = 0;

  // The HTTP method of the job's requests (IBackgroundCopyJobHttpOptions2).
  // Default "GET". Another method (a token; not HEAD, CONNECT or TRACE)
  // makes the job FOREGROUND for good and turns off ranges: interrupted
  // files restart from byte 0, and SetPriority to anything but FOREGROUND
  // or AddFileWithRanges fail with BG_E_NOT_SUPPORTED_WITH_CUSTOM_HTTP_METHOD.
  // Only before the first Resume() (BG_E_READ_ONLY_PROPERTY_AFTER_RESUME).
  virtual Status SetHttpMethod(std::string_view method) = 0;
  virtual std::string GetHttpMethod() const = 0;

  // How the job reaches servers (BG_JOB_PROXY_USAGE). PRECONFIG (default)
  // follows the platform's configuration through libproxy (http_proxy,
  // https_proxy, no_proxy, a "pac+http://" script, desktop settings), or the
  // variables alone in a build without libproxy; AUTODETECT discovers a PAC
  // script (WPAD, or openbits.conf's [proxy] AutoConfigUrl; E_NOTIMPL in a
  // build without libproxy); NO_PROXY connects directly; OVERRIDE uses
  // `proxy_list` ("[scheme=][scheme://]host[:port]" entries) except for
  // hosts in `bypass_list` (names, leftmost "*" wildcards, "<local>"). The
  // lists must be empty unless OVERRIDE (E_INVALIDARG).
  // BG_E_PROXY_LIST_TOO_LARGE / _BYPASS_LIST_TOO_LARGE over 32767 chars.
  virtual Status SetProxySettings(ProxyUsage usage, std::string_view proxy_list,
                                  std::string_view bypass_list) = 0;
  virtual ProxySettings GetProxySettings() const = 0;

  // --- TLS (IBackgroundCopyJobHttpOptions) ----------------------------------

  // Chooses the client certificate sent to servers that ask for one, from
  // certificate store `store_name` ("MY", "ROOT", "CA", ...; matched without
  // regard to case) at `location` (docs/tls.md maps both to directories).
  // By ID: the SHA-1 thumbprint of the certificate's DER encoding. By name:
  // the first certificate whose subject contains `subject`, ignoring case
  // (CERT_FIND_SUBJECT_STR). Only a certificate that has its private key and
  // is inside its validity period qualifies. Fails with CRYPT_E_NOT_FOUND
  // (no such store or certificate), CERT_E_EXPIRED, CRYPT_E_NO_KEY_PROPERTY
  // (no private key), ERROR_INVALID_PASSWORD (a protected file of the store
  // did not open with the job's certificate password), E_NOTIMPL (a
  // location this system does not have), E_INVALIDARG (a store name that is
  // not a plain name, an empty subject). The choice is persisted; the file
  // is read again, as the job's owner, for each connection.
  virtual Status SetClientCertificateByID(CertStoreLocation location, std::string_view store_name,
                                          const std::array<std::uint8_t, 20>& hash) = 0;
  virtual Status SetClientCertificateByName(CertStoreLocation location, std::string_view store_name,
                                            std::string_view subject) = 0;
  // Removes the choice; succeeds if there is none.
  virtual Status RemoveClientCertificate() = 0;
  // The choice; ERROR_NOT_FOUND when there is none.
  virtual Result<ClientCertificate> GetClientCertificate() const = 0;
  // openbits extension: the password that opens password-protected PKCS#12
  // files and encrypted PEM keys in the certificate stores, kept in the
  // credential vault. Set it before choosing a certificate from such a
  // file; empty removes it.
  virtual Status SetClientCertificatePassword(std::string_view password) = 0;

  // BG_SSL_* and BG_HTTP_REDIRECT_POLICY_* flags (default 0: full
  // certificate checks, redirects followed silently, never HTTPS to HTTP).
  // Each ignore flag admits exactly its own certificate fault. Unknown bits
  // fail with E_NOTIMPL, a redirect policy other than ALLOW_SILENT,
  // ALLOW_REPORT or DISALLOW with E_INVALIDARG. A change takes effect with
  // the next request: a file in transfer restarts its request (keeping its
  // bytes).
  virtual Status SetSecurityFlags(std::uint32_t flags) = 0;
  virtual std::uint32_t GetSecurityFlags() const = 0;

  // --- Credentials (IBackgroundCopyJob2) ------------------------------------
  // Stored sealed in the credential vault (docs/vault.md); they cannot be
  // read back. One credential per (target, scheme): setting a pair again
  // replaces it. A user name and password embedded in a file's URL win over
  // these for that file.

  // Explicit credentials. Fails with BG_E_USERNAME_TOO_LARGE (more than 300
  // characters), BG_E_PASSWORD_TOO_LARGE (more than 65536),
  // BG_E_INVALID_AUTH_TARGET / BG_E_INVALID_AUTH_SCHEME (not an enum
  // value), E_NOTIMPL for Passport, E_INVALIDARG for an empty user name or
  // a NUL in either, BG_E_INVALID_STATE on a final job.
  virtual Status SetCredentials(AuthTarget target, AuthScheme scheme, std::string_view user_name,
                                std::string_view password) = 0;
  // Implicit (logon) credentials, BITS's NULL user name and password: NTLM
  // and Negotiate only (E_INVALIDARG for other schemes).
  virtual Status SetImplicitCredentials(AuthTarget target, AuthScheme scheme) = 0;
  // Removes the credential of (target, scheme); succeeds if there is none.
  virtual Status RemoveCredentials(AuthTarget target, AuthScheme scheme) = 0;

  // Makes the caller the job's owner (IBackgroundCopyJob::TakeOwnership).
  // Administrators only (E_ACCESSDENIED otherwise). As in BITS, the job
  // loses its credentials, custom headers and notify command line: they
  // were the previous owner's. BG_E_NEW_OWNER_NO_FILE_ACCESS when the new
  // owner may not write a file's destination directory.
  virtual Status TakeOwnership() = 0;
};

}  // namespace openbits

#endif  // OPENBITS_JOB_H_
