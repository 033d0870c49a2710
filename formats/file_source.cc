// image_folder / files sources (serial, cheap: they yield paths) and file reading helpers.
#include "formats/file_source.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <memory>

#include "pipeline/stage.h"

namespace stoker {
namespace {

namespace fs = std::filesystem;
using detail::StageIterator;

struct FileList {
  std::vector<std::string> paths;
  std::vector<std::int32_t> labels;
};

// Yields (path, label) for positions begin, begin+stride, ... of a shared file list. Sharding
// keeps the list and changes the stride, so a shard never touches other shards' files.
class FileListNode final : public DatasetNode {
 public:
  FileListNode(std::shared_ptr<const FileList> list, std::string name, std::int64_t begin, std::int64_t stride)
      : list_(std::move(list)), name_(std::move(name)), begin_(begin), stride_(stride) {}
  std::string name() const override { return name_; }
  // Every listed file's stamp, folded into a CRC-32 so the text stays short for any file count.
  std::string fingerprint() const override {
    std::uint32_t crc = 0;
    for (std::size_t i = 0; i < list_->paths.size(); ++i) {
      const std::string s = file_stamp(list_->paths[i]) + " label=" + std::to_string(list_->labels[i]) + "\n";
      crc = static_cast<std::uint32_t>(crc32(crc, reinterpret_cast<const Bytef*>(s.data()), static_cast<uInt>(s.size())));
    }
    return name_ + "(" + std::to_string(list_->paths.size()) + " files, stamps crc32=" + std::to_string(crc) + ", from " +
           std::to_string(begin_) + " every " + std::to_string(stride_) + ")";
  }
  std::int64_t cardinality() const override {
    auto n = static_cast<std::int64_t>(list_->paths.size());
    return n <= begin_ ? 0 : (n - begin_ + stride_ - 1) / stride_;
  }
  std::shared_ptr<const DatasetNode> shard_source(std::int64_t num, std::int64_t index) const override {
    return std::make_shared<FileListNode>(list_, name_, begin_ + index * stride_, stride_ * num);
  }
  std::unique_ptr<IteratorNode> make_iterator(const IterationContext& ctx) const override {
    class It final : public StageIterator {
     public:
      It(const IterationContext& ctx, const FileListNode* n) : StageIterator(ctx, n), n_(n), pos_(n->begin_) {}
      bool next(Element& out) override {
        const FileList& l = *n_->list_;
        if (pos_ >= static_cast<std::int64_t>(l.paths.size())) return false;
        auto i = static_cast<std::size_t>(pos_);
        out = Element{path_tensor(l.paths[i]), Tensor::scalar<std::int32_t>(l.labels[i])};
        pos_ += n_->stride_;
        bump(counters_.elements_out);
        return true;
      }

     private:
      const FileListNode* n_;
      std::int64_t pos_;
    };
    return std::make_unique<It>(ctx, this);
  }

 private:
  std::shared_ptr<const FileList> list_;
  std::string name_;
  std::int64_t begin_, stride_;
};

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

bool wanted(const fs::path& p, const std::vector<std::string>& exts) {
  if (exts.empty()) return true;
  std::string e = p.extension().string();
  if (e.empty()) return false;
  e = lower(e.substr(1));
  for (const std::string& x : exts) {
    if (lower(x) == e) return true;
  }
  return false;
}

std::string join(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& x : v) s += (s.empty() ? "" : ", ") + x;
  return s.empty() ? "any" : s;
}

// Opens `path` for reading and returns its size; throws naming the file.
int open_sized(const std::string& path, std::size_t& size) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    int e = errno;
    throw Error(e == ENOENT ? ErrorCode::kNotFound : ErrorCode::kIo,
                std::string("cannot open file: ") + std::strerror(e), {"read_file", path});
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    int e = errno;
    ::close(fd);
    throw Error(ErrorCode::kIo, S_ISREG(st.st_mode) ? std::string("fstat failed: ") + std::strerror(e) : "not a regular file",
                {"read_file", path});
  }
  size = static_cast<std::size_t>(st.st_size);
  return fd;
}

// Reads exactly `size` bytes into `dst` and closes fd; a file that changed size is an error.
void read_exact(int fd, const std::string& path, std::uint8_t* dst, std::size_t size) {
  std::size_t got = 0;
  while (got < size) {
    ssize_t r = ::read(fd, dst + got, size - got);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) {
      int e = errno;
      ::close(fd);
      throw Error(ErrorCode::kIo,
                  r == 0 ? "file shrank while being read (" + std::to_string(got) + " of " + std::to_string(size) + " bytes)"
                         : std::string("read failed: ") + std::strerror(e),
                  {"read_file", path});
    }
    got += static_cast<std::size_t>(r);
  }
  ::close(fd);
}

}  // namespace

void detail::ByteBuffer::resize(std::size_t n) {
  if (n > capacity) {
    std::size_t cap = std::max(n, capacity + capacity / 2);
    data.reset(new std::uint8_t[cap]);
    capacity = cap;
  }
  size = n;
}

void detail::ByteBuffer::trim(std::size_t keep) {
  if (capacity > keep) {
    data.reset();
    capacity = size = 0;
  }
}

