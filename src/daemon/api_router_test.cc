#include "daemon/api_router.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

#include "daemon/api_contract.h"
#include "daemon/testing/local_node_operations.h"

namespace tesseras::daemon {
namespace {

using ::testing::HasSubstr;

const std::string kHash(64, 'a');

// Records which operation a route reached and with what arguments.
class RecordingOperations final : public NodeOperations {
 public:
  std::string called;
  std::vector<std::filesystem::path> paths;
  std::optional<core::ContentHash> hash;
  std::filesystem::path out;

  core::Result<Json> Answer(std::string name) {
    called = std::move(name);
    return Json{{"op", called}};
  }
  core::Result<Json> GetNode() override { return Answer("node"); }
  core::Result<Json> ListTesseras() override { return Answer("list"); }
  core::Result<Json> CreateTessera(const std::vector<std::filesystem::path>& p) override {
    paths = p;
    return Answer("create");
  }
  core::Result<Json> ShowTessera(const core::ContentHash& h) override {
    hash = h;
    return Answer("show");
  }
  core::Result<Json> PublishTessera(const core::ContentHash& h) override {
    hash = h;
    return Answer("publish");
  }
  core::Result<Json> TesseraStatus(const core::ContentHash& h) override {
    hash = h;
    return Answer("status");
  }
  core::Result<Json> FetchTessera(const core::ContentHash& h,
                                  const std::filesystem::path& o) override {
    hash = h;
    out = o;
    return Answer("fetch");
  }
  core::Result<Json> Repair(const std::optional<core::ContentHash>& h) override {
    hash = h;
    return Answer("repair");
  }
  core::Result<Json> Verify(const std::optional<core::ContentHash>& h) override {
    hash = h;
    return Answer("verify");
  }
  core::Result<Json> ListPeers() override { return Answer("peers"); }
  core::Result<Json> Ledger() override { return Answer("ledger"); }
  core::Result<Json> Events() override { return Answer("events"); }
  core::Result<Json> Maintenance() override { return Answer("maintenance"); }
};

// Routes and runs a request against `ops`; returns the reply.
ApiReply Call(NodeOperations& ops, std::string_view method, std::string_view target,
              std::string_view body = "") {
  RoutedRequest routed = Route(method, target, body);
  if (routed.reply) return *routed.reply;
  return ReplyFor(RunOperation(routed.operation, ops));
}

std::string ErrorCodeOf(const ApiReply& reply) {
  return reply.body.at("error").at("code").get<std::string>();
}
std::string ErrorMessageOf(const ApiReply& reply) {
  return reply.body.at("error").at("message").get<std::string>();
}

TEST(HttpStatusTest, EveryErrorCodeHasItsStatus) {
  using core::ErrorCode;
  EXPECT_EQ(HttpStatusFor(ErrorCode::kInvalidArgument), 400u);
  EXPECT_EQ(HttpStatusFor(ErrorCode::kNotFound), 404u);
  EXPECT_EQ(HttpStatusFor(ErrorCode::kAlreadyExists), 409u);
  EXPECT_EQ(HttpStatusFor(ErrorCode::kCorrupt), 500u);
  EXPECT_EQ(HttpStatusFor(ErrorCode::kIo), 500u);
  EXPECT_EQ(HttpStatusFor(ErrorCode::kTesseraTooBig), 413u);
  EXPECT_EQ(HttpStatusFor(ErrorCode::kInsufficientShards), 503u);
  EXPECT_EQ(HttpStatusFor(ErrorCode::kUnimplemented), 501u);
  EXPECT_EQ(HttpStatusFor(ErrorCode::kPermissionDenied), 403u);
  EXPECT_EQ(HttpStatusFor(ErrorCode::kResourceExhausted), 507u);
  EXPECT_EQ(HttpStatusFor(ErrorCode::kUnavailable), 503u);
  EXPECT_EQ(HttpStatusFor(ErrorCode::kTimeout), 504u);
  EXPECT_EQ(HttpStatusFor(ErrorCode::kProtocol), 502u);
  EXPECT_EQ(HttpStatusFor(ErrorCode::kInternal), 500u);
  EXPECT_EQ(HttpStatusFor(ErrorCode::kCancelled), 503u);
  EXPECT_EQ(HttpStatusFor(ErrorCode::kVersionMismatch), 500u);
}

TEST(ErrorJsonTest, EveryCodeRoundTripsThroughItsName) {
  for (uint16_t raw = 1; raw <= 16; ++raw) {
    auto code = static_cast<core::ErrorCode>(raw);
    auto back = ErrorCodeFromName(core::ErrorCodeName(code));
    ASSERT_TRUE(back.has_value()) << raw;
    EXPECT_EQ(*back, code);
    core::Error error{code, "why"};
    auto parsed = ErrorFromJson(ErrorToJson(error));
    ASSERT_TRUE(parsed.has_value());
    EXPECT_EQ(*parsed, error);
  }
  EXPECT_FALSE(ErrorCodeFromName("no_such_code").has_value());
  EXPECT_FALSE(ErrorFromJson(Json{{"error", "text"}}).has_value());
  EXPECT_FALSE(ErrorFromJson(Json::array()).has_value());
}

TEST(ErrorJsonTest, ShapeIsErrorCodeMessage) {
  Json j = ErrorToJson(core::MakeError(core::ErrorCode::kNotFound, "no tessera x"));
  EXPECT_EQ(j, Json::parse(R"({"error":{"code":"not_found","message":"no tessera x"}})"));
}

TEST(RouteTest, EveryEndpointReachesItsOperation) {
  struct Case {
    std::string method, target, body, op;
  } cases[] = {
      {"GET", "/v1/node", "", "node"},
      {"GET", "/v1/tesseras", "", "list"},
      {"POST", "/v1/tesseras", R"({"paths":["/a","/b/c"]})", "create"},
      {"GET", "/v1/tesseras/" + kHash, "", "show"},
      {"POST", "/v1/tesseras/" + kHash + "/publish", "", "publish"},
      {"GET", "/v1/tesseras/" + kHash + "/status", "", "status"},
      {"POST", "/v1/tesseras/" + kHash + "/fetch", R"({"out":"/tmp/out"})", "fetch"},
      {"POST", "/v1/repair", "", "repair"},
      {"POST", "/v1/repair", "{}", "repair"},
      {"POST", "/v1/verify", R"({"hash":")" + kHash + R"("})", "verify"},
      {"GET", "/v1/peers", "", "peers"},
      {"GET", "/v1/ledger", "", "ledger"},
      {"GET", "/v1/events", "", "events"},
      {"GET", "/v1/maintenance", "", "maintenance"},
      {"GET", "/v1/node?pretty=1", "", "node"},
  };
  for (const Case& c : cases) {
    RecordingOperations ops;
    ApiReply reply = Call(ops, c.method, c.target, c.body);
    EXPECT_EQ(reply.status, 200u) << c.method << " " << c.target << " " << reply.body.dump();
    EXPECT_EQ(ops.called, c.op) << c.target;
  }
}

TEST(RouteTest, ArgumentsArePassedThrough) {
  RecordingOperations ops;
  Call(ops, "POST", "/v1/tesseras", R"({"paths":["/a","/b/c"]})");
  EXPECT_EQ(ops.paths, (std::vector<std::filesystem::path>{"/a", "/b/c"}));

  Call(ops, "POST", "/v1/tesseras/" + kHash + "/fetch", R"({"out":"/tmp/out"})");
  EXPECT_EQ(ops.out, "/tmp/out");
  ASSERT_TRUE(ops.hash.has_value());
  EXPECT_EQ(ops.hash->ToHex(), kHash);

  // Upper-case hex is accepted; the operation gets the parsed hash.
  std::string upper(64, 'B');
  Call(ops, "GET", "/v1/tesseras/" + upper + "/status");
  EXPECT_EQ(ops.hash->ToHex(), std::string(64, 'b'));

  Call(ops, "POST", "/v1/repair");
  EXPECT_FALSE(ops.hash.has_value());
  Call(ops, "POST", "/v1/verify", R"({"hash":null})");
  EXPECT_FALSE(ops.hash.has_value());
}

TEST(RouteTest, BadHashIs400WithAClearMessage) {
  RecordingOperations ops;
  for (std::string target : std::vector<std::string>{
           "/v1/tesseras/xyz", "/v1/tesseras/" + std::string(64, 'g') + "/status",
           "/v1/tesseras/" + std::string(63, 'a') + "/publish"}) {
    ApiReply reply =
        Call(ops, target.find("publish") != std::string::npos ? "POST" : "GET", target);
    EXPECT_EQ(reply.status, 400u) << target;
    EXPECT_EQ(ErrorCodeOf(reply), "invalid_argument");
    EXPECT_THAT(ErrorMessageOf(reply), HasSubstr("invalid tessera hash"));
    EXPECT_TRUE(ops.called.empty());
  }
  ApiReply reply = Call(ops, "POST", "/v1/repair", R"({"hash":"abc"})");
  EXPECT_EQ(reply.status, 400u);
  EXPECT_THAT(ErrorMessageOf(reply), HasSubstr("64 hex digits"));
}

TEST(RouteTest, UnknownPathsAre404) {
  RecordingOperations ops;
  for (std::string target :
       std::vector<std::string>{"/", "/v2/node", "/v1/nodes", "/v1/tesseras/" + kHash + "/explode",
                                "/v1/tesseras/" + kHash + "/status/x", "/v1"}) {
    ApiReply reply = Call(ops, "GET", target);
    EXPECT_EQ(reply.status, 404u) << target;
    EXPECT_EQ(ErrorCodeOf(reply), "not_found");
  }
}

TEST(RouteTest, WrongMethodIs405WithAllow) {
  RecordingOperations ops;
  ApiReply reply = Call(ops, "POST", "/v1/node");
  EXPECT_EQ(reply.status, 405u);
  EXPECT_EQ(reply.allow, "GET");
  EXPECT_THAT(ErrorMessageOf(reply), HasSubstr("method POST is not allowed on /v1/node"));
  EXPECT_EQ(Call(ops, "GET", "/v1/repair").status, 405u);
  EXPECT_EQ(Call(ops, "DELETE", "/v1/tesseras").allow, "GET, POST");
  EXPECT_EQ(Call(ops, "GET", "/v1/tesseras/" + kHash + "/publish").status, 405u);
  EXPECT_TRUE(ops.called.empty());
}

TEST(RouteTest, MalformedBodiesAre400) {
  RecordingOperations ops;
  struct Case {
    std::string target, body, expect;
  } cases[] = {
      {"/v1/tesseras", "", "at least one path"},
      {"/v1/tesseras", "{not json", "not valid JSON"},
      {"/v1/tesseras", "[1]", "must be a JSON object"},
      {"/v1/tesseras", R"({"paths":[]})", "at least one path"},
      {"/v1/tesseras", R"({"paths":["rel/path"]})", "absolute path"},
      {"/v1/tesseras", R"({"paths":[3]})", "non-empty string"},
      {"/v1/tesseras", R"({"paths":["/a"],"extra":1})", "unknown field 'extra'"},
      {"/v1/tesseras/" + kHash + "/fetch", "{}", "\"out\""},
      {"/v1/tesseras/" + kHash + "/fetch", R"({"out":"relative"})", "absolute path"},
      {"/v1/repair", R"({"hash":5})", "must be a string"},
      {"/v1/verify", R"({"all":true})", "unknown field 'all'"},
  };
  for (const Case& c : cases) {
    ApiReply reply = Call(ops, "POST", c.target, c.body);
    EXPECT_EQ(reply.status, 400u) << c.target << " " << c.body;
    EXPECT_THAT(ErrorMessageOf(reply), HasSubstr(c.expect)) << c.body;
  }
  EXPECT_TRUE(ops.called.empty());
}

TEST(RouteTest, OperationErrorsMapToStatus) {
  class Failing final : public NodeOperations {
   public:
    core::Error e{core::ErrorCode::kTesseraTooBig, "1.5 GiB is over the 1 GiB limit"};
    core::Result<Json> GetNode() override { return e; }
    core::Result<Json> ListTesseras() override { return e; }
    core::Result<Json> CreateTessera(const std::vector<std::filesystem::path>&) override {
      return e;
    }
    core::Result<Json> ShowTessera(const core::ContentHash&) override { return e; }
    core::Result<Json> PublishTessera(const core::ContentHash&) override { return e; }
    core::Result<Json> TesseraStatus(const core::ContentHash&) override { return e; }
    core::Result<Json> FetchTessera(const core::ContentHash&,
                                    const std::filesystem::path&) override {
      return e;
    }
    core::Result<Json> Repair(const std::optional<core::ContentHash>&) override { return e; }
    core::Result<Json> Verify(const std::optional<core::ContentHash>&) override { return e; }
    core::Result<Json> ListPeers() override { throw std::runtime_error("boom"); }
    core::Result<Json> Ledger() override { return e; }
    core::Result<Json> Events() override { return e; }
    core::Result<Json> Maintenance() override { return e; }
  } ops;
  ApiReply reply = Call(ops, "POST", "/v1/tesseras", R"({"paths":["/big"]})");
  EXPECT_EQ(reply.status, 413u);
  EXPECT_EQ(ErrorCodeOf(reply), "tessera_too_big");
  EXPECT_EQ(ErrorMessageOf(reply), "1.5 GiB is over the 1 GiB limit");

  ApiReply thrown = Call(ops, "GET", "/v1/peers");
  EXPECT_EQ(thrown.status, 500u);
  EXPECT_EQ(ErrorCodeOf(thrown), "internal");
  EXPECT_THAT(ErrorMessageOf(thrown), HasSubstr("boom"));
}

TEST(LocalNodeOperationsTest, NodeIsRealAndTheRestIs501) {
  core::NodeId id;
  id.bytes[0] = 0xab;
  LocalNodeOperations ops(id, "127.0.0.1:7700");
  ApiReply node = Call(ops, "GET", "/v1/node");
  ASSERT_EQ(node.status, 200u);
  EXPECT_EQ(node.body.at("node_id"), id.ToHex());
  EXPECT_EQ(node.body.at("listen"), "127.0.0.1:7700");
  EXPECT_EQ(node.body.at("peers"), 0);
  EXPECT_EQ(node.body.at("bytes_stored"), 0);

  struct Case {
    std::string method, target, body;
  } cases[] = {
      {"GET", "/v1/tesseras", ""},
      {"POST", "/v1/tesseras", R"({"paths":["/a"]})"},
      {"GET", "/v1/tesseras/" + kHash, ""},
      {"POST", "/v1/tesseras/" + kHash + "/publish", ""},
      {"GET", "/v1/tesseras/" + kHash + "/status", ""},
      {"POST", "/v1/tesseras/" + kHash + "/fetch", R"({"out":"/tmp/o"})"},
      {"POST", "/v1/repair", ""},
      {"POST", "/v1/verify", ""},
      {"GET", "/v1/peers", ""},
      {"GET", "/v1/ledger", ""},
  };
  for (const Case& c : cases) {
    ApiReply reply = Call(ops, c.method, c.target, c.body);
    EXPECT_EQ(reply.status, 501u) << c.target;
    EXPECT_EQ(ErrorCodeOf(reply), "unimplemented");
    EXPECT_THAT(ErrorMessageOf(reply), HasSubstr("not built yet: waits for the"));
  }
}

}  // namespace
}  // namespace tesseras::daemon
