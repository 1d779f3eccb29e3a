// Copyright (c) openbits authors. Licensed under the Apache License 2.0.
//
// bitsadmin's connection to openbitsd: newline-delimited JSON-RPC over the
// daemon's Unix socket, starting the daemon when none answers.

#ifndef OPENBITS_CLI_CLIENT_H_
#define OPENBITS_CLI_CLIENT_H_

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "openbits/status.h"

namespace openbits::cli {

// One job as `bitsadmin /list` prints it: job.list's summary (docs/ipc.md).
struct JobSummary {
  std::string id;
  std::string name;
  std::string state;
  std::uint32_t files_total = 0;
  std::uint32_t files_transferred = 0;
  std::optional<std::uint64_t> bytes_total;  // empty: unknown
  std::uint64_t bytes_transferred = 0;
};

class DaemonClient {
 public:
  // Connects to the daemon serving `state_dir` at `socket_path`; if none
  // answers and `autostart`, starts openbitsd (found beside this program,
  // else on PATH) and connects once it listens.
  static Result<DaemonClient> Connect(const std::string& state_dir, const std::string& socket_path,
                                      bool autostart);

  DaemonClient(DaemonClient&& other) noexcept
      : fd_(other.fd_), next_id_(other.next_id_), pending_(std::move(other.pending_)) {
    other.fd_ = -1;
  }
  DaemonClient(const DaemonClient&) = delete;
  DaemonClient& operator=(const DaemonClient&) = delete;
  ~DaemonClient();

  // Calls `method`; the result object, or the daemon's error as a Status
  // carrying the BITS HRESULT.
  Result<nlohmann::json> Call(const std::string& method, const nlohmann::json& params);

  // Calls job.list with summary: the caller's jobs (every user's with
  // `all_users`), only those named `name` when given. The reply is read as
  // it is parsed, without a document tree: a queue may hold 100,000 jobs.
  Result<std::vector<JobSummary>> ListJobs(bool all_users, const std::optional<std::string>& name);

  // Waits up to `timeout_ms` for a "job.event" of a subscribed job (one
  // that came while a Call waited for its reply counts). False on timeout
  // or a broken connection.
  bool WaitForEvent(int timeout_ms);

 private:
  // Sends a request; returns its id.
  Result<long> Send(const std::string& method, const nlohmann::json& params);
  // The next line from the daemon; timeout_ms < 0 waits without bound.
  Result<std::string> NextLine(int timeout_ms);
  explicit DaemonClient(int fd) : fd_(fd) {}
  int fd_ = -1;
  long next_id_ = 1;
  std::string pending_;
  int events_seen_ = 0;
};

}  // namespace openbits::cli

#endif  // OPENBITS_CLI_CLIENT_H_
