#include "net/connection.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace tesseras::net {
namespace {

using core::ErrorCode;
using core::MakeError;
using core::Result;
constexpr auto kAwait = asio::as_tuple(asio::use_awaitable);
static_assert(kMaxChunkBytes <= kChunkBufferCapacity, "a chunk must fit a pooled buffer");
using Clock = std::chrono::steady_clock;
// Frame buffers above this size are freed after use rather than kept.
constexpr std::size_t kKeptReadBufferBytes = 64 * 1024;

}  // namespace

std::string PeerIdentity::ListenAddress() const {
  if (listen_port == 0) return {};
  if (address.is_v6()) return "[" + address.to_string() + "]:" + std::to_string(listen_port);
  return address.to_string() + ":" + std::to_string(listen_port);
}

asio::awaitable<Result<void>> ReadFrame(TlsSocket& stream, std::vector<uint8_t>& buf) {
  std::array<uint8_t, kFrameHeaderBytes> header{};
  CO_TRY(co_await stream.Read(header));
  CO_ASSIGN_OR_RETURN(uint32_t len, DecodeFrameLength(header));
  buf.resize(len);
  co_return co_await stream.Read(buf);
}

TransferPace::Clock::time_point TransferPace::Deadline(uint64_t moved) const {
  if (rate_ == 0) return Clock::time_point::max();
  auto allowed = std::chrono::duration_cast<Clock::duration>(
      std::chrono::duration<double>(static_cast<double>(moved) / static_cast<double>(rate_)));
  return start_ + own_ + grace_ + allowed;
}

Millis TransferPace::Bound(uint64_t size, uint64_t rate, Millis grace) {
  if (rate == 0) return Millis::max();
  return grace + Millis((size * 1000 + rate - 1) / rate);
}

Connection::Connection(std::shared_ptr<TlsSocket> stream, PeerIdentity peer, bool dialer,
                       const Limits& limits, std::shared_ptr<MemoryBudget> budget)
    : stream_(std::move(stream)),
      peer_(std::move(peer)),
      dialer_(dialer),
      limits_(limits),
      next_id_(dialer ? 1 : 2),
      write_signal_(stream_->get_executor()),
      idle_timer_(stream_->get_executor()),
      last_activity_(Clock::now()),
      tokens_(limits.inbound_request_burst),
      tokens_at_(Clock::now()) {
  budget_ = budget
                ? std::move(budget)
                : std::make_shared<MemoryBudget>(stream_->get_executor(), limits.max_buffer_bytes);
}

Connection::~Connection() { stream_->Close(); }

void Connection::Start(RequestHandler on_request, CloseObserver on_close) {
  on_request_ = std::move(on_request);
  on_close_ = std::move(on_close);
  auto self = shared_from_this();
  auto log = [self](const char* what) {
    return [self, what](std::exception_ptr e) {
      if (!e) return;
      try {
        std::rethrow_exception(e);
      } catch (const std::exception& ex) {
        spdlog::error("connection {} {}: {}", self->peer_.id.Short(), what, ex.what());
      }
      self->Close(MakeError(ErrorCode::kInternal, what));
    };
  };
  auto ex = stream_->get_executor();
  asio::co_spawn(
      ex, [self]() { return self->ReadLoop(); }, log("reader"));
  asio::co_spawn(
      ex, [self]() { return self->WriteLoop(); }, log("writer"));
  asio::co_spawn(
      ex, [self]() { return self->IdleLoop(); }, log("idle watchdog"));
}

void Connection::Close(core::Error reason) {
  if (closed_) return;
  closed_ = true;
  close_reason_ = reason;
  auto self = weak_from_this().lock();  // keep alive while observers run
  spdlog::debug("connection to {} closed: {}", peer_.id.Short(), reason.ToString());
  stream_->Close();
  write_signal_.cancel();
  idle_timer_.cancel();
  auto exchanges = std::move(exchanges_);
  exchanges_.clear();
  inbound_inflight_ = outbound_inflight_ = 0;
  for (auto& [id, ex] : exchanges) {
    ex->done_ = true;
    ex->failure_ = reason;
    ex->Notify();
  }
  write_queue_.clear();
  write_queue_bytes_ = 0;
  control_queue_bytes_ = 0;
  if (on_close_) {
    auto cb = std::move(on_close_);
    on_close_ = nullptr;
    cb(this);
  }
}

