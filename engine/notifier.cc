// Copyright (c) openbits authors. Licensed under the Apache License 2.0.

#include "engine/notifier.h"

#include <utility>

#include <boost/asio/post.hpp>

#include "openbits/hresult.h"

#include "engine/job_view.h"
#include "engine/notify_command.h"
#include "platform/process.h"

namespace openbits::engine {

using std::chrono::steady_clock;

Notifier::Notifier(boost::asio::io_context& engine_io, const JobTable& table, OwnerAccess& owners,
                   LogSink log, std::chrono::milliseconds retry_floor, HandleFactory make_handle)
    : engine_io_(engine_io),
      table_(table),
      owners_(owners),
      log_(std::move(log)),
      retry_floor_(retry_floor),
      make_handle_(std::move(make_handle)) {
  work_.emplace(notify_io_.get_executor());
  thread_ = std::thread([this] { notify_io_.run(); });
}

Notifier::~Notifier() { Stop(); }

void Notifier::Stop() {
  work_.reset();
  if (!thread_.joinable()) return;
  if (std::this_thread::get_id() == thread_.get_id()) {
    thread_.detach();  // the last handle died inside a callback
  } else {
    thread_.join();
  }
}

void Notifier::Post(JobData& job, std::function<void(JobCallback&, Job&)> call) {
  if (!job.callback || (job.rec.notify_flags & kNotifyDisable) != 0) return;
  std::shared_ptr<JobData> shared = table_.SharedOf(job);
  if (!shared) {
    // A job leaving the queue: make a handle from a snapshot of its data.
    shared = std::make_shared<JobData>();
    shared->rec = job.rec;
    shared->removed = true;
  }
  std::shared_ptr<Job> handle = make_handle_(shared);
  boost::asio::post(notify_io_, [callback = job.callback, handle, call = std::move(call)] {
    try {
      call(*callback, *handle);
    } catch (...) {
      // An application's exception must not kill the notification thread.
    }
  });
}

void Notifier::Modification(JobData& job, bool progress_only) {
  if ((job.rec.notify_flags & kNotifyJobModification) == 0 || !job.callback) return;
  const auto now = steady_clock::now();
  const auto interval = std::chrono::milliseconds(job.rec.min_notification_interval_ms);
  if (progress_only && now - job.last_notify < interval) {
    if (job.notify_pending) return;
    job.notify_pending = true;
    job.notify_timer.get(engine_io_).expires_at(job.last_notify + interval);
    std::weak_ptr<JobData> weak = table_.SharedOf(job);
    job.notify_timer.get(engine_io_).async_wait([this, weak](const boost::system::error_code& ec) {
      auto j = weak.lock();
      if (!j) return;
      j->notify_pending = false;
      if (ec || j->removed) return;
      j->last_notify = steady_clock::now();
      Post(*j, [](JobCallback& cb, Job& h) { cb.JobModification(h); });
    });
    return;
  }
  job.last_notify = now;
  Post(job, [](JobCallback& cb, Job& h) { cb.JobModification(h); });
}

void Notifier::Transferred(JobData& job) {
  if ((job.rec.notify_flags & kNotifyJobTransferred) == 0) return;
  Post(job, [](JobCallback& cb, Job& h) { cb.JobTransferred(h); });
  RunCommand(job, kNotifyJobTransferred);
}

void Notifier::Error(JobData& job) {
  if ((job.rec.notify_flags & kNotifyJobError) == 0) return;
  if (auto error = ErrorOf(job); error.ok()) {
    Post(job, [e = *error](JobCallback& cb, Job& h) { cb.JobError(h, e); });
  }
  RunCommand(job, kNotifyJobError);
}

void Notifier::RunCommand(JobData& job, std::uint32_t flag) {
  const store::JobRecord& r = job.rec;
  if (r.notify_program.empty() || (r.notify_flags & flag) == 0 ||
      (r.notify_flags & kNotifyDisable) != 0 || job.callback || job.command_pid > 0) {
    return;  // BITS runs the command line only when no callback object is set
  }
  auto owner = owners_.Identity(r.owner);
  if (!owner.ok()) return;
  auto pid = StartNotifyCommand(r.notify_program, r.notify_parameters, *owner);
  if (!pid.ok()) {
    Log(log_, LogLevel::kWarning,
        "job " + r.id.ToString() + ": notify command: " + pid.status().message());
    return;
  }
  job.command_pid = *pid;
  if (auto shared = table_.SharedOf(job)) WatchCommand(shared, flag, r.state);
}

void Notifier::WatchCommand(const std::shared_ptr<JobData>& job, std::uint32_t flag,
                            JobState state) {
  // Reaped by polling with WNOHANG: a library must not take over SIGCHLD.
  job->command_timer.get(engine_io_).expires_after(std::chrono::milliseconds(50));
  std::weak_ptr<JobData> weak = job;
  job->command_timer.get(engine_io_)
      .async_wait([this, weak, flag, state](const boost::system::error_code& ec) {
        auto j = weak.lock();
        if (ec || !j) return;
        const platform::ProcessExit exit = platform::PollProcess(j->command_pid);
        if (exit == platform::ProcessExit::kRunning) {
          WatchCommand(j, flag, state);
          return;
        }
        j->command_pid = -1;
        const bool succeeded = exit == platform::ProcessExit::kSucceeded;
        if (succeeded || j->removed || j->rec.state != state) return;
        // Failed and the job was neither completed nor cancelled: again after
        // the retry delay.
        const auto delay = std::max<std::chrono::milliseconds>(
            std::chrono::seconds(j->rec.minimum_retry_delay_s), retry_floor_);
        j->command_timer.get(engine_io_).expires_after(delay);
        j->command_timer.get(engine_io_)
            .async_wait([this, weak, flag, state](const boost::system::error_code& e) {
              auto again = weak.lock();
              if (e || !again || again->removed || again->rec.state != state) return;
              RunCommand(*again, flag);
            });
      });
}

void Notifier::FileTransferred(JobData& job, std::uint32_t index) {
  if ((job.rec.notify_flags & kNotifyFileTransferred) == 0) return;
  Post(job, [index](JobCallback& cb, Job& h) {
    auto files = h.EnumFiles();
    if (index < files.size()) cb.FileTransferred(h, *files[index]);
  });
}

}  // namespace openbits::engine
