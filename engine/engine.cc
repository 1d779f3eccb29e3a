// Copyright (c) openbits authors. Licensed under the Apache License 2.0.

#include "engine/engine.h"

#include <algorithm>
#include <ctime>
#include <filesystem>

#include <boost/asio/post.hpp>
#include <curl/curl.h>

#include "auth/client_certificate.h"
#include "auth/credentials.h"
#include "auth/proxy_settings.h"
#include "auth/request_policy.h"
#include "engine/http_method.h"
#include "engine/job_impl.h"
#include "engine/job_properties.h"
#include "engine/job_secrets.h"
#include "engine/state_machine.h"
#include "platform/system.h"

namespace openbits::engine {

namespace asio = boost::asio;
using std::chrono::steady_clock;

namespace {

std::string KeyLocation(const ManagerOptions& options) {
  return options.key_directory.empty() ? platform::DefaultKeyLocation() : options.key_directory;
}

constexpr std::size_t kMaxCertificateSubject = 1024;
constexpr std::size_t kMaxCertificatePassword = 65536;

}  // namespace

// --- Lifetime ---------------------------------------------------------------

Engine::Engine(const ManagerOptions& options)
    : options_(options), owners_(options.act_as_job_owner) {}

Result<std::shared_ptr<Engine>> Engine::Open(const ManagerOptions& options) {
  if (options.state_directory.empty() || !platform::IsAbsolutePath(options.state_directory)) {
    return Status(kEInvalidArg, "the state directory must be an absolute path");
  }
  ManagerOptions opts = options;
  while (opts.state_directory.size() > 1 && opts.state_directory.back() == '/') {
    opts.state_directory.pop_back();
  }
  if (opts.checkpoint_bytes < 64 * 1024) opts.checkpoint_bytes = 64 * 1024;
  OPENBITS_RETURN_IF_ERROR(platform::MakeDirectories(opts.state_directory, 0700));
  std::shared_ptr<Engine> engine(new Engine(opts));
  std::shared_ptr<const TlsTrust> engine_trust;
  if (!opts.additional_ca_file.empty()) {
    auto trust = TlsTrust::FromPemFile(opts.additional_ca_file);
    if (!trust.ok()) return trust.status();
    engine_trust = std::move(*trust);
  }
  auto lock = platform::LockFile(opts.state_directory + "/openbits.lock");
  if (!lock.ok()) return lock.status();
  engine->lock_file_ = std::move(*lock);
  {
    // Trust anchor files of the last run (PublishTrustAnchors): made again
    // as jobs start, from the stores as they are now.
    std::error_code ignored;
    std::filesystem::remove_all(opts.state_directory + "/trust", ignored);
  }
  auto store = store::Store::Open(opts.state_directory + "/queue.db");
  if (!store.ok()) return store.status();
  engine->store_ = std::move(*store);
  auto vault = store::Vault::Open(*engine->store_, platform::NewKeyProtector(KeyLocation(opts)));
  if (!vault.ok()) return vault.status();
  engine->vault_ = std::move(*vault);
  for (const std::string& warning : engine->vault_->warnings()) {
    Log(opts.log, LogLevel::kWarning, "credential vault: " + warning);
  }
  auto policy = auth::LoadImplicitCredentialPolicy(
      opts.policy_file.empty() ? opts.state_directory + "/openbits.conf" : opts.policy_file);
  if (!policy.ok()) return policy.status();
  auto limits = auth::LoadQueueLimits(
      opts.policy_file.empty() ? opts.state_directory + "/openbits.conf" : opts.policy_file);
  if (!limits.ok()) return limits.status();
  engine->limits_ = *limits;
  auto discovery = auth::LoadProxyDiscoveryConfig(
      opts.policy_file.empty() ? opts.state_directory + "/openbits.conf" : opts.policy_file);
  if (!discovery.ok()) return discovery.status();
  engine->proxy_discovery_ = std::make_unique<ProxyDiscovery>(
      engine->io_, discovery->autoconfig_url, std::chrono::seconds(discovery->timeout_s));
  engine->request_config_ = std::make_unique<RequestConfig>(
      engine->options_, *engine->vault_, engine->owners_, engine->proxy_discovery_.get(),
      std::move(engine_trust), *policy);

  std::weak_ptr<Engine> weak = engine;
  engine->notifier_ = std::make_unique<Notifier>(
      engine->io_, engine->table_, engine->owners_, opts.log, opts.minimum_retry_delay_floor,
      [weak](const std::shared_ptr<JobData>& job) -> std::shared_ptr<Job> {
        auto e = weak.lock();
        return e ? e->MakeJobHandle(job) : nullptr;
      });
  engine->temp_files_ =
      std::make_unique<TemporaryFiles>(engine->io_, *engine->store_, engine->owners_);
  engine->runner_ = std::make_unique<JobRunner>(
      engine->io_, *engine->store_, engine->table_, *engine->notifier_, *engine->temp_files_,
      *engine->request_config_,
      JobRunner::Settings{opts.run_transfers, opts.background_concurrency});
  engine->lifecycle_ = std::make_unique<JobLifecycle>(
      engine->io_, *engine->store_, engine->table_, *engine->notifier_, *engine->runner_,
      LifecycleTiming{opts.time_slice, opts.minimum_retry_delay_floor});
  engine->runner_->SetLifecycle(engine->lifecycle_.get());

  // Load on this thread before the engine thread exists: nothing else can
  // touch the state yet.
  engine->engine_thread_id_ = std::this_thread::get_id();
  Status loaded = engine->LoadQueue();
  engine->engine_thread_id_ = {};
  if (!loaded.ok()) return loaded;
  platform::ReleaseFreedMemory();  // the rows read while loading a big queue

  engine->work_.emplace(engine->io_.get_executor());
  std::promise<void> started;
  engine->thread_ = std::thread([e = engine.get(), &started] {
    e->engine_thread_id_ = std::this_thread::get_id();
    started.set_value();
    e->io_.run();
  });
  started.get_future().wait();
  asio::post(engine->io_, [e = engine.get()] { e->runner_->Schedule(); });
  return engine;
}

Status Engine::CheckQueue(const ManagerOptions& options) {
  auto store = store::Store::Open(options.state_directory + "/queue.db");
  if (!store.ok()) return store.status();
  auto vault = store::Vault::Open(**store, platform::NewKeyProtector(KeyLocation(options)));
  return vault.ok() ? Status::Ok() : vault.status();
}

Engine::~Engine() { Shutdown(); }

void Engine::Shutdown() {
  {
    std::unique_lock closing(shutdown_mutex_);
    if (closed_) return;
    if (thread_.joinable()) {
      std::promise<void> stopped;
      asio::post(io_, [this, &stopped] {
        runner_->StopAll();
        stopped.set_value();
      });
      stopped.get_future().wait();
      work_.reset();
      io_.stop();
      thread_.join();
    }
    proxy_discovery_.reset();  // a lookup stuck in a PAC script is cancelled
    if (runner_) runner_->Join();
    if (temp_files_) temp_files_->Join();
    closed_ = true;
    // A Job handle may keep this object alive long after its Manager is
    // gone; the queue must not stay locked and open for that long, or the
    // same process could not open it again.
    vault_.reset();
    store_.reset();
    lock_file_ = platform::ScopedFd();
  }
  if (notifier_) notifier_->Stop();
}

// --- Loading ------------------------------------------------------------

Status Engine::LoadQueue() {
  // Filled in place: a copy of 100,000 records would double the peak.
  std::vector<std::shared_ptr<JobData>> loaded;
  OPENBITS_RETURN_IF_ERROR(
      store_->LoadJobsInto([&] { return &loaded.emplace_back(std::make_shared<JobData>())->rec; }));
  table_.Load(loaded);
  const auto now = steady_clock::now();
  for (const std::shared_ptr<JobData>& job : loaded) {
    job->last_progress = now;
    if (!job->rec.custom_headers.empty()) {
      OPENBITS_RETURN_IF_ERROR(SealLegacyCustomHeaders(*job));
    }
    bool lost_data = false;
    for (store::FileRecord& f : job->rec.files) {
      const bool was_complete = f.completed;
      bool changed = false;
      {
        auto as_owner = owners_.ActAs(job->rec.owner);
        changed = as_owner.ok() && ReconcileTemporaryFile(f);
      }
      if (changed) {
        OPENBITS_RETURN_IF_ERROR(store_->UpdateFile(job->rec.id, f));
        lost_data |= was_complete && !f.completed;
      }
    }
    if (lost_data && job->rec.state == JobState::kTransferred &&
        job->rec.pending == store::PendingAction::kNone) {
      // A finished file lost bytes while we were not running (disk trouble,
      // a user): fetch them again rather than hand out a short file.
      OPENBITS_RETURN_IF_ERROR(lifecycle_->Apply(*job, JobEvent::kFileLost));
    }
  }
  std::vector<std::shared_ptr<JobData>> pending;
  for (const std::shared_ptr<JobData>& job : loaded) {
    if (job->rec.pending != store::PendingAction::kNone) {
      pending.push_back(job);
      continue;
    }
    if (IsFinal(job->rec.state)) {
      // A final job whose deletion did not commit: finish it.
      job->rec.pending = job->rec.state == JobState::kCancelled ? store::PendingAction::kCancel
                                                                : store::PendingAction::kComplete;
      pending.push_back(job);
      continue;
    }
    // It was running when we stopped: it queues again.
    OPENBITS_RETURN_IF_ERROR(lifecycle_->Apply(*job, JobEvent::kReopened));
    lifecycle_->Reloaded(*job);
    table_.UpdateRunnable(*job);
  }
  for (auto& job : pending) FinishPendingAction(*job);
  return Status::Ok();
}

Status Engine::SealLegacyCustomHeaders(JobData& job) {
  // A queue from before schema version 8 kept them in plaintext in
  // jobs.custom_headers: into the vault, and the column emptied, in one
  // transaction (store_format.md).
  const std::string plain = job.rec.custom_headers.str();
  job.rec.custom_headers.clear();
  Status st = WriteSecret(job, kCustomHeadersPurpose, AsBytes(plain));
  if (!st.ok()) job.rec.custom_headers = plain;
  return st;
}

void Engine::FinishPendingAction(JobData& job) {
  if (job.rec.pending == store::PendingAction::kCancel) {
    (void)Cancel(job);
  } else {
    (void)Complete(job);
  }
}

// --- Jobs -------------------------------------------------------------------

Result<std::shared_ptr<JobData>> Engine::CreateJob(const Caller& caller, std::string_view name,
                                                   JobType type) {
  if (closed_) return Status(kEFail, "the manager is closed");
  if (type != JobType::kDownload) {
    return Status(kENotImpl, "upload jobs are not supported yet");
  }
  if (name.size() > kMaxDisplayName) {
    return Status(kEInvalidArg, "the display name is longer than 256 characters");
  }
  auto job = table_.NewJob(caller.user, name, type);
  OPENBITS_RETURN_IF_ERROR(store_->InsertJob(job->rec));
  table_.Insert(job);
  return job;
}

Result<std::vector<std::shared_ptr<JobData>>> Engine::CreateJobs(
    const Caller& caller, const std::vector<JobSpec>& specs) {
  if (closed_) return Status(kEFail, "the manager is closed");
  std::vector<std::shared_ptr<JobData>> created;
  created.reserve(specs.size());
  std::unordered_map<std::string, DestinationCheck>
      directories;  // every job has the caller as owner
  for (std::size_t i = 0; i < specs.size(); ++i) {
    const JobSpec& spec = specs[i];
    const std::string where = "job spec " + std::to_string(i) + ": ";
    if (spec.display_name.size() > kMaxDisplayName) {
      return Status(kEInvalidArg, where + "the display name is longer than 256 characters");
    }
    if (spec.description.size() > kMaxDescription) {
      return Status(kEInvalidArg, where + "the description is longer than 1024 characters");
    }
    const int priority = static_cast<int>(spec.priority);
    if (priority < 0 || priority > 3) return Status(kEInvalidArg, where + "unknown priority");
    if (spec.resume && spec.files.empty()) return Status(kBgEEmpty, where + "no files to resume");
    auto job = table_.NewJob(caller.user, spec.display_name, JobType::kDownload);
    job->rec.description = spec.description;
    job->rec.priority = spec.priority;
    if (!spec.files.empty()) {
      if (Status limit = CheckFileLimit(caller, job->rec, spec.files.size()); !limit.ok()) {
        return Status(limit.code(), where + limit.message());
      }
      PrepareRoute(*job);
      Status st = BuildFileRecords(job->rec, spec.files, nullptr, FileChecks(), &job->rec.files,
                                   &job->rec.secrets, &directories);
      if (!st.ok()) return Status(st.code(), where + st.message());
    }
    if (spec.resume) {
      job->rec.state = JobState::kQueued;
      job->rec.ever_resumed = true;
    }
    created.push_back(std::move(job));
  }
  Status stored = store_->RunInTransaction([&]() -> Status {
    for (auto& job : created) OPENBITS_RETURN_IF_ERROR(store_->InsertJob(job->rec));
    return Status::Ok();
  });
  if (!stored.ok()) return stored;
  for (auto& job : created) table_.Insert(job);
  runner_->ScheduleSoon();
  return created;
}

Result<std::shared_ptr<JobData>> Engine::FindJob(const Caller& caller, const Guid& id) {
  if (closed_) return Status(kEFail, "the manager is closed");
  std::shared_ptr<JobData> job = table_.Find(id);
  if (!job) return Status(kBgENotFound, "no job " + id.ToString());
  if (job->rec.owner != caller.user && !caller.is_admin) {
    return Status(kEAccessDenied, "the job belongs to another user");
  }
  return job;
}

Result<std::vector<std::shared_ptr<JobData>>> Engine::ListJobs(const Caller& caller,
                                                               EnumScope scope) {
  if (closed_) return Status(kEFail, "the manager is closed");
  if (scope == EnumScope::kAllUsers && !caller.is_admin) {
    return Status(kEAccessDenied, "listing all users' jobs needs administrator rights");
  }
  return table_.Ordered(scope == EnumScope::kAllUsers ? nullptr : &caller.user);
}

Status Engine::AddFiles(const Caller& caller, JobData& job, const std::vector<FileInfo>& files,
                        const std::vector<FileRange>* ranges) {
  if (closed_) return Status(kEFail, "the manager is closed");
  OPENBITS_RETURN_IF_ERROR(lifecycle_->Check(job, JobEvent::kModify));
  std::vector<store::FileRecord> added;
  std::vector<store::SecretRecord> secrets;
  PrepareRoute(job);
  OPENBITS_RETURN_IF_ERROR(CheckFileLimit(caller, job.rec, files.size()));
  OPENBITS_RETURN_IF_ERROR(
      BuildFileRecords(job.rec, files, ranges, FileChecks(), &added, &secrets));
  job.rec.modification_time_ms = NowMs();
  Status st = store_->RunInTransaction([&]() -> Status {
    OPENBITS_RETURN_IF_ERROR(store_->InsertFiles(job.rec.id, added));
    for (const auto& secret : secrets) {
      OPENBITS_RETURN_IF_ERROR(store_->PutSecret(job.rec.id, secret.purpose, secret.sealed));
    }
    return store_->UpdateJob(job.rec);
  });
  if (!st.ok()) return st;
  for (auto& f : added) job.rec.files.push_back(std::move(f));
  for (auto& secret : secrets) KeepSecret(job.rec, std::move(secret));
  notifier_->Modification(job, false);
  return Status::Ok();
}

Status Engine::CheckFileLimit(const Caller& caller, const store::JobRecord& job,
                              std::size_t adding) const {
  // BITS's MaxFilesPerJob: administrators are exempt.
  const auto limit = static_cast<std::size_t>(limits_.max_files_per_job);
  if (limit == 0 || caller.is_admin || job.files.size() + adding <= limit) return Status::Ok();
  return Status(kBgETooManyFilesInJob, "a job holds at most " + std::to_string(limit) +
                                           " files (MaxFilesPerJob in openbits.conf)");
}

void Engine::PrepareRoute(const JobData& job) {
  // The proxy resolver is a helper process that takes milliseconds to load;
  // it loads while the job is stored instead of while its first file waits.
  if (proxy_discovery_) proxy_discovery_->Prepare(job.rec.proxy_usage);
}

Status Engine::Resume(JobData& job) {
  if (closed_) return Status(kEFail, "the manager is closed");
  OPENBITS_RETURN_IF_ERROR(lifecycle_->Check(job, JobEvent::kResume));
  PrepareRoute(job);
  return lifecycle_->Apply(job, JobEvent::kResume);
}

Status Engine::Suspend(JobData& job) {
  if (closed_) return Status(kEFail, "the manager is closed");
  return lifecycle_->Apply(job, JobEvent::kSuspend);
}

Status Engine::Cancel(JobData& job) {
  if (closed_) return Status(kEFail, "the manager is closed");
  OPENBITS_RETURN_IF_ERROR(lifecycle_->Check(job, JobEvent::kCancel));
  runner_->StopTransfer(job, /*keep_progress=*/false);
  job.rec.pending = store::PendingAction::kCancel;
  OPENBITS_RETURN_IF_ERROR(store_->UpdateJob(job.rec));
  Status deleted = temp_files_->Delete(job);
  OPENBITS_RETURN_IF_ERROR(lifecycle_->Apply(job, JobEvent::kCancel));
  return deleted;
}

Status Engine::Complete(JobData& job) {
  if (closed_) return Status(kEFail, "the manager is closed");
  OPENBITS_RETURN_IF_ERROR(lifecycle_->Check(job, JobEvent::kComplete));
  runner_->StopTransfer(job, /*keep_progress=*/true);
  job.rec.pending = store::PendingAction::kComplete;
  OPENBITS_RETURN_IF_ERROR(store_->UpdateJob(job.rec));

  TemporaryFiles::Publication published = temp_files_->Publish(job);
  const Status& st = published.status;
  const std::vector<store::FileRecord*>& renamed = published.renamed;
  const store::FileRecord* failed = published.failed;
  const bool partial = published.partial;
  for (store::FileRecord* f : renamed) f->renamed = true;
  if (!st.ok()) {
    // BITS: the job stays TRANSFERRED; renamed files stay available; the
    // application fixes the cause and calls Complete again or Cancel.
    (void)store_->RunInTransaction([&]() -> Status {
      for (store::FileRecord* f : renamed) (void)store_->UpdateFile(job.rec.id, *f);
      return Status::Ok();
    });
    job.rec.pending = store::PendingAction::kNone;
    TransferOutcome o = LocalFileFailure(st);
    const std::string name = failed != nullptr ? failed->local_name : std::string("a file");
    JobLifecycle::RecordError(job, o,
                              failed != nullptr ? static_cast<std::int64_t>(failed->index) : -1);
    job.rec.modification_time_ms = NowMs();
    (void)store_->UpdateJob(job.rec);
    notifier_->Modification(job, false);
    runner_->ScheduleSoon();  // a job that still had files to fetch runs again
    return Status(st.code(), "could not move " + name + " into place: " + st.message());
  }
  (void)temp_files_->Delete(job);
  OPENBITS_RETURN_IF_ERROR(lifecycle_->Apply(job, JobEvent::kComplete));
  if (partial) {
    return Status(kBgSPartialComplete, "files that were not complete were deleted");
  }
  return Status::Ok();
}

Status Engine::UpdateInPlace(JobData& job, const std::function<Status(store::JobRecord&)>& change) {
  if (closed_) return Status(kEFail, "the manager is closed");
  OPENBITS_RETURN_IF_ERROR(lifecycle_->Check(job, JobEvent::kModify));
  // The row without the files: a change never copies a job's file list.
  store::JobRecord before = CopyRow(job.rec);
  Status st = change(job.rec);
  if (st.ok()) {
    job.rec.modification_time_ms = NowMs();
    st = store_->UpdateJob(job.rec);
  }
  if (!st.ok()) {
    RestoreRow(job.rec, std::move(before));  // the store first; memory follows it
    return st;
  }
  if (job.rec.priority != before.priority) {
    job.slice_timer.cancel();
    runner_->ScheduleSoon();
  }
  if (job.rec.max_concurrent_files > before.max_concurrent_files && job.running()) {
    if (auto shared = table_.SharedOf(job)) runner_->StartNextFile(shared);
  }
  if (job.rec.security_flags != before.security_flags) runner_->RestartTransfer(job);
  notifier_->Modification(job, false);
  return Status::Ok();
}

Status Engine::SetProperty(JobData& job, JobProperty property, const PropertyValue& value) {
  if (property == JobProperty::kCustomHeaders) {
    const auto* headers = std::get_if<std::string>(&value);
    if (headers == nullptr) return Status(kEInvalidArg, "customHeaders takes a string");
    return SetCustomHeaders(job, *headers);
  }
  return UpdateInPlace(job, [&](store::JobRecord& r) { return ApplyProperty(r, property, value); });
}

PropertyValue Engine::GetProperty(const JobData& job, JobProperty property) const {
  if (property == JobProperty::kCustomHeaders) return VisibleCustomHeadersOf(job);
  return ReadProperty(job.rec, property);
}

Status Engine::SetCallback(JobData& job, std::shared_ptr<JobCallback> callback) {
  if (closed_) return Status(kEFail, "the manager is closed");
  if (IsFinal(job.rec.state)) return Status(kBgEInvalidState, "the job is final");
  job.callback = std::move(callback);
  return Status::Ok();
}

// --- TLS ----------------------------------------------------------------------

Status Engine::SetClientCertificate(JobData& job, CertStoreLocation location,
                                    std::string_view store_name,
                                    const std::array<std::uint8_t, 20>* hash,
                                    std::string_view subject) {
  if (closed_) return Status(kEFail, "the manager is closed");
  OPENBITS_RETURN_IF_ERROR(lifecycle_->Check(job, JobEvent::kModify));
  const int where = static_cast<int>(location);
  if (where < 0 || where > 7) return Status(kEInvalidArg, "unknown certificate store location");
  if (hash == nullptr && subject.empty()) {
    return Status(kEInvalidArg, "the subject to look for is empty");
  }
  if (subject.size() > kMaxCertificateSubject || subject.find('\0') != std::string_view::npos) {
    return Status(kEInvalidArg, "the subject is longer than 1024 characters or holds a NUL");
  }
  auto password = CertificatePasswordOf(*vault_, job.rec);
  if (!password.ok()) return password.status();
  auto contents = request_config_->ReadOwnerStore(job.rec, location, store_name, &*password);
  if (!contents.ok()) return contents.status();
  auth::CertificateQuery query;
  query.thumbprint = hash;
  query.subject = subject;
  auto index = auth::SelectClientCertificate(*contents, query, std::time(nullptr));
  if (!index.ok()) return index.status();
  const std::vector<std::uint8_t>& chosen = contents->certificates[*index].der;
  const std::string hex = auth::ThumbprintHex(auth::Thumbprint(chosen));
  const std::string shown = hash != nullptr ? auth::CommonName(chosen) : std::string(subject);
  Status st = UpdateInPlace(job, [&](store::JobRecord& r) {
    r.cert_location = where;
    r.cert_store = std::string(store_name);
    r.cert_hash = hex;
    r.cert_subject = shown;
    return Status::Ok();
  });
  if (st.ok()) runner_->RestartTransfer(job);
  return st;
}

Status Engine::RemoveClientCertificate(JobData& job) {
  if (closed_) return Status(kEFail, "the manager is closed");
  OPENBITS_RETURN_IF_ERROR(lifecycle_->Check(job, JobEvent::kModify));
  if (job.rec.cert_location < 0) return Status::Ok();
  Status st = UpdateInPlace(job, [](store::JobRecord& r) {
    r.cert_location = -1;
    r.cert_store.clear();
    r.cert_hash.clear();
    r.cert_subject.clear();
    return Status::Ok();
  });
  if (st.ok()) runner_->RestartTransfer(job);
  return st;
}

Status Engine::SetClientCertificatePassword(JobData& job, std::string_view password) {
  if (closed_) return Status(kEFail, "the manager is closed");
  OPENBITS_RETURN_IF_ERROR(lifecycle_->Check(job, JobEvent::kModify));
  if (password.size() > kMaxCertificatePassword) {
    return Status(kBgEPasswordTooLarge, "the password is longer than 65536 characters");
  }
  return ReplaceSecret(job, kCertificatePasswordPurpose, password);
}

Status Engine::WriteSecret(JobData& job, std::string_view purpose_name,
                           std::span<const std::uint8_t> plain, std::string_view replaced) {
  const std::string purpose(purpose_name);
  auto sealed = vault_->Seal(job.rec.id, purpose, plain);
  if (!sealed.ok()) return sealed.status();
  const bool drop = !replaced.empty() && FindSecret(job.rec, replaced) != nullptr;
  Status st = store_->RunInTransaction([&]() -> Status {
    OPENBITS_RETURN_IF_ERROR(store_->PutSecret(job.rec.id, purpose, *sealed));
    if (drop) OPENBITS_RETURN_IF_ERROR(store_->DeleteSecret(job.rec.id, std::string(replaced)));
    return store_->UpdateJob(job.rec);
  });
  if (!st.ok()) return st;
  if (drop) ForgetSecret(job.rec, replaced);
  KeepSecret(job.rec, store::SecretRecord{purpose, std::move(*sealed)});
  return Status::Ok();
}

Status Engine::SaveSecret(JobData& job, std::string_view purpose,
                          std::span<const std::uint8_t> plain, std::string_view replaced) {
  job.rec.modification_time_ms = NowMs();
  OPENBITS_RETURN_IF_ERROR(WriteSecret(job, purpose, plain, replaced));
  notifier_->Modification(job, false);
  return Status::Ok();
}

Status Engine::RemoveSecret(JobData& job, std::string_view purpose_name) {
  const std::string purpose(purpose_name);
  if (FindSecret(job.rec, purpose) == nullptr) return Status::Ok();
  job.rec.modification_time_ms = NowMs();
  Status st = store_->RunInTransaction([&]() -> Status {
    OPENBITS_RETURN_IF_ERROR(store_->DeleteSecret(job.rec.id, purpose));
    return store_->UpdateJob(job.rec);
  });
  if (!st.ok()) return st;
  ForgetSecret(job.rec, purpose);
  notifier_->Modification(job, false);
  return Status::Ok();
}

Status Engine::ReplaceSecret(JobData& job, std::string_view purpose, std::string_view plain) {
  return plain.empty() ? RemoveSecret(job, purpose) : SaveSecret(job, purpose, AsBytes(plain));
}

Status Engine::SetCustomHeaders(JobData& job, std::string_view headers) {
  if (closed_) return Status(kEFail, "the manager is closed");
  OPENBITS_RETURN_IF_ERROR(lifecycle_->Check(job, JobEvent::kModify));
  OPENBITS_RETURN_IF_ERROR(auth::ParseCustomHeaders(headers).status());
  if (FindSecret(job.rec, kWriteOnlyCustomHeadersPurpose) != nullptr) {
    // Sealed even when empty: the record itself says "write-only".
    return SaveSecret(job, kWriteOnlyCustomHeadersPurpose, AsBytes(headers));
  }
  return ReplaceSecret(job, kCustomHeadersPurpose, headers);
}

Status Engine::MakeCustomHeadersWriteOnly(JobData& job) {
  if (closed_) return Status(kEFail, "the manager is closed");
  OPENBITS_RETURN_IF_ERROR(lifecycle_->Check(job, JobEvent::kModify));
  if (FindSecret(job.rec, kWriteOnlyCustomHeadersPurpose) != nullptr) return Status::Ok();
  auto headers = CustomHeadersOf(*vault_, job.rec);
  if (!headers.ok()) return headers.status();
  return SaveSecret(job, kWriteOnlyCustomHeadersPurpose, AsBytes(*headers), kCustomHeadersPurpose);
}

std::string Engine::VisibleCustomHeadersOf(const JobData& job) const {
  if (FindSecret(job.rec, kWriteOnlyCustomHeadersPurpose) != nullptr) return std::string();
  return CustomHeadersOf(*vault_, job.rec).value_or(std::string());
}

// --- Credentials ------------------------------------------------------------

Status Engine::SetCredential(JobData& job, AuthTarget target, AuthScheme scheme, bool implicit,
                             std::string_view user_name, std::string_view password) {
  if (closed_) return Status(kEFail, "the manager is closed");
  OPENBITS_RETURN_IF_ERROR(lifecycle_->Check(job, JobEvent::kModify));
  OPENBITS_RETURN_IF_ERROR(
      auth::ValidateCredentials(target, scheme, implicit, user_name, password));
  platform::SecretBuffer plain = auth::EncodeCredential(implicit, user_name, password);
  return SaveSecret(job, auth::CredentialPurpose(target, scheme),
                    std::span(plain.data(), plain.size()));
}

Status Engine::RemoveCredential(JobData& job, AuthTarget target, AuthScheme scheme) {
  if (closed_) return Status(kEFail, "the manager is closed");
  OPENBITS_RETURN_IF_ERROR(lifecycle_->Check(job, JobEvent::kModify));
  OPENBITS_RETURN_IF_ERROR(auth::ValidateCredentials(target, scheme, false, "-", ""));
  return RemoveSecret(job, auth::CredentialPurpose(target, scheme));
}

Status Engine::SetCredentialCache(const Caller& caller, std::string_view cache) {
  if (cache.empty()) {
    request_config_->UseCredentialCache(caller.user, "");
    return Status::Ok();
  }
  if (cache.size() > 4096 ||
      std::any_of(cache.begin(), cache.end(), [](char c) { return c < 0x20 || c == 0x7f; })) {
    return Status(kEInvalidArg, "not a credential cache name");
  }
  std::string_view type = "FILE";
  std::string_view residual = cache;
  if (auto colon = cache.find(':'); colon != std::string_view::npos && cache.front() != '/') {
    type = cache.substr(0, colon);
    residual = cache.substr(colon + 1);
  }
  if (type == "FILE" || type == "DIR") {
    // The daemon may run with more rights than the caller: only a cache the
    // caller owns may speak for them.
    if (residual.empty() || residual.front() != '/') {
      return Status(kEInvalidArg, "a FILE: or DIR: credential cache needs an absolute path");
    }
    const std::string path(residual);
    if (!caller.is_admin && platform::OwnerOf(path) != caller.user) {
      return Status(kEAccessDenied, "the credential cache " + path + " does not belong to you");
    }
  } else if (type == "KEYRING" || type == "KCM") {
    // Kernel keyrings and KCM caches are named by uid: only the caller's own.
    const std::string own = type == "KEYRING" ? "persistent:" + caller.user : caller.user;
    if (!caller.is_admin && residual != own && residual.rfind(own + ":", 0) != 0) {
      return Status(kEAccessDenied,
                    "the credential cache " + std::string(cache) + " does not belong to you");
    }
  } else {
    return Status(kEInvalidArg, "unsupported credential cache type " + std::string(type));
  }
  request_config_->UseCredentialCache(caller.user, cache);
  return Status::Ok();
}

Status Engine::TakeOwnership(JobData& job, const Caller& caller) {
  if (closed_) return Status(kEFail, "the manager is closed");
  if (!caller.is_admin) {
    return Status(kEAccessDenied, "taking ownership of a job needs administrator rights");
  }
  OPENBITS_RETURN_IF_ERROR(lifecycle_->Check(job, JobEvent::kModify));
  if (job.rec.owner == caller.user) return Status::Ok();
  // The new owner must be able to finish the job.
  for (const store::FileRecord& f : job.rec.files) {
    if (f.renamed) continue;
    auto as_new_owner = owners_.ActAs(caller.user);
    Status access = as_new_owner.ok()
                        ? platform::CheckDestination(f.local_name, options_.state_directory)
                        : as_new_owner.status();
    if (!access.ok()) {
      return Status(kBgENewOwnerNoFileAccess,
                    "the new owner cannot write " + f.local_name + ": " + access.message());
    }
  }
  std::vector<std::string> dropped;
  for (const store::SecretRecord& secret : job.rec.secrets) {
    if (secret.purpose.rfind("credential/", 0) == 0 ||
        secret.purpose == kCertificatePasswordPurpose || secret.purpose == kCustomHeadersPurpose ||
        secret.purpose == kWriteOnlyCustomHeadersPurpose) {
      dropped.push_back(secret.purpose);
    }
  }
  // In place, undone if the store refuses: the file list is never copied.
  store::JobRecord before = CopyRow(job.rec);
  store::JobRecord& r = job.rec;
  r.owner = caller.user;
  r.cert_location = -1;
  r.cert_store.clear();
  r.cert_hash.clear();
  r.cert_subject.clear();
  r.custom_headers.clear();
  r.notify_program.clear();
  r.notify_parameters.clear();
  r.modification_time_ms = NowMs();
  Status st = store_->RunInTransaction([&]() -> Status {
    for (const std::string& purpose : dropped) {
      OPENBITS_RETURN_IF_ERROR(store_->DeleteSecret(r.id, purpose));
    }
    return store_->UpdateJob(r);
  });
  if (!st.ok()) {
    RestoreRow(r, std::move(before));
    return st;
  }
  for (const std::string& purpose : dropped) ForgetSecret(r, purpose);
  notifier_->Modification(job, false);
  return Status::Ok();
}

Status Engine::RotateCredentialKey(const Caller& caller) {
  if (closed_) return Status(kEFail, "the manager is closed");
  if (!caller.is_admin && caller.user != platform::CurrentUserId()) {
    return Status(kEAccessDenied, "only the queue's owner or an administrator rotates its key");
  }
  OPENBITS_RETURN_IF_ERROR(vault_->RotateKey());
  auto secrets = store_->LoadSecrets();
  if (!secrets.ok()) return secrets.status();
  for (const auto& [id, job] : table_.jobs()) job->rec.secrets.clear();
  for (auto& [id, secret] : *secrets) {
    if (auto job = table_.Find(id)) job->rec.secrets.push_back(std::move(secret));  // sorted
  }
  return Status::Ok();
}

std::shared_ptr<Job> Engine::MakeJobHandle(const std::shared_ptr<JobData>& job) {
  return std::make_shared<JobImpl>(shared_from_this(), job,
                                   Caller{job->rec.owner, platform::IsAdministrator()});
}

}  // namespace openbits::engine