void Connection::Violation(std::string reason) {
  spdlog::info("peer {} broke the protocol: {}", peer_.id.Short(), reason);
  Close(MakeError(ErrorCode::kProtocol, std::move(reason)));
}

asio::awaitable<void> Connection::ReadLoop() {
  auto self = shared_from_this();
  std::vector<uint8_t> buf;
  std::array<uint8_t, 16 * 1024> skip{};  // late chunk data is read into this and dropped
  while (!closed_) {
    auto r = co_await ReadFrame(*stream_, buf);
    if (closed_) break;
    if (!r.ok()) {
      if (r.error().code == ErrorCode::kProtocol) {
        Violation(r.error().message);
      } else {
        Close(r.error());
      }
      break;
    }
    auto env = DecodePayload(buf);
    // A large frame's buffer is not kept: 256 idle connections must not each
    // hold the 1 MiB of the largest frame they ever saw.
    if (buf.capacity() > kKeptReadBufferBytes) buf = std::vector<uint8_t>();
    if (!env.ok()) {
      Violation(env.error().message);
      break;
    }
    // A Chunk's data follows its frame: read it straight into a buffer sized
    // for it, but only once credit allows it (a violation closes before any
    // allocation; a late chunk is read into `skip` and dropped).
    ChunkBuffer data;
    if (std::size_t n = DataFollowing(*env); n > 0) {
      Exchange* target = ChunkTarget(*env);
      if (closed_) break;
      if (target) {
        data = ChunkBuffer(n);
        auto read = co_await stream_->Read(data.span());
        if (closed_) break;
        if (!read.ok()) {
          Close(read.error());
          break;
        }
      } else {
        Result<void> read = core::Ok();
        for (std::size_t left = n; left > 0 && read.ok();) {
          std::size_t part = std::min(left, skip.size());
          read = co_await stream_->Read(std::span<uint8_t>(skip.data(), part));
          left -= part;
        }
        if (closed_) break;
        if (!read.ok()) {
          Close(read.error());
          break;
        }
        ++frames_received_;
        ++frames_dropped_;
        last_activity_ = Clock::now();
        continue;
      }
    }
    ++frames_received_;
    last_activity_ = Clock::now();
    Dispatch(std::move(env).value(), std::move(data));
  }
}

std::size_t Connection::queued_frames() const {
  std::size_t n = 0;
  for (const auto& [id, ex] : exchanges_) n += ex->inbox_.size();
  return n;
}

Exchange* Connection::ChunkTarget(const wire::Envelope& env) {
  uint64_t id = env.request_id();
  auto it = exchanges_.find(id);
  if (it == exchanges_.end()) {
    if (!EverOpened(id)) {
      Violation("chunk on exchange " + std::to_string(id) + ", which was never opened");
    }
    return nullptr;  // a late chunk of an exchange that has ended
  }
  Exchange& ex = *it->second;
  if (ex.peer_ended_) return nullptr;
  if (ex.recv_allowed_ == 0) {
    Violation("chunk without credit");
    return nullptr;
  }
  return &ex;
}

asio::awaitable<void> Connection::WriteLoop() {
  auto self = shared_from_this();
  std::vector<Outbound> batch;
  std::vector<asio::const_buffer> buffers;
  while (!closed_) {
    if (write_queue_.empty()) {
      write_signal_.expires_at(Clock::time_point::max());
      co_await write_signal_.async_wait(kAwait);
      continue;
    }
    batch.clear();
    buffers.clear();
    std::size_t bytes = 0;
    while (!write_queue_.empty() && batch.size() < 64 && bytes < (1u << 20)) {
      bytes += write_queue_.front().frame.size + write_queue_.front().data.size();
      batch.push_back(std::move(write_queue_.front()));
      write_queue_.pop_front();
    }
    write_queue_bytes_ -= std::min(write_queue_bytes_, bytes);
    for (const auto& b : batch) {
      if (b.data.empty()) control_queue_bytes_ -= std::min(control_queue_bytes_, b.frame.size);
      buffers.emplace_back(asio::buffer(b.frame.bytes.get(), b.frame.size));
      if (!b.data.empty()) buffers.emplace_back(asio::buffer(b.data.data(), b.data.size()));
    }
    auto written = co_await stream_->Write(buffers);
    if (closed_) break;
    if (!written.ok()) {
      Close(written.error());
      break;
    }
    last_activity_ = Clock::now();
    // Our chunks are out: their senders may queue more (and the budget held
    // by the batch goes back when it is cleared).
    for (const auto& b : batch) {
      if (b.chunk_of == 0) continue;
      if (auto it = exchanges_.find(b.chunk_of); it != exchanges_.end()) {
        Exchange& ex = *it->second;
        if (ex.queued_chunks_ > 0) --ex.queued_chunks_;
        ex.Notify();
      }
    }
    batch.clear();
  }
}

