// Copyright (c) openbits authors. Licensed under the Apache License 2.0.
//
// openbits-proxy-resolver: answers "which proxies for this URL" with
// libproxy, one line per request on stdin (the URL), one line per answer on
// stdout (the proxies separated by blanks). The engine starts it with the
// environment libproxy should read (platform/posix/proxy_resolver_posix.cc).
// It exits when stdin closes or its parent dies.

#include <grp.h>
#include <proxy.h>
#include <pwd.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <string>
#include <sys/prctl.h>

namespace {

// A PAC script is code from the network: never run it as root.
bool DropRoot() {
  if (::geteuid() != 0) return true;
  const passwd* nobody = ::getpwnam("nobody");
  if (nobody == nullptr) return false;
  return ::setgroups(0, nullptr) == 0 && ::setgid(nobody->pw_gid) == 0 &&
         ::setuid(nobody->pw_uid) == 0 && ::setuid(0) != 0;
}

bool Printable(const std::string& s) {
  for (char c : s) {
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f) return false;
  }
  return !s.empty();
}

}  // namespace

int main() {
#if defined(__linux__)
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (::getppid() == 1) return 1;  // the parent is already gone
#endif
  if (!DropRoot()) {
    std::fprintf(stderr, "openbits-proxy-resolver: cannot drop root privileges\n");
    return 1;
  }
  pxProxyFactory* factory = px_proxy_factory_new();
  if (factory == nullptr) {
    std::fprintf(stderr, "openbits-proxy-resolver: libproxy did not start\n");
    return 1;
  }
  std::string url;
  while (std::getline(std::cin, url)) {
    std::string answer;
    char** proxies = Printable(url) ? px_proxy_factory_get_proxies(factory, url.c_str()) : nullptr;
    if (proxies == nullptr) {
      answer = "error libproxy could not resolve the URL";
    } else {
      for (char** p = proxies; *p != nullptr; ++p) {
        if (!Printable(*p)) continue;  // never let a PAC answer break the protocol
        if (!answer.empty()) answer += ' ';
        answer += *p;
      }
      px_proxy_factory_free_proxies(proxies);
      if (answer.empty()) answer = "direct://";
    }
    std::cout << answer << '\n' << std::flush;
  }
  px_proxy_factory_free(factory);
  return 0;
}
