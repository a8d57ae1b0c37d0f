#include "daemon/testing/local_node_operations.h"

#include <fmt/format.h>

namespace tesseras::daemon {
namespace {

core::Error NotBuilt(std::string_view what, std::string_view layer) {
  return core::MakeError(core::ErrorCode::kUnimplemented,
                         fmt::format("{} is not built yet: waits for the {} layer", what, layer));
}

}  // namespace

LocalNodeOperations::LocalNodeOperations(core::NodeId node_id, std::string listen)
    : node_id_(node_id), listen_(std::move(listen)) {}

core::Result<Json> LocalNodeOperations::GetNode() {
  // No DHT and no fragment store in this daemon yet: it knows no peer and
  // stores no byte, so zero is the true answer, not a placeholder.
  return Json{
      {"node_id", node_id_.ToHex()}, {"listen", listen_}, {"peers", 0}, {"bytes_stored", 0}};
}

core::Result<Json> LocalNodeOperations::ListTesseras() {
  return NotBuilt("listing tesseras", "storage");
}

core::Result<Json> LocalNodeOperations::CreateTessera(const std::vector<std::filesystem::path>&) {
  return NotBuilt("creating a tessera", "replication");
}

core::Result<Json> LocalNodeOperations::ShowTessera(const core::ContentHash&) {
  return NotBuilt("showing a tessera's manifest", "replication");
}

core::Result<Json> LocalNodeOperations::PublishTessera(const core::ContentHash&) {
  return NotBuilt("publishing a tessera", "replication");
}

core::Result<Json> LocalNodeOperations::TesseraStatus(const core::ContentHash&) {
  return NotBuilt("a tessera's health status", "replication");
}

core::Result<Json> LocalNodeOperations::FetchTessera(const core::ContentHash&,
                                                     const std::filesystem::path&) {
  return NotBuilt("fetching a tessera", "replication");
}

core::Result<Json> LocalNodeOperations::Repair(const std::optional<core::ContentHash>&) {
  return NotBuilt("repair", "replication");
}

core::Result<Json> LocalNodeOperations::Verify(const std::optional<core::ContentHash>&) {
  return NotBuilt("verifying local fragments", "storage");
}

core::Result<Json> LocalNodeOperations::ListPeers() { return NotBuilt("listing peers", "DHT"); }

core::Result<Json> LocalNodeOperations::Ledger() {
  return NotBuilt("the reciprocity ledger", "storage");
}

core::Result<Json> LocalNodeOperations::Events() { return NotBuilt("recent events", "daemon"); }

core::Result<Json> LocalNodeOperations::Maintenance() {
  return NotBuilt("maintenance", "replication");
}

}  // namespace tesseras::daemon
