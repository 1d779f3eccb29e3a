// Copyright (c) openbits authors. Licensed under the Apache License 2.0.

#include "engine/file_transfer.h"

#include <algorithm>
#include <array>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>

#include <boost/asio/post.hpp>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "openbits/hresult.h"

#include "auth/challenge.h"
#include "platform/system.h"

namespace openbits::engine {

namespace asio = boost::asio;
using platform::ScopedFd;

namespace {

constexpr long kConnectTimeoutSeconds = 60;
constexpr long kMaxRedirects = 10;
// Negotiate takes one round trip, NTLM two; more is a server playing games.
constexpr int kMaxAuthLegs = 4;
constexpr int kMaxRestartsPerAttempt = 3;
constexpr int kMaxCrlRounds = 4;

bool IsNotFound(const Status& st) {
  return st.code() == kEPathNotFound || st.code() == kEFileNotFound;
}

}  // namespace

TransferOutcome ClassifyCurlError(CURLcode code, const char* detail) {
  TransferOutcome o;
  o.context = ErrorContext::kGeneralTransport;
  o.transient = true;
  switch (code) {
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
      o.error = kWinHttpNameNotResolved;
      break;
    case CURLE_COULDNT_CONNECT:
      o.error = kWinHttpCannotConnect;
      break;
    case CURLE_OPERATION_TIMEDOUT:
      o.error = kWinHttpTimeout;
      break;
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
      o.error = kWinHttpConnectionError;
      break;
    case CURLE_UNSUPPORTED_PROTOCOL:
      o.error = kWinHttpUnrecognizedScheme;
      o.transient = false;
      break;
    case CURLE_TOO_MANY_REDIRECTS:
      o.error = kWinHttpRedirectFailed;
      o.transient = false;
      break;
    case CURLE_PEER_FAILED_VERIFICATION:
      o.error = kWinHttpSecureFailure;
      o.transient = false;
      break;
    case CURLE_SSL_CONNECT_ERROR:
      o.error = kWinHttpSecureChannelError;
      break;
    case CURLE_URL_MALFORMAT:
      o.error = kEInvalidArg;
      o.transient = false;
      break;
    case CURLE_WEIRD_SERVER_REPLY:
    case CURLE_BAD_CONTENT_ENCODING:
      o.error = kWinHttpInvalidServerResponse;
      break;
    case CURLE_OUT_OF_MEMORY:
      o.error = kEOutOfMemory;
      o.context = ErrorContext::kGeneralQueueManager;
      break;
    default:
      o.error = kBgEConnectionClosed;
      break;
  }
  o.why = curl_easy_strerror(code);
  if (detail != nullptr && detail[0] != '\0') {
    o.why += ": ";
    o.why += detail;
  }
  return o;
}

TransferOutcome LocalFileFailure(const Status& status) {
  TransferOutcome o;
  o.error = status.code();
  o.context = ErrorContext::kLocalFile;
  // A full disk or too many open files clears up by itself; a missing
  // directory or a permission problem needs the user.
  o.transient = status.code() == kEDiskFull || status.code() == kETooManyOpenFiles ||
                status.code() == kEOutOfMemory;
  o.why = status.message();
  return o;
}

std::vector<std::string> NewTemporaryNames(std::size_t count) {
  constexpr std::size_t kRandomBytes = 6;
  std::vector<unsigned char> random(count * kRandomBytes);
  platform::FillRandom(random.data(), random.size());  // one draw for the batch
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::vector<std::string> names;
  names.reserve(count);
  for (std::size_t i = 0; i < count; ++i) {
    std::string name = "BIT";
    for (std::size_t k = 0; k < kRandomBytes; ++k) {
      const unsigned char b = random[i * kRandomBytes + k];
      name += kHex[b >> 4];
      name += kHex[b & 15];
    }
    names.push_back(name + ".tmp");
  }
  return names;
}

std::string NewTemporaryName() { return std::move(NewTemporaryNames(1).front()); }

Status PrepareForPublishing(const platform::ScopedFd& fd, const store::FileRecord& file,
                            unsigned mode) {
  if (!file.last_modified.empty()) {
    const time_t when = curl_getdate(file.last_modified.c_str(), nullptr);
    if (when > 0) {
      (void)platform::SetModificationTime(fd, std::chrono::system_clock::from_time_t(when));
    }
  }
  return platform::SetMode(fd, mode);
}

bool TellsPublishedApart(unsigned mode) { return mode != kTemporaryFileMode; }

long ReceiveBufferFor(std::uint64_t expected_bytes, bool last_file_small) {
  // A wrong guess costs little either way: a big file with the small buffer
  // still moves at about curl's default speed, a small one with the large
  // buffer pays its page faults once.
  const bool small =
      expected_bytes == kSizeUnknown ? last_file_small : expected_bytes <= kSmallFileBytes;
  return small ? kSmallReceiveBuffer : kLargeReceiveBuffer;
}

bool ReconcileTemporaryFile(store::FileRecord& file) {
  if (file.temp_name.empty() || file.renamed) return false;
  if (file.bytes_transferred == 0 && !file.completed) return false;
  auto parts = platform::SplitAbsolutePath(file.local_name);
  if (!parts.ok()) return false;
  auto dir = platform::OpenDirectory(parts->directory);
  if (!dir.ok()) return false;  // reported when the transfer starts
  auto fd = platform::OpenExisting(*dir, file.temp_name);
  if (!fd.ok()) {
    if (!IsNotFound(fd.status())) return false;
    // The temporary file is gone: everything must be fetched again.
    const bool changed = file.bytes_transferred != 0 || file.completed;
    file.bytes_transferred = 0;
    file.completed = false;
    file.etag.clear();
    file.last_modified.clear();
    return changed;
  }
  auto size = platform::FileSize(*fd);
  if (!size.ok()) return false;
  if (*size > file.bytes_transferred) {
    // Bytes written after the last checkpoint may not have reached the disk
    // before a crash: they are not trusted.
    (void)platform::Truncate(*fd, file.bytes_transferred);
    return false;
  }
  if (*size < file.bytes_transferred) {
    file.bytes_transferred = *size;
    file.completed = false;
    return true;
  }
  return false;
}

FileTransfer::FileTransfer(asio::io_context& io, CurlMulti& multi, asio::thread_pool& sync_pool,
                           WriteQueue& writes, TransferHost& host, store::FileRecord file,
                           TransferConfig config)
    : io_(io),
      multi_(multi),
      sync_pool_(sync_pool),
      writes_(writes),
      host_(host),
      file_(std::move(file)),
      config_(std::move(config)),
      tls_(std::make_unique<TlsSession>(config_.tls)) {}

FileTransfer::~FileTransfer() {
  if (tunnel_) tunnel_->Cancel();
  if (request_running_) multi_.Remove(easy_.get());
  if (crl_running_) multi_.Remove(crl_easy_.get());
}

void FileTransfer::Start(std::shared_ptr<platform::ScopedFd> prepared) {
  Status st;
  if (prepared && NamedButNotStarted()) {
    UseEmptyFile(std::move(prepared));
  } else {
    std::optional<platform::FileIdentity> as_owner;
    if (config_.owner) {
      auto assumed = platform::FileIdentity::Assume(*config_.owner);
      if (assumed.ok()) as_owner.emplace(std::move(*assumed));
      st = assumed.status();
    }
    if (st.ok() || !config_.owner) st = OpenTemporaryFile();
  }
  if (fd_) {
    write_off_thread_ = host_.RunningTransfers() <= 1;
    queued_ = writeback_started_ = written_;
    target_ = std::make_shared<WriteTarget>();
    target_->fd = fd_;
    target_->end = written_;
  }
  if (!st.ok()) {
    auto self = shared_from_this();
    TransferOutcome outcome = LocalFileFailure(st);
    asio::post(io_, [self, outcome] { self->Finish(outcome); });
    return;
  }
  last_checkpoint_ = std::chrono::steady_clock::now();
  auto self = shared_from_this();
  if (config_.discovery != nullptr) {
    std::weak_ptr<FileTransfer> weak = self;
    config_.discovery->Lookup(config_.discovery_usage, RequestedUrl(),
                              [weak](Result<DiscoveredRoute> route) {
                                if (auto t = weak.lock()) t->OnRouteDiscovered(std::move(route));
                              });
    return;
  }
  asio::post(io_, [self] {
    if (!self->stopped_) self->IssueRequest();
  });
}

void FileTransfer::OnRouteDiscovered(Result<DiscoveredRoute> route) {
  if (stopped_ || finished_) return;
  if (!route.ok()) {
    Fail(TransferOutcome{false, route.status().code(), ErrorContext::kGeneralTransport, true,
                         route.status().message()});
    return;
  }
  config_.route = route->direct ? TransferConfig::Route::kDirect : TransferConfig::Route::kProxy;
  config_.proxy_url = route->proxy_url;
  IssueRequest();
}

bool FileTransfer::NamedButNotStarted() const {
  return !file_.temp_name.empty() && file_.bytes_transferred == 0 && !file_.completed;
}

void FileTransfer::UseEmptyFile(std::shared_ptr<ScopedFd> fd) {
  file_.etag.clear();
  file_.last_modified.clear();
  fd_ = std::move(fd);
  written_ = durable_ = 0;
}

Status FileTransfer::OpenTemporaryFile() {
  auto parts = platform::SplitAbsolutePath(file_.local_name);
  if (!parts.ok()) return parts.status();
  if (NamedButNotStarted()) {
    // Named in advance (the engine records names for the next files in one
    // commit): the name is in the store already, so the file may be created
    // without another commit. Creating first spares the lookup of a name
    // that almost never exists yet, and the directory is not opened for it.
    auto created = platform::CreateExclusive(parts->directory, file_.temp_name, kTemporaryFileMode);
    if (created.ok()) {
      UseEmptyFile(std::make_shared<ScopedFd>(std::move(*created)));
      return Status::Ok();
    }
    if (created.status().code() != kEFileExists) {
      // A missing or unusable directory is reported by its own name.
      OPENBITS_RETURN_IF_ERROR(platform::OpenDirectory(parts->directory).status());
      return created.status();
    }
  }
  auto dir = platform::OpenDirectory(parts->directory);
  if (!dir.ok()) return dir.status();
  dir_ = std::move(*dir);

  if (!file_.temp_name.empty()) {
    auto fd = platform::OpenExisting(dir_, file_.temp_name);
    if (fd.ok()) {
      // An earlier transfer of this file may still have writes queued.
      writes_.Drain();
      // Reconcile on the descriptor just opened: bytes past the checkpoint
      // are cut off, a shorter file lowers the checkpoint.
      auto size = platform::FileSize(*fd);
      if (!size.ok()) return size.status();
      if (*size < file_.bytes_transferred) {
        file_.bytes_transferred = *size;
        file_.completed = false;
      }
      if (config_.dynamic_content) file_.bytes_transferred = 0;
      OPENBITS_RETURN_IF_ERROR(platform::Truncate(*fd, file_.bytes_transferred));
      // Private again if it was finished once (PrepareForPublishing) and is
      // downloaded anew.
      OPENBITS_RETURN_IF_ERROR(platform::SetMode(*fd, kTemporaryFileMode));
      fd_ = std::make_shared<ScopedFd>(std::move(*fd));
      written_ = durable_ = file_.bytes_transferred;
      return host_.PersistFile(*this, file_);
    }
    if (!IsNotFound(fd.status())) return fd.status();
    // Vanished, or taken meanwhile: start over under a new name.
  }
  file_.bytes_transferred = 0;
  file_.completed = false;
  file_.etag.clear();
  file_.last_modified.clear();
  for (int attempt = 0; attempt < 8; ++attempt) {
    file_.temp_name = NewTemporaryName();
    // Record the name before creating the file, so a crash in between never
    // leaves a temporary file the queue does not know about.
    OPENBITS_RETURN_IF_ERROR(host_.PersistFile(*this, file_));
    auto fd = platform::CreateExclusive(dir_, file_.temp_name, kTemporaryFileMode);
    if (fd.ok()) {
      fd_ = std::make_shared<ScopedFd>(std::move(*fd));
      written_ = durable_ = 0;
      return Status::Ok();
    }
    if (fd.status().code() != kEFileExists) return fd.status();
  }
  return Status(kEFileExists, "could not find a free temporary file name");
}

void FileTransfer::IssueRequest() {
  const auto cursor = NextRange(file_.ranges, written_, file_.remote_size);
  if (!cursor && !config_.dynamic_content) {
    FinishFile();
    return;
  }

  plan_ = RequestPlan();
  plan_.dynamic_content = config_.dynamic_content;
  plan_.send_range = !config_.dynamic_content;
  plan_.remote_offset = cursor ? cursor->remote_offset : 0;
  plan_.length = cursor ? cursor->length : kLengthToEof;
  plan_.whole_file = file_.ranges.empty();
  plan_.known_total = file_.remote_size;
  plan_.stored_etag = file_.etag;
  plan_.stored_last_modified = file_.last_modified;

  headers_ = ResponseHeaders();
  decided_ = false;
  decision_ = Decision();
  discard_body_ = false;
  received_ = 0;
  restart_requested_ = false;
  redirect_refused_ = false;
  failure_.reset();
  error_buffer_[0] = '\0';

  if (!tunnel_socket_ && UseOwnTunnel()) {
    OpenTunnel();
    return;
  }

  if (!easy_) {
    easy_.reset(curl_easy_init());
    if (!easy_) {
      Fail(TransferOutcome{false, kEOutOfMemory, ErrorContext::kGeneralQueueManager, true,
                           "curl_easy_init failed"});
      return;
    }
  } else {
    curl_easy_reset(easy_.get());
  }
  CURL* e = easy_.get();
  multi_.PrepareEasy(e);
  curl_easy_setopt(e, CURLOPT_URL, RequestedUrl().c_str());
  tls_checked_ = false;
  if (server_auth_.ntlm_via_curl) {
    // A new connection: the old one is in the middle of our handshake.
    curl_easy_setopt(e, CURLOPT_FRESH_CONNECT, 1L);
    curl_easy_setopt(e, CURLOPT_HTTPAUTH, static_cast<long>(CURLAUTH_NTLM));
    curl_easy_setopt(e, CURLOPT_USERNAME, config_.server_negotiate.identity.user_name.c_str());
    curl_easy_setopt(e, CURLOPT_PASSWORD, config_.server_negotiate.identity.password.c_str());
  } else if (config_.server.schemes != 0) {
    // curl keeps its own copies until the handle is reset or freed.
    curl_easy_setopt(e, CURLOPT_HTTPAUTH, config_.server.schemes);
    curl_easy_setopt(e, CURLOPT_USERNAME, config_.server.user_name.c_str());
    curl_easy_setopt(e, CURLOPT_PASSWORD, config_.server.password.c_str());
  }
  connect_to_.reset();
  if (tunnel_socket_) {
    // libcurl connects "directly" over the tunnel: no DNS for the server
    // (only the proxy may resolve it), its name still in the Host header,
    // SNI and the certificate check. The connection is this request's
    // alone: never reused by another job, never reusing another's.
    curl_easy_setopt(e, CURLOPT_PROXY, "");
    connect_to_.reset(curl_slist_append(nullptr, "::127.0.0.1:"));
    curl_easy_setopt(e, CURLOPT_CONNECT_TO, connect_to_.get());
    curl_easy_setopt(e, CURLOPT_OPENSOCKETFUNCTION, &FileTransfer::OnOpenSocketThunk);
    curl_easy_setopt(e, CURLOPT_OPENSOCKETDATA, this);
    curl_easy_setopt(e, CURLOPT_SOCKOPTFUNCTION, &FileTransfer::OnSocketOptionThunk);
    curl_easy_setopt(e, CURLOPT_SOCKOPTDATA, this);
    curl_easy_setopt(e, CURLOPT_FRESH_CONNECT, 1L);
    curl_easy_setopt(e, CURLOPT_FORBID_REUSE, 1L);
  } else {
    switch (config_.route) {
      case TransferConfig::Route::kDirect:
        curl_easy_setopt(e, CURLOPT_PROXY, "");  // also ignores the environment
        break;
      case TransferConfig::Route::kProxy:
        curl_easy_setopt(e, CURLOPT_PROXY, config_.proxy_url.c_str());
        if (!config_.no_proxy.empty()) {
          curl_easy_setopt(e, CURLOPT_NOPROXY, config_.no_proxy.c_str());
        }
        break;
      case TransferConfig::Route::kEnvironment:
        break;
    }
  }
  if (proxy_auth_.ntlm_via_curl) {
    curl_easy_setopt(e, CURLOPT_FRESH_CONNECT, 1L);
    curl_easy_setopt(e, CURLOPT_PROXYAUTH, static_cast<long>(CURLAUTH_NTLM));
    curl_easy_setopt(e, CURLOPT_PROXYUSERNAME, config_.proxy_negotiate.identity.user_name.c_str());
    curl_easy_setopt(e, CURLOPT_PROXYPASSWORD, config_.proxy_negotiate.identity.password.c_str());
  }
  if (config_.http_method != "GET") {
    curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, config_.http_method.c_str());
  }
  // The proxy's answer to CONNECT is not the server's response.
  curl_easy_setopt(e, CURLOPT_SUPPRESS_CONNECT_HEADERS, 1L);
  if (config_.proxy.schemes != 0 && !proxy_auth_.ntlm_via_curl) {
    curl_easy_setopt(e, CURLOPT_PROXYAUTH, config_.proxy.schemes);
    curl_easy_setopt(e, CURLOPT_PROXYUSERNAME, config_.proxy.user_name.c_str());
    curl_easy_setopt(e, CURLOPT_PROXYPASSWORD, config_.proxy.password.c_str());
  }
  curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
  const std::string& requested = RequestedUrl();
  const bool from_https = requested.rfind("https:", 0) == 0;
  https_downgrade_refused_ =
      from_https && (config_.redirect_flags & kRedirectAllowHttpsToHttp) == 0;
  curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR,
                   https_downgrade_refused_ ? "https" : "http,https");
  const bool follow = (config_.redirect_flags & kRedirectPolicyMask) != kRedirectPolicyDisallow;
  curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, follow ? 1L : 0L);
  curl_easy_setopt(e, CURLOPT_MAXREDIRS, kMaxRedirects);
  curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT, kConnectTimeoutSeconds);
  curl_easy_setopt(e, CURLOPT_LOW_SPEED_LIMIT, 1L);
  curl_easy_setopt(e, CURLOPT_LOW_SPEED_TIME,
                   static_cast<long>(std::max<std::int64_t>(config_.stall_timeout.count(), 1)));
  curl_easy_setopt(e, CURLOPT_BUFFERSIZE, config_.receive_buffer_bytes);
  curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
  curl_easy_setopt(e, CURLOPT_PIPEWAIT, 1L);
  curl_easy_setopt(e, CURLOPT_SSLVERSION, static_cast<long>(CURL_SSLVERSION_TLSv1_2));
  tls_->Apply(e);
  curl_easy_setopt(e, CURLOPT_USERAGENT, "openbits/0.1 (BITS-compatible)");
  curl_easy_setopt(e, CURLOPT_ERRORBUFFER, error_buffer_);
  curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, &FileTransfer::OnHeaderThunk);
  curl_easy_setopt(e, CURLOPT_HEADERDATA, this);
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, &FileTransfer::OnBodyThunk);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, this);

  curl_slist* list = nullptr;
  for (const std::string& h : config_.headers) list = curl_slist_append(list, h.c_str());
  if (!authorization_.empty()) {
    list = curl_slist_append(list, authorization_.c_str());
    authorization_.clear();
  }
  const std::string if_range = plan_.IfRange();
  if (!if_range.empty()) list = curl_slist_append(list, ("If-Range: " + if_range).c_str());
  proxy_headers_.reset();
  if (!proxy_authorization_.empty()) {
    if (RequestedUrl().rfind("https:", 0) == 0) {
      // For the CONNECT only: the server behind the tunnel never sees it.
      proxy_headers_.reset(curl_slist_append(nullptr, proxy_authorization_.c_str()));
      curl_easy_setopt(e, CURLOPT_HEADEROPT, static_cast<long>(CURLHEADER_SEPARATE));
      curl_easy_setopt(e, CURLOPT_PROXYHEADER, proxy_headers_.get());
    } else {
      list = curl_slist_append(list, proxy_authorization_.c_str());  // the proxy consumes it
    }
    proxy_authorization_.clear();
  }
  request_headers_.reset(list);
  curl_easy_setopt(e, CURLOPT_HTTPHEADER, request_headers_.get());
  if (plan_.send_range) {
    const std::string range = plan_.RangeHeader().substr(6);  // without "bytes="
    curl_easy_setopt(e, CURLOPT_RANGE, range.c_str());        // curl copies the string
  }

  const std::uint64_t id = ++request_id_;
  request_running_ = true;
  std::weak_ptr<FileTransfer> weak = weak_from_this();
  multi_.Add(e, [weak, id](CURLcode result) {
    if (auto self = weak.lock()) self->OnRequestDone(id, result);
  });
}

