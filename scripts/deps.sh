#!/bin/bash
# Installs what openbits needs to build and test on Debian 12, and nothing
# when it is all there already. Used by scripts/demo.sh and scripts/test.sh.
set -euo pipefail

PACKAGES=(
  build-essential cmake ninja-build ccache pkg-config git
  libcurl4-openssl-dev libboost1.81-dev libsqlite3-dev libssl-dev libkrb5-dev
  # proxy discovery: libproxy and its PAC runner (platform/proxy_resolver.h)
  libproxy-dev libproxy1-plugin-webkit
  libgtest-dev libgmock-dev
  nlohmann-json3-dev
  nginx curl ca-certificates openssl clang-format
  # authentication test servers (tests/support/auth_servers)
  apache2 libapache2-mod-auth-gssapi squid krb5-kdc krb5-admin-server krb5-user gss-ntlmssp
  libfaketime  # a KDC whose clock is ahead (the clock-skew test)
  # compile-checks platform/windows/ (tests/CMakeLists.txt)
  g++-mingw-w64-x86-64-posix
  # bench/run compares against these (its smoke run is in the test suite)
  aria2 wget gnuplot-nox time
  # tests/fuzz (libFuzzer)
  clang-14
)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if ((${#missing[@]} > 0)); then
  echo "deps: installing ${missing[*]}"
  SUDO=""
  if [[ $(id -u) -ne 0 ]]; then SUDO="sudo"; fi
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  # The packaged nginx service is not used (tests start their own servers
  # on free loopback ports); keep it from being started by the install.
  if [[ ! -e /usr/sbin/policy-rc.d ]]; then
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d > /dev/null
    $SUDO chmod +x /usr/sbin/policy-rc.d
    trap '$SUDO rm -f /usr/sbin/policy-rc.d' EXIT
  fi
  # libssl3 too: Debian's apache2 mod_ssl refuses an older libssl3 than the
  # one it was built against, and an image may ship an older one.
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" libssl3
fi
