#include "daemon/address.h"

#include <fmt/format.h>

#include <charconv>

namespace tesseras::daemon {

namespace asio = boost::asio;

core::Result<asio::ip::tcp::endpoint> ParseEndpoint(std::string_view text, uint16_t min_port) {
  auto bad = [&](std::string_view why) {
    return core::MakeError(core::ErrorCode::kInvalidArgument,
                           fmt::format("invalid address '{}': {} (expected IP:PORT, e.g. "
                                       "127.0.0.1:7700 or [::1]:7700)",
                                       text, why));
  };
  std::size_t colon = text.rfind(':');
  if (colon == std::string_view::npos) return bad("no port");
  std::string_view host = text.substr(0, colon);
  std::string_view port_text = text.substr(colon + 1);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  } else if (host.find(':') != std::string_view::npos) {
    return bad("IPv6 addresses go in brackets");
  }
  unsigned port = 0;
  auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (port_text.empty() || ec != std::errc() || end != port_text.data() + port_text.size() ||
      port > 65535) {
    return bad("the port must be a number from 0 to 65535");
  }
  if (port < min_port) return bad(fmt::format("the port must be at least {}", min_port));
  boost::system::error_code addr_ec;
  asio::ip::address address = asio::ip::make_address(std::string(host), addr_ec);
  if (addr_ec) return bad("not an IP address");
  return asio::ip::tcp::endpoint(address, static_cast<uint16_t>(port));
}

core::Result<std::vector<asio::ip::tcp::endpoint>> ParseEndpointList(std::string_view text) {
  std::vector<asio::ip::tcp::endpoint> out;
  while (true) {
    std::size_t comma = text.find(',');
    std::string_view item = text.substr(0, comma);
    ASSIGN_OR_RETURN(auto endpoint, ParseEndpoint(item));
    out.push_back(endpoint);
    if (comma == std::string_view::npos) break;
    text.remove_prefix(comma + 1);
  }
  return out;
}

std::string FormatEndpoint(const asio::ip::tcp::endpoint& endpoint) {
  if (endpoint.address().is_v6()) {
    return fmt::format("[{}]:{}", endpoint.address().to_string(), endpoint.port());
  }
  return fmt::format("{}:{}", endpoint.address().to_string(), endpoint.port());
}

}  // namespace tesseras::daemon
