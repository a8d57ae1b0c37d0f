#include "crypto/identity.h"

#include <fcntl.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "crypto/blake3_hasher.h"

namespace tesseras::crypto {
namespace {

constexpr std::string_view kIdContext = "tesseras 2026 node id v1";
constexpr std::string_view kPowContext = "tesseras 2026 node id pow v1";
constexpr std::string_view kKeyFileMagic = "tesseras-node-key v1";

core::Result<void> EnsureSodium() {
  if (sodium_init() < 0) return core::MakeError(core::ErrorCode::kInternal, "sodium_init failed");
  return core::Ok();
}

core::Error IoError(const std::string& what, const std::filesystem::path& p, int err) {
  return core::MakeError(core::ErrorCode::kIo, what + " " + p.string() + ": " + std::strerror(err));
}

}  // namespace

core::NodeId NodeIdFromPublicKey(const PublicKey& pk) {
  Blake3Hasher h = Blake3Hasher::ForContext(kIdContext);
  h.Update(pk);
  core::NodeId id;
  id.bytes = h.Finalize().bytes;
  return id;
}

int PowBits(const PublicKey& pk, uint64_t nonce) {
  Blake3Hasher h = Blake3Hasher::ForContext(kPowContext);
  h.Update(pk);
  uint8_t le[8];
  for (int i = 0; i < 8; ++i) le[i] = static_cast<uint8_t>(nonce >> (8 * i));
  h.Update(le);
  return core::LeadingZeroBits(h.Finalize().bytes);
}

core::Result<void> VerifyNodeIdentity(const core::NodeId& claimed, const PublicKey& pk,
                                      uint64_t nonce, int min_pow_bits) {
  if (NodeIdFromPublicKey(pk) != claimed) {
    return core::MakeError(core::ErrorCode::kPermissionDenied,
                           "node id " + claimed.Short() + "… does not match its public key");
  }
  int bits = PowBits(pk, nonce);
  if (bits < min_pow_bits) {
    return core::MakeError(core::ErrorCode::kPermissionDenied,
                           "node id " + claimed.Short() + "… has a proof of work of " +
                               std::to_string(bits) + " bits; " + std::to_string(min_pow_bits) +
                               " required");
  }
  return core::Ok();
}

bool VerifySignature(const PublicKey& pk, std::span<const uint8_t> message,
                     std::span<const uint8_t> signature) {
  if (signature.size() != crypto_sign_BYTES) return false;
  if (!EnsureSodium().ok()) return false;
  return crypto_sign_verify_detached(signature.data(), message.data(), message.size(), pk.data()) ==
         0;
}

core::Result<Identity> Identity::FromSeed(const Seed& seed, int pow_bits) {
  TRY(EnsureSodium());
  if (pow_bits < 0 || pow_bits > 32) {
    return core::MakeError(core::ErrorCode::kInvalidArgument,
                           "proof-of-work difficulty must be 0..32 bits");
  }
  Identity id;
  id.seed_ = seed;
  crypto_sign_seed_keypair(id.pk_.data(), id.sk_.data(), seed.data());
  id.id_ = NodeIdFromPublicKey(id.pk_);
  uint64_t nonce = 0;
  while (PowBits(id.pk_, nonce) < pow_bits) ++nonce;
  id.nonce_ = nonce;
  return id;
}

core::Result<Identity> Identity::Generate(int pow_bits) {
  TRY(EnsureSodium());
  Seed seed;
  randombytes_buf(seed.data(), seed.size());
  auto id = FromSeed(seed, pow_bits);
  sodium_memzero(seed.data(), seed.size());
  return id;
}

Signature Identity::Sign(std::span<const uint8_t> message) const {
  Signature sig;
  crypto_sign_detached(sig.data(), nullptr, message.data(), message.size(), sk_.data());
  return sig;
}

core::Result<void> Identity::Save(const std::filesystem::path& path) const {
  std::ostringstream text;
  text << kKeyFileMagic << "\nseed " << core::ToHex(seed_) << "\npow-nonce " << nonce_ << "\n";
  std::string body = text.str();
  std::filesystem::path tmp = path;
  tmp += ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return IoError("cannot create", tmp, errno);
  ::fchmod(fd, 0600);  // in case the file already existed with wider bits
  std::size_t off = 0;
  while (off < body.size()) {
    ssize_t n = ::write(fd, body.data() + off, body.size() - off);
    if (n < 0) {
      if (errno == EINTR) continue;
      int err = errno;
      ::close(fd);
      ::unlink(tmp.c_str());
      return IoError("cannot write", tmp, err);
    }
    off += static_cast<std::size_t>(n);
  }
  if (::fsync(fd) != 0) {
    int err = errno;
    ::close(fd);
    ::unlink(tmp.c_str());
    return IoError("cannot fsync", tmp, err);
  }
  ::close(fd);
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    int err = errno;
    ::unlink(tmp.c_str());
    return IoError("cannot rename into", path, err);
  }
  sodium_memzero(body.data(), body.size());
  return core::Ok();
}

core::Result<Identity> Identity::Load(const std::filesystem::path& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return IoError("cannot read key", path, errno);
  if ((st.st_mode & 077) != 0) {
    return core::MakeError(
        core::ErrorCode::kPermissionDenied,
        "key file " + path.string() + " is readable by others; run: chmod 600 " + path.string());
  }
  std::ifstream in(path);
  if (!in) return IoError("cannot open key", path, errno);
  std::string magic, seed_word, seed_hex, nonce_word;
  uint64_t nonce = 0;
  std::getline(in, magic);
  in >> seed_word >> seed_hex >> nonce_word >> nonce;
  if (magic != kKeyFileMagic || seed_word != "seed" || nonce_word != "pow-nonce" || in.fail()) {
    return core::MakeError(core::ErrorCode::kCorrupt,
                           "key file " + path.string() + " is not a tesseras-node-key v1 file");
  }
  Seed seed;
  auto hex = core::FromHex(seed_hex, seed);
  if (!hex.ok()) {
    return core::MakeError(core::ErrorCode::kCorrupt,
                           "key file " + path.string() + ": bad seed: " + hex.error().message);
  }
  // Re-derive everything from the seed; keep the saved proof (it may have been
  // minted with a higher difficulty than today's default).
  ASSIGN_OR_RETURN(Identity id, FromSeed(seed, 0));
  id.nonce_ = nonce;
  sodium_memzero(seed.data(), seed.size());
  return id;
}

core::Result<Identity> Identity::LoadOrCreate(const std::filesystem::path& path, int pow_bits) {
  std::error_code ec;
  if (std::filesystem::exists(path, ec)) {
    ASSIGN_OR_RETURN(Identity id, Load(path));
    if (PowBits(id.pk_, id.nonce_) < pow_bits) {
      return core::MakeError(core::ErrorCode::kPermissionDenied,
                             "key file " + path.string() + " has a proof of work below " +
                                 std::to_string(pow_bits) + " bits");
    }
    return id;
  }
  ASSIGN_OR_RETURN(Identity id, Generate(pow_bits));
  TRY(id.Save(path));
  return id;
}

}  // namespace tesseras::crypto
