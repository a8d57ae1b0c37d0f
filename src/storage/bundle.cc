#include "storage/bundle.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <set>
#include <string>
#include <system_error>
#include <unordered_set>

#include "core/tier.h"
#include "crypto/blake3_hasher.h"
#include "storage/file_util.h"

namespace tesseras::storage {

using core::ContentHash;
using core::ErrorCode;
using core::MakeError;
using core::Result;

namespace {

constexpr std::size_t kChunk = 1024 * 1024;

// ---- little-endian encoding ----------------------------------------------------

void PutU8(std::vector<uint8_t>& out, uint8_t v) { out.push_back(v); }
void PutU16(std::vector<uint8_t>& out, uint16_t v) {
  for (int i = 0; i < 2; ++i) out.push_back(static_cast<uint8_t>(v >> (8 * i)));
}
void PutU32(std::vector<uint8_t>& out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<uint8_t>(v >> (8 * i)));
}
void PutU64(std::vector<uint8_t>& out, uint64_t v) {
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<uint8_t>(v >> (8 * i)));
}
void PutBytes(std::vector<uint8_t>& out, std::span<const uint8_t> b) {
  out.insert(out.end(), b.begin(), b.end());
}
void PutString(std::vector<uint8_t>& out, std::string_view s) {
  out.insert(out.end(), s.begin(), s.end());
}

