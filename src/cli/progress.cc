#include "cli/progress.h"

#include <fmt/format.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>

#include "cli/render.h"

namespace tesseras::cli {
namespace {

constexpr auto kRedrawInterval = std::chrono::milliseconds(100);

std::size_t TerminalWidth() {
  winsize ws{};
  if (::ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) return ws.ws_col;
  return 80;
}

}  // namespace

bool StderrIsTerminal() { return ::isatty(STDERR_FILENO) == 1; }

ProgressBar::ProgressBar(std::string label, uint64_t total, std::FILE* out, bool enabled)
    : label_(std::move(label)), total_(total), out_(out), enabled_(enabled) {}

ProgressBar ProgressBar::ForStderr(std::string label, uint64_t total) {
  return ProgressBar(std::move(label), total, stderr, StderrIsTerminal());
}

ProgressBar::~ProgressBar() {
  if (enabled_ && !finished_ && done_ > 0) Finish();
}

std::string ProgressBar::Format(const std::string& label, uint64_t done, uint64_t total,
                                std::size_t width) {
  done = std::min(done, total);
  unsigned percent = total == 0 ? 100 : static_cast<unsigned>(done * 100 / total);
  std::string tail = fmt::format(" {:3}%  {} / {}", percent, HumanBytes(done), HumanBytes(total));
  std::string head = label + " [";
  std::size_t fixed = head.size() + 1 + tail.size();
  std::size_t bar = width > fixed + 10 ? width - fixed - 1 : 10;
  std::size_t filled = total == 0 ? bar : static_cast<std::size_t>(done * bar / total);
  return head + std::string(filled, '#') + std::string(bar - filled, '.') + "]" + tail;
}

void ProgressBar::Update(uint64_t done) {
  done_ = done;
  if (!enabled_ || finished_) return;
  auto now = std::chrono::steady_clock::now();
  if (now - last_draw_ < kRedrawInterval && done_ < total_) return;
  last_draw_ = now;
  Draw();
}

void ProgressBar::Finish() {
  if (!enabled_ || finished_) return;
  finished_ = true;
  Draw();
  std::fputc('\n', out_);
  std::fflush(out_);
}

void ProgressBar::Draw() {
  std::string line = Format(label_, done_, total_, TerminalWidth());
  std::fprintf(out_, "\r%s\x1b[K", line.c_str());
  std::fflush(out_);
}

Spinner::Spinner(std::string label, std::FILE* out, bool enabled)
    : label_(std::move(label)), out_(out), enabled_(enabled) {
  if (enabled_) thread_ = std::thread([this] { Loop(); });
}

Spinner Spinner::ForStderr(std::string label) {
  return {std::move(label), stderr, StderrIsTerminal()};
}

Spinner::~Spinner() {
  if (!enabled_) return;
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
  if (drawn_) {
    std::fprintf(out_, "\r\x1b[K");
    std::fflush(out_);
  }
}

void Spinner::Loop() {
  static constexpr const char* kFrames[] = {"|", "/", "-", "\\"};
  auto start = std::chrono::steady_clock::now();
  std::unique_lock<std::mutex> lock(mu_);
  // Operations that finish within one interval show nothing at all.
  for (std::size_t frame = 0; !cv_.wait_for(lock, kRedrawInterval, [this] { return stop_; });
       ++frame) {
    drawn_ = true;
    auto elapsed =
        std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() - start);
    std::fprintf(out_, "\r%s %s %llds\x1b[K", kFrames[frame % 4], label_.c_str(),
                 static_cast<long long>(elapsed.count()));
    std::fflush(out_);
  }
}

}  // namespace tesseras::cli
