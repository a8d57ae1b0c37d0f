// Tessera bundles: what a user's files become before they are replicated.
//
// A bundle is a signed manifest (every file's relative path, size, BLAKE3 and
// media type, the creator's Ed25519 public key, a creation time) followed by the
// files' bytes, serialised as ONE canonical payload byte stream:
//
//   header (magic, version, manifest length) | manifest | signature | file bytes...
//
// The same tessera always gives the same bytes, and the tessera hash is the
// BLAKE3 of that whole payload, so it can be recomputed after a restore. The
// exact format is in docs/FORMAT.md ("Tessera bundle (payload) format").
//
// Packing streams into a core::ByteSink and never holds whole files in memory.
// Unpacking verifies the signature, every file hash and the tessera hash,
// refuses paths that could escape the target directory (absolute, `..`, `.`,
// empty components, backslashes, control bytes, duplicates, a file that is also
// a directory), writes into a temporary directory next to the target and moves
// it into place only when everything verified.
//
// Threading: blocking (file I/O); call from a worker thread, never from the
// network thread. The functions share no state.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/bytes.h"
#include "core/ids.h"
#include "crypto/identity.h"

namespace tesseras::storage {

inline constexpr std::string_view kBundleMagic = "TESSBNDL";  // 8 bytes
inline constexpr uint16_t kBundleVersion = 1;
inline constexpr std::size_t kBundleHeaderBytes = 16;
inline constexpr std::size_t kBundleSignatureBytes = 64;
inline constexpr uint32_t kMaxManifestBytes = 16 * 1024 * 1024;
inline constexpr uint32_t kMaxBundleFiles = 100'000;
inline constexpr std::size_t kMaxPathBytes = 4096;
inline constexpr std::size_t kMaxPathComponentBytes = 255;
inline constexpr std::size_t kMaxMediaTypeBytes = 127;
// The signature covers this context string, one zero byte, then the manifest.
inline constexpr std::string_view kManifestSignatureContext = "tesseras bundle v1 manifest";

struct ManifestFile {
  std::string path;  // relative, '/'-separated, validated by ValidateBundlePath
  uint64_t size = 0;
  core::ContentHash hash;  // BLAKE3 of the file's bytes
  std::string media_type;  // e.g. "image/jpeg"
  bool operator==(const ManifestFile&) const = default;
};

struct Manifest {
  crypto::PublicKey creator{};
  int64_t created_at_ms = 0;        // Unix epoch milliseconds, >= 0
  std::vector<ManifestFile> files;  // sorted by path (bytewise), no duplicates

  // Canonical encoding (docs/FORMAT.md). Requires a valid manifest.
  std::vector<uint8_t> Encode() const;
  // Strict decoding of untrusted bytes: every length, count, path and order is
  // checked; trailing bytes are refused.
  static core::Result<Manifest> Decode(std::span<const uint8_t> bytes);
  // Checks the rules Decode enforces (used before encoding our own manifests).
  core::Result<void> Validate() const;
  uint64_t ContentBytes() const;  // sum of file sizes
  bool operator==(const Manifest&) const = default;
};

// Ok if `path` is a safe relative path: 1..4096 bytes of valid UTF-8; components
// of 1..255 bytes separated by '/', none "." or ".."; no leading or trailing '/',
// no "//", no '\', no control bytes (< 0x20, 0x7f).
core::Result<void> ValidateBundlePath(std::string_view path);

// Media type from the file name's extension (case-insensitive);
// "application/octet-stream" when unknown.
std::string_view GuessMediaType(std::string_view path);

// A bundle ready to be packed: the manifest, its signature and, for each
// manifest file in order, where its bytes are.
struct Bundle {
  Manifest manifest;
  std::vector<uint8_t> manifest_bytes;  // manifest.Encode()
  crypto::Signature signature{};
  std::vector<std::filesystem::path> sources;  // parallel to manifest.files
  core::ContentHash tessera_hash;              // BLAKE3 of the payload
  uint64_t payload_size = 0;
};

// Creates a bundle from files and directories. A file contributes its own name;
// a directory contributes its name and everything under it ("photos/a.jpg").
// Symbolic links and special files are refused; empty directories are not kept.
// Reads every file twice (file hashes, then the payload hash). kTesseraTooBig
// if the payload would exceed 1 GiB.
core::Result<Bundle> CreateBundle(std::span<const std::filesystem::path> inputs,
                                  const crypto::Identity& creator, int64_t created_at_ms);

// Re-opens a bundle from a restored directory: the manifest and signature of the
// original, the files found under `root` by their manifest paths. Recomputes
// the tessera hash (equal to the original's if the files are intact).
core::Result<Bundle> BundleFromDirectory(const Manifest& manifest,
                                         const crypto::Signature& signature,
                                         const std::filesystem::path& root);

// Streams the canonical payload into `out` and Finish()es it. Every file is
// re-hashed on the way; kCorrupt (and `out` not finished) if one changed since
// the bundle was created. Returns the tessera hash.
core::Result<core::ContentHash> PackBundle(const Bundle& bundle, core::ByteSink& out);

struct UnpackedBundle {
  Manifest manifest;
  crypto::Signature signature{};
  core::ContentHash tessera_hash;
  uint64_t payload_size = 0;
};

// Reads a payload, verifies it completely and writes its files under
// `target_dir`, which must not exist yet (kAlreadyExists); its parent is
// created if needed. With `expected_hash`, a payload hashing to anything else is
// kCorrupt. Nothing appears at `target_dir` unless everything verified.
core::Result<UnpackedBundle> UnpackBundle(core::ByteSource& payload,
                                          std::optional<core::ContentHash> expected_hash,
                                          const std::filesystem::path& target_dir);
core::Result<UnpackedBundle> UnpackBundle(core::RandomAccessSource& payload,
                                          std::optional<core::ContentHash> expected_hash,
                                          const std::filesystem::path& target_dir);

// The same checks as UnpackBundle without writing anything.
core::Result<UnpackedBundle> VerifyBundle(core::ByteSource& payload,
                                          std::optional<core::ContentHash> expected_hash);

}  // namespace tesseras::storage
