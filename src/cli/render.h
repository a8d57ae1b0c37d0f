// Human renderings of the local API's JSON replies, one per command. The shapes
// are in docs/DAEMON.md; a renderer prints what is there and "-" for what is
// missing, so an older or newer daemon still gives readable output.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <ostream>
#include <string>
#include <vector>

namespace tesseras::cli {

using Json = nlohmann::json;

// "512 B", "1.5 KiB", "12.0 MiB", "1.0 GiB".
std::string HumanBytes(uint64_t bytes);

// "42 s", "3 min 5 s", "2 h 10 min", "4 d 3 h".
std::string HumanDuration(uint64_t secs);

// Unix milliseconds as "2026-11-25 12:00:30 UTC".
std::string HumanTime(int64_t unix_ms);

// Left-aligned columns separated by two spaces; the first row is the header.
void PrintTable(std::ostream& out, const std::vector<std::vector<std::string>>& rows);

void RenderNode(const Json& node, std::ostream& out);
void RenderCreate(const Json& created, std::ostream& out);
void RenderList(const Json& tesseras, std::ostream& out);
void RenderShow(const Json& manifest, std::ostream& out);
void RenderPublish(const Json& published, std::ostream& out);
void RenderStatus(const Json& status, std::ostream& out);
void RenderFetch(const Json& fetched, const std::string& out_dir, std::ostream& out);
void RenderRepair(const Json& report, std::ostream& out);
// Returns the number of failed fragments listed (the caller exits non-zero if any).
std::size_t RenderVerify(const Json& report, std::ostream& out);
void RenderPeers(const Json& peers, std::ostream& out);
void RenderLedger(const Json& ledger, std::ostream& out);
// `tes ui`: the dashboard's link.
void RenderUi(const Json& ui, std::ostream& out);

}  // namespace tesseras::cli
