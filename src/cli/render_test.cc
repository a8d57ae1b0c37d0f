#include "cli/render.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <sstream>

#include "cli/exit_codes.h"

namespace tesseras::cli {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

const std::string kHash(64, 'a');
const std::string kNode(64, 'c');

template <typename F>
std::string Render(F f, const Json& j) {
  std::ostringstream out;
  f(j, out);
  return out.str();
}

TEST(HumanBytesTest, Units) {
  EXPECT_EQ(HumanBytes(0), "0 B");
  EXPECT_EQ(HumanBytes(1023), "1023 B");
  EXPECT_EQ(HumanBytes(1024), "1.0 KiB");
  EXPECT_EQ(HumanBytes(1536), "1.5 KiB");
  EXPECT_EQ(HumanBytes(4194304), "4.0 MiB");
  EXPECT_EQ(HumanBytes(1073741824), "1.0 GiB");
  EXPECT_EQ(HumanBytes(UINT64_MAX), "16.0 EiB");
}

TEST(HumanTimeTest, Utc) { EXPECT_EQ(HumanTime(1'700'000'000'000), "2023-11-14 22:13:20 UTC"); }

TEST(PrintTableTest, AlignsColumns) {
  std::ostringstream out;
  PrintTable(out, {{"A", "BB"}, {"ccc", "d"}});
  EXPECT_EQ(out.str(), "A    BB\nccc  d\n");
}

TEST(RenderTest, Node) {
  std::string text = Render(
      RenderNode,
      Json{{"node_id", kNode}, {"listen", "127.0.0.1:7700"}, {"peers", 3}, {"bytes_stored", 2048}});
  EXPECT_THAT(text, HasSubstr("node id       " + kNode));
  EXPECT_THAT(text, HasSubstr("listen        127.0.0.1:7700"));
  EXPECT_THAT(text, HasSubstr("peers         3"));
  EXPECT_THAT(text, HasSubstr("bytes stored  2.0 KiB"));
  EXPECT_THAT(text, Not(HasSubstr("dashboard")));  // an older daemon: only what it sent

  std::string more = Render(RenderNode, Json{{"node_id", kNode},
                                             {"version", "0.1.0"},
                                             {"uptime_secs", 3725},
                                             {"http", "127.0.0.1:7780"}});
  EXPECT_THAT(more, HasSubstr("version       0.1.0"));
  EXPECT_THAT(more, HasSubstr("uptime        1 h 2 min"));
  EXPECT_THAT(more, HasSubstr("dashboard     http://127.0.0.1:7780"));
  EXPECT_THAT(more, Not(HasSubstr("scrub")));

  std::string scrubbing = Render(RenderNode, Json{{"node_id", kNode},
                                                  {"scrub",
                                                   {{"cycle_started", 1700000000000},
                                                    {"cycle_fragments", 3},
                                                    {"cycle_fragments_total", 10},
                                                    {"cycle_bytes", 3072},
                                                    {"cycle_bytes_total", 10240},
                                                    {"last_cycle_finished", nullptr},
                                                    {"corrupt_found", 1},
                                                    {"missing_found", 0}}}});
  EXPECT_THAT(scrubbing, HasSubstr("3 of 10 fragments (3.0 KiB of 10.0 KiB), cycle since"));
  EXPECT_THAT(scrubbing, HasSubstr("full scrub    never"));
  EXPECT_THAT(scrubbing, HasSubstr("1 corrupt, 0 missing"));
  std::string idle = Render(RenderNode, Json{{"node_id", kNode},
                                             {"scrub",
                                              {{"cycle_started", nullptr},
                                               {"next_cycle", 1700000000000},
                                               {"last_cycle_finished", 1699990000000},
                                               {"last_cycle_fragments", 10},
                                               {"last_cycle_bytes", 10240}}}});
  EXPECT_THAT(idle, HasSubstr("idle, next cycle"));
  EXPECT_THAT(idle, HasSubstr("(10 fragments, 10.0 KiB)"));
}

TEST(RenderTest, Ui) {
  std::string text = Render(RenderUi, Json{{"url", "http://127.0.0.1:7780/#token=ab"}});
  EXPECT_THAT(text, HasSubstr("http://127.0.0.1:7780/#token=ab\n"));
  EXPECT_THAT(text, HasSubstr("keep it to yourself"));
}

TEST(RenderTest, HumanDuration) {
  EXPECT_EQ(HumanDuration(0), "0 s");
  EXPECT_EQ(HumanDuration(65), "1 min 5 s");
  EXPECT_EQ(HumanDuration(7260), "2 h 1 min");
  EXPECT_EQ(HumanDuration(3 * 86400 + 4 * 3600), "3 d 4 h");
}

TEST(RenderTest, Create) {
  EXPECT_EQ(Render(RenderCreate, Json{{"hash", kHash}, {"size", 5000000}, {"files", 3}}),
            "created " + kHash + " (4.8 MiB, 3 files)\n");
  EXPECT_THAT(Render(RenderCreate, Json{{"hash", kHash}, {"size", 1}, {"files", 1}}),
              HasSubstr("1 B, 1 file)"));
}

TEST(RenderTest, List) {
  EXPECT_THAT(Render(RenderList, Json::array()), HasSubstr("no tesseras yet"));
  std::string text = Render(RenderList, Json::array({{{"hash", kHash},
                                                      {"tier", "medium"},
                                                      {"size", 8388608},
                                                      {"state", "healthy"},
                                                      {"files", 2},
                                                      {"created_at", 1700000000000}}}));
  EXPECT_THAT(text, HasSubstr("HASH"));
  EXPECT_THAT(text, HasSubstr(kHash + "  medium  8.0 MiB  2      healthy"));
}

TEST(RenderTest, Show) {
  std::string text = Render(RenderShow, Json{{"hash", kHash},
                                             {"size", 3000},
                                             {"creator", kNode},
                                             {"created_at", 1700000000000},
                                             {"signature_valid", false},
                                             {"files",
                                              {{{"path", "photos/a.jpg"}, {"size", 1000}},
                                               {{"path", "letter.txt"}, {"size", 2000}}}}});
  EXPECT_THAT(text, HasSubstr("signature  INVALID"));
  EXPECT_THAT(text, HasSubstr("created    2023-11-14 22:13:20 UTC"));
  EXPECT_THAT(text, HasSubstr("1000 B   photos/a.jpg"));
  EXPECT_THAT(text, HasSubstr("2.0 KiB  letter.txt"));
}

TEST(RenderTest, Publish) {
  EXPECT_EQ(Render(RenderPublish,
                   Json{{"hash", kHash}, {"tier", "small"}, {"fragments", 1}, {"holders", 7}}),
            "published " + kHash + ": small tier, 1 fragment on 7 holders\n");
}

TEST(RenderTest, Status) {
  Json status = {{"hash", kHash},
                 {"tier", "medium"},
                 {"size", 12582912},
                 {"data_shards", 16},
                 {"parity_shards", 8},
                 {"fragments_total", 24},
                 {"fragments_verified", 20},
                 {"state", "degraded"},
                 {"holders",
                  {{{"node_id", kNode},
                    {"addr", "127.0.1.1:7700"},
                    {"fragments", {0, 1, 2, 5}},
                    {"last_attested", 1700000000000}},
                   {{"node_id", std::string(64, 'd')},
                    {"addr", "127.0.2.1:7700"},
                    {"fragments", {3}},
                    {"last_attested", nullptr}}}}};
  std::string text = Render(RenderStatus, status);
  EXPECT_THAT(text, HasSubstr("tier     medium (16 data + 8 parity)"));
  EXPECT_THAT(text, HasSubstr("size     12.0 MiB"));
  EXPECT_THAT(text, HasSubstr("degraded: 20 of 24 fragments verified, 16 needed"));
  // A count and the indices, in their own columns.
  EXPECT_THAT(text, HasSubstr("NODE              ADDRESS         FRAGMENTS  INDICES"));
  EXPECT_THAT(text, HasSubstr("cccccccccccccccc  127.0.1.1:7700  4          0-2,5"));
  EXPECT_THAT(text, HasSubstr("dddddddddddddddd  127.0.2.1:7700  1          3"));
  EXPECT_THAT(text, HasSubstr("2023-11-14 22:13:20 UTC"));
  EXPECT_THAT(text, HasSubstr("never"));
  EXPECT_THAT(text, Not(HasSubstr("risk")));  // a daemon that sent no estimate

  status["durability"] = {{"horizon_years", 10},
                          {"p_lost", 0.000123},
                          {"availability", 0.85},
                          {"departures_per_year", 0.5}};
  text = Render(RenderStatus, status);
  EXPECT_THAT(text, HasSubstr("tier     medium"));
  EXPECT_THAT(text, HasSubstr("risk     0.00012 chance of loss within 10 years"));
  EXPECT_THAT(text, HasSubstr("answer 85 % of audits, each leaves at 0.50 a year"));
}

TEST(RenderTest, Fetch) {
  std::ostringstream out;
  RenderFetch(Json{{"hash", kHash}, {"files", 2}, {"bytes", 2048}}, "/tmp/out", out);
  EXPECT_EQ(out.str(), "restored " + kHash + ": 2 files, 2.0 KiB written under /tmp/out\n");
}

TEST(RenderTest, Repair) {
  EXPECT_THAT(Render(RenderRepair, Json{{"tesseras", Json::array()}}),
              HasSubstr("nothing to repair"));
  // The shape the daemon sends (RepairReportJson).
  std::string text =
      Render(RenderRepair,
             Json{{"tesseras",
                   {{{"hash", kHash},
                     {"state_before", "degraded"},
                     {"action", "repaired"},
                     {"deficit", 4},
                     {"corrupt_local", Json::array()},
                     {"mended_local", {2}},
                     {"regenerated", {1, 3, 5, 7}},
                     {"new_holders",
                      {{{"node_id", kNode}, {"addr", "127.0.1.1:7700"}, {"fragments", {1, 3}}},
                       {{"node_id", kNode}, {"addr", "127.0.2.1:7700"}, {"fragments", {5, 7}}}}},
                     {"problems", {"one holder did not answer"}}}}}});
  EXPECT_THAT(
      text,
      HasSubstr(kHash + "  degraded  repaired  4        4           1            2            1"));
  EXPECT_THAT(text, HasSubstr("problem " + kHash.substr(0, 16) + ": one holder did not answer"));
}

TEST(RenderTest, Verify) {
  std::ostringstream ok;
  EXPECT_EQ(RenderVerify(Json{{"checked", 24}, {"failed", Json::array()}}, ok), 0u);
  EXPECT_EQ(ok.str(), "verified 24 fragments: all intact\n");
  std::ostringstream bad;
  EXPECT_EQ(RenderVerify(Json{{"checked", 24},
                              {"failed", {{{"hash", kHash}, {"index", 3}, {"error", "corrupt"}}}}},
                         bad),
            1u);
  EXPECT_THAT(bad.str(), HasSubstr("FAILED tessera " + kHash + " fragment 3: corrupt"));
  EXPECT_THAT(bad.str(), HasSubstr("1 of 24 fragments failed"));
}

TEST(RenderTest, PeersAndLedger) {
  EXPECT_THAT(Render(RenderPeers, Json::array()), HasSubstr("no peers known"));
  EXPECT_THAT(Render(RenderPeers, Json::array({{{"node_id", kNode}, {"addr", "10.0.0.1:7700"}}})),
              HasSubstr(kNode + "  10.0.0.1:7700"));
  EXPECT_THAT(Render(RenderLedger, Json::array()), HasSubstr("ledger is empty"));
  std::string text = Render(RenderLedger, Json::array({{{"peer", kNode},
                                                        {"bytes_stored_for_them", 1024},
                                                        {"bytes_they_store_for_us", 0},
                                                        {"balance", -1024}}}));
  EXPECT_THAT(text, HasSubstr("STORED FOR THEM"));
  EXPECT_THAT(text, HasSubstr("-1.0 KiB"));
  EXPECT_THAT(Render(RenderLedger, Json::array({{{"peer", kNode}, {"balance", INT64_MIN}}})),
              HasSubstr("-8.0 EiB"));
}

TEST(RenderTest, MissingAndOddFieldsDoNotThrow) {
  for (const Json& j : {Json(), Json::object(), Json::array(), Json("text"), Json(5),
                        Json{{"hash", 5},
                             {"size", "big"},
                             {"files", -1},
                             {"holders", "x"},
                             {"failed", 3},
                             {"tesseras", {1, 2}}}}) {
    std::ostringstream out;
    EXPECT_NO_THROW(RenderNode(j, out));
    EXPECT_NO_THROW(RenderCreate(j, out));
    EXPECT_NO_THROW(RenderList(j, out));
    EXPECT_NO_THROW(RenderShow(j, out));
    EXPECT_NO_THROW(RenderPublish(j, out));
    EXPECT_NO_THROW(RenderStatus(j, out));
    EXPECT_NO_THROW(RenderFetch(j, "/o", out));
    EXPECT_NO_THROW(RenderRepair(j, out));
    EXPECT_NO_THROW((void)RenderVerify(j, out));
    EXPECT_NO_THROW(RenderPeers(j, out));
    EXPECT_NO_THROW(RenderLedger(j, out));
  }
}

TEST(ExitCodeTest, DistinctByKind) {
  EXPECT_EQ(ExitCodeFor(core::ErrorCode::kInvalidArgument), kExitUsage);
  EXPECT_EQ(ExitCodeFor(core::ErrorCode::kNotFound), kExitNotFound);
  EXPECT_EQ(ExitCodeFor(core::ErrorCode::kUnimplemented), kExitUnimplemented);
  EXPECT_EQ(ExitCodeFor(core::ErrorCode::kCorrupt), kExitVerifyFailed);
  EXPECT_EQ(ExitCodeFor(core::ErrorCode::kTimeout), kExitUnavailable);
  EXPECT_EQ(ExitCodeFor(core::ErrorCode::kTesseraTooBig), kExitRefused);
  EXPECT_EQ(ExitCodeFor(core::ErrorCode::kInternal), kExitFailure);
  for (uint16_t raw = 1; raw <= 16; ++raw) {
    EXPECT_NE(ExitCodeFor(static_cast<core::ErrorCode>(raw)), kExitOk);
    EXPECT_NE(ExitCodeFor(static_cast<core::ErrorCode>(raw)), kExitNotRunning);
  }
}

}  // namespace
}  // namespace tesseras::cli
