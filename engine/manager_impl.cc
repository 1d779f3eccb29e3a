// Copyright (c) openbits authors. Licensed under the Apache License 2.0.

#include <algorithm>

#include "openbits/manager.h"

#include "auth/proxy_settings.h"
#include "auth/request_policy.h"
#include "engine/engine.h"
#include "engine/http_method.h"
#include "engine/job_impl.h"
#include "engine/job_view.h"
#include "engine/notify_command.h"
#include "platform/secret_buffer.h"
#include "platform/system.h"

namespace openbits {
namespace engine {
namespace {

std::chrono::system_clock::time_point FromMs(std::int64_t ms) {
  if (ms == 0) return {};
  return std::chrono::system_clock::time_point(std::chrono::milliseconds(ms));
}

class ManagerImpl final : public Manager {
 public:
  ManagerImpl(std::shared_ptr<Engine> engine, Caller caller)
      : engine_(std::move(engine)), caller_(std::move(caller)) {}
  ~ManagerImpl() override { engine_->Shutdown(); }

  Result<std::shared_ptr<Job>> CreateJob(std::string_view display_name, JobType type) override {
    return engine_->Call([&]() -> Result<std::shared_ptr<Job>> {
      auto data = engine_->CreateJob(caller_, display_name, type);
      if (!data.ok()) return data.status();
      return std::shared_ptr<Job>(std::make_shared<JobImpl>(engine_, *data, caller_));
    });
  }

  Result<std::vector<std::shared_ptr<Job>>> CreateJobs(const std::vector<JobSpec>& specs) override {
    return engine_->Call([&]() -> Result<std::vector<std::shared_ptr<Job>>> {
      auto created = engine_->CreateJobs(caller_, specs);
      if (!created.ok()) return created.status();
      std::vector<std::shared_ptr<Job>> out;
      out.reserve(created->size());
      for (auto& data : *created) out.push_back(std::make_shared<JobImpl>(engine_, data, caller_));
      return out;
    });
  }

  Result<std::shared_ptr<Job>> GetJob(const Guid& id) override {
    return engine_->Call([&]() -> Result<std::shared_ptr<Job>> {
      auto data = engine_->FindJob(caller_, id);
      if (!data.ok()) return data.status();
      return std::shared_ptr<Job>(std::make_shared<JobImpl>(engine_, *data, caller_));
    });
  }

  Status RotateCredentialKey() override {
    return engine_->Call([&] { return engine_->RotateCredentialKey(caller_); });
  }

  Result<std::vector<std::shared_ptr<Job>>> EnumJobs(EnumScope scope) override {
    return engine_->Call([&]() -> Result<std::vector<std::shared_ptr<Job>>> {
      auto list = engine_->ListJobs(caller_, scope);
      if (!list.ok()) return list.status();
      std::vector<std::shared_ptr<Job>> out;
      out.reserve(list->size());
      for (auto& data : *list) out.push_back(std::make_shared<JobImpl>(engine_, data, caller_));
      return out;
    });
  }

  Result<std::vector<JobInfo>> EnumJobInfo(EnumScope scope) override {
    return engine_->Call([&]() -> Result<std::vector<JobInfo>> {
      auto list = engine_->ListJobs(caller_, scope);
      if (!list.ok()) return list.status();
      std::vector<JobInfo> out;
      out.reserve(list->size());
      for (auto& data : *list) out.push_back(engine::InfoOf(*data));
      return out;
    });
  }

