// Copyright (c) openbits authors. Licensed under the Apache License 2.0.

#include "tests/support/test_support.h"

#include <dirent.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <unistd.h>

#include <algorithm>
#include <arpa/inet.h>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <netinet/in.h>
#include <sstream>
#include <sys/inotify.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include <openssl/evp.h>

extern char** environ;

namespace openbits::testing {
namespace {

std::string Hex(const unsigned char* p, std::size_t n) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (std::size_t i = 0; i < n; ++i) {
    out += kHex[p[i] >> 4];
    out += kHex[p[i] & 15];
  }
  return out;
}

void RemoveTree(const std::string& path) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) return;
  if (S_ISDIR(st.st_mode)) {
    for (const std::string& name : ListDirectory(path)) RemoveTree(path + "/" + name);
    ::rmdir(path.c_str());
  } else {
    ::unlink(path.c_str());
  }
}

std::string FindNginx() {
  for (const char* candidate : {"/usr/sbin/nginx", "/usr/local/sbin/nginx", "/usr/bin/nginx"}) {
    if (::access(candidate, X_OK) == 0) return candidate;
  }
  return "nginx";
}

std::string ExpandRoot(std::string text, const std::string& root) {
  for (auto pos = text.find("$ROOT"); pos != std::string::npos; pos = text.find("$ROOT", pos)) {
    text.replace(pos, 5, root);
    pos += root.size();
  }
  return text;
}

}  // namespace

TempDir::TempDir() {
  const char* base = std::getenv("TMPDIR");
  std::string pattern =
      std::string(base != nullptr && base[0] != '\0' ? base : "/tmp") + "/openbits-test-XXXXXX";
  std::vector<char> buf(pattern.begin(), pattern.end());
  buf.push_back('\0');
  if (::mkdtemp(buf.data()) != nullptr) path_ = buf.data();
}

TempDir::~TempDir() {
  if (!path_.empty()) RemoveTree(path_);
}

std::string WriteTestFile(const std::string& path, std::uint64_t size, std::uint64_t seed) {
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr);
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (f == nullptr) return {};
  std::vector<std::uint64_t> block(1 << 16);
  std::uint64_t state = seed * 0x9E3779B97F4A7C15ULL + 1;
  std::uint64_t left = size;
  while (left > 0) {
    for (auto& word : block) {  // splitmix64
      std::uint64_t z = (state += 0x9E3779B97F4A7C15ULL);
      z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
      z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
      word = z ^ (z >> 31);
    }
    const std::size_t n = static_cast<std::size_t>(
        std::min<std::uint64_t>(left, block.size() * sizeof(std::uint64_t)));
    std::fwrite(block.data(), 1, n, f);
    EVP_DigestUpdate(ctx.get(), block.data(), n);
    left -= n;
  }
  std::fclose(f);
  unsigned char digest[32];
  EVP_DigestFinal_ex(ctx.get(), digest, nullptr);
  return Hex(digest, sizeof digest);
}

std::string Sha256OfFile(const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) return {};
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr);
  std::vector<char> buf(1 << 20);
  std::size_t n;
  while ((n = std::fread(buf.data(), 1, buf.size(), f)) > 0)
    EVP_DigestUpdate(ctx.get(), buf.data(), n);
  std::fclose(f);
  unsigned char digest[32];
  EVP_DigestFinal_ex(ctx.get(), digest, nullptr);
  return Hex(digest, sizeof digest);
}

std::string Sha256Of(const std::string& bytes) {
  unsigned char digest[32];
  unsigned int len = 0;
  EVP_Digest(bytes.data(), bytes.size(), digest, &len, EVP_sha256(), nullptr);
  return Hex(digest, sizeof digest);
}

bool FileExists(const std::string& path) {
  struct stat st {};
  return ::lstat(path.c_str(), &st) == 0;
}

std::uint64_t FileSizeOf(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 ? static_cast<std::uint64_t>(st.st_size) : 0;
}

std::vector<std::string> ListDirectory(const std::string& dir) {
  std::vector<std::string> names;
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return names;
  while (dirent* e = ::readdir(d)) {
    std::string name = e->d_name;
    if (name != "." && name != "..") names.push_back(name);
  }
  ::closedir(d);
  std::sort(names.begin(), names.end());
  return names;
}

