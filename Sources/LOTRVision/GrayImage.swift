import CLOTRVision
import LOTR

/// An 8-bit single-channel image (row-major, no padding): what the detector scans.
public struct GrayImage: Sendable, Equatable {
  public var width: Int
  public var height: Int
  public var pixels: [UInt8]

  public init(width: Int, height: Int, pixels: [UInt8]) {
    precondition(pixels.count == width * height, "pixel count does not match \(width)x\(height)")
    self.width = width; self.height = height; self.pixels = pixels
  }

  /// BT.601 luma of an RGB image (OpenCV's RGB2GRAY weights).
  public init(_ rgb: RGBImage) {
    var out = [UInt8](repeating: 0, count: rgb.width * rgb.height)
    rgb.pixels.withUnsafeBufferPointer { src in
      out.withUnsafeMutableBufferPointer { dst in
        lotr_vision_rgb8_to_gray(src.baseAddress, rgb.width * 3, UInt32(rgb.width), UInt32(rgb.height),
                                 dst.baseAddress, rgb.width)
      }
    }
    self.init(width: rgb.width, height: rgb.height, pixels: out)
  }

  /// Bilinear resize (pixel centres aligned).
  public func resized(width w: Int, height h: Int) -> GrayImage {
    var out = [UInt8](repeating: 0, count: w * h)
    pixels.withUnsafeBufferPointer { src in
      out.withUnsafeMutableBufferPointer { dst in
        lotr_vision_resize_gray(src.baseAddress, UInt32(width), UInt32(height), width, dst.baseAddress, UInt32(w), UInt32(h), w)
      }
    }
    return GrayImage(width: w, height: h, pixels: out)
  }
}

/// The integral image and integral of squares of a gray image, each (w+1) x (h+1) with a
/// zero first row and column: sum[y][x] = sum of pixels [0, y) x [0, x).
public struct IntegralImage: Sendable {
  public let width: Int
  public let height: Int
  public let sum: [Int32]
  public let squares: [Int64]

  public init(_ image: GrayImage) {
    width = image.width; height = image.height
    let cells = (width + 1) * (height + 1)
    var s = [Int32](repeating: 0, count: cells)
    var q = [Int64](repeating: 0, count: cells)
    image.pixels.withUnsafeBufferPointer { p in
      s.withUnsafeMutableBufferPointer { sp in
        q.withUnsafeMutableBufferPointer { qp in
          lotr_vision_integral(p.baseAddress, UInt32(image.width), UInt32(image.height), image.width, sp.baseAddress, qp.baseAddress)
        }
      }
    }
    sum = s; squares = q
  }

  /// Sum of the pixels in [x, x+w) x [y, y+h).
  public func sum(x: Int, y: Int, width w: Int, height h: Int) -> Int {
    let S = width + 1
    return Int(sum[(y + h) * S + x + w]) - Int(sum[y * S + x + w]) - Int(sum[(y + h) * S + x]) + Int(sum[y * S + x])
  }
}
