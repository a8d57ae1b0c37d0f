// How many bytes the calling thread has read so far through read(2)-family
// system calls (rchar in /proc/thread-self/io, Linux): the DHT measures what
// serving a peer's request made a pool thread read, whatever the handler
// does, to charge it to the peer's read budget (serve_gate.h).
#pragma once

#include <cstdint>
#include <optional>

namespace tesseras::dht {

// nullopt if the kernel does not report it (no /proc, another OS).
std::optional<uint64_t> ThreadBytesRead();

}  // namespace tesseras::dht
