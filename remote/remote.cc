// Copyright (c) openbits authors. Licensed under the Apache License 2.0.
//
// openbits::Connect(): Manager, Job and File over the daemon's JSON-RPC
// socket (docs/ipc.md). One connection per Manager, shared by its handles:
// requests are written under a mutex and matched to replies by id on a
// reader thread; "job.event" notifications go to a second thread that calls
// the applications' JobCallbacks, so a callback may call any Job method.

#include <unistd.h>

#include <condition_variable>
#include <cstdlib>
#include <deque>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <sys/socket.h>
#include <thread>

#include "openbits/hresult.h"
#include "openbits/manager.h"

#include "auth/client_certificate.h"
#include "platform/paths.h"
#include "platform/secret_buffer.h"
#include "remote/connection.h"
#include "remote/json_rpc.h"

namespace openbits {
namespace {

using json = nlohmann::json;

std::string Dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

class RemoteConnection {
 public:
  explicit RemoteConnection(int fd) : fd_(fd), shared_(std::make_shared<Shared>()) {
    reader_ = std::thread([this] { ReadLoop(); });
    // The dispatcher owns a share of the state: the last handle may die
    // inside a callback, on the dispatcher thread itself.
    dispatcher_ = std::thread([shared = shared_] { DispatchLoop(shared); });
  }
  RemoteConnection(const RemoteConnection&) = delete;
  RemoteConnection& operator=(const RemoteConnection&) = delete;

  ~RemoteConnection() {
    ::shutdown(fd_, SHUT_RDWR);
    reader_.join();
    {
      std::lock_guard lock(shared_->mutex);
      shared_->stopping = true;
    }
    shared_->events_changed.notify_all();
    if (std::this_thread::get_id() == dispatcher_.get_id()) {
      dispatcher_.detach();
    } else {
      dispatcher_.join();
    }
    ::close(fd_);
  }

  // Called on the dispatcher thread for every "job.event".
  void SetEventHandler(std::function<void(const json&)> handler) {
    std::lock_guard lock(shared_->mutex);
    shared_->handler = std::move(handler);
  }

