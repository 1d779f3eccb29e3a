// Copyright (c) openbits authors. Licensed under the Apache License 2.0.
//
// Downloads against a real nginx on loopback: resume, validators, Complete
// and Cancel semantics, errors. Every wait is for an engine event.

#include <fcntl.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <sys/stat.h>
#include <thread>

#include <gtest/gtest.h>

#include "openbits/openbits.h"

#include "store/store.h"
#include "tests/support/test_support.h"

namespace openbits {
namespace {

using testing::AccessLogEntry;
using testing::FileExists;
using testing::ListDirectory;
using testing::NginxServer;
using testing::Sha256OfFile;
using testing::TempDir;
using testing::Watch;
using testing::WriteTestFile;

constexpr std::uint64_t kMiB = 1024 * 1024;

NginxServer::Options Locations(const std::string& switch_directive) {
  return {
      "    location /slow/ { alias $ROOT/; limit_rate 1m; sendfile_max_chunk 64k; }\n"
      "    location /noranges/ { alias $ROOT/; max_ranges 0; }\n"
      "    location /switch/ { alias $ROOT/; " +
      switch_directive +
      " }\n"
      "    location /crawl/ { alias $ROOT/; limit_rate 64k; }\n"
      "    location /token/ { if ($http_x_token != \"abc\") { return 403; } alias $ROOT/; }\n"
      "    location = /busy { return 503; }\n"
      "    location = /redirect-to-ftp { return 302 ftp://127.0.0.1/file; }\n"
      "    location = /redirect-to-small { return 302 /small.bin; }\n"};
}

class DownloadTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    server_ = std::make_unique<NginxServer>(Locations("limit_rate 1m; sendfile_max_chunk 64k;"));
    ASSERT_TRUE(server_->ok()) << server_->error();
    const std::string root = server_->root();
    small_sha_ = WriteTestFile(root + "/small.bin", 100 * 1024, 2);
    medium_sha_ = WriteTestFile(root + "/medium.bin", 3 * kMiB + 17, 3);
    empty_sha_ = WriteTestFile(root + "/empty.bin", 0, 4);
  }
  static void TearDownTestSuite() { server_.reset(); }

  void SetUp() override {
    ManagerOptions options;
    options.state_directory = state_ / "queue";
    options.key_directory = state_ / "keys";
    options.minimum_retry_delay_floor = std::chrono::milliseconds(0);
    options_ = options;
    OpenManager();
  }

  void OpenManager(std::chrono::milliseconds time_slice = std::chrono::minutes(5)) {
    options_.time_slice = time_slice;
    auto m = Manager::Open(options_);
    ASSERT_TRUE(m.ok()) << m.status().ToString();
    manager_ = std::move(*m);
  }

  std::shared_ptr<Job> NewJob(const std::string& name,
                              JobPriority priority = JobPriority::kForeground) {
    auto job = manager_->CreateJob(name);
    EXPECT_TRUE(job.ok()) << job.status().ToString();
    EXPECT_TRUE((*job)->SetPriority(priority).ok());
    return *job;
  }

  std::string Dest(const std::string& name) const { return dest_ / name; }

  // Adds `count` distinct URLs of small.bin as files f0, f1, ... of `job`.
  void AddSmallFiles(Job& job, int count) {
    for (int i = 0; i < count; ++i) {
      ASSERT_TRUE(job.AddFile(server_->Url(Own("/small.bin") + "&n=" + std::to_string(i)),
                              Dest("f" + std::to_string(i)))
                      .ok());
    }
  }

  // Runs `job` to TRANSFERRED, closes the queue and opens it again: the
  // same job as the new queue has it (null if it is gone).
  std::shared_ptr<Job> TransferThenReopen(std::shared_ptr<Job>&& job) {
    const Guid id = job->GetId();
    auto watcher = Watch(*job);
    EXPECT_TRUE(job->Resume().ok());
    EXPECT_EQ(watcher->WaitForOutcome(*job), JobState::kTransferred);
    job.reset();
    manager_.reset();
    OpenManager();
    if (!manager_) return nullptr;
    auto again = manager_->GetJob(id);
    EXPECT_TRUE(again.ok()) << again.status().ToString();
    return again.ok() ? *again : nullptr;
  }

  // Temporary files (BIT*.tmp) in `dir`.
  static std::size_t TemporaryFilesIn(const std::string& dir) {
    std::size_t n = 0;
    for (const std::string& name : ListDirectory(dir)) {
      n += name.rfind("BIT", 0) == 0 && name.size() > 4 &&
                   name.compare(name.size() - 4, 4, ".tmp") == 0
               ? 1
               : 0;
    }
    return n;
  }

  // Gives `job` a crawling first file and 12 small ones, starts it, and
  // waits until 5 temporary files exist while the first file downloads: no
  // other file has started then, so they were created ahead. Null if they
  // never appear.
  std::shared_ptr<testing::JobWatcher> StartWithFilesCreatedAhead(Job& job) {
    EXPECT_TRUE(job.AddFile(server_->Url(Own("/crawl/small.bin")), Dest("first")).ok());
    AddSmallFiles(job, 12);
    auto watcher = Watch(job);
    EXPECT_TRUE(job.Resume().ok());
    const bool ahead = watcher->WaitUntil(job, [&](Job& j) {
      const FileProgress first = j.EnumFiles()[0]->GetProgress();
      return first.bytes_transferred > 0 && !first.completed && TemporaryFilesIn(dest_.path()) >= 5;
    });
    return ahead ? watcher : nullptr;
  }

  // Starts `job` and suspends it once at least `bytes` are local; returns
  // how many bytes the job kept.
  std::uint64_t RunThenSuspend(Job& job, testing::JobWatcher& watcher, std::uint64_t bytes) {
    EXPECT_TRUE(job.Resume().ok());
    EXPECT_TRUE(watcher.WaitUntil(
        job, [bytes](Job& j) { return j.GetProgress().bytes_transferred >= bytes; }));
    EXPECT_TRUE(job.Suspend().ok());
    EXPECT_EQ(job.GetState(), JobState::kSuspended);
    return job.EnumFiles()[0]->GetProgress().bytes_transferred;
  }

  // `path` made unique to this test, so access-log assertions only see
  // this test's requests.
  static std::string Own(const std::string& path) {
    return path + "?test=" + ::testing::UnitTest::GetInstance()->current_test_info()->name();
  }

  static std::unique_ptr<NginxServer> server_;
  static std::string big_sha_, small_sha_, medium_sha_, empty_sha_;

  TempDir state_;
  TempDir dest_;
  ManagerOptions options_;
  std::unique_ptr<Manager> manager_;
};

std::unique_ptr<NginxServer> DownloadTest::server_;
std::string DownloadTest::big_sha_, DownloadTest::small_sha_, DownloadTest::medium_sha_,
    DownloadTest::empty_sha_;

TEST_F(DownloadTest, ThreeFilesIncludingA256MiBOneCompleteWithMatchingSha256) {
  big_sha_ = WriteTestFile(server_->root() + "/big.bin", 256 * kMiB, 1);
  auto job = NewJob("three files");
  ASSERT_TRUE(job->AddFile(server_->Url("/big.bin"), Dest("big.bin")).ok());
  ASSERT_TRUE(job->AddFile(server_->Url("/small.bin"), Dest("small.bin")).ok());
  ASSERT_TRUE(job->AddFile(server_->Url("/empty.bin"), Dest("empty.bin")).ok());
  auto watcher = Watch(*job);
  ASSERT_TRUE(job->Resume().ok());
  ASSERT_EQ(watcher->WaitForOutcome(*job), JobState::kTransferred);
  // The JobTransferred callback follows the state change (a modification
  // event may wake us first).
  EXPECT_TRUE(watcher->WaitUntil(*job, [&](Job&) { return watcher->transferred_count() == 1; }));

  JobProgress p = job->GetProgress();
  EXPECT_EQ(p.files_total, 3u);
  EXPECT_EQ(p.files_transferred, 3u);
  EXPECT_EQ(p.bytes_total, 256 * kMiB + 100 * 1024);
  EXPECT_EQ(p.bytes_transferred, p.bytes_total);
  // Not available before Complete.
  EXPECT_FALSE(FileExists(Dest("big.bin")));

  ASSERT_EQ(job->Complete().code(), 0);
  EXPECT_EQ(job->GetState(), JobState::kAcknowledged);
  EXPECT_EQ(Sha256OfFile(Dest("big.bin")), big_sha_);
  EXPECT_EQ(Sha256OfFile(Dest("small.bin")), small_sha_);
  EXPECT_EQ(Sha256OfFile(Dest("empty.bin")), empty_sha_);
  EXPECT_EQ(ListDirectory(dest_.path()),
            (std::vector<std::string>{"big.bin", "empty.bin", "small.bin"}));
  // The job is gone from the queue.
  EXPECT_EQ(manager_->GetJob(job->GetId()).status().code(), kBgENotFound);
  EXPECT_EQ(job->Resume().code(), kBgEInvalidState);
}

