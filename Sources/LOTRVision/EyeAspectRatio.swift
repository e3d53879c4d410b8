#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Eye openness from landmarks: Soukupová and Čech's eye aspect ratio (2016),
/// EAR = (|p2 - p6| + |p3 - p5|) / (2 |p1 - p4|) over an eye's six iBUG points p1..p6
/// (corner, two upper lid, corner, two lower lid). About 0.3 open, below 0.2 closed;
/// invariant to translation, rotation and scale of the face.
public enum EyeAspectRatio {
  /// iBUG 68: the subject's right eye is points 36-41 (the image's left), the left 42-47.
  public static let rightEye68 = 36, leftEye68 = 42

  /// EAR of the eye whose six points start at `first` in a flat x0, y0, x1, y1, ... array;
  /// nil when the eye has no width or a point is not finite.
  public static func ratio(_ xy: [Float], first: Int) -> Float? {
    guard xy.count >= 2 * (first + 6) else { return nil }
    func d(_ a: Int, _ b: Int) -> Float {
      hypotf(xy[2 * (first + a)] - xy[2 * (first + b)], xy[2 * (first + a) + 1] - xy[2 * (first + b) + 1])
    }
    let width = d(0, 3)
    let r = (d(1, 5) + d(2, 4)) / (2 * width)
    return width > 1e-6 && r.isFinite ? r : nil
  }

  /// Both eyes of a 68-point face (nil for other schemes).
  public static func ibug68(_ xy: [Float]) -> (right: Float, left: Float)? {
    guard xy.count == 136, let r = ratio(xy, first: rightEye68), let l = ratio(xy, first: leftEye68) else { return nil }
    return (r, l)
  }
}
