// Copyright (c) openbits authors. Licensed under the Apache License 2.0.
//
// The public Job and File handles: each call is marshalled onto the engine
// thread with Engine::Call.

#ifndef OPENBITS_ENGINE_JOB_IMPL_H_
#define OPENBITS_ENGINE_JOB_IMPL_H_

#include <memory>

#include "openbits/job.h"

#include "engine/engine.h"

namespace openbits::engine {

class JobImpl final : public Job {
 public:
  // REQUIRES: on the engine thread (the id and type are copied from `data`).
  JobImpl(std::shared_ptr<Engine> engine, std::shared_ptr<JobData> data, Caller caller)
      : engine_(std::move(engine)),
        data_(std::move(data)),
        caller_(std::move(caller)),
        id_(data_->rec.id),
        type_(data_->rec.type) {}

  // Copies taken at construction: no call reads the record off the engine
  // thread, where it changes.
  Guid GetId() const override { return id_; }
  JobType GetType() const override { return type_; }
  std::string GetOwner() const override;

  Status SetProperty(JobProperty property, const PropertyValue& value) override;
  Result<PropertyValue> GetProperty(JobProperty property) const override;

  Status AddFile(std::string_view remote_url, std::string_view local_path) override;
  Status AddFileSet(const std::vector<FileInfo>& files) override;
  Status AddFileWithRanges(std::string_view remote_url, std::string_view local_path,
                           const std::vector<FileRange>& ranges) override;
  std::vector<std::shared_ptr<File>> EnumFiles() const override;

  Status Resume() override;
  Status Suspend() override;
  Status Cancel() override;
  Status Complete() override;

  JobState GetState() const override;
  JobProgress GetProgress() const override;
  JobTimes GetTimes() const override;
  Result<JobErrorInfo> GetError() const override;
  std::uint32_t GetErrorCount() const override;
  JobInfo GetInfo() const override;

  Status SetDisplayName(std::string_view name) override;
  std::string GetDisplayName() const override;
  Status SetDescription(std::string_view description) override;
  std::string GetDescription() const override;
  Status SetPriority(JobPriority priority) override;
  JobPriority GetPriority() const override;
  Status SetMinimumRetryDelay(std::uint32_t seconds) override;
  std::uint32_t GetMinimumRetryDelay() const override;
  Status SetNoProgressTimeout(std::uint32_t seconds) override;
  std::uint32_t GetNoProgressTimeout() const override;
  Status SetMaximumDownloadTime(std::uint32_t seconds) override;
  std::uint32_t GetMaximumDownloadTime() const override;
  Status SetCustomHeaders(std::string_view headers) override;
  std::string GetCustomHeaders() const override;
  Status SetNotifyFlags(std::uint32_t flags) override;
  std::uint32_t GetNotifyFlags() const override;
  Status SetNotifyInterface(std::shared_ptr<JobCallback> callback) override;
  Status SetMinimumNotificationInterval(std::chrono::milliseconds ms) override;
  Status SetNotifyCmdLine(std::string_view program, std::string_view parameters) override;
  NotifyCommandLine GetNotifyCmdLine() const override;
  Status SetDynamicContent(bool enable) override;
  bool GetDynamicContent() const override;
  Status SetMaximumConcurrentFiles(std::uint32_t count) override;
  std::uint32_t GetMaximumConcurrentFiles() const override;
  Status SetClientCertificateByID(CertStoreLocation location, std::string_view store_name,
                                  const std::array<std::uint8_t, 20>& hash) override;
  Status SetClientCertificateByName(CertStoreLocation location, std::string_view store_name,
                                    std::string_view subject) override;
  Status RemoveClientCertificate() override;
  Result<ClientCertificate> GetClientCertificate() const override;
  Status SetClientCertificatePassword(std::string_view password) override;
  Status SetSecurityFlags(std::uint32_t flags) override;
  std::uint32_t GetSecurityFlags() const override;
  Status SetHttpMethod(std::string_view method) override;
  std::string GetHttpMethod() const override;
  Status SetProxySettings(ProxyUsage usage, std::string_view proxy_list,
                          std::string_view bypass_list) override;
  ProxySettings GetProxySettings() const override;
  Status SetCredentials(AuthTarget target, AuthScheme scheme, std::string_view user_name,
                        std::string_view password) override;
  Status SetImplicitCredentials(AuthTarget target, AuthScheme scheme) override;
  Status RemoveCredentials(AuthTarget target, AuthScheme scheme) override;
  Status TakeOwnership() override;
  Status MakeCustomHeadersWriteOnly() override;

 private:
  template <typename T>
  T Read(T store::JobRecord::*field) const {
    return engine_->Call([&] { return data_->rec.*field; });
  }
  std::shared_ptr<Engine> engine_;
  std::shared_ptr<JobData> data_;
  Caller caller_;
  const Guid id_;
  const JobType type_;
};

class FileImpl final : public File {
 public:
  FileImpl(std::shared_ptr<Engine> engine, std::shared_ptr<JobData> data, std::uint32_t index)
      : engine_(std::move(engine)), data_(std::move(data)), index_(index) {}

  std::uint32_t index() const override { return index_; }
  std::string GetRemoteName() const override;
  std::string GetLocalName() const override;
  FileProgress GetProgress() const override;
  std::string GetTemporaryName() const override;
  std::vector<FileRange> GetFileRanges() const override;

 private:
  std::shared_ptr<Engine> engine_;
  std::shared_ptr<JobData> data_;
  std::uint32_t index_;
};

}  // namespace openbits::engine

#endif  // OPENBITS_ENGINE_JOB_IMPL_H_
