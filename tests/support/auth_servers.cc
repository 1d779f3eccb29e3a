// Copyright (c) openbits authors. Licensed under the Apache License 2.0.

#include "tests/support/auth_servers.h"

#include <pwd.h>
#include <signal.h>
#include <spawn.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <atomic>
#include <fstream>
#include <netinet/in.h>
#include <sstream>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <openssl/evp.h>

extern char** environ;

namespace openbits::testing {
namespace {

std::string ReadAll(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

std::string Md5Hex(const std::string& text) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(text.data(), text.size(), digest, &len, EVP_md5(), nullptr);
  static const char hex[] = "0123456789abcdef";
  std::string out;
  for (unsigned i = 0; i < len; ++i) {
    out += hex[digest[i] >> 4];
    out += hex[digest[i] & 15];
  }
  return out;
}

// Writes an htpasswd file (apr1-MD5, read by Apache and squid) and an
// htdigest file for `realm`.
bool WritePasswordFiles(const std::string& htpasswd, const std::string& htdigest,
                        const std::string& realm) {
  bool first = true;
  for (const auto& [user, password] : kUsers) {
    std::string ignored;
    std::vector<std::string> args = {"/usr/bin/htpasswd", "-b", "-m"};
    if (first) args.push_back("-c");
    args.insert(args.end(), {htpasswd, user, password});
    if (RunProgram(args, &ignored) != 0) return false;
    first = false;
  }
  std::ofstream digest(htdigest);
  for (const auto& [user, password] : kUsers) {
    digest << user << ":" << realm << ":" << Md5Hex(user + ":" + realm + ":" + password) << "\n";
  }
  return static_cast<bool>(digest);
}

// Starts `argv` with our environment plus `extra_env`; -1 on failure.
pid_t Spawn(const std::vector<std::string>& args, const std::vector<std::string>& extra_env = {}) {
  std::vector<std::string> env = extra_env;
  for (char** e = environ; *e != nullptr; ++e) env.emplace_back(*e);
  return SpawnServer(args, env);
}

bool Run(const std::vector<std::string>& args, std::string* output = nullptr) {
  std::string ignored;
  return RunProgram(args, output != nullptr ? output : &ignored) == 0;
}

// Waits until `log` contains `needle` `count` times, or `pid` exits.
bool WaitForLog(pid_t pid, const std::string& dir, const std::string& log,
                const std::string& needle, int count) {
  bool exited = false;
  const bool found = WaitForDirectoryChange(
      dir,
      [&] {
        int status = 0;
        if (::waitpid(pid, &status, WNOHANG) == pid) exited = true;
        const std::string text = ReadAll(log);
        int seen = 0;
        for (std::size_t at = text.find(needle); at != std::string::npos;
             at = text.find(needle, at + 1)) {
          ++seen;
        }
        return exited || seen >= count;
      },
      std::chrono::seconds(30), pid);
  return found && !exited;
}

uid_t UserId(const char* name, gid_t* gid) {
  passwd* pw = ::getpwnam(name);
  if (pw == nullptr) return static_cast<uid_t>(-1);
  *gid = pw->pw_gid;
  return pw->pw_uid;
}

}  // namespace

int FreeLoopbackPort() {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  int port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    port = ntohs(addr.sin_port);
  }
  ::close(fd);
  return port;
}

// --- KDC --------------------------------------------------------------------