asio::awaitable<void> Connection::IdleLoop() {
  auto self = shared_from_this();
  Millis period = std::max(Millis(5), limits_.idle_timeout / 4);
  while (!closed_) {
    idle_timer_.expires_after(period);
    co_await idle_timer_.async_wait(kAwait);
    if (closed_) break;
    if (exchanges_.empty() && Clock::now() - last_activity_ >= limits_.idle_timeout) {
      Close(MakeError(ErrorCode::kTimeout, "idle"));
    }
  }
}

Result<void> Connection::Enqueue(const wire::Envelope& env, ChunkBuffer data) {
  if (closed_) return close_reason_;
  if (DataFollowing(env) != data.size()) {
    return MakeError(ErrorCode::kInternal, "chunk frame and its data disagree in length");
  }
  ASSIGN_OR_RETURN(FrameBuffer frame, EncodeFrameBuffer(env));
  std::size_t bytes = frame.size + data.size();
  if (write_queue_bytes_ + bytes > limits_.max_write_queue_bytes) {
    Close(MakeError(ErrorCode::kResourceExhausted, "peer does not read its frames"));
    return close_reason_;
  }
  // Frames draw on the endpoint's buffer budget; when it is spent, a
  // connection may still queue its fair share (so every peer gets its
  // answers), and one that holds more is not reading: it is closed.
  BudgetLease lease;
  std::size_t charge = frame.size + data.capacity();
  if (budget_->TryAcquire(charge)) {
    lease = BudgetLease(budget_.get(), charge);
  } else if (control_queue_bytes_ + frame.size <= limits_.write_queue_share) {
    budget_->Force(charge);
    lease = BudgetLease(budget_.get(), charge);
  } else {
    Close(MakeError(ErrorCode::kResourceExhausted,
                    "the node's buffer budget is spent and the peer does not read its frames"));
    return close_reason_;
  }
  write_queue_bytes_ += bytes;
  if (data.empty()) control_queue_bytes_ += frame.size;
  write_queue_.push_back(Outbound{std::move(frame), std::move(data), std::move(lease), 0});
  ++frames_sent_;
  write_signal_.cancel();
  return core::Ok();
}

Result<void> Connection::EnqueueChunk(Exchange& ex, const wire::Envelope& env, ChunkBuffer data,
                                      BudgetLease lease) {
  if (closed_) return close_reason_;
  ASSIGN_OR_RETURN(FrameBuffer frame, EncodeFrameBuffer(env));
  std::size_t bytes = frame.size + data.size();
  if (write_queue_bytes_ + bytes > limits_.max_write_queue_bytes) {
    Close(MakeError(ErrorCode::kResourceExhausted, "peer does not read its frames"));
    return close_reason_;
  }
  write_queue_bytes_ += bytes;
  write_queue_.push_back(Outbound{std::move(frame), std::move(data), std::move(lease), ex.id()});
  ++ex.queued_chunks_;
  ++frames_sent_;
  write_signal_.cancel();
  return core::Ok();
}