void detail::read_whole_file(const std::string& path, ByteBuffer& buf, std::string_view signature,
                             std::size_t max_bytes) {
  std::size_t size = 0;
  int fd = open_sized(path, size);
  if (!signature.empty()) {
    const std::size_t head = std::min<std::size_t>(size, 64);
    buf.resize(head);
    if (head < signature.size() || ::pread(fd, buf.data.get(), head, 0) != static_cast<ssize_t>(head) ||
        std::memcmp(buf.data.get(), signature.data(), signature.size()) != 0) {
      ::close(fd);
      return;  // the caller's decoder names what these first bytes are
    }
  }
  if (size > max_bytes) {
    ::close(fd);
    throw Error(ErrorCode::kOutOfMemory,
                "file is " + std::to_string(size) + " bytes, more than the " + std::to_string(max_bytes) +
                    " one record may take",
                {"read_file", path});
  }
  buf.resize(size);
  read_exact(fd, path, buf.data.get(), size);
}

Tensor path_tensor(std::string_view path) {
  Tensor t(DType::kI8, Shape{static_cast<std::int64_t>(path.size())});
  if (!path.empty()) std::memcpy(t.mutable_data(), path.data(), path.size());
  return t;
}

std::string_view tensor_path(const Tensor& t) {
  if (t.dtype() != DType::kI8 || t.shape().rank() != 1) {
    throw Error(ErrorCode::kInvalidArgument, std::string("expected a path (int8 1-D tensor), got ") +
                                                 dtype_name(t.dtype()) + " " + t.shape().to_string());
  }
  return {reinterpret_cast<const char*>(t.data()), t.nbytes()};
}

ImageFolderListing list_image_folder(const std::string& root, const ImageFolderOptions& options) {
  std::error_code ec;
  fs::file_status st = fs::status(root, ec);
  if (!fs::exists(st)) throw Error(ErrorCode::kNotFound, "image folder does not exist", {"image_folder", root});
  if (!fs::is_directory(st)) throw Error(ErrorCode::kInvalidArgument, "not a directory", {"image_folder", root});

  ImageFolderListing out;
  for (const fs::directory_entry& d : fs::directory_iterator(root, ec)) {
    if (d.is_directory(ec)) out.classes.push_back(d.path().filename().string());
  }
  if (ec) throw Error(ErrorCode::kIo, "cannot list: " + ec.message(), {"image_folder", root});
  if (out.classes.empty()) {
    throw Error(ErrorCode::kInvalidArgument, "no class folders (expected root/<class>/<image>)", {"image_folder", root});
  }
  std::sort(out.classes.begin(), out.classes.end());
  for (std::size_t c = 0; c < out.classes.size(); ++c) {
    fs::path dir = fs::path(root) / out.classes[c];
    std::vector<std::string> found;
    auto take = [&](const fs::directory_entry& e) {
      if (e.is_regular_file(ec) && wanted(e.path(), options.extensions)) found.push_back(e.path().string());
    };
    if (options.recursive) {
      for (const auto& e : fs::recursive_directory_iterator(dir, fs::directory_options::follow_directory_symlink, ec)) take(e);
    } else {
      for (const auto& e : fs::directory_iterator(dir, ec)) take(e);
    }
    if (ec) throw Error(ErrorCode::kIo, "cannot list: " + ec.message(), {"image_folder", dir.string()});
    std::sort(found.begin(), found.end());
    for (std::string& p : found) {
      out.paths.push_back(std::move(p));
      out.labels.push_back(static_cast<std::int32_t>(c));
    }
  }
  if (out.paths.empty()) {
    throw Error(ErrorCode::kInvalidArgument,
                "no files with extension " + join(options.extensions) + " under " + std::to_string(out.classes.size()) +
                    " class folders",
                {"image_folder", root});
  }
  return out;
}

Dataset image_folder(std::string root, ImageFolderOptions options) {
  return image_folder(list_image_folder(root, options));
}

Dataset image_folder(ImageFolderListing l) {
  auto list = std::make_shared<FileList>(FileList{std::move(l.paths), std::move(l.labels)});
  return Dataset(std::make_shared<FileListNode>(std::move(list), "image_folder", 0, 1));
}

Dataset files(std::vector<std::string> paths, std::vector<std::int32_t> labels) {
  if (labels.size() != paths.size()) {
    throw Error(ErrorCode::kInvalidArgument, "files: " + std::to_string(paths.size()) + " paths but " +
                                                 std::to_string(labels.size()) + " labels");
  }
  auto list = std::make_shared<FileList>(FileList{std::move(paths), std::move(labels)});
  return Dataset(std::make_shared<FileListNode>(std::move(list), "files", 0, 1));
}

MapFn read_file() {
  return [](Element e, Rng&) {
    if (e.empty()) throw Error(ErrorCode::kInvalidArgument, "read_file: element has no components");
    std::string path(tensor_path(e[0]));
    std::size_t size = 0;
    int fd = open_sized(path, size);
    Tensor bytes;
    try {
      bytes = Tensor(DType::kU8, Shape{static_cast<std::int64_t>(size)});
    } catch (...) {
      ::close(fd);
      throw;
    }
    read_exact(fd, path, bytes.mutable_data_as<std::uint8_t>(), size);
    e[0] = std::move(bytes);
    return e;
  };
}

}  // namespace stoker
