import LOTR

/// The measured map from a detector's box (side s = its longer side) to the landmark model's
/// crop convention, the landmark bounding box: width = widthScale s, height = heightScale s,
/// centre = box centre + (centerX, centerY) s in the face's own (rolled) frame. Fitted by
/// least squares on the 300-W training faces (`lotr vision cnn`, docs/VISION.md); the fit and
/// the application are in CNNFaceDetector.swift.
public struct DetectorBoxMapping: Sendable, Equatable, Codable {
  public var widthScale: Float
  public var heightScale: Float
  public var centerX: Float
  public var centerY: Float

  public init(widthScale: Float, heightScale: Float, centerX: Float, centerY: Float) {
    self.widthScale = widthScale; self.heightScale = heightScale; self.centerX = centerX; self.centerY = centerY
  }

  /// The box itself.
  public static let identity = DetectorBoxMapping(widthScale: 1, heightScale: 1, centerX: 0, centerY: 0)
}

/// Intersection over union of two boxes.
public func iou(_ a: FaceBox, _ b: FaceBox) -> Float {
  let ix = max(0, min(a.x + a.width, b.x + b.width) - max(a.x, b.x))
  let iy = max(0, min(a.y + a.height, b.y + b.height) - max(a.y, b.y))
  let inter = ix * iy
  let union = a.width * a.height + b.width * b.height - inter
  return union > 0 ? inter / union : 0
}
