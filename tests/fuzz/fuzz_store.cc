// Copyright (c) openbits authors. Licensed under the Apache License 2.0.
//
// The queue loader on a damaged database file: a clear error, never a crash.

#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include <sqlite3.h>

#include "store/store.h"

// SQLite's allocations bypass ASan's allocator: Debian builds SQLite without
// lookaside, so every row and parser node is a malloc, and ASan's bookkeeping
// for them was half the run. SQLite itself is not instrumented, so nothing is
// lost: our code's buffers still come from ASan.
extern "C" void* __libc_malloc(std::size_t);
extern "C" void* __libc_realloc(void*, std::size_t);
extern "C" void __libc_free(void*);

namespace {

constexpr std::size_t kHeader = 16;  // keeps SQLite's 8-byte alignment

void* SqliteMalloc(int n) {
  auto* p = static_cast<std::uint8_t*>(__libc_malloc(static_cast<std::size_t>(n) + kHeader));
  if (p == nullptr) return nullptr;
  *reinterpret_cast<int*>(p) = n;
  return p + kHeader;
}
void SqliteFree(void* p) {
  if (p != nullptr) __libc_free(static_cast<std::uint8_t*>(p) - kHeader);
}
void* SqliteRealloc(void* p, int n) {
  if (p == nullptr) return SqliteMalloc(n);
  auto* q = static_cast<std::uint8_t*>(__libc_realloc(static_cast<std::uint8_t*>(p) - kHeader,
                                                      static_cast<std::size_t>(n) + kHeader));
  if (q == nullptr) return nullptr;
  *reinterpret_cast<int*>(q) = n;
  return q + kHeader;
}
int SqliteSize(void* p) { return *reinterpret_cast<int*>(static_cast<std::uint8_t*>(p) - kHeader); }
int SqliteRoundup(int n) { return (n + 7) & ~7; }
int SqliteInit(void*) { return SQLITE_OK; }
void SqliteShutdown(void*) {}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  static const sqlite3_mem_methods methods = {SqliteMalloc,  SqliteFree, SqliteRealloc,  SqliteSize,
                                              SqliteRoundup, SqliteInit, SqliteShutdown, nullptr};
  if (sqlite3_config(SQLITE_CONFIG_MALLOC, &methods) != SQLITE_OK) std::abort();
  return 0;
}

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
