// decode_jpeg: read (when given a path), check, crop-plan, DCT-scaled decode and resize, fused.
#include "formats/jpeg_decode.h"

#include <turbojpeg.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <exception>
#include <string>

#include "formats/file_source.h"
#include "formats/jpeg_mcu_index.h"
#include "formats/jpeg_window.h"

namespace stoker {
namespace {

constexpr const char* kStage = "decode_jpeg";
// A per-thread buffer that grew past this is freed after use, so one huge image does not pin
// memory on every worker for the rest of the run.
constexpr std::size_t kKeepScratch = std::size_t{64} << 20;
constexpr std::size_t kMaxFileBytesPerPixel = 4;
// A crop covering less than this share of the (scaled) image is decoded as a window; above it a
// full TurboJPEG decode costs about the same and has no edge effects.
constexpr double kWindowShare = 0.8;

// One TurboJPEG decompressor and the scratch buffers of one thread. tjhandles are not
// thread-safe; each worker owns one, destroyed when the thread exits.
struct ThreadState {
  tjhandle handle = nullptr;
  detail::ByteBuffer file;     // encoded bytes read from a path
  detail::ByteBuffer decoded;  // decoded (possibly DCT-scaled) image before crop/resize
  detail::ByteBuffer padded;   // a file lacking EOI, with FF D9 appended (the second try)

