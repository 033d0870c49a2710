// Windowed JPEG decode through libjpeg's partial-decompression API (jpeg_crop_scanline,
// jpeg_skip_scanlines), which TurboJPEG 2.1 does not expose. decode_jpeg uses it when a crop
// covers only part of the image: columns outside the window get no IDCT, upsampling or colour
// conversion, rows outside it are entropy-decoded only. The whole stream is still read to EOI, so
// truncation anywhere in the file is detected exactly as in a full decode.
// Internal to formats/ (stoker::detail).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "formats/file_source.h"
#include "pipeline/error.h"

namespace stoker::detail {

class JpegMcuIndex;

struct JpegWindow {
  int x = 0, y = 0, w = 0, h = 0;  // requested window, in pixels of the image scaled by 1/denom
};

// Decodes window `win` of the image scaled by 1/denom (denom 1, 2, 4 or 8) into `buf` as rows of
// `channels` (3: RGB, 1: gray; CMYK files converted as decode_jpeg documents). libjpeg may widen
// the window to the left to an iMCU boundary: on return `win` holds the window actually decoded
// (buf is win.h rows of win.w * channels bytes). Applies decode_jpeg's warning policy; throws
// stoker::Error (kDataLoss, kUnsupported) with `source` in the context.
// decode_jpeg's error policy, for both decoders. A fatal libjpeg/TurboJPEG message throws
// kUnsupported ("unsupported JPEG: ...") for valid flavours this build cannot decode (12-bit,
// lossless, ...), else kDataLoss prefixed by `corrupt`.
[[noreturn]] void throw_jpeg_fatal(const std::string& message, const ErrorContext& ctx,
                                   const char* corrupt = "corrupt JPEG: ");
// A warning throws kDataLoss when it reports truncation ("premature end"), or any warning when
// `strict`; otherwise the decoded image stands.
void check_jpeg_warning(const std::string& message, bool strict, const ErrorContext& ctx);

// In place: CMYK (Adobe, inverted: 255 = no ink) -> RGB (channels = 3) or gray (channels = 1).
void cmyk_to(std::uint8_t* p, std::size_t pixels, int channels);

// `index` (optional): MCU positions of files seen before (jpeg_mcu_index.h); a file it knows, or
// has room for, is decoded from a JPEG of only the window's MCUs (jpeg_scan.h): the same pixels,
// entropy decoding in proportion to the window instead of every MCU above and beside it.
// `narrow`: do that even without an index (scanning the file each time; for tests).
// `eoi_appended`: the caller appended the EOI marker to a file that lacked it, so a trailing
// FF D9 proves nothing and the rows below the window are entropy-decoded to check the scan.
void decode_jpeg_window(const std::uint8_t* data, std::size_t size, int denom, int channels, bool strict,
                        bool fast_dct, JpegWindow& win, ByteBuffer& buf, const std::string& source,
                        bool eoi_appended = false, bool narrow = false, JpegMcuIndex* index = nullptr);

}  // namespace stoker::detail