  Result<json> Call(const std::string& method, json params) {
    Shared& s = *shared_;
    std::unique_lock lock(s.mutex);
    if (s.broken) return Status(kEFail, "the connection to openbitsd is closed");
    const long id = s.next_id++;
    s.replies[id];
    std::string line =
        Dump(json{{"jsonrpc", "2.0"}, {"id", id}, {"method", method}, {"params", params}});
    line += '\n';
    remote::ScrubPasswords(params);
    lock.unlock();  // never held together with write_mutex_: no lock order to invert
    {
      std::lock_guard write(write_mutex_);
      for (std::size_t sent = 0; sent < line.size();) {
        const ssize_t n = ::send(fd_, line.data() + sent, line.size() - sent, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        sent += static_cast<std::size_t>(n);
      }
    }
    platform::Cleanse(line);  // it may have carried a password
    lock.lock();
    s.replied.wait(lock, [&] { return s.replies[id].has_value() || s.broken; });
    auto node = s.replies.extract(id);
    if (!node.mapped()) return Status(kEFail, "openbitsd closed the connection");
    json reply = std::move(*node.mapped());
    lock.unlock();
    return remote::ResultOfReply(std::move(reply));
  }

 private:
  struct Shared {
    std::mutex mutex;
    std::condition_variable replied;
    std::condition_variable events_changed;
    std::map<long, std::optional<json>> replies;
    std::deque<json> events;
    std::function<void(const json&)> handler;
    long next_id = 1;
    bool broken = false;
    bool stopping = false;
  };

  void ReadLoop() {
    Shared& s = *shared_;
    std::string pending;
    char buf[65536];
    while (true) {
      const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      // Only the new bytes are searched: a long reply arrives in pieces.
      std::size_t searched = pending.size();
      pending.append(buf, static_cast<std::size_t>(n));
      std::size_t newline;
      while ((newline = pending.find('\n', searched)) != std::string::npos) {
        json message =
            json::parse(pending.begin(), pending.begin() + static_cast<std::ptrdiff_t>(newline),
                        nullptr, false);
        pending.erase(0, newline + 1);
        searched = 0;
        if (!message.is_object()) continue;
        std::lock_guard lock(s.mutex);
        if (message.contains("id") && message["id"].is_number_integer()) {
          auto it = s.replies.find(message["id"].get<long>());
          if (it != s.replies.end()) it->second = std::move(message);
          s.replied.notify_all();
        } else if (message.value("method", std::string()) == "job.event" &&
                   message.contains("params")) {
          s.events.push_back(std::move(message["params"]));
          s.events_changed.notify_all();
        }
      }
    }
    std::lock_guard lock(s.mutex);
    s.broken = true;
    s.replied.notify_all();
  }

  static void DispatchLoop(const std::shared_ptr<Shared>& shared) {
    Shared& s = *shared;
    std::unique_lock lock(s.mutex);
    while (true) {
      s.events_changed.wait(lock, [&] { return s.stopping || !s.events.empty(); });
      if (s.stopping) return;
      json event = std::move(s.events.front());
      s.events.pop_front();
      auto handler = s.handler;
      lock.unlock();
      if (handler) handler(event);
      lock.lock();
    }
  }

  const int fd_;
  std::shared_ptr<Shared> shared_;
  std::mutex write_mutex_;
  std::thread reader_;
  std::thread dispatcher_;
};

// --- JSON to API values ------------------------------------------------------

template <typename Enum>
Enum ByName(const json& value, std::string_view (*name)(Enum), int last, Enum fallback) {
  if (!value.is_string()) return fallback;
  const std::string text = value.get<std::string>();
  for (int i = 0; i <= last; ++i) {
    if (name(static_cast<Enum>(i)) == text) return static_cast<Enum>(i);
  }
  return fallback;
}

std::uint64_t SizeOf(const json& v) {
  return v.is_number_unsigned() ? v.get<std::uint64_t>() : kSizeUnknown;
}

std::chrono::system_clock::time_point TimeOf(const json& v) {
  const std::int64_t ms = v.is_number() ? v.get<std::int64_t>() : 0;
  return ms == 0 ? std::chrono::system_clock::time_point{}
                 : std::chrono::system_clock::time_point(std::chrono::milliseconds(ms));
}

JobErrorInfo ErrorOf(const json& e) {
  JobErrorInfo out;
  out.code = static_cast<HResult>(e.value("hresult", 0u));
  out.context = static_cast<ErrorContext>(e.value("context", 0));
  out.description = e.value("description", std::string());
  out.context_description = e.value("contextDescription", std::string());
  if (e.contains("file") && e["file"].is_number_unsigned()) {
    out.file_index = e["file"].get<std::uint32_t>();
  }
  out.remote_name = e.value("remote", std::string());
  out.local_name = e.value("local", std::string());
  out.protocol = e.value("protocol", std::string());
  return out;
}

JobInfo InfoOf(const json& j) {
  JobInfo i;
  if (auto id = Guid::Parse(j.value("id", std::string())); id.ok()) i.id = *id;
  i.type = ByName<JobType>(j["type"], &JobTypeName, 2, JobType::kDownload);
  i.state = ByName<JobState>(j["state"], &JobStateName, 8, JobState::kSuspended);
  i.priority = ByName<JobPriority>(j["priority"], &JobPriorityName, 3, JobPriority::kNormal);
  i.owner = j.value("owner", std::string());
  i.display_name = j.value("name", std::string());
  i.description = j.value("description", std::string());
  i.progress.files_total = j.value("filesTotal", 0u);
  i.progress.files_transferred = j.value("filesTransferred", 0u);
  i.progress.bytes_total = SizeOf(j["bytesTotal"]);
  i.progress.bytes_transferred = j.value("bytesTransferred", std::uint64_t{0});
  i.times = JobTimes{TimeOf(j["creationTime"]), TimeOf(j["modificationTime"]),
                     TimeOf(j["completionTime"])};
  i.error_count = j.value("errorCount", 0u);
  if (j.contains("error")) i.error = ErrorOf(j["error"]);
  i.minimum_retry_delay = j.value("minRetryDelay", 0u);
  i.no_progress_timeout = j.value("noProgressTimeout", 0u);
  i.maximum_download_time = j.value("maxDownloadTime", 0u);
  i.notify_flags = j.value("notifyFlags", 0u);
  i.dynamic_content = j.value("dynamicContent", false);
  i.max_concurrent_files = j.value("maxConcurrentFiles", 1u);
  for (const json& c : j.value("credentials", json::array())) {
    i.credentials.push_back(
        CredentialSlot{ByName<AuthTarget>(c["target"], &AuthTargetName, 2, AuthTarget::kServer),
                       ByName<AuthScheme>(c["scheme"], &AuthSchemeName, 5, AuthScheme::kBasic)});
  }
  i.proxy.usage = ByName<ProxyUsage>(j["proxyUsage"], &ProxyUsageName, 3, ProxyUsage::kPreconfig);
  i.proxy.proxy_list = j.value("proxyList", std::string());
  i.proxy.bypass_list = j.value("proxyBypass", std::string());
  i.security_flags = j.value("securityFlags", 0u);
  if (j.contains("clientCertificate") && j["clientCertificate"].is_object()) {
    const json& c = j["clientCertificate"];
    ClientCertificate certificate;
    certificate.location = ByName<CertStoreLocation>(c["location"], &CertStoreLocationName, 7,
                                                     CertStoreLocation::kCurrentUser);
    certificate.store_name = c.value("store", std::string());
    if (auto hash = auth::ParseThumbprint(c.value("hash", std::string())); hash.ok()) {
      certificate.hash = *hash;
    }
    certificate.subject = c.value("subject", std::string());
    i.client_certificate = std::move(certificate);
  }
  return i;
}

Status StatusOf(const Result<json>& r) {
  if (!r.ok()) return r.status();
  const HResult code = static_cast<HResult>(r->value("hresult", 0u));
  return code == 0 ? Status::Ok() : Status(code, r->value("message", std::string()));
}

// --- Handles -----------------------------------------------------------------

class RemoteManager;

class RemoteJob final : public Job {
 public:
  RemoteJob(std::shared_ptr<RemoteManager> manager, Guid id)
      : manager_(std::move(manager)), id_(id), id_text_(id.ToString()) {}

