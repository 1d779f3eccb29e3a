// Copyright (c) openbits authors. Licensed under the Apache License 2.0.

#include "daemon/rpc.h"

#include <unistd.h>

#include <cstdio>
#include <nlohmann/json.hpp>
#include <optional>
#include <unordered_map>
#include <variant>

#include "openbits/hresult.h"

#include "auth/client_certificate.h"
#include "auth/proxy_settings.h"
#include "auth/request_policy.h"
#include "daemon/job_json.h"
#include "engine/http_method.h"
#include "engine/job_view.h"
#include "engine/notify_command.h"
#include "platform/secret_buffer.h"
#include "remote/json_rpc.h"

namespace openbits::daemon {
namespace {

using json = nlohmann::json;

// JSON-RPC 2.0 error codes.
constexpr int kParseError = -32700;
constexpr int kInvalidRequest = -32600;
constexpr int kMethodNotFound = -32601;
constexpr int kInvalidParams = -32602;
// A BITS error; data.hresult carries the code.
constexpr int kBitsError = -32000;

struct RpcError {
  int code;
  std::string message;
  json data;
};

// Invalid UTF-8 (a file name in another encoding) is replaced, not thrown.
std::string Dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

json ErrorResponse(const json& id, const RpcError& e) {
  json error = {{"code", e.code}, {"message", e.message}};
  if (!e.data.is_null()) error["data"] = e.data;
  return {{"jsonrpc", "2.0"}, {"id", id}, {"error", error}};
}

RpcError FromStatus(const Status& st) {
  json data = {{"hresult", static_cast<std::uint32_t>(st.code())}, {"name", ErrorName(st.code())}};
  return RpcError{kBitsError, st.message().empty() ? ErrorDescription(st.code()) : st.message(),
                  data};
}

// Parameters with typed accessors that report what is wrong.
class Params {
 public:
  explicit Params(const json& p) : p_(p) {}
  bool has(const char* key) const { return p_.is_object() && p_.contains(key); }
  std::optional<std::string> String(const char* key) const {
    if (!has(key) || !p_[key].is_string()) return std::nullopt;
    return p_[key].get<std::string>();
  }
  std::optional<std::uint64_t> Unsigned(const char* key) const {
    if (!has(key) || !p_[key].is_number_unsigned()) return std::nullopt;
    return p_[key].get<std::uint64_t>();
  }
  std::optional<bool> Bool(const char* key) const {
    if (!has(key) || !p_[key].is_boolean()) return std::nullopt;
    return p_[key].get<bool>();
  }
  const json& operator[](const char* key) const { return p_[key]; }

 private:
  const json& p_;
};

class Call {
 public:
  Call(engine::Engine& engine, const engine::Caller& caller, const Params& params)
      : engine_(engine), caller_(caller), params_(params) {}

  // Runs `op` on the job named by params.id, on the engine thread.
  template <typename Op>
  std::variant<json, RpcError> OnJob(Op op) {
    auto id_text = params_.String("id");
    if (!id_text) return RpcError{kInvalidParams, "params.id (a job GUID) is required", nullptr};
    auto id = Guid::Parse(*id_text);
    if (!id.ok()) return RpcError{kInvalidParams, "params.id is not a GUID", nullptr};
    return engine_.Call([&]() -> std::variant<json, RpcError> {
      auto job = engine_.FindJob(caller_, *id);
      if (!job.ok()) return FromStatus(job.status());
      return op(**job);
    });
  }

