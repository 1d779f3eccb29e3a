// Copyright (c) openbits authors. Licensed under the Apache License 2.0.
//
// Engine: owns the queue (store), the jobs' in-memory state, the scheduler
// and the transfers. All state lives on one thread, the engine thread, which
// runs an io_context; public calls from other threads are marshalled onto it
// with Call(). Notifications to applications run on a second thread so that
// a slow callback never delays a transfer.

#ifndef OPENBITS_ENGINE_ENGINE_H_
#define OPENBITS_ENGINE_ENGINE_H_

#include <chrono>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <span>
#include <string>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>

#include "openbits/hresult.h"
#include "openbits/job.h"
#include "openbits/manager.h"

#include "auth/implicit_policy.h"
#include "engine/curl_multi.h"
#include "engine/file_transfer.h"
#include "engine/proxy_discovery.h"
#include "engine/write_queue.h"
#include "platform/cert_store.h"
#include "platform/file_system.h"
#include "platform/identity.h"
#include "store/store.h"
#include "store/vault.h"

namespace openbits::engine {

// SetMaximumConcurrentFiles' bounds: 1..kMaxConcurrentFiles.
inline constexpr std::uint32_t kMaxConcurrentFiles = 16;
inline Status ValidateMaxConcurrentFiles(std::uint64_t count) {
  if (count < 1 || count > kMaxConcurrentFiles) {
    return Status(kEInvalidArg, "the maximum of concurrent files is 1..16");
  }
  return Status::Ok();
}

// Who is calling: the owner of new jobs, and whose jobs may be seen.
struct Caller {
  std::string user;
  bool is_admin = false;
};

struct GuidHash {
  std::size_t operator()(const Guid& g) const noexcept {
    std::size_t h = 0;
    for (std::uint8_t b : g.bytes) h = h * 131 + b;
    return h;
  }
};

// A steady_timer created on first use: most queued jobs never need one,
// and a queue holds up to hundreds of thousands of jobs.
class LazyTimer {
 public:
  // The timer, created on `io` the first time (always the engine's).
  boost::asio::steady_timer& get(boost::asio::io_context& io) {
    if (!timer_) timer_ = std::make_unique<boost::asio::steady_timer>(io);
    return *timer_;
  }
  void cancel() {
    if (timer_) timer_->cancel();
  }

 private:
  std::unique_ptr<boost::asio::steady_timer> timer_;
};

// The engine thread's view of one job. A queue may hold 100,000 of these:
// small members are grouped so that padding does not add up.
struct JobData {
  store::JobRecord rec;
  std::shared_ptr<JobCallback> callback;
  // The files downloading now: one, or up to rec.max_concurrent_files.
  std::vector<std::shared_ptr<FileTransfer>> transfers;
  bool running() const { return !transfers.empty(); }
  // Every file before this index is complete: where the search for the
  // next file starts (0 again whenever a file loses its completion).
  std::size_t first_unfinished = 0;
  std::uint64_t queue_position = 0;
  std::chrono::steady_clock::time_point last_progress;
  std::chrono::steady_clock::time_point active_since;
  std::chrono::steady_clock::time_point last_notify;
  LazyTimer retry_timer;
  LazyTimer slice_timer;
  LazyTimer deadline_timer;
  LazyTimer notify_timer;
  LazyTimer command_timer;  // watches and re-runs the notify command line
  int command_pid = -1;
  // The Retry-After of the response behind the last transient error, in
  // seconds (kNoRetryAfter: none). Not an optional: a queue may hold 100,000
  // of these, and the flag would cost 8 bytes each.
  static constexpr std::uint32_t kNoRetryAfter = UINT32_MAX;
  std::uint32_t retry_after_s = kNoRetryAfter;
  // Finished files whose last bytes are being synced: their completion is
  // committed when the sync returns, and the job is TRANSFERRED only after.
  int pending_syncs = 0;
  // Counts the job's runs (StartJob): a failed sync reported after the job
  // stopped and started again belongs to the earlier run. Wraps harmlessly:
  // a sync never waits for 65,536 runs.
  std::uint16_t run = 0;
  bool all_done_waiting = false;  // OnAllFilesDone waits for pending_syncs
  // The last file this job finished was small: the next file whose size is
  // not known yet is expected to be small too (ReceiveBufferFor).
  bool last_file_small = false;
  bool slice_expired = false;
  bool notify_pending = false;
  bool removed = false;  // final: no longer in the queue
  // The owner's ROOT and CA stores as read when the job last started: read
  // once per run, not once per file (a store change applies at the next
  // start). Keyed by the security flags they were read for.
  struct Trust {
    std::uint32_t security_flags = 0;
    std::string anchors_file;
    std::shared_ptr<const std::string> anchors_pem;  // when the file could not be written
    std::vector<std::shared_ptr<X509_CRL>> crls;
  };
  std::unique_ptr<Trust> trust;  // a pointer: most jobs in a big queue never run
  // What a running job keeps ready for its next files: temporary files
  // created ahead on the prepare thread (Engine::PrepareTemporaryFiles), and
  // the curl handles of its finished files. Made when the job runs, dropped
  // when it stops or has no file left.
  struct PreparedFile {
    std::uint32_t index = 0;
    std::string temp_name;
    std::shared_ptr<platform::ScopedFd> fd;
  };
  struct Prepared {
    // Closed, under its mutex, before any temporary file of the job is
    // renamed or deleted: the prepare thread creates files only while it is
    // open, so none appears after the job let go of its names.
    struct Gate {
      std::mutex mutex;
      bool closed = false;
    };
    std::shared_ptr<Gate> gate = std::make_shared<Gate>();
    std::vector<PreparedFile> files;  // ready, in file order
    std::size_t next_index = 0;       // where the search for more resumes
    bool in_flight = false;           // a batch is being created
    // At most the job's concurrent files: each holds a receive buffer.
    std::vector<CPtr<CURL>> idle_easy_handles;
  };
  std::unique_ptr<Prepared> prepared;
};

// What a job's destination directory looked like when files were added.
struct DestinationCheck {
  Status status;  // CheckDestinationDirectory's answer
  // Listed when many new files go there: a name not in it needs no lookup.
  std::optional<std::unordered_set<std::string>> names;
};

class Engine final : public std::enable_shared_from_this<Engine>, public TransferHost {
 public:
  static Result<std::shared_ptr<Engine>> Open(const ManagerOptions& options);
  // Opens the queue database and the credential vault of `options` and
  // closes them again, starting no thread: what Open() would refuse, this
  // refuses (a daemon checks it before it detaches).
  static Status CheckQueue(const ManagerOptions& options);
  ~Engine() override;