  Guid GetId() const override { return id_; }
  JobType GetType() const override { return GetInfo().type; }
  std::string GetOwner() const override { return GetInfo().owner; }

  Status AddFile(std::string_view remote_url, std::string_view local_path) override {
    return AddFileSet({FileInfo{std::string(remote_url), std::string(local_path)}});
  }
  Status AddFileSet(const std::vector<FileInfo>& files) override {
    json list = json::array();
    for (const FileInfo& f : files)
      list.push_back({{"remote", f.remote_name}, {"local", f.local_name}});
    return StatusOf(Call("job.addFiles", {{"id", id_text_}, {"files", list}}));
  }
  Status AddFileWithRanges(std::string_view remote_url, std::string_view local_path,
                           const std::vector<FileRange>& ranges) override {
    json r = json::array();
    for (const FileRange& range : ranges) {
      r.push_back({{"offset", range.initial_offset},
                   {"length", range.length == kLengthToEof ? json(nullptr) : json(range.length)}});
    }
    return StatusOf(
        Call("job.addFiles", {{"id", id_text_},
                              {"files", json::array({{{"remote", std::string(remote_url)},
                                                      {"local", std::string(local_path)}}})},
                              {"ranges", r}}));
  }
  std::vector<std::shared_ptr<File>> EnumFiles() const override;

  Status Resume() override { return Simple("job.resume"); }
  Status Suspend() override { return Simple("job.suspend"); }
  Status Cancel() override { return Simple("job.cancel"); }
  Status Complete() override { return Simple("job.complete"); }

