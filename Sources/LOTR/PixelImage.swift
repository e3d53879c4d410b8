import CLOTRKernels

/// How a frame's bytes are laid out (lotr_pixels.h has the colour contract). Rows are
/// packed: no padding between rows or planes.
public enum PixelLayout: String, Sendable, CaseIterable {
  /// R G B, 3 bytes a pixel.
  case rgb8
  /// Full-range gray, 1 byte a pixel (R = G = B when a model reads it).
  case gray8
  /// Y0 U Y1 V per pixel pair, rows of ceil(w/2) pairs (V4L2 YUYV).
  case yuyv
  /// A Y plane, then ceil(h/2) rows of ceil(w/2) interleaved U V pairs (V4L2 NV12).
  case nv12
  /// A Y plane, then U and V planes of ceil(w/2) x ceil(h/2) (V4L2 YUV420 / I420).
  case i420

  /// Bytes of a `width` x `height` image.
  public func byteCount(width: Int, height: Int) -> Int {
    let (cw, ch) = ((width + 1) / 2, (height + 1) / 2)
    switch self {
    case .rgb8: return width * height * 3
    case .gray8: return width * height
    case .yuyv: return cw * 4 * height
    case .nv12, .i420: return width * height + cw * ch * 2
    }
  }
}

/// A frame's pixels as the camera delivered them. The landmark model and the detector warp
/// their crops straight from these bytes (lotr_image_warp_normalize_f32), so a YUYV or NV12
/// frame is never converted to full-frame RGB just to be cropped.
public struct PixelImage: Sendable {
  public var width: Int
  public var height: Int
  public var layout: PixelLayout
  /// `layout.byteCount(width:height:)` bytes.
  public var pixels: [UInt8]

  public init(width: Int, height: Int, layout: PixelLayout, pixels: [UInt8]) {
    precondition(width > 0 && height > 0 && pixels.count == layout.byteCount(width: width, height: height),
                 "pixel count does not match \(width)x\(height) \(layout)")
    self.width = width
    self.height = height
    self.layout = layout
    self.pixels = pixels
  }

  /// The RGB image as it is (no copy: the bytes are shared until one side changes).
  public init(_ rgb: RGBImage) {
    self.init(width: rgb.width, height: rgb.height, layout: .rgb8, pixels: rgb.pixels)
  }

  /// Calls `body` with the C view of these bytes (valid only inside `body`).
  public func withCImage<R>(_ body: (UnsafePointer<lotr_image>) throws -> R) rethrows -> R {
    try pixels.withUnsafeBufferPointer { buffer in
      let base = buffer.baseAddress!
      let (w, h, cw) = (width, height, (width + 1) / 2)
      var image = lotr_image()
      image.width = UInt32(w)
      image.height = UInt32(h)
      switch layout {
      case .rgb8: image.layout = LOTR_IMAGE_RGB8; image.plane.0 = base; image.stride.0 = w * 3
      case .gray8: image.layout = LOTR_IMAGE_GRAY8; image.plane.0 = base; image.stride.0 = w
      case .yuyv: image.layout = LOTR_IMAGE_YUYV; image.plane.0 = base; image.stride.0 = cw * 4
      case .nv12:
        image.layout = LOTR_IMAGE_NV12
        (image.plane.0, image.stride.0) = (base, w)
        (image.plane.1, image.stride.1) = (base + w * h, cw * 2)
      case .i420:
        image.layout = LOTR_IMAGE_I420
        (image.plane.0, image.stride.0) = (base, w)
        (image.plane.1, image.stride.1) = (base + w * h, cw)
        (image.plane.2, image.stride.2) = (base + w * h + cw * ((h + 1) / 2), cw)
      }
      return try withUnsafePointer(to: &image) { try body($0) }
    }
  }

  /// The frame as packed RGB8 (lotr_pixels.h conversions; gray replicated), for what
  /// needs whole pixels: drawing, encoding, recording.
  public var rgbImage: RGBImage {
    if layout == .rgb8 { return RGBImage(width: width, height: height, pixels: pixels) }
    var rgb = [UInt8](repeating: 0, count: width * height * 3)
    let (w, h, cw) = (width, height, (width + 1) / 2)
    pixels.withUnsafeBufferPointer { src in
      rgb.withUnsafeMutableBufferPointer { dst in
        let (s, d) = (src.baseAddress!, dst.baseAddress!)
        switch layout {
        case .rgb8: break
        case .gray8: for i in 0..<(w * h) { d[3 * i] = s[i]; d[3 * i + 1] = s[i]; d[3 * i + 2] = s[i] }
        case .yuyv: lotr_yuyv_to_rgb8(nil, w, h, s, cw * 4, d, w * 3)
        case .nv12: lotr_nv12_to_rgb8(nil, w, h, s, w, s + w * h, cw * 2, d, w * 3)
        case .i420: lotr_i420_to_rgb8(nil, w, h, s, w, s + w * h, cw, s + w * h + cw * ((h + 1) / 2), cw, d, w * 3)
        }
      }
    }
    return RGBImage(width: w, height: h, pixels: rgb)
  }
}
