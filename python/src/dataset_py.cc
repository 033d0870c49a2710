// stoker.Dataset and stoker.Iterator: the C++ Dataset/Iterator with tf.data's Python names.
//
// GIL: every call that runs the pipeline (Iterator.__next__, and the Iterator's destruction,
// which cancels and joins its workers) releases the GIL, so stoker's threads and other Python
// threads run meanwhile, and a Python map function (which takes the GIL on a worker) cannot
// deadlock against the thread waiting in next().
#include <nanobind/nanobind.h>
#include <nanobind/stl/optional.h>
#include <nanobind/stl/pair.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "formats/file_source.h"
#include "formats/hdf5_source.h"
#include "pipeline/dataset.h"
#include "python/src/bindings.h"

namespace stoker::py {
namespace {

// A running pipeline owned by Python. Invariant: the C++ Iterator is destroyed without the GIL
// (its workers may be waiting for the GIL inside a Python map function).
class PyIterator {
 public:
  explicit PyIterator(Iterator it) : it_(std::move(it)) {}
  PyIterator(const PyIterator&) = delete;
  PyIterator& operator=(const PyIterator&) = delete;
  ~PyIterator() { close(); }

  nb::tuple next() {
    if (!it_) throw nb::stop_iteration();
    std::optional<Element> e;
    {
      nb::gil_scoped_release unlocked;
      e = it_->next();
    }
    if (!e) throw nb::stop_iteration();
    return element_to_tuple(std::move(*e));
  }

  nb::dict stats() const {
    if (!it_) throw Error(ErrorCode::kInvalidArgument, "stats(): the iterator is closed");
    return stats_to_dict(it_->stats());
  }

  void close() {
    if (!it_) return;
    if (PyGILState_Check()) {
      nb::gil_scoped_release unlocked;
      it_.reset();
    } else {
      it_.reset();
    }
  }

