// Copyright (c) openbits authors. Licensed under the Apache License 2.0.

#include "cli/commands.h"

#include <pwd.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <functional>
#include <iomanip>
#include <iostream>
#include <map>
#include <sstream>
#include <thread>

#include "openbits/hresult.h"
#include "openbits/types.h"

#include "auth/request_policy.h"
#include "cli/client.h"
#include "platform/paths.h"
#include "platform/secret_buffer.h"
#include "remote/connection.h"

namespace openbits::cli {
namespace {

using nlohmann::json;

std::string Lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

std::string Upper(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
  return s;
}

bool IsSwitch(const std::string& a) { return !a.empty() && a[0] == '/'; }

std::string Count(const json& v) {
  return v.is_null() ? std::string("UNKNOWN") : std::to_string(v.get<std::uint64_t>());
}

// "12/17/2002 1:21:17 PM", local time, as bitsadmin prints times.
std::string FormatTime(std::int64_t ms) {
  if (ms == 0) return "UNKNOWN";
  const std::time_t t = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  ::localtime_r(&t, &tm);
  int hour = tm.tm_hour % 12;
  if (hour == 0) hour = 12;
  char buf[64];
  std::snprintf(buf, sizeof buf, "%d/%d/%d %d:%02d:%02d %s", tm.tm_mon + 1, tm.tm_mday,
                tm.tm_year + 1900, hour, tm.tm_min, tm.tm_sec, tm.tm_hour < 12 ? "AM" : "PM");
  return buf;
}

// "'program' parameters", or "none".
std::string NotifyCommand(const json& job) {
  const std::string program = job.value("notifyProgram", "");
  if (program.empty()) return "none";
  return "'" + program + "' " + job.value("notifyParameters", "");
}

std::string OwnerName(const std::string& uid_text) {
  char* end = nullptr;
  const unsigned long uid = std::strtoul(uid_text.c_str(), &end, 10);
  if (end == nullptr || *end != '\0') return uid_text;
  struct passwd pw {};
  struct passwd* found = nullptr;
  char buf[4096];
  if (::getpwuid_r(static_cast<uid_t>(uid), &pw, buf, sizeof buf, &found) == 0 && found) {
    return found->pw_name;
  }
  return uid_text;
}

std::string Absolute(const std::string& path) {
  if (path.empty() || path.front() == '/') return path;
  char cwd[4096];
  if (::getcwd(cwd, sizeof cwd) == nullptr) return path;
  return std::string(cwd) + "/" + path;
}

const std::map<std::string, int> kPriorities = {
    {"FOREGROUND", 0}, {"HIGH", 1}, {"NORMAL", 2}, {"LOW", 3}};

struct UsageError {
  std::string message;
};

class Bitsadmin {
 public:
  Bitsadmin(std::ostream& out, std::ostream& err) : out_(out), err_(err) {}

  int Run(std::vector<std::string> args) {
    // Global options come first.
    while (!args.empty()) {
      const std::string a = Lower(args.front());
      if (a == "/rawreturn") {
        raw_ = true;
      } else if (a == "/wrap" || a == "/nowrap") {
        // Line wrapping is the terminal's business here.
      } else {
        break;
      }
      args.erase(args.begin());
    }
    if (args.empty() || args[0] == "/?" || Lower(args[0]) == "/help") {
      Help();
      return args.empty() ? kExitUsage : kExitOk;
    }
    command_ = Lower(args[0]);
    args_.assign(args.begin() + 1, args.end());
    try {
      return Dispatch();
    } catch (const UsageError& e) {
      err_ << "bitsadmin: " << e.message << "\n";
      err_ << "Use bitsadmin /? for the list of switches.\n";
      return kExitUsage;
    } catch (const json::exception& e) {
      err_ << "bitsadmin: unexpected reply from openbitsd: " << e.what() << "\n";
      return kExitFailed;
    }
  }

 private:
  // --- plumbing -----------------------------------------------------------

  int Dispatch();

  void Need(std::size_t n, const char* syntax) {
    if (args_.size() < n) throw UsageError{std::string("usage: bitsadmin ") + syntax};
  }
  void Exactly(std::size_t n, const char* syntax) {
    if (args_.size() != n) throw UsageError{std::string("usage: bitsadmin ") + syntax};
  }

  bool Connected() {
    if (client_) return true;
    // The system-wide daemon, when it runs and nothing points elsewhere
    // (it is started by systemd, never by us).
    if (std::getenv("OPENBITS_SOCKET") == nullptr && std::getenv("OPENBITS_STATE_DIR") == nullptr &&
        ::access(remote::kSystemSocket, F_OK) == 0) {
      auto c = DaemonClient::Connect("", remote::kSystemSocket, false);
      if (!c.ok()) {
        err_ << "bitsadmin: " << c.status().message() << "\n";
        return false;
      }
      client_.emplace(std::move(*c));
      return SayHello();
    }
    const std::string state = platform::DefaultStateDirectory();
    if (state.empty()) {
      err_ << "bitsadmin: no state directory: set HOME or OPENBITS_STATE_DIR\n";
      return false;
    }
    auto c = DaemonClient::Connect(state, platform::DefaultSocketPath(state), true);
    if (!c.ok()) {
      err_ << "bitsadmin: " << c.status().message() << "\n";
      return false;
    }
    client_.emplace(std::move(*c));
    return SayHello();
  }

  bool SayHello() {
    // The daemon uses our Kerberos tickets for implicit credentials.
    if (const char* cache = std::getenv("KRB5CCNAME"); cache != nullptr && *cache != '\0') {
      (void)client_->Call("openbits.hello", {{"credentialCache", cache}});
    }
    return true;
  }

