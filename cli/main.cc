// Copyright (c) openbits authors. Licensed under the Apache License 2.0.

#include <strings.h>

#include <cstring>
#include <iostream>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "platform/secret_buffer.h"

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  // /setcredentials job target scheme user password: overwrite the password
  // in our own argument memory so that ps and /proc/PID/cmdline stop
  // showing it once we run (BITSAdmin has the same exposure before that).
  for (int i = 1; i + 5 < argc; ++i) {
    if (strcasecmp(argv[i], "/setcredentials") == 0) {
      openbits::platform::Cleanse(argv[i + 5], std::strlen(argv[i + 5]));
      break;
    }
  }
  int rc = openbits::cli::RunBitsadmin(args, std::cout, std::cerr);
  for (std::string& a : args) openbits::platform::Cleanse(a);
  return rc;
}
