// "IP:PORT" addresses on the daemon's command line (--listen, --bootstrap).
// IPv4 as 127.0.0.1:7700, IPv6 in brackets as [::1]:7700. No host names.
#pragma once

#include <boost/asio/ip/tcp.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"

namespace tesseras::daemon {

// kInvalidArgument naming `text` unless it is IP:PORT with PORT in
// [min_port, 65535] (0 means "any free port" and is only meant for --listen).
core::Result<boost::asio::ip::tcp::endpoint> ParseEndpoint(std::string_view text,
                                                           uint16_t min_port = 1);

// Comma-separated list of endpoints; empty entries are errors.
core::Result<std::vector<boost::asio::ip::tcp::endpoint>> ParseEndpointList(std::string_view text);

// The inverse of ParseEndpoint: "1.2.3.4:7700" or "[::1]:7700".
std::string FormatEndpoint(const boost::asio::ip::tcp::endpoint& endpoint);

}  // namespace tesseras::daemon