  JobState GetState() const override { return GetInfo().state; }
  JobProgress GetProgress() const override { return GetInfo().progress; }
  JobTimes GetTimes() const override { return GetInfo().times; }
  Result<JobErrorInfo> GetError() const override {
    JobInfo info = GetInfo();
    if (!info.status.ok()) return info.status;
    if (!info.error) return Status(kBgEErrorInformationUnavailable, "the job has no error");
    return *info.error;
  }
  std::uint32_t GetErrorCount() const override { return GetInfo().error_count; }
  JobInfo GetInfo() const override {
    auto r = Info();
    if (r.ok()) return InfoOf((*r)["job"]);
    // Never a state the job may really be in: the caller sees it is unknown.
    JobInfo unknown;
    unknown.status = r.status();
    unknown.id = id_;
    unknown.state = JobState::kUnknown;
    return unknown;
  }

  Status SetProperty(JobProperty property, const PropertyValue& value) override {
    if (JobPropertyName(property).empty()) return Status(kEInvalidArg, "unknown property");
    return Set(std::string(JobPropertyName(property)), remote::PropertyValueToJson(value));
  }
  Result<PropertyValue> GetProperty(JobProperty property) const override;

  Status SetDisplayName(std::string_view name) override {
    return Set("displayName", std::string(name));
  }
  std::string GetDisplayName() const override { return GetInfo().display_name; }
  Status SetDescription(std::string_view description) override {
    return Set("description", std::string(description));
  }
  std::string GetDescription() const override { return GetInfo().description; }
  Status SetPriority(JobPriority priority) override {
    return Set("priority", static_cast<int>(priority));
  }
  JobPriority GetPriority() const override { return GetInfo().priority; }
  Status SetMinimumRetryDelay(std::uint32_t seconds) override {
    return Set("minRetryDelay", seconds);
  }
  std::uint32_t GetMinimumRetryDelay() const override { return GetInfo().minimum_retry_delay; }
  Status SetNoProgressTimeout(std::uint32_t seconds) override {
    return Set("noProgressTimeout", seconds);
  }
  std::uint32_t GetNoProgressTimeout() const override { return GetInfo().no_progress_timeout; }
  Status SetMaximumDownloadTime(std::uint32_t seconds) override {
    return Set("maxDownloadTime", seconds);
  }
  std::uint32_t GetMaximumDownloadTime() const override { return GetInfo().maximum_download_time; }
  Status SetCustomHeaders(std::string_view headers) override {
    return Set("customHeaders", std::string(headers));
  }
  std::string GetCustomHeaders() const override {
    auto r = Info();
    return r.ok() ? (*r)["job"].value("customHeaders", std::string()) : std::string();
  }
  Status SetNotifyFlags(std::uint32_t flags) override { return Set("notifyFlags", flags); }
  std::uint32_t GetNotifyFlags() const override { return GetInfo().notify_flags; }
  Status SetNotifyInterface(std::shared_ptr<JobCallback> callback) override;
  Status SetMinimumNotificationInterval(std::chrono::milliseconds ms) override {
    if (ms.count() < 0 || ms.count() > 0xFFFFFFFFLL) {
      return Status(kEInvalidArg, "the interval is out of range");
    }
    return Set("minNotificationInterval", static_cast<std::uint64_t>(ms.count()));
  }
  Status SetNotifyCmdLine(std::string_view program, std::string_view parameters) override {
    return Set("notifyCmdLine",
               json{{"program", std::string(program)}, {"parameters", std::string(parameters)}});
  }
  NotifyCommandLine GetNotifyCmdLine() const override {
    auto r = Info();
    if (!r.ok()) return {};
    return {(*r)["job"].value("notifyProgram", std::string()),
            (*r)["job"].value("notifyParameters", std::string())};
  }
  Status SetDynamicContent(bool enable) override { return Set("dynamicContent", enable); }
  bool GetDynamicContent() const override { return GetInfo().dynamic_content; }
  Status SetMaximumConcurrentFiles(std::uint32_t count) override {
    return Set("maxConcurrentFiles", count);
  }
  std::uint32_t GetMaximumConcurrentFiles() const override {
    return GetInfo().max_concurrent_files;
  }
  Status SetHttpMethod(std::string_view method) override {
    return Set("httpMethod", std::string(method));
  }
  std::string GetHttpMethod() const override {
    auto r = Info();
    return r.ok() ? (*r)["job"].value("httpMethod", std::string("GET")) : std::string("GET");
  }
  Status SetProxySettings(ProxyUsage usage, std::string_view proxy_list,
                          std::string_view bypass_list) override {
    const std::string_view name = ProxyUsageName(usage);
    if (name.empty()) return Status(kENotImpl, "unknown proxy usage");
    return Set("proxySettings", json{{"usage", std::string(name)},
                                     {"list", std::string(proxy_list)},
                                     {"bypass", std::string(bypass_list)}});
  }
  ProxySettings GetProxySettings() const override { return GetInfo().proxy; }
  Status SetCredentials(AuthTarget target, AuthScheme scheme, std::string_view user_name,
                        std::string_view password) override {
    return Credentials(target, scheme, json(std::string(user_name)), json(std::string(password)));
  }
  Status SetImplicitCredentials(AuthTarget target, AuthScheme scheme) override {
    return Credentials(target, scheme, json(nullptr), json(nullptr));
  }
  Status RemoveCredentials(AuthTarget target, AuthScheme scheme) override {
    return StatusOf(
        Call("job.removeCredentials", {{"id", id_text_},
                                       {"target", std::string(AuthTargetName(target))},
                                       {"scheme", std::string(AuthSchemeName(scheme))}}));
  }
  Status TakeOwnership() override { return Simple("job.takeOwnership"); }
  Status MakeCustomHeadersWriteOnly() override { return Simple("job.makeCustomHeadersWriteOnly"); }
  Status SetClientCertificateByID(CertStoreLocation location, std::string_view store_name,
                                  const std::array<std::uint8_t, 20>& hash) override {
    return StatusOf(Call("job.setClientCertificate", {{"id", id_text_},
                                                      {"location", static_cast<int>(location)},
                                                      {"store", std::string(store_name)},
                                                      {"hash", auth::ThumbprintHex(hash)}}));
  }
  Status SetClientCertificateByName(CertStoreLocation location, std::string_view store_name,
                                    std::string_view subject) override {
    return StatusOf(Call("job.setClientCertificate", {{"id", id_text_},
                                                      {"location", static_cast<int>(location)},
                                                      {"store", std::string(store_name)},
                                                      {"subject", std::string(subject)}}));
  }
  Status RemoveClientCertificate() override { return Simple("job.removeClientCertificate"); }
  Result<ClientCertificate> GetClientCertificate() const override {
    auto r = Info();
    if (!r.ok()) return r.status();
    JobInfo info = InfoOf((*r)["job"]);
    if (!info.client_certificate) return Status(kENotFound, "the job has no client certificate");
    return *info.client_certificate;
  }
  Status SetClientCertificatePassword(std::string_view password) override {
    return StatusOf(Call("job.setClientCertificatePassword",
                         {{"id", id_text_}, {"password", std::string(password)}}));
  }
  Status SetSecurityFlags(std::uint32_t flags) override {
    return StatusOf(Call("job.setSecurityFlags", {{"id", id_text_}, {"flags", flags}}));
  }
  std::uint32_t GetSecurityFlags() const override { return GetInfo().security_flags; }

