// Copyright (c) openbits authors. Licensed under the Apache License 2.0.
//
// FileTransfer: downloads one file of a job into its temporary file, one
// HTTP request per range (a whole file is one open-ended range), resuming
// from the last checkpoint.
//
// Durability protocol: bytes are written with pwrite straight from curl's
// buffer; a checkpoint fsyncs the data on a helper thread and only then
// commits the new offset to the store, so the store never claims a byte that
// is not on disk. No more than `checkpoint_bytes` may be written beyond the
// last durable checkpoint: the transfer pauses until the sync catches up, so
// a crash costs at most that much re-download.
//
// Owned and driven by the engine on the io thread; a FileTransfer reports
// through its TransferHost and never calls back into the engine from inside
// a curl callback except for progress.

#ifndef OPENBITS_ENGINE_FILE_TRANSFER_H_
#define OPENBITS_ENGINE_FILE_TRANSFER_H_

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/thread_pool.hpp>
#include <curl/curl.h>

#include "openbits/status.h"
#include "openbits/types.h"

#include "engine/curl_multi.h"
#include "engine/http_response.h"
#include "engine/proxy_discovery.h"
#include "engine/proxy_tunnel.h"
#include "engine/tls_session.h"
#include "engine/write_queue.h"
#include "platform/c_handles.h"
#include "platform/file_system.h"
#include "platform/identity.h"
#include "platform/negotiate.h"
#include "platform/secret_buffer.h"
#include "store/records.h"

namespace openbits::engine {

class FileTransfer;

struct TransferOutcome {
  TransferOutcome() = default;
  TransferOutcome(bool done, HResult code, ErrorContext where, bool retry, std::string text)
      : file_done(done), error(code), context(where), transient(retry), why(std::move(text)) {}

