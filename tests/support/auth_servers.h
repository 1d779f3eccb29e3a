// Copyright (c) openbits authors. Licensed under the Apache License 2.0.
//
// Real servers for authentication tests, started on free loopback ports with
// their state in a temporary directory and stopped by PID
// (../shared/reference/test-rig.md has the configurations they follow):
//   ApacheServer  Basic at /basic/, Digest at /digest/, nothing at /public/;
//   SquidServer   a forward proxy asking for Basic and/or Digest, plus an
//                 unauthenticated port.
// Every user is in kUsers; readiness is read from the server's own log
// (inotify), never by sleeping.

#ifndef OPENBITS_TESTS_SUPPORT_AUTH_SERVERS_H_
#define OPENBITS_TESTS_SUPPORT_AUTH_SERVERS_H_

#include <memory>
#include <string>
#include <sys/types.h>
#include <utility>
#include <vector>

#include "tests/support/test_support.h"

namespace openbits::testing {

// User names and passwords every fixture accepts.
inline const std::vector<std::pair<std::string, std::string>> kUsers = {{"alice", "alicepw"},
                                                                        {"bob", "Bob-Pass-2"}};

// A free TCP port on 127.0.0.1 (bound and released; the caller binds it).
int FreeLoopbackPort();

class KdcServer;

// An MIT Kerberos KDC for a throwaway realm, with principals for kUsers and
// HTTP/localhost, HTTP/127.0.0.1. Sets KRB5_CONFIG for this process (the
// client side of the tests reads it) and restores it when destroyed.
class KdcServer {
 public:
  static constexpr const char* kRealm = "OPENBITS.TEST";
  // `clock_ahead_s` > 0 runs the KDC that many seconds in the future
  // (libfaketime) and turns off the clients' KDC time correction, as on a
  // machine whose clock has drifted.
  explicit KdcServer(int clock_ahead_s = 0);
  ~KdcServer();
  KdcServer(const KdcServer&) = delete;
  KdcServer& operator=(const KdcServer&) = delete;

  bool ok() const { return pid_ > 0; }
  const std::string& error() const { return error_; }
  const std::string& krb5_config() const { return krb5_config_; }
  // A keytab with the HTTP principals readable by `group` (www-data, proxy).
  std::string KeytabFor(const std::string& group) const;
  // Gets `user`'s ticket with `password` into the credential cache `ccache`
  // ("FILE:/path"). True on success.
  bool Kinit(const std::string& user, const std::string& password, const std::string& ccache) const;

 private:
  TempDir dir_;
  std::string krb5_config_;
  std::string saved_krb5_config_;
  bool had_krb5_config_ = false;
  pid_t pid_ = -1;
  std::string error_;
};

class ApacheServer {
 public:
  // Also /negotiate/ (Kerberos through mod_auth_gssapi) and /ntlm/ (NTLMSSP,
  // offered as both Negotiate and NTLM; users TESTDOM\<user>) when given a
  // KDC, and then a forward proxy on proxy_port() (GET and CONNECT) that
  // asks for the same NTLMSSP: gss-ntlmssp refuses libcurl's own NTLM, so
  // only an NTLMSSP client from GSSAPI gets through; and on
  // closing_proxy_port() a forward proxy that asks for Kerberos and closes
  // the connection after every answer, its 407s included.
  explicit ApacheServer(const KdcServer* kdc = nullptr);
  ~ApacheServer();
  ApacheServer(const ApacheServer&) = delete;
  ApacheServer& operator=(const ApacheServer&) = delete;

  bool ok() const { return pid_ > 0; }
  const std::string& error() const { return error_; }
  int port() const { return port_; }
  int proxy_port() const { return proxy_port_; }
  std::string ProxyAddress() const { return "127.0.0.1:" + std::to_string(proxy_port_); }
  int closing_proxy_port() const { return closing_proxy_port_; }
  // The document root: /basic, /digest and /public live under it.
  const std::string& root() const { return root_; }
  std::string Url(const std::string& path) const;

  struct LogEntry {
    int status = 0;
    std::string uri;   // the whole URL for a proxied GET, host:port for CONNECT
    std::string user;  // "-" when none was authenticated
  };
  std::vector<LogEntry> AccessLog() const;

