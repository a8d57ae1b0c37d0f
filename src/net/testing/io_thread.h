// Test and benchmark helper: an io_context running on its own thread, standing
// in for a node's network thread.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <functional>
#include <future>
#include <memory>
#include <thread>

namespace tesseras::net::testing {

class IoThread {
 public:
  IoThread() : work_(boost::asio::make_work_guard(io_)), thread_([this] { io_.run(); }) {}
  ~IoThread() {
    work_.reset();
    io_.stop();
    thread_.join();
  }
  IoThread(const IoThread&) = delete;
  IoThread& operator=(const IoThread&) = delete;

  // Runs the coroutine `make()` on the thread and waits for its result (an
  // exception in it is rethrown here).
  template <typename T>
  T Await(std::function<boost::asio::awaitable<T>()> make) {
    auto p = std::make_shared<std::promise<T>>();
    auto fut = p->get_future();
    boost::asio::co_spawn(
        io_, [p, make]() -> boost::asio::awaitable<void> { p->set_value(co_await make()); },
        [p](std::exception_ptr e) {
          if (e) p->set_exception(e);
        });
    return fut.get();
  }

  // Runs `f` on the thread and returns its result.
  template <typename F>
  auto Sync(F f) -> decltype(f()) {
    std::packaged_task<decltype(f())()> task(std::move(f));
    auto fut = task.get_future();
    boost::asio::post(io_, [&task] { task(); });
    return fut.get();
  }

  boost::asio::any_io_executor ex() { return io_.get_executor(); }

 private:
  boost::asio::io_context io_;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_;
  std::thread thread_;
};

}  // namespace tesseras::net::testing