KdcServer::KdcServer(int clock_ahead_s) {
  const std::string d = dir_.path();
  ::chmod(d.c_str(), 0755);
  const int port = FreeLoopbackPort();
  krb5_config_ = d + "/krb5.conf";
  {
    std::ofstream conf(krb5_config_);
    conf << "[libdefaults]\n  default_realm = " << kRealm << "\n"
         << "  dns_lookup_kdc = false\n  dns_lookup_realm = false\n"
         << "  dns_canonicalize_hostname = false\n  rdns = false\n"
         << "  udp_preference_limit = 1\n  ticket_lifetime = 10h\n"
         << (clock_ahead_s > 0 ? "  kdc_timesync = 0\n" : "") << "[realms]\n  " << kRealm
         << " = {\n    kdc = 127.0.0.1:" << port << "\n  }\n"
         << "[domain_realm]\n  localhost = " << kRealm << "\n  127.0.0.1 = " << kRealm << "\n"
         << "[logging]\n  kdc = FILE:" << d << "/kdc.log\n  default = FILE:" << d
         << "/krb5lib.log\n";
    std::ofstream kdc(d + "/kdc.conf");
    kdc << "[kdcdefaults]\n  kdc_listen = 127.0.0.1:" << port
        << "\n  kdc_tcp_listen = 127.0.0.1:" << port << "\n"
        << "[realms]\n  " << kRealm << " = {\n    database_name = " << d << "/principal\n"
        << "    key_stash_file = " << d << "/stash\n    acl_file = " << d << "/kadm5.acl\n"
        << "    supported_enctypes = aes256-cts-hmac-sha1-96:normal "
           "aes128-cts-hmac-sha1-96:normal\n  }\n";
    std::ofstream(d + "/kadm5.acl") << "*/admin@" << kRealm << " *\n";
  }
  const char* old = std::getenv("KRB5_CONFIG");
  had_krb5_config_ = old != nullptr;
  if (had_krb5_config_) saved_krb5_config_ = old;
  ::setenv("KRB5_CONFIG", krb5_config_.c_str(), 1);
  ::setenv("KRB5_KDC_PROFILE", (d + "/kdc.conf").c_str(), 1);
  bool made = Run({"/usr/sbin/kdb5_util", "create", "-s", "-r", kRealm, "-P", "masterpw"});
  for (const auto& [user, password] : kUsers) {
    made = made && Run({"/usr/sbin/kadmin.local", "-r", kRealm, "-q",
                        "addprinc -pw " + password + " " + user});
  }
  for (const char* service : {"HTTP/localhost", "HTTP/127.0.0.1"}) {
    made = made && Run({"/usr/sbin/kadmin.local", "-r", kRealm, "-q",
                        std::string("addprinc -randkey ") + service});
  }
  made = made && Run({"/usr/sbin/kadmin.local", "-r", kRealm, "-q",
                      "ktadd -k " + d + "/http.keytab HTTP/localhost HTTP/127.0.0.1"});
  if (!made) {
    error_ = "cannot create the Kerberos realm (are krb5-kdc and krb5-admin-server installed?)";
    return;
  }
  std::vector<std::string> env;
  if (clock_ahead_s > 0) {
    const char* faketime = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1";
    if (::access(faketime, R_OK) != 0) {
      error_ = std::string("cannot run the KDC with a skewed clock: no ") + faketime +
               " (install libfaketime)";
      return;
    }
    env = {std::string("LD_PRELOAD=") + faketime, "FAKETIME=+" + std::to_string(clock_ahead_s)};
  }
  const pid_t pid = Spawn({"/usr/sbin/krb5kdc", "-n", "-P", d + "/kdc.pid"}, env);
  if (pid < 0) {
    error_ = "cannot start krb5kdc";
    return;
  }
  if (WaitForLog(pid, d, d + "/kdc.log", "commencing operation", 1)) {
    pid_ = pid;
  } else {
    ::kill(pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
    error_ = "krb5kdc did not start: " + ReadAll(d + "/kdc.log");
  }
}

KdcServer::~KdcServer() {
  if (pid_ > 0) {
    ::kill(pid_, SIGTERM);
    ::waitpid(pid_, nullptr, 0);
  }
  if (had_krb5_config_) {
    ::setenv("KRB5_CONFIG", saved_krb5_config_.c_str(), 1);
  } else {
    ::unsetenv("KRB5_CONFIG");
  }
  ::unsetenv("KRB5_KDC_PROFILE");
}

std::string KdcServer::KeytabFor(const std::string& group) const {
  const std::string path = dir_ / ("http-" + group + ".keytab");
  if (!Run({"/usr/bin/install", "-m", "640", "-o", "root", "-g", group, dir_ / "http.keytab",
            path})) {
    return {};
  }
  return path;
}

bool KdcServer::Kinit(const std::string& user, const std::string& password,
                      const std::string& ccache) const {
  // MIT kinit reads the password from stdin when it is not a terminal.
  std::string ignored;
  return RunProgram({"/bin/sh", "-c",
                     "printf '%s\\n' \"$0\" | /usr/bin/kinit -c \"$1\" \"$2\" >/dev/null 2>&1",
                     password, ccache, user},
                    &ignored) == 0;
}

// --- Apache -----------------------------------------------------------------

ApacheServer::ApacheServer(const KdcServer* kdc) {
  const std::string d = dir_.path();
  ::chmod(d.c_str(), 0755);  // the workers run as www-data
  root_ = d + "/www";
  for (const char* sub : {"/www", "/www/basic", "/www/digest", "/www/public", "/www/negotiate",
                          "/www/ntlm", "/logs", "/run", "/rcache"}) {
    ::mkdir((d + sub).c_str(), 0755);
  }
  gid_t www_gid = 0;
  const uid_t www_uid = UserId("www-data", &www_gid);
  if (::chown((d + "/rcache").c_str(), www_uid, www_gid) != 0) {
    error_ = "cannot give the replay cache to www-data";
    return;
  }
  std::string keytab;
  std::vector<std::string> env;
  if (kdc != nullptr) {
    keytab = kdc->KeytabFor("www-data");
    std::ofstream users(d + "/ntlm_users");
    for (const auto& [user, password] : kUsers)
      users << "TESTDOM:" << user << ":" << password << "\n";
    env = {"KRB5_CONFIG=" + kdc->krb5_config(), "KRB5RCACHEDIR=" + d + "/rcache",
           "NTLM_USER_FILE=" + d + "/ntlm_users", "NETBIOS_COMPUTER_NAME=OPENBITSHOST",
           "NETBIOS_DOMAIN_NAME=TESTDOM"};
  }
  if (!WritePasswordFiles(d + "/htpasswd", d + "/htdigest", "openbits-digest")) {
    error_ = "cannot write the password files (is apache2-utils installed?)";
    return;
  }
  for (int attempt = 0; attempt < 5 && pid_ < 0; ++attempt) {
    port_ = FreeLoopbackPort();
    proxy_port_ = kdc != nullptr ? FreeLoopbackPort() : 0;
    closing_proxy_port_ = kdc != nullptr ? FreeLoopbackPort() : 0;
    std::ofstream conf(d + "/httpd.conf");
    conf << "ServerRoot /usr/lib/apache2\n"
         << "ServerName localhost\n"
         << "DefaultRuntimeDir " << d << "/run\n"
         << "PidFile " << d << "/run/httpd.pid\n"
         << "Mutex file:" << d << "/run default\n"
         << "ErrorLog " << d << "/logs/error.log\n"
         << "LogLevel warn\n"
         << "User www-data\nGroup www-data\n"
         << "LoadModule mpm_event_module modules/mod_mpm_event.so\n"
         << "LoadModule authn_core_module modules/mod_authn_core.so\n"
         << "LoadModule authn_file_module modules/mod_authn_file.so\n"
         << "LoadModule authz_core_module modules/mod_authz_core.so\n"
         << "LoadModule authz_user_module modules/mod_authz_user.so\n"
         << "LoadModule auth_basic_module modules/mod_auth_basic.so\n"
         << "LoadModule auth_digest_module modules/mod_auth_digest.so\n"
         << "LoadModule mime_module modules/mod_mime.so\n"
         << "StartServers 1\nServerLimit 2\nThreadsPerChild 16\nMaxRequestWorkers 32\n"
         << "MinSpareThreads 8\nMaxSpareThreads 32\n"
         << "TypesConfig /etc/mime.types\n"
         << "LogFormat \"%>s %U %u\" openbits\n"
         << "CustomLog " << d << "/logs/access.log openbits\n"
         << "DocumentRoot " << root_ << "\n"
         << "<Directory " << root_ << ">\n  Require all granted\n  Options None\n"
         << "  AllowOverride None\n</Directory>\n"
         << "Listen 127.0.0.1:" << port_ << "\n"
         << "<Location /basic>\n  AuthType Basic\n  AuthName \"openbits-basic\"\n"
         << "  AuthBasicProvider file\n  AuthUserFile " << d << "/htpasswd\n"
         << "  Require valid-user\n</Location>\n"
         << "<Location /digest>\n  AuthType Digest\n  AuthName \"openbits-digest\"\n"
         << "  AuthDigestDomain /digest/\n  AuthDigestProvider file\n"
         << "  AuthUserFile " << d << "/htdigest\n  Require valid-user\n</Location>\n";
    if (kdc != nullptr) {
      conf << "LoadModule auth_gssapi_module modules/mod_auth_gssapi.so\n"
           << "<Location /negotiate>\n  AuthType GSSAPI\n  AuthName \"openbits-negotiate\"\n"
           << "  GssapiCredStore keytab:" << keytab << "\n  GssapiAllowedMech krb5\n"
           << "  Require valid-user\n</Location>\n"
           << "<Location /ntlm>\n  AuthType GSSAPI\n  AuthName \"openbits-ntlm\"\n"
           << "  GssapiAllowedMech ntlmssp\n  GssapiConnectionBound On\n"
           << "  Require valid-user\n</Location>\n"
           << "LoadModule proxy_module modules/mod_proxy.so\n"
           << "LoadModule proxy_http_module modules/mod_proxy_http.so\n"
           << "LoadModule proxy_connect_module modules/mod_proxy_connect.so\n"
           << "LoadModule setenvif_module modules/mod_setenvif.so\n";
      // Forward proxies (GET and CONNECT) that ask for GSSAPI.
      auto forward_proxy = [&](int port, const std::string& host_directives,
                               const std::string& gssapi_directives) {
        conf << "Listen 127.0.0.1:" << port << "\n<VirtualHost 127.0.0.1:" << port << ">\n"
             << "  ProxyRequests On\n  AllowCONNECT 1-65535\n"
             << host_directives << "  <Proxy \"*\">\n    AuthType GSSAPI\n"
             << "    AuthName \"openbits-proxy\"\n"
             << gssapi_directives << "    Require valid-user\n  </Proxy>\n</VirtualHost>\n";
      };
      forward_proxy(proxy_port_, "",
                    "    GssapiAllowedMech ntlmssp\n    GssapiConnectionBound On\n");
      // Kerberos, and the connection closed after every answer, the 407s
      // included.
      // (SetEnvIf in a virtual host runs before authentication, so the 407s
      // close too.)
      forward_proxy(closing_proxy_port_, "  SetEnvIf Request_Method . nokeepalive\n",
                    "    GssapiCredStore keytab:" + keytab + "\n    GssapiAllowedMech krb5\n");
    }
    conf.close();
    const pid_t pid = Spawn({"/usr/sbin/apache2", "-f", d + "/httpd.conf", "-DFOREGROUND"}, env);
    if (pid < 0) {
      error_ = "cannot start apache2 (is it installed?)";
      return;
    }
    if (WaitForLog(pid, d + "/logs", d + "/logs/error.log", "resuming normal operations", 1)) {
      pid_ = pid;
    } else {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, nullptr, 0);
      error_ = "apache2 did not start: " + ReadAll(d + "/logs/error.log");
    }
  }
}