uint64_t GetLE(const uint8_t* p, int n) {
  uint64_t v = 0;
  for (int i = n - 1; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

// Reads untrusted bytes; every read is bounds-checked.
class Reader {
 public:
  explicit Reader(std::span<const uint8_t> b) : b_(b) {}
  Result<std::span<const uint8_t>> Take(std::size_t n, std::string_view what) {
    if (n > b_.size() - pos_) {
      return MakeError(ErrorCode::kCorrupt,
                       "manifest truncated while reading " + std::string(what));
    }
    auto s = b_.subspan(pos_, n);
    pos_ += n;
    return s;
  }
  Result<uint64_t> Int(int n, std::string_view what) {
    ASSIGN_OR_RETURN(auto s, Take(static_cast<std::size_t>(n), what));
    return GetLE(s.data(), n);
  }
  std::size_t remaining() const { return b_.size() - pos_; }

 private:
  std::span<const uint8_t> b_;
  std::size_t pos_ = 0;
};

bool ValidUtf8(std::string_view s) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  std::size_t i = 0, n = s.size();
  while (i < n) {
    unsigned char c = p[i];
    if (c < 0x80) {
      ++i;
      continue;
    }
    int len;
    uint32_t cp;
    if ((c & 0xE0) == 0xC0) {
      len = 2;
      cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      len = 3;
      cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      len = 4;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (i + static_cast<std::size_t>(len) > n) return false;
    for (int k = 1; k < len; ++k) {
      if ((p[i + k] & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (p[i + k] & 0x3F);
    }
    // Overlong forms, surrogates and values past U+10FFFF are invalid.
    if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
        cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
      return false;
    }
    i += static_cast<std::size_t>(len);
  }
  return true;
}

core::Error BadPath(std::string_view path, std::string_view why) {
  std::string shown(path.substr(0, 200));
  for (char& c : shown) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '?';
  }
  return MakeError(ErrorCode::kInvalidArgument,
                   "unsafe path '" + shown + "' in bundle: " + std::string(why));
}

std::vector<uint8_t> SignedMessage(std::span<const uint8_t> manifest_bytes) {
  std::vector<uint8_t> msg;
  msg.reserve(kManifestSignatureContext.size() + 1 + manifest_bytes.size());
  PutString(msg, kManifestSignatureContext);
  msg.push_back(0);
  PutBytes(msg, manifest_bytes);
  return msg;
}

std::vector<uint8_t> EncodeHeader(uint32_t manifest_len) {
  std::vector<uint8_t> h;
  PutString(h, kBundleMagic);
  PutU16(h, kBundleVersion);
  PutU16(h, 0);  // reserved
  PutU32(h, manifest_len);
  return h;
}

Result<uint64_t> PayloadSize(const Manifest& m, std::size_t manifest_len) {
  uint64_t content = m.ContentBytes();  // saturates, never wraps
  uint64_t size = kBundleHeaderBytes + manifest_len + kBundleSignatureBytes;
  size = content > core::kMaxTesseraSize ? content : size + content;
  if (size > core::kMaxTesseraSize) {
    return MakeError(ErrorCode::kTesseraTooBig,
                     "tessera payload would be " + std::to_string(size) + " bytes; the limit is " +
                         std::to_string(core::kMaxTesseraSize) + " bytes (1 GiB)");
  }
  return size;
}

// A sink that discards the payload (PackBundle computes the hash on the way).
class CountingSink final : public core::ByteSink {
 public:
  Result<void> Write(std::span<const uint8_t> data) override {
    bytes_ += data.size();
    return core::Ok();
  }
  Result<void> Finish() override { return core::Ok(); }
  uint64_t bytes() const { return bytes_; }

 private:
  uint64_t bytes_ = 0;
};

// Reads exactly out.size() bytes or fails.
Result<void> ReadExact(core::ByteSource& src, std::span<uint8_t> out, std::string_view what) {
  std::size_t got = 0;
  while (got < out.size()) {
    std::size_t n = TRY(src.Read(out.subspan(got)));
    if (n == 0) {
      return MakeError(ErrorCode::kCorrupt,
                       "bundle payload truncated while reading " + std::string(what));
    }
    got += n;
  }
  return core::Ok();
}

// Hashes a file, checking it is still a regular file of the expected size.
Result<ContentHash> HashFile(const std::filesystem::path& p, uint64_t* size_out) {
  ASSIGN_OR_RETURN(UniqueFd fd, OpenForRead(p));
  struct stat st;
  if (::fstat(fd.get(), &st) != 0) return ErrnoError("fstat", p, errno);
  if (!S_ISREG(st.st_mode)) {
    return MakeError(ErrorCode::kInvalidArgument, p.string() + " is not a regular file");
  }
  crypto::Blake3Hasher h;
  std::vector<uint8_t> buf(kChunk);
  uint64_t total = 0;
  for (;;) {
    ssize_t n = ::read(fd.get(), buf.data(), buf.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoError("read", p, errno);
    }
    if (n == 0) break;
    h.Update(std::span<const uint8_t>(buf.data(), static_cast<std::size_t>(n)));
    total += static_cast<uint64_t>(n);
  }
  *size_out = total;
  return h.Finalize();
}

}  // namespace

// ---- paths and media types ------------------------------------------------------

Result<void> ValidateBundlePath(std::string_view path) {
  if (path.empty()) return BadPath(path, "empty");
  if (path.size() > kMaxPathBytes) return BadPath(path, "longer than 4096 bytes");
  if (!ValidUtf8(path)) return BadPath(path, "not valid UTF-8");
  if (path.front() == '/') return BadPath(path, "absolute");
  for (char c : path) {
    auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) return BadPath(path, "contains a control byte");
    if (c == '\\') return BadPath(path, "contains a backslash");
  }
  std::size_t start = 0;
  for (;;) {
    std::size_t end = path.find('/', start);
    std::string_view comp =
        path.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start);
    if (comp.empty()) return BadPath(path, "has an empty component");
    if (comp == "." || comp == "..") return BadPath(path, "has a '.' or '..' component");
    if (comp.size() > kMaxPathComponentBytes) {
      return BadPath(path, "has a component longer than 255 bytes");
    }
    if (end == std::string_view::npos) break;
    start = end + 1;
  }
  return core::Ok();
}

std::string_view GuessMediaType(std::string_view path) {
  struct Entry {
    std::string_view ext, type;
  };
  static constexpr Entry kTypes[] = {
      {"txt", "text/plain"},
      {"md", "text/markdown"},
      {"html", "text/html"},
      {"htm", "text/html"},
      {"csv", "text/csv"},
      {"json", "application/json"},
      {"xml", "application/xml"},
      {"pdf", "application/pdf"},
      {"zip", "application/zip"},
      {"tar", "application/x-tar"},
      {"gz", "application/gzip"},
      {"odt", "application/vnd.oasis.opendocument.text"},
      {"doc", "application/msword"},
      {"docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document"},
      {"jpg", "image/jpeg"},
      {"jpeg", "image/jpeg"},
      {"png", "image/png"},
      {"gif", "image/gif"},
      {"webp", "image/webp"},
      {"heic", "image/heic"},
      {"heif", "image/heif"},
      {"tif", "image/tiff"},
      {"tiff", "image/tiff"},
      {"svg", "image/svg+xml"},
      {"bmp", "image/bmp"},
      {"avif", "image/avif"},
      {"mp3", "audio/mpeg"},
      {"wav", "audio/wav"},
      {"flac", "audio/flac"},
      {"ogg", "audio/ogg"},
      {"opus", "audio/opus"},
      {"m4a", "audio/mp4"},
      {"mp4", "video/mp4"},
      {"m4v", "video/mp4"},
      {"mov", "video/quicktime"},
      {"mkv", "video/x-matroska"},
      {"webm", "video/webm"},
      {"avi", "video/x-msvideo"},
  };
  std::size_t slash = path.rfind('/');
  std::string_view name = slash == std::string_view::npos ? path : path.substr(slash + 1);
  std::size_t dot = name.rfind('.');
  if (dot != std::string_view::npos && dot + 1 < name.size() && dot > 0) {
    std::string ext(name.substr(dot + 1));
    for (char& c : ext) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    for (const auto& e : kTypes) {
      if (e.ext == ext) return e.type;
    }
  }
  return "application/octet-stream";
}

