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

Connection::Connection(std::shared_ptr<TlsSocket> stream, PeerIdentity peer, bool dialer,
                       const Limits& limits)
    : stream_(std::move(stream)),
      peer_(std::move(peer)),
      dialer_(dialer),
      limits_(limits),
      next_id_(dialer ? 1 : 2),
      write_signal_(stream_->get_executor()),
      idle_timer_(stream_->get_executor()),
      last_activity_(Clock::now()),
      tokens_(limits.inbound_request_burst),
      tokens_at_(Clock::now()) {}

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
    if (!env.ok()) {
      Violation(env.error().message);
      break;
    }
    // A Chunk's data follows its frame: read it straight into a pooled buffer.
    ChunkBuffer data(DataFollowing(*env));
    if (!data.empty()) {
      auto read = co_await stream_->Read(data.span());
      if (closed_) break;
      if (!read.ok()) {
        Close(read.error());
        break;
      }
    }
    ++frames_received_;
    last_activity_ = Clock::now();
    Dispatch(std::move(env).value(), std::move(data));
  }
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
  write_queue_bytes_ += bytes;
  write_queue_.push_back(Outbound{std::move(frame), std::move(data)});
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
      if (exchanges_.count(id) != 0) {
        Violation("request id " + std::to_string(id) + " reused");
        return;
      }
      HandleRequest(std::move(env));
      return;
    default:
      break;
  }
  if (kind == BodyKind::kError && id == 0) {
    Close(ErrorFromWire(env.error()));
    return;
  }
  auto it = exchanges_.find(id);
  if (it == exchanges_.end()) return;  // a late frame of an exchange we gave up on
  Exchange& ex = *it->second;
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
    if (ex.recv_allowed_ == 0) {
      Violation("chunk without credit");
      return;
    }
    --ex.recv_allowed_;
  } else if (kind == BodyKind::kResponse) {
    if (!OwnId(id)) {
      Violation(std::string(BodyName(env)) + " on the peer's own exchange");
      return;
    }
    if (ex.inbox_.size() > 2) {
      Violation("too many responses");
      return;
    }
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

asio::awaitable<Result<void>> Connection::AwaitCredit(Exchange& ex, Millis timeout) {
  auto deadline = Clock::now() + timeout;
  while (ex.send_credit_ == 0) {
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
    ex.signal_.expires_at(deadline);
    auto [ec] = co_await ex.signal_.async_wait(kAwait);
    if (!ec && ex.send_credit_ == 0 && ex.inbox_.empty() && !ex.done_) {
      co_return MakeError(ErrorCode::kTimeout, "no credit from " + peer_.id.Short());
    }
  }
  co_return core::Ok();
}

asio::awaitable<Result<void>> Connection::SendStream(Exchange& ex, uint64_t size,
                                                     const ChunkReader& read) {
  auto self = shared_from_this();
  uint64_t offset = 0;
  while (offset < size) {
    CO_TRY(co_await AwaitCredit(ex, limits_.chunk_timeout));
    std::size_t n = static_cast<std::size_t>(std::min<uint64_t>(kMaxChunkBytes, size - offset));
    ChunkBuffer data(n);
    CO_TRY(co_await read(offset, data.span()));
    wire::Envelope env;
    env.set_version(kProtocolVersion);
    env.set_request_id(ex.id());
    auto* chunk = env.mutable_chunk();
    chunk->set_offset(offset);
    chunk->set_length(static_cast<uint32_t>(n));
    chunk->set_last(offset + n == size);
    --ex.send_credit_;
    CO_TRY(Enqueue(env, std::move(data)));
    offset += n;
  }
  co_return core::Ok();
}

asio::awaitable<Result<void>> Connection::ReceiveStream(Exchange& ex, uint64_t size,
                                                        const ChunkWriter& write) {
  auto self = shared_from_this();
  uint32_t window = std::clamp<uint32_t>(limits_.stream_window_chunks, 1, kMaxCreditChunks);
  CO_TRY(Grant(ex, window));
  uint64_t received = 0;
  uint32_t consumed = 0;
  while (received < size) {
    CO_ASSIGN_OR_RETURN(Inbound frame, co_await NextFrame(ex, limits_.chunk_timeout));
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
    CO_TRY(co_await write(frame.data.span()));
    if (received < size && ++consumed >= std::max<uint32_t>(1, window / 2)) {
      CO_TRY(Grant(ex, consumed));
      consumed = 0;
    }
  }
  co_return core::Ok();
}

}  // namespace tesseras::net
