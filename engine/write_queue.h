// Copyright (c) openbits authors. Licensed under the Apache License 2.0.
//
// Body bytes go to disk on a thread of their own, so that the engine thread
// receives the next bytes while the last ones are written: two cores instead
// of one for every download.

#ifndef OPENBITS_ENGINE_WRITE_QUEUE_H_
#define OPENBITS_ENGINE_WRITE_QUEUE_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <vector>

#include <boost/asio/thread_pool.hpp>

#include "openbits/status.h"

#include "platform/file_system.h"

namespace openbits::engine {

// One file's writes as the write thread sees them. `error` is the first
// write that failed; later writes to the file are skipped. Read and written
// only on the write thread, and by whoever waited for Drain().
struct WriteTarget {
  std::shared_ptr<platform::ScopedFd> fd;
  Status error;
  std::uint64_t end = 0;  // the file's bytes are all written up to here
};

// Bytes waiting to be written: a buffer of `capacity`, `size` of it used.
// A file's first chunk is small (most files are); the next ones are large.
struct WriteChunk {
  static constexpr std::size_t kSmallBytes = 64 * 1024;
  static constexpr std::size_t kLargeBytes = 512 * 1024;
  std::unique_ptr<char[]> data;
  std::size_t capacity = 0;
  std::size_t size = 0;
  std::size_t room() const { return capacity - size; }
};

// Used by the engine thread (Take, Write, After, Drain) and the write thread.
class WriteQueue {
 public:
  WriteQueue();
  WriteQueue(const WriteQueue&) = delete;
  WriteQueue& operator=(const WriteQueue&) = delete;
  // Finishes every queued write first.
  ~WriteQueue();

  // An empty chunk of kSmallBytes or kLargeBytes. Buffers are reused: a
  // fresh one costs a page fault per page written into it.
  WriteChunk TakeChunk(bool large);

  // Writes `chunk` at `offset` of `target`, after every write queued before
  // (for any file). A full large chunk goes to the write thread at once (and
  // its writeback is started, so the kernel flushes a big file as it
  // arrives); smaller ones wait for the next of these calls, for After() or
  // Drain(), or until enough have gathered, so that the write thread wakes
  // once for many small files rather than once for each.
  void Write(std::shared_ptr<WriteTarget> target, std::uint64_t offset, WriteChunk chunk);

  // Runs `then` on the write thread once every write queued before is done:
  // a sync handed on from there covers them.
  void After(std::function<void()> then);

  // Blocks until every write queued before is done (at once after Join(),
  // or when nothing is queued or running).
  void Drain();

  // Stops the thread after the queued work (Engine::Shutdown).
  void Join();

 private:
  struct PendingWrite {
    std::shared_ptr<WriteTarget> target;
    std::uint64_t offset = 0;
    WriteChunk chunk;
  };
  // Posts the gathered writes, then `then` if given, as one task.
  void Post(std::function<void()> then);
  void Perform(PendingWrite& write);
  void GiveBack(WriteChunk chunk);

  std::vector<PendingWrite> gathered_;  // engine thread
  std::size_t gathered_bytes_ = 0;
  std::atomic<bool> joined_{false};
  // Tasks posted to the write thread and not finished yet: a Drain with
  // none spares the round trip to that thread.
  std::atomic<std::size_t> posted_{0};
  std::mutex pool_mutex_;
  std::vector<std::unique_ptr<char[]>> small_pool_;
  std::vector<std::unique_ptr<char[]>> large_pool_;
  boost::asio::thread_pool thread_{1};
};

}  // namespace openbits::engine

#endif  // OPENBITS_ENGINE_WRITE_QUEUE_H_
