// Cache file writing and reading (format in cache_file.h).
#include "pipeline/cache_file.h"

#include <fcntl.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "pipeline/error.h"

namespace stoker::detail {
namespace {

constexpr char kMagic[8] = {'S', 'T', 'K', 'C', 'A', 'C', 'H', 'E'};
constexpr char kEnd[8] = {'S', 'T', 'K', 'C', 'E', 'N', 'D', '!'};
constexpr std::uint32_t kVersion = 2;  // 2: fingerprint in the header, CRC-32 per record
constexpr std::size_t kHeaderBytes = sizeof kMagic + sizeof kVersion + sizeof(std::uint32_t);  // + fingerprint
constexpr std::size_t kFooterBytes = sizeof kEnd + sizeof(std::uint64_t);
constexpr std::size_t kReadBlock = 1 << 20;
constexpr std::uint32_t kMaxFingerprintBytes = 16u << 20;

Error io_error(const std::string& path, const std::string& what) {
  const int err = errno;
  std::string msg = what + ": " + std::strerror(err);
  if (err == ENOSPC || err == EFBIG || err == EDQUOT) msg += " (disk full or file size limit?)";
  return Error(ErrorCode::kIo, msg, {"cache", path});
}

std::uint32_t crc_update(std::uint32_t crc, const void* p, std::size_t n) {
  const auto* b = static_cast<const Bytef*>(p);
  while (n > 0) {
    const uInt take = static_cast<uInt>(std::min<std::size_t>(n, 1u << 30));
    crc = static_cast<std::uint32_t>(crc32(crc, b, take));
    b += take;
    n -= take;
  }
  return crc;
}

}  // namespace

CacheWriter::CacheWriter(std::string path, const std::string& fingerprint) : path_(std::move(path)) {
  if (path_.empty()) {
    file_ = std::tmpfile();
    if (!file_) throw io_error("<temporary spill file>", "cannot create");
  } else {
    out_ = std::make_unique<AtomicFile>(path_, "cache");
    file_ = std::fopen(out_->temp_path().c_str(), "w+bx");
    if (!file_) throw io_error(path_, "cannot create the cache's temporary file " + out_->temp_path());
  }
  std::setvbuf(file_, nullptr, _IOFBF, 1 << 20);
  const auto fp_bytes = static_cast<std::uint32_t>(std::min<std::size_t>(fingerprint.size(), kMaxFingerprintBytes));
  write(kMagic, sizeof kMagic);
  write(&kVersion, sizeof kVersion);
  write(&fp_bytes, sizeof fp_bytes);
  write(fingerprint.data(), fp_bytes);
  data_offset_ = kHeaderBytes + fp_bytes;
}

CacheWriter::~CacheWriter() {
  if (file_) std::fclose(file_);
  // out_ (destroyed after this body) removes the temporary file unless finish() published it.
}

void CacheWriter::write(const void* p, std::size_t n) {
  if (failed_) throw Error(ErrorCode::kIo, "not written: an earlier write to this cache failed", {"cache", path_});
  if (n && std::fwrite(p, 1, n, file_) != n) {
    failed_ = true;  // sticky: finish() will refuse to publish
    Error e = io_error(path_.empty() ? "<temporary spill file>" : path_, "write failed");
    if (out_) out_->fail();
    throw e;
  }
  crc_ = crc_update(crc_, p, n);
}

void CacheWriter::append(const Element& e) {
  crc_ = 0;
  auto n = static_cast<std::uint32_t>(e.size());
  write(&n, sizeof n);
  for (const Tensor& t : e) {
    auto dtype = static_cast<std::uint8_t>(t.dtype());
    auto rank = static_cast<std::uint8_t>(t.shape().rank());
    std::uint64_t nbytes = t.nbytes();
    write(&dtype, 1);
    write(&rank, 1);
    write(t.shape().dims().data(), sizeof(std::int64_t) * rank);
    write(&nbytes, sizeof nbytes);
    write(t.data(), t.nbytes());
  }
  const std::uint32_t crc = crc_;
  write(&crc, sizeof crc);
  ++count_;
}

void CacheWriter::finish() {
  if (finished_) return;
  write(kEnd, sizeof kEnd);
  write(&count_, sizeof count_);
  if (std::fflush(file_) != 0) {
    failed_ = true;
    Error e = io_error(path_, "flush failed");
    if (out_) out_->fail();
    throw e;
  }
  if (out_) {
    const int rc = std::fclose(file_);
    file_ = nullptr;
    if (rc != 0) {
      failed_ = true;
      Error e = io_error(path_, "close failed");
      out_->fail();
      throw e;
    }
    out_->commit();  // fsync, rename over path_, fsync the folder
  }
  finished_ = true;
}

int CacheWriter::fd() const { return ::fileno(file_); }

std::unique_ptr<CacheReader> CacheReader::open_if_complete(const std::string& path, const std::string& fingerprint) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return nullptr;
  struct Closer {
    int& fd;
    ~Closer() {
      if (fd >= 0) ::close(fd);
    }
  } closer{fd};
  const off_t size = ::lseek(fd, 0, SEEK_END);
  char head[kHeaderBytes];
  if (size < static_cast<off_t>(sizeof kMagic) || ::pread(fd, head, sizeof kMagic, 0) != sizeof kMagic ||
      std::memcmp(head, kMagic, sizeof kMagic) != 0) {
    throw Error(ErrorCode::kInvalidArgument,
                "a file that is not a stoker cache is at the cache path; not replacing it (delete it or choose another path)",
                {"cache", path});
  }
  std::uint32_t version = 0, fp_bytes = 0;
  if (size < static_cast<off_t>(kHeaderBytes + kFooterBytes) || ::pread(fd, head, sizeof head, 0) != sizeof head) return nullptr;
  std::memcpy(&version, head + sizeof kMagic, sizeof version);
  std::memcpy(&fp_bytes, head + sizeof kMagic + sizeof version, sizeof fp_bytes);
  // Another version, or a header cut short: ours to rebuild.
  if (version != kVersion || fp_bytes > kMaxFingerprintBytes ||
      static_cast<std::uint64_t>(size) < kHeaderBytes + fp_bytes + kFooterBytes) {
    return nullptr;
  }
  std::string stored(fp_bytes, '\0');
  if (::pread(fd, stored.data(), fp_bytes, kHeaderBytes) != static_cast<ssize_t>(fp_bytes)) return nullptr;
  if (stored != fingerprint.substr(0, kMaxFingerprintBytes)) return nullptr;  // made from other input
  char foot[kFooterBytes];
  if (::pread(fd, foot, sizeof foot, size - static_cast<off_t>(kFooterBytes)) != sizeof foot ||
      std::memcmp(foot, kEnd, sizeof kEnd) != 0) {
    return nullptr;  // cut short
  }
  std::uint64_t count = 0;
  std::memcpy(&count, foot + kFooterBytes - sizeof count, sizeof count);
  auto r = std::make_unique<CacheReader>(fd, count, kHeaderBytes + fp_bytes, path);
  fd = -1;
  r->owns_fd_ = true;
  r->end_ = static_cast<std::uint64_t>(size) - kFooterBytes;
  return r;
}

