// Copyright (c) openbits authors. Licensed under the Apache License 2.0.

#include "engine/write_queue.h"

#include <future>
#include <utility>

#include <boost/asio/post.hpp>

#include "platform/file_system.h"

namespace openbits::engine {

namespace {
// Kept for reuse, at most 6 MiB each: the small chunks of a full gathering
// plus those filling, and the large chunks one transfer may have queued (a
// checkpoint, 4 MiB) plus one filling. The memory stays with the process.
constexpr std::size_t kPooledSmall = 96;
constexpr std::size_t kPooledLarge = 12;
// Gathered small writes go to the write thread at this count or size.
constexpr std::size_t kGatheredWrites = 64;
constexpr std::size_t kGatheredBytes = 2 << 20;
}  // namespace

WriteQueue::WriteQueue() = default;

WriteQueue::~WriteQueue() { Join(); }

WriteChunk WriteQueue::TakeChunk(bool large) {
  WriteChunk chunk;
  chunk.capacity = large ? WriteChunk::kLargeBytes : WriteChunk::kSmallBytes;
  {
    std::lock_guard lock(pool_mutex_);
    auto& pool = large ? large_pool_ : small_pool_;
    if (!pool.empty()) {
      chunk.data = std::move(pool.back());
      pool.pop_back();
    }
  }
  if (!chunk.data) chunk.data = std::make_unique<char[]>(chunk.capacity);
  return chunk;
}

void WriteQueue::GiveBack(WriteChunk chunk) {
  if (!chunk.data) return;
  const bool large = chunk.capacity == WriteChunk::kLargeBytes;
  std::lock_guard lock(pool_mutex_);
  auto& pool = large ? large_pool_ : small_pool_;
  if (pool.size() < (large ? kPooledLarge : kPooledSmall)) pool.push_back(std::move(chunk.data));
}

void WriteQueue::Perform(PendingWrite& write) {
  WriteTarget& target = *write.target;
  const WriteChunk& chunk = write.chunk;
  if (target.error.ok()) {
    target.error = platform::WriteAt(*target.fd, chunk.data.get(), chunk.size, write.offset);
    if (target.error.ok()) {
      target.end = write.offset + chunk.size;
      if (chunk.size == WriteChunk::kLargeBytes) {
        platform::StartWriteback(*target.fd, write.offset, chunk.size);
      }
    }
  }
  GiveBack(std::move(write.chunk));
}

void WriteQueue::Write(std::shared_ptr<WriteTarget> target, std::uint64_t offset,
                       WriteChunk chunk) {
  const bool full_large = chunk.size == WriteChunk::kLargeBytes;
  gathered_bytes_ += chunk.size;
  gathered_.push_back(PendingWrite{std::move(target), offset, std::move(chunk)});
  if (full_large || gathered_.size() >= kGatheredWrites || gathered_bytes_ >= kGatheredBytes) {
    Post(nullptr);
  }
}

void WriteQueue::Post(std::function<void()> then) {
  if (gathered_.empty() && !then) return;
  posted_.fetch_add(1, std::memory_order_relaxed);
  boost::asio::post(thread_,
                    [this, writes = std::move(gathered_), then = std::move(then)]() mutable {
                      for (PendingWrite& w : writes) Perform(w);
                      // Before `then`: a Drain it releases must not wait again.
                      posted_.fetch_sub(1, std::memory_order_release);
                      if (then) then();
                    });
  gathered_.clear();
  gathered_bytes_ = 0;
}

void WriteQueue::After(std::function<void()> then) { Post(std::move(then)); }

void WriteQueue::Drain() {
  if (joined_) return;  // nothing runs any more; Join() ran what was queued
  // Acquire: the writes of every finished task are visible to the caller.
  if (gathered_.empty() && posted_.load(std::memory_order_acquire) == 0) return;
  std::promise<void> done;
  std::future<void> drained = done.get_future();
  Post([&done] { done.set_value(); });
  drained.wait();
}

void WriteQueue::Join() {
  if (!joined_) Post(nullptr);
  joined_ = true;
  thread_.join();
}

}  // namespace openbits::engine
