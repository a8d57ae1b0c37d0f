#include "daemon/http_access.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

#include "daemon/web_assets.h"

namespace tesseras::daemon {
namespace {

using ::testing::HasSubstr;

const std::string kToken(64, 'c');

HttpRequestView Request(std::string_view path, std::string_view host = "127.0.0.1:7780") {
  HttpRequestView r;
  r.method = "GET";
  r.path = path;
  r.has_host = true;
  r.host = host;
  return r;
}

HttpAccessDecision Check(const HttpRequestView& r, bool loopback = true) {
  return CheckHttpAccess(HttpAccessPolicy{kToken, loopback}, r, ClassifyHttpPath(r.path));
}

const std::string kBearer = "Bearer " + kToken;

TEST(HttpAccessTest, PathsAreClassified) {
  EXPECT_EQ(ClassifyHttpPath("/"), HttpResource::kPage);
  EXPECT_EQ(ClassifyHttpPath("/index.html"), HttpResource::kPage);
  EXPECT_EQ(ClassifyHttpPath("/app.js"), HttpResource::kPage);
  EXPECT_EQ(ClassifyHttpPath("/app.css"), HttpResource::kPage);
  EXPECT_EQ(ClassifyHttpPath("/metrics"), HttpResource::kMetrics);
  EXPECT_EQ(ClassifyHttpPath("/v1/node"), HttpResource::kApi);
  EXPECT_EQ(ClassifyHttpPath("/etc/passwd"), HttpResource::kApi);  // token first, then 404
  EXPECT_EQ(ClassifyHttpPath("/app.js/x"), HttpResource::kApi);
}

TEST(HttpAccessTest, TheApiNeedsTheBearerToken) {
  HttpRequestView r = Request("/v1/node");
  HttpAccessDecision none = Check(r);
  EXPECT_FALSE(none.allowed);
  EXPECT_EQ(none.status, 401u);
  EXPECT_THAT(none.reason, HasSubstr("Authorization: Bearer"));

  r.has_authorization = true;
  std::string wrong = "Bearer " + std::string(64, 'd');
  r.authorization = wrong;
  EXPECT_EQ(Check(r).status, 401u);
  EXPECT_THAT(Check(r).reason, HasSubstr("wrong API token"));
  std::string prefix = "Bearer " + kToken.substr(0, 63);
  r.authorization = prefix;
  EXPECT_FALSE(Check(r).allowed);
  std::string longer = kBearer + "c";
  r.authorization = longer;
  EXPECT_FALSE(Check(r).allowed);
  std::string basic = "Basic " + kToken;
  r.authorization = basic;
  EXPECT_FALSE(Check(r).allowed);
  r.authorization = kToken;  // no scheme
  EXPECT_FALSE(Check(r).allowed);

  r.authorization = kBearer;
  EXPECT_TRUE(Check(r).allowed);
  std::string lower = "bearer " + kToken;  // the scheme is case-insensitive (RFC 9110)
  r.authorization = lower;
  EXPECT_TRUE(Check(r).allowed);
  // Writes too.
  r.method = "POST";
  r.path = "/v1/repair";
  EXPECT_TRUE(Check(r).allowed);
}

TEST(HttpAccessTest, AnEmptyTokenNeverMatches) {
  EXPECT_FALSE(BearerTokenMatches("Bearer ", ""));
  EXPECT_FALSE(BearerTokenMatches("", ""));
}

TEST(HttpAccessTest, ThePageNeedsNoTokenButMetricsDoOffLoopback) {
  EXPECT_TRUE(Check(Request("/")).allowed);
  EXPECT_TRUE(Check(Request("/app.js")).allowed);
  EXPECT_TRUE(Check(Request("/metrics"), /*loopback=*/true).allowed);
  HttpAccessDecision remote = Check(Request("/metrics", "192.168.1.5:7780"), /*loopback=*/false);
  EXPECT_FALSE(remote.allowed);
  EXPECT_EQ(remote.status, 401u);
  HttpRequestView with = Request("/metrics", "192.168.1.5:7780");
  with.has_authorization = true;
  with.authorization = kBearer;
  EXPECT_TRUE(Check(with, /*loopback=*/false).allowed);
}

TEST(HttpAccessTest, ForeignHostIsRefusedForEveryResource) {
  for (std::string_view path : {"/", "/app.js", "/metrics", "/v1/node"}) {
    for (std::string_view host :
         {"evil.example:7780", "evil.example", "localhost.evil.example", "127.0.0.1.nip.io:7780",
          "", "0.0.0.0:7780", "[::]:7780", "127.0.0.1:99999", "[::1", "127.0.0.1:"}) {
      HttpRequestView r = Request(path, host);
      r.has_authorization = true;
      r.authorization = kBearer;
      HttpAccessDecision d = Check(r);
      EXPECT_FALSE(d.allowed) << path << " Host: " << host;
      EXPECT_EQ(d.status, 403u) << path << " Host: " << host;
    }
    HttpRequestView missing = Request(path);
    missing.has_host = false;
    missing.host = "";
    EXPECT_EQ(Check(missing).status, 403u) << path;
  }
}

TEST(HttpAccessTest, IpLiteralsAndLocalhostAreAllowedHosts) {
  for (std::string_view host : {"127.0.0.1:7780", "127.0.0.1", "127.0.5.1:1234", "localhost:7780",
                                "LOCALHOST:8000", "[::1]:7780", "[::1]", "192.168.1.5:7780"}) {
    EXPECT_TRUE(HostHeaderAllowed(host)) << host;
  }
}

TEST(HttpAccessTest, CrossOriginRequestsAreRefused) {
  for (std::string_view method : {"GET", "POST"}) {
    for (std::string_view origin : {"http://evil.example", "null", "https://127.0.0.1:7780",
                                    "http://127.0.0.1:7781", "http://localhost:7780"}) {
      HttpRequestView r = Request("/v1/repair");
      r.method = method;
      r.has_authorization = true;
      r.authorization = kBearer;
      r.has_origin = true;
      r.origin = origin;
      HttpAccessDecision d = Check(r);
      EXPECT_FALSE(d.allowed) << method << " Origin: " << origin;
      EXPECT_EQ(d.status, 403u);
      EXPECT_THAT(d.reason, HasSubstr("cross-origin"));
    }
  }
  // The page's own origin is fine, and so is no Origin at all (curl, scripts).
  HttpRequestView same = Request("/v1/repair");
  same.method = "POST";
  same.has_authorization = true;
  same.authorization = kBearer;
  same.has_origin = true;
  same.origin = "http://127.0.0.1:7780";
  EXPECT_TRUE(Check(same).allowed);
  same.has_origin = false;
  EXPECT_TRUE(Check(same).allowed);
}

TEST(WebAssetsTest, ThePageAndItsAssetsAreEmbedded) {
  const WebAsset* index = FindWebAsset("/");
  ASSERT_NE(index, nullptr);
  EXPECT_EQ(index->path, "/index.html");
  EXPECT_THAT(std::string(index->content_type), HasSubstr("text/html"));
  EXPECT_THAT(std::string(index->body), HasSubstr("<script src=\"/app.js\""));
  for (const WebAsset& a : WebAssets()) {
    EXPECT_FALSE(a.body.empty()) << a.path;
    // Nothing is loaded from outside: no absolute URLs to other hosts.
    EXPECT_EQ(std::string(a.body).find("https://"), std::string::npos) << a.path;
    EXPECT_EQ(std::string(a.body).find("src=\"http"), std::string::npos) << a.path;
  }
  ASSERT_NE(FindWebAsset("/app.js"), nullptr);
  EXPECT_THAT(std::string(FindWebAsset("/app.js")->content_type), HasSubstr("javascript"));
  EXPECT_EQ(FindWebAsset("/nothing.js"), nullptr);
}

}  // namespace
}  // namespace tesseras::daemon