std::size_t FileTransfer::OnHeaderThunk(char* data, std::size_t size, std::size_t n, void* self) {
  auto* t = static_cast<FileTransfer*>(self);
  try {
    if (!t->tls_checked_) {
      // The seed's rule: a server that asks for a client certificate the
      // job does not have fails the job, even when it would go on without.
      t->tls_checked_ = true;
      if (t->tls_->CertificateNeeded(t->easy_.get())) {
        t->failure_ = TransferOutcome{
            false, kWinHttpClientAuthCertNeeded, ErrorContext::kGeneralTransport, false,
            "the server asks for a client certificate and the job has none "
            "(SetClientCertificateByID/ByName)"};
        return 0;
      }
    }
    t->headers_.OnHeaderLine(std::string_view(data, size * n));
    return size * n;
  } catch (...) {
    return 0;  // never let an exception cross curl's C frames
  }
}

std::size_t FileTransfer::OnBodyThunk(char* data, std::size_t size, std::size_t n, void* self) {
  auto* t = static_cast<FileTransfer*>(self);
  try {
    return t->OnBody(data, size * n);
  } catch (...) {
    t->failure_ = TransferOutcome{false, kEFail, ErrorContext::kGeneralQueueManager, true,
                                  "internal error while writing"};
    return 0;
  }
}