  // Stops transfers (checkpointing them) and the threads. Idempotent.
  void Shutdown();

  // Runs `f` on the engine thread and returns its result. After Shutdown(),
  // runs `f` on the calling thread, serialized; functions then see closed().
  template <typename F>
  auto Call(F&& f) -> decltype(f()) {
    using R = decltype(f());
    if (std::this_thread::get_id() == engine_thread_id_) return f();
    {
      std::shared_lock lifecycle(lifecycle_);
      if (!closed_) {
        std::packaged_task<R()> task(std::forward<F>(f));
        std::future<R> result = task.get_future();
        boost::asio::post(io_, [&task] { task(); });
        return result.get();
      }
    }
    std::lock_guard closed_lock(closed_calls_);
    return f();
  }

  bool closed() const { return closed_; }

  // --- Operations; each REQUIRES: running inside Call(). -----------------
  Result<std::shared_ptr<JobData>> CreateJob(const Caller& caller, std::string_view name,
                                             JobType type);
  Result<std::vector<std::shared_ptr<JobData>>> CreateJobs(const Caller& caller,
                                                           const std::vector<JobSpec>& specs);
  Result<std::shared_ptr<JobData>> FindJob(const Caller& caller, const Guid& id);
  Result<std::vector<std::shared_ptr<JobData>>> ListJobs(const Caller& caller, EnumScope scope);
  Status AddFiles(JobData& job, const std::vector<FileInfo>& files,
                  const std::vector<FileRange>* ranges);
  Status Resume(JobData& job);
  Status Suspend(JobData& job);
  Status Cancel(JobData& job);
  Status Complete(JobData& job);
  // Applies `change` to the record if the job is not final, persists it and
  // notifies a modification.
  Status Modify(JobData& job, const std::function<Status(store::JobRecord&)>& change);
  Status SetCallback(JobData& job, std::shared_ptr<JobCallback> callback);
  // Seals and stores a credential (implicit: NULL user name and password).
  Status SetCredential(JobData& job, AuthTarget target, AuthScheme scheme, bool implicit,
                       std::string_view user_name, std::string_view password);
  Status RemoveCredential(JobData& job, AuthTarget target, AuthScheme scheme);
  Status RotateCredentialKey(const Caller& caller);
  // SetClientCertificateByID (hash) or ByName (subject): reads the store as
  // the job's owner and records the certificate that qualifies.
  Status SetClientCertificate(JobData& job, CertStoreLocation location, std::string_view store_name,
                              const std::array<std::uint8_t, 20>* hash, std::string_view subject);
  Status RemoveClientCertificate(JobData& job);
  Status SetClientCertificatePassword(JobData& job, std::string_view password);
  // Custom headers are sealed in the vault like credentials (BITS keeps
  // them encrypted on disk): they often carry a token. "" removes them.
  Status SetCustomHeaders(JobData& job, std::string_view headers);
  // The job's custom headers to send ("" when none); an error when they do
  // not open.
  Result<std::string> CustomHeadersOf(const JobData& job) const;
  // What GetCustomHeaders shows: "" once they are write-only.
  std::string VisibleCustomHeadersOf(const JobData& job) const;
  Status MakeCustomHeadersWriteOnly(JobData& job);
  Status SetSecurityFlags(JobData& job, std::uint32_t flags);
  Status TakeOwnership(JobData& job, const Caller& caller);
  // The Kerberos credential cache ("FILE:/tmp/krb5cc_1000") whose tickets
  // are `caller`'s implicit credentials from now on (BITS's helper token).
  // FILE: and DIR: caches must belong to the caller. Not persisted: every
  // client tells it again.
  Status SetCredentialCache(const Caller& caller, std::string_view cache);
  JobProgress Progress(const JobData& job) const;
  FileProgress FileProgressOf(const JobData& job, std::uint32_t index) const;
  Result<JobErrorInfo> ErrorOf(const JobData& job) const;
  JobInfo InfoOf(const JobData& job) const;