  Result<json> Info() const { return Call("job.info", {{"id", id_text_}}); }

 private:
  Result<json> Call(const std::string& method, json params) const;
  Status Simple(const std::string& method) { return StatusOf(Call(method, {{"id", id_text_}})); }
  Status Set(const std::string& property, json value) {
    return StatusOf(Call("job.set", {{"id", id_text_}, {"property", property}, {"value", value}}));
  }
  Status Credentials(AuthTarget target, AuthScheme scheme, json user, json password) {
    const std::string_view t = AuthTargetName(target);
    const std::string_view s = AuthSchemeName(scheme);
    if (t.empty()) return Status(kBgEInvalidAuthTarget, "the authentication target is not defined");
    if (s.empty()) return Status(kBgEInvalidAuthScheme, "the authentication scheme is not defined");
    return StatusOf(Call("job.setCredentials", {{"id", id_text_},
                                                {"target", std::string(t)},
                                                {"scheme", std::string(s)},
                                                {"userName", std::move(user)},
                                                {"password", std::move(password)}}));
  }

  std::shared_ptr<RemoteManager> manager_;
  Guid id_;
  std::string id_text_;
};

class RemoteFile final : public File {
 public:
  RemoteFile(std::shared_ptr<const RemoteJob> job, std::uint32_t index)
      : job_(std::move(job)), index_(index) {}
  std::uint32_t index() const override { return index_; }
  std::string GetRemoteName() const override { return Field().value("remote", std::string()); }
  std::string GetLocalName() const override { return Field().value("local", std::string()); }
  FileProgress GetProgress() const override {
    const json f = Field();
    return FileProgress{SizeOf(f["bytesTotal"]), f.value("bytesTransferred", std::uint64_t{0}),
                        f.value("completed", false)};
  }
  std::string GetTemporaryName() const override {
    return Field().value("temporaryName", std::string());
  }
  std::vector<FileRange> GetFileRanges() const override {
    std::vector<FileRange> out;
    for (const json& r : Field().value("ranges", json::array())) {
      out.push_back(FileRange{
          r.value("offset", std::uint64_t{0}),
          r["length"].is_number_unsigned() ? r["length"].get<std::uint64_t>() : kLengthToEof});
    }
    return out;
  }

