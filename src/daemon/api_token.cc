#include "daemon/api_token.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/random.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>

#include "core/ids.h"
#include "daemon/api_contract.h"

namespace tesseras::daemon {
namespace {

core::Error Io(const std::filesystem::path& path, std::string_view what) {
  return core::MakeError(core::ErrorCode::kIo, fmt::format("cannot {} {}: {}", what, path.string(),
                                                           std::strerror(errno)));
}

core::Result<std::string> NewToken() {
  std::array<uint8_t, 32> bytes{};
  std::size_t got = 0;
  while (got < bytes.size()) {
    ssize_t n = ::getrandom(bytes.data() + got, bytes.size() - got, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      return core::MakeError(core::ErrorCode::kIo,
                             fmt::format("getrandom failed: {}", std::strerror(errno)));
    }
    got += static_cast<std::size_t>(n);
  }
  return core::ToHex(bytes);
}

}  // namespace

core::Result<std::string> LoadOrCreateApiToken(const std::filesystem::path& path, bool* created) {
  if (created != nullptr) *created = false;
  auto existing = ReadApiToken(path);
  if (existing.ok() || existing.error().code != core::ErrorCode::kNotFound) return existing;
  ASSIGN_OR_RETURN(std::string token, NewToken());
  const std::string text = token + "\n";
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) return Io(path, "create");
  bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()) &&
            ::fsync(fd) == 0;
  if (!ok) {
    core::Error e = Io(path, "write");
    ::close(fd);
    ::unlink(path.c_str());
    return e;
  }
  if (::close(fd) != 0) return Io(path, "close");
  if (created != nullptr) *created = true;
  return token;
}

}  // namespace tesseras::daemon
