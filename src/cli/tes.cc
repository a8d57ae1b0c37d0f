#include "cli/tes.h"

#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "cli/api_client.h"
#include "cli/exit_codes.h"
#include "cli/progress.h"
#include "cli/render.h"
#include "core/ids.h"
#include "daemon/api_contract.h"

namespace tesseras::cli {

int ExitCodeFor(core::ErrorCode code) {
  using core::ErrorCode;
  switch (code) {
    case ErrorCode::kInvalidArgument:
      return kExitUsage;
    case ErrorCode::kNotFound:
      return kExitNotFound;
    case ErrorCode::kUnimplemented:
      return kExitUnimplemented;
    case ErrorCode::kCorrupt:
      return kExitVerifyFailed;
    case ErrorCode::kUnavailable:
    case ErrorCode::kTimeout:
    case ErrorCode::kInsufficientShards:
    case ErrorCode::kCancelled:
      return kExitUnavailable;
    case ErrorCode::kInternal:
    case ErrorCode::kProtocol:
      return kExitFailure;
    case ErrorCode::kAlreadyExists:
    case ErrorCode::kIo:
    case ErrorCode::kTesseraTooBig:
    case ErrorCode::kPermissionDenied:
    case ErrorCode::kResourceExhausted:
    case ErrorCode::kVersionMismatch:
      return kExitRefused;
  }
  return kExitFailure;
}

namespace {

namespace fs = std::filesystem;

// What a command asks of the daemon and how to show the answer.
struct Request {
  bool post = false;
  std::string target;
  std::optional<Json> body;
  std::string spinner;  // non-empty: show a spinner while waiting (long operations)
  std::function<void(const Json&, std::ostream&)> render;  // human output
  // For replies that are 200 yet mean failure (verify) or an incomplete success
  // (publish below full redundancy): the one-line reason and the exit status.
  std::function<std::optional<std::pair<std::string, int>>(const Json&)> failure;
};

struct Context {
  std::ostream& out;
  std::ostream& err;
  bool json = false;

