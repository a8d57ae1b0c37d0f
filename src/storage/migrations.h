// Schema migrations, embedded in the binary at build time from
// src/storage/migrations/NNN_name.sql (see embed_migrations.cmake).
#pragma once

#include <span>
#include <string_view>

namespace tesseras::storage {

struct Migration {
  int version;            // NNN of the file name: 1, 2, ... without gaps
  std::string_view name;  // the rest of the file name, e.g. "initial"
  std::string_view sql;   // the whole file
};

// Every migration of this build, in version order.
std::span<const Migration> EmbeddedMigrations();

}  // namespace tesseras::storage