// --- NginxServer -------------------------------------------------------------------

NginxServer::NginxServer() : NginxServer(Options{}) {}

NginxServer::NginxServer(Options options) {
  root_ = dir_ / "data";
  for (const char* sub : {"data", "logs", "tmp", "run"}) ::mkdir((dir_ / sub).c_str(), 0755);
  // The workers must be able to read the root; mkdtemp made it 0700.
  ::chmod(dir_.path().c_str(), 0755);
  tls_ = options.tls;
  if (tls_ && !MakeCertificates()) {
    error_ = "cannot make test certificates with openssl";
    return;
  }
  listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;  // a free port, chosen by the kernel: no race
  socklen_t len = sizeof addr;
  if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::listen(listen_fd_, 512) != 0 ||
      ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    error_ = "cannot listen on loopback";
    return;
  }
  port_ = ntohs(addr.sin_port);
  Start(options);
}

bool NginxServer::MakeCertificates() {
  const std::string pki = dir_ / "pki";
  ::mkdir(pki.c_str(), 0755);
  {
    std::ofstream ext(pki + "/server.ext");
    ext << "subjectAltName=DNS:localhost,IP:127.0.0.1\n"
           "basicConstraints=CA:FALSE\n"
           "keyUsage=digitalSignature\n"
           "extendedKeyUsage=serverAuth\n";
  }
  const std::string openssl = "/usr/bin/openssl";
  const std::vector<std::vector<std::string>> steps = {
      {openssl,
       "req",
       "-x509",
       "-newkey",
       "ec",
       "-pkeyopt",
       "ec_paramgen_curve:prime256v1",
       "-nodes",
       "-keyout",
       pki + "/ca.key",
       "-out",
       pki + "/ca.crt",
       "-days",
       "2",
       "-subj",
       "/CN=openbits test CA",
       "-addext",
       "basicConstraints=critical,CA:TRUE",
       "-addext",
       "keyUsage=critical,keyCertSign,cRLSign"},
      {openssl, "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
       "-keyout", pki + "/server.key", "-out", pki + "/server.csr", "-subj", "/CN=localhost"},
      {openssl, "x509", "-req", "-in", pki + "/server.csr", "-CA", pki + "/ca.crt", "-CAkey",
       pki + "/ca.key", "-CAcreateserial", "-out", pki + "/server.crt", "-days", "2", "-extfile",
       pki + "/server.ext"},
  };
  for (const auto& step : steps) {
    std::string ignored;
    if (RunProgram(step, &ignored) != 0) return false;
  }
  return true;
}

NginxServer::~NginxServer() {
  Stop();
  if (listen_fd_ >= 0) ::close(listen_fd_);
}

void NginxServer::Stop() {
  if (pid_ > 0) {
    ::kill(pid_, SIGTERM);
    ::waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }
}

bool NginxServer::Restart(const Options& options) {
  Stop();
  return Start(options);
}

bool NginxServer::Start(const Options& options) {
  if (!WriteConfig(options)) {
    error_ = "cannot write nginx.conf";
    return false;
  }
  const std::string nginx = FindNginx();
  std::vector<std::string> args = {nginx,        "-c", dir_ / "nginx.conf",     "-p",
                                   dir_.path(),  "-e", dir_ / "logs/error.log", "-g",
                                   "daemon off;"};
  std::vector<std::string> env_copy;
  for (char** e = environ; *e != nullptr; ++e) env_copy.emplace_back(*e);
  env_copy.emplace_back("NGINX=3;");  // the listening socket is fd 3
  const pid_t pid = SpawnServer(args, env_copy, listen_fd_);
  if (pid < 0) {
    error_ = "cannot start nginx (is it installed?)";
    return false;
  }
  pid_ = pid;
  if (!Answers()) {
    Stop();
    std::ifstream log(dir_ / "logs/error.log");
    std::stringstream text;
    text << log.rdbuf();
    error_ = "nginx did not start: " + text.str();
    return false;
  }
  return true;
}

