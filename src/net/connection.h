// One authenticated TLS connection to a peer, multiplexing exchanges.
//
// An exchange is one request and everything that belongs to it (its response,
// and for bulk transfers the Chunk and Credit frames), all carrying the same
// request_id. The side that dialled numbers its exchanges with odd ids, the
// side that accepted with even ids, so both can open exchanges at once.
//
// Threading: a Connection lives on one executor (the network thread) and every
// method must be called there. No method blocks; the awaitables suspend.
// A Connection keeps itself alive while its reader and writer run; Close()
// (also called on any protocol violation, I/O error or idle timeout) fails
// every open exchange.
//
// Bounds on what a peer can make a connection hold (docs/SECURITY.md,
// "Network"): per exchange, at most three queued responses, one Error (later
// frames of an exchange the peer ended are dropped) and as many chunks as we
// granted credit for; chunk data is read only when credit allows it (a late
// chunk is skipped without a buffer); bulk transfers must keep a minimum rate
// (TransferPace); buffers of all connections of an endpoint draw on one
// MemoryBudget.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/ids.h"
#include "core/result.h"
#include "crypto/identity.h"
#include "net/budget.h"
#include "net/chunk_buffer.h"
#include "net/tls_socket.h"
#include "net/wire.h"

namespace tesseras::net {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using Millis = std::chrono::milliseconds;

// Who is at the other end, as proven by the handshake.
struct PeerIdentity {
  core::NodeId id;
  crypto::PublicKey public_key{};
  uint64_t pow_nonce = 0;
  asio::ip::address address;  // remote IP of the TCP connection
  uint16_t listen_port = 0;   // from Hello; 0 if the peer does not accept connections
  uint64_t capabilities = 0;

  // "ip:port" / "[ip]:port" of the peer's listener (empty if not listening).
  std::string ListenAddress() const;
};

// Every limit and timeout of the connection layer (docs/PROTOCOL.md, Limits;
// docs/SECURITY.md, "Network", says why each default is what it is).
struct Limits {
  Millis connect_timeout{5000};
  Millis handshake_timeout{5000};  // TLS handshake + Hello exchange
  Millis request_timeout{10000};   // a request until its response
  Millis chunk_timeout{10000};     // between two frames of a bulk transfer
  Millis idle_timeout{60000};      // no exchange open and no frame for this long
  // Connections. The global cap counts established connections only:
  // handshakes in flight have their own budget and never take their slots.
  std::size_t max_connections = 256;
  std::size_t max_connections_per_ip = 8;       // established inbound, one IP
  std::size_t max_connections_per_subnet = 32;  // established inbound, one /24 or /48
  std::size_t max_connections_per_node = 2;     // established, one node id, both directions
  std::size_t max_handshakes = 64;              // inbound handshakes in flight
  std::size_t max_handshakes_per_ip = 4;
  std::size_t max_handshakes_per_subnet = 16;
  // Descriptors left for everything but peer connections (files, database,
  // API) when the connection caps are checked against RLIMIT_NOFILE.
  std::size_t reserved_descriptors = 256;
  // Bulk transfers (TransferPace): after `transfer_grace` of waiting on the
  // peer, a transfer must have moved `min_transfer_rate` bytes per second of
  // it; 0 disables the check (chunk_timeout still applies).
  uint64_t min_transfer_rate = 16 * 1024;
  Millis transfer_grace{10000};
  // Buffers of all connections together (MemoryBudget): granted receive
  // windows, chunks read for sending, queued frames. A connection may always
  // queue `write_queue_share` bytes of frames beyond the budget.
  std::size_t max_buffer_bytes = 256u << 20;
  std::size_t write_queue_share = 1u << 20;
  std::size_t max_inbound_inflight = 32;   // peer's requests we serve at once
  std::size_t max_outbound_inflight = 64;  // our requests open on one connection
  double inbound_requests_per_second = 500;
  double inbound_request_burst = 200;
  std::size_t max_write_queue_bytes = 32u << 20;
  uint32_t stream_window_chunks = 8;  // credit granted to a bulk sender
  int min_pow_bits = crypto::kDefaultPowBits;
};

class Connection;

// The pace rule of one bulk transfer. Only time spent waiting on the peer
// counts (not our own disk or budget waits): once `grace` of it has passed, at
// least `rate` bytes per second of it must have moved. A transfer of `size`
// bytes therefore ends within grace + size / rate of peer time, and one that
// stalls is closed at grace + moved / rate. Pure; rate 0 disables it.
class TransferPace {
 public:
  using Clock = std::chrono::steady_clock;
  TransferPace(uint64_t rate, Millis grace, Clock::time_point start)
      : rate_(rate), grace_(grace), start_(start) {}
  void AddOwnTime(Clock::duration d) { own_ += d; }
  // When `moved` bytes stop being enough (Clock::time_point::max() if never).
  Clock::time_point Deadline(uint64_t moved) const;
  // The longest a transfer of `size` bytes may take in peer time.
  static Millis Bound(uint64_t size, uint64_t rate, Millis grace);
  Clock::duration peer_time(Clock::time_point now) const { return now - start_ - own_; }