  bool file_done = false;  // the file is complete in its temporary file
  HResult error = 0;
  ErrorContext context = ErrorContext::kNone;
  bool transient = false;
  std::string why;
  // Seconds the server asked to wait (Retry-After), if it did.
  std::optional<std::uint64_t> retry_after_s;
  // file_done with bytes not yet synced: the host syncs `unsynced` (once
  // its queued writes are done) and only then commits `completed_file`
  // (completed), while the next file starts.
  std::shared_ptr<WriteTarget> unsynced;
  std::optional<store::FileRecord> completed_file;
};

class TransferHost {
 public:
  virtual ~TransferHost() = default;
  // The server's first answer was accepted (CONNECTING -> TRANSFERRING).
  virtual void OnTransferResponding(FileTransfer& transfer) = 0;
  // More bytes were written (not yet durable).
  virtual void OnTransferProgress(FileTransfer& transfer) = 0;
  // Persists the file record (checkpoint, validators, temporary name).
  virtual Status PersistFile(FileTransfer& transfer, const store::FileRecord& file) = 0;
  // Persists a checkpoint whose bytes are already synced. A power cut may
  // undo the record (never a process crash): that only costs the bytes
  // since the previous durable record, fetched again, so the host may
  // commit it without waiting for the disk.
  virtual Status PersistProgress(FileTransfer& transfer, const store::FileRecord& file) = 0;
  // The transfer ended; the host destroys it afterwards.
  virtual void OnTransferFinished(FileTransfer& transfer, const TransferOutcome& outcome) = 0;
  // How many transfers are running now, this one included.
  virtual std::size_t RunningTransfers() const { return 1; }
  // A certificate revocation list was fetched from a distribution point
  // (BG_SSL_ENABLE_CRL_CHECK): the host may keep it for later transfers.
  virtual void OnCrlFetched(const std::string& url, std::shared_ptr<X509_CRL> crl) {
    (void)url;
    (void)crl;
  }
};

// Who answers "Negotiate" and "NTLM" challenges of the server, through the
// OS's security package (platform/negotiate.h) rather than libcurl.
struct NegotiateLogin {
  bool enabled = false;
  std::string host;  // the origin the credentials are for (never a redirect's)
  platform::NegotiateIdentity identity;
  bool prefer_ntlm = false;  // credentials given for NTLM: answer "NTLM" first
};

// What to answer an HTTP authentication challenge with (libcurl does it).
struct HttpLogin {
  long schemes = 0;  // CURLAUTH_* bits; 0: no credentials
  platform::SecretBuffer user_name;
  platform::SecretBuffer password;
};

// Receive buffers: a large one moves big files with fewer system calls; a
// small one for small files, because libcurl allocates the buffer for every
// request and a large block is returned to the system when it is freed, so
// each small file would pay page faults for a fresh buffer.
inline constexpr long kLargeReceiveBuffer = 512 * 1024;
inline constexpr long kSmallReceiveBuffer = 64 * 1024;
// A temporary file is private to its owner until Complete() publishes it.
inline constexpr unsigned kTemporaryFileMode = 0600;

// Files up to this size take the small buffer.
inline constexpr std::uint64_t kSmallFileBytes = 256 * 1024;
// The buffer for a file expected to be `expected_bytes` long (kSizeUnknown:
// not known) in a job whose last finished file was small or not.
long ReceiveBufferFor(std::uint64_t expected_bytes, bool last_file_small);

struct TransferConfig {
  std::uint64_t checkpoint_bytes = 4u << 20;
  std::chrono::milliseconds checkpoint_interval{1000};
  // A connection that delivers no byte for this long is a transient error.
  std::chrono::seconds stall_timeout{120};
  std::vector<std::string> headers;  // validated custom headers
  bool dynamic_content = false;
  std::string http_method = "GET";
  TlsSettings tls;
  // BG_HTTP_REDIRECT_POLICY_* bits and BG_HTTP_REDIRECT_POLICY_ALLOW_HTTPS_TO_HTTP.
  std::uint32_t redirect_flags = 0;
  // System mode: the job's owner, whose identity opens and creates the
  // temporary file.
  std::optional<platform::UserIdentity> owner;
  // The URL requested: the file's remote name without user information.
  // Empty: the remote name as stored.
  std::string request_url;
  HttpLogin server;
  HttpLogin proxy;
  NegotiateLogin server_negotiate;
  // Explicit Negotiate (Kerberos) credentials for the proxy: openbits
  // answers its 407, for plain requests and for CONNECT (`host` is unused:
  // the proxy's name comes from the route).
  NegotiateLogin proxy_negotiate;
  // Where requests go: the environment's proxy settings (libcurl reads
  // http_proxy etc.), directly, or through `proxy_url`.
  enum class Route { kEnvironment, kDirect, kProxy };
  Route route = Route::kEnvironment;
  std::string proxy_url;
  std::string no_proxy;  // CURLOPT_NOPROXY for redirected requests
  // PRECONFIG through libproxy, and AUTODETECT: the route is looked up when
  // the transfer starts. Not owned; outlives the transfer.
  ProxyDiscovery* discovery = nullptr;
  ProxyUsage discovery_usage = ProxyUsage::kPreconfig;
  // libcurl's receive buffer (CURLOPT_BUFFERSIZE), fixed for the request.
  long receive_buffer_bytes = kLargeReceiveBuffer;
};

// Brings a file's temporary file in line with its checkpoint: truncates
// bytes beyond it, lowers the checkpoint if the file is shorter, restarts the
// file if the temporary file vanished. Returns true if `file` changed. A
// file with no checkpoint is left for its transfer to truncate when it
// starts: a queue of files named in advance costs nothing to open.
bool ReconcileTemporaryFile(store::FileRecord& file);

// A fresh random temporary file name, "BIT<12 hex digits>.tmp" like BITS's.
std::string NewTemporaryName();
// `count` of them, drawn at once.
std::vector<std::string> NewTemporaryNames(std::size_t count);

// Gives a finished, durable temporary file its published form: the server's
// modification time, then `mode` (the usual mode of new files instead of the
// private one it downloads under). Done on the sync thread as files finish,
// so that Complete() only renames; a file with `mode` has had both, unless
// `mode` is the private mode itself (TellsPublishedApart).
Status PrepareForPublishing(const platform::ScopedFd& fd, const store::FileRecord& file,
                            unsigned mode);
bool TellsPublishedApart(unsigned mode);

// One Negotiate or NTLM exchange with a peer (the server, or the proxy).
struct AuthExchange {
  std::unique_ptr<platform::NegotiateContext> context;
  std::string scheme;  // "Negotiate" or "NTLM"
  int legs = 0;
  // gss-ntlmssp could not read the peer's NTLM challenge: libcurl's NTLM
  // answers it instead (explicit credentials only).
  bool ntlm_via_curl = false;

