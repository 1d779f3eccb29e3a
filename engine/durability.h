// Copyright (c) openbits authors. Licensed under the Apache License 2.0.
//
// Durability of finished files: the group commit that makes a completion
// durable. Small files finish every fraction of a millisecond, and a sync
// per file would cost more than the download, so finished files are synced
// in batches and each batch's completions are committed in one transaction.
// The order is always write -> sync -> commit: the write thread hands the
// batch on once the files' last bytes are written, the sync thread syncs
// them, and only then, on the engine thread, does the sink commit. The
// store never claims a byte that is not on disk.
//
// A batch starts when `max_files` wait, when the oldest has waited
// `window`, or at once when someone waits for it (Hurry); files finished
// while a batch syncs join the next one. Engine thread only.

#ifndef OPENBITS_ENGINE_DURABILITY_H_
#define OPENBITS_ENGINE_DURABILITY_H_

#include <chrono>
#include <cstdint>
#include <functional>
#include <future>
#include <memory>
#include <optional>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>

#include "openbits/status.h"

#include "engine/job_data.h"
#include "engine/write_queue.h"
#include "platform/file_system.h"
#include "store/records.h"

namespace openbits::engine {

// A file whose last byte was written or queued, waiting to become durable.
struct FinishedFile {
  std::weak_ptr<JobData> job;
  std::shared_ptr<WriteTarget> target;  // the open file, and how its writes went
  store::FileRecord file;               // completed
  std::uint16_t run = 0;                // the job's run that finished it
};

// How a finished file ended up.
struct SettledFile {
  // Its completion is committed (ok), or why not.
  Status status;
  // With a failure: the bytes of the file that are durable nonetheless (a
  // write failed after them); 0 when its sync failed.
  std::uint64_t kept = 0;
  // Ok, and given its published form (PrepareForPublishing).
  bool published = false;
};

// Where completions go: the engine (the store and the jobs).
class CompletionSink {
 public:
  virtual ~CompletionSink() = default;
  // Whether `file` still counts: its job neither left, nor restarted or
  // replaced the file since it finished. Asked before the commit.
  virtual bool Wanted(const FinishedFile& file) = 0;
  // Commits the completions of `files` (wanted, and durable) in one
  // transaction.
  virtual Status Commit(const std::vector<const FinishedFile*>& files) = 0;
  // `file` is settled, after the commit. `wanted` is Wanted's answer.
  virtual void Settled(const FinishedFile& file, bool wanted, const SettledFile& how) = 0;
};

// The disk operations of a batch; tests replace them to inject faults.
struct BatchDiskOps {
  std::function<std::vector<Status>(const std::vector<const platform::ScopedFd*>&)> sync;
  std::function<Status(const platform::ScopedFd&, const store::FileRecord&)> prepare;
  // platform::SyncDataOfFiles and PrepareForPublishing with the usual mode.
  static BatchDiskOps Real();
};

struct BatchPolicy {
  std::size_t max_files = 64;
  // A crash loses at most this window's completions (the files are fetched
  // again), as with a checkpoint.
  std::chrono::milliseconds window{20};
};

class FinishedFileBatcher {
 public:
  FinishedFileBatcher(boost::asio::io_context& io, WriteQueue& writes,
                      boost::asio::thread_pool& sync_pool, CompletionSink& sink,
                      BatchDiskOps disk = BatchDiskOps::Real(), BatchPolicy policy = {});
  FinishedFileBatcher(const FinishedFileBatcher&) = delete;
  FinishedFileBatcher& operator=(const FinishedFileBatcher&) = delete;

  // Queues `file` for the next batch.
  void Add(FinishedFile file);

  // Someone waits for the waiting files: the next batch starts as soon as
  // the one in flight (if any) is settled.
  void Hurry();

  // Shutdown: waits for the batch in flight, then syncs and settles the
  // waiting files on this thread, so that a clean stop loses no
  // completion. No batch starts by itself afterwards.
  void Flush();

  // Files added and not settled yet.
  std::size_t waiting() const;

 private:
  struct Batch;
  void MaybeStart(bool urgent);
  void Start();
  std::shared_ptr<Batch> TakeWaiting();
  // The batch's writes are done (write thread).
  static void CollectWrites(Batch& batch);
  // Syncs the batch's files (any thread, after CollectWrites).
  void Sync(Batch& batch) const;
  // Commits and settles the batch (engine thread).
  void OnSynced(const std::shared_ptr<Batch>& batch);

  boost::asio::io_context& io_;
  WriteQueue& writes_;
  boost::asio::thread_pool& sync_pool_;
  CompletionSink& sink_;
  BatchDiskOps disk_;
  BatchPolicy policy_;
  std::vector<FinishedFile> waiting_;
  std::shared_ptr<Batch> in_flight_;
  std::optional<boost::asio::steady_timer> window_timer_;
  bool urgent_ = false;
  bool flushing_ = false;
};

}  // namespace openbits::engine

#endif  // OPENBITS_ENGINE_DURABILITY_H_