 private:
  json Field() const {
    auto info = job_->Info();
    if (!info.ok() || !(*info)["files"].is_array() || index_ >= (*info)["files"].size()) {
      return json::object();
    }
    return (*info)["files"][index_];
  }
  std::shared_ptr<const RemoteJob> job_;
  std::uint32_t index_;
};

class RemoteManager final : public Manager, public std::enable_shared_from_this<RemoteManager> {
 public:
  explicit RemoteManager(int fd) : connection_(std::make_unique<RemoteConnection>(fd)) {}

  void Start() {
    std::weak_ptr<RemoteManager> weak = shared_from_this();
    connection_->SetEventHandler([weak](const json& event) {
      if (auto self = weak.lock()) self->OnEvent(event);
    });
  }

  Result<json> Call(const std::string& method, json params) {
    return connection_->Call(method, std::move(params));
  }

  void Subscribe(const Guid& id, std::shared_ptr<JobCallback> callback) {
    std::lock_guard lock(mutex_);
    if (callback) {
      callbacks_[id.ToString()] = std::move(callback);
    } else {
      callbacks_.erase(id.ToString());
    }
  }

  Result<std::shared_ptr<Job>> CreateJob(std::string_view display_name, JobType type) override {
    if (type != JobType::kDownload) return Status(kENotImpl, "upload jobs are not supported yet");
    auto r = Call("job.create", {{"name", std::string(display_name)}});
    if (!r.ok()) return r.status();
    return Handle((*r)["id"]);
  }

  Result<std::vector<std::shared_ptr<Job>>> CreateJobs(const std::vector<JobSpec>& specs) override {
    json jobs = json::array();
    for (const JobSpec& spec : specs) {
      json files = json::array();
      for (const FileInfo& f : spec.files) {
        files.push_back({{"remote", f.remote_name}, {"local", f.local_name}});
      }
      jobs.push_back({{"name", spec.display_name},
                      {"description", spec.description},
                      {"priority", static_cast<int>(spec.priority)},
                      {"resume", spec.resume},
                      {"files", files}});
    }
    auto r = Call("job.createMany", {{"jobs", jobs}});
    if (!r.ok()) return r.status();
    std::vector<std::shared_ptr<Job>> out;
    for (const json& id : (*r)["ids"]) {
      auto job = Handle(id);
      if (!job.ok()) return job.status();
      out.push_back(*job);
    }
    return out;
  }