  engine::Engine& engine_;
  const engine::Caller& caller_;
  const Params& params_;
};

std::variant<json, RpcError> StatusResult(const Status& st) {
  if (!st.ok()) return FromStatus(st);
  return json{{"hresult", static_cast<std::uint32_t>(st.code())}, {"message", st.message()}};
}

// job.set: the property by its wire name, its value by the property's type,
// then the one setter every caller shares (engine/job_properties.h).
std::variant<json, RpcError> SetProperty(engine::Engine& engine, engine::JobData& job,
                                         const std::string& name, const json& value) {
  auto property = ParseJobPropertyName(name);
  if (!property.ok()) return RpcError{kInvalidParams, "unknown property " + name, nullptr};
  auto typed = remote::PropertyValueFromJson(*property, value);
  if (!typed.ok()) {
    // A value of the wrong JSON type is a malformed request; a well-formed
    // one BITS does not know (an unknown proxy usage) is BITS's error.
    if (typed.status().code() == kEInvalidArg) {
      return RpcError{kInvalidParams, typed.status().message(), nullptr};
    }
    return FromStatus(typed.status());
  }
  return StatusResult(engine.SetProperty(job, *property, *typed));
}

// BITS names, any case; 0 when unknown (the engine then reports
// BG_E_INVALID_AUTH_TARGET / _SCHEME).
int ParseAuthWord(const std::optional<std::string>& word, bool target) {
  if (!word) return 0;
  std::string w = *word;
  for (char& c : w) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  if (target) {
    for (AuthTarget t : {AuthTarget::kServer, AuthTarget::kProxy}) {
      if (w == AuthTargetName(t)) return static_cast<int>(t);
    }
    return 0;
  }
  for (AuthScheme sc : {AuthScheme::kBasic, AuthScheme::kDigest, AuthScheme::kNtlm,
                        AuthScheme::kNegotiate, AuthScheme::kPassport}) {
    if (w == AuthSchemeName(sc)) return static_cast<int>(sc);
  }
  return 0;
}

// Turns a job's events into "job.event" notifications on a session.
class PushCallback final : public JobCallback {
 public:
  PushCallback(const std::shared_ptr<Pusher>& pusher, std::string id)
      : pusher_(pusher), owner_(pusher.get()), id_(std::move(id)) {}
  const Pusher* owner() const { return owner_; }

  void JobTransferred(Job&) override { Send({{"event", "transferred"}}); }
  void JobError(Job&, const JobErrorInfo& error) override {
    Send({{"event", "error"},
          {"error",
           {{"hresult", static_cast<std::uint32_t>(error.code)},
            {"context", static_cast<int>(error.context)},
            {"description", error.description}}}});
  }
  void JobModification(Job&) override { Send({{"event", "modification"}}); }
  void FileTransferred(Job&, File& file) override {
    Send({{"event", "fileTransferred"}, {"file", file.index()}});
  }

 private:
  void Send(json params) {
    auto pusher = pusher_.lock();
    if (!pusher) return;
    params["id"] = id_;
    pusher->Push(Dump(json{{"jsonrpc", "2.0"}, {"method", "job.event"}, {"params", params}}));
  }