  // Calls the daemon; on failure prints "Unable to <what> - 0x... <text>".
  // job.list's summary; on failure prints why and returns nothing.
  std::optional<std::vector<JobSummary>> List(bool all_users,
                                              const std::optional<std::string>& name,
                                              const std::string& what) {
    auto r = client_->ListJobs(all_users, name);
    if (!r.ok()) {
      Fail(what, r.status());
      return std::nullopt;
    }
    return std::move(*r);
  }

  std::optional<json> Rpc(const std::string& method, const json& params, const std::string& what) {
    auto r = client_->Call(method, params);
    if (!r.ok()) {
      Fail(what, r.status());
      return std::nullopt;
    }
    return *r;
  }

  void Fail(const std::string& what, const Status& st) {
    err_ << "Unable to " << what << " - " << FormatHResult(st.code());
    if (const std::string name = ErrorName(st.code()); !name.empty()) err_ << " " << name;
    err_ << "\n" << st.message() << "\n";
  }

  // Resolves a job named by {GUID} or display name to its GUID text.
  std::optional<std::string> Resolve(const std::string& name) {
    if (!name.empty() && name.front() == '{') {
      if (!Guid::Parse(name).ok()) {
        err_ << "Unable to find job " << name << " - not a GUID\n";
        return std::nullopt;
      }
      return Upper(name);
    }
    auto list = List(false, name, "find job " + name);
    if (!list) return std::nullopt;
    std::vector<std::string> matches;
    for (JobSummary& j : *list) {
      if (j.name == name) matches.push_back(std::move(j.id));
    }
    if (matches.empty()) {
      Fail("find job " + name, Status(kBgENotFound, "no job is named " + name));
      return std::nullopt;
    }
    if (matches.size() > 1) {
      Fail("find job " + name,
           Status(kEInvalidArg, "the name " + name + " is ambiguous: " +
                                    std::to_string(matches.size()) + " jobs; use the GUID"));
      return std::nullopt;
    }
    return matches.front();
  }

  std::optional<json> Info(const std::string& id) {
    return Rpc("job.info", {{"id", id}}, "get the job's properties");
  }

  // Prints a value: a line, or the bare text with /rawreturn.
  void Value(const std::string& v) {
    out_ << v;
    if (!raw_) out_ << "\n";
  }

  // --- commands ------------------------------------------------------------

  void Help();
  int Create();
  int AddFile();
  int AddFileSet();
  int AddFileWithRanges();
  int ListFiles();
  int Simple(const std::string& method, const std::string& done, const std::string& what);
  int Complete();
  int Reset();
  int List();
  int InfoCommand();
  int Getter();
  int Setter();
  int Transfer();
  int Monitor();
  int Util();
  int SetCredentials();
  int RemoveCredentials();
  int SetClientCertificate();
  int SetClientCertificatePassword();
  int SetSecurityFlags();
  void PrintInfo(const json& info, bool verbose);
  void PrintFiles(const json& files);
  void PrintListLine(const JobSummary& job);

