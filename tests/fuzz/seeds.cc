// fuzz_seeds OUT: writes the seed corpora of the fuzz targets, one folder per target under OUT,
// made at run time from valid inputs through the project's own writers (nothing binary is kept in
// the repository): JPEG variants (baseline, progressive, restarts, arithmetic, gray, CMYK, 4:4:4,
// and one without EOI), HDF5 files (chunked, deflate+shuffle, fletcher32, contiguous-sized
// chunks, vlen bytes), idx pairs (raw and gzip'd), cache files and a weights file.
#include <zlib.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "formats/hdf5_writer.h"
#include "formats/jpeg_encode.h"
#include "pipeline/cache_file.h"
#include "tests/fuzz/fuzz_models.h"
#include "trainer/trainer.h"

namespace fs = std::filesystem;
using namespace stoker;

namespace {

using Bytes = std::vector<std::uint8_t>;

void put(const fs::path& p, const Bytes& b) {
  fs::create_directories(p.parent_path());
  std::ofstream(p, std::ios::binary).write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
}

Bytes read(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  return Bytes(std::istreambuf_iterator<char>(f), {});
}

Bytes image(int h, int w, int c, int seed) {
  Bytes px(static_cast<std::size_t>(h) * w * c);
  for (std::size_t i = 0; i < px.size(); ++i) px[i] = static_cast<std::uint8_t>(128 + 100 * std::sin(0.05 * i + seed));
  return px;
}

void jpegs(const fs::path& dir) {
  struct V {
    const char* name;
    int h, w, c;
    JpegEncodeOptions o;
  };
  const V vs[] = {
      {"baseline", 24, 32, 3, {}},
      {"progressive", 24, 32, 3, {.progressive = true}},
      {"restarts", 16, 40, 3, {.restart_interval = 1}},
      {"arithmetic", 24, 24, 3, {.arithmetic = true}},
      {"gray", 20, 28, 1, {}},
      {"cmyk", 16, 16, 4, {.subsampling = JpegSubsampling::k444}},
      {"s444_optimized", 32, 24, 3, {.subsampling = JpegSubsampling::k444, .optimize = true}},
      {"s422", 17, 33, 3, {.subsampling = JpegSubsampling::k422}},
  };
  for (const V& v : vs) {
    Bytes j = encode_jpeg(image(v.h, v.w, v.c, v.h).data(), v.h, v.w, v.c, v.o);
    put(dir / (std::string(v.name) + ".jpg"), j);
    if (std::string(v.name) == "baseline") put(dir / "no_eoi.jpg", Bytes(j.begin(), j.end() - 2));
  }
}

void hdf5s(const fs::path& dir) {
  fs::create_directories(dir);
  const std::int64_t n = 12;
  Tensor images(DType::kU8, Shape{n, 4, 3});
  for (std::size_t i = 0; i < images.nbytes(); ++i) images.mutable_data_as<std::uint8_t>()[i] = static_cast<std::uint8_t>(i * 7);
  std::vector<std::int64_t> labels(n);
  for (std::int64_t i = 0; i < n; ++i) labels[static_cast<std::size_t>(i)] = i % 3;
  const Tensor lab = Tensor::from_values<std::int64_t>(Shape{n}, labels);
  const Hdf5DatasetOptions opts[] = {{.chunk_rows = 4}, {.chunk_rows = 5, .deflate_level = 4, .shuffle = true},
                                     {.chunk_rows = 3, .fletcher32 = true}, {.chunk_rows = n}};
  int k = 0;
  for (const Hdf5DatasetOptions& o : opts) {
    Hdf5Writer w((dir / ("rows_" + std::to_string(k++) + ".h5")).string());
    w.write("/images", images, o);
    w.write("/labels", lab, o);
    w.close();
  }
  Hdf5Writer w((dir / "vlen.h5").string());
  w.create_bytes("/images", {.chunk_rows = 2});
  for (int i = 0; i < 5; ++i) w.append_bytes("/images", std::span<const std::uint8_t>(image(1, 3 + i, 1, i)));
  w.write("/labels", Tensor::from_values<std::int64_t>(Shape{5}, {0, 1, 2, 0, 1}), {.chunk_rows = 5});
  w.close();
}

Bytes be32(std::uint32_t v) { return {std::uint8_t(v >> 24), std::uint8_t(v >> 16), std::uint8_t(v >> 8), std::uint8_t(v)}; }

Bytes gz(const Bytes& raw, const fs::path& tmp) {
  gzFile f = gzopen(tmp.c_str(), "wb");
  gzwrite(f, raw.data(), static_cast<unsigned>(raw.size()));
  gzclose(f);
  Bytes out = read(tmp);
  fs::remove(tmp);
  return out;
}

// idx target input: u16 LE length of the images file, the images file, the labels file.
void idxs(const fs::path& dir) {
  const std::uint32_t n = 5, rows = 4, cols = 3;
  Bytes images = be32(0x00000803), labels = be32(0x00000801);
  for (std::uint32_t v : {n, rows, cols}) {
    Bytes b = be32(v);
    images.insert(images.end(), b.begin(), b.end());
  }
  Bytes b = be32(n);
  labels.insert(labels.end(), b.begin(), b.end());
  for (std::uint32_t i = 0; i < n * rows * cols; ++i) images.push_back(static_cast<std::uint8_t>(i));
  for (std::uint32_t i = 0; i < n; ++i) labels.push_back(static_cast<std::uint8_t>(i % 10));
  auto pack = [](const Bytes& im, const Bytes& lb) {
    Bytes out = {std::uint8_t(im.size() & 0xff), std::uint8_t(im.size() >> 8)};
    out.insert(out.end(), im.begin(), im.end());
    out.insert(out.end(), lb.begin(), lb.end());
    return out;
  };
  put(dir / "raw.idx", pack(images, labels));
  put(dir / "gz.idx", pack(gz(images, dir / "tmp.gz"), gz(labels, dir / "tmp.gz")));
}

void caches(const fs::path& dir) {
  fs::create_directories(dir);
  for (int k = 0; k < 2; ++k) {
    const fs::path p = dir / ("c" + std::to_string(k) + ".cache");
    detail::CacheWriter w(p.string());
    for (int i = 0; i < 3 + k; ++i) {
      Element e{Tensor::from_values<float>(Shape{2, 2}, {1.f, 2.f, 3.f, float(i)}), Tensor::scalar<std::int32_t>(i)};
      if (k) e.push_back(Tensor::from_values<std::uint8_t>(Shape{3}, {1, 2, 3}));
      w.append(e);
    }
    w.finish();
  }
}

void weights(const fs::path& dir) {
  fs::create_directories(dir);
  const ModelSpec spec = ModelSpec::parse(fuzz::kWeightsModel);
  save_weights_file((dir / "w.stkw").string(), spec, fuzz::kWeightsInput, spec.init_params(fuzz::kWeightsInput, 1));
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: fuzz_seeds OUT\n");
    return 2;
  }
  const fs::path out = argv[1];
  jpegs(out / "jpeg_decode");
  jpegs(out / "jpeg_crop");
  hdf5s(out / "hdf5_reader");
  idxs(out / "idx_reader");
  caches(out / "cache_reader");
  weights(out / "weights_loader");
  return 0;
}