  // The exchange is over (accepted or refused): the next one starts afresh.
  void Reset() {
    context.reset();
    legs = 0;
  }
};

class FileTransfer : public std::enable_shared_from_this<FileTransfer> {
 public:
  FileTransfer(boost::asio::io_context& io, CurlMulti& multi, boost::asio::thread_pool& sync_pool,
               WriteQueue& writes, TransferHost& host, store::FileRecord file,
               TransferConfig config);
  FileTransfer(const FileTransfer&) = delete;
  FileTransfer& operator=(const FileTransfer&) = delete;
  ~FileTransfer();

  // Opens the temporary file and sends the first request. Results arrive
  // through the host, never from inside this call. `prepared`, if given, is
  // the file's temporary file, created empty under its recorded name ahead
  // of time (Engine::PrepareTemporaryFiles).
  void Start(std::shared_ptr<platform::ScopedFd> prepared = nullptr);

  // Before Start: a curl handle another transfer of the same job finished
  // with (ReleaseEasyHandle), used instead of a new one. curl_easy_init and
  // curl_easy_cleanup were 3% of the engine thread's work per small file.
  void AdoptEasyHandle(CPtr<CURL> easy) { easy_ = std::move(easy); }

  // Once the transfer has finished: its curl handle, reset (no option,
  // callback or credential of this transfer is left in it), or null if a
  // request still holds it. The transfer makes no request afterwards.
  CPtr<CURL> ReleaseEasyHandle();

  // Stops the transfer, fsyncs and persists the progress. The host gets no
  // OnTransferFinished afterwards.
  void Stop();

  // Stops without keeping anything (Cancel): the temporary file stays for
  // the caller to delete.
  void Abandon();

  const store::FileRecord& file() const { return file_; }
  // Bytes in the temporary file, durable or not.
  std::uint64_t bytes_written() const { return written_; }

 private:
  static std::size_t OnHeaderThunk(char* data, std::size_t size, std::size_t n, void* self);
  static std::size_t OnBodyThunk(char* data, std::size_t size, std::size_t n, void* self);

  // The URL requests go to: the remote name without user information.
  const std::string& RequestedUrl() const {
    return config_.request_url.empty() ? file_.remote_name : config_.request_url;
  }
  Status OpenTemporaryFile();
  // The file was named in advance (its name is in the store) and has no
  // byte yet: its temporary file may be created, or taken as prepared,
  // without another commit.
  bool NamedButNotStarted() const;
  // Downloads into `fd`, a new empty temporary file, from byte 0.
  void UseEmptyFile(std::shared_ptr<platform::ScopedFd> fd);
  // The route a proxy lookup found (TransferConfig::discovery): the first
  // request goes out, or the transfer fails with a transient error.
  void OnRouteDiscovered(Result<DiscoveredRoute> route);
  void IssueRequest();
  std::size_t OnBody(const char* data, std::size_t size);
  bool Decide();
  // Applies the redirect policy to the response just decided; false when
  // the response is refused (redirect_refused_: reported when it ends).
  bool CheckRedirect();
  // A 401 the job can answer with Negotiate or NTLM: prepares the next
  // request's Authorization header. Returns false when it does not apply;
  // sets failure_ when the exchange failed.
  bool AnswerChallenge();
  // A 407 (or a refused CONNECT) the job can answer with its explicit proxy
  // Negotiate credentials: prepares the next request's Proxy-Authorization.
  // False when it does not apply; sets failure_ when the exchange failed.
  bool AnswerProxyChallenge(const std::vector<std::string>& challenges);
  // The host name of the proxy requests go through ("" when direct).
  std::string ProxyHost() const;
  // The proxy this request goes through, as a URL ("" when direct).
  std::string ProxyUrl() const;
  void OnRequestDone(std::uint64_t request_id, CURLcode result);
  Status ResetLocal(const std::string& etag, const std::string& last_modified);
  // Copies body bytes for the write thread; a full chunk goes at once.
  void Stage(const char* data, std::size_t size);
  // Hands the staged bytes to the write thread.
  void FlushStaged();
  void MaybeCheckpoint();
  void StartSync();
  void OnSynced(std::uint64_t target, std::uint64_t generation, Status status);
  Status CheckpointNow();
  void FinishFile();
  void Fail(TransferOutcome outcome);
  void Finish(const TransferOutcome& outcome);
  void Persist();
  void PersistProgress();
  // The next Proxy-Authorization value for the proxy's challenges (an empty
  // list: a refused CONNECT, taken as a Negotiate prompt); "" when none of
  // them is for the job's credentials; an error when the proxy refused
  // them or the mechanism failed.
  Result<std::string> NextProxyAuthorization(const std::vector<std::string>& challenge_headers);
  bool UseOwnTunnel() const;
  void OpenTunnel();
  void OnTunnel(ProxyTunnel::Outcome outcome);
  static curl_socket_t OnOpenSocketThunk(void* self, curlsocktype purpose, curl_sockaddr* address);
  static int OnSocketOptionThunk(void* self, curl_socket_t fd, curlsocktype purpose);

