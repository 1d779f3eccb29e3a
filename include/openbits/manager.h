// Copyright (c) openbits authors. Licensed under the Apache License 2.0.
//
// Manager: the entry point. Opens a persistent job queue in a state
// directory and runs its transfers in the background
// (IBackgroundCopyManager).
//
// A Manager is safe for concurrent use from multiple threads. At most one
// Manager (in any process) may have a given state directory open; a second
// Open() of the same directory fails with E_ACCESSDENIED instead of
// corrupting the queue.

#ifndef OPENBITS_MANAGER_H_
#define OPENBITS_MANAGER_H_

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "openbits/export.h"
#include "openbits/job.h"
#include "openbits/status.h"
#include "openbits/types.h"

namespace openbits {

// How much a log message matters (ManagerOptions::log).
enum class LogLevel { kInfo, kWarning, kError };

struct ManagerOptions {
  // Directory holding the queue database. Created (mode 0700) if missing.
  // Required.
  std::string state_directory;

  // How many background (HIGH, NORMAL, LOW) jobs transfer at once. BITS runs
  // one. FOREGROUND jobs are not limited. Default: 1.
  std::uint32_t background_concurrency = 1;

  // Round-robin time slice among background jobs of the same priority.
  // Default: 5 minutes.
  std::chrono::milliseconds time_slice = std::chrono::minutes(5);

  // Progress is checkpointed (file data fsynced, then the offset committed)
  // at least this often while bytes arrive ...
  std::chrono::milliseconds checkpoint_interval = std::chrono::seconds(1);
  // ... and whenever this many bytes arrived since the last checkpoint. The
  // download pauses rather than run more than this ahead of the last
  // durable checkpoint, so a crash costs at most this much re-download.
  // Default: 4 MiB.
  std::uint64_t checkpoint_bytes = 4u << 20;

  // A connection that delivers no byte for this long fails the request
  // with a transient ERROR_WINHTTP_TIMEOUT (the transfer resumes on retry).
  // Default: 120 seconds.
  std::chrono::seconds stall_timeout = std::chrono::seconds(120);

  // PEM file of certificate authorities trusted for HTTPS in addition to
  // the system's bundle (for private CAs). Empty: the system bundle only.
  // Open() fails with E_INVALIDARG if the file holds no certificate.
  std::string additional_ca_file;

  // Certificate store roots (docs/tls.md): each holds one directory per
  // store name ("MY", "ROOT", "CA"). Empty: CURRENT_USER is the job owner's
  // ${XDG_DATA_HOME:-$HOME/.local/share}/openbits/certstores, LOCAL_MACHINE
  // is /etc/openbits/certstores.
  std::string current_user_certstores;
  std::string local_machine_certstores;

  // Where the credential vault keeps its data keys: a directory of mode
  // 0700 separate from the state directory (docs/vault.md). Empty:
  // $OPENBITS_KEY_DIR, else ${XDG_CONFIG_HOME:-$HOME/.config}/openbits/keys.
  // Nothing is created there until the first secret is stored. Open() fails
  // with E_ACCESSDENIED if a key there has the wrong owner or mode.
  std::string key_directory;

  // The INI file with the [policy] section (UseLMCompat,
  // LMCompatibilityLevel; docs/auth.md). Empty: <state_directory>/openbits.conf.
  // A missing file means Windows Vista's defaults; a malformed one makes
  // Open() fail with E_INVALIDARG.
  std::string policy_file;

  // System mode (openbitsd --system, as root): every file a job creates,
  // writes, renames or deletes is handled with its owner's file-system
  // identity (uid, gid, groups), never with the process's. Default: false
  // (the queue's user owns every job).
  bool act_as_job_owner = false;

  // When false, the queue is opened and can be edited, but no transfer
  // starts (for tools that only inspect). Default: true.
  bool run_transfers = true;

  // Testing aid: the lower bound applied to MinimumRetryDelay. BITS uses 5
  // seconds; only tests should lower it.
  std::chrono::milliseconds minimum_retry_delay_floor = std::chrono::seconds(5);

