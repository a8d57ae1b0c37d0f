// The local API server (Boost.Beast), one coroutine per connection on the
// daemon's I/O thread, on up to two listeners:
// - the Unix socket {data_dir}/tesd.sock (mode 0600, so only the daemon's
//   user): the /v1 JSON API and /metrics;
// - the HTTP listener ([api] http_listen, a TCP address): the dashboard's page
//   and assets, the same /v1 API behind a bearer token, and /metrics, every
//   request first passing the checks of daemon/http_access.h.
// Each /v1 request is routed (daemon/api_router.h) and its NodeOperations call
// runs on the server's worker pool, as does rendering /metrics, so blocking
// work never stalls the I/O thread.
//
// Threading: construct, Listen*, Start and Stop on the I/O thread (the
// executor passed in); the object must outlive the io_context's run().
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/thread_pool.hpp>
#include <cstddef>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>

#include "core/result.h"
#include "daemon/http_access.h"
#include "daemon/node_operations.h"

namespace tesseras::daemon {

class ApiServer {
 public:
  // `render_metrics` produces the /metrics body (Prometheus text 0.0.4); it
  // runs on a worker thread. Without it /metrics answers 404.
  ApiServer(boost::asio::any_io_executor io, NodeOperations& operations, std::size_t worker_threads,
            std::function<std::string()> render_metrics = nullptr);
  ~ApiServer();
  ApiServer(const ApiServer&) = delete;
  ApiServer& operator=(const ApiServer&) = delete;

  // Binds the socket at `socket_path` with mode 0600. The caller has made sure
  // no live daemon owns it (it holds the data dir lock) and removed a stale one.
  // kInvalidArgument if the path is too long for a Unix socket, kIo otherwise.
  core::Result<void> Listen(const std::filesystem::path& socket_path);

  // Binds the HTTP listener; requests must carry `token` (see
  // daemon/http_access.h). Returns the bound address (port 0 resolved). kIo
  // if the address cannot be bound.
  core::Result<boost::asio::ip::tcp::endpoint> ListenHttp(
      const boost::asio::ip::tcp::endpoint& endpoint, std::string token);

  // Starts accepting connections on the listeners bound so far.
  void Start();

  // Stops accepting and closes idle connections; requests in progress finish
  // and get their reply (with Connection: close). `on_drained` runs on the I/O
  // thread once no connection is left (at once if none is open). Removes the
  // socket file.
  void Stop(std::function<void()> on_drained);

  std::size_t open_connections() const { return sessions_.size(); }

 private:
  struct Session;
  template <typename Socket>
  struct StreamSession;
  struct Reply;

  template <typename Acceptor>
  boost::asio::awaitable<void> AcceptLoop(Acceptor& acceptor, bool http);
  template <typename Socket>
  boost::asio::awaitable<void> Serve(std::shared_ptr<StreamSession<Socket>> session, bool http);
  // The reply to one request; `http` applies the HTTP listener's policy.
  template <typename Request>
  boost::asio::awaitable<Reply> Answer(const Request& req, bool http);
  boost::asio::awaitable<Reply> RunOnPool(const std::function<Reply()>& work);
  void SessionEnded(const std::shared_ptr<Session>& session);

  boost::asio::any_io_executor io_;
  NodeOperations& operations_;
  std::function<std::string()> render_metrics_;
  boost::asio::thread_pool pool_;
  boost::asio::local::stream_protocol::acceptor acceptor_;
  boost::asio::ip::tcp::acceptor http_acceptor_;
  HttpAccessPolicy http_policy_;
  std::filesystem::path socket_path_;
  std::set<std::shared_ptr<Session>> sessions_;
  bool stopping_ = false;
  std::function<void()> on_drained_;
};

}  // namespace tesseras::daemon
