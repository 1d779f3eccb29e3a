// Copyright (c) openbits authors. Licensed under the Apache License 2.0.
//
// TemporaryFiles: a job's BIT*.tmp files from their name to their publishing
// or deletion. Names are given in batches (one commit for many files);
// files are created ahead, on a thread of their own, while earlier files
// download; Complete() renames them into place and syncs each directory
// once; Cancel() deletes them. Every file operation runs as the job's owner
// (OwnerAccess).
//
// Engine thread only, but for the prepare thread it owns.

#ifndef OPENBITS_ENGINE_TEMP_FILES_H_
#define OPENBITS_ENGINE_TEMP_FILES_H_

#include <cstddef>
#include <memory>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/thread_pool.hpp>

#include "openbits/status.h"

#include "engine/job_data.h"
#include "engine/owner_access.h"
#include "store/store.h"

namespace openbits::engine {

class TemporaryFiles {
 public:
  TemporaryFiles(boost::asio::io_context& io, store::Store& store, OwnerAccess& owners);
  TemporaryFiles(const TemporaryFiles&) = delete;
  TemporaryFiles& operator=(const TemporaryFiles&) = delete;

  // Names the job's files from `from` on (up to a bound) that have no
  // temporary name yet, in one commit, so that each of their transfers
  // starts without one. When the commit fails none is named: each transfer
  // then names and records its own.
  void Name(JobData& job, std::size_t from);

  // Creates, on the prepare thread, the temporary files of the job's next
  // files from `from` on that are named and have no byte yet, a few ahead
  // of its transfers: creating files took 7% of the engine thread's time
  // with 16 small files at once.
  void Prepare(const std::shared_ptr<JobData>& job, std::size_t from);

  // The temporary file prepared for `file`, or null (the transfer then
  // opens it itself).
  std::shared_ptr<platform::ScopedFd> Take(JobData& job, const store::FileRecord& file);

  // Creates no more files for the job and closes those created (they stay,
  // empty, under their recorded names). Before anything renames or deletes
  // the job's temporary files.
  void Close(JobData& job);

  // Deletes the job's temporary files (Cancel, and after Complete);
  // BG_S_UNABLE_TO_DELETE_FILES when one stays.
  Status Delete(JobData& job);

  struct Publication {
    Status status;                            // the first failure, if any
    std::vector<store::FileRecord*> renamed;  // into place by this call
    const store::FileRecord* failed = nullptr;
    bool partial = false;  // some files were not complete
  };
  // Moves every completed file of the job into place: its published form
  // (mode, time) if it lacks it, a rename, then one sync of each directory.
  // Stops at the first failure. The caller records `renamed`.
  Publication Publish(JobData& job);

  // Finishes the creations in flight and ends the prepare thread.
  void Join() { prepare_pool_.join(); }

 private:
  void OnPrepared(const std::weak_ptr<JobData>& job,
                  const std::shared_ptr<JobData::Prepared::Gate>& gate,
                  std::vector<JobData::PreparedFile> files);

  boost::asio::io_context& io_;
  store::Store& store_;
  OwnerAccess& owners_;
  // Not the sync thread, whose syncs of a slow disk would hold the
  // creations up.
  boost::asio::thread_pool prepare_pool_{1};
};

}  // namespace openbits::engine

#endif  // OPENBITS_ENGINE_TEMP_FILES_H_