  Result<std::shared_ptr<Job>> GetJob(const Guid& id) override {
    auto r = Call("job.info", {{"id", id.ToString()}});
    if (!r.ok()) return r.status();
    return std::shared_ptr<Job>(std::make_shared<RemoteJob>(shared_from_this(), id));
  }

  Result<std::vector<std::shared_ptr<Job>>> EnumJobs(EnumScope scope) override {
    auto r = Call("job.list", {{"allUsers", scope == EnumScope::kAllUsers}});
    if (!r.ok()) return r.status();
    std::vector<std::shared_ptr<Job>> out;
    for (const json& j : (*r)["jobs"]) {
      auto job = Handle(j["id"]);
      if (job.ok()) out.push_back(*job);
    }
    return out;
  }

  Result<std::vector<JobInfo>> EnumJobInfo(EnumScope scope) override {
    auto r = Call("job.list", {{"allUsers", scope == EnumScope::kAllUsers}});
    if (!r.ok()) return r.status();
    std::vector<JobInfo> out;
    for (const json& j : (*r)["jobs"]) out.push_back(InfoOf(j));
    return out;
  }

  Status RotateCredentialKey() override {
    return StatusOf(Call("vault.rotateKey", json::object()));
  }

 private:
  Result<std::shared_ptr<Job>> Handle(const json& id_text) {
    auto id = Guid::Parse(id_text.is_string() ? id_text.get<std::string>() : std::string());
    if (!id.ok()) return Status(kEFail, "openbitsd sent a malformed job id");
    return std::shared_ptr<Job>(std::make_shared<RemoteJob>(shared_from_this(), *id));
  }

  void OnEvent(const json& event) {
    const std::string id_text = event.value("id", std::string());
    std::shared_ptr<JobCallback> callback;
    {
      std::lock_guard lock(mutex_);
      auto it = callbacks_.find(id_text);
      if (it == callbacks_.end()) return;
      callback = it->second;
    }
    auto id = Guid::Parse(id_text);
    if (!id.ok()) return;
    auto job = std::make_shared<RemoteJob>(shared_from_this(), *id);
    const std::string kind = event.value("event", std::string());
    try {
      if (kind == "transferred") {
        callback->JobTransferred(*job);
      } else if (kind == "error") {
        callback->JobError(*job, ErrorOf(event.value("error", json::object())));
      } else if (kind == "modification") {
        callback->JobModification(*job);
      } else if (kind == "fileTransferred") {
        RemoteFile file(job, event.value("file", 0u));
        callback->FileTransferred(*job, file);
      }
    } catch (...) {
      // An application's exception must not end event delivery.
    }
  }

