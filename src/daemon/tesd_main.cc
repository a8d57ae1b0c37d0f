// tesd: the Tesseras node daemon. See docs/DAEMON.md.
//
// Exit status: 0 after a clean shutdown (or --print-config / --help), 1 when
// start-up fails (the reason is the last log line), 2 for a bad command line or
// config file.
#include <fmt/format.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <exception>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

#include "daemon/address.h"
#include "daemon/api_contract.h"
#include "daemon/config.h"
#include "daemon/node.h"
#include "net/fd_limit.h"

namespace {

constexpr int kExitStartupFailed = 1;
constexpr int kExitUsage = 2;

void SetUpLogging(spdlog::level::level_enum level) {
  auto logger = spdlog::stderr_color_mt("tesd");
  // One line per event: UTC time, level, message.
  logger->set_pattern("%Y-%m-%dT%H:%M:%S.%eZ %^%l%$ %v", spdlog::pattern_time_type::utc);
  logger->set_level(level);
  logger->flush_on(spdlog::level::trace);
  spdlog::set_default_logger(logger);
}

int Main(int argc, char** argv) {
  using namespace tesseras;
  CLI::App app{"tesd: the Tesseras node daemon (docs/DAEMON.md)", "tesd"};
  std::string data_dir;
  std::string listen(daemon::kDefaultListen);
  std::vector<std::string> bootstrap;
  std::string config_path;
  std::string log_level = "info";
  std::optional<std::string> http_listen;
  bool print_config = false;
  app.set_version_flag("--version", fmt::format("tesd {}", daemon::kVersion),
                       "print the version and exit");
  app.add_option("--data-dir", data_dir,
                 "data directory (default $XDG_DATA_HOME/tesseras or ~/.local/share/tesseras)");
  app.add_option("--listen", listen, "peer address IP:PORT; port 0 picks a free port")
      ->capture_default_str();
  app.add_option("--bootstrap", bootstrap,
                 "known peers IP:PORT[,IP:PORT...]; none starts a new network")
      ->delimiter(',');
  app.add_option("--config", config_path, "TOML config file (every key optional)");
  app.add_option("--http-listen", http_listen,
                 "dashboard, HTTP API and /metrics address IP:PORT (port 0 picks one); \"\" "
                 "turns it off; overrides [api] http_listen (default 127.0.0.1:7780)");
  app.add_option("--log-level", log_level, "trace, debug, info, warn, error, critical or off")
      ->capture_default_str()
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "critical", "off"}));
  app.add_flag("--print-config", print_config, "print the effective configuration and exit");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int code = app.exit(e);
    return code == 0 ? 0 : kExitUsage;
  }

  SetUpLogging(spdlog::level::from_str(log_level));

  daemon::DaemonConfig config;
  if (!config_path.empty()) {
    auto loaded = daemon::LoadConfigFile(config_path);
    if (!loaded.ok()) {
      spdlog::critical("config: {}", loaded.error().message);
      return kExitUsage;
    }
    config = *loaded;
  }
  if (http_listen) {
    if (auto ok =
            daemon::ValidateHttpListen(*http_listen, config.api.allow_remote, "--http-listen");
        !ok.ok()) {
      spdlog::critical("{}", ok.error().message);
      return kExitUsage;
    }
    config.api.http_listen = *http_listen;
  }
  if (print_config) {
    std::cout << daemon::ConfigToToml(config);
    return 0;
  }

  // Addresses are checked before anything touches the data dir.
  if (auto endpoint = daemon::ParseEndpoint(listen, /*min_port=*/0); !endpoint.ok()) {
    spdlog::critical("--listen: {}", endpoint.error().message);
    return kExitUsage;
  }
  for (const std::string& entry : bootstrap) {
    if (auto list = daemon::ParseEndpointList(entry); !list.ok()) {
      spdlog::critical("--bootstrap: {}", list.error().message);
      return kExitUsage;
    }
  }

  daemon::DaemonOptions options;
  if (data_dir.empty()) {
    auto dir = daemon::DefaultDataDir();
    if (!dir.ok()) {
      spdlog::critical("{}", dir.error().message);
      return kExitUsage;
    }
    options.data_dir = *dir;
  } else {
    options.data_dir = std::filesystem::absolute(data_dir);
  }
  options.listen = listen;
  options.bootstrap = bootstrap;

  // Peers, handshakes and open fragments each hold a descriptor (checked against the limit by the
  // network layer).
  if (auto fds = net::RaiseFileLimit(65536); fds.ok()) spdlog::debug("file descriptors: {}", *fds);
  daemon::Node node(std::move(options), config);
  auto result = node.Run();
  if (!result.ok()) {
    spdlog::critical("cannot start: {}", result.error().message);
    return kExitStartupFailed;
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return Main(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "tesd: fatal: %s\n", e.what());
  } catch (...) {
    std::fprintf(stderr, "tesd: fatal: unknown exception\n");
  }
  return kExitStartupFailed;
}