  // Where the library reports what only an operator can act on (a vault
  // warning, a notify command that does not start, Basic credentials about
  // to cross plain HTTP). Called from the library's threads, never with a
  // secret in the text; must not call back into the library. Empty (the
  // default): nothing is reported; the library never writes to the
  // application's stderr. openbitsd logs these to its log.
  std::function<void(LogLevel level, std::string_view message)> log;
};

class OPENBITS_EXPORT Manager {
 public:
  // Opens (creating if needed) the queue in options.state_directory,
  // reconciles every temporary file against its last checkpoint, and
  // resumes the jobs that were queued or transferring.
  static Result<std::unique_ptr<Manager>> Open(const ManagerOptions& options);

  Manager() = default;
  Manager(const Manager&) = delete;
  Manager& operator=(const Manager&) = delete;
  // Stops all transfers, checkpointing their progress, and closes the queue.
  // Job handles outlive the Manager but then fail every call with E_FAIL.
  virtual ~Manager() = default;

  // Creates a SUSPENDED job owned by the calling user. `display_name` is at
  // most 256 characters. Only JobType::kDownload is supported.
  virtual Result<std::shared_ptr<Job>> CreateJob(std::string_view display_name,
                                                 JobType type = JobType::kDownload) = 0;

  // Creates several jobs with their files in one transaction: all of them,
  // or none and the first error (with the index of the offending spec in the
  // message). The fast path for queueing many jobs; CreateJob + AddFile
  // commits twice per job.
  virtual Result<std::vector<std::shared_ptr<Job>>> CreateJobs(
      const std::vector<JobSpec>& specs) = 0;

  // The job with `id`; BG_E_NOT_FOUND if there is none (or it is final), and
  // E_ACCESSDENIED if it belongs to another user.
  virtual Result<std::shared_ptr<Job>> GetJob(const Guid& id) = 0;

  // The caller's jobs, or every user's (kAllUsers needs administrator
  // rights: E_ACCESSDENIED otherwise), in creation order. Final jobs are not
  // listed.
  virtual Result<std::vector<std::shared_ptr<Job>>> EnumJobs(
      EnumScope scope = EnumScope::kCurrentUser) = 0;

  // Snapshots of the same jobs as EnumJobs, taken in one step: the cheap
  // way to list a large queue.
  virtual Result<std::vector<JobInfo>> EnumJobInfo(EnumScope scope = EnumScope::kCurrentUser) = 0;

  // Re-seals every stored secret under a new vault key in one transaction
  // and deletes the old key. Fails, changing nothing, if a secret cannot be
  // opened (its job is named). Administrator only when several users share
  // the queue (E_ACCESSDENIED otherwise).
  virtual Status RotateCredentialKey() = 0;
};

// Where Connect() finds the daemon.
struct ConnectOptions {
  // The daemon's socket. Empty: $OPENBITS_SOCKET; else the system daemon's
  // (/run/openbits/openbitsd.sock) when it exists and $OPENBITS_STATE_DIR
  // is not set; else the per-user daemon's, in its state directory
  // ($OPENBITS_STATE_DIR, ${XDG_STATE_HOME:-$HOME/.local/state}/openbits).
  std::string socket_path;
  // The per-user daemon's state directory (empty: as above).
  std::string state_directory;
  // Start a per-user openbitsd when none answers (never the system one).
  bool start_daemon = true;
  // The openbitsd to start; empty: on PATH.
  std::string daemon_program;
};

// The same Manager, served by openbitsd over its socket (docs/ipc.md)
// instead of in this process: an application chooses with one line. Jobs
// belong to this process's user and survive it; JobCallback events arrive
// on a thread of this library, as with Manager::Open. Fails with E_FAIL
// when no daemon can be reached.
OPENBITS_EXPORT Result<std::unique_ptr<Manager>> Connect(const ConnectOptions& options = {});

}  // namespace openbits

#endif  // OPENBITS_MANAGER_H_