  std::weak_ptr<Pusher> pusher_;
  const Pusher* owner_;
  std::string id_;
};

// One request as the method handlers see it.
struct RpcRequest {
  const std::shared_ptr<engine::Engine>& engine;
  const engine::Caller& caller;
  const Params& params;
  Call& call;
  const std::shared_ptr<Pusher>& pusher;
  bool* shutdown;
  const std::string& method;
  // A result already written as JSON text (job.list's summary).
  std::optional<std::string> serialized_result;
};

using RpcResult = std::variant<json, RpcError>;

RpcResult HandleHello(RpcRequest& req) {
  const std::shared_ptr<engine::Engine>& engine_ = req.engine;
  const engine::Caller& caller = req.caller;
  const Params& params = req.params;
  RpcResult result;
  // A client may tell its Kerberos credential cache: its implicit
  // credentials (docs/auth.md).
  if (auto cache = params.String("credentialCache")) {
    const Status st = engine_->Call([&] { return engine_->SetCredentialCache(caller, *cache); });
    if (!st.ok()) std::fprintf(stderr, "openbitsd: %s\n", st.message().c_str());
  }
  result = json{{"protocol", kProtocolVersion},
                {"server", "openbitsd 0.1.0"},
                {"user", caller.user},
                {"admin", caller.is_admin}};
  return result;
}

RpcResult HandleDaemonShutdown(RpcRequest& req) {
  const engine::Caller& caller = req.caller;
  bool* shutdown = req.shutdown;
  RpcResult result;
  const bool allowed = caller.is_admin || caller.user == std::to_string(::geteuid());
  if (!allowed) {
    result = FromStatus(Status(kEAccessDenied, "only the daemon's user may stop it"));
  } else {
    *shutdown = true;
    result = json::object();
  }
  return result;
}

RpcResult HandleJobCreate(RpcRequest& req) {
  const std::shared_ptr<engine::Engine>& engine_ = req.engine;
  const engine::Caller& caller = req.caller;
  const Params& params = req.params;
  RpcResult result;
  auto name = params.String("name");
  if (!name) {
    result = RpcError{kInvalidParams, "params.name (a string) is required", nullptr};
  } else {
    const std::string type = params.String("type").value_or("download");
    JobType t = type == "download" ? JobType::kDownload
                : type == "upload" ? JobType::kUpload
                                   : JobType::kUploadReply;
    result = engine_->Call([&]() -> std::variant<json, RpcError> {
      auto job = engine_->CreateJob(caller, *name, t);
      if (!job.ok()) return FromStatus(job.status());
      return json{{"id", (*job)->rec.id.ToString()}};
    });
  }
  return result;
}

RpcResult HandleJobList(RpcRequest& req) {
  const std::shared_ptr<engine::Engine>& engine_ = req.engine;
  const engine::Caller& caller = req.caller;
  const Params& params = req.params;
  std::optional<std::string>& serialized_result = req.serialized_result;
  RpcResult result;
  const bool all = params.Bool("allUsers").value_or(false);
  // bitsadmin names jobs by display name: filtering here keeps that one
  // reply small however many jobs the queue holds.
  const std::optional<std::string> name = params.String("name");
  // What `bitsadmin /list` prints, for queues of 100,000 jobs.
  const bool summary = params.Bool("summary").value_or(false);
  std::optional<std::string> bad;
  for (const char* flag : {"allUsers", "summary"}) {
    if (params.has(flag) && !params.Bool(flag)) {
      bad = std::string(flag) + " takes true or false";
    }
  }
  if (params.has("name") && !name) bad = "name takes a string";
  if (bad) {
    result = RpcError{kInvalidParams, *bad, nullptr};
  } else {
    result = engine_->Call([&]() -> std::variant<json, RpcError> {
      auto jobs = engine_->ListJobs(caller, all ? EnumScope::kAllUsers : EnumScope::kCurrentUser);
      if (!jobs.ok()) return FromStatus(jobs.status());
      if (summary) {
        // Written as text: a document tree of 100,000 jobs costs more
        // than the queue itself.
        serialized_result = SummaryListText(*jobs, name);
        return json();
      }
      json list = json::array();
      for (auto& job : *jobs) {
        if (name && job->rec.display_name != *name) continue;
        list.push_back(InfoJson(engine::InfoOf(*job)));
      }
      json reply = json::object();
      reply["jobs"] = std::move(list);  // an initializer list would copy every job
      return reply;
    });
  }
  return result;
}

RpcResult HandleJobInfo(RpcRequest& req) {
  const std::shared_ptr<engine::Engine>& engine_ = req.engine;
  Call& call = req.call;
  RpcResult result;
  result = call.OnJob([&](engine::JobData& job) -> std::variant<json, RpcError> {
    json files = json::array();
    for (std::uint32_t i = 0; i < job.rec.files.size(); ++i) {
      const store::FileRecord& f = job.rec.files[i];
      const FileProgress p = engine::FileProgressOf(job, i);
      std::string temp;
      if (!f.temp_name.empty()) {
        temp = f.local_name.substr(0, f.local_name.find_last_of('/') + 1) + f.temp_name;
      }
      files.push_back({{"index", i},
                       {"remote", auth::RedactUrl(f.remote_name)},
                       {"local", f.local_name},
                       {"bytesTotal", Size(p.bytes_total)},
                       {"bytesTransferred", p.bytes_transferred},
                       {"completed", p.completed},
                       {"temporaryName", temp},
                       {"ranges", RangesJson(f.ranges)}});
    }
    json info = InfoJson(engine::InfoOf(job));
    info["customHeaders"] = engine_->VisibleCustomHeadersOf(job);
    info["httpMethod"] = job.rec.http_method;
    info["notifyProgram"] = job.rec.notify_program;
    info["notifyParameters"] = job.rec.notify_parameters;
    info["minNotificationInterval"] = job.rec.min_notification_interval_ms;
    return json{{"job", info}, {"files", files}};
  });
  return result;
}

RpcResult HandleJobAddFiles(RpcRequest& req) {
  const std::shared_ptr<engine::Engine>& engine_ = req.engine;
  const engine::Caller& caller = req.caller;
  const Params& params = req.params;
  Call& call = req.call;
  RpcResult result;
  std::vector<FileInfo> files;
  std::vector<FileRange> ranges;
  bool ok = params.has("files") && params["files"].is_array() && !params["files"].empty();
  if (ok) {
    for (const json& f : params["files"]) {
      if (!f.is_object() || !f.contains("remote") || !f["remote"].is_string() ||
          !f.contains("local") || !f["local"].is_string()) {
        ok = false;
        break;
      }
      files.push_back({f["remote"].get<std::string>(), f["local"].get<std::string>()});
    }
  }
  const bool with_ranges = params.has("ranges");
  if (ok && with_ranges) {
    ok = params["ranges"].is_array() && files.size() == 1;
    if (ok) {
      for (const json& r : params["ranges"]) {
        if (!r.is_object() || !r.contains("offset") || !r["offset"].is_number_unsigned()) {
          ok = false;
          break;
        }
        FileRange range;
        range.initial_offset = r["offset"].get<std::uint64_t>();
        if (r.contains("length") && r["length"].is_number_unsigned()) {
          range.length = r["length"].get<std::uint64_t>();
        } else if (!r.contains("length") || !r["length"].is_null()) {
          ok = false;  // null means "to the end of the file"
          break;
        }
        ranges.push_back(range);
      }
    }
  }
  if (!ok) {
    result = RpcError{kInvalidParams,
                      "params.files must be [{\"remote\": url, \"local\": path}, ...]; "
                      "params.ranges [{\"offset\": n, \"length\": n|null}] with one file",
                      nullptr};
  } else {
    result = call.OnJob([&](engine::JobData& job) {
      return StatusResult(engine_->AddFiles(caller, job, files, with_ranges ? &ranges : nullptr));
    });
    for (FileInfo& f : files) platform::Cleanse(f.remote_name);
  }
  return result;
}

RpcResult HandleJobStateCall(RpcRequest& req) {
  const std::shared_ptr<engine::Engine>& engine_ = req.engine;
  Call& call = req.call;
  const std::string& method = req.method;
  RpcResult result;
  result = call.OnJob([&](engine::JobData& job) {
    if (method == "job.resume") return StatusResult(engine_->Resume(job));
    if (method == "job.suspend") return StatusResult(engine_->Suspend(job));
    if (method == "job.cancel") return StatusResult(engine_->Cancel(job));
    return StatusResult(engine_->Complete(job));
  });
  return result;
}

RpcResult HandleJobSet(RpcRequest& req) {
  const std::shared_ptr<engine::Engine>& engine_ = req.engine;
  const Params& params = req.params;
  Call& call = req.call;
  RpcResult result;
  auto property = params.String("property");
  if (!property || !params.has("value")) {
    result = RpcError{kInvalidParams, "params.property and params.value are required", nullptr};
  } else {
    const json value = params["value"];
    result = call.OnJob(
        [&](engine::JobData& job) { return SetProperty(*engine_, job, *property, value); });
  }
  return result;
}

RpcResult HandleJobCredentials(RpcRequest& req) {
  const std::shared_ptr<engine::Engine>& engine_ = req.engine;
  const Params& params = req.params;
  Call& call = req.call;
  const std::string& method = req.method;
  RpcResult result;
  const int target = ParseAuthWord(params.String("target"), true);
  const int scheme = ParseAuthWord(params.String("scheme"), false);
  const bool set = method == "job.setCredentials";
  const bool implicit = set && params.has("userName") && params["userName"].is_null() &&
                        params.has("password") && params["password"].is_null();
  const bool explicit_ok = params.has("userName") && params["userName"].is_string() &&
                           params.has("password") && params["password"].is_string();
  if (!params.String("target") || !params.String("scheme") || (set && !implicit && !explicit_ok)) {
    result = RpcError{kInvalidParams,
                      "params.target and params.scheme (strings) are required; "
                      "setCredentials also takes userName and password (both strings, or "
                      "both null for implicit credentials)",
                      nullptr};
  } else {
    result = call.OnJob([&](engine::JobData& job) {
      const auto t = static_cast<AuthTarget>(target);
      const auto sc = static_cast<AuthScheme>(scheme);
      if (!set) return StatusResult(engine_->RemoveCredential(job, t, sc));
      if (implicit) return StatusResult(engine_->SetCredential(job, t, sc, true, {}, {}));
      return StatusResult(engine_->SetCredential(job, t, sc, false,
                                                 params["userName"].get_ref<const std::string&>(),
                                                 params["password"].get_ref<const std::string&>()));
    });
  }
  return result;
}

RpcResult HandleJobSubscription(RpcRequest& req) {
  const std::shared_ptr<engine::Engine>& engine_ = req.engine;
  Call& call = req.call;
  const std::shared_ptr<Pusher>& pusher = req.pusher;
  const std::string& method = req.method;
  RpcResult result;
  if (method == "job.subscribe" && !pusher) {
    result = RpcError{kInvalidRequest, "this connection cannot receive events", nullptr};
  } else {
    result = call.OnJob([&](engine::JobData& job) {
      std::shared_ptr<JobCallback> callback;
      if (method == "job.subscribe") {
        callback = std::make_shared<PushCallback>(pusher, job.rec.id.ToString());
      }
      return StatusResult(engine_->SetCallback(job, std::move(callback)));
    });
  }
  return result;
}

RpcResult HandleJobCreateMany(RpcRequest& req) {
  const std::shared_ptr<engine::Engine>& engine_ = req.engine;
  const engine::Caller& caller = req.caller;
  const Params& params = req.params;
  RpcResult result;
  std::vector<JobSpec> specs;
  bool ok = params.has("jobs") && params["jobs"].is_array();
  if (ok) {
    for (const json& j : params["jobs"]) {
      if (!j.is_object() || !j.value("name", json()).is_string()) {
        ok = false;
        break;
      }
      JobSpec spec;
      spec.display_name = j["name"].get<std::string>();
      spec.description = j.value("description", std::string());
      const auto priority = j.value("priority", 2);
      if (priority < 0 || priority > 3) {
        ok = false;
        break;
      }
      spec.priority = static_cast<JobPriority>(priority);
      spec.resume = j.value("resume", false);
      for (const json& f : j.value("files", json::array())) {
        if (!f.is_object() || !f.value("remote", json()).is_string() ||
            !f.value("local", json()).is_string()) {
          ok = false;
          break;
        }
        spec.files.push_back({f["remote"].get<std::string>(), f["local"].get<std::string>()});
      }
      specs.push_back(std::move(spec));
    }
  }
  if (!ok) {
    result = RpcError{kInvalidParams,
                      "params.jobs must be [{name, description?, priority? (0..3), resume?, "
                      "files?: [{remote, local}]}]",
                      nullptr};
  } else {
    result = engine_->Call([&]() -> std::variant<json, RpcError> {
      auto created = engine_->CreateJobs(caller, specs);
      if (!created.ok()) return FromStatus(created.status());
      json ids = json::array();
      for (auto& job : *created) ids.push_back(job->rec.id.ToString());
      json reply = json::object();
      reply["ids"] = std::move(ids);
      return reply;
    });
    for (JobSpec& spec : specs) {
      for (FileInfo& f : spec.files) platform::Cleanse(f.remote_name);
    }
  }
  return result;
}

RpcResult HandleJobSetClientCertificate(RpcRequest& req) {
  const std::shared_ptr<engine::Engine>& engine_ = req.engine;
  const Params& params = req.params;
  Call& call = req.call;
  RpcResult result;
  // {id, location: name or 0-7, store, hash (40 hex digits) | subject}
  int location = -1;
  if (params.has("location") && params["location"].is_number_unsigned()) {
    location = static_cast<int>(std::min<std::uint64_t>(*params.Unsigned("location"), 99));
  } else if (auto name = params.String("location")) {
    for (int i = 0; i <= 7; ++i) {
      if (CertStoreLocationName(static_cast<CertStoreLocation>(i)) == *name) location = i;
    }
  }
  auto store = params.String("store");
  auto hash_text = params.String("hash");
  auto subject = params.String("subject");
  if (location < 0 || location > 7 || !store || (!hash_text == !subject)) {
    result = RpcError{kInvalidParams,
                      "params.location (a BG_CERT_STORE_LOCATION name or 0-7), params.store "
                      "and one of params.hash (40 hex digits) or params.subject are required",
                      nullptr};
  } else {
    result = call.OnJob([&](engine::JobData& job) -> std::variant<json, RpcError> {
      const auto where = static_cast<CertStoreLocation>(location);
      if (hash_text) {
        auto hash = auth::ParseThumbprint(*hash_text);
        if (!hash.ok()) return FromStatus(hash.status());
        return StatusResult(engine_->SetClientCertificate(job, where, *store, &*hash, {}));
      }
      return StatusResult(engine_->SetClientCertificate(job, where, *store, nullptr, *subject));
    });
  }
  return result;
}

RpcResult HandleJobRemoveClientCertificate(RpcRequest& req) {
  const std::shared_ptr<engine::Engine>& engine_ = req.engine;
  Call& call = req.call;
  RpcResult result;
  result = call.OnJob(
      [&](engine::JobData& job) { return StatusResult(engine_->RemoveClientCertificate(job)); });
  return result;
}

RpcResult HandleJobSetClientCertificatePassword(RpcRequest& req) {
  const std::shared_ptr<engine::Engine>& engine_ = req.engine;
  const Params& params = req.params;
  Call& call = req.call;
  RpcResult result;
  if (!params.String("password")) {
    result = RpcError{kInvalidParams, "params.password (a string) is required", nullptr};
  } else {
    result = call.OnJob([&](engine::JobData& job) {
      return StatusResult(engine_->SetClientCertificatePassword(
          job, params["password"].get_ref<const std::string&>()));
    });
  }
  return result;
}

RpcResult HandleJobSetSecurityFlags(RpcRequest& req) {
  const std::shared_ptr<engine::Engine>& engine_ = req.engine;
  const Params& params = req.params;
  Call& call = req.call;
  RpcResult result;
  auto flags = params.Unsigned("flags");
  if (!flags || *flags > 0xFFFFFFFFu) {
    result =
        RpcError{kInvalidParams, "params.flags (a 32-bit unsigned number) is required", nullptr};
  } else {
    result = call.OnJob([&](engine::JobData& job) {
      return StatusResult(engine_->SetProperty(job, JobProperty::kSecurityFlags,
                                               static_cast<std::uint32_t>(*flags)));
    });
  }
  return result;
}

RpcResult HandleJobMakeCustomHeadersWriteOnly(RpcRequest& req) {
  const std::shared_ptr<engine::Engine>& engine_ = req.engine;
  Call& call = req.call;
  RpcResult result;
  result = call.OnJob(
      [&](engine::JobData& job) { return StatusResult(engine_->MakeCustomHeadersWriteOnly(job)); });
  return result;
}

RpcResult HandleJobTakeOwnership(RpcRequest& req) {
  const std::shared_ptr<engine::Engine>& engine_ = req.engine;
  const engine::Caller& caller = req.caller;
  Call& call = req.call;
  RpcResult result;
  result = call.OnJob(
      [&](engine::JobData& job) { return StatusResult(engine_->TakeOwnership(job, caller)); });
  return result;
}

RpcResult HandleVaultRotateKey(RpcRequest& req) {
  const std::shared_ptr<engine::Engine>& engine_ = req.engine;
  const engine::Caller& caller = req.caller;
  RpcResult result;
  result = engine_->Call([&]() { return StatusResult(engine_->RotateCredentialKey(caller)); });
  return result;
}

// Every method of docs/ipc.md and its handler.
RpcResult (*FindMethod(std::string_view name))(RpcRequest&) {
  static const std::unordered_map<std::string_view, RpcResult (*)(RpcRequest&)> kMethods = {
      {"openbits.hello", HandleHello},
      {"daemon.shutdown", HandleDaemonShutdown},
      {"job.create", HandleJobCreate},
      {"job.list", HandleJobList},
      {"job.info", HandleJobInfo},
      {"job.addFiles", HandleJobAddFiles},
      {"job.resume", HandleJobStateCall},
      {"job.suspend", HandleJobStateCall},
      {"job.cancel", HandleJobStateCall},
      {"job.complete", HandleJobStateCall},
      {"job.set", HandleJobSet},
      {"job.setCredentials", HandleJobCredentials},
      {"job.removeCredentials", HandleJobCredentials},
      {"job.subscribe", HandleJobSubscription},
      {"job.unsubscribe", HandleJobSubscription},
      {"job.createMany", HandleJobCreateMany},
      {"job.setClientCertificate", HandleJobSetClientCertificate},
      {"job.removeClientCertificate", HandleJobRemoveClientCertificate},
      {"job.setClientCertificatePassword", HandleJobSetClientCertificatePassword},
      {"job.setSecurityFlags", HandleJobSetSecurityFlags},
      {"job.makeCustomHeadersWriteOnly", HandleJobMakeCustomHeadersWriteOnly},
      {"job.takeOwnership", HandleJobTakeOwnership},
      {"vault.rotateKey", HandleVaultRotateKey},
  };
  auto it = kMethods.find(name);
  return it == kMethods.end() ? nullptr : it->second;
}

}  // namespace

void RpcDispatcher::DropSubscriptions(const Pusher* pusher) {
  engine_->Call([&] {
    auto jobs = engine_->ListJobs(engine::Caller{"", true}, EnumScope::kAllUsers);
    if (!jobs.ok()) return;
    for (auto& job : *jobs) {
      auto* ours = dynamic_cast<PushCallback*>(job->callback.get());
      if (ours != nullptr && ours->owner() == pusher) (void)engine_->SetCallback(*job, nullptr);
    }
  });
}

RpcDispatcher::RpcDispatcher(std::shared_ptr<engine::Engine> engine) : engine_(std::move(engine)) {}

std::string RpcDispatcher::Handle(std::string_view request, const engine::Caller& caller,
                                  bool* shutdown, const std::shared_ptr<Pusher>& pusher) {
  json message = json::parse(request, nullptr, /*allow_exceptions=*/false);
  if (message.is_discarded()) {
    return Dump(ErrorResponse(nullptr, {kParseError, "the request is not JSON", nullptr}));
  }
  // Only type-checked accessors here: json::value() throws when a member
  // has another type ("jsonrpc": 2), and no request may end the daemon.
  const bool valid = message.is_object() && message.contains("jsonrpc") &&
                     message["jsonrpc"].is_string() && message["jsonrpc"] == "2.0" &&
                     message.contains("method") && message["method"].is_string() &&
                     (!message.contains("params") || message["params"].is_object());
  json id = message.is_object() && message.contains("id") ? message["id"] : json(nullptr);
  if (!id.is_null() && !id.is_string() && !id.is_number_integer()) id = nullptr;
  if (!valid) {
    return Dump(ErrorResponse(id, {kInvalidRequest, "not a JSON-RPC 2.0 request", nullptr}));
  }
  const std::string method = message["method"].get<std::string>();
  json params_json = message.value("params", json::object());
  remote::ScrubPasswords(message);
  struct Scrubber {
    json& j;
    ~Scrubber() { remote::ScrubPasswords(j); }
  } scrub_params{params_json};
  Params params(params_json);
  Call call(*engine_, caller, params);
  std::variant<json, RpcError> result;
  // A result already written as JSON text (job.list's summary).
  std::optional<std::string> serialized_result;

  try {
    auto handler = FindMethod(method);
    if (handler == nullptr) {
      result = RpcError{kMethodNotFound, "unknown method " + method, nullptr};
    } else {
      RpcRequest r{engine_, caller, params, call, pusher, shutdown, method, std::nullopt};
      result = handler(r);
      serialized_result = std::move(r.serialized_result);
    }
  } catch (const std::exception& e) {
    result = RpcError{kInvalidParams, std::string("bad parameters: ") + e.what(), nullptr};
  }

  if (!message.contains("id")) return {};  // a notification: no reply
  if (const RpcError* error = std::get_if<RpcError>(&result))
    return Dump(ErrorResponse(id, *error));
  if (serialized_result) {
    return R"({"jsonrpc":"2.0","id":)" + Dump(id) + R"(,"result":)" + *serialized_result + "}";
  }
  return Dump(json{{"jsonrpc", "2.0"}, {"id", id}, {"result", std::get<json>(result)}});
}

}  // namespace openbits::daemon
