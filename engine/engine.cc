// Copyright (c) openbits authors. Licensed under the Apache License 2.0.

#include "engine/engine.h"

#include <algorithm>
#include <array>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <map>
#include <sys/wait.h>

#include <boost/asio/post.hpp>
#include <curl/curl.h>
#include <openssl/pem.h>

#include "auth/client_certificate.h"
#include "auth/credentials.h"
#include "auth/proxy_settings.h"
#include "auth/request_policy.h"
#include "engine/http_method.h"
#include "engine/job_impl.h"
#include "engine/notify_command.h"
#include "engine/scheduler.h"
#include "engine/state_machine.h"
#include "platform/system.h"

namespace openbits::engine {

namespace asio = boost::asio;
using std::chrono::steady_clock;

namespace {

constexpr std::size_t kMaxDisplayName = 256;
constexpr std::size_t kMaxUrlLength = 2200;
constexpr std::size_t kMaxPathLength = 4096;

std::int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// An RFC 9562 version 7 GUID: the creation time in milliseconds first, then
// 74 random bits. The queue's tables are keyed by job id: jobs created
// together land side by side, so a batch of 2,000 dirties a few pages of
// each B-tree instead of one page per job (docs/compatibility.md).
// `last_ms` keeps the times from going back when the clock is set back.
Guid NewJobId(std::uint64_t* last_ms) {
  Guid g;
  platform::FillRandom(g.bytes.data(), g.bytes.size());
  const auto ms = std::max(static_cast<std::uint64_t>(NowMs()), *last_ms);
  *last_ms = ms;
  for (std::size_t i = 0; i < 6; ++i) {
    g.bytes[i] = static_cast<std::uint8_t>(ms >> (40 - 8 * i));
  }
  g.bytes[6] = static_cast<std::uint8_t>((g.bytes[6] & 0x0F) | 0x70);  // version 7
  g.bytes[8] = static_cast<std::uint8_t>((g.bytes[8] & 0x3F) | 0x80);  // RFC 9562 variant
  return g;
}

Status ValidateRemoteUrl(std::string_view url) {
  if (url.empty()) return Status(kEInvalidArg, "the remote URL is empty");
  if (url.size() > kMaxUrlLength) {
    return Status(kEInvalidArg, "the remote URL is longer than 2200 characters");
  }
  for (unsigned char c : url) {
    if (c <= 0x20 || c == 0x7f) {
      return Status(kEInvalidArg,
                    "the remote URL contains a space or control character (CR, LF, NUL ...)");
    }
  }
  // libcurl parses the URL with any password masked: its copies are freed
  // without being wiped.
  auto user_info = auth::SplitUserInfo(url);
  if (!user_info.ok()) return user_info.status();
  CPtr<CURLU> u(curl_url());
  const std::string& text = user_info->redacted_url;
  if (curl_url_set(u.get(), CURLUPART_URL, text.c_str(), CURLU_NON_SUPPORT_SCHEME) != CURLUE_OK) {
    return Status(kEInvalidArg, "the remote URL is malformed");
  }
  char* raw = nullptr;
  if (curl_url_get(u.get(), CURLUPART_SCHEME, &raw, 0) != CURLUE_OK) {
    return Status(kEInvalidArg, "the remote URL has no scheme");
  }
  CPtr<char> scheme(raw);
  const std::string_view s(scheme.get());
  if (s != "http" && s != "https") {
    return Status(kEInvalidArg, "unsupported scheme \"" + std::string(s) +
                                    "\": only http and https are accepted");
  }
  raw = nullptr;
  if (curl_url_get(u.get(), CURLUPART_HOST, &raw, 0) != CURLUE_OK || raw == nullptr ||
      raw[0] == '\0') {
    curl_free(raw);
    return Status(kEInvalidArg, "the remote URL has no host");
  }
  curl_free(raw);
  return Status::Ok();
}

std::string KeyLocation(const ManagerOptions& options) {
  return options.key_directory.empty() ? platform::DefaultKeyLocation() : options.key_directory;
}

// A job's secrets are kept sorted by purpose.
std::span<const std::uint8_t> AsBytes(std::string_view text) {
  return {reinterpret_cast<const std::uint8_t*>(text.data()), text.size()};
}

const store::SecretRecord* FindSecret(const store::JobRecord& job, std::string_view purpose) {
  auto it = std::lower_bound(
      job.secrets.begin(), job.secrets.end(), purpose,
      [](const store::SecretRecord& s, std::string_view p) { return s.purpose < p; });
  return it != job.secrets.end() && it->purpose == purpose ? &*it : nullptr;
}

void KeepSecret(store::JobRecord& job, store::SecretRecord secret) {
  auto it = std::lower_bound(
      job.secrets.begin(), job.secrets.end(), secret.purpose,
      [](const store::SecretRecord& s, const std::string& p) { return s.purpose < p; });
  if (it != job.secrets.end() && it->purpose == secret.purpose) {
    *it = std::move(secret);
  } else {
    job.secrets.insert(it, std::move(secret));
  }
}

void ForgetSecret(store::JobRecord& job, std::string_view purpose) {
  std::erase_if(job.secrets, [&](const store::SecretRecord& s) { return s.purpose == purpose; });
}

constexpr std::string_view kCertificatePasswordPurpose = "client-certificate-password";
constexpr std::string_view kCustomHeadersPurpose = "custom-headers";
// The same, after MakeCustomHeadersWriteOnly (possibly an empty record: the
// job's later headers stay write-only too).
constexpr std::string_view kWriteOnlyCustomHeadersPurpose = "custom-headers-write-only";
constexpr std::uint32_t kKnownSecurityFlags =
    kSslEnableCrlCheck | kSslIgnoreCertCnInvalid | kSslIgnoreCertDateInvalid | kSslIgnoreUnknownCa |
    kSslIgnoreCertWrongUsage | kRedirectPolicyMask | kRedirectAllowHttpsToHttp;
constexpr std::size_t kMaxCertificateSubject = 1024;
constexpr std::size_t kMaxCertificatePassword = 65536;

std::optional<ClientCertificate> ClientCertificateOf(const store::JobRecord& r) {
  if (r.cert_location < 0) return std::nullopt;
  ClientCertificate c;
  c.location = static_cast<CertStoreLocation>(r.cert_location);
  c.store_name = r.cert_store;
  if (auto hash = auth::ParseThumbprint(r.cert_hash); hash.ok()) c.hash = *hash;
  c.subject = r.cert_subject;
  return c;
}

void AppendPem(const std::vector<std::uint8_t>& der, std::string* out) {
  const unsigned char* p = der.data();
  CPtr<X509> cert(d2i_X509(nullptr, &p, static_cast<long>(der.size())));
  CPtr<BIO> bio(BIO_new(BIO_s_mem()));
  if (!cert || !bio || PEM_write_bio_X509(bio.get(), cert.get()) != 1) return;
  char* data = nullptr;
  const long n = BIO_get_mem_data(bio.get(), &data);
  if (n > 0) out->append(data, static_cast<std::size_t>(n));
}

long CurlAuthBit(AuthScheme scheme) {
  switch (scheme) {
    case AuthScheme::kBasic:
      return static_cast<long>(CURLAUTH_BASIC);
    case AuthScheme::kDigest:
      return static_cast<long>(CURLAUTH_DIGEST);
    case AuthScheme::kNtlm:
      return static_cast<long>(CURLAUTH_NTLM);
    case AuthScheme::kNegotiate:
      return static_cast<long>(CURLAUTH_NEGOTIATE);
    case AuthScheme::kPassport:
      break;
  }
  return 0;
}

// Checks the local name's syntax and the name itself; the directory's
// checks (platform::CheckDestinationDirectory) are the caller's, once per
// directory.
Status ValidateLocalName(std::string_view path, const std::string& state_dir) {
  if (!platform::IsAbsolutePath(path)) {
    return Status(kEInvalidArg, "the local name must be an absolute path");
  }
  if (path.size() > kMaxPathLength) return Status(kEInvalidArg, "the local name is too long");
  for (unsigned char c : path) {
    if (c < 0x20 || c == 0x7f) {
      return Status(kEInvalidArg, "the local name contains a control character");
    }
  }
  if (path.back() == '/') return Status(kEInvalidArg, "the local name must name a file");
  std::size_t start = 1;
  while (start <= path.size()) {
    auto end = path.find('/', start);
    std::string_view part =
        path.substr(start, end == std::string_view::npos ? path.npos : end - start);
    if (part == "." || part == "..") {
      return Status(kEInvalidArg, "the local name must not contain . or .. components");
    }
    if (end == std::string_view::npos) break;
    start = end + 1;
  }
  if (path.substr(0, state_dir.size() + 1) == state_dir + "/") {
    return Status(kEInvalidArg, "the local name is inside the queue's state directory");
  }
  return Status::Ok();
}

// One of `job`'s running transfers downloads its file `index`.
bool IsTransferring(const JobData& job, std::uint32_t index) {
  return std::any_of(job.transfers.begin(), job.transfers.end(),
                     [&](const auto& t) { return t->file().index == index; });
}

}  // namespace

// --- Lifetime ---------------------------------------------------------------

Engine::Engine(const ManagerOptions& options) : options_(options) {}

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
  if (!opts.additional_ca_file.empty()) {
    auto trust = TlsTrust::FromPemFile(opts.additional_ca_file);
    if (!trust.ok()) return trust.status();
    engine->trust_ = std::move(*trust);
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
    std::fprintf(stderr, "openbits: credential vault: %s\n", warning.c_str());
  }
  auto policy = auth::LoadImplicitCredentialPolicy(
      opts.policy_file.empty() ? opts.state_directory + "/openbits.conf" : opts.policy_file);
  if (!policy.ok()) return policy.status();
  engine->implicit_policy_ = *policy;
  auto discovery = auth::LoadProxyDiscoveryConfig(
      opts.policy_file.empty() ? opts.state_directory + "/openbits.conf" : opts.policy_file);
  if (!discovery.ok()) return discovery.status();
  engine->multi_ = std::make_unique<CurlMulti>(engine->io_);
  engine->proxy_discovery_ = std::make_unique<ProxyDiscovery>(
      engine->io_, discovery->autoconfig_url, std::chrono::seconds(discovery->timeout_s));

  // Load on this thread before the engine thread exists: nothing else can
  // touch the state yet.
  engine->engine_thread_id_ = std::this_thread::get_id();
  Status loaded = engine->LoadQueue();
  engine->engine_thread_id_ = {};
  if (!loaded.ok()) return loaded;
  platform::ReleaseFreedMemory();  // the rows read while loading a big queue

  engine->work_.emplace(engine->io_.get_executor());
  engine->notify_work_.emplace(engine->notify_io_.get_executor());
  std::promise<void> started;
  engine->thread_ = std::thread([e = engine.get(), &started] {
    e->engine_thread_id_ = std::this_thread::get_id();
    started.set_value();
    e->io_.run();
  });
  started.get_future().wait();
  engine->notify_thread_ = std::thread([e = engine.get()] { e->notify_io_.run(); });
  asio::post(engine->io_, [e = engine.get()] { e->Schedule(); });
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
    std::unique_lock lifecycle(lifecycle_);
    if (closed_) return;
    if (thread_.joinable()) {
      std::promise<void> stopped;
      asio::post(io_, [this, &stopped] {
        for (auto& [id, job] : jobs_) {
          StopTransfer(*job, /*keep_progress=*/true);
          CancelTimers(*job);
        }
        FlushFinishedFiles();
        stopped.set_value();
      });
      stopped.get_future().wait();
      work_.reset();
      io_.stop();
      thread_.join();
    }
    proxy_discovery_.reset();  // a lookup stuck in a PAC script is cancelled
    writes_.Join();            // before the sync thread: it hands syncs on to it
    sync_pool_.join();
    prepare_pool_.join();
    closed_ = true;
    multi_.reset();
    // A Job handle may keep this object alive long after its Manager is
    // gone; the queue must not stay locked and open for that long, or the
    // same process could not open it again.
    vault_.reset();
    store_.reset();
    lock_file_ = platform::ScopedFd();
  }
  notify_work_.reset();
  if (notify_thread_.joinable()) {
    if (std::this_thread::get_id() == notify_thread_.get_id()) {
      notify_thread_.detach();  // the last handle died inside a callback
    } else {
      notify_thread_.join();
    }
  }
}