 private:
  std::optional<Iterator> it_;
};

ErrorPolicy error_policy(const std::string& on_error) {
  if (on_error == "fail") return ErrorPolicy::kFail;
  if (on_error == "skip") return ErrorPolicy::kSkip;
  throw Error(ErrorCode::kInvalidArgument, "on_error must be 'fail' or 'skip', got '" + on_error + "'");
}

PyIterator* make_iterator(const Dataset& ds, int threads, nb::handle memory_budget, std::uint64_t seed,
                          const std::string& on_error, std::size_t max_logged_errors) {
  if (threads < 0) throw Error(ErrorCode::kInvalidArgument, "threads must be >= 0 (0: all cores)");
  Options o;
  o.num_threads = threads;
  o.memory_budget = parse_bytes(memory_budget);
  o.seed = seed;
  o.error_policy = error_policy(on_error);
  o.max_logged_errors = max_logged_errors;
  std::optional<Iterator> it;
  {
    nb::gil_scoped_release unlocked;
    it.emplace(ds.iterator(std::move(o)));
  }
  return new PyIterator(std::move(*it));
}

}  // namespace

void bind_dataset(nb::module_& m) {
  nb::class_<PyIterator>(m, "Iterator",
                         "A running pipeline. __next__ returns a tuple of stoker.Tensor (one per component)\n"
                         "and releases the GIL while it waits. close() (or dropping it) cancels the work in\n"
                         "flight and joins stoker's threads; batches already returned stay valid.")
      .def("__iter__", [](nb::handle self) { return nb::borrow(self); })
      .def("__next__", &PyIterator::next)
      .def("stats", &PyIterator::stats, "Per-stage counters and memory as a dict.")
      .def("close", &PyIterator::close)
      .def("__enter__", [](nb::handle self) { return nb::borrow(self); })
      .def("__exit__", [](PyIterator& it, nb::args) { it.close(); });

  nb::class_<Dataset>(m, "Dataset",
                      "An immutable description of an input pipeline (cheap to copy); iterate it, or call\n"
                      "iterator(...) to choose threads, memory budget, seed and error policy.")
      .def(
          "map",
          [](const Dataset& ds, nb::handle fn, int max_in_flight, bool deterministic,
             std::optional<std::uint64_t> seed) {
            MapOptions o;
            auto f = map_fn_from_python(fn, o.name);
            o.max_in_flight = max_in_flight;
            o.deterministic = deterministic;
            o.seed = seed;
            return ds.map(std::move(f), std::move(o));
          },
          nb::arg("fn"), nb::arg("max_in_flight") = 0, nb::arg("deterministic") = true, nb::arg("seed") = nb::none(),
          "Applies a built-in op (stoker.decode_jpeg(...), stoker.cast(...), ...; parallel, no GIL) or a\n"
          "Python callable taking and returning a tuple of tensors (holds the GIL: serialised).")
      .def("shuffle", &Dataset::shuffle, nb::arg("buffer_size"), nb::arg("seed") = nb::none(),
           nb::arg("reshuffle_each_iteration") = true)
      .def("batch", &Dataset::batch, nb::arg("batch_size"), nb::arg("drop_remainder") = false)
      .def("padded_batch", &Dataset::padded_batch, nb::arg("batch_size"), nb::arg("drop_remainder") = false,
           nb::arg("padding_value") = 0.0)
      .def("prefetch", &Dataset::prefetch, nb::arg("buffer_size") = kAutotune)
      .def("repeat", &Dataset::repeat, nb::arg("count") = -1)
      .def("take", &Dataset::take, nb::arg("count"))
      .def("skip", &Dataset::skip, nb::arg("count"))
      .def(
          "shard",
          [](const Dataset& ds, std::int64_t num_shards, std::int64_t index, bool equal) {
            return ds.shard(num_shards, index, equal);  // the rule: pipeline/dataset.h
          },
          nb::arg("num_shards"), nb::arg("index"), nb::arg("equal") = false,
          "Elements of shard `index` of `num_shards` (an HDF5 source reads only its own blocks).\n"
          "equal=True: every shard yields the same number of elements per epoch, so all ranks run the\n"
          "same steps; elements are dropped, never repeated: floor(total / num_shards) each (at most\n"
          "num_shards - 1 dropped, any length, even unknown); an HDF5 source keeps reading only its\n"
          "blocks and every shard yields the shortest shard's count (at most one block dropped each).")
      .def(
          "cache",
          [](const Dataset& ds, std::optional<std::string> path) { return path ? ds.cache(*path) : ds.cache(); },
          nb::arg("path") = nb::none(),
          "No path: memory (spilling past its share of the budget). A path: a file later runs reuse.")
      .def("cardinality", &Dataset::cardinality)
      .def("iterator", &make_iterator, nb::arg("threads") = 0, nb::arg("memory_budget") = nb::int_(1 << 30),
           nb::arg("seed") = 0, nb::arg("on_error") = "fail", nb::arg("max_logged_errors") = 16,
           nb::rv_policy::take_ownership,
           "threads: 0 = all cores; memory_budget: bytes or '512M'/'2G'; on_error: 'fail' or 'skip'.")
      .def(
          "__iter__",
          [](const Dataset& ds) { return make_iterator(ds, 0, nb::int_(1 << 30), 0, "fail", 16); },
          nb::rv_policy::take_ownership);

  m.def(
      "hdf5",
      [](std::string path, std::optional<std::string> images, std::optional<std::string> labels,
         std::optional<std::vector<std::string>> datasets, std::int64_t block_rows, bool shuffle_blocks,
         std::optional<std::uint64_t> seed, bool zero_copy_rows) {
        std::vector<std::string> names;
        if (datasets) {
          names = *datasets;
        } else {
          names.push_back(images.value_or("/train/images"));
          if (labels) names.push_back(*labels);
        }
        Hdf5Options o;
        o.block_rows = block_rows;
        o.shuffle_blocks = shuffle_blocks;
        o.seed = seed;
        o.zero_copy_rows = zero_copy_rows;
        nb::gil_scoped_release unlocked;
        return hdf5(std::move(path), std::move(names), std::move(o));
      },
      nb::arg("path"), nb::arg("images") = "/train/images", nb::arg("labels") = "/train/labels",
      nb::arg("datasets") = nb::none(), nb::arg("block_rows") = 0, nb::arg("shuffle_blocks") = false,
      nb::arg("seed") = nb::none(), nb::arg("zero_copy_rows") = false,
      "Rows of HDF5 datasets: elements (images[i], labels[i]); labels=None for images only; datasets=[...]\n"
      "for any list of row-aligned datasets. Streams in blocks; shuffle_blocks permutes them per epoch.");
  m.def(
      "image_folder",
      [](std::string root, std::vector<std::string> extensions, bool recursive) {
        nb::gil_scoped_release unlocked;
        return image_folder(std::move(root), ImageFolderOptions{std::move(extensions), recursive});
      },
      nb::arg("root"), nb::arg("extensions") = std::vector<std::string>{"jpg", "jpeg"}, nb::arg("recursive") = true,
      "Elements (path, label) for root/<class>/<file>; label = index of the class in sorted order.\n"
      "Follow with .map(stoker.decode_jpeg(...)), which reads and decodes on stoker's threads.");
  m.def(
      "list_image_folder",
      [](const std::string& root) {
        ImageFolderListing l = list_image_folder(root);
        return nb::make_tuple(nb::cast(l.classes), nb::cast(l.paths), nb::cast(l.labels));
      },
      nb::arg("root"), "(classes, paths, labels) as image_folder() sees them.");
  m.def(
      "_cpp_loop",
      [](const Dataset& ds, int threads, nb::handle memory_budget, std::uint64_t seed) {
        Options o;
        o.num_threads = threads;
        o.memory_budget = parse_bytes(memory_budget);
        o.seed = seed;
        nb::gil_scoped_release unlocked;
        // The loop of `stoker bench` in this process: what a Python loop over the same pipeline is
        // compared with (bench/python_loop.py). Starts timing at the first next(), like the Python side.
        Iterator it = ds.iterator(std::move(o));
        const auto t0 = std::chrono::steady_clock::now();
        std::int64_t rows = 0;
        Element b;
        while (it.next(b)) rows += b[0].shape().rank() ? b[0].shape()[0] : 1;
        const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        return std::make_pair(rows, s);
      },
      nb::arg("dataset"), nb::arg("threads") = 0, nb::arg("memory_budget") = nb::int_(1 << 30), nb::arg("seed") = 0,
      "Runs the dataset to the end in a C++ loop (no Python per batch); returns (rows, seconds). For benchmarks.");
  m.def("files", &files, nb::arg("paths"), nb::arg("labels"), "Elements (path, label) for the given files.");
  m.def("range", nb::overload_cast<std::int64_t, std::int64_t, std::int64_t>(&Dataset::range), nb::arg("start"),
        nb::arg("stop"), nb::arg("step") = 1, "int64 scalars start, start+step, ... below stop.");
}

}  // namespace stoker::py
