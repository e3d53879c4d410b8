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

enum PixelConversion {
  /// Converts one raw camera buffer to packed `output`. Returns nil when the buffer is
  /// too short for the layout (a truncated frame) or a JPEG does not decode.
  static func convert(_ raw: UnsafeRawBufferPointer, layout: CameraPixelLayout, width: Int, height: Int,
                      output: PixelFormat) -> (pixels: [UInt8], width: Int, height: Int, encoded: [UInt8]?)? {
    guard width > 0, height > 0, let base = raw.baseAddress?.assumingMemoryBound(to: UInt8.self) else { return nil }
    let (w, h) = (width, height)
    var out = [UInt8](repeating: 0, count: w * h * output.bytesPerPixel)
    let stride = w * output.bytesPerPixel
    func need(_ bytes: Int) -> Bool { raw.count >= bytes }
    switch layout {
    case .yuyv(let bpl):
      let line = max(bpl, (w + 1) / 2 * 4)
      guard need(line * (h - 1) + (w + 1) / 2 * 4) else { return nil }
      out.withUnsafeMutableBufferPointer { dst in
        if output == .rgb8 { lotr_yuyv_to_rgb8(nil, w, h, base, line, dst.baseAddress, stride) }
        else { lotr_yuyv_to_gray8(nil, w, h, base, line, dst.baseAddress, stride) }
      }
    case .grey(let bpl):
      let line = max(bpl, w)
      guard need(line * (h - 1) + w) else { return nil }
      out.withUnsafeMutableBufferPointer { dst in
        for r in 0..<h {
          let src = base + r * line
          if output == .gray8 {
            (dst.baseAddress! + r * w).update(from: src, count: w)
          } else {
            for x in 0..<w { let g = src[x]; dst[(r * w + x) * 3] = g; dst[(r * w + x) * 3 + 1] = g; dst[(r * w + x) * 3 + 2] = g }
          }
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
      out.withUnsafeMutableBufferPointer { dst in
        if output == .gray8 {
          lotr_y8_to_gray8(nil, w, h, base, line, dst.baseAddress, stride)
        } else if isNV12 {
          lotr_nv12_to_rgb8(nil, w, h, base, line, base + ySize, cLine, dst.baseAddress, stride)
        } else {
          lotr_i420_to_rgb8(nil, w, h, base, line, base + ySize, cLine, base + ySize + cLine * ch, cLine,
                            dst.baseAddress, stride)
        }
      }
    case .rgb24(let bpl):
      let line = max(bpl, w * 3)
      guard need(line * (h - 1) + w * 3) else { return nil }
      out.withUnsafeMutableBufferPointer { dst in
        if output == .gray8 { lotr_rgb8_to_gray8(nil, w, h, base, line, dst.baseAddress, stride) }
        else { for r in 0..<h { (dst.baseAddress! + r * stride).update(from: base + r * line, count: w * 3) } }
      }
    case .jpeg:
      let bytes = Array(UnsafeBufferPointer(start: base, count: raw.count))
      guard let decoded = decodeJPEG(bytes, output: output) else { return nil }
      return (decoded.pixels, decoded.width, decoded.height, bytes)
    }
    return (out, w, h, nil)
  }

  /// Decodes a JPEG/PNG in memory to `output` (gray from the decoded RGB, BT.601 weights).
  static func decodeJPEG(_ bytes: [UInt8], output: PixelFormat) -> (pixels: [UInt8], width: Int, height: Int)? {
    guard let rgb = try? RGBImage(encoded: bytes) else { return nil }
    return (fromRGB(rgb.pixels, width: rgb.width, height: rgb.height, output: output), rgb.width, rgb.height)
  }

  /// Packed RGB8 to `output`.
  static func fromRGB(_ rgb: [UInt8], width: Int, height: Int, output: PixelFormat) -> [UInt8] {
    if output == .rgb8 { return rgb }
    var gray = [UInt8](repeating: 0, count: width * height)
    gray.withUnsafeMutableBufferPointer { g in
      rgb.withUnsafeBufferPointer { lotr_rgb8_to_gray8(nil, width, height, $0.baseAddress, width * 3, g.baseAddress, width) }
    }
    return gray
  }
}
