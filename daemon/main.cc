// Copyright (c) openbits authors. Licensed under the Apache License 2.0.
//
// openbitsd: the background daemon that owns a persistent transfer queue.
//
//   openbitsd [--system] [--foreground] [--state-dir DIR] [--socket PATH] [--key-dir DIR]
//   openbitsd --rotate-key [--system] [--state-dir DIR] [--key-dir DIR]
//
// System mode (--system, as root) serves every local user: state in
// /var/lib/openbits, socket /run/openbits/openbitsd.sock (mode 0666; the
// caller's uid from SO_PEERCRED owns the jobs), keys in /etc/openbits/keys,
// policy /etc/openbits/openbits.conf; every job file is handled with its
// owner's identity. Under systemd socket activation (LISTEN_FDS) the
// listening socket is the one systemd passes.
//
// Per-user mode (the only mode so far): state in $OPENBITS_STATE_DIR, else
// ${XDG_STATE_HOME:-$HOME/.local/state}/openbits; socket $OPENBITS_SOCKET,
// else <state dir>/openbitsd.sock. Without --foreground the daemon detaches
// once its socket listens, so a client that started it can connect as soon
// as the starting process has exited. --rotate-key re-seals every stored
// credential under a new vault key and exits (the daemon must be stopped).
//
// The daemon holds decrypted secrets while it uses them: it makes itself
// non-dumpable (no core files, no ptrace by other processes of the user).

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#if defined(__linux__)
#include <sys/prctl.h>
#endif

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>

#include "daemon/rpc.h"
#include "daemon/server.h"
#include "engine/engine.h"
#include "platform/file_system.h"
#include "platform/paths.h"
#include "platform/system.h"

namespace {

void Usage() {
  std::fprintf(stderr,
               "usage: openbitsd [--system] [--foreground] [--state-dir DIR] [--socket PATH]\n"
               "                 [--key-dir DIR]\n"
               "       openbitsd --rotate-key [--system] [--state-dir DIR] [--key-dir DIR]\n");
}

// The listening socket systemd passed (socket activation), or -1.
int ActivatedSocket() {
  const char* pid = std::getenv("LISTEN_PID");
  const char* fds = std::getenv("LISTEN_FDS");
  if (pid == nullptr || fds == nullptr || std::atoi(fds) < 1 ||
      std::strtol(pid, nullptr, 10) != static_cast<long>(::getpid())) {
    return -1;
  }
  ::unsetenv("LISTEN_PID");
  ::unsetenv("LISTEN_FDS");
  ::unsetenv("LISTEN_FDNAMES");
  ::fcntl(3, F_SETFD, FD_CLOEXEC);
  return 3;  // SD_LISTEN_FDS_START
}

// No core file and no ptrace attach: both would expose decrypted secrets.
void ProtectMemory() {
  const rlimit no_core{0, 0};
  ::setrlimit(RLIMIT_CORE, &no_core);
#if defined(__linux__)
  ::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
#endif
}

// Binds and listens on `path`: mode 0600 (only the owner may connect), or
// 0666 for the system daemon (every user may; SO_PEERCRED says who). The
// socket is bound under a temporary name and renamed into place once it
// listens: a client that sees the name never meets ECONNREFUSED from the
// moment between bind and listen.
int Listen(const std::string& path, bool everyone, std::string* error) {
  sockaddr_un addr{};
  const std::string temp = path + ".new";
  if (temp.size() >= sizeof addr.sun_path) {
    *error = "socket path too long: " + path;
    return -1;
  }
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    *error = std::strerror(errno);
    return -1;
  }
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, temp.c_str(), temp.size() + 1);
  ::unlink(temp.c_str());  // we hold the daemon lock: any socket there is stale
  const mode_t old_mask = ::umask(everyone ? 0111 : 0177);
  const int rc = ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  ::umask(old_mask);
  if (rc != 0 || ::listen(fd, 64) != 0 || ::rename(temp.c_str(), path.c_str()) != 0) {
    *error = "cannot listen on " + path + ": " + std::strerror(errno);
    ::unlink(temp.c_str());
    ::close(fd);
    return -1;
  }
  return fd;
}

void Detach(const std::string& log_path, int keep_fd, int lock_fd) {
  if (::fork() > 0) _exit(0);  // the parent returns to the caller
  ::setsid();
  // Whatever the starting process left open (its pipes) must not stay
  // open for the daemon's whole life.
  for (int fd = 3; fd < 1024; ++fd) {
    if (fd != keep_fd && fd != lock_fd) ::close(fd);
  }
  int null = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (null >= 0) {
    ::dup2(null, 0);
    ::close(null);
  }
  int log = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (log >= 0) {
    ::dup2(log, 1);
    ::dup2(log, 2);
    ::close(log);
  }
  if (::chdir("/") != 0) {
    // Not fatal: every path the daemon uses is absolute.
  }
}

}  // namespace