// ---- manifest ------------------------------------------------------------------

uint64_t Manifest::ContentBytes() const {
  uint64_t total = 0;
  for (const auto& f : files) {
    // Saturate instead of wrapping; Validate refuses anything this large.
    total = f.size > UINT64_MAX - total ? UINT64_MAX : total + f.size;
  }
  return total;
}

Result<void> Manifest::Validate() const {
  if (created_at_ms < 0) {
    return MakeError(ErrorCode::kInvalidArgument, "manifest creation time is negative");
  }
  if (files.size() > kMaxBundleFiles) {
    return MakeError(ErrorCode::kInvalidArgument, "bundle has " + std::to_string(files.size()) +
                                                      " files; the limit is " +
                                                      std::to_string(kMaxBundleFiles));
  }
  uint64_t total = 0;
  std::unordered_set<std::string_view> paths;
  for (std::size_t i = 0; i < files.size(); ++i) {
    const ManifestFile& f = files[i];
    TRY(ValidateBundlePath(f.path));
    if (i > 0 && !(files[i - 1].path < f.path)) {
      return files[i - 1].path == f.path
                 ? BadPath(f.path, "listed twice")
                 : MakeError(ErrorCode::kInvalidArgument,
                             "manifest files are not sorted by path at '" + f.path + "'");
    }
    if (f.media_type.empty() || f.media_type.size() > kMaxMediaTypeBytes) {
      return MakeError(ErrorCode::kInvalidArgument,
                       "media type of '" + f.path + "' must be 1..127 bytes");
    }
    for (char c : f.media_type) {
      if (c < 0x21 || c > 0x7e) {
        return MakeError(ErrorCode::kInvalidArgument,
                         "media type of '" + f.path + "' has a byte outside printable ASCII");
      }
    }
    if (f.size > core::kMaxTesseraSize || total + f.size > core::kMaxTesseraSize) {
      return MakeError(ErrorCode::kTesseraTooBig,
                       "bundle files exceed " + std::to_string(core::kMaxTesseraSize) + " bytes");
    }
    total += f.size;
    paths.insert(f.path);
  }
  // A path may not be both a file and a directory ("a" and "a/b").
  for (const auto& f : files) {
    for (std::size_t pos = f.path.find('/'); pos != std::string::npos;
         pos = f.path.find('/', pos + 1)) {
      if (paths.contains(std::string_view(f.path).substr(0, pos))) {
        return BadPath(f.path, "lies under '" + f.path.substr(0, pos) + "', which is a file");
      }
    }
  }
  return core::Ok();
}

std::vector<uint8_t> Manifest::Encode() const {
  std::vector<uint8_t> out;
  PutBytes(out, creator);
  PutU64(out, static_cast<uint64_t>(created_at_ms));
  PutU32(out, static_cast<uint32_t>(files.size()));
  for (const auto& f : files) {
    PutU16(out, static_cast<uint16_t>(f.path.size()));
    PutString(out, f.path);
    PutU64(out, f.size);
    PutBytes(out, f.hash.bytes);
    PutU8(out, static_cast<uint8_t>(f.media_type.size()));
    PutString(out, f.media_type);
  }
  return out;
}

