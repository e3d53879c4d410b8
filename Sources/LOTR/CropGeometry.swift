#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The crop rule (training/lotr_train/geometry.py), in one place for the runtime and the
/// quantizer: a square of side `scale` x the box's longer side, centred on the box centre
/// (moved down by `offset_y` sides), optionally rolled by `roll` radians. The 2x3 transform
/// maps crop coordinates (u - 0.5, v - 0.5, 1) to frame coordinates.
public enum CropGeometry {
  public static func transform(box: FaceBox, crop: ModelMetadata.Crop, roll: Float = 0) -> [Float] {
    let side = crop.scale * max(box.width, box.height)
    let cx = box.x + box.width / 2
    let cy = box.y + box.height / 2 + crop.offsetY * side
    let (c, s) = (cosf(roll), sinf(roll))
    return [side * c, -side * s, cx, side * s, side * c, cy]
  }

  /// Model output (u, v) pairs in [0, 1] of the crop to frame points.
  public static func mapBack<C: Collection>(_ uv: C, _ a: [Float]) -> [Point] where C.Element == Float, C.Index == Int {
    let base = uv.startIndex
    return (0..<(uv.count / 2)).map { i in
      let (u, v) = (uv[base + 2 * i] - 0.5, uv[base + 2 * i + 1] - 0.5)
      return Point(x: a[0] * u + a[1] * v + a[2], y: a[3] * u + a[4] * v + a[5])
    }
  }
}

/// Normalised mean error, as in the paper: mean point-to-point distance over a normaliser.
public enum LandmarkError {
  /// The outer eye corners for the schemes we know (68, 98 and 106 points).
  public static func outerEyeCorners(count: Int) -> (Int, Int)? {
    switch count {
    case 68: return (36, 45)
    case 98: return (60, 72)
    case 106: return (66, 79)
    default: return nil
    }
  }

  /// Inter-ocular distance where the scheme has eye corners (`eyes`, else by the point
  /// count), else sqrt(box w x h).
  public static func normaliser(_ truth: [Point], eyes: (Int, Int)? = nil) -> Float {
    if let (a, b) = eyes ?? outerEyeCorners(count: truth.count), a < truth.count, b < truth.count {
      return hypotf(truth[a].x - truth[b].x, truth[a].y - truth[b].y)
    }
    guard let box = FaceBox(bounding: truth) else { return 1 }
    return (box.width * box.height).squareRoot()
  }

  /// `eyes`: the model's outer eye corners (ModelMetadata.outerEyeCorners); nil = by count.
  public static func nme(_ predicted: [Point], _ truth: [Point], eyes: (Int, Int)? = nil) -> Float {
    precondition(predicted.count == truth.count, "point counts differ")
    let total = zip(predicted, truth).reduce(Float(0)) { $0 + hypotf($1.0.x - $1.1.x, $1.0.y - $1.1.y) }
    return total / Float(max(truth.count, 1)) / max(normaliser(truth, eyes: eyes), 1e-6)
  }
}
