// Copyright (c) openbits authors. Licensed under the Apache License 2.0.
//
// Queue scale: creates N suspended one-file jobs, reopens the queue, lists
// it, and reports rates, times and resident memory.
//
//   openbits_queue_scale STATE_DIR DEST_DIR [N=100000]
//   openbits_queue_scale --daemon DEST_DIR [N=100000]
//
// With --daemon the jobs are created through openbitsd (Connect(), the
// daemon of $OPENBITS_STATE_DIR, started from this program's directory if
// none runs) and only the creation rates are reported: bench/run restarts
// the daemon, lists the queue with bitsadmin and reads the daemon's memory.

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "openbits/openbits.h"

namespace {

double Seconds(std::chrono::steady_clock::time_point since) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - since).count();
}

long ResidentKiB() {
  std::ifstream status("/proc/self/status");
  std::string key;
  long value = 0;
  while (status >> key) {
    if (key == "VmRSS:") {
      status >> value;
      return value;
    }
  }
  return -1;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: %s STATE_DIR|--daemon DEST_DIR [N]\n", argv[0]);
    return 2;
  }
  const bool through_daemon = std::string(argv[1]) == "--daemon";
  const long n = argc > 3 ? std::atol(argv[3]) : 100000;
  openbits::ManagerOptions options;
  options.state_directory = argv[1];
  options.run_transfers = false;
  const std::string dest = argv[2];
  // A request is at most 1 MiB (docs/ipc.md): smaller batches to the daemon.
  const long batch = through_daemon ? 2000 : 10000;
  {
    openbits::ConnectOptions connect;  // openbitsd beside this program
    const std::string self = argv[0];
    connect.daemon_program = self.substr(0, self.find_last_of('/') + 1) + "openbitsd";
    auto manager = through_daemon ? openbits::Connect(connect) : openbits::Manager::Open(options);
    if (!manager.ok()) {
      std::fprintf(stderr, "queue_scale: %s\n", manager.status().ToString().c_str());
      return 1;
    }
    // The per-job path, on a sample (each job commits twice).
    const long sample = std::min<long>(n / 2, 2000);
    const auto start = std::chrono::steady_clock::now();
    for (long i = 0; i < sample; ++i) {
      auto job = (*manager)->CreateJob("job " + std::to_string(i));
      if (!job.ok()) return 1;
      if (!(*job)
               ->AddFile("http://127.0.0.1:9/f" + std::to_string(i),
                         dest + "/f" + std::to_string(i))
               .ok()) {
        return 1;
      }
    }
    const double s = Seconds(start);
    std::printf("per-job path: %ld jobs (CreateJob + AddFile each) in %.2f s: %.0f jobs/s\n",
                sample, s, sample / s);
    // The batch path: CreateJobs in batches.
    const auto batch_start = std::chrono::steady_clock::now();
    for (long done = sample; done < n;) {
      std::vector<openbits::JobSpec> specs;
      for (long i = done; i < std::min(n, done + batch); ++i) {
        openbits::JobSpec spec;
        spec.display_name = "job " + std::to_string(i);
        spec.files.push_back(
            {"http://127.0.0.1:9/f" + std::to_string(i), dest + "/f" + std::to_string(i)});
        specs.push_back(std::move(spec));
      }
      if (!(*manager)->CreateJobs(specs).ok()) return 1;
      done += static_cast<long>(specs.size());
    }
    const double b = Seconds(batch_start);
    std::printf("batch path: %ld jobs (CreateJobs, %ld per call) in %.2f s: %.0f jobs/s\n",
                n - sample, batch, b, (n - sample) / b);
  }
  if (through_daemon) return 0;
  const auto reopen = std::chrono::steady_clock::now();
  auto manager = openbits::Manager::Open(options);
  if (!manager.ok()) return 1;
  const double open_s = Seconds(reopen);
  const auto list_start = std::chrono::steady_clock::now();
  auto jobs = (*manager)->EnumJobInfo();
  if (!jobs.ok()) return 1;
  std::size_t listed = 0;
  for (auto& job : *jobs) listed += job.display_name.empty() ? 0 : 1;
  const double list_s = Seconds(list_start);
  std::printf("reopen %.3f s, list %zu jobs with their names %.3f s, resident %ld KiB\n", open_s,
              listed, list_s, ResidentKiB());
  return 0;
}