TEST_F(DownloadTest, CompletedFilesTakeTheServersModificationTimeAndUmaskMode) {
  const mode_t mask = ::umask(0);
  ::umask(mask);
  const unsigned published = 0666u & ~mask;
  auto mode_of = [](const std::string& path) {
    struct stat st {};
    EXPECT_EQ(::stat(path.c_str(), &st), 0) << path;
    return static_cast<unsigned>(st.st_mode & 0777);
  };
  auto job = NewJob("mtime");
  ASSERT_TRUE(job->AddFile(server_->Url(Own("/slow/medium.bin")), Dest("medium.bin")).ok());
  // Empty: finished without a sync of its own, so Complete() gives it its
  // mode and time itself.
  ASSERT_TRUE(job->AddFile(server_->Url("/empty.bin"), Dest("empty.bin")).ok());
  auto watcher = Watch(*job);
  ASSERT_GT(RunThenSuspend(*job, *watcher, 512 * 1024), 0u);
  EXPECT_EQ(mode_of(job->EnumFiles()[0]->GetTemporaryName()), 0600u);  // partial: private

  ASSERT_TRUE(job->Resume().ok());
  ASSERT_EQ(watcher->WaitForOutcome(*job), JobState::kTransferred);
  auto files = job->EnumFiles();
  ASSERT_EQ(files.size(), 2u);
  // Finished and durable: already in its published form, so Complete()
  // only renames it.
  EXPECT_EQ(mode_of(files[0]->GetTemporaryName()), published);
  ASSERT_TRUE(job->Complete().ok());
  for (const char* name : {"medium.bin", "empty.bin"}) {
    struct stat served {};
    struct stat local {};
    ASSERT_EQ(::stat((server_->root() + "/" + name).c_str(), &served), 0);
    ASSERT_EQ(::stat(Dest(name).c_str(), &local), 0);
    EXPECT_EQ(local.st_mtime, served.st_mtime) << name;
    EXPECT_EQ(local.st_mode & 0777, published) << name;
  }
  EXPECT_EQ(Sha256OfFile(Dest("medium.bin")), medium_sha_);
}

TEST_F(DownloadTest, SuspendAndResumeContinueWithARangedRequest) {
  auto job = NewJob("suspend-resume");
  ASSERT_TRUE(job->AddFile(server_->Url(Own("/slow/medium.bin")), Dest("medium.bin")).ok());
  auto watcher = Watch(*job);
  const std::uint64_t kept = RunThenSuspend(*job, *watcher, 512 * 1024);
  ASSERT_GT(kept, 0u);
  ASSERT_LT(kept, 3 * kMiB + 17);

  ASSERT_TRUE(job->Resume().ok());
  ASSERT_EQ(watcher->WaitForOutcome(*job), JobState::kTransferred);
  ASSERT_TRUE(job->Complete().ok());
  EXPECT_EQ(Sha256OfFile(Dest("medium.bin")), medium_sha_);

  auto log = server_->AccessLogFor(Own("/slow/medium.bin"));
  ASSERT_EQ(log.size(), 2u);
  EXPECT_EQ(log[0].range, "bytes=0-");
  EXPECT_EQ(log[1].status, 206);
  EXPECT_EQ(log[1].range, "bytes=" + std::to_string(kept) + "-");
  EXPECT_NE(log[1].if_range, "-");  // the strong ETag guards the resume
  EXPECT_EQ(log[1].body_bytes, 3 * kMiB + 17 - kept);
}

TEST_F(DownloadTest, AnEtagChangeBetweenSessionsRestartsTheFile) {
  const std::string root = server_->root();
  WriteTestFile(root + "/changing.bin", 3 * kMiB, 10);
  auto job = NewJob("etag-change");
  const Guid id = job->GetId();
  ASSERT_TRUE(job->AddFile(server_->Url("/slow/changing.bin"), Dest("changing.bin")).ok());
  auto watcher = Watch(*job);
  const std::uint64_t kept = RunThenSuspend(*job, *watcher, 256 * 1024);
  job.reset();
  manager_.reset();  // end of the first session

  // The server's file changes: same size, new content, new mtime -> new ETag.
  const std::string new_sha = WriteTestFile(root + "/changing.bin.new", 3 * kMiB, 11);
  struct timespec times[2] = {{0, UTIME_OMIT}, {1700000000, 0}};
  ::utimensat(AT_FDCWD, (root + "/changing.bin.new").c_str(), times, 0);
  ASSERT_EQ(::rename((root + "/changing.bin.new").c_str(), (root + "/changing.bin").c_str()), 0);

  OpenManager();
  auto again = manager_->GetJob(id);
  ASSERT_TRUE(again.ok());
  auto watcher2 = Watch(**again);
  EXPECT_EQ((*again)->GetProgress().bytes_transferred, kept);
  ASSERT_TRUE((*again)->Resume().ok());
  ASSERT_EQ(watcher2->WaitForOutcome(**again), JobState::kTransferred);
  ASSERT_TRUE((*again)->Complete().ok());
  EXPECT_EQ(Sha256OfFile(Dest("changing.bin")), new_sha);

  auto log = server_->AccessLogFor("/slow/changing.bin");
  ASSERT_EQ(log.size(), 2u);
  EXPECT_EQ(log[1].range, "bytes=" + std::to_string(kept) + "-");
  EXPECT_EQ(log[1].status, 200);  // If-Range failed: the whole new file came back
}

TEST_F(DownloadTest, A200AnswerToARangeRestartsTheFile) {
  const std::string root = server_->root();
  const std::string sha = WriteTestFile(root + "/switching.bin", 3 * kMiB, 12);
  auto job = NewJob("200-to-range");
  ASSERT_TRUE(job->AddFile(server_->Url("/switch/switching.bin"), Dest("switching.bin")).ok());
  auto watcher = Watch(*job);
  const std::uint64_t kept = RunThenSuspend(*job, *watcher, 256 * 1024);
  ASSERT_GT(kept, 0u);

  // The server stops honouring ranges on that location (restarted with a
  // new configuration; the job sees a new connection either way).
  const Guid id = job->GetId();
  job.reset();
  manager_.reset();
  ASSERT_TRUE(server_->Restart(Locations("max_ranges 0;"))) << server_->error();
  OpenManager();
  job = *manager_->GetJob(id);
  watcher = Watch(*job);
  ASSERT_TRUE(job->Resume().ok());
  ASSERT_EQ(watcher->WaitForOutcome(*job), JobState::kTransferred);
  ASSERT_TRUE(job->Complete().ok());
  EXPECT_EQ(Sha256OfFile(Dest("switching.bin")), sha);
  ASSERT_TRUE(server_->Restart(Locations("limit_rate 1m; sendfile_max_chunk 64k;")))
      << server_->error();

  auto log = server_->AccessLogFor("/switch/switching.bin");
  ASSERT_EQ(log.size(), 2u);
  EXPECT_EQ(log[1].range, "bytes=" + std::to_string(kept) + "-");
  EXPECT_EQ(log[1].status, 200);
  EXPECT_EQ(log[1].body_bytes, 3 * kMiB);
}

TEST_F(DownloadTest, CancelLeavesNoFileBehind) {
  auto job = NewJob("cancel");
  ASSERT_TRUE(job->AddFile(server_->Url("/small.bin"), Dest("small.bin")).ok());
  ASSERT_TRUE(job->AddFile(server_->Url("/slow/medium.bin"), Dest("medium.bin")).ok());
  auto watcher = Watch(*job);
  ASSERT_TRUE(job->Resume().ok());
  ASSERT_TRUE(watcher->WaitUntil(*job, [](Job& j) {
    auto files = j.EnumFiles();
    return files[0]->GetProgress().completed &&
           files[1]->GetProgress().bytes_transferred >= 128 * 1024;
  }));
  EXPECT_EQ(ListDirectory(dest_.path()).size(), 2u);  // two temporary files
  ASSERT_EQ(job->Cancel().code(), 0);
  EXPECT_EQ(job->GetState(), JobState::kCancelled);
  EXPECT_TRUE(ListDirectory(dest_.path()).empty());
  EXPECT_EQ(job->Complete().code(), kBgEInvalidState);
  EXPECT_EQ(manager_->GetJob(job->GetId()).status().code(), kBgENotFound);
}