bool NginxServer::Answers() {
  // The connection queues in our socket's backlog until nginx accepts it;
  // the read returns when nginx answers (or after the bound).
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  timeval bound{10, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &bound, sizeof bound);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<std::uint16_t>(port_));
  bool answered = false;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) {
    // On a TLS port nginx answers this plain request with a 400: serving too.
    const std::string request = "GET / HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
    char buf[16];
    answered =
        ::write(fd, request.data(), request.size()) == static_cast<ssize_t>(request.size()) &&
        ::read(fd, buf, sizeof buf) > 0;
  }
  ::close(fd);
  return answered;
}

bool NginxServer::WriteConfig(const Options& options) {
  std::ofstream conf(dir_ / "nginx.conf");
  const std::string d = dir_.path();
  if (::geteuid() == 0) conf << "user root;\n";
  conf << "worker_processes 1;\n"
       << "pid " << d << "/run/nginx.pid;\n"
       << "error_log " << d << "/logs/error.log warn;\n"
       << "events { worker_connections 512; }\n"
       << "http {\n"
       << "  default_type application/octet-stream;\n"
       << "  log_format ranges '$status $body_bytes_sent \"$http_range\" \"$http_if_range\" "
          "$request_uri $server_protocol $connection \"$remote_user\"';\n"
       << "  access_log " << d << "/logs/access.log ranges;\n"
       << "  client_body_temp_path " << d << "/tmp/body;\n"
       << "  proxy_temp_path " << d << "/tmp/proxy;\n"
       << "  fastcgi_temp_path " << d << "/tmp/fastcgi;\n"
       << "  uwsgi_temp_path " << d << "/tmp/uwsgi;\n"
       << "  scgi_temp_path " << d << "/tmp/scgi;\n"
       << "  sendfile on;\n"
       << "  keepalive_requests 10000;\n"
       << "  server {\n"
       << "    listen 127.0.0.1:" << port_ << (tls_ ? " ssl http2" : "") << ";\n"
       << "    server_name localhost;\n"
       << "    root " << root_ << ";\n";
  if (tls_) {
    conf << "    ssl_certificate " << d << "/pki/server.crt;\n"
         << "    ssl_certificate_key " << d << "/pki/server.key;\n"
         << "    ssl_protocols TLSv1.2 TLSv1.3;\n";
  }
  conf << ExpandRoot(options.extra_server_config, root_) << "\n"
       << "  }\n"
       << "}\n";
  return static_cast<bool>(conf);
}

std::string NginxServer::Url(const std::string& path) const {
  return std::string(tls_ ? "https" : "http") + "://127.0.0.1:" + std::to_string(port_) + path;
}

std::vector<AccessLogEntry> NginxServer::AccessLog() const {
  std::vector<AccessLogEntry> entries;
  std::ifstream log(dir_ / "logs/access.log");
  std::string line;
  while (std::getline(log, line)) {
    AccessLogEntry e;
    std::istringstream in(line);
    in >> e.status >> e.body_bytes;
    auto quoted = [&in]() {
      std::string s;
      in >> std::ws;
      if (in.peek() == '"') {
        in.get();
        std::getline(in, s, '"');
      }
      return s;
    };
    e.range = quoted();
    e.if_range = quoted();
    in >> e.uri >> e.protocol >> e.connection;
    e.remote_user = quoted();
    entries.push_back(e);
  }
  return entries;
}

std::vector<AccessLogEntry> NginxServer::AccessLogFor(const std::string& uri) const {
  std::vector<AccessLogEntry> out;
  for (auto& e : AccessLog()) {
    if (e.uri == uri) out.push_back(e);
  }
  return out;
}

// --- JobWatcher --------------------------------------------------------------------

void JobWatcher::JobTransferred(Job&) {
  std::lock_guard lock(mutex_);
  ++transferred_;
  ++events_;
  changed_.notify_all();
}

void JobWatcher::JobError(Job&, const JobErrorInfo&) {
  std::lock_guard lock(mutex_);
  ++errors_;
  ++events_;
  changed_.notify_all();
}

void JobWatcher::JobModification(Job&) {
  std::lock_guard lock(mutex_);
  ++events_;
  changed_.notify_all();
}