namespace {

std::string Base64Encode(const std::vector<std::uint8_t>& bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3) + 1, '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), bytes.data(),
                                static_cast<int>(bytes.size()));
  out.resize(static_cast<std::size_t>(std::max(n, 0)));
  return out;
}

std::optional<std::vector<std::uint8_t>> Base64Decode(std::string_view text) {
  if (text.size() % 4 != 0 || text.size() > 64 * 1024) return std::nullopt;
  std::vector<std::uint8_t> out(text.size() / 4 * 3);
  const int n = EVP_DecodeBlock(out.data(), reinterpret_cast<const unsigned char*>(text.data()),
                                static_cast<int>(text.size()));
  if (n < 0) return std::nullopt;
  std::size_t size = static_cast<std::size_t>(n);
  // EVP_DecodeBlock counts the '=' padding as zero bytes.
  for (std::size_t i = text.size(); i > 0 && text[i - 1] == '=' && size > 0; --i) --size;
  out.resize(size);
  return out;
}

// The host of `url` ("" if it has none).
std::string HostOf(const char* url) {
  if (url == nullptr) return {};
  CPtr<CURLU> u(curl_url());
  char* host = nullptr;
  if (curl_url_set(u.get(), CURLUPART_URL, url, 0) != CURLUE_OK ||
      curl_url_get(u.get(), CURLUPART_HOST, &host, 0) != CURLUE_OK) {
    return {};
  }
  std::string out(host);
  curl_free(host);
  return out;
}

