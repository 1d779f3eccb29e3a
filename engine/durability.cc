// Copyright (c) openbits authors. Licensed under the Apache License 2.0.

#include "engine/durability.h"

#include <boost/asio/post.hpp>

#include "openbits/hresult.h"

#include "engine/file_transfer.h"
#include "platform/system.h"

namespace openbits::engine {

struct FinishedFileBatcher::Batch {
  std::vector<FinishedFile> files;
  std::vector<Status> written;  // set on the write thread, after the files' writes
  std::vector<Status> synced;   // set by the sync thread
  // Of a file whose write failed: its bytes before the failure, synced.
  std::vector<std::uint64_t> kept;
  std::vector<bool> published;  // ditto: prepared for publishing
  std::promise<void> done;
  bool handled = false;  // engine thread: OnSynced ran
};

BatchDiskOps BatchDiskOps::Real() {
  BatchDiskOps ops;
  ops.sync = platform::SyncDataOfFiles;
  ops.prepare = [mode = platform::DefaultFileMode()](const platform::ScopedFd& fd,
                                                     const store::FileRecord& file) {
    return PrepareForPublishing(fd, file, mode);
  };
  return ops;
}

FinishedFileBatcher::FinishedFileBatcher(boost::asio::io_context& io, WriteQueue& writes,
                                         boost::asio::thread_pool& sync_pool, CompletionSink& sink,
                                         BatchDiskOps disk, BatchPolicy policy)
    : io_(io),
      writes_(writes),
      sync_pool_(sync_pool),
      sink_(sink),
      disk_(std::move(disk)),
      policy_(policy) {}

void FinishedFileBatcher::Add(FinishedFile file) {
  waiting_.push_back(std::move(file));
  MaybeStart(false);
}

void FinishedFileBatcher::Hurry() { MaybeStart(true); }

std::size_t FinishedFileBatcher::waiting() const {
  return waiting_.size() + (in_flight_ ? in_flight_->files.size() : 0);
}

void FinishedFileBatcher::MaybeStart(bool urgent) {
  urgent_ = urgent_ || urgent;
  if (flushing_ || in_flight_ || waiting_.empty()) return;
  if (urgent_ || waiting_.size() >= policy_.max_files) {
    Start();
    return;
  }
  if (window_timer_) return;  // armed by an earlier file
  window_timer_.emplace(io_, policy_.window);
  window_timer_->async_wait([this](const boost::system::error_code& ec) {
    if (ec) return;
    window_timer_.reset();
    MaybeStart(true);
  });
}

void FinishedFileBatcher::Start() {
  if (window_timer_) {
    window_timer_->cancel();
    window_timer_.reset();
  }
  urgent_ = false;
  auto batch = TakeWaiting();
  in_flight_ = batch;
  // The write thread hands the batch on once the files' last bytes are
  // written, so the sync covers them.
  writes_.After([this, batch] {
    CollectWrites(*batch);
    boost::asio::post(sync_pool_, [this, &io = io_, batch] {
      Sync(*batch);
      // From here on Flush may return and the batcher go: no member is
      // touched on this thread after it, nor by the handler once the batch
      // was settled.
      batch->done.set_value();
      boost::asio::post(io, [this, batch] {
        if (!batch->handled) OnSynced(batch);
      });
    });
  });
}

std::shared_ptr<FinishedFileBatcher::Batch> FinishedFileBatcher::TakeWaiting() {
  auto batch = std::make_shared<Batch>();
  batch->files = std::move(waiting_);
  waiting_.clear();
  return batch;
}

void FinishedFileBatcher::CollectWrites(Batch& batch) {
  const std::size_t n = batch.files.size();
  batch.written.clear();
  batch.written.reserve(n);
  batch.kept.assign(n, 0);
  for (std::size_t i = 0; i < n; ++i) {
    batch.written.push_back(batch.files[i].target->error);
    if (!batch.written.back().ok()) batch.kept[i] = batch.files[i].target->end;
  }
}

void FinishedFileBatcher::Sync(Batch& batch) const {
  const std::size_t n = batch.files.size();
  std::vector<const platform::ScopedFd*> fds;
  fds.reserve(n);
  for (const FinishedFile& f : batch.files) fds.push_back(f.target->fd.get());
  batch.synced = disk_.sync(fds);
  batch.synced.resize(n, Status(kEFail, "the file was not synced"));
  for (std::size_t i = 0; i < n; ++i) {
    if (!batch.synced[i].ok()) batch.kept[i] = 0;
    if (!batch.written[i].ok()) batch.synced[i] = batch.written[i];  // the bytes never got there
  }
  // Ready to be renamed by Complete(), and closed, here on the sync thread
  // rather than on the engine thread.
  batch.published.assign(n, false);
  for (std::size_t i = 0; i < n; ++i) {
    if (batch.synced[i].ok()) {
      batch.published[i] = disk_.prepare(*batch.files[i].target->fd, batch.files[i].file).ok();
    }
    batch.files[i].target.reset();
  }
}

void FinishedFileBatcher::Flush() {
  flushing_ = true;
  if (window_timer_) window_timer_->cancel();
  if (in_flight_) {
    in_flight_->done.get_future().wait();
    OnSynced(in_flight_);
  }
  if (waiting_.empty()) return;
  auto batch = TakeWaiting();
  writes_.Drain();
  CollectWrites(*batch);
  Sync(*batch);
  OnSynced(batch);
}

void FinishedFileBatcher::OnSynced(const std::shared_ptr<Batch>& batch_ref) {
  // Owned here: the caller may pass in_flight_ itself, reset below.
  const std::shared_ptr<Batch> batch = batch_ref;
  if (batch->handled) return;  // Flush got there first
  batch->handled = true;
  if (in_flight_ == batch) in_flight_.reset();
  const std::vector<FinishedFile>& files = batch->files;
  std::vector<bool> wanted(files.size(), false);
  std::vector<const FinishedFile*> durable;
  durable.reserve(files.size());
  for (std::size_t i = 0; i < files.size(); ++i) {
    wanted[i] = sink_.Wanted(files[i]);
    if (wanted[i] && batch->synced[i].ok()) durable.push_back(&files[i]);
  }
  const Status committed = durable.empty() ? Status::Ok() : sink_.Commit(durable);
  for (std::size_t i = 0; i < files.size(); ++i) {
    SettledFile how;
    how.status = batch->synced[i].ok() ? committed : batch->synced[i];
    how.kept = batch->kept[i];
    how.published = how.status.ok() && batch->published[i];
    sink_.Settled(files[i], wanted[i], how);
  }
  MaybeStart(false);
}

}  // namespace openbits::engine