ApacheServer::~ApacheServer() {
  if (pid_ > 0) {
    ::kill(pid_, SIGTERM);
    ::waitpid(pid_, nullptr, 0);
  }
}

std::string ApacheServer::Url(const std::string& path) const {
  return "http://127.0.0.1:" + std::to_string(port_) + path;
}

std::vector<ApacheServer::LogEntry> ApacheServer::AccessLog() const {
  std::vector<LogEntry> out;
  std::istringstream lines(ReadAll(dir_ / "logs/access.log"));
  std::string line;
  while (std::getline(lines, line)) {
    LogEntry e;
    std::istringstream in(line);
    in >> e.status >> e.uri >> e.user;
    out.push_back(e);
  }
  return out;
}

// --- squid ------------------------------------------------------------------

SquidServer::SquidServer(std::vector<std::string> schemes, const KdcServer* kdc, int origin_port) {
  static std::atomic<int> instances{0};
  name_ = "openbitstest" + std::to_string(::getpid()) + "x" + std::to_string(++instances);
  const std::string d = dir_.path();
  ::chmod(d.c_str(), 0755);  // squid runs as proxy
  gid_t proxy_gid = 0;
  const uid_t proxy_uid = UserId("proxy", &proxy_gid);
  for (const char* sub : {"/logs", "/run", "/rcache"}) {
    ::mkdir((d + sub).c_str(), 0755);
    if (::chown((d + sub).c_str(), proxy_uid, proxy_gid) != 0) {
      error_ = "cannot give the squid directories to user proxy";
      return;
    }
  }
  if (!WritePasswordFiles(d + "/htpasswd", d + "/htdigest", "openbits-proxy")) {
    error_ = "cannot write the password files (is apache2-utils installed?)";
    return;
  }
  for (int attempt = 0; attempt < 5 && pid_ < 0; ++attempt) {
    port_ = FreeLoopbackPort();
    open_port_ = FreeLoopbackPort();
    std::ofstream conf(d + "/squid.conf");
    conf << "http_port 127.0.0.1:" << port_ << "\n"
         << "http_port 127.0.0.1:" << open_port_ << "\n"
         << "visible_hostname localhost\n"
         << "pid_filename " << d << "/run/squid.pid\n"
         << "cache_log " << d << "/logs/cache.log\n"
         << "access_log stdio:" << d << "/logs/access.log\n"
         << "cache_store_log none\ncoredump_dir " << d << "/run\n"
         << "cache_effective_user proxy\npinger_enable off\n"
         << "dns_nameservers 127.0.0.1\nudp_incoming_address 127.0.0.1\n"
         << "udp_outgoing_address 127.0.0.1\nshutdown_lifetime 0 seconds\n"
         << "cache deny all\ncache_mem 8 MB\n"
         << "logfile_rotate 0\nstrip_query_terms off\n";
    std::vector<std::string> env;
    for (const std::string& scheme : schemes) {
      if (scheme == "negotiate" && kdc != nullptr) {
        conf << "auth_param negotiate program /usr/lib/squid/negotiate_kerberos_auth -k "
             << kdc->KeytabFor("proxy") << " -s GSS_C_NO_NAME -c " << d << "/rcache\n"
             << "auth_param negotiate children 2 startup=1 idle=1\n"
             << "auth_param negotiate keep_alive on\n";
        env = {"KRB5_CONFIG=" + kdc->krb5_config(), "KRB5RCACHEDIR=" + d + "/rcache"};
      } else if (scheme == "ntlm") {
        conf << "auth_param ntlm program /usr/lib/squid/ntlm_fake_auth\n"
             << "auth_param ntlm children 2 startup=1 idle=1\n"
             << "auth_param ntlm keep_alive on\n";
      } else if (scheme == "digest") {
        conf << "auth_param digest program /usr/lib/squid/digest_file_auth -c " << d
             << "/htdigest\n"
             << "auth_param digest children 2 startup=1 idle=1\n"
             << "auth_param digest realm openbits-proxy\n";
      } else if (scheme == "basic") {
        conf << "auth_param basic program /usr/lib/squid/basic_ncsa_auth " << d << "/htpasswd\n"
             << "auth_param basic children 2 startup=1 idle=1\n"
             << "auth_param basic realm openbits-proxy\n"
             << "auth_param basic credentialsttl 5 seconds\n";
      }
    }
    if (origin_port != 0) {
      accel_port_ = FreeLoopbackPort();
      conf << "http_port 127.0.0.1:" << accel_port_
           << " accel defaultsite=127.0.0.1:" << origin_port << " no-vhost\n"
           << "cache_peer 127.0.0.1 parent " << origin_port
           << " 0 no-query originserver name=origin\n"
           << "acl accel_port localport " << accel_port_ << "\n"
           << "cache_peer_access origin allow accel_port\n"
           << "cache_peer_access origin deny all\n"
           << "never_direct allow accel_port\n";
    }
    conf << "acl loopback_dst dst 127.0.0.0/8 ::1\n"
         << "acl open_port localport " << open_port_ << "\n"
         << "acl authed proxy_auth REQUIRED\n"
         << "http_access deny !loopback_dst\n"
         << "http_access allow open_port\n"
         << "http_access allow authed\n"
         << "http_access deny all\n";
    conf.close();
    const pid_t pid = Spawn({"/usr/sbin/squid", "-N", "-n", name_, "-f", d + "/squid.conf"}, env);
    if (pid < 0) {
      error_ = "cannot start squid (is it installed?)";
      return;
    }
    if (WaitForLog(pid, d + "/logs", d + "/logs/cache.log", "Accepting",
                   origin_port != 0 ? 3 : 2)) {
      pid_ = pid;
    } else {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, nullptr, 0);
      error_ = "squid did not start: " + ReadAll(d + "/logs/cache.log");
    }
  }
}