TEST_F(DownloadTest, CompleteOfAHalfDoneJobKeepsOnlyFinishedFiles) {
  auto job = NewJob("partial");
  ASSERT_TRUE(job->AddFile(server_->Url("/small.bin"), Dest("small.bin")).ok());
  ASSERT_TRUE(job->AddFile(server_->Url("/slow/medium.bin"), Dest("medium.bin")).ok());
  auto watcher = Watch(*job);
  ASSERT_TRUE(job->Resume().ok());
  ASSERT_TRUE(watcher->WaitUntil(*job, [](Job& j) {
    auto files = j.EnumFiles();
    return files[0]->GetProgress().completed && files[1]->GetProgress().bytes_transferred > 0;
  }));
  Status st = job->Complete();
  EXPECT_EQ(st.code(), kBgSPartialComplete);
  EXPECT_TRUE(st.ok());
  EXPECT_EQ(ListDirectory(dest_.path()), std::vector<std::string>{"small.bin"});
  EXPECT_EQ(Sha256OfFile(Dest("small.bin")), small_sha_);
}

TEST_F(DownloadTest, ResumeOfAnEmptyJobIsBgEEmpty) {
  auto job = NewJob("empty");
  EXPECT_EQ(job->GetState(), JobState::kSuspended);
  EXPECT_EQ(job->Resume().code(), kBgEEmpty);
  EXPECT_EQ(job->GetState(), JobState::kSuspended);
  EXPECT_EQ(job->GetError().status().code(), kBgEErrorInformationUnavailable);
  JobProgress p = job->GetProgress();
  EXPECT_EQ(p.bytes_total, 0u);
  EXPECT_EQ(p.files_total, 0u);
}

TEST_F(DownloadTest, NewJobsHaveBitsDefaults) {
  auto job = NewJob("defaults");
  auto fresh = manager_->CreateJob("fresh");
  ASSERT_TRUE(fresh.ok());
  EXPECT_EQ((*fresh)->GetPriority(), JobPriority::kNormal);
  EXPECT_EQ((*fresh)->GetMinimumRetryDelay(), 600u);
  EXPECT_EQ((*fresh)->GetNoProgressTimeout(), 1209600u);
  EXPECT_EQ((*fresh)->GetMaximumDownloadTime(), 7776000u);
  EXPECT_EQ((*fresh)->GetNotifyFlags(), 3u);
  EXPECT_EQ((*fresh)->GetType(), JobType::kDownload);
  EXPECT_EQ((*fresh)->GetErrorCount(), 0u);
  EXPECT_TRUE((*fresh)->SetMinimumRetryDelay(1).ok());
  EXPECT_EQ((*fresh)->GetMinimumRetryDelay(), 5u);  // BITS's minimum
  EXPECT_EQ((*fresh)->GetId().ToString().size(), 38u);
  EXPECT_EQ(manager_->CreateJob("x", JobType::kUpload).status().code(), kENotImpl);
  EXPECT_EQ(manager_->CreateJob(std::string(257, 'n')).status().code(), kEInvalidArg);
}

TEST_F(DownloadTest, JobIdsAreVersion7GuidsCarryingTheirCreationTime) {
  // Time-ordered ids keep the queue's B-trees appending (docs/compatibility.md).
  auto ms_of = [](const Guid& id) {
    std::uint64_t ms = 0;
    for (std::size_t i = 0; i < 6; ++i) ms = (ms << 8) | id.bytes[i];
    return ms;
  };
  auto now_ms = [] {
    return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                          std::chrono::system_clock::now().time_since_epoch())
                                          .count());
  };
  const std::uint64_t before = now_ms();
  std::vector<Guid> ids;
  for (int i = 0; i < 20; ++i) {
    auto job = manager_->CreateJob("v7-" + std::to_string(i));
    ASSERT_TRUE(job.ok());
    ids.push_back((*job)->GetId());
  }
  const std::uint64_t after = now_ms();
  for (std::size_t i = 0; i < ids.size(); ++i) {
    EXPECT_EQ(ids[i].bytes[6] >> 4, 7) << "version";
    EXPECT_EQ(ids[i].bytes[8] >> 6, 2) << "RFC 9562 variant";
    EXPECT_GE(ms_of(ids[i]), before);
    EXPECT_LE(ms_of(ids[i]), after);
    if (i > 0) {
      EXPECT_GE(ms_of(ids[i]), ms_of(ids[i - 1]));
      EXPECT_NE(ids[i], ids[i - 1]);
    }
  }
}

TEST_F(DownloadTest, ANotFoundFileIsAFatalErrorWithContext) {
  auto job = NewJob("404");
  ASSERT_TRUE(job->AddFile(server_->Url("/small.bin"), Dest("small.bin")).ok());
  ASSERT_TRUE(job->AddFile(server_->Url("/missing.bin"), Dest("missing.bin")).ok());
  auto watcher = Watch(*job);
  ASSERT_TRUE(job->Resume().ok());
  ASSERT_EQ(watcher->WaitForOutcome(*job), JobState::kError);
  ASSERT_TRUE(watcher->WaitUntil(*job, [&](Job&) { return watcher->error_count() == 1; }));
  auto error = job->GetError();
  ASSERT_TRUE(error.ok());
  EXPECT_EQ(error->code, HttpErrorCode(404));
  EXPECT_EQ(error->context, ErrorContext::kRemoteFile);
  ASSERT_TRUE(error->file_index.has_value());
  EXPECT_EQ(*error->file_index, 1u);
  EXPECT_EQ(error->remote_name, server_->Url("/missing.bin"));
  EXPECT_EQ(error->protocol, "http");
  EXPECT_NE(error->description.find("does not exist"), std::string::npos);
  EXPECT_EQ(job->GetErrorCount(), 1u);
  // Complete in ERROR keeps what finished (BITS).
  EXPECT_EQ(job->Complete().code(), kBgSPartialComplete);
  EXPECT_EQ(ListDirectory(dest_.path()), std::vector<std::string>{"small.bin"});
}

TEST_F(DownloadTest, ServerUnavailableIsTransientAndRetriedUntilNoProgressTimeout) {
  auto job = NewJob("503");
  ASSERT_TRUE(job->AddFile(server_->Url(Own("/busy")), Dest("busy")).ok());
  auto watcher = Watch(*job);
  ASSERT_TRUE(job->SetMinimumRetryDelay(5).ok());
  ASSERT_TRUE(job->Resume().ok());
  ASSERT_EQ(watcher->WaitForOutcome(*job), JobState::kTransientError);
  auto error = job->GetError();
  ASSERT_TRUE(error.ok());
  EXPECT_EQ(error->code, HttpErrorCode(503));
  // Resume retries at once; with NoProgressTimeout 0 every error is fatal.
  ASSERT_TRUE(job->SetNoProgressTimeout(0).ok());
  ASSERT_TRUE(job->Resume().ok());
  ASSERT_TRUE(watcher->WaitForState(*job, JobState::kError));
  EXPECT_EQ(job->GetErrorCount(), 2u);
  EXPECT_EQ(server_->AccessLogFor(Own("/busy")).size(), 2u);
}

TEST_F(DownloadTest, ConnectionRefusedIsATransientTransportError) {
  auto job = NewJob("refused");
  // Port 1 on loopback: nothing listens there.
  ASSERT_TRUE(job->AddFile("http://127.0.0.1:1/x", Dest("x")).ok());
  auto watcher = Watch(*job);
  ASSERT_TRUE(job->Resume().ok());
  ASSERT_EQ(watcher->WaitForOutcome(*job), JobState::kTransientError);
  auto error = job->GetError();
  ASSERT_TRUE(error.ok());
  EXPECT_EQ(error->code, kWinHttpCannotConnect);
  EXPECT_EQ(error->context, ErrorContext::kGeneralTransport);
}

TEST_F(DownloadTest, ServersWithoutRangesNeedDynamicContent) {
  auto strict = NewJob("no-ranges");
  ASSERT_TRUE(strict->AddFile(server_->Url("/noranges/small.bin"), Dest("a.bin")).ok());
  auto w1 = Watch(*strict);
  ASSERT_TRUE(strict->Resume().ok());
  ASSERT_EQ(w1->WaitForOutcome(*strict), JobState::kError);
  EXPECT_EQ(strict->GetError()->code, kBgEInsufficientRangeSupport);
  ASSERT_TRUE(strict->Cancel().ok());

  auto dynamic = NewJob("dynamic");
  ASSERT_TRUE(dynamic->SetDynamicContent(true).ok());
  ASSERT_TRUE(dynamic->AddFile(server_->Url("/noranges/small.bin"), Dest("b.bin")).ok());
  auto w2 = Watch(*dynamic);
  ASSERT_TRUE(dynamic->Resume().ok());
  ASSERT_EQ(w2->WaitForOutcome(*dynamic), JobState::kTransferred);
  EXPECT_EQ(dynamic->SetDynamicContent(false).code(), kBgEReadOnlyPropertyAfterResume);
  ASSERT_TRUE(dynamic->Complete().ok());
  EXPECT_EQ(Sha256OfFile(Dest("b.bin")), small_sha_);
}

