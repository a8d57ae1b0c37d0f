#include "daemon/http_access.h"

#include <fmt/format.h>

#include <boost/asio/ip/address.hpp>
#include <cctype>
#include <charconv>

#include "daemon/web_assets.h"

namespace tesseras::daemon {
namespace {

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) !=
        std::tolower(static_cast<unsigned char>(b[i]))) {
      return false;
    }
  }
  return true;
}

bool ValidPort(std::string_view text) {
  if (text.empty() || text.size() > 5) return false;
  unsigned port = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), port);
  return ec == std::errc() && end == text.data() + text.size() && port <= 65535;
}

HttpAccessDecision Refuse(unsigned status, std::string reason) {
  return HttpAccessDecision{false, status, std::move(reason)};
}

}  // namespace

HttpResource ClassifyHttpPath(std::string_view path) {
  if (path == "/metrics") return HttpResource::kMetrics;
  if (FindWebAsset(path) != nullptr) return HttpResource::kPage;
  return HttpResource::kApi;
}

bool HostHeaderAllowed(std::string_view host) {
  std::string_view name = host;
  if (!host.empty() && host.front() == '[') {
    std::size_t close = host.find(']');
    if (close == std::string_view::npos) return false;
    name = host.substr(1, close - 1);
    std::string_view rest = host.substr(close + 1);
    if (!rest.empty() && (rest.front() != ':' || !ValidPort(rest.substr(1)))) return false;
    boost::system::error_code ec;
    auto address = boost::asio::ip::make_address_v6(std::string(name), ec);
    return !ec && !address.is_unspecified();
  }
  if (std::size_t colon = host.find(':'); colon != std::string_view::npos) {
    if (!ValidPort(host.substr(colon + 1))) return false;
    name = host.substr(0, colon);
  }
  if (EqualsIgnoreCase(name, "localhost")) return true;
  boost::system::error_code ec;
  auto address = boost::asio::ip::make_address_v4(std::string(name), ec);
  return !ec && !address.is_unspecified();
}

bool BearerTokenMatches(std::string_view authorization, std::string_view token) {
  constexpr std::string_view kScheme = "Bearer ";
  if (token.empty() || authorization.size() != kScheme.size() + token.size()) return false;
  if (!EqualsIgnoreCase(authorization.substr(0, kScheme.size()), kScheme)) return false;
  std::string_view given = authorization.substr(kScheme.size());
  unsigned char diff = 0;
  for (std::size_t i = 0; i < token.size(); ++i) {
    diff |= static_cast<unsigned char>(given[i] ^ token[i]);
  }
  return diff == 0;
}

HttpAccessDecision CheckHttpAccess(const HttpAccessPolicy& policy, const HttpRequestView& request,
                                   HttpResource resource) {
  if (!request.has_host || !HostHeaderAllowed(request.host)) {
    return Refuse(403, fmt::format("Host '{}' is not an address of this node: open the dashboard "
                                   "at an IP address or localhost (tes ui prints the link)",
                                   request.host));
  }
  if (request.has_origin && request.origin != fmt::format("http://{}", request.host)) {
    return Refuse(403, fmt::format("cross-origin request from '{}' refused", request.origin));
  }
  const bool token_ok =
      request.has_authorization && BearerTokenMatches(request.authorization, policy.token);
  switch (resource) {
    case HttpResource::kPage:
      return HttpAccessDecision{true, 0, ""};
    case HttpResource::kMetrics:
      if (policy.loopback_listener || token_ok) return HttpAccessDecision{true, 0, ""};
      break;
    case HttpResource::kApi:
      if (token_ok) return HttpAccessDecision{true, 0, ""};
      break;
  }
  return Refuse(401, request.has_authorization
                         ? "wrong API token (it is in {data_dir}/api.token; tes ui prints a link "
                           "with it)"
                         : "this needs the API token: send Authorization: Bearer <token> "
                           "({data_dir}/api.token; tes ui prints a link with it)");
}

}  // namespace tesseras::daemon