// --- Loading ------------------------------------------------------------

Status Engine::LoadQueue() {
  // Filled in place: a copy of 100,000 records would double the peak.
  std::vector<std::shared_ptr<JobData>> loaded;
  OPENBITS_RETURN_IF_ERROR(
      store_->LoadJobsInto([&] { return &loaded.emplace_back(std::make_shared<JobData>())->rec; }));
  // Creation order, which is the queue's order; the keys are copied out
  // so the sort does not chase a pointer per comparison.
  std::vector<std::pair<std::int64_t, std::size_t>> order(loaded.size());
  for (std::size_t i = 0; i < loaded.size(); ++i) order[i] = {loaded[i]->rec.sequence, i};
  std::sort(order.begin(), order.end());
  for (const auto& entry : order) {
    JobData& job = *loaded[entry.second];
    next_sequence_ = std::max(next_sequence_, job.rec.sequence + 1);
    job.queue_position = next_queue_position_++;
  }
  // The rest walks the jobs in the order they were allocated, which is
  // the order of their memory.
  jobs_.reserve(loaded.size());
  const auto now = steady_clock::now();
  for (const std::shared_ptr<JobData>& job : loaded) {
    job->last_progress = now;
    jobs_.emplace(job->rec.id, job);
    if (!job->rec.custom_headers.empty()) {
      OPENBITS_RETURN_IF_ERROR(SealLegacyCustomHeaders(*job));
    }
    bool lost_data = false;
    for (store::FileRecord& f : job->rec.files) {
      const bool was_complete = f.completed;
      bool changed = false;
      {
        auto as_owner = ActAsOwner(job->rec.owner);
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
      job->rec.state = JobState::kQueued;
      OPENBITS_RETURN_IF_ERROR(store_->UpdateJob(job->rec));
    }
  }
  std::vector<std::shared_ptr<JobData>> pending;
  for (const std::shared_ptr<JobData>& job : loaded) {
    if (job->rec.pending != store::PendingAction::kNone) {
      pending.push_back(job);
      continue;
    }
    switch (job->rec.state) {
      case JobState::kConnecting:
      case JobState::kTransferring:
        job->rec.state = JobState::kQueued;  // it was running when we stopped
        OPENBITS_RETURN_IF_ERROR(store_->UpdateJob(job->rec));
        break;
      case JobState::kTransientError:
        ArmRetry(job);
        break;
      case JobState::kAcknowledged:
      case JobState::kCancelled:
        // A final job whose deletion did not commit: finish it.
        pending.push_back(job);
        continue;
      default:
        break;
    }
    UpdateRunnable(*job);
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
  if (job.rec.pending == store::PendingAction::kCancel || job.rec.state == JobState::kCancelled) {
    (void)Cancel(job);
  } else {
    if (job.rec.state == JobState::kAcknowledged) job.rec.state = JobState::kTransferred;
    (void)Complete(job);
  }
}

Result<std::optional<platform::UserIdentity>> Engine::OwnerIdentity(const std::string& owner) {
  if (!options_.act_as_job_owner) return std::optional<platform::UserIdentity>();
  auto it = owner_identities_.find(owner);
  if (it == owner_identities_.end()) {
    auto user = platform::LookUpUser(owner);
    if (!user.ok()) return user.status();
    it = owner_identities_.emplace(owner, std::move(*user)).first;
  }
  return std::optional<platform::UserIdentity>(it->second);
}

Result<std::optional<platform::FileIdentity>> Engine::ActAsOwner(const std::string& owner) {
  auto user = OwnerIdentity(owner);
  if (!user.ok()) return user.status();
  std::optional<platform::FileIdentity> scope;
  if (*user) {
    auto assumed = platform::FileIdentity::Assume(**user);
    if (!assumed.ok()) return assumed.status();
    scope.emplace(std::move(*assumed));
  }
  return scope;
}

// --- Jobs -------------------------------------------------------------------

std::shared_ptr<JobData> Engine::NewJobData(const Caller& caller, std::string_view name,
                                            JobType type) {
  auto job = std::make_shared<JobData>();
  store::JobRecord& r = job->rec;
  r.id = NewJobId(&last_job_id_ms_);
  r.sequence = next_sequence_++;
  r.owner = caller.user;
  r.type = type;
  r.display_name = std::string(name);
  r.creation_time_ms = r.modification_time_ms = NowMs();
  job->queue_position = next_queue_position_++;
  job->last_progress = steady_clock::now();
  return job;
}

Result<std::shared_ptr<JobData>> Engine::CreateJob(const Caller& caller, std::string_view name,
                                                   JobType type) {
  if (closed_) return Status(kEFail, "the manager is closed");
  if (type != JobType::kDownload) {
    return Status(kENotImpl, "upload jobs are not supported yet");
  }
  if (name.size() > kMaxDisplayName) {
    return Status(kEInvalidArg, "the display name is longer than 256 characters");
  }
  auto job = NewJobData(caller, name, type);
  OPENBITS_RETURN_IF_ERROR(store_->InsertJob(job->rec));
  jobs_[job->rec.id] = job;
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
    if (spec.description.size() > 1024) {
      return Status(kEInvalidArg, where + "the description is longer than 1024 characters");
    }
    const int priority = static_cast<int>(spec.priority);
    if (priority < 0 || priority > 3) return Status(kEInvalidArg, where + "unknown priority");
    if (spec.resume && spec.files.empty()) return Status(kBgEEmpty, where + "no files to resume");
    auto job = NewJobData(caller, spec.display_name, JobType::kDownload);
    job->rec.description = spec.description;
    job->rec.priority = spec.priority;
    if (!spec.files.empty()) {
      PrepareRoute(*job);
      Status st = BuildFileRecords(job->rec, spec.files, nullptr, &job->rec.files,
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
  for (auto& job : created) {
    jobs_[job->rec.id] = job;
    UpdateRunnable(*job);
  }
  ScheduleSoon();
  return created;
}

Result<std::shared_ptr<JobData>> Engine::FindJob(const Caller& caller, const Guid& id) {
  if (closed_) return Status(kEFail, "the manager is closed");
  auto it = jobs_.find(id);
  if (it == jobs_.end()) return Status(kBgENotFound, "no job " + id.ToString());
  if (it->second->rec.owner != caller.user && !caller.is_admin) {
    return Status(kEAccessDenied, "the job belongs to another user");
  }
  return it->second;
}

Result<std::vector<std::shared_ptr<JobData>>> Engine::ListJobs(const Caller& caller,
                                                               EnumScope scope) {
  if (closed_) return Status(kEFail, "the manager is closed");
  if (scope == EnumScope::kAllUsers && !caller.is_admin) {
    return Status(kEAccessDenied, "listing all users' jobs needs administrator rights");
  }
  // The keys are copied out: a sort that followed a pointer per comparison
  // would miss the cache on every one in a queue of 100,000 jobs.
  std::vector<std::pair<std::int64_t, const std::shared_ptr<JobData>*>> order;
  order.reserve(jobs_.size());
  for (const auto& [id, job] : jobs_) {
    if (scope == EnumScope::kAllUsers || job->rec.owner == caller.user) {
      order.emplace_back(job->rec.sequence, &job);
    }
  }
  std::sort(order.begin(), order.end());
  std::vector<std::shared_ptr<JobData>> out;
  out.reserve(order.size());
  for (const auto& entry : order) out.push_back(*entry.second);
  return out;
}

Status Engine::BuildFileRecords(const store::JobRecord& job, const std::vector<FileInfo>& files,
                                const std::vector<FileRange>* ranges,
                                std::vector<store::FileRecord>* out,
                                std::vector<store::SecretRecord>* secrets,
                                std::unordered_map<std::string, DestinationCheck>* directories) {
  if (files.empty()) return Status(kEInvalidArg, "no file given");
  if (ranges != nullptr) OPENBITS_RETURN_IF_ERROR(ValidateRanges(*ranges));
  if (ranges != nullptr && HasCustomHttpMethod(job)) {
    return Status(kBgENotSupportedWithCustomHttpMethod,
                  "ranges cannot be downloaded with a custom HTTP method");
  }
  if (ranges != nullptr && job.dynamic_content) {
    return Status(kEInvalidArg, "ranges cannot be downloaded from dynamic content");
  }
  std::vector<store::FileRecord> added;
  std::vector<store::SecretRecord> sealed;
  std::unordered_set<std::string_view> local_names;
  for (const store::FileRecord& f : job.files) {
    if (!f.renamed) local_names.insert(f.local_name);
  }
  // Many files share a directory; its checks run once.
  std::unordered_map<std::string, DestinationCheck> own_directories;
  if (directories == nullptr) directories = &own_directories;
  // A directory receiving this many files is listed once rather than each
  // name looked up, unless it holds several times as many names already.
  constexpr std::size_t kListForFiles = 32;
  constexpr std::size_t kListedNamesPerFile = 4;
  std::unordered_map<std::string, std::size_t> files_per_directory;
  if (files.size() >= kListForFiles) {
    for (const FileInfo& info : files) {
      auto parts = platform::SplitAbsolutePath(info.local_name);
      if (parts.ok()) ++files_per_directory[parts->directory];
    }
  }
  for (const FileInfo& info : files) {
    Status url = ValidateRemoteUrl(info.remote_name);
    if (!url.ok()) {
      return Status(url.code(), url.message() + ": " + auth::RedactUrl(info.remote_name));
    }
    auto user_info = auth::SplitUserInfo(info.remote_name);
    if (!user_info.ok()) {
      return Status(user_info.status().code(),
                    user_info.status().message() + ": " + auth::RedactUrl(info.remote_name));
    }
    Status local;
    {
      auto as_owner = ActAsOwner(job.owner);
      local = as_owner.ok() ? ValidateLocalName(info.local_name, options_.state_directory)
                            : as_owner.status();
      if (local.ok()) {
        auto parts = platform::SplitAbsolutePath(info.local_name);
        if (!parts.ok()) {
          local = parts.status();
        } else {
          auto [known, inserted] = directories->try_emplace(parts->directory);
          DestinationCheck& check = known->second;
          if (inserted) {
            check.status =
                platform::CheckDestinationDirectory(parts->directory, options_.state_directory);
            const auto count = files_per_directory.find(parts->directory);
            if (check.status.ok() && count != files_per_directory.end() &&
                count->second >= kListForFiles) {
              auto names = platform::NamesIn(parts->directory, kListedNamesPerFile * count->second);
              if (names.ok()) check.names.emplace(names->begin(), names->end());
            }
          }
          local = check.status;
          if (local.ok() && (!check.names || check.names->count(parts->name) != 0)) {
            local = platform::CheckDestinationName(info.local_name);
          }
        }
      }
    }
    if (!local.ok()) return Status(local.code(), local.message() + ": " + info.local_name);
    if (local_names.count(info.local_name) != 0) {
      return Status(kEInvalidArg, "the job already has a file named " + info.local_name);
    }
    store::FileRecord f;
    f.index = static_cast<std::uint32_t>(job.files.size() + added.size());
    // The password goes to the vault; the URL kept and shown has "****".
    f.remote_name = user_info->redacted_url;
    f.local_name = info.local_name;
    if (ranges != nullptr) f.ranges = *ranges;
    if (user_info->has_password) {
      const std::string purpose = auth::UrlPasswordPurpose(f.index);
      auto record = vault_->Seal(job.id, purpose,
                                 std::span(user_info->password.data(), user_info->password.size()));
      if (!record.ok()) return record.status();
      sealed.push_back(store::SecretRecord{purpose, std::move(*record)});
    }
    local_names.insert(info.local_name);  // views into `files`, which outlive the loop
    added.push_back(std::move(f));
  }
  for (auto& f : added) out->push_back(std::move(f));
  for (auto& secret : sealed) secrets->push_back(std::move(secret));
  std::sort(secrets->begin(), secrets->end(),
            [](const auto& a, const auto& b) { return a.purpose < b.purpose; });
  return Status::Ok();
}

Status Engine::AddFiles(JobData& job, const std::vector<FileInfo>& files,
                        const std::vector<FileRange>* ranges) {
  if (closed_) return Status(kEFail, "the manager is closed");
  Transition t = ApplyEvent({job.rec.state, JobEvent::kModify});
  if (!t.status.ok()) return t.status;
  std::vector<store::FileRecord> added;
  std::vector<store::SecretRecord> secrets;
  PrepareRoute(job);
  OPENBITS_RETURN_IF_ERROR(BuildFileRecords(job.rec, files, ranges, &added, &secrets));
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
  NotifyModification(job, false);
  return Status::Ok();
}

void Engine::PrepareRoute(const JobData& job) {
  // The proxy resolver is a helper process that takes milliseconds to load;
  // it loads while the job is stored instead of while its first file waits.
  if (proxy_discovery_) proxy_discovery_->Prepare(job.rec.proxy_usage);
}

Status Engine::Resume(JobData& job) {
  if (closed_) return Status(kEFail, "the manager is closed");
  const bool unfinished = std::any_of(job.rec.files.begin(), job.rec.files.end(),
                                      [](const store::FileRecord& f) { return !f.completed; });
  Transition t = ApplyEvent({job.rec.state, JobEvent::kResume, !job.rec.files.empty(), unfinished});
  if (!t.status.ok()) return t.status;
  if (t.to == job.rec.state) return Status::Ok();
  job.retry_timer.cancel();
  PrepareRoute(job);
  job.rec.ever_resumed = true;
  job.last_progress = steady_clock::now();
  SetState(job, t.to);
  OPENBITS_RETURN_IF_ERROR(Persist(job));
  NotifyModification(job, false);
  ScheduleSoon();
  return Status::Ok();
}

Status Engine::Suspend(JobData& job) {
  if (closed_) return Status(kEFail, "the manager is closed");
  Transition t = ApplyEvent({job.rec.state, JobEvent::kSuspend});
  if (!t.status.ok()) return t.status;
  if (job.rec.state == JobState::kSuspended) return Status::Ok();
  StopTransfer(job, true);
  CancelTimers(job);
  SetState(job, JobState::kSuspended);
  OPENBITS_RETURN_IF_ERROR(Persist(job));
  NotifyModification(job, false);
  ScheduleSoon();
  return Status::Ok();
}

Status Engine::DeleteTemporaryFiles(JobData& job) {
  Status result;
  auto as_owner = ActAsOwner(job.rec.owner);
  if (!as_owner.ok()) return Status(kBgSUnableToDeleteFiles, as_owner.status().message());
  for (store::FileRecord& f : job.rec.files) {
    if (f.renamed || f.temp_name.empty()) continue;
    auto parts = platform::SplitAbsolutePath(f.local_name);
    if (!parts.ok()) continue;
    auto dir = platform::OpenDirectory(parts->directory);
    if (!dir.ok()) continue;  // the directory is gone, and the file with it
    Status st = platform::RemoveAt(*dir, f.temp_name);
    if (!st.ok()) result = Status(kBgSUnableToDeleteFiles, st.message());
  }
  return result;
}

Status Engine::Cancel(JobData& job) {
  if (closed_) return Status(kEFail, "the manager is closed");
  Transition t = ApplyEvent({job.rec.state, JobEvent::kCancel});
  if (!t.status.ok()) return t.status;
  StopTransfer(job, false);
  CancelTimers(job);
  job.rec.pending = store::PendingAction::kCancel;
  OPENBITS_RETURN_IF_ERROR(Persist(job));
  Status deleted = DeleteTemporaryFiles(job);
  SetState(job, JobState::kCancelled);
  OPENBITS_RETURN_IF_ERROR(store_->DeleteJob(job.rec.id));
  NotifyModification(job, false);
  RemoveJob(job);
  ScheduleSoon();
  return deleted;
}

Status Engine::Complete(JobData& job) {
  if (closed_) return Status(kEFail, "the manager is closed");
  Transition t = ApplyEvent({job.rec.state, JobEvent::kComplete});
  if (!t.status.ok()) return t.status;
  StopTransfer(job, true);
  CancelTimers(job);
  job.rec.pending = store::PendingAction::kComplete;
  OPENBITS_RETURN_IF_ERROR(Persist(job));

  // Every completed file's data was synced before its completion was
  // committed (FileTransfer::FinishFile), so publishing is renames only:
  // each directory is synced once, after its renames and before the job
  // record goes away. A crash in between resumes this pending Complete;
  // a file renamed before the crash has no temporary file any more and
  // stays where it is.
  bool partial = false;
  std::map<std::string, platform::ScopedFd> directories;
  std::vector<store::FileRecord*> renamed;
  Status st;
  const store::FileRecord* failed = nullptr;
  {
    auto as_owner = ActAsOwner(job.rec.owner);
    const unsigned published_mode = platform::DefaultFileMode();
    const bool tells_apart = TellsPublishedApart(published_mode);
    if (!as_owner.ok()) st = as_owner.status();
    for (store::FileRecord& f : job.rec.files) {
      if (!st.ok()) break;
      if (f.renamed) continue;
      if (!f.completed) {
        partial = true;
        continue;
      }
      failed = &f;
      auto parts = platform::SplitAbsolutePath(f.local_name);
      st = parts.status();
      if (!st.ok()) break;
      auto dir = directories.find(parts->directory);
      if (dir == directories.end()) {
        auto opened = platform::OpenDirectory(parts->directory);
        st = opened.status();
        if (!st.ok()) break;
        dir = directories.emplace(parts->directory, std::move(*opened)).first;
      }
      // Private (0600) while downloading; the user's usual mode once the
      // file is theirs. Most files got it, and their time, as they finished.
      bool prepared = f.ready_to_publish;
      if (!prepared && tells_apart) {
        auto mode = platform::RegularFileModeAt(dir->second, f.temp_name);
        prepared = mode.ok() && *mode == published_mode;
      }
      if (!prepared) {
        auto fd = platform::OpenExisting(dir->second, f.temp_name);
        st = fd.status();
        if (!st.ok()) break;
        st = PrepareForPublishing(*fd, f, published_mode);
        if (!st.ok()) break;
      }
      st = platform::RenameAt(dir->second, f.temp_name, parts->name);
      if (!st.ok()) break;
      renamed.push_back(&f);
      failed = nullptr;
    }
    for (auto& [path, dir] : directories) {
      Status synced = platform::SyncDirectory(dir);
      if (st.ok() && !synced.ok()) st = synced;
    }
  }  // the store is written as ourselves again
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
    RecordError(job, o, failed != nullptr ? static_cast<std::int64_t>(failed->index) : -1);
    SetState(job, JobState::kTransferred);
    (void)Persist(job);
    NotifyModification(job, false);
    return Status(st.code(), "could not move " + name + " into place: " + st.message());
  }
  (void)DeleteTemporaryFiles(job);
  SetState(job, JobState::kAcknowledged);
  OPENBITS_RETURN_IF_ERROR(store_->DeleteJob(job.rec.id));
  NotifyModification(job, false);
  RemoveJob(job);
  ScheduleSoon();
  if (partial) {
    return Status(kBgSPartialComplete, "files that were not complete were deleted");
  }
  return Status::Ok();
}

Status Engine::Modify(JobData& job, const std::function<Status(store::JobRecord&)>& change) {
  if (closed_) return Status(kEFail, "the manager is closed");
  Transition t = ApplyEvent({job.rec.state, JobEvent::kModify});
  if (!t.status.ok()) return t.status;
  store::JobRecord copy = job.rec;
  OPENBITS_RETURN_IF_ERROR(change(copy));
  const bool priority_changed = copy.priority != job.rec.priority;
  const bool more_files = copy.max_concurrent_files > job.rec.max_concurrent_files;
  copy.modification_time_ms = NowMs();
  OPENBITS_RETURN_IF_ERROR(store_->UpdateJob(copy));
  job.rec = std::move(copy);
  if (priority_changed) {
    job.slice_timer.cancel();
    ScheduleSoon();
  }
  if (more_files && job.running()) {
    if (auto shared = SharedOf(job)) StartNextFile(shared);
  }
  NotifyModification(job, false);
  return Status::Ok();
}

Status Engine::SetCallback(JobData& job, std::shared_ptr<JobCallback> callback) {
  if (closed_) return Status(kEFail, "the manager is closed");
  if (IsFinal(job.rec.state)) return Status(kBgEInvalidState, "the job is final");
  job.callback = std::move(callback);
  return Status::Ok();
}

FileProgress Engine::FileProgressOf(const JobData& job, std::uint32_t index) const {
  const store::FileRecord& f = job.rec.files.at(index);
  FileProgress p;
  for (const std::shared_ptr<FileTransfer>& transfer : job.transfers) {
    if (transfer->file().index != index) continue;
    const store::FileRecord& live = transfer->file();
    p.bytes_total = live.bytes_total;
    p.bytes_transferred = transfer->bytes_written();
    p.completed = live.completed;
    return p;
  }
  p.bytes_total = f.bytes_total;
  p.bytes_transferred = f.bytes_transferred;
  p.completed = f.completed;
  return p;
}

JobProgress Engine::Progress(const JobData& job) const {
  JobProgress p;
  p.files_total = static_cast<std::uint32_t>(job.rec.files.size());
  for (std::uint32_t i = 0; i < job.rec.files.size(); ++i) {
    FileProgress f = FileProgressOf(job, i);
    if (f.bytes_total == kSizeUnknown || p.bytes_total == kSizeUnknown) {
      p.bytes_total = kSizeUnknown;
    } else {
      p.bytes_total += f.bytes_total;
    }
    p.bytes_transferred += f.bytes_transferred;
    if (f.completed) ++p.files_transferred;
  }
  return p;
}

Result<JobErrorInfo> Engine::ErrorOf(const JobData& job) const {
  const store::JobRecord& r = job.rec;
  if (r.error_code == 0) {
    return Status(kBgEErrorInformationUnavailable, "the job has no error");
  }
  JobErrorInfo e;
  e.code = r.error_code;
  e.context = r.error_context;
  e.description = ErrorDescription(r.error_code);
  if (!r.error_description.empty()) e.description += " (" + r.error_description + ")";
  e.context_description = ErrorContextDescription(r.error_context);
  if (r.error_file >= 0 && static_cast<std::size_t>(r.error_file) < r.files.size()) {
    const store::FileRecord& f = r.files[static_cast<std::size_t>(r.error_file)];
    e.file_index = static_cast<std::uint32_t>(r.error_file);
    e.remote_name = auth::RedactUrl(f.remote_name);
    e.local_name = f.local_name;
    e.protocol = f.remote_name.rfind("https:", 0) == 0 ? "https" : "http";
  }
  return e;
}

JobInfo Engine::InfoOf(const JobData& job) const {
  const store::JobRecord& r = job.rec;
  JobInfo info;
  info.id = r.id;
  info.type = r.type;
  info.state = r.state;
  info.priority = r.priority;
  info.owner = r.owner;
  info.display_name = r.display_name;
  info.description = r.description;
  info.progress = Progress(job);
  auto at = [](std::int64_t ms) {
    return ms == 0 ? std::chrono::system_clock::time_point{}
                   : std::chrono::system_clock::time_point(std::chrono::milliseconds(ms));
  };
  info.times =
      JobTimes{at(r.creation_time_ms), at(r.modification_time_ms), at(r.completion_time_ms)};
  info.error_count = r.error_count;
  if (auto e = ErrorOf(job); e.ok()) info.error = std::move(*e);
  info.minimum_retry_delay = r.minimum_retry_delay_s;
  info.no_progress_timeout = r.no_progress_timeout_s;
  info.maximum_download_time = r.maximum_download_time_s;
  info.notify_flags = r.notify_flags;
  info.max_concurrent_files = r.max_concurrent_files;
  info.dynamic_content = r.dynamic_content;
  info.proxy = ProxySettings{r.proxy_usage, r.proxy_list, r.proxy_bypass};
  info.security_flags = r.security_flags;
  if (auto certificate = ClientCertificateOf(r)) info.client_certificate = std::move(*certificate);
  for (const store::SecretRecord& secret : r.secrets) {
    CredentialSlot slot;
    if (auth::ParseCredentialPurpose(secret.purpose, &slot)) info.credentials.push_back(slot);
  }
  return info;
}

// --- TLS ----------------------------------------------------------------------

Result<platform::CertStoreContents> Engine::ReadOwnerStore(const store::JobRecord& job,
                                                           CertStoreLocation location,
                                                           std::string_view store_name,
                                                           const platform::SecretBuffer* password) {
  auto identity = OwnerIdentity(job.owner);
  if (!identity.ok()) return identity.status();
  const std::string home = *identity ? (*identity)->home : std::string();
  platform::CertStoreRoots roots{options_.current_user_certstores,
                                 options_.local_machine_certstores};
  // The store is read with the owner's rights only (system mode).
  auto as_owner = ActAsOwner(job.owner);
  if (!as_owner.ok()) return as_owner.status();
  return platform::ReadCertStore(roots, home, location, store_name, password);
}

Result<platform::SecretBuffer> Engine::CertificatePassword(const store::JobRecord& job) const {
  const store::SecretRecord* secret = FindSecret(job, kCertificatePasswordPurpose);
  if (secret == nullptr) return platform::SecretBuffer();
  return vault_->Unseal(job.id, secret->purpose, secret->sealed);
}

Status Engine::ResolveTls(JobData& job, TransferConfig* config) {
  const store::JobRecord& r = job.rec;
  config->tls.engine_trust = trust_;
  config->tls.flags = r.security_flags & ~(kRedirectPolicyMask | kRedirectAllowHttpsToHttp);
  config->redirect_flags = r.security_flags & (kRedirectPolicyMask | kRedirectAllowHttpsToHttp);
  if (!job.trust || job.trust->security_flags != r.security_flags) {
    // Trust anchors and intermediates of the owner's ROOT and CA stores, on
    // top of the system bundle; their CRLs when the job checks revocation.
    JobData::Trust trust;
    trust.security_flags = r.security_flags;
    std::string anchors;
    for (CertStoreLocation location :
         {CertStoreLocation::kCurrentUser, CertStoreLocation::kLocalMachine}) {
      for (const char* name : {"ROOT", "CA"}) {
        auto contents = ReadOwnerStore(r, location, name, nullptr);
        if (!contents.ok()) continue;  // most users have no such store
        for (const platform::StoredCertificate& c : contents->certificates) {
          AppendPem(c.der, &anchors);
        }
        if ((r.security_flags & kSslEnableCrlCheck) != 0) {
          for (const std::vector<std::uint8_t>& der : contents->crls) {
            const unsigned char* p = der.data();
            if (X509_CRL* crl = d2i_X509_CRL(nullptr, &p, static_cast<long>(der.size()))) {
              trust.crls.emplace_back(crl, X509_CRL_free);
            }
          }
        }
      }
    }
    if (!anchors.empty()) {
      std::string bundle = *SystemCaBundle() + "\n" + anchors;
      auto file = PublishTrustAnchors(options_.state_directory + "/trust", bundle);
      if (file.ok()) {
        trust.anchors_file = std::move(*file);
      } else {
        trust.anchors_pem = std::make_shared<const std::string>(std::move(bundle));
      }
    }
    job.trust = std::make_unique<JobData::Trust>(std::move(trust));
  }
  config->tls.crls = job.trust->crls;
  config->tls.anchors_file = job.trust->anchors_file;
  config->tls.anchors_pem = job.trust->anchors_pem;
  if ((r.security_flags & kSslEnableCrlCheck) != 0) {
    for (auto it = crl_cache_.begin(); it != crl_cache_.end();) {
      const ASN1_TIME* next = X509_CRL_get0_nextUpdate(it->second.get());
      if (next != nullptr && X509_cmp_current_time(next) <= 0) {
        it = crl_cache_.erase(it);  // stale: fetched again when needed
        continue;
      }
      config->tls.crls.push_back(it->second);
      ++it;
    }
  }
  if (r.cert_location < 0) return Status::Ok();
  auto password = CertificatePassword(r);
  if (!password.ok()) return password.status();
  auto contents =
      ReadOwnerStore(r, static_cast<CertStoreLocation>(r.cert_location), r.cert_store, &*password);
  if (!contents.ok()) return contents.status();
  auto hash = auth::ParseThumbprint(r.cert_hash);
  if (!hash.ok()) return Status(kBgEDatabaseCorrupt, "the job's certificate hash is damaged");
  auth::CertificateQuery query;
  query.thumbprint = &*hash;
  auto index = auth::SelectClientCertificate(*contents, query, std::time(nullptr));
  if (!index.ok()) return index.status();
  config->tls.client_certificate = std::make_shared<const platform::SecretBuffer>(
      std::move(contents->certificates[*index].identity_p12));
  return Status::Ok();
}

void Engine::OnCrlFetched(const std::string& url, std::shared_ptr<X509_CRL> crl) {
  constexpr std::size_t kMaxCachedCrls = 64;
  if (crl_cache_.size() >= kMaxCachedCrls && crl_cache_.count(url) == 0) crl_cache_.clear();
  crl_cache_[url] = std::move(crl);
}

void Engine::RestartTransfer(JobData& job) {
  if (!job.running()) return;
  std::shared_ptr<JobData> shared = SharedOf(job);
  StopTransfer(job, true);
  if (shared) StartNextFile(shared);
}

Status Engine::SetClientCertificate(JobData& job, CertStoreLocation location,
                                    std::string_view store_name,
                                    const std::array<std::uint8_t, 20>* hash,
                                    std::string_view subject) {
  if (closed_) return Status(kEFail, "the manager is closed");
  Transition t = ApplyEvent({job.rec.state, JobEvent::kModify});
  if (!t.status.ok()) return t.status;
  const int where = static_cast<int>(location);
  if (where < 0 || where > 7) return Status(kEInvalidArg, "unknown certificate store location");
  if (hash == nullptr && subject.empty()) {
    return Status(kEInvalidArg, "the subject to look for is empty");
  }
  if (subject.size() > kMaxCertificateSubject || subject.find('\0') != std::string_view::npos) {
    return Status(kEInvalidArg, "the subject is longer than 1024 characters or holds a NUL");
  }
  auto password = CertificatePassword(job.rec);
  if (!password.ok()) return password.status();
  auto contents = ReadOwnerStore(job.rec, location, store_name, &*password);
  if (!contents.ok()) return contents.status();
  auth::CertificateQuery query;
  query.thumbprint = hash;
  query.subject = subject;
  auto index = auth::SelectClientCertificate(*contents, query, std::time(nullptr));
  if (!index.ok()) return index.status();
  const std::vector<std::uint8_t>& chosen = contents->certificates[*index].der;
  const std::string hex = auth::ThumbprintHex(auth::Thumbprint(chosen));
  const std::string shown = hash != nullptr ? auth::CommonName(chosen) : std::string(subject);
  Status st = Modify(job, [&](store::JobRecord& r) {
    r.cert_location = where;
    r.cert_store = std::string(store_name);
    r.cert_hash = hex;
    r.cert_subject = shown;
    return Status::Ok();
  });
  if (st.ok()) RestartTransfer(job);
  return st;
}

Status Engine::RemoveClientCertificate(JobData& job) {
  if (closed_) return Status(kEFail, "the manager is closed");
  Transition t = ApplyEvent({job.rec.state, JobEvent::kModify});
  if (!t.status.ok()) return t.status;
  if (job.rec.cert_location < 0) return Status::Ok();
  Status st = Modify(job, [](store::JobRecord& r) {
    r.cert_location = -1;
    r.cert_store.clear();
    r.cert_hash.clear();
    r.cert_subject.clear();
    return Status::Ok();
  });
  if (st.ok()) RestartTransfer(job);
  return st;
}

Status Engine::SetClientCertificatePassword(JobData& job, std::string_view password) {
  if (closed_) return Status(kEFail, "the manager is closed");
  Transition t = ApplyEvent({job.rec.state, JobEvent::kModify});
  if (!t.status.ok()) return t.status;
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
  NotifyModification(job, false);
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
  NotifyModification(job, false);
  return Status::Ok();
}

Status Engine::ReplaceSecret(JobData& job, std::string_view purpose, std::string_view plain) {
  return plain.empty() ? RemoveSecret(job, purpose) : SaveSecret(job, purpose, AsBytes(plain));
}

Status Engine::SetCustomHeaders(JobData& job, std::string_view headers) {
  if (closed_) return Status(kEFail, "the manager is closed");
  Transition t = ApplyEvent({job.rec.state, JobEvent::kModify});
  if (!t.status.ok()) return t.status;
  OPENBITS_RETURN_IF_ERROR(auth::ParseCustomHeaders(headers).status());
  if (FindSecret(job.rec, kWriteOnlyCustomHeadersPurpose) != nullptr) {
    // Sealed even when empty: the record itself says "write-only".
    return SaveSecret(job, kWriteOnlyCustomHeadersPurpose, AsBytes(headers));
  }
  return ReplaceSecret(job, kCustomHeadersPurpose, headers);
}

Status Engine::MakeCustomHeadersWriteOnly(JobData& job) {
  if (closed_) return Status(kEFail, "the manager is closed");
  Transition t = ApplyEvent({job.rec.state, JobEvent::kModify});
  if (!t.status.ok()) return t.status;
  if (FindSecret(job.rec, kWriteOnlyCustomHeadersPurpose) != nullptr) return Status::Ok();
  auto headers = CustomHeadersOf(job);
  if (!headers.ok()) return headers.status();
  return SaveSecret(job, kWriteOnlyCustomHeadersPurpose, AsBytes(*headers), kCustomHeadersPurpose);
}

Result<std::string> Engine::CustomHeadersOf(const JobData& job) const {
  const store::SecretRecord* secret = FindSecret(job.rec, kWriteOnlyCustomHeadersPurpose);
  if (secret == nullptr) secret = FindSecret(job.rec, kCustomHeadersPurpose);
  if (secret == nullptr) return std::string();
  auto plain = vault_->Unseal(job.rec.id, secret->purpose, secret->sealed);
  if (!plain.ok()) return plain.status();
  return std::string(plain->view());
}

std::string Engine::VisibleCustomHeadersOf(const JobData& job) const {
  if (FindSecret(job.rec, kWriteOnlyCustomHeadersPurpose) != nullptr) return std::string();
  return CustomHeadersOf(job).value_or(std::string());
}

Status Engine::SetSecurityFlags(JobData& job, std::uint32_t flags) {
  if ((flags & ~kKnownSecurityFlags) != 0) {
    return Status(kENotImpl, "unknown security flags " +
                                 FormatHResult(static_cast<HResult>(flags & ~kKnownSecurityFlags)));
  }
  const std::uint32_t policy = flags & kRedirectPolicyMask;
  if (policy != kRedirectPolicyAllowSilent && policy != kRedirectPolicyAllowReport &&
      policy != kRedirectPolicyDisallow) {
    return Status(kEInvalidArg,
                  "the redirect policy is ALLOW_SILENT (0x0000), ALLOW_REPORT "
                  "(0x0100) or DISALLOW (0x0200)");
  }
  const bool changed = job.rec.security_flags != flags;
  Status st = Modify(job, [&](store::JobRecord& r) {
    r.security_flags = flags;
    return Status::Ok();
  });
  if (st.ok() && changed) RestartTransfer(job);
  return st;
}

// --- Credentials ------------------------------------------------------------

Status Engine::SetCredential(JobData& job, AuthTarget target, AuthScheme scheme, bool implicit,
                             std::string_view user_name, std::string_view password) {
  if (closed_) return Status(kEFail, "the manager is closed");
  Transition t = ApplyEvent({job.rec.state, JobEvent::kModify});
  if (!t.status.ok()) return t.status;
  OPENBITS_RETURN_IF_ERROR(
      auth::ValidateCredentials(target, scheme, implicit, user_name, password));
  platform::SecretBuffer plain = auth::EncodeCredential(implicit, user_name, password);
  return SaveSecret(job, auth::CredentialPurpose(target, scheme),
                    std::span(plain.data(), plain.size()));
}

Status Engine::RemoveCredential(JobData& job, AuthTarget target, AuthScheme scheme) {
  if (closed_) return Status(kEFail, "the manager is closed");
  Transition t = ApplyEvent({job.rec.state, JobEvent::kModify});
  if (!t.status.ok()) return t.status;
  OPENBITS_RETURN_IF_ERROR(auth::ValidateCredentials(target, scheme, false, "-", ""));
  return RemoveSecret(job, auth::CredentialPurpose(target, scheme));
}

Status Engine::SetCredentialCache(const Caller& caller, std::string_view cache) {
  if (cache.empty()) {
    credential_caches_.erase(caller.user);
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
  credential_caches_[caller.user] = std::string(cache);
  return Status::Ok();
}

Status Engine::TakeOwnership(JobData& job, const Caller& caller) {
  if (closed_) return Status(kEFail, "the manager is closed");
  if (!caller.is_admin) {
    return Status(kEAccessDenied, "taking ownership of a job needs administrator rights");
  }
  Transition t = ApplyEvent({job.rec.state, JobEvent::kModify});
  if (!t.status.ok()) return t.status;
  if (job.rec.owner == caller.user) return Status::Ok();
  // The new owner must be able to finish the job.
  for (const store::FileRecord& f : job.rec.files) {
    if (f.renamed) continue;
    auto as_new_owner = ActAsOwner(caller.user);
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
  store::JobRecord changed = job.rec;
  changed.owner = caller.user;
  changed.cert_location = -1;
  changed.cert_store.clear();
  changed.cert_hash.clear();
  changed.cert_subject.clear();
  changed.custom_headers.clear();
  changed.notify_program.clear();
  changed.notify_parameters.clear();
  changed.modification_time_ms = NowMs();
  Status st = store_->RunInTransaction([&]() -> Status {
    for (const std::string& purpose : dropped) {
      OPENBITS_RETURN_IF_ERROR(store_->DeleteSecret(job.rec.id, purpose));
    }
    return store_->UpdateJob(changed);
  });
  if (!st.ok()) return st;
  changed.secrets = job.rec.secrets;
  changed.files = std::move(job.rec.files);
  job.rec = std::move(changed);
  for (const std::string& purpose : dropped) ForgetSecret(job.rec, purpose);
  NotifyModification(job, false);
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
  for (auto& [id, job] : jobs_) job->rec.secrets.clear();
  for (auto& [id, secret] : *secrets) {
    if (auto it = jobs_.find(id); it != jobs_.end()) {
      it->second->rec.secrets.push_back(std::move(secret));  // already sorted
    }
  }
  return Status::Ok();
}

Status Engine::ResolveCredentials(const JobData& job, const store::FileRecord& file,
                                  TransferConfig* config) const {
  auto url = auth::SplitUserInfo(file.remote_name);
  if (!url.ok()) return url.status();
  config->request_url = url->bare_url;

  // The route: OVERRIDE proxies, bypass list, or the environment.
  const Result<UrlOrigin> origin = last_origin_.Of(url->bare_url);
  if (!origin.ok()) return Status(kEInvalidArg, "the remote URL is malformed: " + file.remote_name);
  const std::string& host = origin->host;
  const std::string& scheme = origin->scheme;
  auto route = auth::ChooseProxy(
      ProxySettings{job.rec.proxy_usage, job.rec.proxy_list, job.rec.proxy_bypass}, scheme, host);
  if (!route.ok()) return route.status();
  switch (route->route) {
    case auth::ProxyChoice::Route::kEnvironment:
      config->route = TransferConfig::Route::kEnvironment;
      if (proxy_discovery_ && ProxyDiscovery::Handles(job.rec.proxy_usage)) {
        config->discovery = proxy_discovery_.get();
        config->discovery_usage = job.rec.proxy_usage;
      } else if (job.rec.proxy_usage == ProxyUsage::kAutodetect) {
        return Status(kENotImpl,
                      "AUTODETECT needs proxy discovery, which this build does not have "
                      "(built without libproxy)");
      }
      break;
    case auth::ProxyChoice::Route::kDirect:
      config->route = TransferConfig::Route::kDirect;
      break;
    case auth::ProxyChoice::Route::kProxy:
      config->route = TransferConfig::Route::kProxy;
      config->proxy_url = route->proxy;
      config->no_proxy = route->no_proxy;
      break;
  }

  // Every credential of the job, opened once.
  struct Opened {
    bool present = false;
    bool implicit = false;
    platform::SecretBuffer user_name;
    platform::SecretBuffer password;
  };
  auto open = [&](AuthTarget target, AuthScheme scheme_id) -> Result<Opened> {
    Opened out;
    if (job.rec.secrets.empty()) return out;  // most jobs: nothing to look up, per file
    const auto* secret = FindSecret(job.rec, auth::CredentialPurpose(target, scheme_id));
    if (secret == nullptr) return out;
    auto plain = vault_->Unseal(job.rec.id, secret->purpose, secret->sealed);
    if (!plain.ok()) return plain.status();
    auto credential = auth::DecodeCredential(*plain);
    if (!credential.ok()) return credential.status();
    out.present = true;
    out.implicit = credential->implicit;
    out.user_name = std::move(credential->user_name);
    out.password = std::move(credential->password);
    return out;
  };
  // One slot per (target, scheme) of the BG_AUTH_* enums, without a map's
  // allocations on every file's start.
  struct Slots {
    std::array<Opened, 10> slots;
    Opened& operator[](std::pair<AuthTarget, AuthScheme> key) {
      return slots[(static_cast<std::size_t>(key.first) - 1) * 5 +
                   static_cast<std::size_t>(key.second) - 1];
    }
  } creds;
  for (AuthTarget target : {AuthTarget::kServer, AuthTarget::kProxy}) {
    for (AuthScheme scheme_id :
         {AuthScheme::kNegotiate, AuthScheme::kNtlm, AuthScheme::kDigest, AuthScheme::kBasic}) {
      auto opened = open(target, scheme_id);
      if (!opened.ok()) return opened.status();
      creds[{target, scheme_id}] = std::move(*opened);
    }
  }
  auto& server_negotiate = creds[{AuthTarget::kServer, AuthScheme::kNegotiate}];
  auto& server_ntlm = creds[{AuthTarget::kServer, AuthScheme::kNtlm}];
  const bool proxy_implicit = (creds[{AuthTarget::kProxy, AuthScheme::kNegotiate}].present &&
                               creds[{AuthTarget::kProxy, AuthScheme::kNegotiate}].implicit) ||
                              (creds[{AuthTarget::kProxy, AuthScheme::kNtlm}].present &&
                               creds[{AuthTarget::kProxy, AuthScheme::kNtlm}].implicit);

  // The server. Negotiate and NTLM challenges are answered by openbits
  // through the OS's security package (docs/auth.md); Digest and Basic by
  // libcurl.
  NegotiateLogin& negotiate = config->server_negotiate;
  negotiate.host = host;
  const bool url_credentials = !url->user_name.empty();
  if (url_credentials) {
    // Seed rule: credentials in the URL win over SetCredentials.
    config->server.schemes = static_cast<long>(CURLAUTH_BASIC | CURLAUTH_DIGEST);
    config->server.user_name = platform::SecretBuffer::FromString(url->user_name);
    if (const auto* secret = FindSecret(job.rec, auth::UrlPasswordPurpose(file.index))) {
      auto password = vault_->Unseal(job.rec.id, secret->purpose, secret->sealed);
      if (!password.ok()) return password.status();
      config->server.password = std::move(*password);
    }
    negotiate.enabled = true;
    negotiate.identity.user_name = url->user_name;
    negotiate.identity.password =
        platform::SecretBuffer(config->server.password.data(), config->server.password.size());
  } else {
    Opened* explicit_login = nullptr;
    for (Opened* c : {&server_negotiate, &server_ntlm}) {
      if (c->present && !c->implicit && explicit_login == nullptr) explicit_login = c;
    }
    const bool server_implicit = (server_negotiate.present && server_negotiate.implicit) ||
                                 (server_ntlm.present && server_ntlm.implicit);
    const bool set_credentials_for_server = server_negotiate.present || server_ntlm.present;
    if (explicit_login != nullptr) {
      negotiate.enabled = true;
      negotiate.identity.user_name = std::string(explicit_login->user_name.view());
      negotiate.identity.password = std::move(explicit_login->password);
      // Credentials given for NTLM only answer NTLM, also inside SPNEGO.
      negotiate.prefer_ntlm = negotiate.identity.ntlm_only = explicit_login == &server_ntlm;
    } else if (server_implicit || proxy_implicit ||
               (!set_credentials_for_server &&
                auth::SendsImplicitWithoutSetCredentials(implicit_policy_))) {
      // The owner's logon credentials: explicitly asked for, given for the
      // proxy (seed rule), or allowed by UseLMCompat.
      negotiate.enabled = true;
      negotiate.identity.implicit = true;
      // Implicit credentials given for NTLM only (not Negotiate) answer NTLM.
      negotiate.prefer_ntlm = negotiate.identity.ntlm_only =
          server_ntlm.present && server_ntlm.implicit &&
          !(server_negotiate.present && server_negotiate.implicit);
      if (auto cache = credential_caches_.find(job.rec.owner); cache != credential_caches_.end()) {
        negotiate.identity.credential_cache = cache->second;
      }
    }
    // Digest and Basic through libcurl: the strongest one set, plus the
    // other if it carries the same user name and password.
    for (AuthScheme scheme_id : {AuthScheme::kDigest, AuthScheme::kBasic}) {
      Opened& c = creds[{AuthTarget::kServer, scheme_id}];
      if (!c.present || c.implicit) continue;
      HttpLogin& login = config->server;
      if (login.user_name.empty()) {
        login.user_name = std::move(c.user_name);
        login.password = std::move(c.password);
        login.schemes |= CurlAuthBit(scheme_id);
      } else if (login.user_name.view() == c.user_name.view() &&
                 login.password.view() == c.password.view()) {
        login.schemes |= CurlAuthBit(scheme_id);
      }
    }
  }

  // The proxy: Negotiate and NTLM by openbits, explicit or implicit
  // (libcurl would use the process's ticket, which in the daemon is not the
  // job owner's, and its own NTLM, which curl is removing); Digest and Basic
  // through libcurl (docs/auth.md). Explicit Negotiate comes before explicit
  // NTLM, then implicit credentials, as at the server.
  Opened& proxy_negotiate = creds[{AuthTarget::kProxy, AuthScheme::kNegotiate}];
  Opened& proxy_ntlm = creds[{AuthTarget::kProxy, AuthScheme::kNtlm}];
  NegotiateLogin& proxy_login = config->proxy_negotiate;
  Opened* proxy_explicit = nullptr;
  for (Opened* c : {&proxy_negotiate, &proxy_ntlm}) {
    if (c->present && !c->implicit && proxy_explicit == nullptr) proxy_explicit = c;
  }
  if (proxy_explicit != nullptr) {
    proxy_login.enabled = true;
    proxy_login.identity.user_name = std::string(proxy_explicit->user_name.view());
    proxy_login.identity.password =
        platform::SecretBuffer(proxy_explicit->password.data(), proxy_explicit->password.size());
    proxy_login.prefer_ntlm = proxy_login.identity.ntlm_only = proxy_explicit == &proxy_ntlm;
  } else if (proxy_implicit) {
    proxy_login.enabled = true;
    proxy_login.identity.implicit = true;
    proxy_login.prefer_ntlm = proxy_login.identity.ntlm_only =
        proxy_ntlm.present && !(proxy_negotiate.present && proxy_negotiate.implicit);
    if (auto cache = credential_caches_.find(job.rec.owner); cache != credential_caches_.end()) {
      proxy_login.identity.credential_cache = cache->second;
    }
  }
  HttpLogin& proxy = config->proxy;
  for (AuthScheme scheme_id : {AuthScheme::kDigest, AuthScheme::kBasic}) {
    Opened& c = creds[{AuthTarget::kProxy, scheme_id}];
    if (!c.present || c.implicit) continue;
    if (proxy.user_name.empty()) {
      proxy.user_name = std::move(c.user_name);
      proxy.password = std::move(c.password);
      proxy.schemes |= CurlAuthBit(scheme_id);
    } else if (proxy.user_name.view() == c.user_name.view() &&
               proxy.password.view() == c.password.view()) {
      proxy.schemes |= CurlAuthBit(scheme_id);
    }
  }
  if ((config->server.schemes & static_cast<long>(CURLAUTH_BASIC)) != 0 && scheme == "http") {
    std::fprintf(stderr,
                 "openbits: job %s: Basic credentials may be sent in clear text to http://%s "
                 "(use https)\n",
                 job.rec.id.ToString().c_str(), host.c_str());
  }
  return Status::Ok();
}

std::shared_ptr<Job> Engine::MakeJobHandle(const std::shared_ptr<JobData>& job) {
  return std::make_shared<JobImpl>(shared_from_this(), job,
                                   Caller{job->rec.owner, platform::IsAdministrator()});
}

// --- State bookkeeping ----------------------------------------------------------

void Engine::SetState(JobData& job, JobState state) {
  job.rec.state = state;
  job.rec.modification_time_ms = NowMs();
  UpdateRunnable(job);
}

void Engine::UpdateRunnable(JobData& job) {
  if (IsActionState(job.rec.state) && !job.removed) {
    runnable_.insert(&job);
  } else {
    runnable_.erase(&job);
  }
}

Status Engine::Persist(JobData& job) { return store_->UpdateJob(job.rec); }

void Engine::RemoveJob(JobData& job) {
  job.removed = true;
  runnable_.erase(&job);
  CancelTimers(job);
  jobs_.erase(job.rec.id);  // handles keep the JobData alive
}

std::shared_ptr<JobData> Engine::SharedOf(JobData& job) {
  auto it = jobs_.find(job.rec.id);
  return it == jobs_.end() ? nullptr : it->second;
}

void Engine::CancelTimers(JobData& job) {
  job.command_timer.cancel();
  job.retry_timer.cancel();
  job.slice_timer.cancel();
  job.deadline_timer.cancel();
}

// --- Scheduling ---------------------------------------------------------------

void Engine::ScheduleSoon() {
  if (schedule_posted_) return;
  schedule_posted_ = true;
  asio::post(io_, [this] {
    schedule_posted_ = false;
    Schedule();
  });
}

void Engine::Schedule() {
  if (!options_.run_transfers || closed_) return;
  std::vector<SchedulingCandidate> candidates;
  candidates.reserve(runnable_.size());
  for (JobData* job : runnable_) {
    candidates.push_back(SchedulingCandidate{job->rec.id, job->rec.priority, job->queue_position,
                                             job->running(), job->slice_expired});
  }
  std::vector<Guid> chosen = PickJobsToRun(candidates, options_.background_concurrency);
  std::unordered_set<Guid, GuidHash> run(chosen.begin(), chosen.end());
  std::vector<JobData*> to_preempt;
  std::vector<std::shared_ptr<JobData>> to_start;
  for (JobData* job : runnable_) {
    const bool running = job->running();
    const bool wanted = run.count(job->rec.id) != 0;
    if (running && !wanted) to_preempt.push_back(job);
    if (!running && wanted) to_start.push_back(jobs_.at(job->rec.id));
  }
  for (JobData* job : to_preempt) Preempt(*job);
  std::sort(to_start.begin(), to_start.end(),
            [](const auto& a, const auto& b) { return a->queue_position < b->queue_position; });
  for (auto& job : to_start) StartJob(job);
}

void Engine::Preempt(JobData& job) {
  StopTransfer(job, true);
  job.slice_timer.cancel();
  job.deadline_timer.cancel();
  job.slice_expired = false;
  job.queue_position = next_queue_position_++;  // back of the round robin
  SetState(job, JobState::kQueued);
  (void)Persist(job);
  NotifyModification(job, false);
}

void Engine::StartJob(const std::shared_ptr<JobData>& job) {
  job->trust.reset();  // the stores are read again for this run
  ++job->run;
  const bool any_left = std::any_of(job->rec.files.begin(), job->rec.files.end(),
                                    [](const store::FileRecord& f) { return !f.completed; });
  if (!any_left) {
    OnAllFilesDone(*job);
    return;
  }
  if (job->rec.state == JobState::kQueued) {
    Transition t = ApplyEvent({job->rec.state, JobEvent::kStart});
    if (!t.status.ok()) return;
    SetState(*job, t.to);
    (void)Persist(*job);
    NotifyModification(*job, false);
  }
  job->active_since = steady_clock::now();
  job->slice_expired = false;
  ArmJobTimers(job);
  StartNextFile(job);
}

void Engine::ArmJobTimers(const std::shared_ptr<JobData>& job) {
  std::weak_ptr<JobData> weak = job;
  if (job->rec.priority != JobPriority::kForeground) {
    job->slice_timer.get(io_).expires_after(options_.time_slice);
    job->slice_timer.get(io_).async_wait([this, weak](const boost::system::error_code& ec) {
      auto j = weak.lock();
      if (ec || !j || j->removed) return;
      j->slice_expired = true;
      ScheduleSoon();
    });
  }
  if (job->rec.maximum_download_time_s != 0) {
    const auto limit = std::chrono::milliseconds(
        std::int64_t{job->rec.maximum_download_time_s} * 1000 - job->rec.active_time_ms);
    job->deadline_timer.get(io_).expires_after(std::max(limit, std::chrono::milliseconds(0)));
    job->deadline_timer.get(io_).async_wait([this, weak](const boost::system::error_code& ec) {
      auto j = weak.lock();
      if (ec || !j || j->removed || !j->running()) return;
      StopTransfer(*j, true);
      TransferOutcome o;
      o.error = kBgEMaxDownloadTimeout;
      o.context = ErrorContext::kGeneralQueueManager;
      o.why = "the job was active for more than " + std::to_string(j->rec.maximum_download_time_s) +
              " seconds";
      RecordError(*j, o, -1);
      EnterError(*j);
    });
  }
}

void Engine::StartNextFile(const std::shared_ptr<JobData>& job) {
  const std::size_t limit = std::max<std::uint32_t>(1, job->rec.max_concurrent_files);
  std::vector<store::FileRecord>& files = job->rec.files;
  while (job->first_unfinished < files.size() && files[job->first_unfinished].completed) {
    ++job->first_unfinished;
  }
  auto next = files.begin() + static_cast<std::ptrdiff_t>(job->first_unfinished);
  while (job->transfers.size() < limit) {
    // The next file, in the order they were added, that is neither done nor
    // downloading (at most `limit` files to skip).
    next = std::find_if(next, files.end(), [&](const store::FileRecord& f) {
      return !f.completed && !IsTransferring(*job, f.index);
    });
    if (next == files.end()) {
      if (!job->running()) OnAllFilesDone(*job);
      return;
    }
    if (!StartFile(job, *next)) return;
    ++next;
  }
  PrepareTemporaryFiles(job, static_cast<std::size_t>(next - files.begin()));
}

void Engine::PrepareTemporaryFiles(const std::shared_ptr<JobData>& job, std::size_t from) {
  // Enough to cover the files that start while the next batch is created:
  // with many files at once, a transfer that overtakes the batch in flight
  // finds its file made already, and must check it as if left by a crash
  // (at most 64 files: kMaxConcurrentFiles is 16).
  const std::size_t ahead =
      std::max<std::size_t>(32, 4 * std::size_t{job->rec.max_concurrent_files});
  if (!job->prepared) job->prepared = std::make_unique<JobData::Prepared>();
  JobData::Prepared& prepared = *job->prepared;
  if (prepared.in_flight || prepared.files.size() >= ahead / 2) return;
  std::vector<JobData::PreparedFile> wanted;
  const std::vector<store::FileRecord>& files = job->rec.files;
  std::size_t i = std::max(from, prepared.next_index);
  for (; i < files.size() && prepared.files.size() + wanted.size() < ahead; ++i) {
    const store::FileRecord& f = files[i];
    if (f.temp_name.empty()) break;  // named in batches when the first of them starts
    if (f.completed || f.renamed || f.bytes_transferred != 0) continue;
    if (IsTransferring(*job, f.index)) continue;
    wanted.push_back(JobData::PreparedFile{f.index, std::string(f.temp_name), nullptr});
  }
  prepared.next_index = i;
  if (wanted.empty()) return;
  auto owner = OwnerIdentity(job->rec.owner);
  if (!owner.ok()) return;
  std::vector<std::string> directories;
  directories.reserve(wanted.size());
  for (const JobData::PreparedFile& w : wanted) {
    auto parts = platform::SplitAbsolutePath(files[w.index].local_name);
    directories.push_back(parts.ok() ? parts->directory : std::string());
  }
  prepared.in_flight = true;
  asio::post(prepare_pool_, [this, weak = std::weak_ptr<JobData>(job), gate = prepared.gate,
                             owner = std::move(*owner), directories = std::move(directories),
                             wanted = std::move(wanted)]() mutable {
    {
      std::optional<platform::FileIdentity> as_owner;
      if (owner) {
        auto assumed = platform::FileIdentity::Assume(*owner);
        if (assumed.ok()) as_owner.emplace(std::move(*assumed));
      }
      // Created as the owner, or not at all: their transfers then report why.
      const bool may_create = !owner || as_owner;
      std::lock_guard lock(gate->mutex);
      for (std::size_t k = 0; k < wanted.size() && may_create && !gate->closed; ++k) {
        if (directories[k].empty()) continue;
        // Fails harmlessly if the file's transfer created it first.
        auto created =
            platform::CreateExclusive(directories[k], wanted[k].temp_name, kTemporaryFileMode);
        if (created.ok()) wanted[k].fd = std::make_shared<platform::ScopedFd>(std::move(*created));
      }
    }
    asio::post(io_, [this, weak, gate, wanted = std::move(wanted)]() mutable {
      OnTemporaryFilesPrepared(weak, gate, std::move(wanted));
    });
  });
}

void Engine::OnTemporaryFilesPrepared(const std::weak_ptr<JobData>& weak,
                                      const std::shared_ptr<JobData::Prepared::Gate>& gate,
                                      std::vector<JobData::PreparedFile> files) {
  std::shared_ptr<JobData> job = weak.lock();
  if (!job || job->removed || !job->prepared || job->prepared->gate != gate) return;
  JobData::Prepared& prepared = *job->prepared;
  prepared.in_flight = false;
  for (JobData::PreparedFile& p : files) {
    if (!p.fd || p.index >= job->rec.files.size()) continue;
    const store::FileRecord& f = job->rec.files[p.index];
    // A file that started meanwhile opened the same file itself.
    if (IsTransferring(*job, p.index) || f.completed || f.bytes_transferred != 0 ||
        f.temp_name.str() != p.temp_name)
      continue;
    prepared.files.push_back(std::move(p));
  }
  if (job->running()) PrepareTemporaryFiles(job, 0);
}

std::shared_ptr<platform::ScopedFd> Engine::TakePreparedFile(JobData& job,
                                                             const store::FileRecord& file) {
  if (!job.prepared) return nullptr;
  std::vector<JobData::PreparedFile>& files = job.prepared->files;
  auto it = std::find_if(files.begin(), files.end(),
                         [&](const JobData::PreparedFile& p) { return p.index == file.index; });
  if (it == files.end()) return nullptr;
  std::shared_ptr<platform::ScopedFd> fd;
  if (it->temp_name == file.temp_name.str()) fd = std::move(it->fd);
  files.erase(it);
  return fd;
}

void Engine::KeepEasyHandle(JobData& job, FileTransfer& finished) {
  // Only within the job: its files share an owner and its credentials.
  if (!job.prepared) return;
  std::vector<CPtr<CURL>>& idle = job.prepared->idle_easy_handles;
  if (idle.size() >= std::max<std::uint32_t>(1, job.rec.max_concurrent_files)) return;
  if (CPtr<CURL> easy = finished.ReleaseEasyHandle()) idle.push_back(std::move(easy));
}

void Engine::ClosePreparedFiles(JobData& job) {
  if (!job.prepared) return;
  {
    std::lock_guard lock(job.prepared->gate->mutex);
    job.prepared->gate->closed = true;
  }
  job.prepared.reset();
}

bool Engine::StartFile(const std::shared_ptr<JobData>& job, store::FileRecord& file) {
  file.ready_to_publish = false;  // its bytes are about to change
  if (file.temp_name.empty()) {
    NameTemporaryFiles(*job, job->rec.files.begin() + static_cast<std::ptrdiff_t>(file.index));
  }
  TransferConfig config;
  config.checkpoint_bytes = options_.checkpoint_bytes;
  config.checkpoint_interval = options_.checkpoint_interval;
  config.stall_timeout = options_.stall_timeout;
  // A custom method is not idempotent: no ranges, like dynamic content.
  config.dynamic_content = job->rec.dynamic_content || HasCustomHttpMethod(job->rec);
  config.http_method = job->rec.http_method;
  config.receive_buffer_bytes =
      ReceiveBufferFor(file.remote_size == kSizeUnknown || file.bytes_transferred > file.remote_size
                           ? kSizeUnknown
                           : file.remote_size - file.bytes_transferred,
                       job->last_file_small);
  if (auto owner = OwnerIdentity(job->rec.owner); owner.ok()) config.owner = *owner;
  auto header_text = CustomHeadersOf(*job);
  Status credentials = header_text.status();
  if (credentials.ok()) {
    auto headers = auth::ParseCustomHeaders(*header_text);
    if (headers.ok()) config.headers = std::move(*headers);
    credentials = ResolveCredentials(*job, file, &config);
  }
  if (credentials.ok()) credentials = ResolveTls(*job, &config);
  if (!credentials.ok()) {
    // A secret that does not open is never guessed at: the job stops with
    // the reason, and new credentials plus Resume() fix it.
    StopTransfer(*job, true);
    TransferOutcome o;
    o.error = credentials.code();
    o.context = ErrorContext::kGeneralQueueManager;
    o.why = credentials.message();
    RecordError(*job, o, file.index);
    EnterError(*job);
    return false;
  }
  auto transfer = std::make_shared<FileTransfer>(io_, *multi_, sync_pool_, writes_, *this, file,
                                                 std::move(config));
  job->transfers.push_back(transfer);
  transfer_owner_[transfer.get()] = job.get();
  if (job->prepared && !job->prepared->idle_easy_handles.empty()) {
    transfer->AdoptEasyHandle(std::move(job->prepared->idle_easy_handles.back()));
    job->prepared->idle_easy_handles.pop_back();
  }
  transfer->Start(TakePreparedFile(*job, file));
  return true;
}

void Engine::NameTemporaryFiles(JobData& job, std::vector<store::FileRecord>::iterator next) {
  // A commit per file would cost a log sync each; a batch amortizes it, and
  // a bound keeps huge jobs from naming files they may never reach.
  constexpr std::size_t kNamesPerCommit = 256;
  std::vector<std::size_t> named;
  for (auto it = next; it != job.rec.files.end() && named.size() < kNamesPerCommit; ++it) {
    if (!it->completed && !it->renamed && it->temp_name.empty()) {
      named.push_back(static_cast<std::size_t>(it - job.rec.files.begin()));
    }
  }
  std::vector<std::string> names = NewTemporaryNames(named.size());
  for (std::size_t k = 0; k < named.size(); ++k) {
    job.rec.files[named[k]].temp_name = std::move(names[k]);
  }
  Status st = store_->RunInTransaction([&]() -> Status {
    for (std::size_t i : named) {
      OPENBITS_RETURN_IF_ERROR(store_->UpdateFile(job.rec.id, job.rec.files[i]));
    }
    return Status::Ok();
  });
  if (!st.ok()) {
    // Not recorded: each transfer names and records its own file instead.
    for (std::size_t i : named) job.rec.files[i].temp_name.clear();
  }
}

void Engine::StopTransfer(JobData& job, bool keep_progress) {
  // Before the running check: a batch of creations may be in flight after
  // the last file finished. Complete and Cancel come here before they
  // rename or delete anything.
  ClosePreparedFiles(job);
  if (!job.running()) return;
  std::vector<std::shared_ptr<FileTransfer>> transfers = std::move(job.transfers);
  job.transfers.clear();
  for (const std::shared_ptr<FileTransfer>& transfer : transfers) {
    if (keep_progress) {
      transfer->Stop();  // persists through PersistFile while still owned
    } else {
      transfer->Abandon();
    }
    transfer_owner_.erase(transfer.get());
  }
  const auto now = steady_clock::now();
  job.rec.active_time_ms +=
      std::chrono::duration_cast<std::chrono::milliseconds>(now - job.active_since).count();
  job.active_since = now;
}

namespace {
// Small files finish every fraction of a millisecond; one sync per file
// would cost more than the download. A crash loses at most this window's
// completions (the files are fetched again), as with a checkpoint.
constexpr std::size_t kSyncBatchFiles = 64;
constexpr std::chrono::milliseconds kSyncBatchWindow{20};
}  // namespace

void Engine::QueueFinishedFile(const std::shared_ptr<JobData>& job,
                               std::shared_ptr<WriteTarget> target, const store::FileRecord& file) {
  ++job->pending_syncs;
  finished_unsynced_.push_back(FinishedFile{job, std::move(target), file, job->run});
  MaybeSyncBatch(false);
}

void Engine::MaybeSyncBatch(bool urgent) {
  sync_urgent_ = sync_urgent_ || urgent;
  if (flushing_ || batch_in_flight_ || finished_unsynced_.empty()) return;
  if (sync_urgent_ || finished_unsynced_.size() >= kSyncBatchFiles) {
    StartSyncBatch();
    return;
  }
  if (sync_window_timer_) return;  // armed by an earlier file
  sync_window_timer_.emplace(io_, kSyncBatchWindow);
  sync_window_timer_->async_wait([this](const boost::system::error_code& ec) {
    if (ec) return;
    sync_window_timer_.reset();
    MaybeSyncBatch(true);
  });
}

void Engine::StartSyncBatch() {
  if (sync_window_timer_) {
    sync_window_timer_->cancel();
    sync_window_timer_.reset();
  }
  sync_urgent_ = false;
  auto batch = TakeWaitingFiles();
  batch_in_flight_ = batch;
  // The write thread hands the batch on once the files' last bytes are
  // written, so the sync covers them.
  writes_.After([this, batch] {
    batch->CollectWrites();
    asio::post(sync_pool_, [this, batch] {
      batch->Sync();
      batch->done.set_value();
      asio::post(io_, [this, batch] { OnBatchSynced(batch); });
    });
  });
}

std::shared_ptr<Engine::SyncBatch> Engine::TakeWaitingFiles() {
  auto batch = std::make_shared<SyncBatch>();
  batch->files = std::move(finished_unsynced_);
  finished_unsynced_.clear();
  return batch;
}

void Engine::SyncBatch::CollectWrites() {
  written.clear();
  kept.assign(files.size(), 0);
  written.reserve(files.size());
  for (std::size_t i = 0; i < files.size(); ++i) {
    written.push_back(files[i].target->error);
    if (!written.back().ok()) kept[i] = files[i].target->end;
  }
}

void Engine::SyncBatch::Sync() {
  std::vector<const platform::ScopedFd*> fds;
  fds.reserve(files.size());
  for (const FinishedFile& f : files) fds.push_back(f.target->fd.get());
  synced = platform::SyncDataOfFiles(fds);
  for (std::size_t i = 0; i < files.size(); ++i) {
    if (!synced[i].ok()) kept[i] = 0;
    if (!written[i].ok()) synced[i] = written[i];  // the bytes never got there
  }
  // Ready to be renamed by Complete(), and closed, here on the sync thread
  // rather than on the engine thread.
  const unsigned published_mode = platform::DefaultFileMode();
  published.assign(files.size(), false);
  for (std::size_t i = 0; i < files.size(); ++i) {
    if (synced[i].ok()) {
      published[i] = PrepareForPublishing(*files[i].target->fd, files[i].file, published_mode).ok();
    }
    files[i].target.reset();
  }
}

void Engine::FlushFinishedFiles() {
  flushing_ = true;
  if (sync_window_timer_) sync_window_timer_->cancel();
  if (batch_in_flight_) {
    batch_in_flight_->done.get_future().wait();
    OnBatchSynced(batch_in_flight_);
  }
  if (finished_unsynced_.empty()) return;
  auto batch = TakeWaitingFiles();
  writes_.Drain();
  batch->CollectWrites();
  batch->Sync();
  OnBatchSynced(batch);
}

void Engine::OnBatchSynced(const std::shared_ptr<SyncBatch>& batch_ref) {
  // Owned here: the caller may pass batch_in_flight_ itself, reset below.
  const std::shared_ptr<SyncBatch> batch = batch_ref;
  if (batch->handled) return;  // Shutdown got there first
  batch->handled = true;
  if (batch_in_flight_ == batch) batch_in_flight_.reset();
  const std::vector<FinishedFile>& files = batch->files;
  std::vector<std::shared_ptr<JobData>> jobs(files.size());
  std::vector<bool> current(files.size(), false);
  for (std::size_t i = 0; i < files.size(); ++i) {
    jobs[i] = files[i].job.lock();
    const std::shared_ptr<JobData>& job = jobs[i];
    if (!job || job->removed) continue;
    const store::FileRecord& file = files[i].file;
    const store::FileRecord* f =
        file.index < job->rec.files.size() ? &job->rec.files[file.index] : nullptr;
    // Still the file that was synced (not restarted or replaced meanwhile).
    current[i] = f != nullptr && f->completed && f->temp_name == file.temp_name;
  }
  // One commit for the batch, not synced itself: a lost completion costs a
  // file fetched again, never a wrong one (the bytes are durable already),
  // and the job's next state change syncs the log.
  Status committed = store_->RunInUnsyncedTransaction([&]() -> Status {
    for (std::size_t i = 0; i < files.size(); ++i) {
      if (current[i] && batch->synced[i].ok()) {
        OPENBITS_RETURN_IF_ERROR(
            store_->UpdateFile(jobs[i]->rec.id, jobs[i]->rec.files[files[i].file.index]));
      }
    }
    return Status::Ok();
  });
  for (std::size_t i = 0; i < files.size(); ++i) {
    if (!jobs[i] || jobs[i]->removed) continue;
    JobData& job = *jobs[i];
    --job.pending_syncs;
    Status st = batch->synced[i].ok() ? committed : batch->synced[i];
    if (current[i] && st.ok() && batch->published[i]) {
      job.rec.files[files[i].file.index].ready_to_publish = true;
    }
    if (current[i] && !st.ok()) {
      const bool stopped_since = files[i].run != job.run || job.rec.state == JobState::kError ||
                                 job.rec.state == JobState::kTransientError ||
                                 job.rec.state == JobState::kSuspended;
      if (!stopped_since) {
        FailFinishedFile(jobs[i], files[i].file, st, batch->kept[i]);
        continue;
      }
      // The job already stopped for an error of its run, or was suspended or
      // started again since: the file is simply fetched again when it runs.
      ForgetFinishedFile(job, files[i].file, batch->kept[i]);
      job.all_done_waiting = false;
      const bool active =
          job.rec.state == JobState::kConnecting || job.rec.state == JobState::kTransferring;
      if (active && !job.running()) StartNextFile(jobs[i]);
    } else if (job.pending_syncs == 0 && job.all_done_waiting) {
      job.all_done_waiting = false;
      OnAllFilesDone(job);
    }
  }
  MaybeSyncBatch(false);
}

void Engine::ForgetFinishedFile(JobData& job, const store::FileRecord& file, std::uint64_t kept) {
  store::FileRecord& f = job.rec.files[file.index];
  f.completed = false;
  f.ready_to_publish = false;
  f.bytes_transferred = kept;
  if (kept > 0)
    (void)store_->RunInUnsyncedTransaction([&] { return store_->UpdateFile(job.rec.id, f); });
  job.first_unfinished = 0;
}

void Engine::FailFinishedFile(const std::shared_ptr<JobData>& job, const store::FileRecord& file,
                              const Status& why, std::uint64_t kept) {
  // Never claimed durable beyond `kept`: the rest is fetched again once the
  // cause is fixed.
  ForgetFinishedFile(*job, file, kept);
  StopTransfer(*job, true);
  TransferOutcome o = LocalFileFailure(why);
  RecordError(*job, o, file.index);
  job->all_done_waiting = false;
  if (o.transient) {
    EnterTransientError(job);
  } else {
    EnterError(*job);
  }
}

void Engine::OnAllFilesDone(JobData& job) {
  if (job.pending_syncs > 0) {
    job.all_done_waiting = true;  // OnBatchSynced comes back here
    MaybeSyncBatch(true);
    return;
  }
  Transition t = ApplyEvent({job.rec.state, JobEvent::kAllFilesDone});
  if (!t.status.ok()) return;
  if (job.prepared) job.prepared->idle_easy_handles.clear();
  job.slice_timer.cancel();
  job.deadline_timer.cancel();
  SetState(job, JobState::kTransferred);
  job.rec.completion_time_ms = NowMs();
  (void)Persist(job);
  NotifyModification(job, false);
  NotifyTransferred(job);
  RunNotifyCommand(job, kNotifyJobTransferred);
  ScheduleSoon();
}

void Engine::RecordError(JobData& job, const TransferOutcome& outcome, std::int64_t file_index) {
  job.retry_after_s = outcome.retry_after_s
                          ? static_cast<std::uint32_t>(std::min<std::uint64_t>(
                                *outcome.retry_after_s, JobData::kNoRetryAfter - 1))
                          : JobData::kNoRetryAfter;
  job.rec.error_code = outcome.error;
  job.rec.error_context = outcome.context;
  job.rec.error_file = file_index;
  job.rec.error_description = outcome.why;
  ++job.rec.error_count;
}

void Engine::EnterTransientError(const std::shared_ptr<JobData>& job) {
  job->slice_timer.cancel();
  job->deadline_timer.cancel();
  if (job->rec.no_progress_timeout_s == 0) {
    EnterError(*job);  // BITS: a zero timeout makes every error fatal
    return;
  }
  SetState(*job, JobState::kTransientError);
  (void)Persist(*job);
  ArmRetry(job);
  NotifyModification(*job, false);
  ScheduleSoon();
}

void Engine::ArmRetry(const std::shared_ptr<JobData>& job) {
  const auto now = steady_clock::now();
  // A server's Retry-After may lengthen the wait, within bounds.
  const auto delay = std::max<std::chrono::milliseconds>(
      std::chrono::seconds(RetryDelaySeconds(
          job->rec.minimum_retry_delay_s, job->retry_after_s == JobData::kNoRetryAfter
                                              ? std::nullopt
                                              : std::optional<std::uint64_t>(job->retry_after_s))),
      options_.minimum_retry_delay_floor);
  const auto give_up = job->last_progress + std::chrono::seconds(job->rec.no_progress_timeout_s);
  const bool retry_in_time = now + delay < give_up;
  job->retry_timer.get(io_).expires_at(retry_in_time ? now + delay : give_up);
  std::weak_ptr<JobData> weak = job;
  job->retry_timer.get(io_).async_wait(
      [this, weak, retry_in_time](const boost::system::error_code& ec) {
        auto j = weak.lock();
        if (ec || !j || j->removed || j->rec.state != JobState::kTransientError) return;
        if (retry_in_time) {
          SetState(*j, JobState::kQueued);
          (void)Persist(*j);
          NotifyModification(*j, false);
          ScheduleSoon();
        } else {
          EnterError(*j);  // no progress for NoProgressTimeout
        }
      });
}

void Engine::EnterError(JobData& job) {
  CancelTimers(job);
  SetState(job, JobState::kError);
  (void)Persist(job);
  NotifyModification(job, false);
  NotifyError(job);
  RunNotifyCommand(job, kNotifyJobError);
  ScheduleSoon();
}

// --- TransferHost -------------------------------------------------------------

void Engine::OnTransferResponding(FileTransfer& transfer) {
  auto it = transfer_owner_.find(&transfer);
  if (it == transfer_owner_.end()) return;
  JobData& job = *it->second;
  job.last_progress = steady_clock::now();
  if (job.rec.error_code != 0) {
    job.rec.error_code = 0;  // the server answers again: the error is resolved
    job.rec.error_context = ErrorContext::kNone;
    job.rec.error_file = -1;
    job.rec.error_description.clear();
  }
  Transition t = ApplyEvent({job.rec.state, JobEvent::kResponseAccepted});
  if (t.status.ok() && t.to != job.rec.state) {
    SetState(job, t.to);
    (void)Persist(job);
    NotifyModification(job, false);
  }
}

void Engine::OnTransferProgress(FileTransfer& transfer) {
  auto it = transfer_owner_.find(&transfer);
  if (it == transfer_owner_.end()) return;
  it->second->last_progress = steady_clock::now();
  NotifyModification(*it->second, true);
}

Status Engine::PersistFile(FileTransfer& transfer, const store::FileRecord& file) {
  auto it = transfer_owner_.find(&transfer);
  if (it == transfer_owner_.end()) return Status::Ok();  // cancelled meanwhile
  JobData& job = *it->second;
  if (file.index >= job.rec.files.size()) return Status(kEFail, "file index out of range");
  job.rec.files[file.index] = file;
  return store_->UpdateFile(job.rec.id, file);
}

Status Engine::PersistProgress(FileTransfer& transfer, const store::FileRecord& file) {
  // A synced WAL commit here waits behind the file's own writeback on the
  // same disk, on the io thread: once per checkpoint, it cost a transfer to
  // disk a fifth of its time.
  return store_->RunInUnsyncedTransaction([&] { return PersistFile(transfer, file); });
}

void Engine::OnTransferFinished(FileTransfer& transfer, const TransferOutcome& outcome) {
  auto it = transfer_owner_.find(&transfer);
  if (it == transfer_owner_.end()) return;
  JobData& raw = *it->second;
  std::shared_ptr<JobData> job = SharedOf(raw);
  const std::uint32_t index = transfer.file().index;
  transfer_owner_.erase(it);
  auto mine = std::find_if(raw.transfers.begin(), raw.transfers.end(),
                           [&](const auto& t) { return t.get() == &transfer; });
  if (mine != raw.transfers.end()) {
    // The transfer is still on the call stack: release it later.
    asio::post(io_, [doomed = std::move(*mine)] {});
    raw.transfers.erase(mine);
  }
  const auto now = steady_clock::now();
  raw.rec.active_time_ms +=
      std::chrono::duration_cast<std::chrono::milliseconds>(now - raw.active_since).count();
  raw.active_since = now;
  if (!job) return;

  if (outcome.file_done) {
    KeepEasyHandle(*job, transfer);
    if (outcome.unsynced && outcome.completed_file && index < job->rec.files.size()) {
      // Completed in memory now, in the store once the bytes are durable.
      job->rec.files[index] = *outcome.completed_file;
      job->rec.files[index].ready_to_publish = false;  // until the sync thread says so
      QueueFinishedFile(job, outcome.unsynced, *outcome.completed_file);
    }
    if (index < job->rec.files.size()) {
      job->last_file_small = job->rec.files[index].bytes_total <= kSmallFileBytes;
    }
    NotifyFileTransferred(*job, index);
    NotifyModification(*job, false);
    StartNextFile(job);
    return;
  }
  StopTransfer(*job, true);  // the job's other files stop with it, keeping their progress
  RecordError(*job, outcome, index);
  if (outcome.transient) {
    EnterTransientError(job);
  } else {
    EnterError(*job);
  }
}

// --- Notifications --------------------------------------------------------------

void Engine::PostNotification(JobData& job, std::function<void(JobCallback&, Job&)> call) {
  if (!job.callback || (job.rec.notify_flags & kNotifyDisable) != 0) return;
  std::shared_ptr<JobData> shared = SharedOf(job);
  if (!shared) {
    // A job leaving the queue: make a handle from a snapshot of its data.
    shared = std::make_shared<JobData>();
    shared->rec = job.rec;
    shared->removed = true;
  }
  std::shared_ptr<Job> handle = MakeJobHandle(shared);
  asio::post(notify_io_, [callback = job.callback, handle, call = std::move(call)] {
    try {
      call(*callback, *handle);
    } catch (...) {
      // An application's exception must not kill the notification thread.
    }
  });
}

void Engine::NotifyModification(JobData& job, bool progress_only) {
  if ((job.rec.notify_flags & kNotifyJobModification) == 0 || !job.callback) return;
  const auto now = steady_clock::now();
  const auto interval = std::chrono::milliseconds(job.rec.min_notification_interval_ms);
  if (progress_only && now - job.last_notify < interval) {
    if (job.notify_pending) return;
    job.notify_pending = true;
    job.notify_timer.get(io_).expires_at(job.last_notify + interval);
    std::weak_ptr<JobData> weak = SharedOf(job);
    job.notify_timer.get(io_).async_wait([this, weak](const boost::system::error_code& ec) {
      auto j = weak.lock();
      if (!j) return;
      j->notify_pending = false;
      if (ec || j->removed) return;
      j->last_notify = steady_clock::now();
      PostNotification(*j, [](JobCallback& cb, Job& h) { cb.JobModification(h); });
    });
    return;
  }
  job.last_notify = now;
  PostNotification(job, [](JobCallback& cb, Job& h) { cb.JobModification(h); });
}

void Engine::NotifyTransferred(JobData& job) {
  if ((job.rec.notify_flags & kNotifyJobTransferred) == 0) return;
  PostNotification(job, [](JobCallback& cb, Job& h) { cb.JobTransferred(h); });
}

void Engine::NotifyError(JobData& job) {
  if ((job.rec.notify_flags & kNotifyJobError) == 0) return;
  auto error = ErrorOf(job);
  if (!error.ok()) return;
  PostNotification(job, [e = *error](JobCallback& cb, Job& h) { cb.JobError(h, e); });
}

void Engine::RunNotifyCommand(JobData& job, std::uint32_t flag) {
  const store::JobRecord& r = job.rec;
  if (r.notify_program.empty() || (r.notify_flags & flag) == 0 ||
      (r.notify_flags & kNotifyDisable) != 0 || job.callback || job.command_pid > 0) {
    return;  // BITS runs the command line only when no callback object is set
  }
  auto owner = OwnerIdentity(r.owner);
  if (!owner.ok()) return;
  auto pid = StartNotifyCommand(r.notify_program, r.notify_parameters, *owner);
  if (!pid.ok()) {
    std::fprintf(stderr, "openbits: job %s: %s\n", r.id.ToString().c_str(),
                 pid.status().message().c_str());
    return;
  }
  job.command_pid = *pid;
  if (auto shared = SharedOf(job)) WatchNotifyCommand(shared, flag, r.state);
}

void Engine::WatchNotifyCommand(const std::shared_ptr<JobData>& job, std::uint32_t flag,
                                JobState state) {
  // Reaped by polling with WNOHANG: a library must not take over SIGCHLD.
  job->command_timer.get(io_).expires_after(std::chrono::milliseconds(50));
  std::weak_ptr<JobData> weak = job;
  job->command_timer.get(io_).async_wait(
      [this, weak, flag, state](const boost::system::error_code& ec) {
        auto j = weak.lock();
        if (ec || !j) return;
        int status = 0;
        const pid_t done = ::waitpid(j->command_pid, &status, WNOHANG);
        if (done == 0) {
          WatchNotifyCommand(j, flag, state);
          return;
        }
        j->command_pid = -1;
        const bool succeeded = done > 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0;
        if (succeeded || j->removed || j->rec.state != state) return;
        // Failed and the job was neither completed nor cancelled: again after
        // the retry delay.
        const auto delay = std::max<std::chrono::milliseconds>(
            std::chrono::seconds(j->rec.minimum_retry_delay_s), options_.minimum_retry_delay_floor);
        j->command_timer.get(io_).expires_after(delay);
        j->command_timer.get(io_).async_wait(
            [this, weak, flag, state](const boost::system::error_code& e) {
              auto again = weak.lock();
              if (e || !again || again->removed || again->rec.state != state) return;
              RunNotifyCommand(*again, flag);
            });
      });
}

void Engine::NotifyFileTransferred(JobData& job, std::uint32_t index) {
  if ((job.rec.notify_flags & kNotifyFileTransferred) == 0) return;
  PostNotification(job, [index](JobCallback& cb, Job& h) {
    auto files = h.EnumFiles();
    if (index < files.size()) cb.FileTransferred(h, *files[index]);
  });
}

}  // namespace openbits::engine