  std::unique_ptr<RemoteConnection> connection_;
  std::mutex mutex_;
  std::map<std::string, std::shared_ptr<JobCallback>> callbacks_;
};

Result<json> RemoteJob::Call(const std::string& method, json params) const {
  return manager_->Call(method, std::move(params));
}

std::vector<std::shared_ptr<File>> RemoteJob::EnumFiles() const {
  std::vector<std::shared_ptr<File>> out;
  auto info = Info();
  if (!info.ok()) return out;
  auto self = std::make_shared<const RemoteJob>(manager_, id_);
  for (std::uint32_t i = 0; i < (*info)["files"].size(); ++i) {
    out.push_back(std::make_shared<RemoteFile>(self, i));
  }
  return out;
}

Result<PropertyValue> RemoteJob::GetProperty(JobProperty property) const {
  auto info = Info();
  if (!info.ok()) return info.status();
  switch (property) {
    case JobProperty::kDynamicContent:
      return PropertyValue(GetDynamicContent());
    case JobProperty::kMinimumNotificationInterval:
      return PropertyValue((*info)["job"].value("minNotificationInterval", std::uint32_t{0}));
    case JobProperty::kDisplayName:
      return PropertyValue(GetDisplayName());
    case JobProperty::kDescription:
      return PropertyValue(GetDescription());
    case JobProperty::kPriority:
      return PropertyValue(static_cast<std::uint32_t>(GetPriority()));
    case JobProperty::kMinimumRetryDelay:
      return PropertyValue(GetMinimumRetryDelay());
    case JobProperty::kNoProgressTimeout:
      return PropertyValue(GetNoProgressTimeout());
    case JobProperty::kMaximumDownloadTime:
      return PropertyValue(GetMaximumDownloadTime());
    case JobProperty::kNotifyFlags:
      return PropertyValue(GetNotifyFlags());
    case JobProperty::kNotifyCommandLine:
      return PropertyValue(GetNotifyCmdLine());
    case JobProperty::kHttpMethod:
      return PropertyValue(GetHttpMethod());
    case JobProperty::kProxySettings:
      return PropertyValue(GetProxySettings());
    case JobProperty::kMaximumConcurrentFiles:
      return PropertyValue(GetMaximumConcurrentFiles());
    case JobProperty::kSecurityFlags:
      return PropertyValue(GetSecurityFlags());
    case JobProperty::kCustomHeaders:
      return PropertyValue(GetCustomHeaders());
  }
  return Status(kEInvalidArg, "unknown property");
}

Status RemoteJob::SetNotifyInterface(std::shared_ptr<JobCallback> callback) {
  const bool subscribe = callback != nullptr;
  manager_->Subscribe(id_, std::move(callback));
  return StatusOf(Call(subscribe ? "job.subscribe" : "job.unsubscribe", {{"id", id_text_}}));
}

// A Manager handle the application owns; the shared RemoteManager lives as
// long as any Job handle needs it.
class ManagerHandle final : public Manager {
 public:
  explicit ManagerHandle(std::shared_ptr<RemoteManager> m) : m_(std::move(m)) {}
  Result<std::shared_ptr<Job>> CreateJob(std::string_view name, JobType type) override {
    return m_->CreateJob(name, type);
  }
  Result<std::vector<std::shared_ptr<Job>>> CreateJobs(const std::vector<JobSpec>& specs) override {
    return m_->CreateJobs(specs);
  }
  Result<std::shared_ptr<Job>> GetJob(const Guid& id) override { return m_->GetJob(id); }
  Result<std::vector<std::shared_ptr<Job>>> EnumJobs(EnumScope scope) override {
    return m_->EnumJobs(scope);
  }
  Result<std::vector<JobInfo>> EnumJobInfo(EnumScope scope) override {
    return m_->EnumJobInfo(scope);
  }
  Status RotateCredentialKey() override { return m_->RotateCredentialKey(); }

 private:
  std::shared_ptr<RemoteManager> m_;
};

}  // namespace

Result<std::unique_ptr<Manager>> Connect(const ConnectOptions& options) {
  std::string socket = options.socket_path;
  std::string state = options.state_directory;
  bool autostart = options.start_daemon;
  if (socket.empty()) {
    if (const char* env = std::getenv("OPENBITS_SOCKET"); env != nullptr && *env != '\0') {
      socket = env;
    } else if (state.empty() && std::getenv("OPENBITS_STATE_DIR") == nullptr &&
               ::access(remote::kSystemSocket, F_OK) == 0) {
      socket = remote::kSystemSocket;
      autostart = false;
    }
  }
  if (state.empty()) state = platform::DefaultStateDirectory();
  if (socket.empty()) socket = platform::DefaultSocketPath(state);
  if (socket.empty()) return Status(kEInvalidArg, "no daemon socket: set HOME or OPENBITS_SOCKET");
  auto fd =
      remote::ConnectToDaemon(state, socket, autostart && !state.empty(), options.daemon_program);
  if (!fd.ok()) return fd.status();
  auto manager = std::make_shared<RemoteManager>(*fd);
  manager->Start();
  // Our Kerberos tickets are our implicit credentials (docs/auth.md).
  if (const char* cache = std::getenv("KRB5CCNAME"); cache != nullptr && *cache != '\0') {
    (void)manager->Call("openbits.hello", {{"credentialCache", cache}});
  }
  auto hello = manager->Call("openbits.hello", json::object());
  if (!hello.ok()) return hello.status();
  return std::unique_ptr<Manager>(std::make_unique<ManagerHandle>(std::move(manager)));
}

}  // namespace openbits
