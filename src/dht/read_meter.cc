#include "dht/read_meter.h"

#include <fcntl.h>
#include <unistd.h>

#include <array>
#include <cstdlib>
#include <cstring>

namespace tesseras::dht {

std::optional<uint64_t> ThreadBytesRead() {
  int fd = ::open("/proc/thread-self/io", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return std::nullopt;
  std::array<char, 512> buf{};
  ssize_t n = ::read(fd, buf.data(), buf.size() - 1);
  ::close(fd);
  if (n <= 0) return std::nullopt;
  const char* p = std::strstr(buf.data(), "rchar:");
  if (!p) return std::nullopt;
  char* end = nullptr;
  unsigned long long v = std::strtoull(p + 6, &end, 10);
  if (end == p + 6) return std::nullopt;
  // Our own read of this file counts too; it is a few hundred bytes.
  return static_cast<uint64_t>(v);
}

}  // namespace tesseras::dht
