// The local API server: HTTP/1.1 with JSON bodies on a Unix socket (Boost.Beast),
// one coroutine per connection on the daemon's I/O thread. Each request is routed
// (daemon/api_router.h) and its NodeOperations call runs on the server's worker
// pool, so blocking operations never stall the I/O thread.
//
// Threading: construct, Listen, Start and Stop on the I/O thread (the executor
// passed in); the object must outlive the io_context's run().
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/thread_pool.hpp>
#include <cstddef>
#include <filesystem>
#include <functional>
#include <memory>
#include <set>

#include "core/result.h"
#include "daemon/node_operations.h"

namespace tesseras::daemon {

class ApiServer {
 public:
  ApiServer(boost::asio::any_io_executor io, NodeOperations& operations,
            std::size_t worker_threads);
  ~ApiServer();
  ApiServer(const ApiServer&) = delete;
  ApiServer& operator=(const ApiServer&) = delete;

  // Binds the socket at `socket_path` with mode 0600. The caller has made sure
  // no live daemon owns it (it holds the data dir lock) and removed a stale one.
  // kInvalidArgument if the path is too long for a Unix socket, kIo otherwise.
  core::Result<void> Listen(const std::filesystem::path& socket_path);

  // Starts accepting connections.
  void Start();

  // Stops accepting and closes idle connections; requests in progress finish
  // and get their reply (with Connection: close). `on_drained` runs on the I/O
  // thread once no connection is left (at once if none is open). Removes the
  // socket file.
  void Stop(std::function<void()> on_drained);

  std::size_t open_connections() const { return sessions_.size(); }

 private:
  struct Session;

  boost::asio::awaitable<void> AcceptLoop();
  boost::asio::awaitable<void> Serve(std::shared_ptr<Session> session);
  void SessionEnded(const std::shared_ptr<Session>& session);

  boost::asio::any_io_executor io_;
  NodeOperations& operations_;
  boost::asio::thread_pool pool_;
  boost::asio::local::stream_protocol::acceptor acceptor_;
  std::filesystem::path socket_path_;
  std::set<std::shared_ptr<Session>> sessions_;
  bool stopping_ = false;
  std::function<void()> on_drained_;
};

}  // namespace tesseras::daemon
