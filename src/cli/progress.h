// Progress display for long operations, on stderr and only when stderr is a
// terminal (so pipes, logs and --json consumers never see it).
//
//   ProgressBar bar = ProgressBar::ForStderr("fetch", total_bytes);
//   bar.Update(done);   // redraws at most every 100 ms
//   bar.Finish();       // final state and a newline
//
//   { Spinner s = Spinner::ForStderr("publishing"); Call(...); }  // unknown length
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <mutex>
#include <string>
#include <thread>

namespace tesseras::cli {

// True if file descriptor 2 is a terminal.
bool StderrIsTerminal();

class ProgressBar {
 public:
  // Draws on `out` only if `enabled`.
  ProgressBar(std::string label, uint64_t total, std::FILE* out, bool enabled);
  static ProgressBar ForStderr(std::string label, uint64_t total);
  ProgressBar(ProgressBar&&) = default;
  ~ProgressBar();

  void Update(uint64_t done);
  void Finish();

  // "label [#####.....]  50%  512.0 KiB / 1.0 MiB" fitted into `width` columns.
  static std::string Format(const std::string& label, uint64_t done, uint64_t total,
                            std::size_t width);

 private:
  void Draw();

  std::string label_;
  uint64_t total_;
  uint64_t done_ = 0;
  std::FILE* out_;
  bool enabled_;
  bool finished_ = false;
  std::chrono::steady_clock::time_point last_draw_{};
};

// An indeterminate indicator redrawn by a background thread while a blocking
// call runs; it erases itself when destroyed.
class Spinner {
 public:
  Spinner(std::string label, std::FILE* out, bool enabled);
  static Spinner ForStderr(std::string label);
  Spinner(const Spinner&) = delete;
  Spinner& operator=(const Spinner&) = delete;
  Spinner(Spinner&& other) = delete;
  ~Spinner();

 private:
  void Loop();

  std::string label_;
  std::FILE* out_;
  bool enabled_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  bool drawn_ = false;  // written by the thread, read after join
  std::thread thread_;
};

}  // namespace tesseras::cli