SquidServer::~SquidServer() {
  if (pid_ > 0) {
    // SIGTERM waits a whole event tick; SIGKILL is immediate, and the
    // helpers exit when their pipes close.
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
  }
  std::string ignored;
  RunProgram({"/bin/sh", "-c", "rm -f /dev/shm/" + name_ + "-*"}, &ignored);
}

std::vector<SquidServer::LogEntry> SquidServer::AccessLog() const {
  // squid writes its access log in batches. A marker request sent now is
  // logged after every transaction that ended before it: once the marker
  // is in the file, so is everything a test did before asking.
  static std::atomic<int> markers{0};
  const std::string marker = "/openbits-log-marker-" + std::to_string(++markers);
  {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(static_cast<std::uint16_t>(open_port_));
    if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) {
      // Port 1 refuses at once: squid answers 503 and logs the request.
      const std::string request = "GET http://127.0.0.1:1" + marker + " HTTP/1.0\r\n\r\n";
      if (::write(fd, request.data(), request.size()) > 0) {
        char buf[4096];
        while (::read(fd, buf, sizeof buf) > 0) {
        }
      }
    }
    ::close(fd);
  }
  const std::string log = dir_ / "logs/access.log";
  WaitForDirectoryChange(
      dir_ / "logs", [&] { return ReadAll(log).find(marker) != std::string::npos; },
      std::chrono::seconds(30));
  std::vector<LogEntry> out;
  std::istringstream lines(ReadAll(log));
  std::string line;
  while (std::getline(lines, line)) {
    // time elapsed client result bytes method url user hierarchy type
    std::istringstream in(line);
    std::string time, elapsed, client, bytes;
    LogEntry e;
    in >> time >> elapsed >> client >> e.result >> bytes >> e.method >> e.url >> e.user;
    out.push_back(e);
  }
  return out;
}

}  // namespace openbits::testing

