// stoker_consumer: streams an HDF5 file through an installed stoker (find_package(stoker)) into
// batches written in a device::PinnedRing (plain host memory without CUDA), and checks what it got.
//
//   stoker_consumer FILE.h5 IMAGES LABELS [BATCH]
//
// Prints "stoker VERSION rows=N batches=B label_sum=S image_sum=T model=SPEC" and exits 0; on a
// stoker::Error prints it and exits 1. The checks a caller makes (rows, sums) need the file's
// contents, so the driving test computes them from the data it generated.
#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>

#include "device/pinned_ring.h"
#include "formats/hdf5_source.h"
#include "pipeline/error.h"
#include "pipeline/version.h"
#include "trainer/model_spec.h"

int main(int argc, char** argv) {
  if (argc < 4) {
    std::fprintf(stderr, "usage: stoker_consumer FILE.h5 IMAGES LABELS [BATCH]\n");
    return 2;
  }
  const std::int64_t batch = argc > 4 ? std::stoll(argv[4]) : 32;
  try {
    stoker::Dataset ds = stoker::hdf5(argv[1], {argv[2], argv[3]}).batch(batch);
    stoker::Options options{.num_threads = 2, .memory_budget = std::size_t{64} << 20};
    // The ring's slots must hold one batch; size them from the first row's shapes.
    stoker::Element first = *stoker::hdf5(argv[1], {argv[2], argv[3]}).take(1).iterator(options).next();
    options.batch_allocator =
        std::make_shared<stoker::PinnedRing>(stoker::PinnedRing::slot_bytes_for(first, batch), 3);

    std::int64_t rows = 0, batches = 0;
    std::uint64_t label_sum = 0, image_sum = 0;
    stoker::Iterator it = ds.iterator(options);
    while (auto b = it.next()) {
      const stoker::Tensor& images = (*b)[0];
      const stoker::Tensor& labels = (*b)[1];
      rows += labels.shape()[0];
      ++batches;
      if (labels.dtype() == stoker::DType::kI64) {
        for (std::int64_t i = 0; i < labels.shape()[0]; ++i) label_sum += labels.data_as<std::int64_t>()[i];
      } else if (labels.dtype() == stoker::DType::kI32) {
        for (std::int64_t i = 0; i < labels.shape()[0]; ++i) label_sum += labels.data_as<std::int32_t>()[i];
      }
      if (images.dtype() == stoker::DType::kU8) {
        for (std::size_t i = 0; i < images.nbytes(); ++i) image_sum += images.data_as<std::uint8_t>()[i];
      }
    }
    // trainer/: parse a model spec, so the link pulls in stoker::trainer too.
    const auto model = stoker::ModelSpec::parse("flatten dense(10,softmax)");
    std::printf("stoker %s rows=%lld batches=%lld label_sum=%llu image_sum=%llu model=%s\n", stoker::version(),
                static_cast<long long>(rows), static_cast<long long>(batches),
                static_cast<unsigned long long>(label_sum), static_cast<unsigned long long>(image_sum),
                model.to_string().c_str());
    return 0;
  } catch (const stoker::Error& e) {
    std::fprintf(stderr, "stoker_consumer: %s\n", e.what());
    return 1;
  }
}