namespace {

// The structure only; Manifest::Decode adds Validate(). Unpacking parses, checks
// the signature, then validates, so that tampering reads as a bad signature.
Result<Manifest> ParseManifest(std::span<const uint8_t> bytes) {
  if (bytes.size() > kMaxManifestBytes) {
    return MakeError(ErrorCode::kInvalidArgument,
                     "manifest of " + std::to_string(bytes.size()) + " bytes exceeds the limit");
  }
  Reader r(bytes);
  Manifest m;
  ASSIGN_OR_RETURN(auto key, r.Take(32, "the creator key"));
  std::copy(key.begin(), key.end(), m.creator.begin());
  ASSIGN_OR_RETURN(uint64_t created, r.Int(8, "the creation time"));
  if (created > static_cast<uint64_t>(INT64_MAX)) {
    return MakeError(ErrorCode::kInvalidArgument, "manifest creation time is negative");
  }
  m.created_at_ms = static_cast<int64_t>(created);
  ASSIGN_OR_RETURN(uint64_t count, r.Int(4, "the file count"));
  if (count > kMaxBundleFiles) {
    return MakeError(ErrorCode::kInvalidArgument, "manifest lists " + std::to_string(count) +
                                                      " files; the limit is " +
                                                      std::to_string(kMaxBundleFiles));
  }
  // Each entry takes at least 2 + 1 + 8 + 32 + 1 + 1 = 45 bytes: check before reserving.
  if (count * 45 > r.remaining()) {
    return MakeError(ErrorCode::kCorrupt,
                     "manifest too short for " + std::to_string(count) + " files");
  }
  m.files.reserve(static_cast<std::size_t>(count));
  for (uint64_t i = 0; i < count; ++i) {
    ManifestFile f;
    ASSIGN_OR_RETURN(uint64_t path_len, r.Int(2, "a path length"));
    ASSIGN_OR_RETURN(auto path, r.Take(static_cast<std::size_t>(path_len), "a path"));
    f.path.assign(path.begin(), path.end());
    ASSIGN_OR_RETURN(f.size, r.Int(8, "a file size"));
    ASSIGN_OR_RETURN(auto hash, r.Take(32, "a file hash"));
    std::copy(hash.begin(), hash.end(), f.hash.bytes.begin());
    ASSIGN_OR_RETURN(uint64_t type_len, r.Int(1, "a media type length"));
    ASSIGN_OR_RETURN(auto type, r.Take(static_cast<std::size_t>(type_len), "a media type"));
    f.media_type.assign(type.begin(), type.end());
    m.files.push_back(std::move(f));
  }
  if (r.remaining() != 0) {
    return MakeError(ErrorCode::kCorrupt,
                     "manifest has " + std::to_string(r.remaining()) + " trailing bytes");
  }
  return m;
}

}  // namespace

Result<Manifest> Manifest::Decode(std::span<const uint8_t> bytes) {
  ASSIGN_OR_RETURN(Manifest m, ParseManifest(bytes));
  TRY(m.Validate());
  return m;
}

// ---- create / pack -------------------------------------------------------------

namespace {

struct InputFile {
  std::string path;
  std::filesystem::path source;
};

Result<void> CollectInput(const std::filesystem::path& input, std::vector<InputFile>& out) {
  std::error_code ec;
  std::filesystem::path abs = std::filesystem::absolute(input, ec).lexically_normal();
  if (ec) return MakeError(ErrorCode::kInvalidArgument, "bad path " + input.string());
  if (abs.filename().empty()) abs = abs.parent_path();
  std::string base = abs.filename().string();
  if (base.empty() || base == "/") {
    return MakeError(ErrorCode::kInvalidArgument, "cannot bundle the root directory");
  }
  auto status = std::filesystem::symlink_status(abs, ec);
  if (ec)
    return MakeError(ErrorCode::kNotFound, "cannot read " + input.string() + ": " + ec.message());
  if (std::filesystem::is_symlink(status)) {
    return MakeError(ErrorCode::kInvalidArgument,
                     input.string() + " is a symbolic link; links are not bundled");
  }
  if (std::filesystem::is_regular_file(status)) {
    out.push_back({base, abs});
    return core::Ok();
  }
  if (!std::filesystem::is_directory(status)) {
    return MakeError(ErrorCode::kInvalidArgument, input.string() + " is not a file or directory");
  }
  for (auto it = std::filesystem::recursive_directory_iterator(abs, ec);
       !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
    auto st = it->symlink_status(ec);
    if (ec) break;
    if (std::filesystem::is_directory(st)) continue;
    if (std::filesystem::is_symlink(st)) {
      return MakeError(ErrorCode::kInvalidArgument,
                       it->path().string() + " is a symbolic link; links are not bundled");
    }
    if (!std::filesystem::is_regular_file(st)) {
      return MakeError(ErrorCode::kInvalidArgument, it->path().string() + " is not a regular file");
    }
    out.push_back({base + "/" + it->path().lexically_relative(abs).generic_string(), it->path()});
  }
  if (ec) return MakeError(ErrorCode::kIo, "reading " + abs.string() + ": " + ec.message());
  return core::Ok();
}

// Fills manifest_bytes, payload size and tessera hash of a bundle whose manifest,
// signature and sources are set.
Result<void> Seal(Bundle& b) {
  if (b.manifest_bytes.size() > kMaxManifestBytes) {
    return MakeError(
        ErrorCode::kInvalidArgument,
        "manifest of " + std::to_string(b.manifest_bytes.size()) + " bytes exceeds the limit");
  }
  ASSIGN_OR_RETURN(b.payload_size, PayloadSize(b.manifest, b.manifest_bytes.size()));
  b.tessera_hash = ContentHash{};
  CountingSink sink;
  ASSIGN_OR_RETURN(b.tessera_hash, PackBundle(b, sink));
  return core::Ok();
}

}  // namespace

