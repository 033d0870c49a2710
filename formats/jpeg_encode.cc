// encode_jpeg over libjpeg's compression API. libjpeg reports fatal errors through error_exit,
// which must not return: it longjmps back to encode_raw(), whose frame holds no C++ objects
// with destructors (longjmp would skip them).
#include "formats/jpeg_encode.h"

#include <csetjmp>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include <jpeglib.h>

#include "pipeline/error.h"

namespace stoker {
namespace {

struct ErrorMgr {
  jpeg_error_mgr pub;
  std::jmp_buf jump;
  char message[JMSG_LENGTH_MAX];
};

void on_error(j_common_ptr cinfo) {
  auto* err = reinterpret_cast<ErrorMgr*>(cinfo->err);
  (*cinfo->err->format_message)(cinfo, err->message);
  std::longjmp(err->jump, 1);
}

void on_message(j_common_ptr) {}  // warnings are not printed

// Returns 0 and sets *out/*out_size (malloc'd by libjpeg) or returns -1 with err->message set.
int encode_raw(const std::uint8_t* pixels, int height, int width, int channels, const JpegEncodeOptions& o,
               ErrorMgr* err, unsigned char** out, unsigned long* out_size) {
  jpeg_compress_struct cinfo;
  cinfo.err = jpeg_std_error(&err->pub);
  err->pub.error_exit = on_error;
  err->pub.output_message = on_message;
  if (setjmp(err->jump)) {
    jpeg_destroy_compress(&cinfo);
    return -1;
  }
  jpeg_create_compress(&cinfo);
  jpeg_mem_dest(&cinfo, out, out_size);
  cinfo.image_width = static_cast<JDIMENSION>(width);
  cinfo.image_height = static_cast<JDIMENSION>(height);
  cinfo.input_components = channels;
  cinfo.in_color_space = channels == 1 ? JCS_GRAYSCALE : channels == 3 ? JCS_RGB : JCS_CMYK;
  jpeg_set_defaults(&cinfo);
  if (channels == 4) jpeg_set_colorspace(&cinfo, JCS_YCCK);
  jpeg_set_quality(&cinfo, o.quality, TRUE);
  if (channels >= 3) {
    int h = o.subsampling == JpegSubsampling::k444 ? 1 : 2;
    int v = o.subsampling == JpegSubsampling::k420 ? 2 : 1;
    cinfo.comp_info[0].h_samp_factor = h;
    cinfo.comp_info[0].v_samp_factor = v;
    for (int i = 1; i < cinfo.num_components; ++i) {
      cinfo.comp_info[i].h_samp_factor = 1;
      cinfo.comp_info[i].v_samp_factor = 1;
    }
    if (channels == 4) {  // K keeps full resolution, like Y
      cinfo.comp_info[3].h_samp_factor = h;
      cinfo.comp_info[3].v_samp_factor = v;
    }
  }
  if (o.progressive) jpeg_simple_progression(&cinfo);
  cinfo.arith_code = o.arithmetic ? TRUE : FALSE;
  cinfo.optimize_coding = o.optimize ? TRUE : FALSE;
  cinfo.restart_interval = static_cast<unsigned int>(o.restart_interval);
  jpeg_start_compress(&cinfo, TRUE);
  const std::size_t stride = static_cast<std::size_t>(width) * static_cast<std::size_t>(channels);
  while (cinfo.next_scanline < cinfo.image_height) {
    JSAMPROW row = const_cast<JSAMPROW>(pixels + cinfo.next_scanline * stride);
    jpeg_write_scanlines(&cinfo, &row, 1);
  }
  jpeg_finish_compress(&cinfo);
  jpeg_destroy_compress(&cinfo);
  return 0;
}

}  // namespace

std::vector<std::uint8_t> encode_jpeg(const std::uint8_t* pixels, int height, int width, int channels,
                                      const JpegEncodeOptions& options) {
  if (height <= 0 || width <= 0 || height > 65500 || width > 65500) {
    throw Error(ErrorCode::kInvalidArgument, "encode_jpeg: size " + std::to_string(width) + "x" + std::to_string(height) +
                                                 " outside 1..65500");
  }
  if (channels != 1 && channels != 3 && channels != 4) {
    throw Error(ErrorCode::kInvalidArgument, "encode_jpeg: channels must be 1, 3 or 4, got " + std::to_string(channels));
  }
  if (options.quality < 1 || options.quality > 100) {
    throw Error(ErrorCode::kInvalidArgument, "encode_jpeg: quality must be in 1..100");
  }
  ErrorMgr err{};
  unsigned char* out = nullptr;
  unsigned long size = 0;
  int rc = encode_raw(pixels, height, width, channels, options, &err, &out, &size);
  if (rc != 0) {
    std::free(out);
    throw Error(ErrorCode::kInternal, std::string("encode_jpeg: libjpeg failed: ") + err.message);
  }
  std::vector<std::uint8_t> bytes(out, out + size);
  std::free(out);
  return bytes;
}

}  // namespace stoker
