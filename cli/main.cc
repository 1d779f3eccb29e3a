// Copyright (c) openbits authors. Licensed under the Apache License 2.0.

#include <iostream>
#include <string>
#include <vector>

#include "cli/commands.h"

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  return openbits::cli::RunBitsadmin(args, std::cout, std::cerr);
}
