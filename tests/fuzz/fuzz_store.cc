// Copyright (c) openbits authors. Licensed under the Apache License 2.0.
//
// The queue loader on a damaged database file: a clear error, never a crash.

#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "store/store.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const std::string path = [] {
    const char* tmp = std::getenv("TMPDIR");
    std::string pattern = std::string(tmp != nullptr ? tmp : "/tmp") + "/openbits-fuzz-XXXXXX";
    return std::string(::mkdtemp(pattern.data())) + "/queue.db";
  }();
  for (const char* suffix : {"", "-wal", "-shm", "-journal"}) ::unlink((path + suffix).c_str());
  if (std::FILE* f = std::fopen(path.c_str(), "wb")) {
    std::fwrite(data, 1, size, f);
    std::fclose(f);
  }
  auto store = openbits::store::Store::Open(path);
  if (store.ok()) {
    (void)(*store)->LoadJobs();
    (void)(*store)->LoadVaultValues();
  }
  return 0;
}