  // Makes the Job handle for `job` (used for notifications).
  std::shared_ptr<Job> MakeJobHandle(const std::shared_ptr<JobData>& job);

 private:
  explicit Engine(const ManagerOptions& options);

  Status LoadQueue();
  // Moves the plaintext custom headers of a queue older than schema
  // version 8 into the vault.
  Status SealLegacyCustomHeaders(JobData& job);
  // Seals `plain` (even "") as the job's secret `purpose` and commits it
  // with the job record in one transaction, dropping the secret `replaced`
  // ("" for none) in the same transaction.
  Status WriteSecret(JobData& job, std::string_view purpose, std::span<const std::uint8_t> plain,
                     std::string_view replaced = {});
  // WriteSecret as a change the application made: the modification time
  // moves and the job's watchers hear of it.
  Status SaveSecret(JobData& job, std::string_view purpose, std::span<const std::uint8_t> plain,
                    std::string_view replaced = {});
  // Deletes the job's secret `purpose` with the job record, as a change the
  // application made; nothing when the job has none.
  Status RemoveSecret(JobData& job, std::string_view purpose);
  // SaveSecret of `plain`, or RemoveSecret when it is "".
  Status ReplaceSecret(JobData& job, std::string_view purpose, std::string_view plain);
  std::shared_ptr<JobData> NewJobData(const Caller& caller, std::string_view name, JobType type);
  // Validates `files` for `job` and turns them into records (not yet stored).
  // URL passwords are split off and sealed into `secrets`. `directories`
  // remembers each destination directory's check across calls for the same
  // owner (null: within this call only).
  Status BuildFileRecords(const store::JobRecord& job, const std::vector<FileInfo>& files,
                          const std::vector<FileRange>* ranges, std::vector<store::FileRecord>* out,
                          std::vector<store::SecretRecord>* secrets,
                          std::unordered_map<std::string, DestinationCheck>* directories = nullptr);
  // Opens the credentials `file` needs into `config` (URL credentials win
  // over SetCredentials). NTE_* when a secret does not open.
  Status ResolveCredentials(const JobData& job, const store::FileRecord& file,
                            TransferConfig* config) const;
  // The job's TLS settings for a transfer: flags, the client certificate
  // (read again from its store, as the owner), and the owner's extra trust
  // anchors and CRLs from the ROOT and CA stores.
  Status ResolveTls(JobData& job, TransferConfig* config);
  // Reads a certificate store of `job`'s owner (as the owner).
  Result<platform::CertStoreContents> ReadOwnerStore(const store::JobRecord& job,
                                                     CertStoreLocation location,
                                                     std::string_view store_name,
                                                     const platform::SecretBuffer* password);
  // The job's client certificate password, opened from the vault (empty
  // buffer: none).
  Result<platform::SecretBuffer> CertificatePassword(const store::JobRecord& job) const;
  // A running transfer starts its request again with the job's new settings.
  void RestartTransfer(JobData& job);
  void FinishPendingAction(JobData& job);
  // With act_as_job_owner, the calling thread acts as `owner` for file
  // access while the result lives; otherwise an empty optional.
  Result<std::optional<platform::FileIdentity>> ActAsOwner(const std::string& owner);
  Result<std::optional<platform::UserIdentity>> OwnerIdentity(const std::string& owner);
  void ScheduleSoon();
  void Schedule();
  void StartJob(const std::shared_ptr<JobData>& job);
  // Starts the proxy resolver the job's proxy usage needs, in the background.
  void PrepareRoute(const JobData& job);
  // Starts the job's next files, in the order they were added, until
  // max_concurrent_files download; TRANSFERRED when none is left.
  void StartNextFile(const std::shared_ptr<JobData>& job);
  // Starts one file; false if the job went to ERROR instead.
  bool StartFile(const std::shared_ptr<JobData>& job, store::FileRecord& file);
  void StopTransfer(JobData& job, bool keep_progress);
  void Preempt(JobData& job);
  void OnAllFilesDone(JobData& job);
  void RecordError(JobData& job, const TransferOutcome& outcome, std::int64_t file_index);
  void EnterTransientError(const std::shared_ptr<JobData>& job);
  void EnterError(JobData& job);
  void ArmRetry(const std::shared_ptr<JobData>& job);
  void ArmJobTimers(const std::shared_ptr<JobData>& job);
  void CancelTimers(JobData& job);
  void SetState(JobData& job, JobState state);
  Status Persist(JobData& job);
  void Touch(JobData& job);
  void RemoveJob(JobData& job);
  Status DeleteTemporaryFiles(JobData& job);
  void UpdateRunnable(JobData& job);
  std::shared_ptr<JobData> SharedOf(JobData& job);

