#include "tests/hostile/disk_handler.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <thread>

#include "crypto/blake3_hasher.h"

namespace tesseras::hostile {
namespace {

using core::ErrorCode;
using core::MakeError;
using core::Result;

class FileSource final : public core::RandomAccessSource {
 public:
  FileSource(int fd, uint64_t size, std::atomic<uint64_t>& counter)
      : fd_(fd), size_(size), counter_(counter) {}
  ~FileSource() override { ::close(fd_); }
  uint64_t Size() const override { return size_; }
  Result<void> ReadAt(uint64_t offset, std::span<uint8_t> out) override {
    std::size_t done = 0;
    while (done < out.size()) {
      ssize_t n =
          ::pread(fd_, out.data() + done, out.size() - done, static_cast<off_t>(offset + done));
      if (n <= 0) return MakeError(ErrorCode::kIo, "short read");
      done += static_cast<std::size_t>(n);
    }
    counter_ += out.size();
    return core::Ok();
  }

 private:
  int fd_;
  uint64_t size_;
  std::atomic<uint64_t>& counter_;
};

}  // namespace

class DiskIncoming final : public dht::IncomingFragment {
 public:
  DiskIncoming(DiskHandler& owner, std::filesystem::path final_path, core::FragmentEnvelope env,
               core::NodeId self)
      : owner_(owner),
        final_(std::move(final_path)),
        part_(final_.string() + ".part"),
        env_(std::move(env)),
        self_(self),
        out_(part_, std::ios::binary | std::ios::trunc) {
    int now = ++owner_.receiving_;
    int peak = owner_.peak_receiving_.load();
    while (now > peak && !owner_.peak_receiving_.compare_exchange_weak(peak, now)) {
    }
  }
  ~DiskIncoming() override {
    --owner_.receiving_;
    if (!finished_) {
      std::error_code ec;
      std::filesystem::remove(part_, ec);
    }
  }
  Result<void> Write(std::span<const uint8_t> data) override {
    hasher_.Update(data);
    out_.write(reinterpret_cast<const char*>(data.data()),
               static_cast<std::streamsize>(data.size()));
    if (!out_) return MakeError(ErrorCode::kIo, "write failed");
    return core::Ok();
  }
  Result<core::ReplicateAck> Finish() override {
    out_.close();
    if (hasher_.Finalize() != env_.id.checksum) {
      return MakeError(ErrorCode::kCorrupt, "fragment checksum differs from the envelope");
    }
    std::error_code ec;
    std::filesystem::rename(part_, final_, ec);
    if (ec) return MakeError(ErrorCode::kIo, ec.message());
    finished_ = true;
    return core::ReplicateAck{env_.id.tessera, self_, {env_.id.index}};
  }

 private:
  DiskHandler& owner_;
  std::filesystem::path final_;
  std::filesystem::path part_;
  core::FragmentEnvelope env_;
  core::NodeId self_;
  std::ofstream out_;
  crypto::Blake3Hasher hasher_;
  bool finished_ = false;
};

DiskHandler::DiskHandler(std::filesystem::path dir) : dir_(std::move(dir)) {
  std::filesystem::create_directories(dir_);
}

std::filesystem::path DiskHandler::PathOf(const core::ContentHash& tessera, uint32_t index) const {
  return dir_ / (tessera.ToHex() + "." + std::to_string(index));
}

void DiskHandler::Put(const core::ContentHash& tessera, uint32_t index,
                      std::span<const uint8_t> bytes) {
  std::ofstream out(PathOf(tessera, index), std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(bytes.data()),
            static_cast<std::streamsize>(bytes.size()));
}

std::vector<uint8_t> DiskHandler::Proof(const std::array<uint8_t, 32>& challenge,
                                        std::span<const uint8_t> bytes) {
  crypto::Blake3Hasher h;
  h.Update(challenge);
  h.Update(bytes);
  auto d = h.Finalize();
  return std::vector<uint8_t>(d.bytes.begin(), d.bytes.end());
}

Result<std::unique_ptr<dht::IncomingFragment>> DiskHandler::BeginReplicate(
    const dht::RequestContext&, const core::FragmentEnvelope& envelope) {
  if (begin_gate.valid()) begin_gate.wait_for(std::chrono::seconds(60));
  return std::unique_ptr<dht::IncomingFragment>(
      new DiskIncoming(*this, PathOf(envelope.id.tessera, envelope.id.index), envelope, self));
}

Result<core::Attestation> DiskHandler::Attest(const dht::RequestContext&,
                                              const core::ContentHash& tessera,
                                              const std::array<uint8_t, 32>& challenge,
                                              const std::vector<uint32_t>& indices,
                                              const std::optional<core::NodeId>&) {
  ++attestations_;
  core::Attestation a;
  a.tessera = tessera;
  a.holder = self;
  a.challenge = challenge;
  a.requested = indices;
  for (uint32_t i : indices) {
    int fd = ::open(PathOf(tessera, i).c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) continue;
    std::vector<uint8_t> bytes(static_cast<std::size_t>(::lseek(fd, 0, SEEK_END)));
    std::size_t done = 0;
    while (done < bytes.size()) {
      ssize_t n = ::pread(fd, bytes.data() + done, bytes.size() - done, static_cast<off_t>(done));
      if (n <= 0) break;
      done += static_cast<std::size_t>(n);
    }
    ::close(fd);
    if (done != bytes.size()) return MakeError(ErrorCode::kIo, "short read");
    bytes_read_ += bytes.size();
    core::FragmentProof p;
    p.index = i;
    p.checksum = crypto::Blake3(bytes);
    p.response = Proof(challenge, bytes);
    a.proofs.push_back(std::move(p));
  }
  return a;
}

Result<std::unique_ptr<core::RandomAccessSource>> DiskHandler::OpenFragment(
    const dht::RequestContext&, const core::ContentHash& tessera, uint32_t index,
    const std::optional<core::NodeId>&) {
  // One plan per hash here: the owner named, if any, does not choose.
  auto path = PathOf(tessera, index);
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return MakeError(ErrorCode::kNotFound, "no fragment " + std::to_string(index));
  off_t size = ::lseek(fd, 0, SEEK_END);
  return std::unique_ptr<core::RandomAccessSource>(
      new FileSource(fd, static_cast<uint64_t>(size), bytes_read_));
}

}  // namespace tesseras::hostile