// The next "<scheme> <token>" that answers the `peer`'s ("server" or
// "proxy") challenges with `login`'s identity for HTTP@`host`; "" when none
// of them is for these credentials; an error when the peer refused them or
// the mechanism failed. A challenge gss-ntlmssp cannot read sets
// `exchange.ntlm_via_curl` (explicit credentials) and fails.
Result<std::string> NextAuthorization(AuthExchange& exchange, const NegotiateLogin& login,
                                      const std::string& host,
                                      const std::vector<auth::Challenge>& challenges,
                                      const std::string& peer) {
  const auth::Challenge* challenge = nullptr;
  if (exchange.context) {
    challenge = auth::FindChallenge(challenges, exchange.scheme == "NTLM" ? "ntlm" : "negotiate");
    if (challenge == nullptr || challenge->token68.empty() || exchange.context->complete()) {
      // squid answers a bad token with a bare "Negotiate": ask Kerberos why.
      const std::string why = exchange.context->Diagnose();
      return Status(kEAccessDenied, "the " + peer + " refused the credentials" +
                                        (why.empty() ? "" : " (" + why + ")"));
    }
  } else {
    platform::NegotiateMechanism mechanism = platform::NegotiateMechanism::kSpnego;
    const auth::Challenge* spnego = auth::FindChallenge(challenges, "negotiate");
    const auth::Challenge* ntlm = auth::FindChallenge(challenges, "ntlm");
    if (ntlm != nullptr && (login.prefer_ntlm || spnego == nullptr)) {
      challenge = ntlm;
      exchange.scheme = "NTLM";
      mechanism = platform::NegotiateMechanism::kNtlm;
    } else if (spnego != nullptr) {
      challenge = spnego;
      exchange.scheme = "Negotiate";
    } else {
      return std::string();
    }
    if (host.empty()) return std::string();
    auto started = platform::StartNegotiate(mechanism, host, login.identity);
    if (!started.ok()) return started.status();
    exchange.context = std::move(*started);
  }
  if (++exchange.legs > kMaxAuthLegs) {
    return Status(kEAccessDenied, "too many authentication round trips");
  }
  std::vector<std::uint8_t> peer_token;
  if (!challenge->token68.empty()) {
    auto decoded = Base64Decode(challenge->token68);
    if (!decoded) return Status(kEAccessDenied, "the " + peer + "'s token is not base64");
    peer_token = std::move(*decoded);
  }
  auto token = exchange.context->Step(peer_token);
  if (!token.ok() && exchange.scheme == "NTLM" && !login.identity.implicit) {
    // Some peers' challenges (squid's NTLM helpers) do not parse in
    // gss-ntlmssp; libcurl's own NTLM still talks to them, on a new
    // connection.
    exchange.ntlm_via_curl = true;
    exchange.context.reset();
    return token.status();
  }
  if (!token.ok()) return token.status();
  if (token->empty()) return Status(kEAccessDenied, "the " + peer + " refused the credentials");
  return exchange.scheme + " " + Base64Encode(*token);
}

}  // namespace

bool FileTransfer::AnswerChallenge() {
  const NegotiateLogin& login = config_.server_negotiate;
  // With libcurl's NTLM answering, its 401 is final.
  if (!login.enabled || server_auth_.ntlm_via_curl) return false;
  char* effective = nullptr;
  curl_easy_getinfo(easy_.get(), CURLINFO_EFFECTIVE_URL, &effective);
  if (HostOf(effective) != login.host) return false;  // never to a redirect's host
  Result<std::string> next =
      NextAuthorization(server_auth_, login, login.host,
                        auth::ParseChallenges(headers_.www_authenticate()), "server");
  if (server_auth_.ntlm_via_curl) {
    auth_retry_ = true;
    discard_body_ = true;
    return true;
  }
  if (!next.ok()) {
    failure_ = TransferOutcome{false, HttpErrorCode(401), ErrorContext::kRemoteFile, false,
                               server_auth_.scheme + ": " + next.status().message()};
    server_auth_.context.reset();
    return true;
  }
  if (next->empty()) return false;
  authorization_ = "Authorization: " + *next;
  auth_retry_ = true;
  discard_body_ = true;  // the 401 page; the connection stays for the next leg
  return true;
}

