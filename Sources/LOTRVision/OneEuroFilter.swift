#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import LOTR

/// The One Euro filter (Casiez, Roussel and Vogel, CHI 2012): a first-order low-pass whose
/// cutoff rises with the signal's speed, so a still point is smoothed hard and a moving
/// one follows with little lag. cutoff = minCutoff + beta |dx/dt| (speed low-passed at
/// derivativeCutoff); alpha = 1 / (1 + 1 / (2 pi cutoff dt)).
public struct OneEuroFilter: Sendable {
  public struct Parameters: Sendable, Equatable, Codable {
    /// Hz: the cutoff when still (lower = smoother, more lag).
    public var minCutoff: Float
    /// Cutoff gain per unit of speed (per face size per second in `LandmarkSmoother`).
    public var beta: Float
    /// Hz: the cutoff of the speed estimate.
    public var derivativeCutoff: Float
    public init(minCutoff: Float, beta: Float, derivativeCutoff: Float = 1) {
      self.minCutoff = minCutoff; self.beta = beta; self.derivativeCutoff = derivativeCutoff
    }
    /// The landmark default, measured (docs/VISION.md, `lotr vision jitter`).
    public static let landmarks = Parameters(minCutoff: 4, beta: 40, derivativeCutoff: 1)
  }

  public var parameters: Parameters
  private var last: (x: Float, dx: Float, t: Double)?

  public init(_ parameters: Parameters) { self.parameters = parameters }

  static func alpha(cutoff: Float, dt: Float) -> Float {
    let tau = 1 / (2 * Float.pi * cutoff)
    return 1 / (1 + tau / dt)
  }

  /// Filters sample x taken at time t (seconds). speedScale multiplies the speed before
  /// beta (e.g. 1 / face size, to make beta independent of the image scale).
  public mutating func filter(_ x: Float, at t: Double, speedScale: Float = 1) -> Float {
    guard let prev = last else { last = (x, 0, t); return x }
    guard t > prev.t else { return prev.x } // a repeated timestamp holds the output
    let dt = Float(t - prev.t)
    let dx = (x - prev.x) / dt
    let edx = prev.dx + OneEuroFilter.alpha(cutoff: parameters.derivativeCutoff, dt: dt) * (dx - prev.dx)
    let cutoff = parameters.minCutoff + parameters.beta * abs(edx) * speedScale
    let y = prev.x + OneEuroFilter.alpha(cutoff: cutoff, dt: dt) * (x - prev.x)
    last = (y, edx, t)
    return y
  }

  public mutating func reset() { last = nil }
}

/// A One Euro filter per landmark coordinate, with speeds measured in face sizes per second.
public struct LandmarkSmoother: Sendable {
  public var parameters: OneEuroFilter.Parameters
  private var filters: [OneEuroFilter] = []

  public init(_ parameters: OneEuroFilter.Parameters = .landmarks) { self.parameters = parameters }

  /// Smoothed points; `faceSize` (pixels) normalises the speed.
  public mutating func smooth(_ points: [Point], at t: Double, faceSize: Float) -> [Point] {
    if filters.count != points.count * 2 { filters = Array(repeating: OneEuroFilter(parameters), count: points.count * 2) }
    let scale = 1 / max(faceSize, 1)
    return points.enumerated().map { i, p in
      Point(x: filters[2 * i].filter(p.x, at: t, speedScale: scale), y: filters[2 * i + 1].filter(p.y, at: t, speedScale: scale))
    }
  }

  public mutating func reset() { filters = [] }
}