void Connection::Dispatch(wire::Envelope env, ChunkBuffer data) {
  BodyKind kind = KindOf(env);
  uint64_t id = env.request_id();
  switch (kind) {
    case BodyKind::kHello:
      Violation("Hello after the handshake");
      return;
    case BodyKind::kRequest:
      if (OwnId(id)) {
        Violation("request id " + std::to_string(id) + " has the wrong parity");
        return;
      }
      if (id <= peer_max_id_) {
        Violation("request id " + std::to_string(id) + " reused");
        return;
      }
      peer_max_id_ = id;
      HandleRequest(std::move(env));
      return;
    default:
      break;
  }
  if (kind == BodyKind::kError && id == 0) {
    Close(ErrorFromWire(env.error()));
    return;
  }
  if (kind == BodyKind::kResponse && !OwnId(id)) {
    Violation(std::string(BodyName(env)) + " on the peer's own exchange");
    return;
  }
  auto it = exchanges_.find(id);
  if (it == exchanges_.end()) {
    // A late frame of an exchange that has ended is dropped; one on an id
    // that was never opened is a violation (docs/PROTOCOL.md, section 4).
    if (!EverOpened(id)) {
      Violation(std::string(BodyName(env)) + " on exchange " + std::to_string(id) +
                ", which was never opened");
      return;
    }
    ++frames_dropped_;
    return;
  }
  Exchange& ex = *it->second;
  if (ex.peer_ended_) {  // the peer's Error ended it: nothing after counts
    ++frames_dropped_;
    return;
  }
  if (env.has_credit()) {
    ex.send_credit_ += env.credit().chunks();
    if (ex.send_credit_ > 4 * kMaxCreditChunks) {
      Violation("credit overflow");
      return;
    }
    ex.Notify();
    return;
  }
  if (env.has_chunk()) {
    if (ex.recv_allowed_ == 0) {  // ChunkTarget checked it before the data was read
      Violation("chunk without credit");
      return;
    }
    --ex.recv_allowed_;
  } else if (kind == BodyKind::kResponse) {
    if (ex.inbox_.size() > 2) {
      Violation("too many responses");
      return;
    }
  } else if (kind == BodyKind::kError) {
    ex.peer_ended_ = true;
  }
  ex.inbox_.push_back(Inbound{std::move(env), std::move(data)});
  ex.Notify();
}

void Connection::HandleRequest(wire::Envelope env) {
  uint64_t id = env.request_id();
  auto now = Clock::now();
  double elapsed = std::chrono::duration<double>(now - tokens_at_).count();
  tokens_at_ = now;
  tokens_ = std::min(limits_.inbound_request_burst,
                     tokens_ + elapsed * limits_.inbound_requests_per_second);
  if (tokens_ < 1.0) {
    (void)Enqueue(MakeErrorEnvelope(id, ErrorCode::kResourceExhausted, "request rate limit"));
    return;
  }
  tokens_ -= 1.0;
  if (inbound_inflight_ >= limits_.max_inbound_inflight || !on_request_) {
    (void)Enqueue(MakeErrorEnvelope(id, ErrorCode::kResourceExhausted, "too many requests"));
    return;
  }
  auto ex = std::make_shared<Exchange>(stream_->get_executor(), id);
  exchanges_.emplace(id, ex);
  ++inbound_inflight_;
  auto self = shared_from_this();
  asio::co_spawn(stream_->get_executor(), on_request_(self, ex, std::move(env)),
                 [self, ex](std::exception_ptr e) {
                   if (e) {
                     try {
                       std::rethrow_exception(e);
                     } catch (const std::exception& err) {
                       spdlog::error("handler for request {} from {} failed: {}", ex->id(),
                                     self->peer_.id.Short(), err.what());
                     }
                   }
                   if (!ex->responded_ && self->is_open()) {
                     (void)self->Reply(*ex, MakeErrorEnvelope(ex->id(), ErrorCode::kInternal,
                                                              "request not answered"));
                   }
                   self->Finish(ex);
                 });
}

Result<std::shared_ptr<Exchange>> Connection::Open(wire::Envelope request) {
  if (closed_) return close_reason_;
  if (outbound_inflight_ >= limits_.max_outbound_inflight) {
    return MakeError(ErrorCode::kResourceExhausted,
                     "too many requests open to " + peer_.id.Short());
  }
  uint64_t id = next_id_;
  next_id_ += 2;
  request.set_version(kProtocolVersion);
  request.set_request_id(id);
  TRY(Enqueue(request));
  auto ex = std::make_shared<Exchange>(stream_->get_executor(), id);
  exchanges_.emplace(id, ex);
  ++outbound_inflight_;
  return ex;
}

void Connection::Finish(const std::shared_ptr<Exchange>& ex) {
  ex->done_ = true;
  auto it = exchanges_.find(ex->id());
  if (it == exchanges_.end() || it->second != ex) return;
  exchanges_.erase(it);
  if (OwnId(ex->id())) {
    --outbound_inflight_;
  } else {
    --inbound_inflight_;
  }
  last_activity_ = Clock::now();
}

asio::awaitable<Result<wire::Envelope>> Connection::Call(wire::Envelope request, Millis timeout) {
  auto self = shared_from_this();
  CO_ASSIGN_OR_RETURN(auto ex, Open(std::move(request)));
  auto r = co_await Next(*ex, timeout);
  Finish(ex);
  if (!r.ok()) co_return std::move(r).error();
  if (r->has_error()) co_return ErrorFromWire(r->error());
  co_return std::move(r).value();
}

