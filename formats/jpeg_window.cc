// decode_jpeg_window over libjpeg. Fatal libjpeg errors longjmp back into window_raw(), whose
// frame holds no C++ objects with destructors; the decompressor (one per thread, reused) is
// reset with jpeg_abort_decompress after every image, successful or not.
#include "formats/jpeg_window.h"

#include <algorithm>
#include <cctype>
#include <csetjmp>
#include <cstdio>
#include <cstring>
#include <vector>

#include <jpeglib.h>

#include "formats/jpeg_mcu_index.h"
#include "formats/jpeg_scan.h"
#include "pipeline/error.h"

namespace stoker::detail {
namespace {

struct ErrorMgr {
  jpeg_error_mgr pub;
  std::jmp_buf jump;
  char message[JMSG_LENGTH_MAX];  // the fatal error, or the first warning
  bool warned;
};

void on_error(j_common_ptr cinfo) {
  auto* err = reinterpret_cast<ErrorMgr*>(cinfo->err);
  (*cinfo->err->format_message)(cinfo, err->message);
  std::longjmp(err->jump, 1);
}

// Warnings (level -1) are recorded, the first one kept; trace messages are ignored.
void on_message(j_common_ptr cinfo, int level) {
  auto* err = reinterpret_cast<ErrorMgr*>(cinfo->err);
  if (level >= 0) return;
  if (!err->warned) (*cinfo->err->format_message)(cinfo, err->message);
  err->warned = true;
  cinfo->err->num_warnings++;
}

struct Decoder {
  jpeg_decompress_struct cinfo;
  ErrorMgr err;
  bool ready = false;
  Decoder() {
    cinfo.err = jpeg_std_error(&err.pub);
    err.pub.error_exit = on_error;
    err.pub.emit_message = on_message;
    jpeg_create_decompress(&cinfo);  // only fails on out-of-memory, which error_exit cannot catch here
    ready = true;
  }
  ~Decoder() {
    if (ready) jpeg_destroy_decompress(&cinfo);
  }
  // A decompressor keeps the quantisation and Huffman tables of the images it decoded (libjpeg's
  // abbreviated datastreams): a file lacking its own would decode with another file's. Every image
  // starts from a new one (0.1 us).
  void fresh() {
    jpeg_destroy_decompress(&cinfo);
    jpeg_create_decompress(&cinfo);
  }
  Decoder(const Decoder&) = delete;
  Decoder& operator=(const Decoder&) = delete;
};

Decoder& decoder() {
  thread_local Decoder d;
  return d;
}

// Per thread: the layout of the last parsed file, its MCU points when scanned here, and the
// window's own JPEG (jpeg_scan.h), a copy of part of the file, trimmed after a large one.
struct NarrowState {
  JpegLayout layout;
  std::vector<JpegScanPoint> points;
  ByteBuffer stream;
};

NarrowState& narrow_state() {
  thread_local NarrowState s;
  return s;
}

// A JPEG of only the MCUs under the window, plus an MCU row above or below where chroma
// upsampling needs it (at the image's edges the edge itself, as in the original). No column
// margin: a cropped decode (jpeg_crop_scanline) upsamples its columns as an image of their own,
// here and in the original alike. MCU points come from `index` when it knows the file, else from a
// scan (added to `index` when it has room; without an index only when `scan` is set). On success
// the window's origin moves by (*dx, *dy) in the new JPEG (subtract them).
bool narrow_for(const std::uint8_t* data, std::size_t size, int denom, const JpegWindow& win, JpegMcuIndex* index,
                bool scan, NarrowState& ns, int* dx, int* dy) {
  if (denom < 1 || denom > 8 || !parse_jpeg_layout(data, size, ns.layout)) return false;
  const JpegLayout& l = ns.layout;
  const int mw = l.mcu_width / denom, mh = l.mcu_height / denom;  // MCU size in output pixels
  const int out_w = (l.width + denom - 1) / denom, out_h = (l.height + denom - 1) / denom;
  if (win.x < 0 || win.y < 0 || win.w < 1 || win.h < 1 || win.x + win.w > out_w || win.y + win.h > out_h) return false;
  const std::size_t n = static_cast<std::size_t>(l.mcu_rows) * static_cast<std::size_t>(l.mcus_per_row) + 1;
  const JpegScanPoint* points = nullptr;
  JpegMcuIndex::Points known;
  JpegContentKey key;
  if (index) {
    key = jpeg_content_key(data, size);
    known = index->find(key);
    if (known && known->size() == n) points = known->data();
  }
  if (!points) {
    if (index ? !index->has_room(n) : !scan) return false;
    ns.points.resize(n);
    if (!scan_mcu_points(l, data, size, ns.points.data())) return false;
    if (index) {  // the index takes the points (the thread's buffer starts again empty)
      known = index->add(key, std::move(ns.points));
      ns.points.clear();
      points = known->data();
    } else {
      points = ns.points.data();
    }
  }
  struct TrimPoints {  // a huge image's points are not kept by the thread after use (> 1 MiB)
    std::vector<JpegScanPoint>& v;
    ~TrimPoints() {
      if (v.capacity() * sizeof(JpegScanPoint) > (std::size_t{1} << 20)) std::vector<JpegScanPoint>().swap(v);
    }
  } trim{ns.points};
  const int m0 = win.x / mw;
  const int m1 = std::min(l.mcus_per_row, (win.x + win.w + mw - 1) / mw);
  // An MCU row of context only where the window's first or last output row is within two rows of
  // its MCU row's edge: fancy upsampling (h2v2, h1v2) blends in one chroma row across that edge,
  // which is two output rows; farther in, the window's own MCU rows hold all it reads.
  const int last = win.y + win.h - 1;
  const int r0 = win.y / mh - (win.y / mh > 0 && win.y % mh < 2 ? 1 : 0);
  const int r1 = std::min(l.mcu_rows, last / mh + 1 + (last % mh > mh - 3 ? 1 : 0));
  if (!write_window_jpeg(l, data, size, points, r0, r1, m0, m1, ns.stream)) return false;
  *dx = (m0 - 1) * mw;
  *dy = r0 * mh;
  return true;
}

enum class Result { kOk, kFatal, kTooLarge };

// The C-style core. `out` has room for `cap` bytes; on kTooLarge nothing was written.
Result window_raw(Decoder& d, const std::uint8_t* data, std::size_t size, int denom, int channels, bool fast_dct,
                  JpegWindow* win, std::uint8_t* out, std::size_t cap, bool* cmyk, bool eoi_appended) {
  jpeg_decompress_struct* c = &d.cinfo;
  d.err.warned = false;
  d.err.message[0] = 0;
  d.err.pub.num_warnings = 0;
  if (setjmp(d.err.jump)) {
    jpeg_abort_decompress(c);  // returns at once when a failed create left no memory manager
    return Result::kFatal;
  }
  d.fresh();
  jpeg_mem_src(c, data, static_cast<unsigned long>(size));
  jpeg_read_header(c, TRUE);
  *cmyk = c->jpeg_color_space == JCS_CMYK || c->jpeg_color_space == JCS_YCCK;
  c->out_color_space = *cmyk ? JCS_CMYK : (channels == 3 ? JCS_RGB : JCS_GRAYSCALE);
  c->scale_num = 1;
  c->scale_denom = static_cast<unsigned int>(denom);
  c->dct_method = fast_dct ? JDCT_IFAST : JDCT_ISLOW;
  jpeg_start_decompress(c);
  const int oh = static_cast<int>(c->output_height);
  const int ow = static_cast<int>(c->output_width);
  win->x = std::clamp(win->x, 0, ow - 1);
  win->y = std::clamp(win->y, 0, oh - 1);
  win->w = std::clamp(win->w, 1, ow - win->x);
  win->h = std::clamp(win->h, 1, oh - win->y);
  JDIMENSION xoff = static_cast<JDIMENSION>(win->x), width = static_cast<JDIMENSION>(win->w);
  jpeg_crop_scanline(c, &xoff, &width);
  win->x = static_cast<int>(xoff);
  win->w = static_cast<int>(c->output_width);
  const std::size_t comps = static_cast<std::size_t>(c->output_components);
  const std::size_t row = static_cast<std::size_t>(win->w) * comps;
  if (row * static_cast<std::size_t>(win->h) > cap) {
    jpeg_abort_decompress(c);
    return Result::kTooLarge;
  }
  if (win->y > 0) jpeg_skip_scanlines(c, static_cast<JDIMENSION>(win->y));
  for (int r = 0; r < win->h;) {
    JSAMPROW rows[4];
    int n = std::min(4, win->h - r);
    for (int i = 0; i < n; ++i) rows[i] = out + static_cast<std::size_t>(r + i) * row;
    r += static_cast<int>(jpeg_read_scanlines(c, rows, static_cast<JDIMENSION>(n)));
  }
  // Rows below the window. A file that ends with EOI (FF D9) is not truncated (entropy-coded data
  // cannot contain FF D9), so decoding stops here. Otherwise they are entropy-decoded: skipping
  // to the very end would mark EOI without reading the data, so the last row is read (one iMCU row
  // of the window's columns) and jpeg_finish_decompress then reads to EOI, raising the same
  // warnings a full decode would (a truncated file is an error even when the window is intact).
  const int below = oh - (win->y + win->h);
  const bool ends_with_eoi = !eoi_appended && size >= 4 && data[size - 2] == 0xFF && data[size - 1] == 0xD9;
  if (below > 0 && ends_with_eoi && !c->progressive_mode) {
    jpeg_abort_decompress(c);
    return Result::kOk;
  }
  if (below > 0) {
    if (below > 1) jpeg_skip_scanlines(c, static_cast<JDIMENSION>(below - 1));
    // The scratch row must not overwrite the window: use the row after it when there is room,
    // else read into the first row and re-read nothing (the window is then the whole height).
    JSAMPROW last = out + static_cast<std::size_t>(win->h) * row;
    if ((static_cast<std::size_t>(win->h) + 1) * row > cap) {
      jpeg_abort_decompress(c);
      return Result::kTooLarge;
    }
    jpeg_read_scanlines(c, &last, 1);
  }
  jpeg_finish_decompress(c);
  return Result::kOk;
}


}  // namespace

void cmyk_to(std::uint8_t* p, std::size_t pixels, int c) {
  for (std::size_t i = 0; i < pixels; ++i) {
    const std::uint8_t* s = p + 4 * i;
    unsigned k = s[3];
    unsigned r = (s[0] * k + 127) / 255, g = (s[1] * k + 127) / 255, b = (s[2] * k + 127) / 255;
    if (c == 3) {
      p[3 * i] = static_cast<std::uint8_t>(r);
      p[3 * i + 1] = static_cast<std::uint8_t>(g);
      p[3 * i + 2] = static_cast<std::uint8_t>(b);
    } else {
      p[i] = static_cast<std::uint8_t>((77 * r + 150 * g + 29 * b + 128) >> 8);
    }
  }
}

void throw_jpeg_fatal(const std::string& message, const ErrorContext& ctx, const char* corrupt) {
  for (const char* k : {"Unsupported JPEG data precision", "Unsupported JPEG process", "Unsupported color conversion"}) {
    if (message.find(k) != std::string::npos) throw Error(ErrorCode::kUnsupported, "unsupported JPEG: " + message, ctx);
  }
  throw Error(ErrorCode::kDataLoss, corrupt + message, ctx);
}

namespace {
// The texts of libjpeg(-turbo)'s warnings (jerror.h, JWRN_*), by prefix. TurboJPEG 2.1 reports
// TJERR_WARNING whenever a warning was raised, even when a fatal error followed and ended the
// decode (its message then being the fatal one, e.g. "Bogus marker length"): a "warning" whose
// text is not one of these was fatal.
bool is_libjpeg_warning(const std::string& m) {
  for (const char* p : {"Corrupt JPEG data", "Premature end of JPEG file", "Warning: unknown JFIF",
                        "Unknown Adobe color transform", "Inconsistent progression sequence", "Invalid SOS parameters",
                        "Application transferred too many scanlines", "Arithmetic table"}) {
    if (m.rfind(p, 0) == 0) return true;
  }
  return false;
}
}  // namespace

void check_jpeg_warning(const std::string& message, bool strict, const ErrorContext& ctx) {
  std::string low = message;
  std::transform(low.begin(), low.end(), low.begin(), [](unsigned char ch) { return static_cast<char>(std::tolower(ch)); });
  if (low.find("premature end") != std::string::npos) throw Error(ErrorCode::kDataLoss, "truncated JPEG (" + message + ")", ctx);
  if (!is_libjpeg_warning(message)) throw_jpeg_fatal(message, ctx);
  if (strict) throw Error(ErrorCode::kDataLoss, "damaged JPEG (strict mode): " + message, ctx);
}

void decode_jpeg_window(const std::uint8_t* data, std::size_t size, int denom, int channels, bool strict,
                        bool fast_dct, JpegWindow& win, ByteBuffer& buf, const std::string& source, bool eoi_appended,
                        bool narrow, JpegMcuIndex* index) {
  Decoder& d = decoder();
  NarrowState& ns = narrow_state();
  int dx = 0, dy = 0;
  const bool narrowed = (narrow || index) && !eoi_appended && narrow_for(data, size, denom, win, index, narrow, ns, &dx, &dy);
  if (narrowed) {
    data = ns.stream.data.get();
    size = ns.stream.size;
    win.x -= dx;
    win.y -= dy;
  }
  // Room for the window widened by up to one iMCU (32 px at most) on the left, in CMYK, plus the
  // scratch row below it.
  std::size_t cap = static_cast<std::size_t>(win.w + 64) * 4 * static_cast<std::size_t>(win.h + 1);
  buf.resize(cap);
  bool cmyk = false;
  JpegWindow asked = win;
  Result r = window_raw(d, data, size, denom, channels, fast_dct, &win, buf.data.get(), cap, &cmyk, eoi_appended);
  if (r == Result::kTooLarge) {  // a larger iMCU than expected: retry with room for every column
    win = asked;
    cap = static_cast<std::size_t>(win.x + win.w + 64) * 4 * static_cast<std::size_t>(win.h + 1);
    buf.resize(cap);
    r = window_raw(d, data, size, denom, channels, fast_dct, &win, buf.data.get(), cap, &cmyk, eoi_appended);
  }
  if (narrowed) {
    win.x += dx;
    win.y += dy;
    ns.stream.trim(std::size_t{4} << 20);
  }
  ErrorContext ctx{"decode_jpeg", source};
  if (r != Result::kOk) {
    if (r != Result::kFatal) throw Error(ErrorCode::kInternal, "window buffer too small", ctx);
    throw_jpeg_fatal(d.err.message, ctx);
  }
  if (d.err.warned) check_jpeg_warning(d.err.message, strict, ctx);
  if (cmyk) cmyk_to(buf.data.get(), static_cast<std::size_t>(win.w) * static_cast<std::size_t>(win.h), channels);
}

}  // namespace stoker::detail