CacheReader::CacheReader(int fd, std::uint64_t count, std::uint64_t data_offset, std::string name)
    : fd_(fd), count_(count), offset_(data_offset), name_(std::move(name)) {}

CacheReader::~CacheReader() {
  if (owns_fd_) ::close(fd_);
}

void CacheReader::read_exact(void* p, std::size_t n) {
  const std::size_t want = n;
  auto* dst = static_cast<char*>(p);
  while (n > 0) {
    if (buf_pos_ == buf_len_) {
      if (n >= kReadBlock) {  // large payload: read straight into place
        ssize_t got = ::pread(fd_, dst, n, static_cast<off_t>(offset_));
        if (got <= 0) break;
        offset_ += static_cast<std::uint64_t>(got);
        dst += got;
        n -= static_cast<std::size_t>(got);
        continue;
      }
      buf_.resize(kReadBlock);
      ssize_t got = ::pread(fd_, buf_.data(), kReadBlock, static_cast<off_t>(offset_));
      if (got <= 0) break;
      offset_ += static_cast<std::uint64_t>(got);
      buf_pos_ = 0;
      buf_len_ = static_cast<std::size_t>(got);
    }
    std::size_t take = std::min(n, buf_len_ - buf_pos_);
    std::memcpy(dst, buf_.data() + buf_pos_, take);
    buf_pos_ += take;
    dst += take;
    n -= take;
  }
  if (n > 0) {
    throw Error(ErrorCode::kDataLoss, "cache file ends inside a record", {"cache", name_, static_cast<std::int64_t>(index_)});
  }
  crc_ = crc_update(crc_, p, want);
}

bool CacheReader::next(Element& out) {
  // After corruption the read position is meaningless: end rather than decode garbage.
  if (index_ >= count_ || failed_) return false;
  failed_ = true;  // cleared when the record is read whole
  auto bad = [&](const std::string& what) {
    return Error(ErrorCode::kDataLoss, "corrupt cache record: " + what, {"cache", name_, static_cast<std::int64_t>(index_)});
  };
  crc_ = 0;
  std::uint32_t n = 0;
  read_exact(&n, sizeof n);
  if (n > 64) throw bad(std::to_string(n) + " components");
  Element e;
  for (std::uint32_t k = 0; k < n; ++k) {
    std::uint8_t dtype = 0, rank = 0;
    read_exact(&dtype, 1);
    read_exact(&rank, 1);
    if (dtype > static_cast<std::uint8_t>(DType::kF64) || rank > Shape::kMaxRank) throw bad("bad dtype or rank");
    std::int64_t dims[Shape::kMaxRank];
    read_exact(dims, sizeof(std::int64_t) * rank);
    std::uint64_t nbytes = 0;
    read_exact(&nbytes, sizeof nbytes);
    Shape shape = Shape::from({dims, rank});
    auto dt = static_cast<DType>(dtype);
    std::uint64_t expect = dtype_size(dt);
    for (std::int64_t d : shape.dims()) {
      if (d < 0 || __builtin_mul_overflow(expect, static_cast<std::uint64_t>(d), &expect)) throw bad("bad dimension");
    }
    if (nbytes != expect || (end_ && nbytes > end_)) throw bad("size does not match shape " + shape.to_string());
    Tensor t(dt, shape);
    read_exact(t.mutable_data(), t.nbytes());
    e.push_back(std::move(t));
  }
  const std::uint32_t computed = crc_;
  std::uint32_t stored = 0;
  read_exact(&stored, sizeof stored);
  if (stored != computed) throw bad("CRC-32 mismatch (the file was changed or damaged; delete it to rebuild)");
  ++index_;
  failed_ = false;
  out = std::move(e);
  return true;
}

}  // namespace stoker::detail