TEST_F(DownloadTest, RangesAreDownloadedAndConcatenatedInOrder) {
  auto job = NewJob("ranges");
  const std::uint64_t size = 3 * kMiB + 17;
  std::vector<FileRange> ranges = {{1000, 100}, {10, 20}, {size - 50, kLengthToEof}};
  ASSERT_TRUE(
      job->AddFileWithRanges(server_->Url(Own("/medium.bin")), Dest("parts.bin"), ranges).ok());
  auto watcher = Watch(*job);
  ASSERT_TRUE(job->Resume().ok());
  ASSERT_EQ(watcher->WaitForOutcome(*job), JobState::kTransferred);
  EXPECT_EQ(job->GetProgress().bytes_total, 170u);
  ASSERT_TRUE(job->Complete().ok());

  std::ifstream source(server_->root() + "/medium.bin", std::ios::binary);
  std::string expected;
  for (const FileRange& r : ranges) {
    const std::uint64_t len = r.length == kLengthToEof ? size - r.initial_offset : r.length;
    std::string part(len, '\0');
    source.seekg(static_cast<std::streamoff>(r.initial_offset));
    source.read(part.data(), static_cast<std::streamsize>(len));
    expected += part;
  }
  std::ifstream got(Dest("parts.bin"), std::ios::binary);
  std::string actual((std::istreambuf_iterator<char>(got)), std::istreambuf_iterator<char>());
  EXPECT_EQ(actual, expected);
  auto log = server_->AccessLogFor(Own("/medium.bin"));
  ASSERT_EQ(log.size(), 3u);
  EXPECT_EQ(log[0].range, "bytes=1000-1099");
  EXPECT_EQ(log[1].range, "bytes=10-29");
}

TEST_F(DownloadTest, ARangeBeyondTheEndIsBgEInvalidRange) {
  auto job = NewJob("bad-range");
  ASSERT_TRUE(
      job->AddFileWithRanges(server_->Url("/small.bin"), Dest("r.bin"), {{200 * 1024, 10}}).ok());
  auto watcher = Watch(*job);
  ASSERT_TRUE(job->Resume().ok());
  ASSERT_EQ(watcher->WaitForOutcome(*job), JobState::kError);
  EXPECT_EQ(job->GetError()->code, kBgEInvalidRange);
}

TEST_F(DownloadTest, RedirectsAreFollowedButOnlyToHttpAndHttps) {
  auto ok = NewJob("redirect");
  ASSERT_TRUE(ok->AddFile(server_->Url("/redirect-to-small"), Dest("s.bin")).ok());
  auto w1 = Watch(*ok);
  ASSERT_TRUE(ok->Resume().ok());
  ASSERT_EQ(w1->WaitForOutcome(*ok), JobState::kTransferred);
  ASSERT_TRUE(ok->Complete().ok());
  EXPECT_EQ(Sha256OfFile(Dest("s.bin")), small_sha_);

  auto ftp = NewJob("redirect-ftp");
  ASSERT_TRUE(ftp->AddFile(server_->Url("/redirect-to-ftp"), Dest("f.bin")).ok());
  auto w2 = Watch(*ftp);
  ASSERT_TRUE(ftp->Resume().ok());
  ASSERT_EQ(w2->WaitForOutcome(*ftp), JobState::kError);
  EXPECT_EQ(ftp->GetError()->code, kWinHttpUnrecognizedScheme);
}

TEST_F(DownloadTest, BadInputIsRefusedWithAClearErrorAndChangesNothing) {
  auto job = NewJob("validation");
  // A symbolic link among the parents must not lead into the state directory;
  // an existing device or FIFO is not a file Complete may replace.
  ASSERT_EQ(::symlink(options_.state_directory.c_str(), Dest("to-state").c_str()), 0);
  ASSERT_EQ(::mkfifo(Dest("fifo").c_str(), 0600), 0);
  struct Case {
    std::string url, path;
    HResult code;
  };
  const std::vector<Case> cases = {
      {"ftp://127.0.0.1/x", Dest("a"), kEInvalidArg},
      {"file:///etc/passwd", Dest("a"), kEInvalidArg},
      {"http://", Dest("a"), kEInvalidArg},
      {"not a url", Dest("a"), kEInvalidArg},
      {"http://127.0.0.1/a\r\nHost: evil", Dest("a"), kEInvalidArg},
      {std::string("http://127.0.0.1/a\0b", 20), Dest("a"), kEInvalidArg},
      {"http://127.0.0.1/" + std::string(2300, 'a'), Dest("a"), kEInvalidArg},
      {"http://user:secret@evil@127.0.0.1/a", Dest("a"), kEInvalidArg},
      {server_->Url("/small.bin"), "relative/path", kEInvalidArg},
      {server_->Url("/small.bin"), dest_.path() + "/../escape", kEInvalidArg},
      {server_->Url("/small.bin"), dest_.path() + "/", kEInvalidArg},
      {server_->Url("/small.bin"), dest_.path(), kEInvalidArg},
      {server_->Url("/small.bin"), dest_.path() + "/no/such/dir/file", kEPathNotFound},
      {server_->Url("/small.bin"), options_.state_directory + "/queue.db", kEInvalidArg},
      {server_->Url("/small.bin"), Dest("bad\nname"), kEInvalidArg},
      {server_->Url("/small.bin"), Dest("to-state") + "/queue.db", kEInvalidArg},
      {server_->Url("/small.bin"), Dest("to-state") + "/new.bin", kEInvalidArg},
      {server_->Url("/small.bin"), Dest("fifo"), kEInvalidArg},
      {server_->Url("/small.bin"), "/dev/null", kEInvalidArg},
  };
  for (const Case& c : cases) {
    Status st = job->AddFile(c.url, c.path);
    EXPECT_EQ(st.code(), c.code) << c.url << " -> " << c.path << ": " << st.ToString();
    EXPECT_FALSE(st.message().empty());
  }
  EXPECT_EQ(job->EnumFiles().size(), 0u);
  // The password never shows in the error.
  EXPECT_EQ(job->AddFile("http://user:secret@evil@127.0.0.1/a", Dest("a")).message().find("secret"),
            std::string::npos);
  // A set either goes in whole or not at all.
  Status set = job->AddFileSet(
      {{server_->Url("/small.bin"), Dest("ok.bin")}, {"gopher://x/", Dest("bad.bin")}});
  EXPECT_EQ(set.code(), kEInvalidArg);
  EXPECT_EQ(job->EnumFiles().size(), 0u);
  EXPECT_EQ(job->SetCustomHeaders("X-A: 1\r\nHost: evil").code(), kEInvalidArg);
  EXPECT_EQ(job->SetCustomHeaders("X-A: 1\nX-B: 2").code(), kEInvalidArg);
  EXPECT_TRUE(job->SetCustomHeaders("X-Trace: 7\r\n").ok());
  EXPECT_EQ(job->SetNotifyFlags(0x100).code(), kENotImpl);
  EXPECT_EQ(job->SetDescription(std::string(1025, 'd')).code(), kEInvalidArg);
  // A symbolic link to an ordinary directory is fine.
  ASSERT_EQ(::mkdir(Dest("real").c_str(), 0755), 0);
  ASSERT_EQ(::symlink(Dest("real").c_str(), Dest("linked").c_str()), 0);
  EXPECT_TRUE(job->AddFile(server_->Url("/small.bin"), Dest("linked") + "/a.bin").ok());
  // Many files into one directory (listed once instead of each name looked
  // up): a name that is a FIFO or a directory is still refused.
  std::vector<FileInfo> many;
  for (int i = 0; i < 40; ++i) {
    many.push_back({server_->Url("/small.bin"), Dest("many" + std::to_string(i))});
  }
  many.push_back({server_->Url("/small.bin"), Dest("fifo")});
  EXPECT_EQ(job->AddFileSet(many).code(), kEInvalidArg);
  many.back().local_name = Dest("real");
  EXPECT_EQ(job->AddFileSet(many).code(), kEInvalidArg);
  many.pop_back();
  EXPECT_TRUE(job->AddFileSet(many).ok());
  EXPECT_EQ(job->EnumFiles().size(), 41u);
}

