// Copyright (c) openbits authors. Licensed under the Apache License 2.0.
//
// Test support: temporary directories, deterministic test files with their
// SHA-256, a real nginx started on a free loopback port, and a JobCallback
// that lets a test wait for job events without sleeping.

#ifndef OPENBITS_TESTS_SUPPORT_TEST_SUPPORT_H_
#define OPENBITS_TESTS_SUPPORT_TEST_SUPPORT_H_

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <sys/types.h>
#include <vector>

#include "openbits/openbits.h"

namespace openbits::testing {

// A directory under $TMPDIR removed (recursively) on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string operator/(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// Writes `size` pseudo-random bytes derived from `seed` to `path`; returns
// their SHA-256 in hex. Same seed and size: same bytes.
std::string WriteTestFile(const std::string& path, std::uint64_t size, std::uint64_t seed);

// SHA-256 of a file in hex; empty string if it cannot be read.
std::string Sha256OfFile(const std::string& path);
// SHA-256 of `bytes` in hex.
std::string Sha256Of(const std::string& bytes);

bool FileExists(const std::string& path);
std::uint64_t FileSizeOf(const std::string& path);
// Names in `dir` (no . and ..), sorted.
std::vector<std::string> ListDirectory(const std::string& dir);

// One line of the fixture's access log.
struct AccessLogEntry {
  int status = 0;
  std::uint64_t body_bytes = 0;
  std::string range;     // "-" when absent
  std::string if_range;  // "-" when absent
  std::string uri;
  std::string protocol;          // "HTTP/1.1", "HTTP/2.0"
  std::uint64_t connection = 0;  // nginx's connection serial number
  std::string remote_user;       // the Basic user name sent, "" or "-" without
};

// A real nginx on 127.0.0.1 with a free port, serving `root()`. Started by
// the constructor, stopped by PID in the destructor.
class NginxServer {
 public:
  struct Options {
    // Extra directives inside the server block, e.g. locations; "$ROOT"
    // stands for root().
    std::string extra_server_config;
    // Serve HTTPS with HTTP/2 (and HTTP/1.1), with a certificate for
    // 127.0.0.1 and localhost from a throwaway CA (ca_file()).
    bool tls = false;
  };
  NginxServer();
  explicit NginxServer(Options options);
  ~NginxServer();
  NginxServer(const NginxServer&) = delete;
  NginxServer& operator=(const NginxServer&) = delete;

  bool ok() const { return pid_ > 0; }
  const std::string& error() const { return error_; }
  int port() const { return port_; }
  const std::string& root() const { return root_; }
  // "http://127.0.0.1:PORT/path", or https:// with Options::tls.
  std::string Url(const std::string& path) const;
  // The PEM file of the CA that signed the server certificate (tls only).
  std::string ca_file() const { return dir_ / "pki/ca.crt"; }

  // Stops nginx and starts it again on the same port with `options`. (A
  // SIGHUP reload is not used: old workers keep serving kept-alive
  // connections for a while, which makes tests depend on timing.)
  bool Restart(const Options& options);

  std::vector<AccessLogEntry> AccessLog() const;
  // Entries whose URI is `uri`.
  std::vector<AccessLogEntry> AccessLogFor(const std::string& uri) const;

 private:
  bool WriteConfig(const Options& options);
  bool Start(const Options& options);
  // A request answered by nginx: waits on the response itself.
  bool Answers();
  bool MakeCertificates();
  bool tls_ = false;
  void Stop();

  TempDir dir_;
  std::string root_;
  int port_ = 0;
  // Our listening socket, handed to nginx (its NGINX inherited-socket
  // variable): connections queue in it from the start, across restarts.
  int listen_fd_ = -1;
  pid_t pid_ = -1;
  std::string error_;
};

// A JobCallback recording events; Wait* return false on timeout (a safety
// bound, not a synchronisation: tests wait for events).
class JobWatcher : public JobCallback {
 public:
  void JobTransferred(Job& job) override;
  void JobError(Job& job, const JobErrorInfo& error) override;
  void JobModification(Job& job) override;

  // Waits until `predicate(job)` holds, checking after each notification.
  bool WaitUntil(Job& job, const std::function<bool(Job&)>& predicate,
                 std::chrono::seconds limit = std::chrono::seconds(120));
  bool WaitForState(Job& job, JobState state,
                    std::chrono::seconds limit = std::chrono::seconds(120));
  // Waits for TRANSFERRED, ERROR or TRANSIENT_ERROR; returns the state.
  JobState WaitForOutcome(Job& job, std::chrono::seconds limit = std::chrono::seconds(120));

  int transferred_count() const;
  int error_count() const;

 private:
  mutable std::mutex mutex_;
  std::condition_variable changed_;
  std::uint64_t events_ = 0;
  int transferred_ = 0;
  int errors_ = 0;
};

// Attaches a new JobWatcher to `job` with flags for every event and no
// notification rate limit.
std::shared_ptr<JobWatcher> Watch(Job& job);

// A named pipe that children write lines to (e.g. a notify command line);
// ReadLine waits for the next line itself. A write end is kept open so that
// a writer closing never looks like the end.
class LineFifo {
 public:
  explicit LineFifo(const std::string& path);
  ~LineFifo();
  LineFifo(const LineFifo&) = delete;
  LineFifo& operator=(const LineFifo&) = delete;
  const std::string& path() const { return path_; }
  // The next line (without newline), or nullopt if none came within `limit`.
  std::optional<std::string> ReadLine(std::chrono::milliseconds limit);

 private:
  std::string path_;
  int read_fd_ = -1;
  int write_fd_ = -1;
  std::string buffer_;
};

// Waits until process `pid` (not necessarily our child) has exited.
bool WaitForExit(pid_t pid, std::chrono::milliseconds limit);

// Waits until `done()` holds, re-checking after each change inotify reports
// in `dir` (files created, written, closed).
// With `or_exit_of`, also returns once that process has ended.
bool WaitForDirectoryChange(const std::string& dir, const std::function<bool()>& done,
                            std::chrono::milliseconds limit, pid_t or_exit_of = -1);

// Starts the server `argv` (argv[0] is a path) with exactly the environment
// `env` ("NAME=value"); -1 on failure. Its stdin, stdout and stderr are
// /dev/null (servers log to files), and it is killed if the test process
// dies: a server left holding ctest's pipes would make ctest wait for the
// full timeout. `fd3`, when not -1, becomes the server's descriptor 3.
pid_t SpawnServer(const std::vector<std::string>& argv, const std::vector<std::string>& env,
                  int fd3 = -1);

// A child process whose stdout is readable through `out`.
struct ChildProcess {
  pid_t pid = -1;
  std::FILE* out = nullptr;
};
// Starts `argv` (argv[0] is a path); pid is -1 on failure.
ChildProcess SpawnWithOutput(const std::vector<std::string>& argv);
// Waits for the child and closes its pipe; returns the raw wait status.
int Reap(ChildProcess& child);

// Runs `argv` with stdout captured; returns the exit status (or -1).
int RunProgram(const std::vector<std::string>& argv, std::string* output);

// Runs `argv` as user `uid`/`gid` (REQUIRES: root) with exactly the
// environment `env` ("NAME=value"), stdout captured.
int RunProgramAs(unsigned uid, unsigned gid, const std::vector<std::string>& argv,
                 const std::vector<std::string>& env, std::string* output);

}  // namespace openbits::testing

#endif  // OPENBITS_TESTS_SUPPORT_TEST_SUPPORT_H_