std::string FileTransfer::ProxyUrl() const {
  std::string proxy;
  switch (config_.route) {
    case TransferConfig::Route::kDirect:
      return {};
    case TransferConfig::Route::kProxy:
      proxy = config_.proxy_url;
      break;
    case TransferConfig::Route::kEnvironment: {
      // What libcurl reads (a build without proxy discovery).
      static constexpr std::array<const char*, 4> kHttps = {"https_proxy", "HTTPS_PROXY",
                                                            "all_proxy", "ALL_PROXY"};
      static constexpr std::array<const char*, 4> kHttp = {"http_proxy", "all_proxy", "ALL_PROXY",
                                                           ""};
      const auto& names = RequestedUrl().rfind("https:", 0) == 0 ? kHttps : kHttp;
      for (const char* name : names) {
        if (const char* v = std::getenv(name); v != nullptr && *v != '\0') {
          proxy = v;
          break;
        }
      }
      break;
    }
  }
  if (proxy.empty()) return {};
  if (proxy.find("://") == std::string::npos) proxy = "http://" + proxy;
  return proxy;
}

std::string FileTransfer::ProxyHost() const {
  const std::string proxy = ProxyUrl();
  return proxy.empty() ? std::string() : HostOf(proxy.c_str());
}

Result<std::string> FileTransfer::NextProxyAuthorization(
    const std::vector<std::string>& challenge_headers) {
  // A refused CONNECT through libcurl shows no headers: its 407 is taken
  // as a Negotiate prompt, which is what the job's credentials are for.
  const auto challenges = auth::ParseChallenges(
      challenge_headers.empty() ? std::vector<std::string>{"Negotiate"} : challenge_headers);
  return NextAuthorization(proxy_auth_, config_.proxy_negotiate, ProxyHost(), challenges, "proxy");
}

bool FileTransfer::AnswerProxyChallenge(const std::vector<std::string>& challenge_headers) {
  const NegotiateLogin& login = config_.proxy_negotiate;
  if (!login.enabled || proxy_auth_.ntlm_via_curl) return false;
  Result<std::string> next = NextProxyAuthorization(challenge_headers);
  if (proxy_auth_.ntlm_via_curl) {
    auth_retry_ = true;
    discard_body_ = true;
    return true;
  }
  if (!next.ok()) {
    failure_ = TransferOutcome{
        false, HttpErrorCode(407), ErrorContext::kRemoteFile, false,
        (proxy_auth_.scheme.empty() ? std::string("Negotiate") : proxy_auth_.scheme) +
            " (proxy): " + next.status().message()};
    proxy_auth_.context.reset();
    return true;
  }
  if (next->empty()) return false;
  proxy_authorization_ = "Proxy-Authorization: " + *next;
  auth_retry_ = true;
  discard_body_ = true;  // the 407 page; the connection stays for the next leg
  return true;
}

bool FileTransfer::UseOwnTunnel() const {
  if (!config_.proxy_negotiate.enabled || proxy_auth_.ntlm_via_curl) return false;
  if (RequestedUrl().rfind("https:", 0) != 0) return false;
  // A bypass list is libcurl's to apply (CURLOPT_NOPROXY): leave it the
  // whole request.
  if (config_.route == TransferConfig::Route::kProxy && !config_.no_proxy.empty()) return false;
  const std::string proxy = ProxyUrl();
  return proxy.rfind("http://", 0) == 0;
}

void FileTransfer::OpenTunnel() {
  CPtr<CURLU> proxy(curl_url());
  CPtr<CURLU> target(curl_url());
  char* proxy_host = nullptr;
  char* proxy_port = nullptr;
  char* host = nullptr;
  char* port = nullptr;
  const std::string proxy_url = ProxyUrl();
  if (curl_url_set(proxy.get(), CURLUPART_URL, proxy_url.c_str(), 0) != CURLUE_OK ||
      curl_url_get(proxy.get(), CURLUPART_HOST, &proxy_host, 0) != CURLUE_OK ||
      curl_url_set(target.get(), CURLUPART_URL, RequestedUrl().c_str(), 0) != CURLUE_OK ||
      curl_url_get(target.get(), CURLUPART_HOST, &host, 0) != CURLUE_OK ||
      curl_url_get(target.get(), CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) != CURLUE_OK) {
    curl_free(proxy_host);
    curl_free(host);
    curl_free(port);
    Fail(TransferOutcome{false, kBgEInvalidProxyInfo, ErrorContext::kGeneralTransport, false,
                         "the proxy or the URL cannot be parsed"});
    return;
  }
  // libcurl's default proxy port.
  const int proxy_port_number =
      curl_url_get(proxy.get(), CURLUPART_PORT, &proxy_port, 0) == CURLUE_OK ? std::atoi(proxy_port)
                                                                             : 1080;
  std::string proxy_name(proxy_host);
  if (proxy_name.size() > 2 && proxy_name.front() == '[') {
    proxy_name = proxy_name.substr(1, proxy_name.size() - 2);  // [::1]
  }
  const std::string authority = std::string(host) + ":" + port;
  curl_free(proxy_host);
  curl_free(proxy_port);
  curl_free(host);
  curl_free(port);
  std::weak_ptr<FileTransfer> weak = weak_from_this();
  tunnel_ = ProxyTunnel::Open(
      io_, proxy_name, proxy_port_number, authority, std::chrono::seconds(kConnectTimeoutSeconds),
      [weak](const std::vector<std::string>& challenges) -> Result<std::string> {
        auto self = weak.lock();
        if (!self) return Status(kEFail, "the transfer ended");
        return self->NextProxyAuthorization(challenges);
      },
      [weak](ProxyTunnel::Outcome outcome) {
        if (auto self = weak.lock()) self->OnTunnel(std::move(outcome));
      });
}

void FileTransfer::OnTunnel(ProxyTunnel::Outcome outcome) {
  tunnel_.reset();
  if (stopped_ || finished_) return;
  if (outcome.socket) {
    // Authenticated (or not asked to): the next tunnel starts a new
    // exchange, as Kerberos tokens are single-use and NTLM is bound to the
    // connection it was made on.
    proxy_auth_.Reset();
    tunnel_socket_ = std::move(outcome.socket);
    IssueRequest();
    return;
  }
  if (proxy_auth_.ntlm_via_curl) {
    IssueRequest();  // libcurl's CONNECT with its own NTLM
    return;
  }
  proxy_auth_.Reset();
  const std::string scheme =
      proxy_auth_.scheme.empty() ? std::string("Negotiate") : proxy_auth_.scheme;
  if (outcome.status == 407) {
    Fail(TransferOutcome{
        false, HttpErrorCode(407), ErrorContext::kRemoteFile, false,
        scheme + " (proxy): " +
            (outcome.why.empty() ? "the proxy refused the credentials" : outcome.why)});
  } else if (outcome.status != 0) {
    Fail(TransferOutcome{
        false, HttpErrorCode(outcome.status), ErrorContext::kRemoteFile, outcome.status / 100 == 5,
        "the proxy refused the tunnel" + (outcome.why.empty() ? "" : ": " + outcome.why)});
  } else {
    Fail(TransferOutcome{false, kWinHttpCannotConnect, ErrorContext::kGeneralTransport, true,
                         outcome.why});
  }
}

curl_socket_t FileTransfer::OnOpenSocketThunk(void* self, curlsocktype purpose,
                                              curl_sockaddr* address) {
  (void)address;
  auto* t = static_cast<FileTransfer*>(self);
  if (purpose != CURLSOCKTYPE_IPCXN || !t->tunnel_socket_) return CURL_SOCKET_BAD;
  boost::system::error_code ec;
  const auto fd = t->tunnel_socket_->release(ec);
  t->tunnel_socket_.reset();
  return ec ? CURL_SOCKET_BAD : static_cast<curl_socket_t>(fd);
}