  void NotifyModification(JobData& job, bool progress_only);
  void NotifyTransferred(JobData& job);
  void NotifyError(JobData& job);
  void NotifyFileTransferred(JobData& job, std::uint32_t index);
  // Runs the job's notify command line for `flag` (kNotifyJobTransferred or
  // kNotifyJobError) if it applies, and re-runs it after the retry delay
  // while it exits non-zero and the job stays in the same state.
  void RunNotifyCommand(JobData& job, std::uint32_t flag);
  void WatchNotifyCommand(const std::shared_ptr<JobData>& job, std::uint32_t flag, JobState state);
  void PostNotification(JobData& job, std::function<void(JobCallback&, Job&)> call);

  // TransferHost
  void OnTransferResponding(FileTransfer& transfer) override;
  void OnTransferProgress(FileTransfer& transfer) override;
  Status PersistFile(FileTransfer& transfer, const store::FileRecord& file) override;
  Status PersistProgress(FileTransfer& transfer, const store::FileRecord& file) override;
  std::size_t RunningTransfers() const override { return transfer_owner_.size(); }
  // Names the job's next files (from `next` on, up to a bound) that have no
  // temporary name yet, in one commit, so that each file's transfer starts
  // without one.
  void NameTemporaryFiles(JobData& job, std::vector<store::FileRecord>::iterator next);
  // Group commit for finished files: their last bytes are synced in batches
  // on the sync thread and each batch's completions are committed in one
  // transaction. A batch starts when kSyncBatchFiles files wait, when the
  // oldest has waited kSyncBatchWindow, or at once when a job waits for it
  // to become TRANSFERRED; files finished while a batch syncs join the next.
  struct FinishedFile {
    std::weak_ptr<JobData> job;
    std::shared_ptr<WriteTarget> target;  // the open file, and how its writes went
    store::FileRecord file;
    std::uint16_t run = 0;  // the job's run that finished it
  };
  struct SyncBatch {
    std::vector<FinishedFile> files;
    std::vector<Status> written;  // set on the write thread, after the files' writes
    std::vector<Status> synced;   // set by the sync thread
    // Of a file whose write failed: its bytes before the failure, synced.
    std::vector<std::uint64_t> kept;
    std::vector<bool> published;  // ditto: PrepareForPublishing succeeded
    std::promise<void> done;
    bool handled = false;  // engine thread: OnBatchSynced ran
    void CollectWrites();  // sets `written`; after the files' writes are done
    void Sync();           // sets `synced`; any thread, after CollectWrites
  };
  std::shared_ptr<SyncBatch> TakeWaitingFiles();
  void QueueFinishedFile(const std::shared_ptr<JobData>& job, std::shared_ptr<WriteTarget> target,
                         const store::FileRecord& file);
  void MaybeSyncBatch(bool urgent);
  void StartSyncBatch();
  void OnBatchSynced(const std::shared_ptr<SyncBatch>& batch_ref);
  // Shutdown: waits for the batch in flight and syncs the waiting files on
  // this thread, so a clean stop loses no completion.
  void FlushFinishedFiles();
  // A finished file whose bytes did not reach the disk is fetched again,
  // from `kept` bytes.
  void ForgetFinishedFile(JobData& job, const store::FileRecord& file, std::uint64_t kept);
  // A finished file's write, sync or commit failed: it is not complete
  // after all, and the job stops with the reason. `kept` bytes of it are on
  // disk and synced (a write failed after them).
  void FailFinishedFile(const std::shared_ptr<JobData>& job, const store::FileRecord& file,
                        const Status& why, std::uint64_t kept);
  void OnTransferFinished(FileTransfer& transfer, const TransferOutcome& outcome) override;
  // Creating files took 7% of the engine thread's time with 16 small files
  // at once: the next files' temporary files (named in the store already)
  // are made on the prepare thread while earlier files download. `from` is the first
  // file that may need one.
  void PrepareTemporaryFiles(const std::shared_ptr<JobData>& job, std::size_t from);
  void OnTemporaryFilesPrepared(const std::weak_ptr<JobData>& job,
                                const std::shared_ptr<JobData::Prepared::Gate>& gate,
                                std::vector<JobData::PreparedFile> files);
  // The prepared temporary file of `file`, or null.
  std::shared_ptr<platform::ScopedFd> TakePreparedFile(JobData& job, const store::FileRecord& file);
  // Creates no more files for `job` and closes those created (they stay,
  // empty, under their recorded names).
  void ClosePreparedFiles(JobData& job);
  // Keeps `finished`'s curl handle for the next file of `job` to start, if
  // the job runs and has fewer idle handles than concurrent files.
  void KeepEasyHandle(JobData& job, FileTransfer& finished);
  void OnCrlFetched(const std::string& url, std::shared_ptr<X509_CRL> crl) override;