asio::awaitable<Result<wire::Envelope>> Connection::Next(Exchange& ex, Millis timeout) {
  CO_ASSIGN_OR_RETURN(Inbound frame, co_await NextFrame(ex, timeout));
  co_return std::move(frame.env);
}

asio::awaitable<Result<Inbound>> Connection::NextFrame(Exchange& ex, Millis timeout) {
  auto deadline = Clock::now() + timeout;
  while (true) {
    if (!ex.inbox_.empty()) {
      Inbound frame = std::move(ex.inbox_.front());
      ex.inbox_.pop_front();
      co_return frame;
    }
    if (ex.done_) {
      co_return ex.failure_.message.empty() ? MakeError(ErrorCode::kCancelled, "exchange closed")
                                            : ex.failure_;
    }
    if (closed_) co_return close_reason_;
    ex.signal_.expires_at(deadline);
    auto [ec] = co_await ex.signal_.async_wait(kAwait);
    if (!ec && ex.inbox_.empty() && !ex.done_) {
      co_return MakeError(ErrorCode::kTimeout, "no answer from " + peer_.id.Short() + " within " +
                                                   std::to_string(timeout.count()) + " ms");
    }
  }
}

Result<void> Connection::Send(Exchange& ex, wire::Envelope env) {
  env.set_version(kProtocolVersion);
  env.set_request_id(ex.id());
  return Enqueue(env);
}

Result<void> Connection::Reply(Exchange& ex, wire::Envelope env) {
  ex.responded_ = true;
  return Send(ex, std::move(env));
}

Result<void> Connection::Grant(Exchange& ex, uint32_t chunks) {
  ex.recv_allowed_ += chunks;
  wire::Envelope env;
  env.mutable_credit()->set_chunks(chunks);
  return Send(ex, std::move(env));
}

asio::awaitable<Result<void>> Connection::AwaitSendable(Exchange& ex, Clock::time_point until) {
  uint32_t window = std::clamp<uint32_t>(limits_.stream_window_chunks, 1, kMaxCreditChunks);
  while (ex.send_credit_ == 0 || ex.queued_chunks_ >= window) {
    if (!ex.inbox_.empty()) {
      wire::Envelope env = std::move(ex.inbox_.front().env);
      ex.inbox_.pop_front();
      if (env.has_error()) co_return ErrorFromWire(env.error());
      co_return MakeError(ErrorCode::kProtocol,
                          std::string(BodyName(env)) + " while sending a stream");
    }
    if (ex.done_ || closed_) {
      co_return ex.failure_.message.empty() ? close_reason_ : ex.failure_;
    }
    if (Clock::now() >= until) {
      co_return MakeError(ErrorCode::kTimeout,
                          ex.send_credit_ == 0 ? "no credit from " + peer_.id.Short()
                                               : peer_.id.Short() + " does not read our chunks");
    }
    ex.signal_.expires_at(until);
    (void)co_await ex.signal_.async_wait(kAwait);
  }
  co_return core::Ok();
}

namespace {

std::string PaceError(uint64_t moved, uint64_t size, Clock::duration peer_time,
                      const Limits& limits) {
  double secs = std::chrono::duration<double>(peer_time).count();
  return "transfer below the minimum rate: " + std::to_string(moved) + " of " +
         std::to_string(size) + " bytes in " + std::to_string(static_cast<int64_t>(secs)) +
         " s (at least " + std::to_string(limits.min_transfer_rate) + " B/s after " +
         std::to_string(limits.transfer_grace.count() / 1000) + " s)";
}

// The earlier of the pace deadline and one chunk timeout from now.
Clock::time_point NextDeadline(const TransferPace& pace, uint64_t moved, Millis chunk_timeout) {
  return std::min(pace.Deadline(moved), Clock::now() + chunk_timeout);
}

}  // namespace