bool JobWatcher::WaitUntil(Job& job, const std::function<bool(Job&)>& predicate,
                           std::chrono::seconds limit) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (true) {
    std::uint64_t seen;
    {
      std::lock_guard lock(mutex_);
      seen = events_;
    }
    if (predicate(job)) return true;
    std::unique_lock lock(mutex_);
    // Woken by the next event; the one-second slice only bounds how long a
    // missed notification could delay the re-check.
    changed_.wait_for(lock, std::chrono::seconds(1), [&] { return events_ != seen; });
    if (std::chrono::steady_clock::now() > deadline) return predicate(job);
  }
}

bool JobWatcher::WaitForState(Job& job, JobState state, std::chrono::seconds limit) {
  return WaitUntil(
      job, [state](Job& j) { return j.GetState() == state; }, limit);
}

JobState JobWatcher::WaitForOutcome(Job& job, std::chrono::seconds limit) {
  JobState last = job.GetState();
  WaitUntil(
      job,
      [&last](Job& j) {
        last = j.GetState();
        return last == JobState::kTransferred || last == JobState::kError ||
               last == JobState::kTransientError;
      },
      limit);
  return last;
}

int JobWatcher::transferred_count() const {
  std::lock_guard lock(mutex_);
  return transferred_;
}

int JobWatcher::error_count() const {
  std::lock_guard lock(mutex_);
  return errors_;
}

std::shared_ptr<JobWatcher> Watch(Job& job) {
  auto watcher = std::make_shared<JobWatcher>();
  (void)job.SetNotifyInterface(watcher);
  (void)job.SetNotifyFlags(kNotifyJobTransferred | kNotifyJobError | kNotifyJobModification);
  (void)job.SetMinimumNotificationInterval(std::chrono::milliseconds(0));
  return watcher;
}

LineFifo::LineFifo(const std::string& path) : path_(path) {
  ::mkfifo(path.c_str(), 0666);
  ::chmod(path.c_str(), 0666);  // writable by a child running as another user
  read_fd_ = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  write_fd_ = ::open(path.c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC);
}

LineFifo::~LineFifo() {
  if (read_fd_ >= 0) ::close(read_fd_);
  if (write_fd_ >= 0) ::close(write_fd_);
  ::unlink(path_.c_str());
}

std::optional<std::string> LineFifo::ReadLine(std::chrono::milliseconds limit) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (true) {
    const auto newline = buffer_.find('\n');
    if (newline != std::string::npos) {
      std::string line = buffer_.substr(0, newline);
      buffer_.erase(0, newline + 1);
      return line;
    }
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() < 0) return std::nullopt;
    pollfd p{read_fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
    char buf[4096];
    const ssize_t n = ::read(read_fd_, buf, sizeof buf);
    if (n > 0) buffer_.append(buf, static_cast<std::size_t>(n));
  }
}

bool WaitForExit(pid_t pid, std::chrono::milliseconds limit) {
  const int fd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
  if (fd < 0) return errno == ESRCH;  // already gone
  pollfd p{fd, POLLIN, 0};            // readable once the process has terminated
  const bool exited = ::poll(&p, 1, static_cast<int>(limit.count())) > 0;
  ::close(fd);
  return exited;
}

bool WaitForDirectoryChange(const std::string& dir, const std::function<bool()>& done,
                            std::chrono::milliseconds limit, pid_t or_exit_of) {
  const int fd = ::inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
  ::inotify_add_watch(fd, dir.c_str(), IN_CREATE | IN_MODIFY | IN_CLOSE_WRITE | IN_MOVED_TO);
  const int process =
      or_exit_of > 0 ? static_cast<int>(::syscall(SYS_pidfd_open, or_exit_of, 0)) : -1;
  const auto deadline = std::chrono::steady_clock::now() + limit;
  bool result = done();
  while (!result) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() < 0) break;
    pollfd p[2] = {{fd, POLLIN, 0}, {process, POLLIN, 0}};
    if (::poll(p, process >= 0 ? 2 : 1, static_cast<int>(left.count())) > 0) {
      char events[4096];
      while (::read(fd, events, sizeof events) > 0) {
      }
      if (process >= 0 && (p[1].revents & POLLIN) != 0) {
        result = done();
        break;  // the process ended: nothing more will come
      }
    }
    result = done();
  }
  ::close(fd);
  if (process >= 0) ::close(process);
  return result;
}

