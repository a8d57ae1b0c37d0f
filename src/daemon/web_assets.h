// The dashboard's files (src/daemon/web/), embedded in tesd at build time by
// embed_web.cmake: the listener serves them from memory and nothing is loaded
// from anywhere else.
#pragma once

#include <span>
#include <string_view>

namespace tesseras::daemon {

struct WebAsset {
  std::string_view path;          // "/index.html", "/app.js", ...
  std::string_view content_type;  // "text/html; charset=utf-8", ...
  std::string_view body;
};

// Every embedded file.
std::span<const WebAsset> WebAssets();

// The asset served at `path` ("/" is /index.html); nullptr if none.
const WebAsset* FindWebAsset(std::string_view path);

}  // namespace tesseras::daemon