Result<Bundle> CreateBundle(std::span<const std::filesystem::path> inputs,
                            const crypto::Identity& creator, int64_t created_at_ms) {
  if (inputs.empty()) return MakeError(ErrorCode::kInvalidArgument, "nothing to bundle");
  std::vector<InputFile> files;
  for (const auto& in : inputs) TRY(CollectInput(in, files));
  std::sort(files.begin(), files.end(),
            [](const InputFile& a, const InputFile& b) { return a.path < b.path; });
  Bundle b;
  b.manifest.creator = creator.public_key();
  b.manifest.created_at_ms = created_at_ms;
  uint64_t total = 0;
  for (const auto& f : files) {
    ManifestFile mf;
    mf.path = f.path;
    ASSIGN_OR_RETURN(mf.hash, HashFile(f.source, &mf.size));
    total += mf.size;
    if (total > core::kMaxTesseraSize) {
      return MakeError(ErrorCode::kTesseraTooBig, "the files add up to more than " +
                                                      std::to_string(core::kMaxTesseraSize) +
                                                      " bytes (1 GiB)");
    }
    mf.media_type = std::string(GuessMediaType(f.path));
    b.manifest.files.push_back(std::move(mf));
    b.sources.push_back(f.source);
  }
  TRY(b.manifest.Validate());  // duplicates across inputs, unsafe names
  b.manifest_bytes = b.manifest.Encode();
  b.signature = creator.Sign(SignedMessage(b.manifest_bytes));
  TRY(Seal(b));
  return b;
}

Result<Bundle> BundleFromDirectory(const Manifest& manifest, const crypto::Signature& signature,
                                   const std::filesystem::path& root) {
  TRY(manifest.Validate());
  Bundle b;
  b.manifest = manifest;
  b.manifest_bytes = manifest.Encode();
  if (!crypto::VerifySignature(manifest.creator, SignedMessage(b.manifest_bytes), signature)) {
    return MakeError(ErrorCode::kCorrupt, "manifest signature does not verify");
  }
  b.signature = signature;
  for (const auto& f : manifest.files) b.sources.push_back(root / f.path);
  TRY(Seal(b));
  return b;
}