int FileTransfer::OnSocketOptionThunk(void* self, curl_socket_t fd, curlsocktype purpose) {
  (void)self;
  (void)fd;
  (void)purpose;
  return CURL_SOCKOPT_ALREADY_CONNECTED;  // the tunnel is open
}

bool FileTransfer::CheckRedirect() {
  const std::uint32_t policy = config_.redirect_flags & kRedirectPolicyMask;
  if (policy == kRedirectPolicyDisallow && headers_.status() / 100 == 3 &&
      headers_.status() != 304) {
    // libcurl resolves the target when the response ends: fail then.
    redirect_refused_ = true;
    discard_body_ = true;
    return false;
  }
  if (policy == kRedirectPolicyAllowReport && headers_.status() / 100 == 2) {
    char* effective = nullptr;
    curl_easy_getinfo(easy_.get(), CURLINFO_EFFECTIVE_URL, &effective);
    if (effective != nullptr && RequestedUrl() != effective && file_.remote_name != effective) {
      file_.remote_name = effective;
      Persist();
    }
  }
  return true;
}

bool FileTransfer::Decide() {
  decided_ = true;
  if (!CheckRedirect()) return redirect_refused_;
  if (headers_.status() == 401 && AnswerChallenge()) return !failure_;
  if (headers_.status() == 407 && AnswerProxyChallenge(headers_.proxy_authenticate())) {
    return !failure_;
  }
  if (proxy_auth_.context && headers_.status() != 407) {
    proxy_auth_.Reset();  // accepted; a new request starts a new exchange
  }
  if (server_auth_.context && headers_.status() / 100 == 2) {
    // Authenticated. A final server token (mutual authentication) completes
    // our side; a new request starts a new exchange (Kerberos tokens are
    // single-use).
    const auto challenges = auth::ParseChallenges(headers_.www_authenticate());
    const auth::Challenge* last = auth::FindChallenge(challenges, "negotiate");
    if (last != nullptr && !last->token68.empty() && !server_auth_.context->complete()) {
      if (auto token = Base64Decode(last->token68)) {
        auto step = server_auth_.context->Step(*token);
        if (!step.ok()) {
          failure_ = TransferOutcome{
              false, HttpErrorCode(401), ErrorContext::kRemoteFile, false,
              "Negotiate: the server's mutual authentication failed: " + step.status().message()};
          return false;
        }
      }
    }
    server_auth_.Reset();
  }
  decision_ = DecideResponse(plan_, headers_);
  switch (decision_.verdict) {
    case Verdict::kFail: {
      TransferOutcome o;
      o.error = decision_.error;
      o.transient = decision_.transient;
      o.context = ErrorContext::kRemoteFile;
      o.why = decision_.why;
      if (o.transient && !headers_.retry_after().empty()) {
        o.retry_after_s = ParseRetryAfter(headers_.retry_after(), std::time(nullptr));
      }
      failure_ = o;
      return false;
    }
    case Verdict::kRestartRequest:
      restart_requested_ = true;
      return false;
    case Verdict::kAlreadyComplete:
      file_.remote_size = decision_.remote_total;
      file_.bytes_total = LocalTotal(file_.ranges, file_.remote_size);
      discard_body_ = true;  // the 416 page
      return true;
    case Verdict::kRestartWithBody: {
      Status st = ResetLocal(headers_.etag(), headers_.last_modified());
      if (!st.ok()) {
        failure_ = LocalFileFailure(st);
        return false;
      }
      break;
    }
    case Verdict::kAppend:
      if (written_ == 0) {
        file_.etag = headers_.etag();
        file_.last_modified = headers_.last_modified();
      }
      break;
  }
  file_.remote_size = decision_.remote_total;
  file_.bytes_total =
      config_.dynamic_content ? kSizeUnknown : LocalTotal(file_.ranges, file_.remote_size);
  if (!responding_reported_) {
    responding_reported_ = true;
    host_.OnTransferResponding(*this);
  }
  return true;
}

std::size_t FileTransfer::OnBody(const char* data, std::size_t size) {
  if (stopped_) return 0;
  if (!decided_ && !Decide()) return 0;
  if (discard_body_) return size;
  if (decision_.expected_body != kSizeUnknown && received_ + size > decision_.expected_body) {
    failure_ = TransferOutcome{false, kBgEInvalidServerResponse, ErrorContext::kRemoteFile, true,
                               "the server sent more bytes than its headers announced"};
    return 0;
  }
  // Bytes before the offset asked for (Decision::skip_bytes) are held
  // already. Counted only once the chunk is taken: a paused chunk comes again.
  const std::size_t overlap = received_ >= decision_.skip_bytes
                                  ? 0
                                  : static_cast<std::size_t>(std::min<std::uint64_t>(
                                        size, decision_.skip_bytes - received_));
  const std::size_t full_size = size;
  data += overlap;
  size -= overlap;
  if (size == 0) {
    received_ += full_size;
    return full_size;
  }
  // Never run more than one checkpoint ahead of the disk.
  if (written_ + size > durable_ + config_.checkpoint_bytes && written_ > durable_) {
    if (!sync_in_flight_) StartSync();
    paused_ = true;
    return CURL_WRITEFUNC_PAUSE;
  }
  if (write_off_thread_) {
    Stage(data, size);
  } else {
    Status st = platform::WriteAt(*fd_, data, size, written_);
    if (!st.ok()) {
      failure_ = LocalFileFailure(st);
      return 0;
    }
    queued_ += size;
    target_->end = queued_;
    // As the write thread does for its large chunks: the kernel starts
    // flushing as the bytes arrive, and a checkpoint finds less to do.
    if (queued_ - writeback_started_ >= WriteChunk::kLargeBytes) {
      platform::StartWriteback(*fd_, writeback_started_, queued_ - writeback_started_);
      writeback_started_ = queued_;
    }
  }
  written_ += size;
  received_ += full_size;
  host_.OnTransferProgress(*this);
  MaybeCheckpoint();
  return full_size;
}

void FileTransfer::Stage(const char* data, std::size_t size) {
  while (size > 0) {
    if (staged_.room() == 0) {
      // The file's first chunk is small; a file that outgrows it is big.
      const bool large = staged_.capacity != 0 || queued_ != 0;
      FlushStaged();
      staged_ = writes_.TakeChunk(large);
    }
    const std::size_t n = std::min(size, staged_.room());
    std::memcpy(staged_.data.get() + staged_.size, data, n);
    staged_.size += n;
    data += n;
    size -= n;
  }
}

void FileTransfer::FlushStaged() {
  if (staged_.size == 0) return;
  const std::uint64_t offset = queued_;
  queued_ += staged_.size;
  writes_.Write(target_, offset, std::move(staged_));
  staged_ = WriteChunk();
}

