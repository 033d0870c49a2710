// File-list sources: image_folder(root) and files(paths, labels), and read_file().
//
// Element of both sources: (path, label) where `path` is an int8 1-D tensor holding the file's
// path (UTF-8, no terminator) and `label` an int32 scalar. The bytes are NOT read by the source:
// a source runs serially on the consumer thread, so reading there would serialise I/O. Reading
// happens in the map that consumes the path (decode_jpeg() reads and decodes in one step on the
// TBB threads; read_file() only reads). Consequences, all intended:
//   * reading and decoding run in parallel, one map stage, no extra hand-off;
//   * shuffle()/shard()/cache() before the decode hold paths (tens of bytes), not file contents;
//   * file bytes never sit in a queue: decode_jpeg reads into a per-thread buffer it reuses;
//   * every read or decode error names the file (ErrorContext::source = path).
// A path is int8 and file contents are uint8, so a consumer can tell them apart by dtype.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "pipeline/dataset.h"
#include "pipeline/error.h"

namespace stoker {

struct ImageFolderOptions {
  // File extensions to keep, without the dot, compared case-insensitively. Empty: every file.
  std::vector<std::string> extensions = {"jpg", "jpeg"};
  // Walk class folders recursively (root/<class>/**/<file>), following symlinked folders.
  bool recursive = true;
};

// The result of scanning an image folder: class names (sorted; label = index) and files sorted
// by (class, path).
struct ImageFolderListing {
  std::vector<std::string> classes;
  std::vector<std::string> paths;
  std::vector<std::int32_t> labels;
};

// Scans root/<class>/<file>. Throws kNotFound when root does not exist, kInvalidArgument when it
// is not a directory, has no class sub-folders, or holds no file with a wanted extension.
ImageFolderListing list_image_folder(const std::string& root, const ImageFolderOptions& options = {});

// Elements (path int8 [n], label int32 []) for every file under root/<class>/, label = class index.
Dataset image_folder(std::string root, ImageFolderOptions options = {});
// The same source over a listing already made by list_image_folder (no second walk of the tree).
Dataset image_folder(ImageFolderListing listing);

// Elements (path, label) for the given files, in order. labels.size() must equal paths.size().
Dataset files(std::vector<std::string> paths, std::vector<std::int32_t> labels);

// Map: (path, rest...) -> (bytes uint8 [size], rest...). Errors (missing file: kNotFound, read
// failure: kIo) name the file. Use when another decoder needs raw bytes; decode_jpeg takes paths.
MapFn read_file();

// A path tensor (int8 1-D) and back.
Tensor path_tensor(std::string_view path);
std::string_view tensor_path(const Tensor& t);

namespace detail {
// A growable byte buffer that does not zero what it hands out (a per-thread read buffer).
struct ByteBuffer {
  std::unique_ptr<std::uint8_t[]> data;
  std::size_t size = 0;
  std::size_t capacity = 0;
  void resize(std::size_t n);
  // Frees the storage when it grew past `keep` bytes, so one huge file does not pin memory.
  void trim(std::size_t keep);
};
// Reads the whole file at `path` into `buf`. Throws stoker::Error naming the file (kNotFound,
// kIo). Thread-safe (no shared state). Bounded before anything is allocated:
//  - a file that does not start with `signature` is not read whole: `buf` holds only its first
//    bytes (at most 64), enough for a decoder to say what the file is instead;
//  - a file larger than `max_bytes` is refused (kOutOfMemory, naming its size and the bound).
void read_whole_file(const std::string& path, ByteBuffer& buf, std::string_view signature = {},
                     std::size_t max_bytes = SIZE_MAX);
}  // namespace detail

}  // namespace stoker