namespace openbits::testing {

TestPki::TestPki(const std::string& crl_url) {
  const std::string d = dir_.path();
  ::chmod(d.c_str(), 0755);  // Apache's workers read the certificates
  ::mkdir((d + "/newcerts").c_str(), 0755);
  { std::ofstream(d + "/index.txt"); }
  { std::ofstream(d + "/serial") << "1000\n"; }
  { std::ofstream(d + "/crlnumber") << "1000\n"; }
  std::ofstream conf(d + "/ca.cnf");
  conf << "[ ca ]\ndefault_ca = test_ca\n"
       << "[ test_ca ]\ndir = " << d << "\ndatabase = $dir/index.txt\n"
       << "new_certs_dir = $dir/newcerts\nserial = $dir/serial\ncrlnumber = $dir/crlnumber\n"
       << "certificate = $dir/ca.crt\nprivate_key = $dir/ca.key\ndefault_md = sha256\n"
       << "policy = policy_any\ndefault_days = 3\ndefault_crl_days = 3\nunique_subject = no\n"
       << "[ policy_any ]\ncommonName = supplied\norganizationName = optional\n"
       << "[ server_ext ]\nbasicConstraints = CA:FALSE\n"
       << "keyUsage = critical,digitalSignature,keyEncipherment\n"
       << "extendedKeyUsage = serverAuth\nsubjectAltName = DNS:localhost,IP:127.0.0.1\n"
       << "crlDistributionPoints = URI:" << crl_url << "\n"
       << "[ wronghost_ext ]\nbasicConstraints = CA:FALSE\n"
       << "keyUsage = critical,digitalSignature,keyEncipherment\n"
       << "extendedKeyUsage = serverAuth\nsubjectAltName = DNS:wrong.example\n"
       << "crlDistributionPoints = URI:" << crl_url << "\n"
       << "[ wrongusage_ext ]\nbasicConstraints = CA:FALSE\n"
       << "keyUsage = critical,digitalSignature,keyEncipherment\n"
       << "extendedKeyUsage = clientAuth\nsubjectAltName = DNS:localhost,IP:127.0.0.1\n"
       << "crlDistributionPoints = URI:" << crl_url << "\n"
       << "[ client_ext ]\nbasicConstraints = CA:FALSE\n"
       << "keyUsage = critical,digitalSignature\nextendedKeyUsage = clientAuth\n";
  conf.close();
  const std::string openssl = "/usr/bin/openssl";
  auto key_and_csr = [&](const std::string& name, const std::string& subject) {
    return std::vector<std::string>{openssl,
                                    "req",
                                    "-newkey",
                                    "ec",
                                    "-pkeyopt",
                                    "ec_paramgen_curve:prime256v1",
                                    "-nodes",
                                    "-keyout",
                                    d + "/" + name + ".key",
                                    "-out",
                                    d + "/" + name + ".csr",
                                    "-subj",
                                    subject};
  };
  auto self_signed_ca = [&](const std::string& name, const std::string& subject) {
    return std::vector<std::string>{openssl,
                                    "req",
                                    "-x509",
                                    "-newkey",
                                    "ec",
                                    "-pkeyopt",
                                    "ec_paramgen_curve:prime256v1",
                                    "-nodes",
                                    "-keyout",
                                    d + "/" + name + ".key",
                                    "-out",
                                    d + "/" + name + ".crt",
                                    "-days",
                                    "3",
                                    "-subj",
                                    subject,
                                    "-addext",
                                    "basicConstraints=critical,CA:TRUE",
                                    "-addext",
                                    "keyUsage=critical,keyCertSign,cRLSign"};
  };
  auto sign = [&](const std::string& name, const std::string& extensions,
                  std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {openssl,       "ca",
                                     "-batch",      "-notext",
                                     "-config",     d + "/ca.cnf",
                                     "-extensions", extensions,
                                     "-in",         d + "/" + name + ".csr",
                                     "-out",        d + "/" + name + ".crt"};
    args.insert(args.end(), extra.begin(), extra.end());
    return args;
  };
  auto rogue_sign = [&](const std::string& name, const std::string& extensions) {
    return std::vector<std::string>{openssl,
                                    "x509",
                                    "-req",
                                    "-in",
                                    d + "/" + name + ".csr",
                                    "-CA",
                                    d + "/rogue-ca.crt",
                                    "-CAkey",
                                    d + "/rogue-ca.key",
                                    "-CAcreateserial",
                                    "-days",
                                    "3",
                                    "-extfile",
                                    d + "/ca.cnf",
                                    "-extensions",
                                    extensions,
                                    "-out",
                                    d + "/" + name + ".crt"};
  };
  const std::vector<std::vector<std::string>> steps = {
      self_signed_ca("ca", "/CN=openbits TLS test CA"),
      self_signed_ca("rogue-ca", "/CN=openbits rogue CA"),
      key_and_csr("server", "/CN=localhost"),
      sign("server", "server_ext"),
      key_and_csr("expired", "/CN=localhost"),
      sign("expired", "server_ext",
           {"-startdate", "20200101000000Z", "-enddate", "20200102000000Z"}),
      key_and_csr("wronghost", "/CN=wrong.example"),
      sign("wronghost", "wronghost_ext"),
      key_and_csr("wrongusage", "/CN=localhost"),
      sign("wrongusage", "wrongusage_ext"),
      key_and_csr("revoked", "/CN=localhost"),
      sign("revoked", "server_ext"),
      key_and_csr("unknownca", "/CN=localhost"),
      rogue_sign("unknownca", "server_ext"),
      key_and_csr("client", "/CN=openbits-client/O=openbits tests"),
      sign("client", "client_ext"),
      key_and_csr("client-expired", "/CN=openbits-old-client/O=openbits tests"),
      sign("client-expired", "client_ext",
           {"-startdate", "20200101000000Z", "-enddate", "20200102000000Z"}),
      key_and_csr("rogue-client", "/CN=openbits-rogue-client"),
      rogue_sign("rogue-client", "client_ext"),
      {openssl, "ca", "-config", d + "/ca.cnf", "-revoke", d + "/revoked.crt"},
      {openssl, "ca", "-config", d + "/ca.cnf", "-gencrl", "-out", d + "/ca.crl"},
      {openssl, "pkcs12", "-export", "-in", d + "/client.crt", "-inkey", d + "/client.key",
       "-certfile", d + "/ca.crt", "-out", d + "/client.p12", "-passout",
       std::string("pass:") + kP12Password},
  };
  for (const auto& step : steps) {
    // openssl reports on stderr: kept with stdout, shown only on failure.
    std::vector<std::string> quiet = {"/bin/sh", "-c", "exec \"$0\" \"$@\" 2>&1"};
    quiet.insert(quiet.end(), step.begin(), step.end());
    std::string output;
    if (RunProgram(quiet, &output) != 0) {
      error_ = "openssl failed: " + step[1] + " " + step.back() + ": " + output;
      return;
    }
  }
  Run({"/bin/sh", "-c", "chmod 644 " + d + "/*"});
}

ApacheTlsServer::ApacheTlsServer() {
  const std::string d = dir_.path();
  ::chmod(d.c_str(), 0755);
  root_ = d + "/www";
  for (const char* sub : {"/www", "/www/public", "/www/crl", "/logs", "/run"}) {
    ::mkdir((d + sub).c_str(), 0755);
  }
  { std::ofstream(root_ + "/public/hello.txt") << "hello over TLS\n"; }
  for (int attempt = 0; attempt < 5 && pid_ < 0; ++attempt) {
    http_port_ = FreeLoopbackPort();
    for (int& port : ports_) port = FreeLoopbackPort();
    pki_ = std::make_unique<TestPki>(HttpUrl("/crl/ca.crl"));
    if (!pki_->ok()) {
      error_ = pki_->error();
      return;
    }
    Run({"/bin/cp", *pki_ / "ca.crl", root_ + "/crl/ca.crl"});
    const TestPki& pki = *pki_;
    std::ofstream conf(d + "/httpd.conf");
    conf << "ServerRoot /usr/lib/apache2\nServerName localhost\n"
         << "DefaultRuntimeDir " << d << "/run\nPidFile " << d << "/run/httpd.pid\n"
         << "Mutex file:" << d << "/run default\nErrorLog " << d << "/logs/error.log\n"
         << "LogLevel warn\nUser www-data\nGroup www-data\n"
         << "LoadModule mpm_event_module modules/mod_mpm_event.so\n"
         << "LoadModule authz_core_module modules/mod_authz_core.so\n"
         << "LoadModule mime_module modules/mod_mime.so\n"
         << "LoadModule alias_module modules/mod_alias.so\n"
         << "LoadModule socache_shmcb_module modules/mod_socache_shmcb.so\n"
         << "LoadModule ssl_module modules/mod_ssl.so\n"
         << "StartServers 1\nServerLimit 2\nThreadsPerChild 16\nMaxRequestWorkers 32\n"
         << "MinSpareThreads 8\nMaxSpareThreads 32\nTypesConfig /etc/mime.types\n"
         << "SSLSessionCache shmcb:" << d << "/run/ssl_scache(512000)\n"
         << "SSLRandomSeed startup builtin\n"
         << "LogFormat \"%>s %U %{SSL_CLIENT_S_DN_CN}x\" openbits\n"
         << "CustomLog " << d << "/logs/access.log openbits\n"
         << "DocumentRoot " << root_ << "\n"
         << "<Directory " << root_ << ">\n  Require all granted\n  Options None\n"
         << "  AllowOverride None\n</Directory>\n"
         << "Listen 127.0.0.1:" << http_port_ << "\n";
    struct Vhost {
      Port port;
      const char* cert;
      const char* client_auth;  // "" none
      bool tls12_only;
    };
    const Vhost vhosts[] = {
        {kRequire, "server", "require", false},   {kRequire12, "server", "require", true},
        {kOptional, "server", "optional", false}, {kPlain, "server", "", false},
        {kExpired, "expired", "", false},         {kWrongHost, "wronghost", "", false},
        {kUnknownCa, "unknownca", "", false},     {kWrongUsage, "wrongusage", "", false},
        {kRevoked, "revoked", "", false},         {kPerLocation, "server", "", false},
        {kPerLocation12, "server", "", true},
    };
    for (const Vhost& v : vhosts) {
      const int port = ports_[v.port];
      conf << "Listen 127.0.0.1:" << port << "\n<VirtualHost 127.0.0.1:" << port << ">\n"
           << "  SSLEngine on\n  SSLCertificateFile " << pki / (std::string(v.cert) + ".crt")
           << "\n  SSLCertificateKeyFile " << pki / (std::string(v.cert) + ".key") << "\n";
      if (v.client_auth[0] != '\0') {
        conf << "  SSLCACertificateFile " << pki / "ca.crt"
             << "\n  SSLVerifyClient " << v.client_auth << "\n  SSLVerifyDepth 2\n";
      }
      if (v.tls12_only) conf << "  SSLProtocol -all +TLSv1.2\n";
      if (v.port == kPerLocation || v.port == kPerLocation12) {
        conf << "  SSLCACertificateFile " << pki / "ca.crt"
             << "\n  SSLVerifyDepth 2\n"
             << "  <Location /certreq>\n    SSLVerifyClient require\n  </Location>\n"
             << "  <Location /certopt>\n    SSLVerifyClient optional\n  </Location>\n"
             << "  Alias /certreq " << root_ << "/public\n"
             << "  Alias /certopt " << root_ << "/public\n";
      }
      if (v.port == kPlain) {
        conf << "  Redirect 302 /hop /public/hello.txt\n"
             << "  Redirect 302 /tohttp http://127.0.0.1:" << http_port_ << "/public/hello.txt\n";
      }
      conf << "</VirtualHost>\n";
    }
    conf.close();
    const pid_t pid = Spawn({"/usr/sbin/apache2", "-f", d + "/httpd.conf", "-DFOREGROUND"});
    if (pid < 0) {
      error_ = "cannot start apache2 (is it installed?)";
      return;
    }
    if (WaitForLog(pid, d + "/logs", d + "/logs/error.log", "resuming normal operations", 1)) {
      pid_ = pid;
      error_.clear();
    } else {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, nullptr, 0);
      error_ = "apache2 did not start: " + ReadAll(d + "/logs/error.log");
    }
  }
}

ApacheTlsServer::~ApacheTlsServer() {
  if (pid_ > 0) {
    ::kill(pid_, SIGTERM);
    ::waitpid(pid_, nullptr, 0);
  }
}

std::string ApacheTlsServer::Url(Port port, const std::string& path) const {
  return "https://127.0.0.1:" + std::to_string(ports_[port]) + path;
}

std::string ApacheTlsServer::HttpUrl(const std::string& path) const {
  return "http://127.0.0.1:" + std::to_string(http_port_) + path;
}

std::vector<ApacheTlsServer::LogEntry> ApacheTlsServer::AccessLog() const {
  std::vector<LogEntry> out;
  std::istringstream lines(ReadAll(dir_ / "logs/access.log"));
  std::string line;
  while (std::getline(lines, line)) {
    LogEntry e;
    std::istringstream fields(line);
    fields >> e.status >> e.uri;
    std::getline(fields >> std::ws, e.client_cn);
    out.push_back(std::move(e));
  }
  return out;
}

}  // namespace openbits::testing
