// Copyright (c) openbits authors. Licensed under the Apache License 2.0.

#include "cli/client.h"

#include <errno.h>
#include <poll.h>
#include <unistd.h>

#include <cstring>
#include <sys/socket.h>

#include "openbits/hresult.h"

#include "platform/secret_buffer.h"
#include "remote/connection.h"
#include "remote/json_rpc.h"

namespace openbits::cli {

Result<DaemonClient> DaemonClient::Connect(const std::string& state_dir,
                                           const std::string& socket_path, bool autostart) {
  auto fd = remote::ConnectToDaemon(state_dir, socket_path, autostart);
  if (!fd.ok()) return fd.status();
  return DaemonClient(*fd);
}

DaemonClient::~DaemonClient() {
  if (fd_ >= 0) ::close(fd_);
}

Result<long> DaemonClient::Send(const std::string& method, const nlohmann::json& params) {
  using nlohmann::json;
  const long id = next_id_++;
  std::string request =
      json{{"jsonrpc", "2.0"}, {"id", id}, {"method", method}, {"params", params}}.dump(
          -1, ' ', false, json::error_handler_t::replace);
  request += '\n';
  for (std::size_t sent = 0; sent < request.size();) {
    ssize_t n = ::send(fd_, request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) {
      if (n < 0 && errno == EINTR) continue;
      platform::Cleanse(request);
      return Status(kEFail, "the connection to openbitsd broke");
    }
    sent += static_cast<std::size_t>(n);
  }
  platform::Cleanse(request);  // it may have carried a password
  return id;
}

Result<nlohmann::json> DaemonClient::Call(const std::string& method, const nlohmann::json& params) {
  using nlohmann::json;
  auto sent = Send(method, params);
  if (!sent.ok()) return sent.status();
  json reply;
  while (true) {
    auto line = NextLine(-1);
    if (!line.ok()) return line.status();
    reply = json::parse(*line, nullptr, false);
    if (reply.is_discarded() || !reply.is_object()) {
      return Status(kEFail, "openbitsd sent a malformed reply");
    }
    if (reply.contains("id")) break;
    ++events_seen_;  // a job.event that arrived before our reply
  }
  return remote::ResultOfReply(std::move(reply));
}

namespace {

// Reads {"id":..,"result":{"jobs":[{..},..]}} (or an error, or an event) as
// the parser walks it. Members it does not know are skipped.
class JobListReader final : public nlohmann::json_sax<nlohmann::json> {
 public:
  bool null() override {
    if (InJob() && field_ == "bytesTotal") job().bytes_total.reset();
    return true;
  }
  bool boolean(bool /*value*/) override { return true; }
  bool number_integer(number_integer_t value) override {
    return value >= 0 ? number_unsigned(static_cast<number_unsigned_t>(value)) : !InJob();
  }
  bool number_unsigned(number_unsigned_t value) override {
    if (!InJob()) return true;
    if (field_ == "filesTotal" || field_ == "filesTransferred") {
      if (value > UINT32_MAX) return false;
      (field_ == "filesTotal" ? job().files_total : job().files_transferred) =
          static_cast<std::uint32_t>(value);
    } else if (field_ == "bytesTotal") {
      job().bytes_total = value;
    } else if (field_ == "bytesTransferred") {
      job().bytes_transferred = value;
    }
    return true;
  }
  bool number_float(number_float_t /*value*/, const string_t& /*text*/) override {
    return !InJob();
  }
  bool string(string_t& value) override {
    if (!InJob()) return true;
    if (field_ == "id") {
      job().id = std::move(value);
    } else if (field_ == "name") {
      job().name = std::move(value);
    } else if (field_ == "state") {
      job().state = std::move(value);
    }
    return true;
  }
  bool binary(binary_t& /*value*/) override { return true; }
  bool start_object(std::size_t /*elements*/) override {
    ++depth_;
    if (depth_ == 2 && top_key_ == "error") is_error_ = true;
    if (depth_ == 4 && in_jobs_) jobs_.emplace_back();
    return true;
  }
  bool end_object() override {
    if (depth_ == 4 && in_jobs_ && job().id.empty()) return false;  // a job without its id
    --depth_;
    return true;
  }
  bool start_array(std::size_t /*elements*/) override {
    ++depth_;
    if (depth_ == 3 && top_key_ == "result" && result_key_ == "jobs") in_jobs_ = saw_jobs_ = true;
    return true;
  }
  bool end_array() override {
    if (depth_ == 3) in_jobs_ = false;
    --depth_;
    return true;
  }
  bool key(string_t& name) override {
    if (depth_ == 1) {
      top_key_ = name;
      has_id_ = has_id_ || name == "id";
    } else if (depth_ == 2) {
      result_key_ = name;
    } else if (depth_ == 4) {
      field_ = name;
    }
    return true;
  }
  bool parse_error(std::size_t /*position*/, const std::string& /*last_token*/,
                   const nlohmann::detail::exception& /*ex*/) override {
    return false;
  }

