// Clock port: wall time for timestamps, monotonic time for intervals.
// Thread-safe; any thread may call.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>

namespace tesseras::core {

class Clock {
 public:
  virtual ~Clock() = default;
  // Milliseconds since the Unix epoch (for timestamps that leave the process).
  virtual int64_t NowUnixMs() const = 0;
  // Monotonic milliseconds (for timeouts and intervals); origin unspecified.
  virtual int64_t MonotonicMs() const = 0;
};

class SystemClock final : public Clock {
 public:
  int64_t NowUnixMs() const override {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  }
  int64_t MonotonicMs() const override {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
  }
};

// A clock that moves only when told to: for tests and the simulator.
class ManualClock final : public Clock {
 public:
  explicit ManualClock(int64_t start_unix_ms = 1'700'000'000'000) : now_(start_unix_ms) {}
  int64_t NowUnixMs() const override { return now_.load(); }
  int64_t MonotonicMs() const override { return now_.load(); }
  void Advance(int64_t ms) { now_ += ms; }

 private:
  std::atomic<int64_t> now_;
};

}  // namespace tesseras::core