  std::ostream& out_;
  std::ostream& err_;
  bool raw_ = false;
  std::string command_;
  std::vector<std::string> args_;
  std::optional<DaemonClient> client_;
};

int Bitsadmin::Dispatch() {
  if (command_ == "/util") return Util();
  static const std::vector<std::string> kKnown = {"/create",
                                                  "/addfile",
                                                  "/addfileset",
                                                  "/addfilewithranges",
                                                  "/listfiles",
                                                  "/suspend",
                                                  "/resume",
                                                  "/cancel",
                                                  "/complete",
                                                  "/reset",
                                                  "/list",
                                                  "/info",
                                                  "/transfer",
                                                  "/monitor",
                                                  "/removecredentials",
                                                  "/takeownership",
                                                  "/makecustomheaderswriteonly",
                                                  "/removeclientcertificate"};
  const bool getter = command_.rfind("/get", 0) == 0;
  const bool setter = command_.rfind("/set", 0) == 0;
  if (!getter && !setter && std::find(kKnown.begin(), kKnown.end(), command_) == kKnown.end()) {
    throw UsageError{"unknown switch " + command_};
  }
  if (!Connected()) return kExitNoDaemon;
  if (command_ == "/setcredentials") return SetCredentials();
  if (command_ == "/removecredentials") return RemoveCredentials();
  if (command_ == "/takeownership") {
    Exactly(1, "/takeownership job");
    return Simple("job.takeOwnership", "Took ownership of the job.", "take ownership of the job");
  }
  if (command_ == "/makecustomheaderswriteonly") {
    Exactly(1, "/makecustomheaderswriteonly job");
    return Simple("job.makeCustomHeadersWriteOnly", "Custom headers are now write-only.",
                  "make the custom headers write-only");
  }
  if (command_ == "/create") return Create();
  if (command_ == "/addfile") return AddFile();
  if (command_ == "/addfileset") return AddFileSet();
  if (command_ == "/addfilewithranges") return AddFileWithRanges();
  if (command_ == "/listfiles") return ListFiles();
  if (command_ == "/suspend") return Simple("job.suspend", "Job suspended.", "suspend job");
  if (command_ == "/resume") return Simple("job.resume", "Job resumed.", "resume job");
  if (command_ == "/cancel") return Simple("job.cancel", "Job canceled.", "cancel job");
  if (command_ == "/complete") return Complete();
  if (command_ == "/reset") return Reset();
  if (command_ == "/setclientcertificatebyid" || command_ == "/setclientcertificatebyname") {
    return SetClientCertificate();
  }
  if (command_ == "/removeclientcertificate") {
    Exactly(1, "/removeclientcertificate job");
    return Simple("job.removeClientCertificate", "Client certificate removed.",
                  "remove the client certificate");
  }
  if (command_ == "/setclientcertificatepassword") return SetClientCertificatePassword();
  if (command_ == "/setsecurityflags") return SetSecurityFlags();
  if (command_ == "/list") return List();
  if (command_ == "/info") return InfoCommand();
  if (command_ == "/transfer") return Transfer();
  if (command_ == "/monitor") return Monitor();
  if (getter) return Getter();
  return Setter();
}

void Bitsadmin::Help() {
  out_ << "openbits bitsadmin 0.1.0: BITSAdmin-compatible transfer administration.\n\n"
          "USAGE: bitsadmin [/RAWRETURN] [/WRAP | /NOWRAP] command\n\n"
          "/CREATE [/DOWNLOAD] display_name     Creates a job (printed: Created job {GUID}.)\n"
          "/ADDFILE job remote_url local_name   Adds a file to the job\n"
          "/ADDFILESET job textfile             Adds the 'remote local' lines of textfile\n"
          "/ADDFILEWITHRANGES job remote local offset:length[,...]  (length may be eof)\n"
          "/LISTFILES job                       Lists the files in the job\n"
          "/SUSPEND job | /RESUME job | /CANCEL job | /COMPLETE job\n"
          "/RESET [/ALLUSERS]                   Cancels all jobs\n"
          "/LIST [/ALLUSERS] [/VERBOSE]         Lists the jobs\n"
          "/INFO job [/VERBOSE]                 Displays information about the job\n"
          "/MONITOR [/ALLUSERS] [/REFRESH sec]  Lists the jobs every sec seconds (Ctrl+C stops)\n"
          "/TRANSFER name [/DOWNLOAD] [/PRIORITY p] [/DYNAMIC] remote local [remote local...]\n"
          "/GETSTATE /GETBYTESTOTAL /GETBYTESTRANSFERRED /GETFILESTOTAL /GETFILESTRANSFERRED\n"
          "/GETDISPLAYNAME /GETDESCRIPTION /GETPRIORITY /GETTYPE /GETOWNER /GETERROR\n"
          "/GETERRORCOUNT /GETMINRETRYDELAY /GETNOPROGRESSTIMEOUT /GETMAXDOWNLOADTIME\n"
          "/GETNOTIFYFLAGS /GETCUSTOMHEADERS /GETCREATIONTIME /GETMODIFICATIONTIME\n"
          "/GETCOMPLETIONTIME /GETTEMPORARYNAME job [file_index]           Read a property\n"
          "/SETDISPLAYNAME /SETDESCRIPTION /SETPRIORITY /SETMINRETRYDELAY /SETNOPROGRESSTIMEOUT\n"
          "/SETMAXDOWNLOADTIME /SETNOTIFYFLAGS job value;  /SETCUSTOMHEADERS job header...\n"
          "/SETNOTIFYCMDLINE job program [parameters] (NULL NULL removes); /GETNOTIFYCMDLINE job\n"
          "/SETPROXYSETTINGS job PRECONFIG|NO_PROXY|OVERRIDE [proxy_list] [bypass_list]\n"
          "/GETPROXYUSAGE /GETPROXYLIST /GETPROXYBYPASSLIST job\n"
          "/SETHTTPMETHOD job verb; /GETHTTPMETHOD job (a verb other than GET: FOREGROUND, no "
          "ranges)\n"
          "/SETMAXCONCURRENTFILES job 1..16; /GETMAXCONCURRENTFILES job  (openbits: files of the "
          "job at once)\n"
          "/SETCREDENTIALS job SERVER|PROXY BASIC|DIGEST|NTLM|NEGOTIATE username password\n"
          "                                     (NULL NULL: the logon credentials; stored "
          "encrypted)\n"
          "/REMOVECREDENTIALS job SERVER|PROXY scheme\n"
          "/TAKEOWNERSHIP job                   Makes you (an administrator) the owner\n"
          "/SETCLIENTCERTIFICATEBYID job store_location store_name hash (40 hex digits)\n"
          "/SETCLIENTCERTIFICATEBYNAME job store_location store_name subject\n"
          "                                     store_location: CURRENT_USER or 1, LOCAL_MACHINE "
          "or 2\n"
          "/SETCLIENTCERTIFICATEPASSWORD job password  (openbits: opens protected PKCS#12 "
          "files)\n"
          "/GETCLIENTCERTIFICATE job; /REMOVECLIENTCERTIFICATE job\n"
          "/SETSECURITYFLAGS job value; /GETSECURITYFLAGS job  (docs/tls.md)\n"
          "/UTIL /VERSION                       Displays the version\n\n"
          "job is a display name or a {GUID}. Exit status: 0 success, 1 failure, 2 usage,\n"
          "3 openbitsd unreachable (docs/bitsadmin.md).\n";
}

int Bitsadmin::Create() {
  std::vector<std::string> rest;
  std::string type = "download";
  for (const std::string& a : args_) {
    const std::string l = Lower(a);
    if (l == "/download") {
      type = "download";
    } else if (l == "/upload" || l == "/upload-reply") {
      type = l.substr(1);
    } else {
      rest.push_back(a);
    }
  }
  if (rest.size() != 1) throw UsageError{"usage: bitsadmin /create [/download] display_name"};
  auto r = Rpc("job.create", {{"name", rest[0]}, {"type", type}}, "create job");
  if (!r) return kExitFailed;
  const std::string id = (*r)["id"];
  if (raw_) {
    out_ << id;
  } else {
    out_ << "Created job " << id << ".\n";
  }
  return kExitOk;
}

int Bitsadmin::AddFile() {
  Exactly(3, "/addfile job remote_url local_name");
  auto id = Resolve(args_[0]);
  if (!id) return kExitFailed;
  const std::string local = Absolute(args_[2]);
  json files = json::array({{{"remote", args_[1]}, {"local", local}}});
  if (!Rpc("job.addFiles", {{"id", *id}, {"files", files}}, "add file to job")) return kExitFailed;
  out_ << "Added " << auth::RedactUrl(args_[1]) << " -> " << local << " to job.\n";
  return kExitOk;
}

int Bitsadmin::AddFileSet() {
  Exactly(2, "/addfileset job textfile");
  auto id = Resolve(args_[0]);
  if (!id) return kExitFailed;
  std::ifstream in(args_[1]);
  if (!in) {
    Fail("read " + args_[1], Status(kEFileNotFound, "cannot open " + args_[1]));
    return kExitFailed;
  }
  json files = json::array();
  std::string line;
  int number = 0;
  while (std::getline(in, line)) {
    ++number;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    std::istringstream fields(line);
    std::string remote, local, extra;
    fields >> remote;
    if (remote.empty() || remote[0] == '#') continue;
    fields >> local >> extra;
    if (local.empty() || !extra.empty()) {
      throw UsageError{args_[1] + " line " + std::to_string(number) +
                       ": expected 'remote_url local_name'"};
    }
    files.push_back({{"remote", remote}, {"local", Absolute(local)}});
  }
  if (files.empty()) throw UsageError{args_[1] + " lists no file"};
  if (!Rpc("job.addFiles", {{"id", *id}, {"files", files}}, "add file set to job")) {
    return kExitFailed;
  }
  out_ << "Added " << files.size() << " file(s) to job.\n";
  return kExitOk;
}

int Bitsadmin::AddFileWithRanges() {
  Exactly(4, "/addfilewithranges job remote_url local_name offset:length[,offset:length...]");
  auto id = Resolve(args_[0]);
  if (!id) return kExitFailed;
  json ranges = json::array();
  std::istringstream list(args_[3]);
  std::string item;
  while (std::getline(list, item, ',')) {
    const auto colon = item.find(':');
    if (colon == std::string::npos) throw UsageError{"a range is offset:length, not " + item};
    const std::string off = item.substr(0, colon);
    const std::string len = Lower(item.substr(colon + 1));
    auto number = [&](const std::string& s) -> std::uint64_t {
      if (s.empty() || !std::all_of(s.begin(), s.end(), ::isdigit) || s.size() > 19) {
        throw UsageError{"not a number in range " + item};
      }
      return std::stoull(s);
    };
    json r = {{"offset", number(off)}};
    r["length"] = len == "eof" ? json(nullptr) : json(number(len));
    ranges.push_back(r);
  }
  const std::string local = Absolute(args_[2]);
  json files = json::array({{{"remote", args_[1]}, {"local", local}}});
  if (!Rpc("job.addFiles", {{"id", *id}, {"files", files}, {"ranges", ranges}},
           "add file to job")) {
    return kExitFailed;
  }
  out_ << "Added " << auth::RedactUrl(args_[1]) << " -> " << local << " to job.\n";
  return kExitOk;
}

void Bitsadmin::PrintFiles(const json& files) {
  for (const json& f : files) {
    out_ << f["bytesTransferred"].get<std::uint64_t>() << " / " << Count(f["bytesTotal"]) << " "
         << (f["completed"].get<bool>() ? "COMPLETED" : "WORKING") << " "
         << f["remote"].get<std::string>() << " -> " << f["local"].get<std::string>() << "\n";
  }
}

int Bitsadmin::ListFiles() {
  Exactly(1, "/listfiles job");
  auto id = Resolve(args_[0]);
  if (!id) return kExitFailed;
  auto info = Info(*id);
  if (!info) return kExitFailed;
  PrintFiles((*info)["files"]);
  out_ << "Listed " << (*info)["files"].size() << " file(s).\n";
  return kExitOk;
}

int Bitsadmin::Simple(const std::string& method, const std::string& done, const std::string& what) {
  Exactly(1, (command_ + " job").c_str());
  auto id = Resolve(args_[0]);
  if (!id) return kExitFailed;
  if (!Rpc(method, {{"id", *id}}, what)) return kExitFailed;
  out_ << done << "\n";
  return kExitOk;
}

int Bitsadmin::Complete() {
  Exactly(1, "/complete job");
  auto id = Resolve(args_[0]);
  if (!id) return kExitFailed;
  auto r = Rpc("job.complete", {{"id", *id}}, "complete job");
  if (!r) return kExitFailed;
  const auto code = static_cast<HResult>((*r)["hresult"].get<std::uint32_t>());
  if (code == kBgSPartialComplete) {
    out_ << "Job partially completed: files that were not complete were deleted.\n";
  } else {
    out_ << "Job completed.\n";
  }
  return kExitOk;
}

int Bitsadmin::Reset() {
  bool all = false;
  for (const std::string& a : args_) {
    if (Lower(a) == "/allusers") {
      all = true;
    } else {
      throw UsageError{"usage: bitsadmin /reset [/allusers]"};
    }
  }
  auto list = List(all, std::nullopt, "list jobs");
  if (!list) return kExitFailed;
  std::size_t total = 0, cancelled = 0;
  for (const JobSummary& j : *list) {
    ++total;
    const std::string& id = j.id;
    auto r = client_->Call("job.cancel", {{"id", id}});
    if (r.ok()) {
      ++cancelled;
      out_ << id << " canceled.\n";
    } else {
      Fail("cancel " + id, r.status());
    }
  }
  out_ << cancelled << " out of " << total << " jobs canceled.\n";
  return cancelled == total ? kExitOk : kExitFailed;
}

void Bitsadmin::PrintListLine(const JobSummary& j) {
  out_ << j.id << " " << j.name << " " << j.state << " " << j.files_transferred << " / "
       << j.files_total << " " << j.bytes_transferred << " / "
       << (j.bytes_total ? std::to_string(*j.bytes_total) : std::string("UNKNOWN")) << "\n";
}

int Bitsadmin::List() {
  bool all = false, verbose = false;
  for (const std::string& a : args_) {
    const std::string l = Lower(a);
    if (l == "/allusers") {
      all = true;
    } else if (l == "/verbose") {
      verbose = true;
    } else {
      throw UsageError{"usage: bitsadmin /list [/allusers] [/verbose]"};
    }
  }
  auto jobs = List(all, std::nullopt, "list jobs");
  if (!jobs) return kExitFailed;
  for (const JobSummary& j : *jobs) {
    if (verbose) {
      auto info = Info(j.id);
      if (!info) return kExitFailed;
      PrintInfo(*info, true);
      out_ << "\n";
    } else {
      PrintListLine(j);
    }
  }
  out_ << "\nListed " << jobs->size() << " job(s).\n";
  return kExitOk;
}

void Bitsadmin::PrintInfo(const json& info, bool verbose) {
  const json& j = info["job"];
  out_ << "GUID: " << j["id"].get<std::string>() << " DISPLAY: " << j["name"].get<std::string>()
       << "\n";
  out_ << "TYPE: " << j["type"].get<std::string>() << " STATE: " << j["state"].get<std::string>()
       << " OWNER: " << OwnerName(j["owner"]) << "\n";
  out_ << "PRIORITY: " << j["priority"].get<std::string>()
       << " FILES: " << j["filesTransferred"].get<std::uint32_t>() << " / "
       << j["filesTotal"].get<std::uint32_t>()
       << " BYTES: " << j["bytesTransferred"].get<std::uint64_t>() << " / "
       << Count(j["bytesTotal"]) << "\n";
  if (!verbose) return;
  out_ << "CREATION TIME: " << FormatTime(j["creationTime"])
       << " MODIFICATION TIME: " << FormatTime(j["modificationTime"]) << "\n";
  out_ << "COMPLETION TIME: " << FormatTime(j["completionTime"]) << "\n";
  out_ << "NOTIFY INTERFACE: UNREGISTERED NOTIFICATION FLAGS: "
       << j["notifyFlags"].get<std::uint32_t>() << "\n";
  out_ << "RETRY DELAY: " << j["minRetryDelay"].get<std::uint32_t>()
       << " NO PROGRESS TIMEOUT: " << j["noProgressTimeout"].get<std::uint32_t>()
       << " ERROR COUNT: " << j["errorCount"].get<std::uint32_t>() << "\n";
  auto or_null = [](const json& v) {
    const std::string text = v.is_string() ? v.get<std::string>() : std::string();
    return text.empty() ? std::string("NULL") : text;
  };
  out_ << "PROXY USAGE: " << j.value("proxyUsage", std::string("PRECONFIG"))
       << " PROXY LIST: " << or_null(j.value("proxyList", json("")))
       << " PROXY BYPASS LIST: " << or_null(j.value("proxyBypass", json(""))) << "\n";
  if (j.contains("error")) {
    const json& e = j["error"];
    if (!e["file"].is_null()) {
      out_ << "ERROR FILE:    " << e["remote"].get<std::string>() << " -> "
           << e["local"].get<std::string>() << "\n";
    }
    char context[16];
    std::snprintf(context, sizeof context, "0x%08x", e["context"].get<int>());
    out_ << "ERROR CODE:    "
         << FormatHResult(static_cast<HResult>(e["hresult"].get<std::uint32_t>())) << " - "
         << e["description"].get<std::string>() << "\n";
    out_ << "ERROR CONTEXT: " << context << " - " << e["contextDescription"].get<std::string>()
         << "\n";
  }
  const std::string description = j["description"];
  out_ << "DESCRIPTION:" << (description.empty() ? "" : " " + description) << "\n";
  out_ << "JOB FILES:\n";
  PrintFiles(info["files"]);
  out_ << "NOTIFICATION COMMAND LINE: " << NotifyCommand(j) << "\n";
}

int Bitsadmin::InfoCommand() {
  Need(1, "/info job [/verbose]");
  bool verbose = false;
  for (std::size_t i = 1; i < args_.size(); ++i) {
    if (Lower(args_[i]) != "/verbose") throw UsageError{"usage: bitsadmin /info job [/verbose]"};
    verbose = true;
  }
  auto id = Resolve(args_[0]);
  if (!id) return kExitFailed;
  auto info = Info(*id);
  if (!info) return kExitFailed;
  PrintInfo(*info, verbose);
  return kExitOk;
}

int Bitsadmin::Getter() {
  Need(1, (command_ + " job").c_str());
  auto id = Resolve(args_[0]);
  if (!id) return kExitFailed;
  auto info = Info(*id);
  if (!info) return kExitFailed;
  const json& j = (*info)["job"];
  const std::string c = command_.substr(4);
  if (c == "state") return Value(j["state"]), kExitOk;
  if (c == "bytestotal") return Value(Count(j["bytesTotal"])), kExitOk;
  if (c == "bytestransferred") return Value(Count(j["bytesTransferred"])), kExitOk;
  if (c == "filestotal")
    return Value(std::to_string(j["filesTotal"].get<std::uint32_t>())), kExitOk;
  if (c == "filestransferred") {
    return Value(std::to_string(j["filesTransferred"].get<std::uint32_t>())), kExitOk;
  }
  if (c == "displayname") return Value(j["name"]), kExitOk;
  if (c == "description") return Value(j["description"]), kExitOk;
  if (c == "priority") return Value(j["priority"]), kExitOk;
  if (c == "type") return Value(j["type"]), kExitOk;
  if (c == "owner") return Value(OwnerName(j["owner"])), kExitOk;
  if (c == "errorcount")
    return Value(std::to_string(j["errorCount"].get<std::uint32_t>())), kExitOk;
  if (c == "minretrydelay")
    return Value(std::to_string(j["minRetryDelay"].get<std::uint32_t>())), kExitOk;
  if (c == "noprogresstimeout") {
    return Value(std::to_string(j["noProgressTimeout"].get<std::uint32_t>())), kExitOk;
  }
  if (c == "maxdownloadtime") {
    return Value(std::to_string(j["maxDownloadTime"].get<std::uint32_t>())), kExitOk;
  }
  if (c == "notifyflags")
    return Value(std::to_string(j["notifyFlags"].get<std::uint32_t>())), kExitOk;
  if (c == "customheaders") return Value(j["customHeaders"]), kExitOk;
  if (c == "httpmethod") return Value(j.value("httpMethod", std::string("GET"))), kExitOk;
  if (c == "maxconcurrentfiles") {
    return Value(std::to_string(j.value("maxConcurrentFiles", 1u))), kExitOk;
  }
  if (c == "securityflags") {
    return Value(std::to_string(j.value("securityFlags", 0u))), kExitOk;
  }
  if (c == "clientcertificate") {
    if (!j.contains("clientCertificate") || !j["clientCertificate"].is_object()) {
      Fail("get the client certificate", Status(kENotFound, "the job has no client certificate"));
      return kExitFailed;
    }
    const json& cert = j["clientCertificate"];
    out_ << "STORE LOCATION: " << cert.value("location", std::string()) << "\n"
         << "STORE NAME: " << cert.value("store", std::string()) << "\n"
         << "CERTIFICATE HASH: " << cert.value("hash", std::string()) << "\n"
         << "SUBJECT NAME: " << cert.value("subject", std::string()) << "\n";
    return kExitOk;
  }
  if (c == "proxyusage") return Value(j.value("proxyUsage", std::string("PRECONFIG"))), kExitOk;
  if (c == "proxylist" || c == "proxybypasslist") {
    const std::string v = j.value(c == "proxylist" ? "proxyList" : "proxyBypass", std::string());
    return Value(v.empty() ? "NULL" : v), kExitOk;
  }
  if (c == "notifycmdline") return Value(NotifyCommand(j)), kExitOk;
  if (c == "creationtime") return Value(FormatTime(j["creationTime"])), kExitOk;
  if (c == "modificationtime") return Value(FormatTime(j["modificationTime"])), kExitOk;
  if (c == "completiontime") return Value(FormatTime(j["completionTime"])), kExitOk;
  if (c == "temporaryname") {
    const json& files = (*info)["files"];
    std::size_t index = 0;
    if (args_.size() > 1) index = static_cast<std::size_t>(std::stoul(args_[1]));
    if (index >= files.size()) throw UsageError{"no file " + std::to_string(index) + " in the job"};
    return Value(files[index]["temporaryName"]), kExitOk;
  }
  if (c == "error") {
    if (!j.contains("error")) {
      Fail("get the error", Status(kBgEErrorInformationUnavailable, "the job has no error"));
      return kExitFailed;
    }
    PrintInfo(*info, true);
    return kExitOk;
  }
  throw UsageError{"unknown switch " + command_};
}

int Bitsadmin::Setter() {
  const std::string c = command_.substr(4);
  static const std::map<std::string, std::string> kNumeric = {
      {"minretrydelay", "minRetryDelay"},
      {"noprogresstimeout", "noProgressTimeout"},
      {"maxdownloadtime", "maxDownloadTime"},
      {"notifyflags", "notifyFlags"},
      {"maxconcurrentfiles", "maxConcurrentFiles"}};  // openbits extension
  json value;
  std::string property;
  std::string shown;
  if (c == "proxysettings") {
    // /setproxysettings job usage [list] [bypass]; NULL or "" is an empty list.
    if (args_.size() < 2 || args_.size() > 4) {
      throw UsageError{
          "usage: bitsadmin /setproxysettings job PRECONFIG|NO_PROXY|OVERRIDE|AUTODETECT "
          "[proxy_list] [bypass_list]"};
    }
    auto list_arg = [&](std::size_t i) {
      return i < args_.size() && args_[i] != "NULL" ? args_[i] : std::string();
    };
    property = "proxySettings";
    value = {{"usage", Upper(args_[1])}, {"list", list_arg(2)}, {"bypass", list_arg(3)}};
    shown = Upper(args_[1]);
  } else if (c == "notifycmdline") {
    // /setnotifycmdline job program [parameters]; NULL NULL removes it.
    if (args_.size() < 2 || args_.size() > 3) {
      throw UsageError{"usage: bitsadmin /setnotifycmdline job program_name [program_parameters]"};
    }
    std::string program = args_[1] == "NULL" ? "" : args_[1];
    std::string parameters = args_.size() == 3 && args_[2] != "NULL" ? args_[2] : "";
    property = "notifyCmdLine";
    value = {{"program", program}, {"parameters", parameters}};
    shown = program.empty() ? "none" : "'" + program + "' " + parameters;
  } else if (c == "customheaders") {
    Need(1, "/setcustomheaders job header1 [header2 ...]");
    property = "customHeaders";
    std::string joined;
    for (std::size_t i = 1; i < args_.size(); ++i) {
      if (!joined.empty()) joined += "\r\n";
      joined += args_[i];
    }
    value = joined;
    shown = std::to_string(args_.size() - 1) + " header(s)";
  } else {
    Exactly(2, (command_ + " job value").c_str());
    if (c == "httpmethod") {
      property = "httpMethod";
      value = args_[1];
      shown = args_[1];
    } else if (c == "displayname" || c == "description") {
      property = c == "displayname" ? "displayName" : "description";
      value = args_[1];
      shown = args_[1];
    } else if (c == "priority") {
      auto it = kPriorities.find(Upper(args_[1]));
      if (it == kPriorities.end()) throw UsageError{"priority is FOREGROUND, HIGH, NORMAL or LOW"};
      property = "priority";
      value = it->second;
      shown = it->first;
    } else if (auto it = kNumeric.find(c); it != kNumeric.end()) {
      const std::string& text = args_[1];
      if (text.empty() || text.size() > 10 || !std::all_of(text.begin(), text.end(), ::isdigit) ||
          std::stoull(text) > 0xFFFFFFFFull) {
        throw UsageError{"expected a number, not " + text};
      }
      property = it->second;
      value = std::stoull(text);
      shown = text;
    } else {
      throw UsageError{"unknown switch " + command_};
    }
  }
  auto id = Resolve(args_[0]);
  if (!id) return kExitFailed;
  if (!Rpc("job.set", {{"id", *id}, {"property", property}, {"value", value}}, "set " + property)) {
    return kExitFailed;
  }
  out_ << property << " set to " << shown << ".\n";
  return kExitOk;
}

int Bitsadmin::SetCredentials() {
  Exactly(5,
          "/setcredentials job SERVER|PROXY BASIC|DIGEST|NTLM|NEGOTIATE|PASSPORT username "
          "password (NULL NULL: implicit credentials)");
  auto id = Resolve(args_[0]);
  if (!id) return kExitFailed;
  json params = {{"id", *id}, {"target", Upper(args_[1])}, {"scheme", Upper(args_[2])}};
  if (args_[3] == "NULL" && args_[4] == "NULL") {
    params["userName"] = nullptr;
    params["password"] = nullptr;
  } else {
    params["userName"] = args_[3];
    params["password"] = args_[4];
  }
  platform::Cleanse(args_[4]);
  auto done = Rpc("job.setCredentials", params, "set the credentials");
  if (params["password"].is_string()) platform::Cleanse(params["password"].get_ref<std::string&>());
  if (!done) return kExitFailed;
  out_ << "Credentials set.\n";
  return kExitOk;
}

namespace {

// bitsadmin's store locations: the BG_CERT_STORE_LOCATION names, or the
// documented numbers 1 (CURRENT_USER) to 8 (LOCAL_MACHINE_ENTERPRISE).
int ParseStoreLocation(const std::string& text) {
  if (text.size() == 1 && text[0] >= '1' && text[0] <= '8') return text[0] - '1';
  std::string upper = text;
  for (char& ch : upper) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
  if (upper.rfind("BG_CERT_STORE_LOCATION_", 0) == 0) upper = upper.substr(23);
  for (int i = 0; i <= 7; ++i) {
    if (CertStoreLocationName(static_cast<CertStoreLocation>(i)) == upper) return i;
  }
  throw UsageError{"unknown store location " + text +
                   " (CURRENT_USER, LOCAL_MACHINE, ... or 1 to 8)"};
}

}  // namespace

int Bitsadmin::SetClientCertificate() {
  const bool by_id = command_ == "/setclientcertificatebyid";
  Need(4, by_id ? "/setclientcertificatebyid job store_location store_name hex_cert_hash"
                : "/setclientcertificatebyname job store_location store_name subject_name");
  json params = {{"location", ParseStoreLocation(args_[1])}, {"store", args_[2]}};
  // An unquoted hash with blanks, or a subject with blanks, arrives in pieces.
  std::string rest;
  for (std::size_t i = 3; i < args_.size(); ++i) {
    if (i > 3 && !by_id) rest += ' ';
    rest += args_[i];
  }
  params[by_id ? "hash" : "subject"] = rest;
  auto id = Resolve(args_[0]);
  if (!id) return kExitFailed;
  params["id"] = *id;
  if (!Rpc("job.setClientCertificate", params, "set the client certificate")) return kExitFailed;
  out_ << "Client certificate set.\n";
  return kExitOk;
}

int Bitsadmin::SetClientCertificatePassword() {
  Exactly(2, "/setclientcertificatepassword job password (NULL removes it)");
  auto id = Resolve(args_[0]);
  if (!id) return kExitFailed;
  json params = {{"id", *id}, {"password", args_[1] == "NULL" ? std::string() : args_[1]}};
  platform::Cleanse(args_[1]);
  auto done = Rpc("job.setClientCertificatePassword", params, "set the certificate password");
  platform::Cleanse(params["password"].get_ref<std::string&>());
  if (!done) return kExitFailed;
  out_ << "Client certificate password set.\n";
  return kExitOk;
}

int Bitsadmin::SetSecurityFlags() {
  Exactly(2, "/setsecurityflags job value (decimal, or hexadecimal with 0x)");
  const std::string& text = args_[1];
  std::uint64_t flags = 0;
  const bool hex = text.size() > 2 && text[0] == '0' && (text[1] == 'x' || text[1] == 'X');
  const std::string digits = hex ? text.substr(2) : text;
  if (digits.empty() || digits.size() > (hex ? 8u : 10u) ||
      !std::all_of(digits.begin(), digits.end(), [&](char ch) {
        return hex ? std::isxdigit(static_cast<unsigned char>(ch))
                   : std::isdigit(static_cast<unsigned char>(ch));
      })) {
    throw UsageError{"expected a number, not " + text};
  }
  flags = std::stoull(digits, nullptr, hex ? 16 : 10);
  if (flags > 0xFFFFFFFFull) throw UsageError{"expected a 32-bit number, not " + text};
  auto id = Resolve(args_[0]);
  if (!id) return kExitFailed;
  if (!Rpc("job.setSecurityFlags", {{"id", *id}, {"flags", flags}}, "set the security flags")) {
    return kExitFailed;
  }
  out_ << "securityFlags set to " << flags << ".\n";
  return kExitOk;
}

int Bitsadmin::RemoveCredentials() {
  Exactly(3, "/removecredentials job SERVER|PROXY BASIC|DIGEST|NTLM|NEGOTIATE|PASSPORT");
  auto id = Resolve(args_[0]);
  if (!id) return kExitFailed;
  if (!Rpc("job.removeCredentials",
           {{"id", *id}, {"target", Upper(args_[1])}, {"scheme", Upper(args_[2])}},
           "remove the credentials")) {
    return kExitFailed;
  }
  out_ << "Credentials removed.\n";
  return kExitOk;
}

int Bitsadmin::Monitor() {
  bool all = false;
  long refresh = 5;
  for (std::size_t i = 0; i < args_.size(); ++i) {
    const std::string l = Lower(args_[i]);
    if (l == "/allusers") {
      all = true;
    } else if (l == "/refresh" && i + 1 < args_.size() && !args_[i + 1].empty() &&
               args_[i + 1].size() < 6 &&
               std::all_of(args_[i + 1].begin(), args_[i + 1].end(), ::isdigit)) {
      refresh = std::max(1L, std::stol(args_[++i]));
    } else {
      throw UsageError{"usage: bitsadmin /monitor [/allusers] [/refresh seconds]"};
    }
  }
  const bool tty = ::isatty(STDOUT_FILENO) == 1 && &out_ == &std::cout;
  // Until interrupted (Ctrl+C), as BITSAdmin's /monitor.
  while (true) {
    auto list = List(all, std::nullopt, "list jobs");
    if (!list) return kExitFailed;
    if (tty) out_ << "\033[H\033[2J";  // redraw in place
    out_ << "MONITORING BACKGROUND COPY MANAGER(" << refresh << " second refresh)\n";
    for (const JobSummary& j : *list) PrintListLine(j);
    out_ << "\n" << std::flush;
    std::this_thread::sleep_for(std::chrono::seconds(refresh));
  }
}

int Bitsadmin::Util() {
  if (args_.size() == 1 && Lower(args_[0]) == "/version") {
    Value("openbits bitsadmin 0.1.0 (BITS 3.0 compatible)");
    return kExitOk;
  }
  throw UsageError{"usage: bitsadmin /util /version"};
}

int Bitsadmin::Transfer() {
  Need(1, "/transfer name [/download] [/priority p] [/dynamic] remote local [remote local ...]");
  const std::string name = args_[0];
  if (!name.empty() && name.front() == '{') throw UsageError{"the job name cannot be a GUID"};
  std::string priority = "NORMAL";
  bool dynamic = false;
  std::vector<std::string> pairs;
  for (std::size_t i = 1; i < args_.size(); ++i) {
    const std::string l = Lower(args_[i]);
    if (l == "/download") continue;
    if (l == "/dynamic") {
      dynamic = true;
    } else if (l == "/priority" && i + 1 < args_.size()) {
      priority = Upper(args_[++i]);
      if (!kPriorities.count(priority))
        throw UsageError{"priority is FOREGROUND, HIGH, NORMAL or LOW"};
    } else if (IsSwitch(args_[i]) && args_[i].find('/', 1) == std::string::npos) {
      // "/tmp/x" is a path; "/foo" is an option we do not know.
      throw UsageError{"unknown /transfer option " + args_[i]};
    } else {
      pairs.push_back(args_[i]);
    }
  }
  if (pairs.empty() || pairs.size() % 2 != 0) {
    throw UsageError{"/transfer needs remote_url local_name pairs"};
  }
  auto created = Rpc("job.create", {{"name", name}}, "create job");
  if (!created) return kExitFailed;
  const std::string id = (*created)["id"];
  out_ << "DISPLAY: '" << name << "' TYPE: DOWNLOAD STATE: SUSPENDED\n";
  auto abandon = [&]() {
    (void)client_->Call("job.cancel", {{"id", id}});
    return kExitFailed;
  };
  if (!Rpc("job.set", {{"id", id}, {"property", "priority"}, {"value", kPriorities.at(priority)}},
           "set the priority")) {
    return abandon();
  }
  if (dynamic && !Rpc("job.set", {{"id", id}, {"property", "dynamicContent"}, {"value", true}},
                      "allow dynamic content")) {
    return abandon();
  }
  json files = json::array();
  for (std::size_t i = 0; i < pairs.size(); i += 2) {
    files.push_back({{"remote", pairs[i]}, {"local", Absolute(pairs[i + 1])}});
  }
  if (!Rpc("job.addFiles", {{"id", id}, {"files", files}}, "add files to job")) return abandon();
  // Events wake us the moment the job finishes; the timeout below only
  // paces the progress display.
  const bool events = client_->Call("job.subscribe", {{"id", id}}).ok();
  if (!Rpc("job.resume", {{"id", id}}, "resume job")) return abandon();

  const bool tty = ::isatty(STDOUT_FILENO) == 1 && &out_ == &std::cout;
  const auto start = std::chrono::steady_clock::now();
  std::string last_line;
  while (true) {
    auto info = Info(id);
    if (!info) return abandon();
    const json& j = (*info)["job"];
    const std::string state = j["state"];
    const std::uint64_t done = j["bytesTransferred"];
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::ostringstream line;
    line << "STATE: " << state << " FILES: " << j["filesTransferred"].get<std::uint32_t>() << " / "
         << j["filesTotal"].get<std::uint32_t>() << " BYTES: " << done << " / "
         << Count(j["bytesTotal"]);
    if (tty && seconds > 0) {
      const double rate = done / seconds;
      line << std::fixed << std::setprecision(1) << "  " << rate / (1 << 20) << " MiB/s";
      if (!j["bytesTotal"].is_null() && rate > 0) {
        const double left = (j["bytesTotal"].get<std::uint64_t>() - done) / rate;
        line << "  ETA " << static_cast<long>(left) << " s";
      }
      out_ << "\r" << std::left << std::setw(78) << line.str() << std::flush;
    } else if (line.str() != last_line) {
      out_ << line.str() << "\n";  // plain lines when not on a terminal
    }
    last_line = line.str();
    if (state == "TRANSFERRED") {
      if (tty) out_ << "\n";
      auto complete = Rpc("job.complete", {{"id", id}}, "complete job");
      if (!complete) return kExitFailed;
      out_ << "Transfer complete.\n";
      return kExitOk;
    }
    if (state == "ERROR") {
      if (tty) out_ << "\n";
      PrintInfo(*info, true);
      return abandon();
    }
    if (events) {
      client_->WaitForEvent(tty ? 200 : 1000);
    } else {
      // An older daemon without events: a display refresh.
      std::this_thread::sleep_for(std::chrono::milliseconds(tty ? 200 : 500));
    }
  }
}

}  // namespace

int RunBitsadmin(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  Bitsadmin tool(out, err);
  return tool.Run(args);
}

}  // namespace openbits::cli