  bool has_id() const { return has_id_; }
  bool is_error() const { return is_error_; }
  bool saw_jobs() const { return saw_jobs_; }
  std::vector<JobSummary>& jobs() { return jobs_; }

 private:
  bool InJob() const { return in_jobs_ && depth_ == 4; }
  JobSummary& job() { return jobs_.back(); }

  int depth_ = 0;
  std::string top_key_;
  std::string result_key_;
  std::string field_;
  bool in_jobs_ = false;
  bool saw_jobs_ = false;
  bool has_id_ = false;
  bool is_error_ = false;
  std::vector<JobSummary> jobs_;
};

}  // namespace

Result<std::vector<JobSummary>> DaemonClient::ListJobs(bool all_users,
                                                       const std::optional<std::string>& name) {
  using nlohmann::json;
  json params = {{"allUsers", all_users}, {"summary", true}};
  if (name) params["name"] = *name;
  auto sent = Send("job.list", params);
  if (!sent.ok()) return sent.status();
  while (true) {
    auto line = NextLine(-1);
    if (!line.ok()) return line.status();
    JobListReader reader;
    if (!json::sax_parse(*line, &reader)) return Status(kEFail, "openbitsd sent a malformed reply");
    if (!reader.has_id()) {
      ++events_seen_;  // a job.event that arrived before our reply
      continue;
    }
    if (reader.is_error()) {
      // Small: the one place the document tree is cheap.
      auto error = remote::ResultOfReply(json::parse(*line, nullptr, false));
      return error.ok() ? Status(kEFail, "openbitsd sent a malformed reply") : error.status();
    }
    if (!reader.saw_jobs()) return Status(kEFail, "openbitsd sent a malformed reply");
    return std::move(reader.jobs());
  }
}

Result<std::string> DaemonClient::NextLine(int timeout_ms) {
  std::size_t newline;
  // Only the bytes not searched yet: a reply of many megabytes arrives in
  // 64 KiB pieces, and searching from the start each time is quadratic.
  std::size_t searched = 0;
  while ((newline = pending_.find('\n', searched)) == std::string::npos) {
    searched = pending_.size();
    if (timeout_ms >= 0) {
      pollfd p{fd_, POLLIN, 0};
      const int ready = ::poll(&p, 1, timeout_ms);
      if (ready == 0) return Status(kWinHttpTimeout, "no message");
      if (ready < 0 && errno != EINTR) return Status(kEFail, "poll failed");
    }
    char buf[65536];
    ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return Status(kEFail, "openbitsd closed the connection");
    pending_.append(buf, static_cast<std::size_t>(n));
  }
  std::string line = pending_.substr(0, newline);
  pending_.erase(0, newline + 1);
  return line;
}

bool DaemonClient::WaitForEvent(int timeout_ms) {
  if (events_seen_ > 0) {
    events_seen_ = 0;
    return true;
  }
  auto line = NextLine(timeout_ms);
  return line.ok();
}

}  // namespace openbits::cli
