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
#include "engine/durability.h"
#include "engine/file_transfer.h"
#include "engine/job_data.h"
#include "engine/job_lifecycle.h"
#include "engine/job_runner.h"
#include "engine/job_table.h"
#include "engine/job_validation.h"
#include "engine/log.h"
#include "engine/notifier.h"
#include "engine/owner_access.h"
#include "engine/proxy_discovery.h"
#include "engine/request_config.h"
#include "engine/temp_files.h"
#include "engine/write_queue.h"
#include "platform/cert_store.h"
#include "platform/file_system.h"
#include "platform/identity.h"
#include "store/store.h"
#include "store/vault.h"

namespace openbits::engine {

class Engine final : public std::enable_shared_from_this<Engine> {
 public:
  static Result<std::shared_ptr<Engine>> Open(const ManagerOptions& options);
  // Opens the queue database and the credential vault of `options` and
  // closes them again, starting no thread: what Open() would refuse, this
  // refuses (a daemon checks it before it detaches).
  static Status CheckQueue(const ManagerOptions& options);
  ~Engine();

  // Stops transfers (checkpointing them) and the threads. Idempotent.
  void Shutdown();

  // Runs `f` on the engine thread and returns its result. After Shutdown(),
  // runs `f` on the calling thread, serialized; functions then see closed().
  template <typename F>
  auto Call(F&& f) -> decltype(f()) {
    using R = decltype(f());
    if (std::this_thread::get_id() == engine_thread_id_) return f();
    {
      std::shared_lock closing(shutdown_mutex_);
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
  // `caller` adds them (administrators are exempt from MaxFilesPerJob).
  Status AddFiles(const Caller& caller, JobData& job, const std::vector<FileInfo>& files,
                  const std::vector<FileRange>* ranges);
  Status Resume(JobData& job);
  Status Suspend(JobData& job);
  Status Cancel(JobData& job);
  Status Complete(JobData& job);
  // Sets one property (job_properties.h holds every rule) if the job is
  // not final: validated, written to the store, then kept; the job's
  // watchers hear of it. The one entry for the library's setters and the
  // daemon's job.set.
  Status SetProperty(JobData& job, JobProperty property, const PropertyValue& value);
  PropertyValue GetProperty(const JobData& job, JobProperty property) const;
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
  // What GetCustomHeaders shows: "" once they are write-only.
  std::string VisibleCustomHeadersOf(const JobData& job) const;
  Status MakeCustomHeadersWriteOnly(JobData& job);
  Status TakeOwnership(JobData& job, const Caller& caller);
  // The Kerberos credential cache ("FILE:/tmp/krb5cc_1000") whose tickets
  // are `caller`'s implicit credentials from now on (BITS's helper token).
  // FILE: and DIR: caches must belong to the caller. Not persisted: every
  // client tells it again.
  Status SetCredentialCache(const Caller& caller, std::string_view cache);

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
  // What file checks need (job_validation.h).
  FileCheckContext FileChecks() {
    return FileCheckContext{owners_, *vault_, options_.state_directory};
  }
  // Applies `change` to the record in place if the job is not final and
  // writes it; a failed check or write leaves the record as it was. Then
  // the change's effects (scheduling, more files, restarted transfers) and
  // a modification notice.
  Status UpdateInPlace(JobData& job, const std::function<Status(store::JobRecord&)>& change);
  void FinishPendingAction(JobData& job);
  // BG_E_TOO_MANY_FILES_IN_JOB when `adding` more files would take the job
  // past MaxFilesPerJob.
  Status CheckFileLimit(const Caller& caller, const store::JobRecord& job,
                        std::size_t adding) const;
  // Starts the proxy resolver the job's proxy usage needs, in the background.
  void PrepareRoute(const JobData& job);

  ManagerOptions options_;
  platform::ScopedFd lock_file_;
  std::unique_ptr<store::Store> store_;
  std::unique_ptr<store::Vault> vault_;
  OwnerAccess owners_;
  auth::QueueLimits limits_;

  boost::asio::io_context io_;
  std::optional<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> work_;
  std::thread thread_;
  std::thread::id engine_thread_id_;
  std::unique_ptr<TemporaryFiles> temp_files_;
  std::unique_ptr<ProxyDiscovery> proxy_discovery_;
  std::unique_ptr<RequestConfig> request_config_;

  std::unique_ptr<Notifier> notifier_;
  JobTable table_;
  std::unique_ptr<JobLifecycle> lifecycle_;
  std::unique_ptr<JobRunner> runner_;  // after what it refers to: it goes first

  std::shared_mutex shutdown_mutex_;
  std::mutex closed_calls_;
  bool closed_ = false;
};

}  // namespace openbits::engine

#endif  // OPENBITS_ENGINE_ENGINE_H_