  ThreadState() = default;
  ThreadState(const ThreadState&) = delete;
  ThreadState& operator=(const ThreadState&) = delete;
  ~ThreadState() {
    if (handle) tjDestroy(handle);
  }
  // TurboJPEG 2.1 leaves a handle mid-state after a failed call (the next header read then
  // sees garbage, e.g. a zero width), so a handle that failed is replaced.
  void discard() {
    if (handle) tjDestroy(handle);
    handle = nullptr;
  }
  tjhandle get() {
    if (!handle) {
      handle = tjInitDecompress();
      if (!handle) throw Error(ErrorCode::kOutOfMemory, std::string("tjInitDecompress failed: ") + tjGetErrorStr2(nullptr));
    }
    return handle;
  }
};

ThreadState& thread_state() {
  thread_local ThreadState s;
  return s;
}

// Names the format of bytes that are not JPEG, or returns nullptr.
const char* other_format(const std::uint8_t* d, std::size_t n) {
  auto starts = [&](const char* sig, std::size_t len) { return n >= len && std::memcmp(d, sig, len) == 0; };
  if (starts("\x89PNG\r\n\x1a\n", 8)) return "PNG";
  if (starts("GIF87a", 6) || starts("GIF89a", 6)) return "GIF";
  if (starts("BM", 2)) return "BMP";
  if (n >= 12 && std::memcmp(d, "RIFF", 4) == 0 && std::memcmp(d + 8, "WEBP", 4) == 0) return "WebP";
  if (starts("II*\0", 4) || starts("MM\0*", 4)) return "TIFF";
  return nullptr;
}

std::string hex2(const std::uint8_t* d, std::size_t n) {
  char buf[32];
  if (n >= 2) {
    std::snprintf(buf, sizeof buf, "0x%02x 0x%02x", d[0], d[1]);
  } else {
    std::snprintf(buf, sizeof buf, "0x%02x", d[0]);
  }
  return buf;
}

JpegHeader header_with(ThreadState& st, const std::uint8_t* data, std::size_t size, const std::string& source) {
  ErrorContext ctx{kStage, source};
  if (size == 0) throw Error(ErrorCode::kDataLoss, "empty file (0 bytes), not a JPEG", ctx);
  if (size < 2 || data[0] != 0xFF || data[1] != 0xD8) {
    if (const char* fmt = other_format(data, size)) {
      throw Error(ErrorCode::kUnsupported, std::string("holds ") + fmt + " data, not JPEG (decode it with another decoder or convert it)", ctx);
    }
    throw Error(ErrorCode::kDataLoss, "not a JPEG: starts with " + hex2(data, size) + ", expected 0xff 0xd8", ctx);
  }
  JpegHeader hd;
  st.discard();  // a new handle per image: none of the last image's tables (see Decoder::fresh)
  tjhandle h = st.get();
  if (tjDecompressHeader3(h, data, static_cast<unsigned long>(size), &hd.width, &hd.height, &hd.subsampling,
                          &hd.colorspace) != 0) {
    std::string msg = tjGetErrorStr2(h);
    st.discard();
    detail::throw_jpeg_fatal(msg, ctx, "corrupt JPEG header: ");
  }
  if (hd.width <= 0 || hd.height <= 0) {
    throw Error(ErrorCode::kDataLoss, "JPEG header has a zero dimension", ctx);
  }
  return hd;
}

// The smallest power-of-two DCT scale (1/8, 1/4, 1/2, 1) at which the window r of a w x h image
// still covers out_w x out_h pixels.
tjscalingfactor pick_scale(int w, int h, const detail::Region& r, int out_w, int out_h) {
  int n = 0;
  tjscalingfactor* all = tjGetScalingFactors(&n);
  tjscalingfactor best{1, 1};
  for (int denom : {2, 4, 8}) {
    bool offered = false;
    for (int i = 0; i < n; ++i) offered |= all && all[i].num == 1 && all[i].denom == denom;
    if (!offered) continue;
    tjscalingfactor sf{1, denom};
    double sx = static_cast<double>(TJSCALED(w, sf)) / w;
    double sy = static_cast<double>(TJSCALED(h, sf)) / h;
    if (r.w * sx >= out_w && r.h * sy >= out_h) best = sf;
  }
  return best;
}


// Decodes into dst (pitch bytes per row) at the given scale; applies the warning policy.
void decompress(ThreadState& st, const std::uint8_t* data, std::size_t size, std::uint8_t* dst, int sw, int sh, int pf,
                int flags, bool strict, const std::string& source) {
  tjhandle h = st.get();
  if (tjDecompress2(h, data, static_cast<unsigned long>(size), dst, sw, 0, sh, pf, flags) == 0) return;
  std::string msg = tjGetErrorStr2(h);
  const bool warning = tjGetErrorCode(h) == TJERR_WARNING;
  st.discard();
  ErrorContext ctx{kStage, source};
  if (!warning) detail::throw_jpeg_fatal(msg, ctx);
  detail::check_jpeg_warning(msg, strict, ctx);
}

// One decode of data[0, size). `eoi_appended`: the bytes are a file lacking EOI plus an appended
// FF D9 (see decode()).
Tensor decode_once(const std::uint8_t* data, std::size_t size, const DecodeJpegOptions& o, Rng& rng, ThreadState& st,
                   const std::string& source, bool eoi_appended, detail::JpegMcuIndex* index) {
  JpegHeader hd = header_with(st, data, size, source);
  const int W = hd.width, H = hd.height;
  const std::int64_t pixels = static_cast<std::int64_t>(W) * H;
  if (pixels > o.max_pixels) {
    throw Error(ErrorCode::kUnsupported,
                "image is " + std::to_string(W) + "x" + std::to_string(H) + " (" + std::to_string(pixels) +
                    " pixels), above max_pixels=" + std::to_string(o.max_pixels) +
                    "; raise DecodeJpegOptions::max_pixels if such images are expected",
                {kStage, source});
  }
  const int c = o.color == JpegColor::kRGB ? 3 : 1;
  const bool cmyk = hd.colorspace == TJCS_CMYK || hd.colorspace == TJCS_YCCK;

  // Output size and the window of the full-resolution image it comes from.
  const bool plain = o.crop == CropMode::kNone && o.height == 0 && o.width == 0;
  int out_h = plain ? H : o.height, out_w = plain ? W : o.width;
  detail::Region r{0, 0, double(W), double(H)};
  if (o.crop == CropMode::kCenter || o.crop == CropMode::kRandom) {
    r = detail::crop_region(H, W, out_h, out_w, o.resize_shorter, o.crop == CropMode::kRandom, &rng);
  } else if (o.crop == CropMode::kRandomResized) {
    r = detail::random_resized_region(H, W, o.rrc, rng);
  }
  const bool flip = o.flip_probability > 0 && rng.bernoulli(o.flip_probability);

  const tjscalingfactor sf = (o.dct_scaling && !plain) ? pick_scale(W, H, r, out_w, out_h) : tjscalingfactor{1, 1};
  const int sw = TJSCALED(W, sf), sh = TJSCALED(H, sf);
  const int flags = o.fast_dct ? TJFLAG_FASTDCT : 0;
  const int pf = cmyk ? TJPF_CMYK : (c == 3 ? TJPF_RGB : TJPF_GRAY);

  Tensor out(DType::kU8, Shape{out_h, out_w, c});
  if (plain && !cmyk && !flip) {  // straight into the output
    decompress(st, data, size, out.mutable_data_as<std::uint8_t>(), sw, sh, pf, flags, o.strict, source);
    return out;
  }
  const double fx = static_cast<double>(sw) / W, fy = static_cast<double>(sh) / H;
  detail::Region rs{r.x * fx, r.y * fy, r.w * fx, r.h * fy};
  if (o.partial_decode && o.crop != CropMode::kNone && rs.w * rs.h < kWindowShare * sw * sh) {
    // Decode only the window the resampler reads: the region plus one pixel of margin (bilinear
    // taps), then resample from the window's own buffer.
    detail::JpegWindow win;
    win.x = std::max(0, static_cast<int>(std::floor(rs.x)) - 1);
    win.y = std::max(0, static_cast<int>(std::floor(rs.y)) - 1);
    win.w = std::min(sw, static_cast<int>(std::ceil(rs.x + rs.w)) + 1) - win.x;
    win.h = std::min(sh, static_cast<int>(std::ceil(rs.y + rs.h)) + 1) - win.y;
    detail::decode_jpeg_window(data, size, sf.denom, c, o.strict, o.fast_dct, win, st.decoded, source, eoi_appended,
                               false, index);
    detail::Region rw{rs.x - win.x, rs.y - win.y, rs.w, rs.h};
    detail::resize_region(st.decoded.data.get(), win.h, win.w, c, static_cast<std::size_t>(win.w) * c, rw,
                          out.mutable_data_as<std::uint8_t>(), out_h, out_w, o.filter, flip);
    st.decoded.trim(kKeepScratch);
    return out;
  }
  const std::size_t decoded_px = static_cast<std::size_t>(sw) * static_cast<std::size_t>(sh);
  st.decoded.resize(decoded_px * (cmyk ? 4 : static_cast<std::size_t>(c)));
  std::uint8_t* buf = st.decoded.data.get();
  decompress(st, data, size, buf, sw, sh, pf, flags, o.strict, source);
  if (cmyk) detail::cmyk_to(buf, decoded_px, c);
  detail::resize_region(buf, sh, sw, c, static_cast<std::size_t>(sw) * c, rs, out.mutable_data_as<std::uint8_t>(), out_h,
                        out_w, o.filter, flip);
  st.decoded.trim(kKeepScratch);
  return out;
}

// A JPEG (FF D8 ...) whose last two bytes are not the EOI marker FF D9.
bool lacks_eoi(const std::uint8_t* d, std::size_t n) {
  return n >= 4 && d[0] == 0xFF && d[1] == 0xD8 && !(d[n - 2] == 0xFF && d[n - 1] == 0xD9);
}

// decode_once, and for a file that failed and lacks EOI a second try with FF D9 appended (see
// "Missing EOI" in jpeg_decode.h). The padded bytes must then decode without any warning (strict):
// a file cut inside a scan runs out of data, one cut inside a marker segment leaves extraneous
// bytes; both fail again and the first error (what the file itself says) is raised.
// The second try draws the same crop and flip: it restarts from a copy of the element's Rng.
Tensor decode(const std::uint8_t* data, std::size_t size, const DecodeJpegOptions& o, Rng& rng, ThreadState& st,
              const std::string& source, detail::JpegMcuIndex* index) {
  const Rng start = rng;
  try {
    return decode_once(data, size, o, rng, st, source, false, index);
  } catch (const Error& e) {
    if (e.code() != ErrorCode::kDataLoss || o.strict || !lacks_eoi(data, size)) throw;
    std::exception_ptr first = std::current_exception();
    st.padded.resize(size + 2);
    std::memcpy(st.padded.data.get(), data, size);
    st.padded.data[size] = 0xFF;
    st.padded.data[size + 1] = 0xD9;
    rng = start;
    DecodeJpegOptions clean = o;  // the second try must decode without a single warning
    clean.strict = true;
    Tensor out;
    try {
      out = decode_once(st.padded.data.get(), size + 2, clean, rng, st, source, true, index);
    } catch (const Error&) {
      st.padded.trim(kKeepScratch);
      std::rethrow_exception(first);
    }
    st.padded.trim(kKeepScratch);
    if (o.counts) o.counts->missing_eoi.fetch_add(1, std::memory_order_relaxed);
    return out;
  }
}

}  // namespace

JpegHeader read_jpeg_header(const std::uint8_t* data, std::size_t size, const std::string& source) {
  return header_with(thread_state(), data, size, source);
}

MapFn decode_jpeg(DecodeJpegOptions o) {
  bool sized = o.height > 0 && o.width > 0;
  if (o.height < 0 || o.width < 0 || (o.height == 0) != (o.width == 0)) {
    throw Error(ErrorCode::kInvalidArgument, "decode_jpeg: height and width must both be positive or both 0");
  }
  if (o.crop != CropMode::kNone && !sized) {
    throw Error(ErrorCode::kInvalidArgument, "decode_jpeg: a crop needs an output height and width");
  }
  if (o.max_pixels <= 0) throw Error(ErrorCode::kInvalidArgument, "decode_jpeg: max_pixels must be positive");
  MapFn norm = o.normalize ? normalize(*o.normalize) : MapFn();
  // Shared by every copy of the returned function (every pass and worker over this dataset).
  auto index = o.mcu_index_bytes > 0 && o.partial_decode && o.crop != CropMode::kNone
                   ? std::make_shared<detail::JpegMcuIndex>(o.mcu_index_bytes)
                   : nullptr;
  return [o, norm, index](Element e, Rng& rng) {
    if (e.empty()) throw Error(ErrorCode::kInvalidArgument, "element has no components", {kStage});
    ThreadState& st = thread_state();
    const Tensor& in = e[0];
    if (in.dtype() == DType::kI8) {
      std::string path(tensor_path(in));
      try {
        // JPEG's SOI marker first, and at most 4 bytes per allowed pixel (quality 100 stays under
        // ~1.5 per RGB pixel), so a huge or sparse file is refused before it is read.
        detail::read_whole_file(path, st.file, "\xFF\xD8", kMaxFileBytesPerPixel * static_cast<std::size_t>(o.max_pixels) +
                                                                 (std::size_t{1} << 20));
      } catch (const Error& err) {
        throw err.with_context({kStage, path});
      }
      Tensor img = decode(st.file.data.get(), st.file.size, o, rng, st, path, index.get());
      st.file.trim(kKeepScratch);
      e[0] = std::move(img);
    } else if (in.dtype() == DType::kU8 && in.shape().rank() == 1) {
      e[0] = decode(in.data_as<std::uint8_t>(), in.nbytes(), o, rng, st, "", index.get());
    } else {
      throw Error(ErrorCode::kInvalidArgument,
                  std::string("expected a path (int8 1-D) or JPEG bytes (uint8 1-D), got ") + dtype_name(in.dtype()) +
                      " " + in.shape().to_string(),
                  {kStage});
    }
    return norm ? norm(std::move(e), rng) : e;
  };
}

}  // namespace stoker
