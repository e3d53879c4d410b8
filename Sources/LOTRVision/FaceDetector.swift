import CLOTRVision
import LOTR

/// One face found by the detector: the grouped detector window, how many raw windows
/// supported it, and the window mapped to the model's box convention (the landmark box).
public struct Detection: Sendable, Equatable {
  public var rect: PixelRect
  public var neighbors: Int
  public var box: FaceBox
}

/// Multi-scale cascade face detection (OpenCV's detectMultiScale) with the windows grouped
/// and mapped to landmark boxes. Holds scratch buffers: one detector per thread.
public final class FaceDetector: @unchecked Sendable {
  public struct Options: Sendable, Equatable {
    /// Window growth per scale step (OpenCV's scaleFactor).
    public var scaleFactor: Double = 1.1
    /// A group needs more than this many raw windows (OpenCV's minNeighbors).
    public var minNeighbors: Int = 3
    /// Smallest and largest detector window side in pixels (0 = no upper limit).
    public var minSize: Int = 40
    public var maxSize: Int = 0
    public init(scaleFactor: Double = 1.1, minNeighbors: Int = 3, minSize: Int = 40, maxSize: Int = 0) {
      self.scaleFactor = scaleFactor; self.minNeighbors = minNeighbors; self.minSize = minSize; self.maxSize = maxSize
    }
  }

  public let cascade: Cascade
  public var options: Options
  public var mapping: DetectorBoxMapping
  private let scratch: OpaquePointer
  private var raw = [lotr_vision_rect](repeating: lotr_vision_rect(), count: 4096)

  /// `mapping` defaults to the fitted constants for Debian's face cascades, by file name.
  public init(cascade: Cascade, options: Options = Options(), mapping: DetectorBoxMapping? = nil) {
    self.cascade = cascade
    self.options = options
    self.mapping = mapping ?? DetectorBoxMapping.fitted(forCascade: cascade.source)
    scratch = lotr_vision_scratch_create()
  }

  /// Loads a cascade file (default: Debian's haarcascade_frontalface_default.xml).
  public convenience init(cascadePath: String = Cascade.defaultHaarPath, options: Options = Options()) throws {
    self.init(cascade: try Cascade(contentsOf: cascadePath), options: options)
  }

  deinit { lotr_vision_scratch_free(scratch) }

  /// Raw detector windows (before grouping), in frame pixels.
  public func rawWindows(_ image: GrayImage) -> [PixelRect] {
    while true {
      let capacity = raw.count
      let found = image.pixels.withUnsafeBufferPointer { px in
        raw.withUnsafeMutableBufferPointer { out in
          lotr_cascade_detect(cascade.handle, scratch, px.baseAddress, UInt32(image.width), UInt32(image.height),
                              image.width, options.scaleFactor, Int32(options.minSize), Int32(options.minSize),
                              Int32(options.maxSize), Int32(options.maxSize), out.baseAddress, capacity)
        }
      }
      precondition(found >= 0, "lotr_cascade_detect: out of memory")
      if found <= capacity {
        return raw[0..<Int(found)].map { PixelRect(x: Int($0.x), y: Int($0.y), width: Int($0.w), height: Int($0.h)) }
      }
      raw = [lotr_vision_rect](repeating: lotr_vision_rect(), count: Int(found))
    }
  }

  /// Faces in a gray frame, largest first.
  public func detect(_ image: GrayImage) -> [Detection] {
    groupRectangles(rawWindows(image), minNeighbors: options.minNeighbors)
      .map { Detection(rect: $0.rect, neighbors: $0.neighbors, box: mapping.landmarkBox(for: $0.rect)) }
      .sorted { $0.rect.width * $0.rect.height > $1.rect.width * $1.rect.height }
  }

  public func detect(in image: RGBImage) -> [Detection] { detect(GrayImage(image)) }
}