  ManagerOptions options_;
  std::shared_ptr<const TlsTrust> trust_;
  platform::ScopedFd lock_file_;
  std::unique_ptr<store::Store> store_;
  std::unique_ptr<store::Vault> vault_;
  auth::ImplicitCredentialPolicy implicit_policy_;
  std::unordered_map<std::string, std::string> credential_caches_;  // owner -> cache
  std::unordered_map<std::string, platform::UserIdentity> owner_identities_;
  // CRLs fetched from distribution points, by URL, until their nextUpdate.
  std::unordered_map<std::string, std::shared_ptr<X509_CRL>> crl_cache_;

  boost::asio::io_context io_;
  std::optional<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> work_;
  std::thread thread_;
  std::thread::id engine_thread_id_;
  boost::asio::thread_pool sync_pool_{1};
  WriteQueue writes_;  // the write thread
  // Creates temporary files ahead; not the sync thread, whose syncs of a
  // slow disk would hold the creations up.
  boost::asio::thread_pool prepare_pool_{1};
  std::vector<FinishedFile> finished_unsynced_;  // the next sync batch
  mutable LastOrigin last_origin_;               // ResolveCredentials's
  std::shared_ptr<SyncBatch> batch_in_flight_;
  bool sync_urgent_ = false;  // start the next batch as soon as possible
  bool flushing_ = false;     // Shutdown syncs what is left itself
  std::optional<boost::asio::steady_timer> sync_window_timer_;
  std::unique_ptr<CurlMulti> multi_;
  std::unique_ptr<ProxyDiscovery> proxy_discovery_;

  boost::asio::io_context notify_io_;
  std::optional<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>>
      notify_work_;
  std::thread notify_thread_;

  std::shared_mutex lifecycle_;
  std::mutex closed_calls_;
  bool closed_ = false;

  std::unordered_map<Guid, std::shared_ptr<JobData>, GuidHash> jobs_;
  std::unordered_set<JobData*> runnable_;  // jobs in QUEUED/CONNECTING/TRANSFERRING
  std::unordered_map<FileTransfer*, JobData*> transfer_owner_;
  std::uint64_t last_job_id_ms_ = 0;  // NewJobId's clock, never going back
  std::int64_t next_sequence_ = 1;
  std::uint64_t next_queue_position_ = 1;
  bool schedule_posted_ = false;
};

}  // namespace openbits::engine

#endif  // OPENBITS_ENGINE_ENGINE_H_