 private:
  std::shared_ptr<Engine> engine_;
  Caller caller_;
};

}  // namespace

// --- JobImpl ---------------------------------------------------------------------

Status JobImpl::AddFile(std::string_view remote_url, std::string_view local_path) {
  std::vector<FileInfo> files{FileInfo{std::string(remote_url), std::string(local_path)}};
  Status st = AddFileSet(files);
  platform::Cleanse(files[0].remote_name);  // it may hold a URL password
  return st;
}

Status JobImpl::AddFileSet(const std::vector<FileInfo>& files) {
  return engine_->Call([&] { return engine_->AddFiles(caller_, *data_, files, nullptr); });
}

Status JobImpl::AddFileWithRanges(std::string_view remote_url, std::string_view local_path,
                                  const std::vector<FileRange>& ranges) {
  std::vector<FileInfo> files{FileInfo{std::string(remote_url), std::string(local_path)}};
  Status st = engine_->Call([&] { return engine_->AddFiles(caller_, *data_, files, &ranges); });
  platform::Cleanse(files[0].remote_name);  // it may hold a URL password
  return st;
}

std::vector<std::shared_ptr<File>> JobImpl::EnumFiles() const {
  const std::size_t count = engine_->Call([&] { return data_->rec.files.size(); });
  std::vector<std::shared_ptr<File>> out;
  for (std::uint32_t i = 0; i < count; ++i) {
    out.push_back(std::make_shared<FileImpl>(engine_, data_, i));
  }
  return out;
}

std::string JobImpl::GetOwner() const { return Read(&store::JobRecord::owner); }

Status JobImpl::SetProperty(JobProperty property, const PropertyValue& value) {
  return engine_->Call([&] { return engine_->SetProperty(*data_, property, value); });
}

Result<PropertyValue> JobImpl::GetProperty(JobProperty property) const {
  return engine_->Call([&] { return engine_->GetProperty(*data_, property); });
}

Status JobImpl::Resume() {
  return engine_->Call([&] { return engine_->Resume(*data_); });
}
Status JobImpl::Suspend() {
  return engine_->Call([&] { return engine_->Suspend(*data_); });
}
Status JobImpl::Cancel() {
  return engine_->Call([&] { return engine_->Cancel(*data_); });
}
Status JobImpl::Complete() {
  return engine_->Call([&] { return engine_->Complete(*data_); });
}

JobState JobImpl::GetState() const { return Read(&store::JobRecord::state); }

JobProgress JobImpl::GetProgress() const {
  return engine_->Call([&] { return ProgressOf(*data_); });
}

JobTimes JobImpl::GetTimes() const {
  return engine_->Call([&] {
    JobTimes t;
    t.creation = FromMs(data_->rec.creation_time_ms);
    t.modification = FromMs(data_->rec.modification_time_ms);
    t.transfer_completion = FromMs(data_->rec.completion_time_ms);
    return t;
  });
}

Result<JobErrorInfo> JobImpl::GetError() const {
  return engine_->Call([&] { return ErrorOf(*data_); });
}

JobInfo JobImpl::GetInfo() const {
  return engine_->Call([&] { return engine::InfoOf(*data_); });
}

std::uint32_t JobImpl::GetErrorCount() const { return Read(&store::JobRecord::error_count); }

Status JobImpl::SetDisplayName(std::string_view name) {
  return SetProperty(JobProperty::kDisplayName, std::string(name));
}
std::string JobImpl::GetDisplayName() const { return Read(&store::JobRecord::display_name); }

Status JobImpl::SetDescription(std::string_view description) {
  return SetProperty(JobProperty::kDescription, std::string(description));
}
std::string JobImpl::GetDescription() const { return Read(&store::JobRecord::description); }

Status JobImpl::SetPriority(JobPriority priority) {
  return SetProperty(JobProperty::kPriority, static_cast<std::uint32_t>(priority));
}
JobPriority JobImpl::GetPriority() const { return Read(&store::JobRecord::priority); }

Status JobImpl::SetMinimumRetryDelay(std::uint32_t seconds) {
  return SetProperty(JobProperty::kMinimumRetryDelay, seconds);
}
std::uint32_t JobImpl::GetMinimumRetryDelay() const {
  return Read(&store::JobRecord::minimum_retry_delay_s);
}

Status JobImpl::SetNoProgressTimeout(std::uint32_t seconds) {
  return SetProperty(JobProperty::kNoProgressTimeout, seconds);
}
std::uint32_t JobImpl::GetNoProgressTimeout() const {
  return Read(&store::JobRecord::no_progress_timeout_s);
}

Status JobImpl::SetMaximumDownloadTime(std::uint32_t seconds) {
  return SetProperty(JobProperty::kMaximumDownloadTime, seconds);
}
std::uint32_t JobImpl::GetMaximumDownloadTime() const {
  return Read(&store::JobRecord::maximum_download_time_s);
}

Status JobImpl::SetCustomHeaders(std::string_view headers) {
  return SetProperty(JobProperty::kCustomHeaders, std::string(headers));
}
std::string JobImpl::GetCustomHeaders() const {
  return engine_->Call([&] { return engine_->VisibleCustomHeadersOf(*data_); });
}
Status JobImpl::MakeCustomHeadersWriteOnly() {
  return engine_->Call([&] { return engine_->MakeCustomHeadersWriteOnly(*data_); });
}

Status JobImpl::SetNotifyFlags(std::uint32_t flags) {
  return SetProperty(JobProperty::kNotifyFlags, flags);
}
std::uint32_t JobImpl::GetNotifyFlags() const { return Read(&store::JobRecord::notify_flags); }

Status JobImpl::SetNotifyInterface(std::shared_ptr<JobCallback> callback) {
  return engine_->Call([&] { return engine_->SetCallback(*data_, std::move(callback)); });
}

Status JobImpl::SetMinimumNotificationInterval(std::chrono::milliseconds ms) {
  if (ms.count() < 0 || ms.count() > 0xFFFFFFFFLL) return Status(kEInvalidArg, "out of range");
  return SetProperty(JobProperty::kMinimumNotificationInterval,
                     static_cast<std::uint32_t>(ms.count()));
}

Status JobImpl::SetNotifyCmdLine(std::string_view program, std::string_view parameters) {
  return SetProperty(JobProperty::kNotifyCommandLine,
                     NotifyCommandLine{std::string(program), std::string(parameters)});
}

NotifyCommandLine JobImpl::GetNotifyCmdLine() const {
  return engine_->Call([&] {
    return NotifyCommandLine{data_->rec.notify_program, data_->rec.notify_parameters};
  });
}

Status JobImpl::SetHttpMethod(std::string_view method) {
  return SetProperty(JobProperty::kHttpMethod, std::string(method));
}

std::string JobImpl::GetHttpMethod() const { return Read(&store::JobRecord::http_method); }

Status JobImpl::SetProxySettings(ProxyUsage usage, std::string_view proxy_list,
                                 std::string_view bypass_list) {
  return SetProperty(JobProperty::kProxySettings,
                     ProxySettings{usage, std::string(proxy_list), std::string(bypass_list)});
}

ProxySettings JobImpl::GetProxySettings() const {
  return engine_->Call([&] {
    const store::JobRecord& r = data_->rec;
    return ProxySettings{r.proxy_usage, r.proxy_list, r.proxy_bypass};
  });
}

Status JobImpl::SetClientCertificateByID(CertStoreLocation location, std::string_view store_name,
                                         const std::array<std::uint8_t, 20>& hash) {
  return engine_->Call(
      [&] { return engine_->SetClientCertificate(*data_, location, store_name, &hash, {}); });
}

Status JobImpl::SetClientCertificateByName(CertStoreLocation location, std::string_view store_name,
                                           std::string_view subject) {
  return engine_->Call([&] {
    return engine_->SetClientCertificate(*data_, location, store_name, nullptr, subject);
  });
}

Status JobImpl::RemoveClientCertificate() {
  return engine_->Call([&] { return engine_->RemoveClientCertificate(*data_); });
}

Result<ClientCertificate> JobImpl::GetClientCertificate() const {
  return engine_->Call([&]() -> Result<ClientCertificate> {
    JobInfo info = engine::InfoOf(*data_);
    if (!info.client_certificate) {
      return Status(kENotFound, "the job has no client certificate");
    }
    return *info.client_certificate;
  });
}

Status JobImpl::SetClientCertificatePassword(std::string_view password) {
  return engine_->Call([&] { return engine_->SetClientCertificatePassword(*data_, password); });
}

Status JobImpl::SetSecurityFlags(std::uint32_t flags) {
  return SetProperty(JobProperty::kSecurityFlags, flags);
}

std::uint32_t JobImpl::GetSecurityFlags() const { return Read(&store::JobRecord::security_flags); }

Status JobImpl::SetCredentials(AuthTarget target, AuthScheme scheme, std::string_view user_name,
                               std::string_view password) {
  return engine_->Call(
      [&] { return engine_->SetCredential(*data_, target, scheme, false, user_name, password); });
}

Status JobImpl::SetImplicitCredentials(AuthTarget target, AuthScheme scheme) {
  return engine_->Call(
      [&] { return engine_->SetCredential(*data_, target, scheme, true, {}, {}); });
}

Status JobImpl::RemoveCredentials(AuthTarget target, AuthScheme scheme) {
  return engine_->Call([&] { return engine_->RemoveCredential(*data_, target, scheme); });
}

Status JobImpl::TakeOwnership() {
  return engine_->Call([&] { return engine_->TakeOwnership(*data_, caller_); });
}

Status JobImpl::SetDynamicContent(bool enable) {
  return SetProperty(JobProperty::kDynamicContent, enable);
}
bool JobImpl::GetDynamicContent() const { return Read(&store::JobRecord::dynamic_content); }

Status JobImpl::SetMaximumConcurrentFiles(std::uint32_t count) {
  return SetProperty(JobProperty::kMaximumConcurrentFiles, count);
}
std::uint32_t JobImpl::GetMaximumConcurrentFiles() const {
  return Read(&store::JobRecord::max_concurrent_files);
}

// --- FileImpl ---------------------------------------------------------------------

std::string FileImpl::GetRemoteName() const {
  return engine_->Call([&] { return auth::RedactUrl(data_->rec.files.at(index_).remote_name); });
}
std::string FileImpl::GetLocalName() const {
  return engine_->Call([&] { return data_->rec.files.at(index_).local_name; });
}
FileProgress FileImpl::GetProgress() const {
  return engine_->Call([&] { return FileProgressOf(*data_, index_); });
}
std::string FileImpl::GetTemporaryName() const {
  return engine_->Call([&]() -> std::string {
    const store::FileRecord& f = data_->rec.files.at(index_);
    if (f.temp_name.empty()) return {};
    const auto slash = f.local_name.find_last_of('/');
    return f.local_name.substr(0, slash + 1) + f.temp_name;
  });
}
std::vector<FileRange> FileImpl::GetFileRanges() const {
  return engine_->Call([&] { return data_->rec.files.at(index_).ranges; });
}

}  // namespace engine

Result<std::unique_ptr<Manager>> Manager::Open(const ManagerOptions& options) {
  auto engine = engine::Engine::Open(options);
  if (!engine.ok()) return engine.status();
  engine::Caller caller{platform::CurrentUserId(), platform::IsAdministrator()};
  return std::unique_ptr<Manager>(
      std::make_unique<engine::ManagerImpl>(std::move(*engine), std::move(caller)));
}

}  // namespace openbits