/// The measured map from a detector window (square, side s at x, y) to the model's box
/// convention, the landmark bounding box: width = widthScale s, height = heightScale s,
/// centre = window centre + (centerX, centerY) s. Fitted by least squares on the 300-W
/// training faces (`lotr vision fit-mapping`, docs/VISION.md).
public struct DetectorBoxMapping: Sendable, Equatable, Codable {
  public var widthScale: Float
  public var heightScale: Float
  public var centerX: Float
  public var centerY: Float

  public init(widthScale: Float, heightScale: Float, centerX: Float, centerY: Float) {
    self.widthScale = widthScale; self.heightScale = heightScale; self.centerX = centerX; self.centerY = centerY
  }

  /// The window itself.
  public static let identity = DetectorBoxMapping(widthScale: 1, heightScale: 1, centerX: 0, centerY: 0)

  // Fitted on the even-numbered rows of /work/shared/data/300w-train/landmarks.csv
  // (1,006 faces) with
  //   .build/release/lotr vision detect-rate --data ../shared/data/300w-train --cascade <xml>
  // (minSize 40, scaleFactor 1.1, minNeighbors 3; it prints the constants it fits)
  // and checked on the odd-numbered rows (docs/VISION.md).
  /// haarcascade_frontalface_default.xml
  public static let haarFrontalFaceDefault = DetectorBoxMapping(widthScale: 0.8419, heightScale: 0.8240, centerX: 0.0113, centerY: 0.1446)
  /// lbpcascade_frontalface_improved.xml
  public static let lbpFrontalFaceImproved = DetectorBoxMapping(widthScale: 1.2804, heightScale: 1.2514, centerX: 0.0148, centerY: 0.1225)

  /// The fitted constants for a known cascade file name, else the Haar default's.
  public static func fitted(forCascade path: String) -> DetectorBoxMapping {
    let name = path.split(separator: "/").last.map(String.init) ?? path
    switch name {
    case "lbpcascade_frontalface_improved.xml": return .lbpFrontalFaceImproved
    default: return .haarFrontalFaceDefault
    }
  }

  public func landmarkBox(for r: PixelRect) -> FaceBox {
    let s = Float(max(r.width, r.height))
    let cx = Float(r.x) + Float(r.width) / 2 + centerX * s
    let cy = Float(r.y) + Float(r.height) / 2 + centerY * s
    let (w, h) = (widthScale * s, heightScale * s)
    return FaceBox(x: cx - w / 2, y: cy - h / 2, width: w, height: h)
  }

  /// Least squares over (window, landmark box) pairs: each constant minimises the squared
  /// pixel error of its own quantity (w = a s, h = b s, dcx = c s, dcy = d s).
  public static func fit(_ pairs: [(PixelRect, FaceBox)]) -> DetectorBoxMapping {
    var ss = 0.0, sw = 0.0, sh = 0.0, sx = 0.0, sy = 0.0
    for (r, b) in pairs {
      let s = Double(max(r.width, r.height))
      let dcx = Double(b.x + b.width / 2) - (Double(r.x) + Double(r.width) / 2)
      let dcy = Double(b.y + b.height / 2) - (Double(r.y) + Double(r.height) / 2)
      ss += s * s; sw += s * Double(b.width); sh += s * Double(b.height); sx += s * dcx; sy += s * dcy
    }
    guard ss > 0 else { return .identity }
    return DetectorBoxMapping(widthScale: Float(sw / ss), heightScale: Float(sh / ss), centerX: Float(sx / ss), centerY: Float(sy / ss))
  }
}

/// Intersection over union of two boxes.
public func iou(_ a: FaceBox, _ b: FaceBox) -> Float {
  let ix = max(0, min(a.x + a.width, b.x + b.width) - max(a.x, b.x))
  let iy = max(0, min(a.y + a.height, b.y + b.height) - max(a.y, b.y))
  let inter = ix * iy
  let union = a.width * a.height + b.width * b.height - inter
  return union > 0 ? inter / union : 0
}

extension PixelRect {
  public var faceBox: FaceBox { FaceBox(x: Float(x), y: Float(y), width: Float(width), height: Float(height)) }
}
