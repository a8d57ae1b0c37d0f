#include "cli/render.h"

#include <fmt/format.h>

#include <algorithm>
#include <ctime>
#include <optional>

namespace tesseras::cli {
namespace {

const Json* Find(const Json& j, std::string_view key) {
  if (!j.is_object()) return nullptr;
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return nullptr;
  return &*it;
}

// A field as display text: strings as they are, other values as JSON, "-" if absent.
std::string Text(const Json& j, std::string_view key) {
  const Json* v = Find(j, key);
  if (v == nullptr) return "-";
  if (v->is_string()) return v->get<std::string>();
  return v->dump();
}

std::optional<uint64_t> Unsigned(const Json& j, std::string_view key) {
  const Json* v = Find(j, key);
  if (v == nullptr || !v->is_number_integer()) return std::nullopt;
  if (v->is_number_unsigned()) return v->get<uint64_t>();
  int64_t s = v->get<int64_t>();
  if (s < 0) return std::nullopt;
  return static_cast<uint64_t>(s);
}

std::optional<int64_t> Signed(const Json& j, std::string_view key) {
  const Json* v = Find(j, key);
  if (v == nullptr || !v->is_number_integer()) return std::nullopt;
  return v->get<int64_t>();
}

std::string Count(const Json& j, std::string_view key) {
  auto v = Unsigned(j, key);
  return v ? std::to_string(*v) : "-";
}

std::string Bytes(const Json& j, std::string_view key) {
  auto v = Unsigned(j, key);
  return v ? HumanBytes(*v) : "-";
}

std::string Time(const Json& j, std::string_view key) {
  const Json* v = Find(j, key);
  if (v == nullptr) return "never";
  if (v->is_number_integer()) return HumanTime(v->get<int64_t>());
  return Text(j, key);
}

std::string Plural(uint64_t n, std::string_view one, std::string_view many) {
  return fmt::format("{} {}", n, n == 1 ? one : many);
}

std::string PluralField(const Json& j, std::string_view key, std::string_view one,
                        std::string_view many) {
  auto v = Unsigned(j, key);
  return v ? Plural(*v, one, many) : fmt::format("- {}", many);
}

const Json& Items(const Json& j) {
  static const Json kEmpty = Json::array();
  return j.is_array() ? j : kEmpty;
}

const Json& ArrayField(const Json& j, std::string_view key) {
  static const Json kEmpty = Json::array();
  const Json* v = Find(j, key);
  return v != nullptr && v->is_array() ? *v : kEmpty;
}

// "0-3,7,9-10" from a list of indices.
std::string IndexRanges(const Json& indices) {
  std::vector<int64_t> v;
  for (const Json& i : Items(indices)) {
    if (i.is_number_integer()) v.push_back(i.get<int64_t>());
  }
  std::sort(v.begin(), v.end());
  std::string out;
  for (std::size_t i = 0; i < v.size();) {
    std::size_t j = i;
    while (j + 1 < v.size() && v[j + 1] == v[j] + 1) ++j;
    if (!out.empty()) out += ",";
    out += j > i ? fmt::format("{}-{}", v[i], v[j]) : std::to_string(v[i]);
    i = j + 1;
  }
  return out.empty() ? "-" : out;
}

std::string ShortId(const std::string& hex) { return hex.size() > 16 ? hex.substr(0, 16) : hex; }

}  // namespace

std::string HumanBytes(uint64_t bytes) {
  if (bytes < 1024) return fmt::format("{} B", bytes);
  static constexpr const char* kUnits[] = {"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  double value = static_cast<double>(bytes) / 1024.0;
  std::size_t unit = 0;
  while (value >= 1024.0 && unit + 1 < std::size(kUnits)) {
    value /= 1024.0;
    ++unit;
  }
  return fmt::format("{:.1f} {}", value, kUnits[unit]);
}

std::string HumanDuration(uint64_t secs) {
  const uint64_t d = secs / 86400, h = secs % 86400 / 3600, m = secs % 3600 / 60, s = secs % 60;
  if (d > 0) return fmt::format("{} d {} h", d, h);
  if (h > 0) return fmt::format("{} h {} min", h, m);
  if (m > 0) return fmt::format("{} min {} s", m, s);
  return fmt::format("{} s", s);
}

std::string HumanTime(int64_t unix_ms) {
  std::time_t secs = static_cast<std::time_t>(unix_ms / 1000);
  std::tm tm{};
  if (::gmtime_r(&secs, &tm) == nullptr) return std::to_string(unix_ms);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M:%S UTC", &tm);
  return buf;
}

void PrintTable(std::ostream& out, const std::vector<std::vector<std::string>>& rows) {
  std::vector<std::size_t> widths;
  for (const auto& row : rows) {
    if (widths.size() < row.size()) widths.resize(row.size(), 0);
    for (std::size_t c = 0; c < row.size(); ++c) widths[c] = std::max(widths[c], row[c].size());
  }
  for (const auto& row : rows) {
    std::string line;
    for (std::size_t c = 0; c < row.size(); ++c) {
      line += row[c];
      if (c + 1 < row.size()) line += std::string(widths[c] - row[c].size() + 2, ' ');
    }
    out << line << "\n";
  }
}

void RenderNode(const Json& node, std::ostream& out) {
  std::vector<std::vector<std::string>> rows = {{"node id", Text(node, "node_id")},
                                                {"listen", Text(node, "listen")},
                                                {"peers", Count(node, "peers")},
                                                {"bytes stored", Bytes(node, "bytes_stored")}};
  if (Find(node, "version") != nullptr) rows.push_back({"version", Text(node, "version")});
  if (auto up = Unsigned(node, "uptime_secs")) {
    rows.push_back({"uptime", HumanDuration(*up)});
  }
  if (Find(node, "http") != nullptr) rows.push_back({"dashboard", "http://" + Text(node, "http")});
  if (const Json* scrub = Find(node, "scrub"); scrub != nullptr && scrub->is_object()) {
    const Json& s = *scrub;
    if (Find(s, "cycle_started") != nullptr) {
      rows.push_back(
          {"scrub",
           fmt::format("{} of {} fragments ({} of {}), cycle since {}", Count(s, "cycle_fragments"),
                       Count(s, "cycle_fragments_total"), Bytes(s, "cycle_bytes"),
                       Bytes(s, "cycle_bytes_total"), Time(s, "cycle_started"))});
    } else {
      rows.push_back({"scrub", "idle, next cycle " + Time(s, "next_cycle")});
    }
    std::string last = "never";
    if (Find(s, "last_cycle_finished") != nullptr) {
      last = fmt::format("{} ({}, {})", Time(s, "last_cycle_finished"),
                         PluralField(s, "last_cycle_fragments", "fragment", "fragments"),
                         Bytes(s, "last_cycle_bytes"));
    }
    rows.push_back({"full scrub", last});  // the last full cycle
    rows.push_back({"scrub found", fmt::format("{} corrupt, {} missing", Count(s, "corrupt_found"),
                                               Count(s, "missing_found"))});
  }
  PrintTable(out, rows);
}

void RenderCreate(const Json& created, std::ostream& out) {
  out << "created " << Text(created, "hash") << " (" << Bytes(created, "size") << ", "
      << PluralField(created, "files", "file", "files") << ")\n";
}

void RenderList(const Json& tesseras, std::ostream& out) {
  if (Items(tesseras).empty()) {
    out << "no tesseras yet; create one with: tes create PATH...\n";
    return;
  }
  std::vector<std::vector<std::string>> rows = {{"HASH", "TIER", "SIZE", "FILES", "STATE"}};
  for (const Json& t : Items(tesseras)) {
    rows.push_back(
        {Text(t, "hash"), Text(t, "tier"), Bytes(t, "size"), Count(t, "files"), Text(t, "state")});
  }
  PrintTable(out, rows);
}

void RenderShow(const Json& manifest, std::ostream& out) {
  std::string signature = "-";
  if (const Json* valid = Find(manifest, "signature_valid"); valid && valid->is_boolean()) {
    signature = valid->get<bool>() ? "valid" : "INVALID";
  }
  const Json& files = ArrayField(manifest, "files");
  PrintTable(out, {{"tessera", Text(manifest, "hash")},
                   {"size", Bytes(manifest, "size")},
                   {"creator", Text(manifest, "creator")},
                   {"created", Time(manifest, "created_at")},
                   {"signature", signature},
                   {"files", std::to_string(files.size())}});
  if (files.empty()) return;
  out << "\n";
  std::vector<std::vector<std::string>> rows = {{"SIZE", "PATH"}};
  for (const Json& f : files) rows.push_back({Bytes(f, "size"), Text(f, "path")});
  PrintTable(out, rows);
}

void RenderPublish(const Json& published, std::ostream& out) {
  out << "published " << Text(published, "hash") << ": " << Text(published, "tier") << " tier, "
      << PluralField(published, "fragments", "fragment", "fragments") << " on "
      << PluralField(published, "holders", "holder", "holders") << "\n";
  const Json& missing = ArrayField(published, "missing");
  if (!missing.empty()) {
    out << "below full redundancy: " << Count(published, "copies_placed") << " of "
        << Count(published, "copies_wanted") << " copies placed; not placed: "
        << (Text(published, "tier") == "small" ? Plural(missing.size(), "copy", "copies")
                                               : "fragments " + IndexRanges(missing))
        << "\n";
  }
}

void RenderStatus(const Json& status, std::ostream& out) {
  std::string code = fmt::format("{} data + {} parity", Count(status, "data_shards"),
                                 Count(status, "parity_shards"));
  std::string health = fmt::format("{}: {} of {} fragments verified, {} needed",
                                   Text(status, "state"), Count(status, "fragments_verified"),
                                   Count(status, "fragments_total"), Count(status, "data_shards"));
  const Json& holders = ArrayField(status, "holders");
  std::vector<std::vector<std::string>> facts = {
      {"tessera", Text(status, "hash")},
      {"tier", fmt::format("{} ({})", Text(status, "tier"), code)},
      {"size", Bytes(status, "size")},
      {"state", health},
      {"holders", std::to_string(holders.size())}};
  if (const Json* d = Find(status, "durability"); d != nullptr && d->is_object()) {
    const Json* p = Find(*d, "p_lost");
    const Json* a = Find(*d, "availability");
    const Json* l = Find(*d, "departures_per_year");
    if (p != nullptr && p->is_number() && a != nullptr && a->is_number() && l != nullptr &&
        l->is_number()) {
      facts.push_back(
          {"risk", fmt::format("{:.2g} chance of loss within {} years (an estimate: holders "
                               "answer {:.0f} % of audits, each leaves at {:.2f} a year; "
                               "SIMULATION.md)",
                               p->get<double>(), Count(*d, "horizon_years"), 100 * a->get<double>(),
                               l->get<double>())});
    }
  }
  PrintTable(out, facts);
  if (holders.empty()) return;
  out << "\n";
  // FRAGMENTS is how many the holder keeps, INDICES which ones.
  std::vector<std::vector<std::string>> rows = {
      {"NODE", "ADDRESS", "FRAGMENTS", "INDICES", "PROVEN", "LAST ATTESTED"}};
  for (const Json& h : holders) {
    const Json* fragments = Find(h, "fragments");
    const Json* proven = Find(h, "proven");
    auto count = [](const Json* list) {
      return list != nullptr && list->is_array() ? std::to_string(list->size()) : "-";
    };
    rows.push_back({ShortId(Text(h, "node_id")), Text(h, "addr"), count(fragments),
                    fragments ? IndexRanges(*fragments) : "-", count(proven),
                    Time(h, "last_attested")});
  }
  PrintTable(out, rows);
}

void RenderFetch(const Json& fetched, const std::string& out_dir, std::ostream& out) {
  out << "restored " << Text(fetched, "hash") << ": "
      << PluralField(fetched, "files", "file", "files") << ", " << Bytes(fetched, "bytes")
      << " written under " << out_dir << "\n";
}

void RenderRepair(const Json& report, std::ostream& out) {
  const Json& tesseras = ArrayField(report, "tesseras");
  if (tesseras.empty()) {
    out << "repair: nothing to repair\n";
    return;
  }
  auto count = [](const Json& t, std::string_view key) {
    const Json* list = Find(t, key);
    return list != nullptr && list->is_array() ? std::to_string(list->size()) : "-";
  };
  std::vector<std::vector<std::string>> rows = {{"HASH", "BEFORE", "ACTION", "DEFICIT",
                                                 "RE-CREATED", "MENDED HERE", "NEW HOLDERS",
                                                 "PROBLEMS"}};
  std::vector<std::string> problems;
  for (const Json& t : tesseras) {
    rows.push_back({Text(t, "hash"), Text(t, "state_before"), Text(t, "action"),
                    Count(t, "deficit"), count(t, "regenerated"), count(t, "mended_local"),
                    count(t, "new_holders"), count(t, "problems")});
    for (const Json& p : ArrayField(t, "problems")) {
      if (p.is_string()) problems.push_back(ShortId(Text(t, "hash")) + ": " + p.get<std::string>());
    }
  }
  PrintTable(out, rows);
  for (const std::string& p : problems) out << "problem " << p << "\n";
}

std::size_t RenderVerify(const Json& report, std::ostream& out) {
  const Json& failed = ArrayField(report, "failed");
  auto checked = Unsigned(report, "checked");
  if (failed.empty()) {
    out << "verified " << (checked ? Plural(*checked, "fragment", "fragments") : "- fragments")
        << ": all intact\n";
    return 0;
  }
  for (const Json& f : failed) {
    out << "FAILED tessera " << Text(f, "hash") << " fragment " << Text(f, "index") << ": "
        << Text(f, "error") << "\n";
  }
  out << failed.size() << " of " << (checked ? std::to_string(*checked) : "-")
      << " fragments failed verification\n";
  return failed.size();
}

void RenderPeers(const Json& peers, std::ostream& out) {
  if (Items(peers).empty()) {
    out << "no peers known\n";
    return;
  }
  std::vector<std::vector<std::string>> rows = {{"NODE ID", "ADDRESS"}};
  for (const Json& p : Items(peers)) rows.push_back({Text(p, "node_id"), Text(p, "addr")});
  PrintTable(out, rows);
}

void RenderLedger(const Json& ledger, std::ostream& out) {
  if (Items(ledger).empty()) {
    out << "the ledger is empty: no storage exchanged with any peer yet\n";
    return;
  }
  std::vector<std::vector<std::string>> rows = {
      {"PEER", "STORED FOR THEM", "THEY STORE FOR US", "BALANCE"}};
  for (const Json& e : Items(ledger)) {
    auto balance = Signed(e, "balance");
    std::string balance_text =
        balance ? (*balance < 0 ? "-" + HumanBytes(static_cast<uint64_t>(-(*balance + 1)) + 1)
                                : "+" + HumanBytes(static_cast<uint64_t>(*balance)))
                : "-";
    rows.push_back({Text(e, "peer"), Bytes(e, "bytes_stored_for_them"),
                    Bytes(e, "bytes_they_store_for_us"), balance_text});
  }
  PrintTable(out, rows);
}

void RenderUi(const Json& ui, std::ostream& out) {
  out << Text(ui, "url") << "\n";
  const Json* opened = Find(ui, "opened");
  if (opened != nullptr && opened->is_boolean() && opened->get<bool>()) {
    out << "(opened in your browser)\n";
  } else {
    out << "open this link in a browser on this machine; it holds the API token, keep it to "
           "yourself\n";
  }
}

}  // namespace tesseras::cli
