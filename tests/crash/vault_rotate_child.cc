// Copyright (c) openbits authors. Licensed under the Apache License 2.0.
//
// Rotates the vault key of a queue database over and over, printing
// "rotated N" after each rotation, until it is killed (rotation_crash_test).

#include <cstdio>

#include "platform/key_protector.h"
#include "store/store.h"
#include "store/vault.h"

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: %s QUEUE_DB KEY_DIR\n", argv[0]);
    return 2;
  }
  auto store = openbits::store::Store::Open(argv[1]);
  if (!store.ok()) return 1;
  auto vault = openbits::store::Vault::Open(**store, openbits::platform::NewKeyProtector(argv[2]));
  if (!vault.ok()) return 1;
  for (unsigned long n = 1; n < 1000000; ++n) {
    const openbits::Status st = (*vault)->RotateKey();
    if (!st.ok()) {
      std::fprintf(stderr, "rotation failed: %s\n", st.ToString().c_str());
      return 1;
    }
    std::printf("rotated %lu\n", n);
    std::fflush(stdout);
  }
  return 0;
}