int main(int argc, char** argv) {
  ProtectMemory();
  bool foreground = false;
  bool rotate_key = false;
  bool system_mode = false;
  std::string state_dir;
  std::string socket_path;
  std::string key_dir;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--foreground") {
      foreground = true;
    } else if (arg == "--rotate-key") {
      rotate_key = true;
    } else if (arg == "--system") {
      system_mode = true;
    } else if (arg == "--key-dir" && i + 1 < argc) {
      key_dir = argv[++i];
    } else if (arg == "--state-dir" && i + 1 < argc) {
      state_dir = argv[++i];
    } else if (arg == "--socket" && i + 1 < argc) {
      socket_path = argv[++i];
    } else {
      Usage();
      return 2;
    }
  }
  if (system_mode && ::geteuid() != 0) {
    std::fprintf(stderr, "openbitsd: --system needs root (it acts as each job's owner)\n");
    return 2;
  }
  if (state_dir.empty()) {
    state_dir = system_mode ? "/var/lib/openbits" : openbits::platform::DefaultStateDirectory();
  }
  if (state_dir.empty() || state_dir.front() != '/') {
    std::fprintf(stderr, "openbitsd: the state directory must be an absolute path\n");
    return 2;
  }
  if (socket_path.empty()) {
    socket_path = system_mode ? "/run/openbits/openbitsd.sock"
                              : openbits::platform::DefaultSocketPath(state_dir);
  }

  if (auto st = openbits::platform::MakeDirectories(state_dir, 0700); !st.ok()) {
    std::fprintf(stderr, "openbitsd: %s\n", st.ToString().c_str());
    return 1;
  }
  auto lock = openbits::platform::LockFile(state_dir + "/openbitsd.lock");
  if (!lock.ok()) {
    std::fprintf(stderr, "openbitsd: another openbitsd already serves %s; %s\n", state_dir.c_str(),
                 rotate_key ? "stop it before rotating the key" : "not starting");
    return 1;
  }
  openbits::ManagerOptions options;
  options.state_directory = state_dir;
  // The daemon's stderr is its log file (or the journal).
  options.log = [](openbits::LogLevel level, std::string_view message) {
    const char* tag = level == openbits::LogLevel::kError     ? "error: "
                      : level == openbits::LogLevel::kWarning ? "warning: "
                                                              : "";
    std::fprintf(stderr, "openbitsd: %s%.*s\n", tag, static_cast<int>(message.size()),
                 message.data());
  };
  options.key_directory = key_dir;
  if (system_mode) {
    options.act_as_job_owner = true;
    if (options.key_directory.empty()) {
      options.key_directory = openbits::platform::SystemKeyLocation();
    }
    options.policy_file = "/etc/openbits/openbits.conf";
  }
  if (rotate_key) {
    options.run_transfers = false;
    auto engine = openbits::engine::Engine::Open(options);
    if (!engine.ok()) {
      std::fprintf(stderr, "openbitsd: cannot open the queue: %s\n",
                   engine.status().ToString().c_str());
      return 1;
    }
    const openbits::Status st = (*engine)->Call([&] {
      return (*engine)->RotateCredentialKey(
          openbits::engine::Caller{openbits::platform::CurrentUserId(), true});
    });
    (*engine)->Shutdown();
    if (!st.ok()) {
      std::fprintf(stderr, "openbitsd: key rotation failed: %s\n", st.ToString().c_str());
      return 1;
    }
    std::printf("openbitsd: every stored secret is now sealed under a new key\n");
    return 0;
  }
  // Before detaching, so that whoever started us sees why we cannot run
  // (a key file with the wrong mode, a database from a newer version).
  if (auto st = openbits::engine::Engine::CheckQueue(options); !st.ok()) {
    std::fprintf(stderr, "openbitsd: cannot open the queue: %s\n", st.ToString().c_str());
    return 1;
  }
  std::string error;
  int listening = ActivatedSocket();
  const bool activated = listening >= 0;
  if (!activated) {
    if (system_mode) {
      const std::string dir = socket_path.substr(0, socket_path.find_last_of('/'));
      if (auto st = openbits::platform::MakeDirectories(dir, 0755); !st.ok()) {
        std::fprintf(stderr, "openbitsd: %s\n", st.ToString().c_str());
        return 1;
      }
    }
    listening = Listen(socket_path, system_mode, &error);
  }
  if (listening < 0) {
    std::fprintf(stderr, "openbitsd: %s\n", error.c_str());
    return 1;
  }
  ::signal(SIGPIPE, SIG_IGN);
  if (!foreground) Detach(state_dir + "/openbitsd.log", listening, lock->get());
  {
    const std::string pid = std::to_string(::getpid()) + "\n";
    int fd = ::open((state_dir + "/openbitsd.pid").c_str(),
                    O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd >= 0) {
      if (::write(fd, pid.data(), pid.size()) < 0) {
        // The pid file is informational.
      }
      ::close(fd);
    }
  }

  // Threads start only now, after the fork.
  auto engine = openbits::engine::Engine::Open(options);
  if (!engine.ok()) {
    std::fprintf(stderr, "openbitsd: cannot open the queue: %s\n",
                 engine.status().ToString().c_str());
    ::unlink(socket_path.c_str());
    return 1;
  }
  std::fprintf(stderr, "openbitsd: serving %s on %s\n", state_dir.c_str(), socket_path.c_str());

  boost::asio::io_context io;
  openbits::daemon::RpcDispatcher dispatcher(*engine);
  openbits::daemon::Server server(io, listening, dispatcher, [&] { io.stop(); });
  boost::asio::signal_set signals(io, SIGTERM, SIGINT);
  signals.async_wait([&](const boost::system::error_code&, int signal) {
    std::fprintf(stderr, "openbitsd: signal %d, stopping\n", signal);
    io.stop();
  });
  server.Start();
  io.run();
  server.Stop();
  if (!activated) ::unlink(socket_path.c_str());
  (*engine)->Shutdown();  // checkpoints every transfer
  std::fprintf(stderr, "openbitsd: stopped\n");
  return 0;
}