 private:
  TempDir dir_;
  std::string root_;
  int port_ = 0;
  int proxy_port_ = 0;
  int closing_proxy_port_ = 0;
  pid_t pid_ = -1;
  std::string error_;
};

class SquidServer {
 public:
  // `schemes`, offered in this order: "negotiate" (Kerberos; needs `kdc`),
  // "ntlm" (squid's ntlm_fake_auth: the handshake is real, the password is
  // not checked), "digest", "basic".
  // With `origin_port`, also a reverse-proxy (accelerator) port in front of
  // http://127.0.0.1:origin_port that asks for the same schemes as *server*
  // authentication (401, WWW-Authenticate).
  explicit SquidServer(std::vector<std::string> schemes, const KdcServer* kdc = nullptr,
                       int origin_port = 0);
  ~SquidServer();
  SquidServer(const SquidServer&) = delete;
  SquidServer& operator=(const SquidServer&) = delete;

  bool ok() const { return pid_ > 0; }
  const std::string& error() const { return error_; }
  // The port that asks for proxy authentication.
  int port() const { return port_; }
  // A port of the same proxy that asks for nothing.
  int open_port() const { return open_port_; }
  std::string ProxyAddress() const { return "127.0.0.1:" + std::to_string(port_); }
  // The reverse-proxy port (0 without an origin).
  int accel_port() const { return accel_port_; }

  struct LogEntry {
    std::string result;  // "TCP_MISS/200", "TCP_DENIED/407", "TCP_TUNNEL/200"
    std::string method;  // GET, CONNECT
    std::string url;
    std::string user;  // "-" when none
  };
  std::vector<LogEntry> AccessLog() const;

 private:
  TempDir dir_;
  std::string name_;
  int port_ = 0;
  int open_port_ = 0;
  int accel_port_ = 0;
  pid_t pid_ = -1;
  std::string error_;
};

// A throwaway PKI made with the openssl command (test-rig.md §3): a CA that
// issues server certificates (good, expired, for another host, for client
// use only, revoked: ca.crl lists it) and client certificates; a second,
// untrusted CA; the client certificate also as client.p12 protected by
// kP12Password. Every file is <name>.crt / <name>.key in dir().
class TestPki {
 public:
  static constexpr const char* kP12Password = "p12-Secret-9";
  // `crl_url`: the CRL distribution point written into server certificates.
  explicit TestPki(const std::string& crl_url);
  bool ok() const { return error_.empty(); }
  const std::string& error() const { return error_; }
  const std::string& dir() const { return dir_.path(); }
  std::string operator/(const std::string& name) const { return dir_ / name; }

 private:
  TempDir dir_;
  std::string error_;
};

// Apache with mod_ssl on loopback, one port per case; /public/hello.txt on
// each. Every HTTPS port presents a certificate of `pki`.
class ApacheTlsServer {
 public:
  enum Port {
    kRequire,     // SSLVerifyClient require (TLS 1.2 and 1.3)
    kRequire12,   // the same, TLS 1.2 only
    kOptional,    // SSLVerifyClient optional
    kPlain,       // no client authentication; /hop and /tohttp redirect
    kExpired,     // an expired server certificate
    kWrongHost,   // a certificate for wrong.example
    kUnknownCa,   // a certificate from the untrusted CA
    kWrongUsage,  // a certificate for client authentication only
    kRevoked,     // a certificate that ca.crl revokes
    // /certreq requires and /certopt accepts a client certificate after the
    // handshake: TLS 1.3 post-handshake authentication, and over TLS 1.2
    // renegotiation.
    kPerLocation,
    kPerLocation12,
    kPortCount
  };
  ApacheTlsServer();
  ~ApacheTlsServer();
  ApacheTlsServer(const ApacheTlsServer&) = delete;
  ApacheTlsServer& operator=(const ApacheTlsServer&) = delete;

  bool ok() const { return pid_ > 0; }
  const std::string& error() const { return error_; }
  const TestPki& pki() const { return *pki_; }
  // https://127.0.0.1:PORT/path (or https://localhost:... for kWrongHost's
  // counterpart tests, use UrlFor with a host).
  std::string Url(Port port, const std::string& path) const;
  // http://127.0.0.1:PORT/path on the plain HTTP port (serves /crl/ca.crl).
  std::string HttpUrl(const std::string& path) const;
  const std::string& root() const { return root_; }

  struct LogEntry {
    int status = 0;
    std::string uri;
    std::string client_cn;  // "-" when no certificate was verified
  };
  std::vector<LogEntry> AccessLog() const;

 private:
  TempDir dir_;
  std::unique_ptr<TestPki> pki_;
  std::string root_;
  int http_port_ = 0;
  int ports_[kPortCount] = {};
  pid_t pid_ = -1;
  std::string error_;
};

}  // namespace openbits::testing

#endif  // OPENBITS_TESTS_SUPPORT_AUTH_SERVERS_H_