 private:
  uint64_t rate_;
  Millis grace_;
  Clock::time_point start_;
  Clock::duration own_{0};
};

// A frame received on an exchange; `data` holds a Chunk's bytes.
struct Inbound {
  wire::Envelope env;
  ChunkBuffer data;
};

// State of one exchange. Frames for it are queued here by the connection's
// reader; the coroutine that owns the exchange takes them with Next().
class Exchange {
 public:
  Exchange(asio::any_io_executor ex, uint64_t id) : id_(id), signal_(ex) {}
  uint64_t id() const { return id_; }

 private:
  friend class Connection;
  void Notify() { signal_.cancel(); }

  uint64_t id_;
  asio::steady_timer signal_;
  std::deque<Inbound> inbox_;   // ≤ 3 responses, 1 error, chunks within credit
  bool done_ = false;           // closed locally or by the connection
  core::Error failure_;         // why, when the connection closed it
  uint32_t send_credit_ = 0;    // chunks we may still send
  uint32_t recv_allowed_ = 0;   // chunks the peer may still send
  uint32_t queued_chunks_ = 0;  // our chunks queued and not yet written
  bool peer_ended_ = false;     // the peer sent Error on it: later frames are dropped
  bool responded_ = false;      // inbound: a final reply went out
};

class Connection : public std::enable_shared_from_this<Connection> {
 public:
  using RequestHandler = std::function<asio::awaitable<void>(
      std::shared_ptr<Connection>, std::shared_ptr<Exchange>, wire::Envelope)>;
  using CloseObserver = std::function<void(Connection*)>;

  // Takes an established, authenticated stream. Call Start() once. `budget`
  // is shared by the endpoint's connections (a private one if null).
  Connection(std::shared_ptr<TlsSocket> stream, PeerIdentity peer, bool dialer,
             const Limits& limits, std::shared_ptr<MemoryBudget> budget = nullptr);
  ~Connection();

  void Start(RequestHandler on_request, CloseObserver on_close);
  void Close(core::Error reason);

  const PeerIdentity& peer() const { return peer_; }
  bool is_open() const { return !closed_; }
  bool dialer() const { return dialer_; }
  std::size_t open_exchanges() const { return exchanges_.size(); }
  std::chrono::steady_clock::time_point last_activity() const { return last_activity_; }

  // ---- our requests
  // Sends `request` (its id and version are set here) and returns the exchange
  // on which its response and any stream frames arrive. Release it with
  // Finish() when done.
  core::Result<std::shared_ptr<Exchange>> Open(wire::Envelope request);
  // Open + wait for the first frame + Finish. An Error reply becomes the error.
  asio::awaitable<core::Result<wire::Envelope>> Call(wire::Envelope request, Millis timeout);

  // ---- any exchange
  // The next frame of `ex` other than Credit, waiting at most `timeout`.
  // kTimeout, or the connection's failure if it closed.
  asio::awaitable<core::Result<wire::Envelope>> Next(Exchange& ex, Millis timeout);
  // Sends a frame of exchange `ex` (id and version are set here).
  core::Result<void> Send(Exchange& ex, wire::Envelope env);
  // Sends the final reply of an inbound exchange.
  core::Result<void> Reply(Exchange& ex, wire::Envelope env);
  void Finish(const std::shared_ptr<Exchange>& ex);