Result<ContentHash> PackBundle(const Bundle& b, core::ByteSink& out) {
  if (b.sources.size() != b.manifest.files.size()) {
    return MakeError(ErrorCode::kInvalidArgument, "bundle sources do not match its manifest");
  }
  crypto::Blake3Hasher payload;
  auto emit = [&](std::span<const uint8_t> data) -> Result<void> {
    payload.Update(data);
    return out.Write(data);
  };
  TRY(emit(EncodeHeader(static_cast<uint32_t>(b.manifest_bytes.size()))));
  TRY(emit(b.manifest_bytes));
  TRY(emit(b.signature));
  std::vector<uint8_t> buf(kChunk);
  for (std::size_t i = 0; i < b.sources.size(); ++i) {
    const ManifestFile& f = b.manifest.files[i];
    ASSIGN_OR_RETURN(UniqueFd fd, OpenForRead(b.sources[i]));
    crypto::Blake3Hasher file_hash;
    uint64_t done = 0;
    while (done < f.size) {
      std::size_t want = static_cast<std::size_t>(std::min<uint64_t>(buf.size(), f.size - done));
      ssize_t n = ::read(fd.get(), buf.data(), want);
      if (n < 0) {
        if (errno == EINTR) continue;
        return ErrnoError("read", b.sources[i], errno);
      }
      if (n == 0) break;
      std::span<const uint8_t> chunk(buf.data(), static_cast<std::size_t>(n));
      file_hash.Update(chunk);
      TRY(emit(chunk));
      done += static_cast<uint64_t>(n);
    }
    uint8_t probe;
    ssize_t extra = ::read(fd.get(), &probe, 1);
    if (done != f.size || extra != 0 || file_hash.Finalize() != f.hash) {
      return MakeError(ErrorCode::kCorrupt, "file '" + f.path + "' (" + b.sources[i].string() +
                                                ") changed since the tessera was created");
    }
  }
  ContentHash h = payload.Finalize();
  if (!b.tessera_hash.IsZero() && h != b.tessera_hash) {
    return MakeError(ErrorCode::kCorrupt,
                     "payload hashes to " + h.ToHex() + ", expected " + b.tessera_hash.ToHex());
  }
  TRY(out.Finish());
  return h;
}

// ---- unpack --------------------------------------------------------------------