TEST_F(DownloadTest, TheQueueSurvivesAReopenWithEveryProperty) {
  auto job = NewJob("persistent", JobPriority::kLow);
  const Guid id = job->GetId();
  ASSERT_TRUE(job->SetDescription("kept across restarts").ok());
  ASSERT_TRUE(job->SetMinimumRetryDelay(77).ok());
  ASSERT_TRUE(job->SetNoProgressTimeout(88).ok());
  ASSERT_TRUE(job->SetMaximumDownloadTime(99).ok());
  ASSERT_TRUE(job->SetCustomHeaders("X-Trace: 7").ok());
  ASSERT_TRUE(job->SetNotifyFlags(1).ok());
  ASSERT_TRUE(job->AddFile(server_->Url("/small.bin"), Dest("small.bin")).ok());
  const JobTimes times = job->GetTimes();
  job.reset();
  manager_.reset();
  OpenManager();
  auto list = manager_->EnumJobs();
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 1u);
  auto& j = (*list)[0];
  EXPECT_EQ(j->GetId(), id);
  EXPECT_EQ(j->GetDisplayName(), "persistent");
  EXPECT_EQ(j->GetDescription(), "kept across restarts");
  EXPECT_EQ(j->GetPriority(), JobPriority::kLow);
  EXPECT_EQ(j->GetMinimumRetryDelay(), 77u);
  EXPECT_EQ(j->GetNoProgressTimeout(), 88u);
  EXPECT_EQ(j->GetMaximumDownloadTime(), 99u);
  EXPECT_EQ(j->GetCustomHeaders(), "X-Trace: 7");
  EXPECT_EQ(j->GetNotifyFlags(), 1u);
  EXPECT_EQ(j->GetState(), JobState::kSuspended);
  EXPECT_EQ(j->GetTimes().creation, times.creation);
  ASSERT_EQ(j->EnumFiles().size(), 1u);
  EXPECT_EQ(j->EnumFiles()[0]->GetLocalName(), Dest("small.bin"));
}

TEST_F(DownloadTest, ATransferredJobSurvivesAReopenAndCompletes) {
  auto job = NewJob("transferred");
  ASSERT_TRUE(job->AddFile(server_->Url("/small.bin"), Dest("small.bin")).ok());
  auto again = TransferThenReopen(std::move(job));
  ASSERT_TRUE(again);
  EXPECT_EQ(again->GetState(), JobState::kTransferred);
  EXPECT_NE(again->GetTimes().transfer_completion, std::chrono::system_clock::time_point{});
  ASSERT_TRUE(again->Complete().ok());
  EXPECT_EQ(Sha256OfFile(Dest("small.bin")), small_sha_);
}

TEST_F(DownloadTest, ASecondManagerOnTheSameQueueIsRefused) {
  auto second = Manager::Open(options_);
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), kEAccessDenied);
}

// A handle may outlive its Manager (the contract in manager.h), but it must
// not hold the queue: the same process reopens it at once, and the old
// handle fails every call instead of touching the closed database.
TEST_F(DownloadTest, AHandleThatOutlivesItsManagerFailsAndLeavesTheQueueFree) {
  auto job = NewJob("outlives");
  ASSERT_TRUE(job->AddFile(server_->Url("/small.bin"), Dest("small.bin")).ok());
  auto file = job->EnumFiles().at(0);
  const Guid id = job->GetId();
  manager_.reset();

  OpenManager();
  ASSERT_TRUE(manager_);
  EXPECT_EQ(job->Resume().code(), kEFail);
  EXPECT_EQ(job->SetDescription("late").code(), kEFail);
  EXPECT_EQ(job->AddFile(server_->Url("/small.bin"), Dest("other.bin")).code(), kEFail);
  EXPECT_EQ(job->SetCredentials(AuthTarget::kServer, AuthScheme::kBasic, "u", "p").code(), kEFail);
  EXPECT_EQ(job->Cancel().code(), kEFail);
  EXPECT_EQ(job->GetState(), JobState::kSuspended);  // the last state it knew
  EXPECT_EQ(file->GetLocalName(), Dest("small.bin"));

  auto again = manager_->GetJob(id);
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ((*again)->GetDescription(), "");
  EXPECT_EQ((*again)->EnumFiles().size(), 1u);
  auto watcher = Watch(**again);
  ASSERT_TRUE((*again)->Resume().ok());
  ASSERT_EQ(watcher->WaitForOutcome(**again), JobState::kTransferred);
  ASSERT_TRUE((*again)->Complete().ok());
  EXPECT_EQ(Sha256OfFile(Dest("small.bin")), small_sha_);
}

TEST_F(DownloadTest, ATemporaryFileDeletedWhileSuspendedIsFetchedAgain) {
  auto job = NewJob("temp-deleted");
  ASSERT_TRUE(job->AddFile(server_->Url(Own("/slow/medium.bin")), Dest("medium.bin")).ok());
  auto watcher = Watch(*job);
  RunThenSuspend(*job, *watcher, 128 * 1024);
  ASSERT_EQ(::unlink(job->EnumFiles()[0]->GetTemporaryName().c_str()), 0);
  ASSERT_TRUE(job->Resume().ok());
  ASSERT_EQ(watcher->WaitForOutcome(*job), JobState::kTransferred);
  ASSERT_TRUE(job->Complete().ok());
  EXPECT_EQ(Sha256OfFile(Dest("medium.bin")), medium_sha_);
  auto log = server_->AccessLogFor(Own("/slow/medium.bin"));
  ASSERT_EQ(log.size(), 2u);
  EXPECT_EQ(log[1].range, "bytes=0-");
}

TEST_F(DownloadTest, BackgroundJobsRunOneAtATimeByPriority) {
  auto low = NewJob("low", JobPriority::kLow);
  auto high = NewJob("high", JobPriority::kHigh);
  ASSERT_TRUE(low->AddFile(server_->Url("/slow/medium.bin"), Dest("low.bin")).ok());
  ASSERT_TRUE(high->AddFile(server_->Url("/slow/medium.bin"), Dest("high.bin")).ok());
  auto wl = Watch(*low);
  auto wh = Watch(*high);
  ASSERT_TRUE(low->Resume().ok());
  ASSERT_TRUE(wl->WaitUntil(*low, [](Job& j) { return j.GetProgress().bytes_transferred > 0; }));
  // A HIGH job preempts the running LOW one.
  ASSERT_TRUE(high->Resume().ok());
  ASSERT_TRUE(wl->WaitForState(*low, JobState::kQueued));
  ASSERT_EQ(wh->WaitForOutcome(*high), JobState::kTransferred);
  ASSERT_EQ(wl->WaitForOutcome(*low), JobState::kTransferred);
  ASSERT_TRUE(low->Complete().ok());
  ASSERT_TRUE(high->Complete().ok());
  EXPECT_EQ(Sha256OfFile(Dest("low.bin")), medium_sha_);
  EXPECT_EQ(Sha256OfFile(Dest("high.bin")), medium_sha_);
}

TEST_F(DownloadTest, TransientErrorsAreRetriedAutomaticallyAfterTheRetryDelay) {
  auto job = NewJob("retry");
  ASSERT_TRUE(job->AddFile(server_->Url(Own("/busy")), Dest("busy")).ok());
  auto watcher = Watch(*job);
  ASSERT_TRUE(job->SetMinimumRetryDelay(5).ok());  // BITS's minimum
  ASSERT_TRUE(job->Resume().ok());
  ASSERT_EQ(watcher->WaitForOutcome(*job), JobState::kTransientError);
  // No call from the application: the retry timer requeues the job.
  ASSERT_TRUE(watcher->WaitUntil(
      *job, [](Job& j) { return j.GetErrorCount() >= 2; }, std::chrono::seconds(60)));
  EXPECT_GE(server_->AccessLogFor(Own("/busy")).size(), 2u);
  ASSERT_TRUE(job->Cancel().ok());
}

TEST_F(DownloadTest, NoProgressForNoProgressTimeoutTurnsATransientErrorFatal) {
  auto job = NewJob("no-progress");
  ASSERT_TRUE(job->AddFile(server_->Url(Own("/busy")), Dest("busy")).ok());
  auto watcher = Watch(*job);
  ASSERT_TRUE(job->SetMinimumRetryDelay(600).ok());
  ASSERT_TRUE(job->SetNoProgressTimeout(1).ok());
  ASSERT_TRUE(job->Resume().ok());
  // The retry (600 s) would come after the no-progress deadline (1 s).
  ASSERT_TRUE(watcher->WaitForState(*job, JobState::kError, std::chrono::seconds(60)));
  EXPECT_EQ(job->GetError()->code, HttpErrorCode(503));
  EXPECT_EQ(server_->AccessLogFor(Own("/busy")).size(), 1u);
  EXPECT_TRUE(watcher->WaitUntil(*job, [&](Job&) { return watcher->error_count() == 1; }));
}

