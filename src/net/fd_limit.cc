#include "net/fd_limit.h"

#include <sys/resource.h>

#include <cerrno>
#include <cstring>
#include <string>

namespace tesseras::net {

core::Result<uint64_t> FileLimit() {
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0) {
    return core::MakeError(core::ErrorCode::kIo,
                           std::string("getrlimit(RLIMIT_NOFILE): ") + std::strerror(errno));
  }
  return static_cast<uint64_t>(rl.rlim_cur);
}

core::Result<uint64_t> RaiseFileLimit(uint64_t wanted) {
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0) {
    return core::MakeError(core::ErrorCode::kIo,
                           std::string("getrlimit(RLIMIT_NOFILE): ") + std::strerror(errno));
  }
  rlim_t target = static_cast<rlim_t>(wanted);
  if (rl.rlim_max != RLIM_INFINITY && target > rl.rlim_max) target = rl.rlim_max;
  if (rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur >= target) {
    return static_cast<uint64_t>(rl.rlim_cur);
  }
  rlimit raised = rl;
  raised.rlim_cur = target;
  if (setrlimit(RLIMIT_NOFILE, &raised) != 0) return static_cast<uint64_t>(rl.rlim_cur);
  return static_cast<uint64_t>(target);
}

}  // namespace tesseras::net
