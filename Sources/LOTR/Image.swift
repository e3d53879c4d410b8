import CImageIO

/// A packed 8-bit RGB image (row-major, 3 bytes per pixel, no padding).
public struct RGBImage: Sendable, Equatable {
  public var width: Int
  public var height: Int
  public var pixels: [UInt8]

  public init(width: Int, height: Int, pixels: [UInt8]) {
    precondition(pixels.count == width * height * 3, "pixel count does not match \(width)x\(height)x3")
    self.width = width
    self.height = height
    self.pixels = pixels
  }

  public init(width: Int, height: Int, fill: (UInt8, UInt8, UInt8) = (0, 0, 0)) {
    self.init(width: width, height: height,
              pixels: (0..<(width * height)).flatMap { _ in [fill.0, fill.1, fill.2] })
  }

  /// Pixels an image may declare before anything is allocated for it: 4096x4096
  /// (16.8 MP, 50 MB as RGB; a progressive JPEG's decoder needs about twice that again).
  /// A 1 KB file can claim 16384x16384; this is what keeps such a decompression bomb small.
  public static let defaultPixelBudget = 4096 * 4096
  /// Largest encoded file read (a JPEG of a full-budget photo is a few MB).
  public static let maxFileBytes = 64 << 20

  /// Decodes a JPEG or PNG file with libjpeg-turbo / libpng. Only a regular file of at
  /// most `maxFileBytes` is read, and only an image of at most `pixelBudget` pixels decoded.
  public init(contentsOf path: String, pixelBudget: Int = RGBImage.defaultPixelBudget) throws {
    let bytes: [UInt8]
    do { bytes = try RegularFile.read(path, limit: RGBImage.maxFileBytes) } catch let error as FileReadError {
      throw ImageError(path: path, message: error.message)
    }
    do { try self.init(encoded: bytes, pixelBudget: pixelBudget) } catch var error as ImageError {
      error.path = path
      throw error
    }
  }

  /// Decodes a JPEG or PNG held in memory (e.g. an MJPEG frame), straight into `pixels`.
  public init(encoded bytes: [UInt8], pixelBudget: Int = RGBImage.defaultPixelBudget) throws {
    var w: UInt32 = 0, h: UInt32 = 0
    var error = [CChar](repeating: 0, count: Int(LOTR_IMAGE_ERROR_SIZE))
    guard lotr_image_info(bytes, bytes.count, &w, &h, &error) == 0 else { throw ImageError(path: nil, message: cText(error)) }
    let (width, height) = (Int(w), Int(h))
    guard width * height <= pixelBudget else {
      throw ImageError(path: nil, message: "image declares \(width)x\(height) = \(width * height) pixels, over the budget of \(pixelBudget)")
    }
    var status: Int32 = -1
    let pixels = [UInt8](unsafeUninitializedCapacity: width * height * 3) { buffer, count in
      status = lotr_image_decode_into(bytes, bytes.count, buffer.baseAddress, w, h, &error)
      count = status == 0 ? width * height * 3 : 0
    }
    guard status == 0 else { throw ImageError(path: nil, message: cText(error)) }
    self.init(width: width, height: height, pixels: pixels)
  }

  /// Writes PNG, or JPEG when the path ends in .jpg/.jpeg.
  public func write(to path: String, quality: Int = 90) throws {
    var error = [CChar](repeating: 0, count: Int(LOTR_IMAGE_ERROR_SIZE))
    let lower = path.lowercased()
    let status = lower.hasSuffix(".jpg") || lower.hasSuffix(".jpeg")
      ? lotr_image_write_jpeg(path, pixels, UInt32(width), UInt32(height), Int32(quality), &error)
      : lotr_image_write_png(path, pixels, UInt32(width), UInt32(height), &error)
    guard status == 0 else { throw ImageError(path: path, message: cText(error)) }
  }

  // MARK: drawing (for --draw)

  public mutating func set(_ x: Int, _ y: Int, _ color: (UInt8, UInt8, UInt8)) {
    guard x >= 0, y >= 0, x < width, y < height else { return }
    let i = (y * width + x) * 3
    pixels[i] = color.0; pixels[i + 1] = color.1; pixels[i + 2] = color.2
  }

  /// A filled disc at continuous coordinates (x, y).
  public mutating func dot(_ x: Float, _ y: Float, radius: Float, color: (UInt8, UInt8, UInt8)) {
    guard x.isFinite, y.isFinite else { return }
    let r = Int(radius.rounded(.up))
    let (cx, cy) = (Int(x.rounded(.down)), Int(y.rounded(.down)))
    for dy in -r...r { for dx in -r...r where Float(dx * dx + dy * dy) <= radius * radius { set(cx + dx, cy + dy, color) } }
  }

  public mutating func rectangle(x: Float, y: Float, width w: Float, height h: Float, color: (UInt8, UInt8, UInt8)) {
    guard [x, y, w, h].allSatisfy(\.isFinite) else { return }
    let (x0, y0) = (Int(x.rounded(.down)), Int(y.rounded(.down)))
    let (x1, y1) = (Int((x + w).rounded(.down)), Int((y + h).rounded(.down)))
    guard x1 - x0 < 100_000, y1 - y0 < 100_000 else { return }
    for px in x0...max(x0, x1) { set(px, y0, color); set(px, y1, color) }
    for py in y0...max(y0, y1) { set(x0, py, color); set(x1, py, color) }
  }
}

public struct ImageError: Error, CustomStringConvertible {
  public var path: String?
  public var message: String
  public var description: String { path.map { "\($0): \(message)" } ?? message }
}

/// The text of a NUL-terminated C buffer.
func cText(_ buffer: [CChar]) -> String {
  String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
}
