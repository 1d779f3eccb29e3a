// Copyright (c) openbits authors. Licensed under the Apache License 2.0.

#include "engine/temp_files.h"

#include <algorithm>
#include <map>
#include <optional>
#include <string>

#include <boost/asio/post.hpp>

#include "openbits/hresult.h"

#include "engine/file_transfer.h"
#include "platform/system.h"

namespace openbits::engine {

TemporaryFiles::TemporaryFiles(boost::asio::io_context& io, store::Store& store,
                               OwnerAccess& owners)
    : io_(io), store_(store), owners_(owners) {}

void TemporaryFiles::Prepare(const std::shared_ptr<JobData>& job, std::size_t from) {
  // Enough to cover the files that start while the next batch is created:
  // with many files at once, a transfer that overtakes the batch in flight
  // finds its file made already, and must check it as if left by a crash
  // (at most 64 files: kMaxConcurrentFiles is 16).
  const std::size_t ahead =
      std::max<std::size_t>(32, 4 * std::size_t{job->rec.max_concurrent_files});
  if (!job->prepared) job->prepared = std::make_unique<JobData::Prepared>();
  JobData::Prepared& prepared = *job->prepared;
  if (prepared.in_flight || prepared.files.size() >= ahead / 2) return;
  std::vector<JobData::PreparedFile> wanted;
  const std::vector<store::FileRecord>& files = job->rec.files;
  std::size_t i = std::max(from, prepared.next_index);
  for (; i < files.size() && prepared.files.size() + wanted.size() < ahead; ++i) {
    const store::FileRecord& f = files[i];
    if (f.temp_name.empty()) break;  // named in batches when the first of them starts
    if (f.completed || f.renamed || f.bytes_transferred != 0) continue;
    if (IsTransferring(*job, f.index)) continue;
    wanted.push_back(JobData::PreparedFile{f.index, std::string(f.temp_name), nullptr});
  }
  prepared.next_index = i;
  if (wanted.empty()) return;
  auto owner = owners_.Identity(job->rec.owner);
  if (!owner.ok()) return;
  std::vector<std::string> directories;
  directories.reserve(wanted.size());
  for (const JobData::PreparedFile& w : wanted) {
    auto parts = platform::SplitAbsolutePath(files[w.index].local_name);
    directories.push_back(parts.ok() ? parts->directory : std::string());
  }
  prepared.in_flight = true;
  boost::asio::post(prepare_pool_, [this, weak = std::weak_ptr<JobData>(job), gate = prepared.gate,
                                    owner = std::move(*owner), directories = std::move(directories),
                                    wanted = std::move(wanted)]() mutable {
    {
      std::optional<platform::FileIdentity> as_owner;
      if (owner) {
        auto assumed = platform::FileIdentity::Assume(*owner);
        if (assumed.ok()) as_owner.emplace(std::move(*assumed));
      }
      // Created as the owner, or not at all: their transfers then report why.
      const bool may_create = !owner || as_owner;
      std::lock_guard lock(gate->mutex);
      for (std::size_t k = 0; k < wanted.size() && may_create && !gate->closed; ++k) {
        if (directories[k].empty()) continue;
        // Fails harmlessly if the file's transfer created it first.
        auto created =
            platform::CreateExclusive(directories[k], wanted[k].temp_name, kTemporaryFileMode);
        if (created.ok()) wanted[k].fd = std::make_shared<platform::ScopedFd>(std::move(*created));
      }
    }
    boost::asio::post(io_, [this, weak, gate, wanted = std::move(wanted)]() mutable {
      OnPrepared(weak, gate, std::move(wanted));
    });
  });
}

void TemporaryFiles::OnPrepared(const std::weak_ptr<JobData>& weak,
                                const std::shared_ptr<JobData::Prepared::Gate>& gate,
                                std::vector<JobData::PreparedFile> files) {
  std::shared_ptr<JobData> job = weak.lock();
  if (!job || job->removed || !job->prepared || job->prepared->gate != gate) return;
  JobData::Prepared& prepared = *job->prepared;
  prepared.in_flight = false;
  for (JobData::PreparedFile& p : files) {
    if (!p.fd || p.index >= job->rec.files.size()) continue;
    const store::FileRecord& f = job->rec.files[p.index];
    // A file that started meanwhile opened the same file itself.
    if (IsTransferring(*job, p.index) || f.completed || f.bytes_transferred != 0 ||
        f.temp_name.str() != p.temp_name)
      continue;
    prepared.files.push_back(std::move(p));
  }
  if (job->running()) Prepare(job, 0);
}

std::shared_ptr<platform::ScopedFd> TemporaryFiles::Take(JobData& job,
                                                         const store::FileRecord& file) {
  if (!job.prepared) return nullptr;
  std::vector<JobData::PreparedFile>& files = job.prepared->files;
  auto it = std::find_if(files.begin(), files.end(),
                         [&](const JobData::PreparedFile& p) { return p.index == file.index; });
  if (it == files.end()) return nullptr;
  std::shared_ptr<platform::ScopedFd> fd;
  if (it->temp_name == file.temp_name.str()) fd = std::move(it->fd);
  files.erase(it);
  return fd;
}

void TemporaryFiles::Close(JobData& job) {
  if (!job.prepared) return;
  {
    std::lock_guard lock(job.prepared->gate->mutex);
    job.prepared->gate->closed = true;
  }
  job.prepared.reset();
}

void TemporaryFiles::Name(JobData& job, std::size_t from) {
  // A commit per file would cost a log sync each; a batch amortizes it, and
  // a bound keeps huge jobs from naming files they may never reach.
  constexpr std::size_t kNamesPerCommit = 256;
  std::vector<std::size_t> named;
  for (auto it = job.rec.files.begin() + static_cast<std::ptrdiff_t>(from);
       it != job.rec.files.end() && named.size() < kNamesPerCommit; ++it) {
    if (!it->completed && !it->renamed && it->temp_name.empty()) {
      named.push_back(static_cast<std::size_t>(it - job.rec.files.begin()));
    }
  }
  std::vector<std::string> names = NewTemporaryNames(named.size());
  for (std::size_t k = 0; k < named.size(); ++k) {
    job.rec.files[named[k]].temp_name = std::move(names[k]);
  }
  Status st = store_.RunInTransaction([&]() -> Status {
    for (std::size_t i : named) {
      OPENBITS_RETURN_IF_ERROR(store_.UpdateFile(job.rec.id, job.rec.files[i]));
    }
    return Status::Ok();
  });
  if (!st.ok()) {
    // Not recorded: each transfer names and records its own file instead.
    for (std::size_t i : named) job.rec.files[i].temp_name.clear();
  }
}

Status TemporaryFiles::Delete(JobData& job) {
  Status result;
  auto as_owner = owners_.ActAs(job.rec.owner);
  if (!as_owner.ok()) return Status(kBgSUnableToDeleteFiles, as_owner.status().message());
  for (store::FileRecord& f : job.rec.files) {
    if (f.renamed || f.temp_name.empty()) continue;
    auto parts = platform::SplitAbsolutePath(f.local_name);
    if (!parts.ok()) continue;
    auto dir = platform::OpenDirectory(parts->directory);
    if (!dir.ok()) continue;  // the directory is gone, and the file with it
    Status st = platform::RemoveAt(*dir, f.temp_name);
    if (!st.ok()) result = Status(kBgSUnableToDeleteFiles, st.message());
  }
  return result;
}

TemporaryFiles::Publication TemporaryFiles::Publish(JobData& job) {
  // Every completed file's data was synced before its completion was
  // committed (FileTransfer::FinishFile), so publishing is renames only:
  // each directory is synced once, after its renames and before the job
  // record goes away. A crash in between resumes this pending Complete;
  // a file renamed before the crash has no temporary file any more and
  // stays where it is.
  Publication out;
  bool& partial = out.partial;
  std::vector<store::FileRecord*>& renamed = out.renamed;
  Status& st = out.status;
  const store::FileRecord*& failed = out.failed;
  std::map<std::string, platform::ScopedFd> directories;
  {
    auto as_owner = owners_.ActAs(job.rec.owner);
    const unsigned published_mode = platform::DefaultFileMode();
    const bool tells_apart = TellsPublishedApart(published_mode);
    if (!as_owner.ok()) st = as_owner.status();
    for (store::FileRecord& f : job.rec.files) {
      if (!st.ok()) break;
      if (f.renamed) continue;
      if (!f.completed) {
        partial = true;
        continue;
      }
      failed = &f;
      auto parts = platform::SplitAbsolutePath(f.local_name);
      st = parts.status();
      if (!st.ok()) break;
      auto dir = directories.find(parts->directory);
      if (dir == directories.end()) {
        auto opened = platform::OpenDirectory(parts->directory);
        st = opened.status();
        if (!st.ok()) break;
        dir = directories.emplace(parts->directory, std::move(*opened)).first;
      }
      // Private (0600) while downloading; the user's usual mode once the
      // file is theirs. Most files got it, and their time, as they finished.
      bool prepared = f.ready_to_publish;
      if (!prepared && tells_apart) {
        auto mode = platform::RegularFileModeAt(dir->second, f.temp_name);
        prepared = mode.ok() && *mode == published_mode;
      }
      if (!prepared) {
        auto fd = platform::OpenExisting(dir->second, f.temp_name);
        st = fd.status();
        if (!st.ok()) break;
        st = PrepareForPublishing(*fd, f, published_mode);
        if (!st.ok()) break;
      }
      st = platform::RenameAt(dir->second, f.temp_name, parts->name);
      if (!st.ok()) break;
      renamed.push_back(&f);
      failed = nullptr;
    }
    for (auto& [path, dir] : directories) {
      Status synced = platform::SyncDirectory(dir);
      if (st.ok() && !synced.ok()) st = synced;
    }
  }  // the store is written as ourselves again
  return out;
}

}  // namespace openbits::engine