TEST_F(DownloadTest, MaximumDownloadTimeEndsAJobThatTakesTooLong) {
  auto job = NewJob("max-time");
  ASSERT_TRUE(job->AddFile(server_->Url("/crawl/medium.bin"), Dest("m.bin")).ok());
  auto watcher = Watch(*job);
  ASSERT_TRUE(job->SetMaximumDownloadTime(1).ok());
  ASSERT_TRUE(job->Resume().ok());
  ASSERT_TRUE(watcher->WaitForState(*job, JobState::kError, std::chrono::seconds(60)));
  EXPECT_EQ(job->GetError()->code, kBgEMaxDownloadTimeout);
  EXPECT_LT(job->GetProgress().bytes_transferred, 3 * kMiB);
  ASSERT_TRUE(job->Cancel().ok());
  EXPECT_TRUE(ListDirectory(dest_.path()).empty());
}

TEST_F(DownloadTest, JobsOfOnePriorityShareTheSlotInTimeSlices) {
  manager_.reset();
  OpenManager(std::chrono::milliseconds(200));
  auto first = NewJob("first", JobPriority::kNormal);
  auto second = NewJob("second", JobPriority::kNormal);
  ASSERT_TRUE(first->AddFile(server_->Url("/crawl/medium.bin"), Dest("1.bin")).ok());
  ASSERT_TRUE(second->AddFile(server_->Url("/crawl/small.bin"), Dest("2.bin")).ok());
  auto w1 = Watch(*first);
  auto w2 = Watch(*second);
  ASSERT_TRUE(first->Resume().ok());
  ASSERT_TRUE(w1->WaitUntil(*first, [](Job& j) { return j.GetProgress().bytes_transferred > 0; }));
  ASSERT_TRUE(second->Resume().ok());
  // One slot: the second job only gets its turn when the first's slice ends.
  ASSERT_EQ(w2->WaitForOutcome(*second), JobState::kTransferred);
  EXPECT_NE(first->GetState(), JobState::kTransferred);  // 3 MiB at 64 KiB/s takes far longer
  ASSERT_TRUE(first->Cancel().ok());
  ASSERT_TRUE(second->Complete().ok());
  EXPECT_EQ(Sha256OfFile(Dest("2.bin")), small_sha_);
}

TEST_F(DownloadTest, CustomHeadersAreSent) {
  auto without = NewJob("no-token");
  ASSERT_TRUE(without->AddFile(server_->Url("/token/small.bin"), Dest("a.bin")).ok());
  auto w1 = Watch(*without);
  ASSERT_TRUE(without->Resume().ok());
  ASSERT_EQ(w1->WaitForOutcome(*without), JobState::kError);
  EXPECT_EQ(without->GetError()->code, HttpErrorCode(403));

  auto with = NewJob("token");
  ASSERT_TRUE(with->SetCustomHeaders("X-Token: abc\r\nX-Other: 1").ok());
  ASSERT_TRUE(with->AddFile(server_->Url("/token/small.bin"), Dest("b.bin")).ok());
  auto w2 = Watch(*with);
  ASSERT_TRUE(with->Resume().ok());
  ASSERT_EQ(w2->WaitForOutcome(*with), JobState::kTransferred);
  ASSERT_TRUE(with->Complete().ok());
  EXPECT_EQ(Sha256OfFile(Dest("b.bin")), small_sha_);
}

// Whether `needle` is anywhere in the queue's files (database, log, index).
bool QueueFilesContain(const std::filesystem::path& queue, const std::string& needle) {
  for (const char* name : {"queue.db", "queue.db-wal", "queue.db-shm"}) {
    std::ifstream in(queue / name, std::ios::binary);
    const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (bytes.find(needle) != std::string::npos) return true;
  }
  return false;
}

TEST_F(DownloadTest, CustomHeadersAreSealedOnDiskAndSurviveARestart) {
  const std::string headers = "X-Token: abc\r\nX-Note: Distinctive-Header-Token-91";
  auto job = NewJob("sealed");
  ASSERT_TRUE(job->SetCustomHeaders(headers).ok());
  ASSERT_TRUE(job->AddFile(server_->Url("/token/small.bin"), Dest("sealed.bin")).ok());
  const Guid id = job->GetId();
  EXPECT_FALSE(QueueFilesContain(state_ / "queue", "Distinctive-Header-Token-91"));
  job.reset();
  manager_.reset();
  EXPECT_FALSE(QueueFilesContain(state_ / "queue", "Distinctive-Header-Token-91"));
  OpenManager();
  job = *manager_->GetJob(id);
  EXPECT_EQ(job->GetCustomHeaders(), headers);
  auto watcher = Watch(*job);
  ASSERT_TRUE(job->Resume().ok());
  ASSERT_EQ(watcher->WaitForOutcome(*job), JobState::kTransferred);  // the token was sent
  ASSERT_TRUE(job->SetCustomHeaders("").ok());
  EXPECT_EQ(job->GetCustomHeaders(), "");
}

TEST_F(DownloadTest, WriteOnlyCustomHeadersAreSentButNeverShownAgain) {
  auto job = NewJob("write-only");
  ASSERT_TRUE(job->SetCustomHeaders("X-Token: wrong").ok());
  ASSERT_TRUE(job->MakeCustomHeadersWriteOnly().ok());
  EXPECT_EQ(job->GetCustomHeaders(), "");
  // Headers set later stay write-only, also after a restart.
  ASSERT_TRUE(job->SetCustomHeaders("X-Token: abc").ok());
  EXPECT_EQ(job->GetCustomHeaders(), "");
  ASSERT_TRUE(job->AddFile(server_->Url("/token/small.bin"), Dest("write-only.bin")).ok());
  const Guid id = job->GetId();
  job.reset();
  manager_.reset();
  OpenManager();
  job = *manager_->GetJob(id);
  EXPECT_EQ(job->GetCustomHeaders(), "");
  ASSERT_TRUE(job->MakeCustomHeadersWriteOnly().ok());  // again: nothing changes
  auto watcher = Watch(*job);
  ASSERT_TRUE(job->Resume().ok());
  ASSERT_EQ(watcher->WaitForOutcome(*job), JobState::kTransferred);  // "X-Token: abc" went out
  ASSERT_TRUE(job->Complete().ok());
  EXPECT_EQ(Sha256OfFile(Dest("write-only.bin")), small_sha_);
}

TEST_F(DownloadTest, PlaintextCustomHeadersOfAnOlderQueueMoveIntoTheVault) {
  auto job = NewJob("legacy");
  ASSERT_TRUE(job->AddFile(server_->Url("/token/small.bin"), Dest("legacy.bin")).ok());
  const Guid id = job->GetId();
  job.reset();
  manager_.reset();
  // As schema version 7 kept them: in jobs.custom_headers.
  const std::string headers = "X-Token: abc\r\nX-Note: Legacy-Header-Token-55";
  {
    auto store = store::Store::Open(state_ / "queue/queue.db");
    ASSERT_TRUE(store.ok());
    store::JobRecord record = (*(*store)->LoadJobs())[0];
    record.custom_headers = headers;
    ASSERT_TRUE((*store)->UpdateJob(record).ok());
  }
  ASSERT_TRUE(QueueFilesContain(state_ / "queue", "Legacy-Header-Token-55"));
  OpenManager();
  job = *manager_->GetJob(id);
  EXPECT_EQ(job->GetCustomHeaders(), headers);
  auto watcher = Watch(*job);
  ASSERT_TRUE(job->Resume().ok());
  ASSERT_EQ(watcher->WaitForOutcome(*job), JobState::kTransferred);
  job.reset();
  manager_.reset();
  EXPECT_FALSE(QueueFilesContain(state_ / "queue", "Legacy-Header-Token-55"));
}

TEST_F(DownloadTest, TheStateDirectoryMustBeUsable) {
  ManagerOptions relative;
  relative.state_directory = "relative/dir";
  EXPECT_EQ(Manager::Open(relative).status().code(), kEInvalidArg);
  ManagerOptions file_in_the_way;
  std::ofstream(dest_ / "afile") << "x";
  file_in_the_way.state_directory = dest_ / "afile/queue";
  EXPECT_FALSE(Manager::Open(file_in_the_way).ok());
}

TEST_F(DownloadTest, CreateJobsQueuesManyJobsAtomically) {
  std::vector<JobSpec> specs;
  for (int i = 0; i < 50; ++i) {
    JobSpec spec;
    spec.display_name = "batch " + std::to_string(i);
    spec.priority = JobPriority::kForeground;
    spec.files.push_back({server_->Url("/small.bin"), Dest("b" + std::to_string(i))});
    spec.resume = i < 3;
    specs.push_back(spec);
  }
  auto jobs = manager_->CreateJobs(specs);
  ASSERT_TRUE(jobs.ok()) << jobs.status().ToString();
  ASSERT_EQ(jobs->size(), 50u);
  auto watcher = Watch(*(*jobs)[2]);
  ASSERT_EQ(watcher->WaitForOutcome(*(*jobs)[2]), JobState::kTransferred);
  EXPECT_EQ((*jobs)[10]->GetState(), JobState::kSuspended);
  EXPECT_EQ((*jobs)[10]->GetDisplayName(), "batch 10");
  EXPECT_EQ((*jobs)[10]->EnumFiles().size(), 1u);

  // One bad spec: nothing is created.
  specs.resize(2);
  specs[1].files[0].remote_name = "ftp://127.0.0.1/x";
  auto refused = manager_->CreateJobs(specs);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), kEInvalidArg);
  EXPECT_NE(refused.status().message().find("job spec 1"), std::string::npos);
  EXPECT_EQ(manager_->EnumJobs()->size(), 50u);
}