namespace {

// What exec takes: pointers into `strings` (which must outlive them) and a
// terminating null.
std::vector<char*> ExecArray(std::vector<std::string>& strings) {
  std::vector<char*> out;
  out.reserve(strings.size() + 1);
  for (std::string& s : strings) out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

// fork() rather than posix_spawn, for PR_SET_PDEATHSIG: the child is killed
// when the test process dies, since a child left behind by a crashed test
// that holds ctest's pipes makes ctest wait for the full timeout. In the
// child, only async-signal-safe calls may follow.
pid_t ForkTiedToThisProcess() {
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) _exit(127);  // the parent died before prctl
  }
  return pid;
}

}  // namespace

pid_t SpawnServer(const std::vector<std::string>& args, const std::vector<std::string>& env,
                  int fd3) {
  std::vector<std::string> args_copy = args;
  std::vector<std::string> env_copy = env;
  std::vector<char*> argv = ExecArray(args_copy);
  std::vector<char*> envp = ExecArray(env_copy);
  const pid_t pid = ForkTiedToThisProcess();
  if (pid == 0) {
    if (fd3 == 3) {
      ::fcntl(3, F_SETFD, 0);  // dup2 onto itself would keep close-on-exec
    } else if (fd3 >= 0 && ::dup2(fd3, 3) != 3) {
      _exit(127);
    }
    const int null_fd = ::open("/dev/null", O_RDWR);
    if (null_fd < 0) _exit(127);
    for (int fd = 0; fd <= 2; ++fd) ::dup2(null_fd, fd);
    if (null_fd > 2 && !(fd3 >= 0 && null_fd == 3)) ::close(null_fd);
    ::execve(argv[0], argv.data(), envp.data());
    _exit(127);
  }
  return pid;
}

ChildProcess SpawnWithOutput(const std::vector<std::string>& args) {
  ChildProcess child;
  int fds[2];
  // Close-on-exec: only the dup2 at fd 1 reaches the child, so a daemon the
  // child starts does not keep our pipe open.
  if (::pipe2(fds, O_CLOEXEC) != 0) return child;
  std::vector<std::string> copy = args;
  std::vector<char*> argv = ExecArray(copy);
  child.pid = ForkTiedToThisProcess();
  if (child.pid == 0) {
    ::dup2(fds[1], 1);
    ::execv(argv[0], argv.data());
    _exit(127);
  }
  ::close(fds[1]);
  if (child.pid < 0) {
    ::close(fds[0]);
    return child;
  }
  child.out = ::fdopen(fds[0], "r");
  return child;
}

int Reap(ChildProcess& child) {
  int status = 0;
  if (child.pid > 0) ::waitpid(child.pid, &status, 0);
  if (child.out != nullptr) std::fclose(child.out);
  child = ChildProcess();
  return status;
}

int RunProgram(const std::vector<std::string>& args, std::string* output) {
  ChildProcess child = SpawnWithOutput(args);
  if (child.pid < 0) return -1;
  char buf[4096];
  std::size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, child.out)) > 0) {
    if (output != nullptr) output->append(buf, n);
  }
  const int status = Reap(child);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

int RunProgramAs(unsigned uid, unsigned gid, const std::vector<std::string>& args,
                 const std::vector<std::string>& env, std::string* output) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return -1;
  std::vector<std::string> argv_copy = args;
  std::vector<std::string> env_copy = env;
  std::vector<char*> argv = ExecArray(argv_copy);
  std::vector<char*> envp = ExecArray(env_copy);
  const pid_t pid = ::fork();
  if (pid < 0) return -1;
  if (pid == 0) {
    ::dup2(fds[1], 1);
    if (::setgroups(0, nullptr) != 0 || ::setgid(gid) != 0 || ::setuid(uid) != 0) _exit(126);
    ::execve(argv[0], argv.data(), envp.data());
    _exit(127);
  }
  ::close(fds[1]);
  char buf[4096];
  ssize_t n;
  while ((n = ::read(fds[0], buf, sizeof buf)) > 0) {
    if (output != nullptr) output->append(buf, static_cast<std::size_t>(n));
  }
  ::close(fds[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

}  // namespace openbits::testing
