import CLOTRKernels
import LOTR

/// Camera pixel layouts a source can convert (lotr_pixels.h kernels do the work).
public enum CameraPixelLayout: Sendable, Equatable {
  case yuyv(bytesPerLine: Int)
  case grey(bytesPerLine: Int)
  case nv12(bytesPerLine: Int)
  case yuv420(bytesPerLine: Int)
  case rgb24(bytesPerLine: Int)
  case jpeg
}

/// One converted camera buffer: `pixels` in `layout`, rows packed.
struct ConvertedFrame {
  var pixels: [UInt8]
  var layout: PixelLayout
  var width: Int
  var height: Int
  var encoded: [UInt8]?
}

extension PixelFormat {
  /// The layout a frame decoded to RGB (a JPEG, RGB24) is delivered in.
  var decodedLayout: PixelLayout { self == .gray8 ? .gray8 : .rgb8 }
}

enum PixelConversion {
  /// Converts one raw camera buffer to `output` (for `.camera`, copies YUYV / NV12 / I420 /
  /// GREY as they are, rows packed). Returns nil when the buffer is too short for the layout
  /// (a truncated frame) or a JPEG does not decode.
  static func convert(_ raw: UnsafeRawBufferPointer, layout: CameraPixelLayout, width: Int, height: Int,
                      output: PixelFormat) -> ConvertedFrame? {
    guard width > 0, height > 0, let base = raw.baseAddress?.assumingMemoryBound(to: UInt8.self) else { return nil }
    let (w, h) = (width, height)
    func need(_ bytes: Int) -> Bool { raw.count >= bytes }
    /// `rows` rows of `bytes` bytes each, `line` apart in the buffer, packed.
    func packed(_ src: UnsafePointer<UInt8>, rows: Int, bytes: Int, line: Int, into out: inout [UInt8], at offset: Int) {
      out.withUnsafeMutableBufferPointer { dst in
        for r in 0..<rows { (dst.baseAddress! + offset + r * bytes).update(from: src + r * line, count: bytes) }
      }
    }
    func frame(_ pixels: [UInt8], _ layout: PixelLayout) -> ConvertedFrame {
      ConvertedFrame(pixels: pixels, layout: layout, width: w, height: h, encoded: nil)
    }
    let target = output.decodedLayout
    let stride = target == .rgb8 ? w * 3 : w
    /// A `target` frame written by `fill` (allocated only on the paths that convert, so
    /// `.camera` output never pays for a full-frame RGB buffer).
    func converted(_ fill: (UnsafeMutablePointer<UInt8>) -> Void) -> ConvertedFrame {
      let count = target.byteCount(width: w, height: h)
      return frame([UInt8](unsafeUninitializedCapacity: count) { buffer, n in fill(buffer.baseAddress!); n = count }, target)
    }
    switch layout {
    case .yuyv(let bpl):
      let row = (w + 1) / 2 * 4
      let line = max(bpl, row)
      guard need(line * (h - 1) + row) else { return nil }
      if output == .camera {
        var raw = [UInt8](repeating: 0, count: PixelLayout.yuyv.byteCount(width: w, height: h))
        packed(base, rows: h, bytes: row, line: line, into: &raw, at: 0)
        return frame(raw, .yuyv)
      }
      return converted { dst in
        if target == .rgb8 { lotr_yuyv_to_rgb8(nil, w, h, base, line, dst, stride) }
        else { lotr_yuyv_to_gray8(nil, w, h, base, line, dst, stride) }
      }
    case .grey(let bpl):
      let line = max(bpl, w)
      guard need(line * (h - 1) + w) else { return nil }
      if output != .rgb8 {
        var gray = [UInt8](repeating: 0, count: w * h)
        packed(base, rows: h, bytes: w, line: line, into: &gray, at: 0)
        return frame(gray, .gray8)
      }
      return converted { dst in
        for r in 0..<h {
          let src = base + r * line
          for x in 0..<w { let g = src[x]; dst[(r * w + x) * 3] = g; dst[(r * w + x) * 3 + 1] = g; dst[(r * w + x) * 3 + 2] = g }
        }
      }
    case .nv12(let bpl), .yuv420(let bpl):
      let line = max(bpl, w)
      let isNV12: Bool
      if case .nv12 = layout { isNV12 = true } else { isNV12 = false }
      let ch = (h + 1) / 2
      let cLine = isNV12 ? line : (line + 1) / 2
      let ySize = line * h
      guard need(ySize + cLine * ch * (isNV12 ? 1 : 2)) else { return nil }
      if output == .camera {
        let packedLayout: PixelLayout = isNV12 ? .nv12 : .i420
        var raw = [UInt8](repeating: 0, count: packedLayout.byteCount(width: w, height: h))
        let cw = (w + 1) / 2
        packed(base, rows: h, bytes: w, line: line, into: &raw, at: 0)
        if isNV12 {
          packed(base + ySize, rows: ch, bytes: cw * 2, line: cLine, into: &raw, at: w * h)
        } else {
          packed(base + ySize, rows: ch, bytes: cw, line: cLine, into: &raw, at: w * h)
          packed(base + ySize + cLine * ch, rows: ch, bytes: cw, line: cLine, into: &raw, at: w * h + cw * ch)
        }
        return frame(raw, packedLayout)
      }
      return converted { dst in
        if target == .gray8 {
          lotr_y8_to_gray8(nil, w, h, base, line, dst, stride)
        } else if isNV12 {
          lotr_nv12_to_rgb8(nil, w, h, base, line, base + ySize, cLine, dst, stride)
        } else {
          lotr_i420_to_rgb8(nil, w, h, base, line, base + ySize, cLine, base + ySize + cLine * ch, cLine,
                            dst, stride)
        }
      }
    case .rgb24(let bpl):
      let line = max(bpl, w * 3)
      guard need(line * (h - 1) + w * 3) else { return nil }
      return converted { dst in
        if target == .gray8 { lotr_rgb8_to_gray8(nil, w, h, base, line, dst, stride) }
        else { for r in 0..<h { (dst + r * stride).update(from: base + r * line, count: w * 3) } }
      }
    case .jpeg:
      let bytes = Array(UnsafeBufferPointer(start: base, count: raw.count))
      guard let decoded = decodeJPEG(bytes, output: output) else { return nil }
      return ConvertedFrame(pixels: decoded.pixels, layout: target, width: decoded.width, height: decoded.height, encoded: bytes)
    }
  }

  /// Decodes a JPEG/PNG in memory to `output.decodedLayout` (gray from the decoded RGB, BT.601 weights).
  static func decodeJPEG(_ bytes: [UInt8], output: PixelFormat) -> (pixels: [UInt8], width: Int, height: Int)? {
    guard let rgb = try? RGBImage(encoded: bytes) else { return nil }
    return (fromRGB(rgb.pixels, width: rgb.width, height: rgb.height, output: output), rgb.width, rgb.height)
  }

  /// Packed RGB8 to `output.decodedLayout`.
  static func fromRGB(_ rgb: [UInt8], width: Int, height: Int, output: PixelFormat) -> [UInt8] {
    if output != .gray8 { return rgb }
    var gray = [UInt8](repeating: 0, count: width * height)
    gray.withUnsafeMutableBufferPointer { g in
      rgb.withUnsafeBufferPointer { lotr_rgb8_to_gray8(nil, width, height, $0.baseAddress, width * 3, g.baseAddress, width) }
    }
    return gray
  }
}
