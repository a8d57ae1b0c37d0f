// Who may use the HTTP listener (the dashboard, /v1 and /metrics): pure
// decisions over a request's headers, no I/O. daemon/api_server.h applies them
// to every request before anything else is done with it.
//
// The rules (docs/DAEMON.md, "The HTTP listener"):
// - Host must name the listener by an IP literal or `localhost` (any port, so
//   that an SSH tunnel works). A DNS name is refused: a page on a name that
//   an attacker points at 127.0.0.1 (DNS rebinding) never gets an answer.
// - A request carrying Origin is refused unless Origin is http://<Host>: no
//   other site can write (or read) through the user's browser. There are no
//   CORS headers, so preflights fail too.
// - The page and its assets need no token (a browser cannot attach one to a
//   navigation); they hold no data. /v1/... needs `Authorization: Bearer
//   <token>`; cookies are never looked at. /metrics needs the token only on a
//   listener that is not on a loopback address.
#pragma once

#include <string>
#include <string_view>

namespace tesseras::daemon {

// What a path asks for.
enum class HttpResource { kPage, kMetrics, kApi };

// "/", "/index.html" and the embedded assets are kPage, "/metrics" kMetrics,
// anything else kApi (the router answers 404 for unknown paths, after the
// token check, so the paths that exist are not revealed without it).
HttpResource ClassifyHttpPath(std::string_view path);

struct HttpRequestView {
  std::string_view method;
  std::string_view path;  // without the query string
  bool has_host = false;
  std::string_view host;
  bool has_origin = false;
  std::string_view origin;
  bool has_authorization = false;
  std::string_view authorization;
};

struct HttpAccessPolicy {
  std::string token;              // 64 hex digits ({data_dir}/api.token)
  bool loopback_listener = true;  // the listener is bound to 127.0.0.0/8 or ::1
};

struct HttpAccessDecision {
  bool allowed = false;
  unsigned status = 0;  // when refused: 401 (no or wrong token) or 403
  std::string reason;   // when refused: for the JSON error body and the log
};

HttpAccessDecision CheckHttpAccess(const HttpAccessPolicy& policy, const HttpRequestView& request,
                                   HttpResource resource);

// True for an IPv4 literal, a bracketed IPv6 literal or "localhost" (any
// case), each optionally followed by ":PORT".
bool HostHeaderAllowed(std::string_view host);

// Compares the Authorization header with "Bearer <token>" in time that does
// not depend on where they differ.
bool BearerTokenMatches(std::string_view authorization, std::string_view token);

}  // namespace tesseras::daemon
