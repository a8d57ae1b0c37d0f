// Small helpers for coroutines on the network thread.
#pragma once

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <exception>
#include <functional>
#include <future>
#include <memory>
#include <optional>
#include <string_view>
#include <type_traits>

#include "core/result.h"

namespace tesseras::dht {

namespace asio = boost::asio;

// Completion handler for co_spawn that logs (never rethrows) a failure; also
// logs, the same way, a failure returned as an error value that a coroutine
// carries on after (e.g. a disk error in background work).
struct LogIfFailed {
  std::string_view what;
  void operator()(std::exception_ptr e) const;
  void operator()(const core::Error& e) const;
};

// State shared between a pool job and the coroutine awaiting it.
template <typename R>
struct PoolJob {
  std::function<R()> fn;
  std::optional<R> result;
};

// Awaits `job` (see RunOnPool). Takes only a shared_ptr, so no coroutine
// parameter of class type with interior pointers is involved.
template <typename R>
asio::awaitable<R> AwaitPoolJob(asio::thread_pool& pool, std::shared_ptr<PoolJob<R>> job) {
  auto ex = co_await asio::this_coro::executor;
  auto signal = std::make_shared<asio::steady_timer>(ex, asio::steady_timer::time_point::max());
  asio::post(pool, [job, signal, ex]() {
    std::optional<R> r;
    try {
      r.emplace(job->fn());
    } catch (const std::exception& e) {
      r.emplace(core::MakeError(core::ErrorCode::kInternal, e.what()));
    } catch (...) {
      r.emplace(core::MakeError(core::ErrorCode::kInternal, "unknown exception"));
    }
    job->fn = nullptr;  // release captures on the pool
    asio::post(ex, [job, signal, r = std::move(r)]() mutable {
      job->result = std::move(r);
      signal->cancel();
    });
  });
  while (!job->result) {
    co_await signal->async_wait(asio::as_tuple(asio::use_awaitable));
    if (!job->result) signal->expires_at(asio::steady_timer::time_point::max());
  }
  R out = std::move(*job->result);
  co_return out;
}

// Runs `f` (a copyable callable returning a core::Result) on `pool` and
// resumes the awaiting coroutine on its own executor with the result:
//   auto job = [...]() { return DiskWork(); };
//   auto r = co_await RunOnPool(pool, std::move(job));
// Exceptions become kInternal. RunOnPool is a plain function: the callable is
// moved to the heap before any coroutine machinery sees it (GCC 12 mishandles
// lambdas with non-trivial captures passed by value to coroutines).
template <typename F>
auto RunOnPool(asio::thread_pool& pool, F&& f) {
  using R = std::invoke_result_t<std::decay_t<F>&>;
  auto job = std::make_shared<PoolJob<R>>();
  job->fn = std::forward<F>(f);
  return AwaitPoolJob<R>(pool, std::move(job));
}

// Starts `make()` on `ex` and returns a future of its result (for threads that
// are not the network thread: tests, the DhtPort adapter).
template <typename T>
std::future<T> SpawnFuture(asio::any_io_executor ex, std::function<asio::awaitable<T>()> make) {
  auto p = std::make_shared<std::promise<T>>();
  auto fut = p->get_future();
  asio::co_spawn(
      ex, [p, make = std::move(make)]() -> asio::awaitable<void> { p->set_value(co_await make()); },
      [p](std::exception_ptr e) {
        if (!e) return;
        LogIfFailed{"spawned task"}(e);
        try {
          p->set_exception(e);
        } catch (...) {
        }
      });
  return fut;
}

}  // namespace tesseras::dht
