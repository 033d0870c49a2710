// Cache file writing and reading (format in cache_file.h).
#include "pipeline/cache_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>

#include "pipeline/error.h"

namespace stoker::detail {
namespace {

constexpr char kMagic[8] = {'S', 'T', 'K', 'C', 'A', 'C', 'H', 'E'};
constexpr char kEnd[8] = {'S', 'T', 'K', 'C', 'E', 'N', 'D', '!'};
constexpr std::uint32_t kVersion = 1;
constexpr std::size_t kHeaderBytes = sizeof kMagic + sizeof kVersion;
constexpr std::size_t kFooterBytes = sizeof kEnd + sizeof(std::uint64_t);
constexpr std::size_t kReadBlock = 1 << 20;

std::string unique_suffix() {
  static std::atomic<std::uint64_t> counter{0};
  return ".partial-" + std::to_string(::getpid()) + "-" + std::to_string(counter.fetch_add(1));
}

Error io_error(const std::string& path, const std::string& what) {
  return Error(ErrorCode::kIo, what + ": " + std::strerror(errno), {"cache", path});
}

}  // namespace

CacheWriter::CacheWriter(std::string path) : path_(std::move(path)) {
  if (path_.empty()) {
    file_ = std::tmpfile();
    if (!file_) throw io_error("<temporary spill file>", "cannot create");
  } else {
    tmp_path_ = path_ + unique_suffix();
    file_ = std::fopen(tmp_path_.c_str(), "w+b");
    if (!file_) throw io_error(tmp_path_, "cannot create cache file");
  }
  std::setvbuf(file_, nullptr, _IOFBF, 1 << 20);
  write(kMagic, sizeof kMagic);
  write(&kVersion, sizeof kVersion);
}

CacheWriter::~CacheWriter() {
  if (file_) std::fclose(file_);
  if (!finished_ && !tmp_path_.empty()) std::remove(tmp_path_.c_str());
}

void CacheWriter::write(const void* p, std::size_t n) {
  if (n && std::fwrite(p, 1, n, file_) != n) throw io_error(tmp_path_.empty() ? path_ : tmp_path_, "write failed");
}

void CacheWriter::append(const Element& e) {
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
  ++count_;
}

void CacheWriter::finish() {
  write(kEnd, sizeof kEnd);
  write(&count_, sizeof count_);
  if (std::fflush(file_) != 0) throw io_error(path_, "flush failed");
  if (!tmp_path_.empty()) {
    std::error_code ec;
    std::filesystem::rename(tmp_path_, path_, ec);
    if (ec) throw Error(ErrorCode::kIo, "cannot publish cache file: " + ec.message(), {"cache", path_});
  }
  finished_ = true;
}

int CacheWriter::fd() const { return ::fileno(file_); }

std::unique_ptr<CacheReader> CacheReader::open_if_complete(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return nullptr;
  const off_t size = ::lseek(fd, 0, SEEK_END);
  char head[kHeaderBytes], foot[kFooterBytes];
  const bool complete = size >= static_cast<off_t>(kHeaderBytes + kFooterBytes) &&
                        ::pread(fd, head, sizeof head, 0) == sizeof head &&
                        ::pread(fd, foot, sizeof foot, size - static_cast<off_t>(kFooterBytes)) == sizeof foot &&
                        std::memcmp(head, kMagic, sizeof kMagic) == 0 && std::memcmp(foot, kEnd, sizeof kEnd) == 0;
  if (!complete) {
    ::close(fd);
    return nullptr;
  }
  std::uint32_t version = 0;
  std::uint64_t count = 0;
  std::memcpy(&version, head + sizeof kMagic, sizeof version);
  std::memcpy(&count, foot + kFooterBytes - sizeof count, sizeof count);
  if (version != kVersion) {
    ::close(fd);
    throw Error(ErrorCode::kDataLoss, "not a complete stoker cache file (bad header or footer); delete it to rebuild",
                {"cache", path});
  }
  auto r = std::make_unique<CacheReader>(fd, count, path);
  r->owns_fd_ = true;
  r->end_ = static_cast<std::uint64_t>(size) - kFooterBytes;
  return r;
}

CacheReader::CacheReader(int fd, std::uint64_t count, std::string name)
    : fd_(fd), count_(count), offset_(kHeaderBytes), name_(std::move(name)) {}

CacheReader::~CacheReader() {
  if (owns_fd_) ::close(fd_);
}

void CacheReader::read_exact(void* p, std::size_t n) {
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
}

bool CacheReader::next(Element& out) {
  // After corruption the read position is meaningless: end rather than decode garbage.
  if (index_ >= count_ || failed_) return false;
  failed_ = true;  // cleared when the record is read whole
  auto bad = [&](const std::string& what) {
    return Error(ErrorCode::kDataLoss, "corrupt cache record: " + what, {"cache", name_, static_cast<std::int64_t>(index_)});
  };
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
  ++index_;
  failed_ = false;
  out = std::move(e);
  return true;
}

}  // namespace stoker::detail