Status FileTransfer::ResetLocal(const std::string& etag, const std::string& last_modified) {
  ++generation_;  // an in-flight sync no longer describes the file
  staged_ = WriteChunk();
  writes_.Drain();  // no queued write may land after the truncation
  target_->error = Status();
  target_->end = 0;
  OPENBITS_RETURN_IF_ERROR(platform::Truncate(*fd_, 0));
  written_ = queued_ = durable_ = writeback_started_ = 0;
  file_.bytes_transferred = 0;
  file_.completed = false;
  file_.etag = etag;
  file_.last_modified = last_modified;
  file_.remote_size = kSizeUnknown;
  file_.bytes_total = kSizeUnknown;
  return host_.PersistFile(*this, file_);
}

void FileTransfer::MaybeCheckpoint() {
  if (sync_in_flight_ || written_ == durable_) return;
  const bool enough_bytes = written_ - durable_ >= config_.checkpoint_bytes / 2;
  const bool long_enough =
      std::chrono::steady_clock::now() - last_checkpoint_ >= config_.checkpoint_interval;
  if (enough_bytes || long_enough) StartSync();
}

void FileTransfer::StartSync() {
  sync_in_flight_ = true;
  FlushStaged();
  const std::uint64_t target = written_;
  const std::uint64_t generation = generation_;
  std::weak_ptr<FileTransfer> weak = weak_from_this();
  // Through the write thread: the sync starts once the bytes it must cover
  // are written, and a failed write is reported instead.
  writes_.After([file = target_, target, generation, weak, &io = io_, &sync_pool = sync_pool_] {
    if (!file->error.ok()) {
      asio::post(io, [weak, target, generation, st = file->error] {
        if (auto self = weak.lock()) self->OnSynced(target, generation, st);
      });
      return;
    }
    asio::post(sync_pool, [fd = file->fd, target, generation, weak, &io] {
      Status st = platform::SyncData(*fd);
      asio::post(io, [weak, target, generation, st] {
        if (auto self = weak.lock()) self->OnSynced(target, generation, st);
      });
    });
  });
}

void FileTransfer::OnSynced(std::uint64_t target, std::uint64_t generation, Status status) {
  sync_in_flight_ = false;
  if (stopped_ || finished_) return;
  if (generation == generation_) {
    if (!status.ok()) {
      if (request_running_) {
        request_running_ = false;
        multi_.Remove(easy_.get());
      }
      Fail(LocalFileFailure(status));
      return;
    }
    if (target > durable_) {
      durable_ = target;
      file_.bytes_transferred = target;
      PersistProgress();
    }
    last_checkpoint_ = std::chrono::steady_clock::now();
  }
  if (paused_ && request_running_) {
    paused_ = false;
    // May deliver the held-back data right away, through OnBody.
    curl_easy_pause(easy_.get(), CURLPAUSE_CONT);
  }
  MaybeCheckpoint();
}

Status FileTransfer::CheckpointNow() {
  if (!fd_) return Status::Ok();
  Status write_error;
  if (written_ > durable_) {
    if (write_off_thread_) {
      FlushStaged();
      writes_.Drain();
    }
    write_error = target_->error;
    // After a failed write (a full disk), what was written before it is
    // still kept.
    const std::uint64_t on_disk = write_error.ok() ? written_ : target_->end;
    if (on_disk > durable_) {
      OPENBITS_RETURN_IF_ERROR(platform::SyncData(*fd_));
      durable_ = on_disk;
    }
  }
  file_.bytes_transferred = durable_;
  OPENBITS_RETURN_IF_ERROR(host_.PersistFile(*this, file_));
  return write_error;
}

void FileTransfer::Persist() {
  Status st = host_.PersistFile(*this, file_);
  if (!st.ok()) {
    // The store failing (disk full) is reported as a local problem.
    failure_ = LocalFileFailure(st);
  }
}

void FileTransfer::PersistProgress() {
  Status st = host_.PersistProgress(*this, file_);
  if (!st.ok()) failure_ = LocalFileFailure(st);
}

void FileTransfer::OnRequestDone(std::uint64_t request_id, CURLcode result) {
  if (request_id != request_id_ || stopped_ || finished_) return;
  request_running_ = false;
  paused_ = false;
  if (result == CURLE_OK && !decided_) Decide();  // a response without a body

  if (auth_retry_ && result == CURLE_OK && !failure_) {
    auth_retry_ = false;
    IssueRequest();  // the next leg, with the Authorization header
    return;
  }
  auth_retry_ = false;
  if (redirect_refused_) {
    char* target = nullptr;
    curl_easy_getinfo(easy_.get(), CURLINFO_REDIRECT_URL, &target);
    const int status = headers_.status();
    if (target != nullptr) {
      // BITS: the remote name shows where the server wanted to go.
      file_.remote_name = target;
      Persist();
    }
    Fail(TransferOutcome{false, MakeHResult(0x80070000u | static_cast<std::uint32_t>(status)),
                         ErrorContext::kRemoteFile, false,
                         "the server redirected (HTTP " + std::to_string(status) + ") to " +
                             (target != nullptr ? std::string(target) : std::string("?")) +
                             " and the job's redirect policy is DISALLOW"});
    return;
  }
  if (restart_requested_) {
    if (++restarts_ > kMaxRestartsPerAttempt) {
      Fail(TransferOutcome{false, kBgERemoteFileChanged, ErrorContext::kRemoteFile, true,
                           "the remote file keeps changing during the transfer"});
      return;
    }
    Status st = ResetLocal("", "");
    if (!st.ok()) {
      Fail(LocalFileFailure(st));
      return;
    }
    IssueRequest();
    return;
  }
  if (failure_) {
    Fail(*failure_);
    return;
  }
  if (result != CURLE_OK) {
    long connect_code = 0;
    curl_easy_getinfo(easy_.get(), CURLINFO_HTTP_CONNECTCODE, &connect_code);
    if (connect_code == 407 && !failure_ && AnswerProxyChallenge({})) {
      if (failure_) {
        Fail(*failure_);
        return;
      }
      auth_retry_ = false;
      IssueRequest();  // the CONNECT again, with Proxy-Authorization
      return;
    }
    if (connect_code >= 300) {
      // The proxy refused the CONNECT tunnel (407: its credentials).
      const int status = static_cast<int>(connect_code);

      Fail(TransferOutcome{
          false, HttpErrorCode(status), ErrorContext::kRemoteFile, IsTransientHttpStatus(status),
          "the proxy answered CONNECT with HTTP status " + std::to_string(status)});
      return;
    }
    if (result == CURLE_UNSUPPORTED_PROTOCOL && https_downgrade_refused_) {
      Fail(TransferOutcome{false, kWinHttpRedirectFailed, ErrorContext::kRemoteFile, false,
                           "a redirect from HTTPS to HTTP was refused (security flag 0x0800 "
                           "allows it)"});
      return;
    }
    if (auto explained = tls_->Explain(result, error_buffer_)) {
      // A chain may lack one list per certificate: a few rounds at most.
      if (explained->error == kWinHttpSecureCertRevFailed && crl_rounds_ < kMaxCrlRounds &&
          !tls_->MissingCrlUrls().empty()) {
        ++crl_rounds_;
        crl_urls_ = tls_->MissingCrlUrls();
        crl_next_ = 0;
        FetchNextCrl();
        return;
      }
      Fail(*explained);
      return;
    }
    Fail(ClassifyCurlError(result, error_buffer_));
    return;
  }
  if (decision_.verdict != Verdict::kAlreadyComplete && decision_.expected_body != kSizeUnknown &&
      received_ != decision_.expected_body) {
    Fail(TransferOutcome{false, kWinHttpConnectionError, ErrorContext::kGeneralTransport, true,
                         "the response ended after " + std::to_string(received_) + " of " +
                             std::to_string(decision_.expected_body) + " bytes"});
    return;
  }
  if (decision_.verdict == Verdict::kAlreadyComplete || config_.dynamic_content) {
    if (config_.dynamic_content) file_.remote_size = written_;
    FinishFile();
    return;
  }
  IssueRequest();  // the next range, or FinishFile when none is left
}