asio::awaitable<Result<void>> Connection::SendStream(Exchange& ex, uint64_t size,
                                                     const ChunkReader& read) {
  auto self = shared_from_this();
  TransferPace pace(limits_.min_transfer_rate, limits_.transfer_grace, Clock::now());
  uint64_t offset = 0;
  while (offset < size) {
    auto until = NextDeadline(pace, offset, limits_.chunk_timeout);
    auto ready = co_await AwaitSendable(ex, until);
    if (!ready.ok()) {
      if (ready.error().code == ErrorCode::kTimeout && Clock::now() >= pace.Deadline(offset)) {
        co_return MakeError(ErrorCode::kTimeout,
                            PaceError(offset, size, pace.peer_time(Clock::now()), limits_));
      }
      co_return std::move(ready).error();
    }
    std::size_t n = static_cast<std::size_t>(std::min<uint64_t>(kMaxChunkBytes, size - offset));
    // Our own waits (buffer budget, disk) do not count against the peer.
    auto own_from = Clock::now();
    std::size_t charge = ChunkCapacityFor(n);
    if (!co_await budget_->Acquire(charge, own_from + limits_.chunk_timeout)) {
      co_return MakeError(ErrorCode::kResourceExhausted, "the node's buffer budget stays full");
    }
    BudgetLease lease(budget_.get(), charge);
    if (closed_) co_return close_reason_;
    ChunkBuffer data(n);
    auto filled = co_await read(offset, data.span());
    pace.AddOwnTime(Clock::now() - own_from);
    CO_TRY(filled);
    wire::Envelope env;
    env.set_version(kProtocolVersion);
    env.set_request_id(ex.id());
    auto* chunk = env.mutable_chunk();
    chunk->set_offset(offset);
    chunk->set_length(static_cast<uint32_t>(n));
    chunk->set_last(offset + n == size);
    if (ex.send_credit_ == 0) co_return MakeError(ErrorCode::kInternal, "credit vanished");
    --ex.send_credit_;
    CO_TRY(EnqueueChunk(ex, env, std::move(data), std::move(lease)));
    offset += n;
  }
  co_return core::Ok();
}

asio::awaitable<Result<void>> Connection::ReceiveStream(Exchange& ex, uint64_t size,
                                                        const ChunkWriter& write) {
  auto self = shared_from_this();
  uint32_t window = std::clamp<uint32_t>(limits_.stream_window_chunks, 1, kMaxCreditChunks);
  // Every chunk the peer may send under our credit has its buffer reserved
  // before the credit goes out.
  std::size_t reserve =
      window * ChunkCapacityFor(static_cast<std::size_t>(std::min<uint64_t>(kMaxChunkBytes, size)));
  if (!co_await budget_->Acquire(reserve, Clock::now() + limits_.chunk_timeout / 2)) {
    co_return MakeError(ErrorCode::kResourceExhausted,
                        "the node's transfer buffers are full; try again later");
  }
  BudgetLease lease(budget_.get(), reserve);
  if (closed_) co_return close_reason_;
  TransferPace pace(limits_.min_transfer_rate, limits_.transfer_grace, Clock::now());
  CO_TRY(Grant(ex, window));
  uint64_t received = 0;
  uint32_t consumed = 0;
  while (received < size) {
    auto until = NextDeadline(pace, received, limits_.chunk_timeout);
    auto wait = std::chrono::duration_cast<Millis>(until - Clock::now());
    auto next = co_await NextFrame(ex, std::max(Millis(0), wait));
    if (!next.ok()) {
      if (next.error().code == ErrorCode::kTimeout && Clock::now() >= pace.Deadline(received)) {
        co_return MakeError(ErrorCode::kTimeout,
                            PaceError(received, size, pace.peer_time(Clock::now()), limits_));
      }
      co_return std::move(next).error();
    }
    Inbound frame = std::move(next).value();
    const wire::Envelope& env = frame.env;
    if (env.has_error()) co_return ErrorFromWire(env.error());
    if (!env.has_chunk()) {
      std::string why = std::string(BodyName(env)) + " inside a stream";
      Violation(why);
      co_return MakeError(ErrorCode::kProtocol, why);
    }
    const auto& chunk = env.chunk();
    uint64_t len = frame.data.size();
    if (chunk.offset() != received || len > size - received ||
        chunk.last() != (received + len == size)) {
      std::string why = "chunk at offset " + std::to_string(chunk.offset()) + " of " +
                        std::to_string(len) + " bytes does not fit a stream of " +
                        std::to_string(size) + " bytes at " + std::to_string(received);
      Violation(why);
      co_return MakeError(ErrorCode::kProtocol, why);
    }
    received += len;
    auto own_from = Clock::now();
    auto written = co_await write(frame.data.span());
    pace.AddOwnTime(Clock::now() - own_from);
    CO_TRY(written);
    if (received < size && ++consumed >= std::max<uint32_t>(1, window / 2)) {
      CO_TRY(Grant(ex, consumed));
      consumed = 0;
    }
  }
  co_return core::Ok();
}

}  // namespace tesseras::net