TEST_F(DownloadTest, EnumJobInfoSnapshotsTheWholeQueue) {
  auto a = NewJob("alpha", JobPriority::kLow);
  auto b = NewJob("beta");
  ASSERT_TRUE(a->SetDescription("first").ok());
  ASSERT_TRUE(b->AddFile(server_->Url("/missing.bin"), Dest("m")).ok());
  auto watcher = Watch(*b);
  ASSERT_TRUE(b->Resume().ok());
  ASSERT_EQ(watcher->WaitForOutcome(*b), JobState::kError);
  auto infos = manager_->EnumJobInfo();
  ASSERT_TRUE(infos.ok());
  ASSERT_EQ(infos->size(), 2u);
  const JobInfo& first = (*infos)[0];
  EXPECT_EQ(first.id, a->GetId());
  EXPECT_EQ(first.display_name, "alpha");
  EXPECT_EQ(first.description, "first");
  EXPECT_EQ(first.priority, JobPriority::kLow);
  EXPECT_EQ(first.state, JobState::kSuspended);
  EXPECT_FALSE(first.error.has_value());
  EXPECT_EQ(first.minimum_retry_delay, 600u);
  const JobInfo& second = (*infos)[1];
  EXPECT_EQ(second.state, JobState::kError);
  ASSERT_TRUE(second.error.has_value());
  EXPECT_EQ(second.error->code, HttpErrorCode(404));
  EXPECT_EQ(second.progress.files_total, 1u);
  EXPECT_EQ(second.owner, a->GetOwner());
  EXPECT_EQ(b->GetInfo().state, JobState::kError);
}

TEST_F(DownloadTest, ATransferredJobIsDurableAndNothingIsFetchedAgainAfterARestart) {
  // Each file's last bytes are synced while the next one downloads; the job
  // must not be TRANSFERRED before every completion is committed.
  auto job = NewJob("durable");
  ASSERT_NO_FATAL_FAILURE(AddSmallFiles(*job, 20));
  // The last file's final sync (up to a checkpoint's worth) is the longest.
  ASSERT_TRUE(job->AddFile(server_->Url(Own("/medium.bin")), Dest("last")).ok());
  auto reopened = TransferThenReopen(std::move(job));
  ASSERT_TRUE(reopened);
  EXPECT_EQ(reopened->GetState(), JobState::kTransferred);
  EXPECT_EQ(reopened->GetProgress().files_transferred, 21u);
  ASSERT_EQ(reopened->Complete().code(), 0);
  EXPECT_EQ(Sha256OfFile(Dest("last")), medium_sha_);
  EXPECT_EQ(server_->AccessLogFor(Own("/medium.bin")).size(), 1u);
  for (int i = 0; i < 20; ++i) {
    EXPECT_EQ(Sha256OfFile(Dest("f" + std::to_string(i))), small_sha_);
    EXPECT_EQ(server_->AccessLogFor(Own("/small.bin") + "&n=" + std::to_string(i)).size(), 1u);
  }
}

TEST_F(DownloadTest, ACleanCloseKeepsEveryFinishedFileEvenBeforeItsBatchIsSynced) {
  // Finished files are synced and committed in batches; closing the queue
  // must sync and commit the batch still waiting, not drop it.
  auto job = NewJob("close-mid-batch");
  ASSERT_NO_FATAL_FAILURE(AddSmallFiles(*job, 20));
  ASSERT_TRUE(job->AddFile(server_->Url(Own("/slow/medium.bin")), Dest("last")).ok());
  const Guid id = job->GetId();
  auto watcher = Watch(*job);
  ASSERT_TRUE(job->Resume().ok());
  ASSERT_TRUE(watcher->WaitUntil(*job, [](Job& j) {
    return j.GetProgress().files_transferred == 20 &&
           j.EnumFiles()[20]->GetProgress().bytes_transferred > 0;
  }));
  job.reset();
  manager_.reset();
  OpenManager();
  auto again = manager_->GetJob(id);
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ((*again)->GetProgress().files_transferred, 20u);
  auto rewatch = Watch(**again);
  ASSERT_TRUE((*again)->Resume().ok());
  ASSERT_EQ(rewatch->WaitForOutcome(**again), JobState::kTransferred);
  ASSERT_EQ((*again)->Complete().code(), 0);
  EXPECT_EQ(Sha256OfFile(Dest("last")), medium_sha_);
  for (int i = 0; i < 20; ++i) {
    EXPECT_EQ(Sha256OfFile(Dest("f" + std::to_string(i))), small_sha_);
    EXPECT_EQ(server_->AccessLogFor(Own("/small.bin") + "&n=" + std::to_string(i)).size(), 1u)
        << "file " << i << " was fetched again";
  }
}

TEST_F(DownloadTest, AFailedRenameLeavesTheJobTransferredAndCompleteCanBeRetried) {
  auto job = NewJob("rename-fails");
  ASSERT_TRUE(job->AddFile(server_->Url("/small.bin"), Dest("a.bin")).ok());
  ASSERT_TRUE(job->AddFile(server_->Url("/medium.bin"), Dest("b.bin")).ok());
  auto watcher = Watch(*job);
  ASSERT_TRUE(job->Resume().ok());
  ASSERT_EQ(watcher->WaitForOutcome(*job), JobState::kTransferred);
  // Something now occupies the second final name: a non-empty directory.
  ASSERT_EQ(::mkdir(Dest("b.bin").c_str(), 0755), 0);
  std::ofstream(Dest("b.bin/keep")) << "user data";
  Status st = job->Complete();
  EXPECT_FALSE(st.ok());
  EXPECT_EQ(job->GetState(), JobState::kTransferred);
  auto error = job->GetError();
  ASSERT_TRUE(error.ok());
  EXPECT_EQ(error->context, ErrorContext::kLocalFile);
  EXPECT_EQ(*error->file_index, 1u);
  auto files = job->EnumFiles();
  EXPECT_TRUE(FileExists(Dest("a.bin")));  // renamed files stay available
  EXPECT_TRUE(FileExists(files[1]->GetTemporaryName()));
  // The application fixes the cause and completes again.
  ASSERT_EQ(::unlink(Dest("b.bin/keep").c_str()), 0);
  ASSERT_EQ(::rmdir(Dest("b.bin").c_str()), 0);
  ASSERT_EQ(job->Complete().code(), 0);
  EXPECT_EQ(Sha256OfFile(Dest("a.bin")), small_sha_);
  EXPECT_EQ(Sha256OfFile(Dest("b.bin")), medium_sha_);
  EXPECT_EQ(ListDirectory(dest_.path()), (std::vector<std::string>{"a.bin", "b.bin"}));
}

TEST_F(DownloadTest, FilesOfAJobTransferInTheOrderTheyWereAdded) {
  auto job = NewJob("order");
  const std::vector<std::string> names = {"medium.bin", "empty.bin", "small.bin"};
  for (const std::string& n : names) {
    ASSERT_TRUE(job->AddFile(server_->Url(Own("/" + n)), Dest(n)).ok());
  }
  auto watcher = Watch(*job);
  ASSERT_TRUE(job->Resume().ok());
  ASSERT_EQ(watcher->WaitForOutcome(*job), JobState::kTransferred);
  std::vector<std::string> order;
  for (const auto& e : server_->AccessLog()) {
    for (const std::string& n : names) {
      if (e.uri == Own("/" + n)) order.push_back(n);
    }
  }
  EXPECT_EQ(order, names);
  ASSERT_TRUE(job->Complete().ok());
}