  // ---- bulk data (docs/PROTOCOL.md, Bulk transfers)
  // Fills `out` with the stream's bytes at `offset` (all of them, or an error).
  // `out` stays valid until the returned awaitable completes; it may be
  // filled on another thread while the caller is suspended.
  using ChunkReader =
      std::function<asio::awaitable<core::Result<void>>(uint64_t offset, std::span<uint8_t> out)>;
  // Consumes one chunk; `data` stays valid until the awaitable completes.
  using ChunkWriter =
      std::function<asio::awaitable<core::Result<void>>(std::span<const uint8_t> data)>;
  // Sends `size` bytes as Chunk frames, each after a credit from the peer.
  // Chunk data lives in pooled buffers (ChunkBuffer) from the read to the
  // socket write: nothing is copied into a protobuf message. At most
  // stream_window_chunks chunks of one exchange wait in the write queue,
  // whatever credit the peer grants. kTimeout when the peer falls below the
  // transfer pace, kResourceExhausted when the buffer budget stays full.
  // (Callbacks by reference: the caller's temporaries outlive the co_await.)
  asio::awaitable<core::Result<void>> SendStream(Exchange& ex, uint64_t size,
                                                 const ChunkReader& read);
  // Reserves the receive window from the buffer budget (kResourceExhausted if
  // it stays full for half a chunk timeout), grants credit and receives
  // exactly `size` bytes, handing each chunk to `write` (awaited before more
  // credit is granted). kTimeout when the peer falls below the transfer pace.
  asio::awaitable<core::Result<void>> ReceiveStream(Exchange& ex, uint64_t size,
                                                    const ChunkWriter& write);

  // Counters for tests and benchmarks.
  uint64_t frames_sent() const { return frames_sent_; }
  uint64_t frames_received() const { return frames_received_; }
  uint64_t frames_dropped() const { return frames_dropped_; }
  // Frames waiting in the queues of open exchanges.
  std::size_t queued_frames() const;
  const MemoryBudget& budget() const { return *budget_; }

 private:
  asio::awaitable<void> ReadLoop();
  asio::awaitable<void> WriteLoop();
  asio::awaitable<void> IdleLoop();
  core::Result<void> Enqueue(const wire::Envelope& env, ChunkBuffer data = {});
  void Dispatch(wire::Envelope env, ChunkBuffer data);
  // The next frame of `ex` other than Credit, with its chunk data.
  asio::awaitable<core::Result<Inbound>> NextFrame(Exchange& ex, Millis timeout);
  void HandleRequest(wire::Envelope env);
  void Violation(std::string reason);
  bool OwnId(uint64_t id) const { return (id % 2 == 1) == dialer_; }
  // Whether an id was ever used on this connection (by us or by the peer).
  bool EverOpened(uint64_t id) const { return OwnId(id) ? id < next_id_ : id <= peer_max_id_; }
  // What to do with a Chunk's data before reading it: nullptr to skip it (a
  // late chunk), the exchange to read it for; a violation closes (sets closed_).
  Exchange* ChunkTarget(const wire::Envelope& env);
  core::Result<void> Grant(Exchange& ex, uint32_t chunks);
  // Waits until we hold credit and this exchange has room in the write queue.
  asio::awaitable<core::Result<void>> AwaitSendable(Exchange& ex,
                                                    std::chrono::steady_clock::time_point until);
  core::Result<void> EnqueueChunk(Exchange& ex, const wire::Envelope& env, ChunkBuffer data,
                                  BudgetLease lease);

  std::shared_ptr<TlsSocket> stream_;
  PeerIdentity peer_;
  bool dialer_;
  Limits limits_;
  RequestHandler on_request_;
  CloseObserver on_close_;
  bool closed_ = false;
  core::Error close_reason_;
  uint64_t next_id_;
  std::unordered_map<uint64_t, std::shared_ptr<Exchange>> exchanges_;
  std::size_t inbound_inflight_ = 0;
  std::size_t outbound_inflight_ = 0;
  std::shared_ptr<MemoryBudget> budget_;
  uint64_t peer_max_id_ = 0;  // highest request id the peer has opened
  struct Outbound {
    FrameBuffer frame;
    ChunkBuffer data;       // a Chunk's bytes, written right after its frame
    BudgetLease lease;      // what the frame and its data hold of the budget
    uint64_t chunk_of = 0;  // for our chunks: the exchange they belong to
  };
  std::deque<Outbound> write_queue_;
  std::size_t write_queue_bytes_ = 0;
  std::size_t control_queue_bytes_ = 0;  // of which frames without chunk data
  asio::steady_timer write_signal_;
  asio::steady_timer idle_timer_;
  std::chrono::steady_clock::time_point last_activity_;
  double tokens_;
  std::chrono::steady_clock::time_point tokens_at_;
  uint64_t frames_sent_ = 0;
  uint64_t frames_received_ = 0;
  uint64_t frames_dropped_ = 0;
};

// Reads one frame payload from `stream` into `buf` (length prefix checked
// first). Used by the connection and the handshake.
asio::awaitable<core::Result<void>> ReadFrame(TlsSocket& stream, std::vector<uint8_t>& buf);

}  // namespace tesseras::net