  // Reports a failure: one line on err, and the error document with --json.
  int Fail(const core::Error& error, int exit_code) {
    err << "tes: " << error.message << "\n";
    if (json) out << daemon::ErrorToJson(error).dump(2) << "\n";
    return exit_code;
  }
};

core::Result<std::string> CheckedHash(const std::string& text) {
  auto hash = core::ContentHash::FromHex(text);
  if (!hash.ok()) {
    return core::MakeError(core::ErrorCode::kInvalidArgument,
                           fmt::format("invalid hash '{}': {}", text, hash.error().message));
  }
  return hash->ToHex();
}

core::Result<std::string> ExistingAbsolute(const std::string& text) {
  std::error_code ec;
  fs::path path = fs::absolute(text, ec);
  if (ec || !fs::exists(path, ec)) {
    return core::MakeError(core::ErrorCode::kInvalidArgument,
                           fmt::format("no such file or directory: {}", text));
  }
  return path.lexically_normal().string();
}

int Execute(Context& ctx, const fs::path& data_dir, const Request& request) {
  ApiClient client(data_dir);
  core::Result<ApiResponse> response = core::MakeError(core::ErrorCode::kInternal, "not sent");
  {
    std::optional<Spinner> spinner;
    if (!request.spinner.empty()) spinner.emplace(request.spinner, stderr, StderrIsTerminal());
    response =
        request.post ? client.Post(request.target, request.body) : client.Get(request.target);
  }
  if (!response.ok()) {
    const core::Error& e = response.error();
    return ctx.Fail(e, e.code == core::ErrorCode::kUnavailable       ? kExitNotRunning
                       : e.code == core::ErrorCode::kInvalidArgument ? kExitUsage
                                                                     : kExitFailure);
  }
  if (!response->ok()) {
    auto error = daemon::ErrorFromJson(response->body);
    if (!error) {
      return ctx.Fail(core::MakeError(core::ErrorCode::kProtocol,
                                      fmt::format("tesd replied with HTTP {} and no error "
                                                  "description",
                                                  response->status)),
                      kExitFailure);
    }
    return ctx.Fail(*error, ExitCodeFor(error->code));
  }
  if (ctx.json) {
    ctx.out << response->body.dump(2) << "\n";
  } else {
    request.render(response->body, ctx.out);
  }
  if (request.failure) {
    if (auto reason = request.failure(response->body)) {
      ctx.err << "tes: " << reason->first << "\n";
      return reason->second;
    }
  }
  return kExitOk;
}

std::optional<std::pair<std::string, int>> VerifyFailure(const Json& report) {
  if (!report.is_object()) return std::nullopt;
  auto failed = report.find("failed");
  if (failed == report.end() || !failed->is_array() || failed->empty()) return std::nullopt;
  return std::make_pair(fmt::format("verify: {} fragment(s) failed verification", failed->size()),
                        kExitVerifyFailed);
}

// A publish that placed fewer copies than full redundancy wants.
std::optional<std::pair<std::string, int>> PublishIncomplete(const Json& report) {
  if (!report.is_object() || report.value("complete", true)) return std::nullopt;
  const bool small = report.value("tier", "") == "small";
  return std::make_pair(
      fmt::format("publish: below full redundancy: {} of {} {} placed; a repair pass will keep "
                  "trying",
                  report.value("copies_placed", 0), report.value("copies_wanted", 0),
                  small ? "copies" : "fragments"),
      kExitIncomplete);
}

}  // namespace

int RunTes(int argc, const char* const* argv, std::ostream& out, std::ostream& err) {
  CLI::App app{"tes: the command line of a Tesseras node (docs/DAEMON.md)", "tes"};
  app.require_subcommand(1);
  app.fallthrough();
  std::string data_dir_text;
  bool json = false;
  app.add_option("--data-dir", data_dir_text,
                 "data dir of the daemon to talk to (default $XDG_DATA_HOME/tesseras or "
                 "~/.local/share/tesseras)");
  app.add_flag("--json", json, "print exactly one JSON document on stdout");

  std::vector<std::string> create_paths;
  std::string hash_arg;
  std::string optional_hash;
  std::string out_dir;

  auto* create = app.add_subcommand("create", "make a tessera from files and directories");
  create->add_option("paths", create_paths, "files and directories")->required();
  auto* list = app.add_subcommand("list", "this node's own tesseras");
  auto* show = app.add_subcommand("show", "a tessera's manifest");
  show->add_option("hash", hash_arg, "tessera hash (64 hex digits)")->required();
  auto* publish = app.add_subcommand("publish", "replicate a tessera now");
  publish->add_option("hash", hash_arg, "tessera hash")->required();
  auto* status = app.add_subcommand("status", "a tessera's health");
  status->add_option("hash", hash_arg, "tessera hash")->required();
  auto* fetch = app.add_subcommand("fetch", "restore a tessera from the network");
  fetch->add_option("hash", hash_arg, "tessera hash")->required();
  fetch->add_option("--out", out_dir, "directory to write the files under")->required();
  auto* repair = app.add_subcommand("repair", "run a repair pass now and wait for it");
  repair->add_option("hash", optional_hash, "only this tessera");
  auto* verify = app.add_subcommand("verify", "verify the fragments held here");
  verify->add_option("hash", optional_hash, "only this tessera's fragments");
  auto* peers = app.add_subcommand("peers", "known peers");
  auto* ledger = app.add_subcommand("ledger", "the reciprocity ledger");
  auto* node = app.add_subcommand("node", "this node's id, address and totals");

  Context ctx{out, err, false};
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) {  // --help
      app.exit(e, out, err);
      return kExitOk;
    }
    // CLI11 reports an unknown command as a missing one; name it instead.
    for (int i = 1; i < argc; ++i) {
      std::string_view arg = argv[i];
      if (arg == "--data-dir") {
        ++i;
        continue;
      }
      if (arg.empty() || arg[0] == '-') continue;
      bool known = false;
      for (const CLI::App* sub : app.get_subcommands({})) known = known || sub->get_name() == arg;
      if (!known) {
        err << "tes: unknown command '" << arg
            << "' (commands: create, list, show, publish, status, fetch, repair, verify, peers, "
               "ledger, node; see tes --help)\n";
        return kExitUsage;
      }
      break;
    }
    err << "tes: " << e.what() << " (see tes --help)\n";
    return kExitUsage;
  }
  ctx.json = json;

  fs::path data_dir;
  if (data_dir_text.empty()) {
    auto dir = daemon::DefaultDataDir();
    if (!dir.ok()) return ctx.Fail(dir.error(), kExitUsage);
    data_dir = *dir;
  } else {
    std::error_code ec;
    data_dir = fs::absolute(data_dir_text, ec);
    if (ec) data_dir = data_dir_text;
  }

  Request request;
  auto with_hash = [&](std::string suffix) -> core::Result<std::string> {
    ASSIGN_OR_RETURN(std::string hash, CheckedHash(hash_arg));
    return fmt::format("{}/tesseras/{}{}", daemon::kApiPrefix, hash, suffix);
  };
  auto optional_hash_body = [&]() -> core::Result<std::optional<Json>> {
    if (optional_hash.empty()) return std::optional<Json>();
    ASSIGN_OR_RETURN(std::string hash, CheckedHash(optional_hash));
    return std::optional<Json>(Json{{"hash", hash}});
  };
  std::string prefix(daemon::kApiPrefix);

  core::Result<void> built = [&]() -> core::Result<void> {
    if (app.got_subcommand(create)) {
      Json paths = Json::array();
      for (const std::string& p : create_paths) paths.push_back(TRY(ExistingAbsolute(p)));
      request = {
          true,   prefix + "/tesseras", Json{{"paths", paths}}, "creating tessera", RenderCreate,
          nullptr};
    } else if (app.got_subcommand(list)) {
      request = {false, prefix + "/tesseras", std::nullopt, "", RenderList, nullptr};
    } else if (app.got_subcommand(show)) {
      request = {false, TRY(with_hash("")), std::nullopt, "", RenderShow, nullptr};
    } else if (app.got_subcommand(publish)) {
      request = {true,          TRY(with_hash("/publish")), std::nullopt, "publishing",
                 RenderPublish, PublishIncomplete};
    } else if (app.got_subcommand(status)) {
      request = {false, TRY(with_hash("/status")), std::nullopt, "", RenderStatus, nullptr};
    } else if (app.got_subcommand(fetch)) {
      std::string target = TRY(with_hash("/fetch"));
      std::error_code ec;
      fs::path out_path = fs::absolute(out_dir, ec);
      if (ec || out_dir.empty()) {
        return core::MakeError(core::ErrorCode::kInvalidArgument,
                               fmt::format("invalid --out directory '{}'", out_dir));
      }
      if (fs::exists(out_path, ec) && !fs::is_directory(out_path, ec)) {
        return core::MakeError(core::ErrorCode::kInvalidArgument,
                               fmt::format("--out {} exists and is not a directory", out_dir));
      }
      std::string out_text = out_path.lexically_normal().string();
      request = {true,
                 target,
                 Json{{"out", out_text}},
                 "fetching",
                 [out_text](const Json& j, std::ostream& o) { RenderFetch(j, out_text, o); },
                 nullptr};
    } else if (app.got_subcommand(repair)) {
      request = {true,        prefix + "/repair", TRY(optional_hash_body()),
                 "repairing", RenderRepair,       nullptr};
    } else if (app.got_subcommand(verify)) {
      request = {true,
                 prefix + "/verify",
                 TRY(optional_hash_body()),
                 "verifying",
                 [](const Json& j, std::ostream& o) { RenderVerify(j, o); },
                 VerifyFailure};
    } else if (app.got_subcommand(peers)) {
      request = {false, prefix + "/peers", std::nullopt, "", RenderPeers, nullptr};
    } else if (app.got_subcommand(ledger)) {
      request = {false, prefix + "/ledger", std::nullopt, "", RenderLedger, nullptr};
    } else if (app.got_subcommand(node)) {
      request = {false, prefix + "/node", std::nullopt, "", RenderNode, nullptr};
    } else {
      return core::MakeError(core::ErrorCode::kInvalidArgument, "no command given");
    }
    return core::Ok();
  }();
  if (!built.ok()) return ctx.Fail(built.error(), kExitUsage);

  try {
    return Execute(ctx, data_dir, request);
  } catch (const std::exception& e) {
    return ctx.Fail(core::MakeError(core::ErrorCode::kInternal,
                                    fmt::format("unexpected reply from tesd: {}", e.what())),
                    kExitFailure);
  }
}

}  // namespace tesseras::cli