TEST_F(DownloadTest, AJobAllowedSeveralFilesDownloadsThemAtOnce) {
  auto job = NewJob("concurrent");
  EXPECT_EQ(job->GetMaximumConcurrentFiles(), 1u);  // BITS: one after another
  EXPECT_EQ(job->SetMaximumConcurrentFiles(0).code(), kEInvalidArg);
  EXPECT_EQ(job->SetMaximumConcurrentFiles(17).code(), kEInvalidArg);
  ASSERT_TRUE(job->SetMaximumConcurrentFiles(3).ok());
  std::vector<std::string> names;
  for (int i = 0; i < 6; ++i) {
    names.push_back("c" + std::to_string(i));
    ASSERT_TRUE(job->AddFile(server_->Url(Own("/crawl/small.bin") + "&n=" + std::to_string(i)),
                             Dest(names.back()))
                    .ok());
  }
  auto watcher = Watch(*job);
  ASSERT_TRUE(job->Resume().ok());
  // Three files at once: each has bytes and none is complete. One file at a
  // time (64 KiB/s each) could never show this.
  ASSERT_TRUE(watcher->WaitUntil(*job, [](Job& j) {
    int partial = 0;
    for (auto& f : j.EnumFiles()) {
      const FileProgress p = f->GetProgress();
      partial += p.bytes_transferred > 0 && !p.completed ? 1 : 0;
    }
    return partial == 3;
  }));
  ASSERT_EQ(watcher->WaitForOutcome(*job), JobState::kTransferred);
  ASSERT_TRUE(job->Complete().ok());
  std::vector<std::string> started;
  for (const auto& e : server_->AccessLog()) {
    for (int i = 0; i < 6; ++i) {
      if (e.uri == Own("/crawl/small.bin") + "&n=" + std::to_string(i)) started.push_back(names[i]);
    }
  }
  EXPECT_EQ(started.size(), 6u);  // each file fetched once
  for (const std::string& n : names) EXPECT_EQ(Sha256OfFile(Dest(n)), small_sha_);
}

TEST_F(DownloadTest, TemporaryFilesCreatedAheadServeTheirOwnFilesAcrossASuspend) {
  auto job = NewJob("ahead");
  auto watcher = StartWithFilesCreatedAhead(*job);
  ASSERT_TRUE(watcher);
  // Suspended, they stay under the names the queue recorded; resumed, each
  // file still gets its own bytes.
  ASSERT_TRUE(job->Suspend().ok());
  EXPECT_GE(TemporaryFilesIn(dest_.path()), 5u);
  ASSERT_TRUE(job->Resume().ok());
  ASSERT_EQ(watcher->WaitForOutcome(*job), JobState::kTransferred);
  ASSERT_EQ(job->Complete().code(), 0);
  EXPECT_EQ(TemporaryFilesIn(dest_.path()), 0u);
  EXPECT_EQ(ListDirectory(dest_.path()).size(), 13u);
  EXPECT_EQ(Sha256OfFile(Dest("first")), small_sha_);
  for (int i = 0; i < 12; ++i) EXPECT_EQ(Sha256OfFile(Dest("f" + std::to_string(i))), small_sha_);
}

TEST_F(DownloadTest, CancelDeletesTheTemporaryFilesCreatedAhead) {
  auto job = NewJob("ahead-cancel");
  ASSERT_TRUE(StartWithFilesCreatedAhead(*job));
  ASSERT_EQ(job->Cancel().code(), 0);
  EXPECT_TRUE(ListDirectory(dest_.path()).empty());
}

TEST_F(DownloadTest, TheMaximumOfConcurrentFilesSurvivesAReopen) {
  auto job = NewJob("concurrent-kept");
  ASSERT_TRUE(job->SetMaximumConcurrentFiles(5).ok());
  const Guid id = job->GetId();
  job.reset();
  manager_.reset();
  OpenManager();
  auto again = manager_->GetJob(id);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ((*again)->GetMaximumConcurrentFiles(), 5u);
  EXPECT_EQ((*again)->GetInfo().max_concurrent_files, 5u);
}

TEST_F(DownloadTest, CompleteReplacesALinkAtTheFinalNameInsteadOfWritingThroughIt) {
  std::ofstream(dest_ / "victim") << "must not change";
  ASSERT_EQ(::symlink((dest_ / "victim").c_str(), Dest("link.bin").c_str()), 0);
  auto job = NewJob("link");
  ASSERT_TRUE(job->AddFile(server_->Url("/small.bin"), Dest("link.bin")).ok());
  auto watcher = Watch(*job);
  ASSERT_TRUE(job->Resume().ok());
  ASSERT_EQ(watcher->WaitForOutcome(*job), JobState::kTransferred);
  ASSERT_TRUE(job->Complete().ok());
  struct stat st {};
  ASSERT_EQ(::lstat(Dest("link.bin").c_str(), &st), 0);
  EXPECT_TRUE(S_ISREG(st.st_mode));
  EXPECT_EQ(Sha256OfFile(Dest("link.bin")), small_sha_);
  std::ifstream victim(dest_ / "victim");
  std::string text;
  std::getline(victim, text);
  EXPECT_EQ(text, "must not change");
}

TEST_F(DownloadTest, TheNotifyCommandLineRunsWhenTheJobIsTransferred) {
  // No JobCallback here: a callback object would take the command's place.
  auto job = NewJob("notify");
  testing::LineFifo fired(state_ / "fired");
  ASSERT_TRUE(job->SetNotifyCmdLine("/bin/sh", "sh -c \"echo \\\"$0 $1\\\" > " + fired.path() +
                                                   "\" transferred " + job->GetId().ToString())
                  .ok());
  EXPECT_EQ(job->GetNotifyCmdLine().program, "/bin/sh");
  ASSERT_TRUE(job->AddFile(server_->Url("/small.bin"), Dest("s.bin")).ok());
  ASSERT_TRUE(job->Resume().ok());
  EXPECT_EQ(fired.ReadLine(std::chrono::seconds(60)), "transferred " + job->GetId().ToString());
  EXPECT_EQ(job->GetState(), JobState::kTransferred);
  ASSERT_TRUE(job->Complete().ok());
  EXPECT_EQ(fired.ReadLine(std::chrono::milliseconds(0)), std::nullopt);  // once per event
  EXPECT_EQ(job->SetNotifyCmdLine("/bin/sh", "sh").code(), kBgEInvalidState);
}

TEST_F(DownloadTest, AFailingNotifyCommandRunsAgainAfterTheRetryDelay) {
  auto job = NewJob("notify-fails");
  testing::LineFifo runs(state_ / "runs");
  ASSERT_TRUE(
      job->SetNotifyCmdLine("/bin/sh", "sh -c \"echo run > " + runs.path() + "; exit 1\"").ok());
  ASSERT_TRUE(job->SetMinimumRetryDelay(5).ok());
  ASSERT_TRUE(job->AddFile(server_->Url("/missing.bin"), Dest("m.bin")).ok());
  ASSERT_TRUE(job->Resume().ok());
  // ERROR (404) fires the command (flag 0x02); it exits 1; 5 s later it runs again.
  EXPECT_EQ(runs.ReadLine(std::chrono::seconds(60)), "run");
  EXPECT_EQ(job->GetState(), JobState::kError);
  EXPECT_EQ(runs.ReadLine(std::chrono::seconds(60)), "run");
  ASSERT_TRUE(job->Cancel().ok());
}

}  // namespace
}  // namespace openbits

namespace openbits {
namespace {

TEST_F(DownloadTest, ACustomHttpMethodIsSentWithoutRangesAndKeepsTheJobForeground) {
  NginxServer echo(NginxServer::Options{
      "location /method { default_type text/plain; return 200 \"$request_method\\n\"; }"});
  ASSERT_TRUE(echo.ok()) << echo.error();
  auto job = NewJob("custom method", JobPriority::kNormal);
  ASSERT_TRUE(job->AddFile(echo.Url("/method"), Dest("method.txt")).ok());
  EXPECT_EQ(job->GetHttpMethod(), "GET");
  EXPECT_EQ(job->SetHttpMethod("HEAD").code(), kEInvalidArg);
  EXPECT_EQ(job->SetHttpMethod("BAD METHOD").code(), kEInvalidArg);
  ASSERT_TRUE(job->SetHttpMethod("POST").ok());
  EXPECT_EQ(job->GetHttpMethod(), "POST");
  EXPECT_EQ(job->GetPriority(), JobPriority::kForeground);  // for good
  EXPECT_EQ(job->SetPriority(JobPriority::kLow).code(), kBgENotSupportedWithCustomHttpMethod);
  EXPECT_EQ(job->AddFileWithRanges(echo.Url("/method"), Dest("r.txt"), {{0, 1}}).code(),
            kBgENotSupportedWithCustomHttpMethod);
  auto watcher = Watch(*job);
  ASSERT_TRUE(job->Resume().ok());
  ASSERT_EQ(watcher->WaitForOutcome(*job), JobState::kTransferred);
  EXPECT_EQ(job->SetHttpMethod("PUT").code(), kBgEReadOnlyPropertyAfterResume);
  ASSERT_TRUE(job->Complete().ok());
  std::ifstream in(Dest("method.txt"));
  std::string body;
  std::getline(in, body);
  EXPECT_EQ(body, "POST");
  auto log = echo.AccessLogFor("/method");
  ASSERT_EQ(log.size(), 1u);
  EXPECT_EQ(log[0].range, "-");  // no Range with a non-idempotent method
}

}  // namespace
}  // namespace openbits
