// IDX reader (see idx_source.h). Layout: 4-byte big-endian magic 0x000008TD (T = 08: uint8,
// D = number of dimensions), D big-endian uint32 dimensions, then the data in C order.
#include "formats/idx_source.h"

#include <zlib.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <filesystem>
#include <limits>
#include <memory>
#include <vector>

#include "pipeline/error.h"
#include "pipeline/stage.h"

namespace stoker {
namespace {

// A gzFile opened for reading; closed on destruction.
struct GzCloser {
  void operator()(gzFile_s* f) const { gzclose(f); }
};
using GzPtr = std::unique_ptr<gzFile_s, GzCloser>;

GzPtr open_or_throw(const std::string& path) {
  gzFile f = gzopen(path.c_str(), "rb");
  if (!f) throw Error(ErrorCode::kNotFound, "cannot open IDX file", {"idx", path, std::nullopt});
  gzbuffer(f, 1 << 16);
  return GzPtr(f);
}

// Reads exactly n bytes or throws kDataLoss naming what was being read.
void read_exact(gzFile f, void* dst, std::size_t n, const std::string& path, const char* what,
                std::optional<std::int64_t> record) {
  int got = gzread(f, dst, static_cast<unsigned>(n));
  if (got < 0) {
    int errnum = 0;
    const char* msg = gzerror(f, &errnum);
    throw Error(ErrorCode::kDataLoss, std::string("corrupt IDX file while reading ") + what + ": " + msg,
                {"idx", path, record});
  }
  if (static_cast<std::size_t>(got) != n) {
    throw Error(ErrorCode::kDataLoss,
                std::string("IDX file truncated while reading ") + what + " (wanted " + std::to_string(n) +
                    " bytes, got " + std::to_string(got) + ")",
                {"idx", path, record});
  }
}

struct IdxHeader {
  std::vector<std::int64_t> dims;
  std::int64_t count() const { return dims.empty() ? 0 : dims[0]; }
};

// Reads and checks the header of an IDX file of uint8 data with `rank` dimensions.
IdxHeader read_header(gzFile f, const std::string& path, int rank) {
  std::array<unsigned char, 4> magic{};
  read_exact(f, magic.data(), 4, path, "the magic number", std::nullopt);
  if (magic[0] != 0 || magic[1] != 0 || magic[2] != 0x08 || magic[3] != rank) {
    char buf[96];
    std::snprintf(buf, sizeof buf, "bad IDX magic %02x%02x%02x%02x: expected 000008%02x (uint8, %d dimensions)",
                  magic[0], magic[1], magic[2], magic[3], rank, rank);
    throw Error(ErrorCode::kDataLoss, buf, {"idx", path, std::nullopt});
  }
  IdxHeader h;
  for (int i = 0; i < rank; ++i) {
    std::array<unsigned char, 4> b{};
    read_exact(f, b.data(), 4, path, "the dimensions", std::nullopt);
    h.dims.push_back((std::int64_t{b[0]} << 24) | (b[1] << 16) | (b[2] << 8) | b[3]);
  }
  return h;
}

class IdxNode final : public DatasetNode {
 public:
  IdxNode(std::string images, std::string labels) : images_(std::move(images)), labels_(std::move(labels)) {
    GzPtr fi = open_or_throw(images_);
    IdxHeader hi = read_header(fi.get(), images_, 3);
    GzPtr fl = open_or_throw(labels_);
    IdxHeader hl = read_header(fl.get(), labels_, 1);
    if (hi.count() != hl.count()) {
      throw Error(ErrorCode::kInvalidArgument,
                  "IDX record counts differ: " + std::to_string(hi.count()) + " images in " + images_ + " but " +
                      std::to_string(hl.count()) + " labels in " + labels_,
                  {"idx", images_, std::nullopt});
    }
    if (hi.dims[1] <= 0 || hi.dims[2] <= 0) {
      throw Error(ErrorCode::kDataLoss, "IDX image dimensions must be positive", {"idx", images_, std::nullopt});
    }
    // One image must fit in what the file can hold: its size (raw) or 1032 times it (deflate
    // expands at most ~1032:1), and in one gzread (int). Checked before anything is allocated;
    // it also keeps rows x cols from overflowing.
    std::error_code ec;
    const std::uint64_t file_bytes = std::filesystem::file_size(images_, ec);
    const std::uint64_t can_hold =
        std::min<std::uint64_t>(std::numeric_limits<int>::max(), ec ? 0 : file_bytes * (gzdirect(fi.get()) ? 1 : 1032));
    const auto r = static_cast<std::uint64_t>(hi.dims[1]), c = static_cast<std::uint64_t>(hi.dims[2]);
    if (hi.count() > 0 && r > can_hold / c) {
      throw Error(ErrorCode::kDataLoss,
                  "IDX header gives images of " + std::to_string(r) + " x " + std::to_string(c) +
                      " bytes, more than a file of " + std::to_string(file_bytes) + " bytes can hold",
                  {"idx", images_, std::nullopt});
    }
    count_ = hi.count();
    rows_ = hi.dims[1];
    cols_ = hi.dims[2];
  }

  std::string name() const override { return "idx"; }
  std::string fingerprint() const override { return "idx(" + file_stamp(images_) + "; " + file_stamp(labels_) + ")"; }
  std::int64_t cardinality() const override { return count_; }

  std::unique_ptr<IteratorNode> make_iterator(const IterationContext& ctx) const override {
    class It final : public detail::StageIterator {
     public:
      It(const IterationContext& ctx, const IdxNode* n) : StageIterator(ctx, n), n_(n) {}
      bool next(Element& out) override {
        if (failed_ || index_ >= n_->count_) return false;
        try {
          if (!fi_) {
            fi_ = open_or_throw(n_->images_);
            read_header(fi_.get(), n_->images_, 3);
            fl_ = open_or_throw(n_->labels_);
            read_header(fl_.get(), n_->labels_, 1);
          }
          Tensor image(DType::kU8, Shape{n_->rows_, n_->cols_, 1});
          read_exact(fi_.get(), image.mutable_data(), image.nbytes(), n_->images_, "an image", index_);
          unsigned char label = 0;
          read_exact(fl_.get(), &label, 1, n_->labels_, "a label", index_);
          out = Element{std::move(image), Tensor::scalar<std::int32_t>(label)};
        } catch (const Error& e) {
          // A truncated or corrupt stream cannot be resynchronised: end after reporting it.
          failed_ = true;
          if (rt_.skip_error(counters_, e)) return false;
          throw;
        }
        ++index_;
        bump(counters_.elements_out);
        return true;
      }

     private:
      const IdxNode* n_;
      GzPtr fi_, fl_;
      std::int64_t index_ = 0;
      bool failed_ = false;
    };
    return std::make_unique<It>(ctx, this);
  }

 private:
  std::string images_, labels_;
  std::int64_t count_ = 0, rows_ = 0, cols_ = 0;
};

}  // namespace

Dataset idx(std::string images_path, std::string labels_path) {
  return Dataset(std::make_shared<IdxNode>(std::move(images_path), std::move(labels_path)));
}

}  // namespace stoker