namespace {

// Writes verified files under a fresh temporary directory; removes it unless
// released.
class StagingDir {
 public:
  ~StagingDir() {
    if (!path_.empty()) {
      std::error_code ec;
      std::filesystem::remove_all(path_, ec);
    }
  }
  Result<void> Create(const std::filesystem::path& target) {
    std::filesystem::path parent = target.parent_path();
    if (parent.empty()) parent = ".";
    TRY(EnsureDir(parent));
    std::filesystem::path p =
        parent / ("." + target.filename().string() + ".unpack-" + RandomHex(8));
    if (::mkdir(p.c_str(), 0755) != 0) return ErrnoError("mkdir", p, errno);
    path_ = p;
    dirs_.push_back(p);
    return core::Ok();
  }
  // Creates the parent directories of `rel` (already validated) and the file.
  Result<UniqueFd> CreateFile(const std::string& rel) {
    std::size_t pos = 0;
    while ((pos = rel.find('/', pos)) != std::string::npos) {
      std::filesystem::path d = path_ / rel.substr(0, pos);
      if (created_.insert(rel.substr(0, pos)).second) {
        if (::mkdir(d.c_str(), 0755) != 0) return ErrnoError("mkdir", d, errno);
        dirs_.push_back(d);
      }
      ++pos;
    }
    std::filesystem::path p = path_ / rel;
    int fd = ::open(p.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (fd < 0) return ErrnoError("create", p, errno);
    return UniqueFd(fd);
  }
  // fsyncs every directory, renames the staging directory to `target`.
  Result<void> MoveTo(const std::filesystem::path& target) {
    for (auto it = dirs_.rbegin(); it != dirs_.rend(); ++it) TRY(FsyncDir(*it));
    if (::rename(path_.c_str(), target.c_str()) != 0) return ErrnoError("rename to", target, errno);
    path_.clear();
    std::filesystem::path parent = target.parent_path();
    return FsyncDir(parent.empty() ? std::filesystem::path(".") : parent);
  }

 private:
  std::filesystem::path path_;
  std::vector<std::filesystem::path> dirs_;
  std::set<std::string> created_;
};

Result<UnpackedBundle> UnpackImpl(core::ByteSource& src, std::optional<ContentHash> expected,
                                  const std::filesystem::path* target) {
  crypto::Blake3Hasher payload;
  uint8_t header[kBundleHeaderBytes];
  TRY(ReadExact(src, header, "the header"));
  payload.Update(header);
  if (std::memcmp(header, kBundleMagic.data(), kBundleMagic.size()) != 0) {
    return MakeError(ErrorCode::kCorrupt, "not a tessera bundle (bad magic)");
  }
  uint64_t version = GetLE(header + 8, 2);
  if (version != kBundleVersion) {
    return MakeError(ErrorCode::kVersionMismatch,
                     "bundle format version " + std::to_string(version) + " is not supported (" +
                         std::to_string(kBundleVersion) + " is)");
  }
  if (GetLE(header + 10, 2) != 0) {
    return MakeError(ErrorCode::kCorrupt, "bundle header reserved field is not zero");
  }
  uint64_t manifest_len = GetLE(header + 12, 4);
  if (manifest_len > kMaxManifestBytes) {
    return MakeError(ErrorCode::kInvalidArgument,
                     "bundle manifest of " + std::to_string(manifest_len) +
                         " bytes exceeds the limit of " + std::to_string(kMaxManifestBytes));
  }
  std::vector<uint8_t> manifest_bytes(static_cast<std::size_t>(manifest_len));
  TRY(ReadExact(src, manifest_bytes, "the manifest"));
  payload.Update(manifest_bytes);
  UnpackedBundle out;
  ASSIGN_OR_RETURN(out.manifest, ParseManifest(manifest_bytes));
  TRY(ReadExact(src, out.signature, "the signature"));
  payload.Update(out.signature);
  if (!crypto::VerifySignature(out.manifest.creator, SignedMessage(manifest_bytes),
                               out.signature)) {
    return MakeError(ErrorCode::kCorrupt, "bundle manifest signature does not verify");
  }
  // Signed by its creator, yet still untrusted: paths, order, sizes.
  TRY(out.manifest.Validate());
  ASSIGN_OR_RETURN(out.payload_size, PayloadSize(out.manifest, manifest_bytes.size()));

  StagingDir staging;
  if (target) {
    std::error_code ec;
    if (std::filesystem::exists(std::filesystem::symlink_status(*target, ec))) {
      return MakeError(ErrorCode::kAlreadyExists, target->string() + " already exists");
    }
    TRY(staging.Create(*target));
  }
  std::vector<uint8_t> buf(kChunk);
  for (const ManifestFile& f : out.manifest.files) {
    UniqueFd fd;
    std::filesystem::path shown = f.path;
    if (target) {
      ASSIGN_OR_RETURN(fd, staging.CreateFile(f.path));
    }
    crypto::Blake3Hasher file_hash;
    for (uint64_t done = 0; done < f.size;) {
      std::size_t n = static_cast<std::size_t>(std::min<uint64_t>(buf.size(), f.size - done));
      std::span<uint8_t> chunk(buf.data(), n);
      TRY(ReadExact(src, chunk, "file '" + f.path + "'"));
      payload.Update(chunk);
      file_hash.Update(chunk);
      if (fd.valid()) TRY(WriteAll(fd.get(), chunk, shown));
      done += n;
    }
    if (file_hash.Finalize() != f.hash) {
      return MakeError(ErrorCode::kCorrupt, "file '" + f.path + "' does not match its hash");
    }
    if (fd.valid()) TRY(FsyncFd(fd.get(), shown));
  }
  uint8_t probe[1];
  if (TRY(src.Read(probe)) != 0) {
    return MakeError(ErrorCode::kCorrupt, "bundle payload has bytes after the last file");
  }
  out.tessera_hash = payload.Finalize();
  if (expected && *expected != out.tessera_hash) {
    return MakeError(ErrorCode::kCorrupt, "bundle payload hashes to " + out.tessera_hash.ToHex() +
                                              ", expected tessera " + expected->ToHex());
  }
  if (target) TRY(staging.MoveTo(*target));
  return out;
}

}  // namespace

Result<UnpackedBundle> UnpackBundle(core::ByteSource& payload,
                                    std::optional<ContentHash> expected_hash,
                                    const std::filesystem::path& target_dir) {
  if (target_dir.empty() || target_dir.filename().empty()) {
    return MakeError(ErrorCode::kInvalidArgument,
                     "unpack target '" + target_dir.string() + "' must name a new directory");
  }
  return UnpackImpl(payload, expected_hash, &target_dir);
}

Result<UnpackedBundle> UnpackBundle(core::RandomAccessSource& payload,
                                    std::optional<ContentHash> expected_hash,
                                    const std::filesystem::path& target_dir) {
  core::SequentialReader reader(payload);
  return UnpackBundle(reader, expected_hash, target_dir);
}

Result<UnpackedBundle> VerifyBundle(core::ByteSource& payload,
                                    std::optional<ContentHash> expected_hash) {
  return UnpackImpl(payload, expected_hash, nullptr);
}

}  // namespace tesseras::storage
