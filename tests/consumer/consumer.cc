// Copyright (c) openbits authors. Licensed under the Apache License 2.0.
// Opens a queue, creates a job, and checks BITS's defaults: proof that the
// installed headers and libraries are complete.

#include <cstdio>
#include <cstdlib>
#include <string>

#include "openbits/openbits.h"

int main(int argc, char** argv) {
  if (argc != 2) return 2;
  openbits::ManagerOptions options;
  options.state_directory = argv[1];
  auto manager = openbits::Manager::Open(options);
  if (!manager.ok()) {
    std::fprintf(stderr, "%s\n", manager.status().ToString().c_str());
    return 1;
  }
  auto job = (*manager)->CreateJob("consumer");
  if (!job.ok()) return 1;
  const bool defaults = (*job)->GetState() == openbits::JobState::kSuspended &&
                        (*job)->GetMinimumRetryDelay() == 600 &&
                        (*job)->Resume().code() == openbits::kBgEEmpty;
  std::printf("%s %s\n", (*job)->GetId().ToString().c_str(), defaults ? "ok" : "wrong");
  return defaults ? 0 : 1;
}