  boost::asio::io_context& io_;
  CurlMulti& multi_;
  boost::asio::thread_pool& sync_pool_;
  WriteQueue& writes_;
  TransferHost& host_;
  store::FileRecord file_;
  TransferConfig config_;

  std::unique_ptr<TlsSession> tls_;
  bool tls_checked_ = false;  // the certificate-request check of this response
  bool https_downgrade_refused_ = false;
  bool redirect_refused_ = false;  // a redirect under BG_HTTP_REDIRECT_POLICY_DISALLOW

  // Fetching the CRLs a CRL check missed, from the certificates'
  // distribution points; then the request is made again, once.
  void FetchNextCrl();
  void OnCrlDone(CURLcode result);
  static std::size_t OnCrlBodyThunk(char* data, std::size_t size, std::size_t n, void* self);
  CPtr<CURL> crl_easy_;
  bool crl_running_ = false;
  int crl_rounds_ = 0;
  std::vector<std::string> crl_urls_;
  std::size_t crl_next_ = 0;
  std::string crl_body_;

  platform::ScopedFd dir_;
  std::shared_ptr<platform::ScopedFd> fd_;
  CPtr<CURL> easy_;
  CPtr<curl_slist> request_headers_;
  char error_buffer_[CURL_ERROR_SIZE] = {};

  // The request in flight.
  std::uint64_t request_id_ = 0;
  bool request_running_ = false;
  RequestPlan plan_;
  ResponseHeaders headers_;
  bool decided_ = false;
  Decision decision_;
  bool discard_body_ = false;
  std::uint64_t received_ = 0;  // body bytes of this request
  bool restart_requested_ = false;
  int restarts_ = 0;
  std::optional<TransferOutcome> failure_;
  bool responding_reported_ = false;

  // Negotiate/NTLM exchanges in progress, with the server and the proxy.
  AuthExchange server_auth_;
  AuthExchange proxy_auth_;
  std::string authorization_;        // header for the next request, used once
  std::string proxy_authorization_;  // header for the next request, used once
  bool auth_retry_ = false;
  CPtr<curl_slist> proxy_headers_;
  // An HTTPS request through a proxy that openbits authenticates with: the
  // CONNECT is ours (a scheme of several legs cannot go through libcurl's),
  // then libcurl gets the connected socket.
  std::shared_ptr<ProxyTunnel> tunnel_;
  std::optional<boost::asio::ip::tcp::socket> tunnel_socket_;
  CPtr<curl_slist> connect_to_;

  // Local file state. Body bytes are written inline, or copied into
  // `staged_` and written on the write thread: written_ == queued_ +
  // staged_.size.
  std::uint64_t written_ = 0;            // bytes received for the temporary file
  std::uint64_t queued_ = 0;             // bytes written inline or handed to the write thread
  std::uint64_t durable_ = 0;            // bytes covered by the last committed checkpoint
  std::uint64_t writeback_started_ = 0;  // inline writes: StartWriteback issued up to here
  std::shared_ptr<WriteTarget> target_;
  WriteChunk staged_;
  // Chosen when the transfer starts: with one transfer running, the engine
  // thread mostly waits for the network and the write thread overlaps the
  // writing with it; with several, the engine thread is the bottleneck, the
  // other core serves the rest of the system, and a handoff per write would
  // only add work, so bytes are written inline.
  bool write_off_thread_ = false;
  std::uint64_t generation_ = 0;  // bumped when local bytes are discarded
  bool sync_in_flight_ = false;
  bool paused_ = false;
  std::chrono::steady_clock::time_point last_checkpoint_;
  bool stopped_ = false;
  bool finished_ = false;
};

// Maps a libcurl failure to the BITS code, context and retry class.
TransferOutcome ClassifyCurlError(CURLcode code, const char* detail);

// Maps a local file failure to an outcome (context LOCAL_FILE).
TransferOutcome LocalFileFailure(const Status& status);

}  // namespace openbits::engine

#endif  // OPENBITS_ENGINE_FILE_TRANSFER_H_