namespace {
constexpr curl_off_t kMaxCrlBytes = 16 << 20;
constexpr long kCrlTimeoutSeconds = 60;
}  // namespace

void FileTransfer::FetchNextCrl() {
  if (crl_next_ >= crl_urls_.size()) {
    IssueRequest();  // with the lists just fetched
    return;
  }
  if (!crl_easy_) crl_easy_.reset(curl_easy_init());
  if (!crl_easy_) {
    Fail(TransferOutcome{false, kEOutOfMemory, ErrorContext::kGeneralQueueManager, true,
                         "curl_easy_init failed"});
    return;
  }
  CURL* e = crl_easy_.get();
  curl_easy_reset(e);
  multi_.PrepareEasy(e);
  crl_body_.clear();
  curl_easy_setopt(e, CURLOPT_URL, crl_urls_[crl_next_].c_str());
  curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 1L);
  curl_easy_setopt(e, CURLOPT_MAXREDIRS, 3L);
  curl_easy_setopt(e, CURLOPT_MAXFILESIZE_LARGE, kMaxCrlBytes);
  curl_easy_setopt(e, CURLOPT_TIMEOUT, kCrlTimeoutSeconds);
  curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(e, CURLOPT_FAILONERROR, 1L);
  switch (config_.route) {
    case TransferConfig::Route::kDirect:
      curl_easy_setopt(e, CURLOPT_PROXY, "");
      break;
    case TransferConfig::Route::kProxy:
      curl_easy_setopt(e, CURLOPT_PROXY, config_.proxy_url.c_str());
      if (!config_.no_proxy.empty()) curl_easy_setopt(e, CURLOPT_NOPROXY, config_.no_proxy.c_str());
      break;
    case TransferConfig::Route::kEnvironment:
      break;
  }
  curl_easy_setopt(e, CURLOPT_USERAGENT, "openbits/0.1 (BITS-compatible)");
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, &FileTransfer::OnCrlBodyThunk);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, this);
  crl_running_ = true;
  std::weak_ptr<FileTransfer> weak = weak_from_this();
  multi_.Add(e, [weak](CURLcode result) {
    if (auto self = weak.lock()) self->OnCrlDone(result);
  });
}

std::size_t FileTransfer::OnCrlBodyThunk(char* data, std::size_t size, std::size_t n, void* self) {
  auto* t = static_cast<FileTransfer*>(self);
  if (t->crl_body_.size() + size * n > static_cast<std::size_t>(kMaxCrlBytes)) return 0;
  t->crl_body_.append(data, size * n);
  return size * n;
}

void FileTransfer::OnCrlDone(CURLcode result) {
  crl_running_ = false;
  if (stopped_ || finished_) return;
  const std::string& url = crl_urls_[crl_next_];
  X509_CRL* crl = nullptr;
  if (result == CURLE_OK) {
    const auto* p = reinterpret_cast<const unsigned char*>(crl_body_.data());
    crl = d2i_X509_CRL(nullptr, &p, static_cast<long>(crl_body_.size()));
    if (crl == nullptr) {
      CPtr<BIO> bio(BIO_new_mem_buf(crl_body_.data(), static_cast<int>(crl_body_.size())));
      if (bio) crl = PEM_read_bio_X509_CRL(bio.get(), nullptr, nullptr, nullptr);
    }
    ERR_clear_error();
  }
  crl_body_.clear();
  if (crl == nullptr) {
    Fail(TransferOutcome{false, kWinHttpSecureCertRevFailed, ErrorContext::kGeneralTransport, false,
                         "the revocation list at " + url +
                             (result == CURLE_OK ? std::string(" is not a CRL")
                                                 : " could not be fetched: " +
                                                       std::string(curl_easy_strerror(result)))});
    return;
  }
  std::shared_ptr<X509_CRL> shared(crl, X509_CRL_free);
  tls_->AddCrl(shared);
  host_.OnCrlFetched(url, shared);
  ++crl_next_;
  FetchNextCrl();
}

void FileTransfer::FinishFile() {
  file_.bytes_total = written_;
  if (file_.remote_size == kSizeUnknown && file_.ranges.empty()) file_.remote_size = written_;
  if (fd_ && written_ > durable_) {
    // The last bytes are synced on the sync thread while the next file
    // starts; the host commits the completion only once they are durable.
    // A crash before that costs this file's bytes since its checkpoint.
    file_.completed = true;
    file_.bytes_transferred = written_;
    FlushStaged();
    TransferOutcome outcome;
    outcome.file_done = true;
    outcome.unsynced = target_;
    outcome.completed_file = file_;
    Finish(outcome);
    return;
  }
  file_.completed = true;
  Status st = CheckpointNow();
  if (!st.ok()) {
    file_.completed = false;
    Fail(LocalFileFailure(st));
    return;
  }
  TransferOutcome outcome;
  outcome.file_done = true;
  Finish(outcome);
}

void FileTransfer::Fail(TransferOutcome outcome) {
  if (config_.dynamic_content) {
    // Dynamic content restarts from byte 0 anyway; keep nothing.
    staged_ = WriteChunk();
    written_ = queued_ = durable_ = 0;
    file_.bytes_transferred = 0;
    (void)host_.PersistFile(*this, file_);
  } else {
    (void)CheckpointNow();  // keep what is on disk for the retry
  }
  Finish(outcome);
}

void FileTransfer::Finish(const TransferOutcome& outcome) {
  if (finished_ || stopped_) return;
  finished_ = true;
  host_.OnTransferFinished(*this, outcome);
}

CPtr<CURL> FileTransfer::ReleaseEasyHandle() {
  if (!finished_ || request_running_ || !easy_) return nullptr;
  curl_easy_reset(easy_.get());
  return std::move(easy_);
}

void FileTransfer::Stop() {
  if (stopped_) return;
  stopped_ = true;
  if (tunnel_) tunnel_->Cancel();
  tunnel_.reset();
  if (crl_running_) {
    crl_running_ = false;
    multi_.Remove(crl_easy_.get());
  }
  if (request_running_) {
    request_running_ = false;
    multi_.Remove(easy_.get());
  }
  if (!finished_) (void)CheckpointNow();
}

void FileTransfer::Abandon() {
  if (stopped_) return;
  stopped_ = true;
  if (tunnel_) tunnel_->Cancel();
  tunnel_.reset();
  if (crl_running_) {
    crl_running_ = false;
    multi_.Remove(crl_easy_.get());
  }
  if (request_running_) {
    request_running_ = false;
    multi_.Remove(easy_.get());
  }
}

}  // namespace openbits::engine
