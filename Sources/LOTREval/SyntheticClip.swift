#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import LOTR

// Synthetic clips and a stand-in landmarker for the vision figures (`lotr vision ...`,
// docs/VISION.md) and the tracking tests.

/// A small deterministic RNG (xorshift64*), for reproducible clips and noise.
public struct SplitRNG: Sendable {
  private var state: UInt64
  public init(seed: UInt64) { state = seed &* 0x9E37_79B9_7F4A_7C15 | 1 }
  public mutating func next() -> UInt64 {
    state ^= state >> 12; state ^= state << 25; state ^= state >> 27
    return state &* 0x2545_F491_4F6C_DD1D
  }
  /// Uniform in [0, 1).
  public mutating func uniform() -> Float { Float(next() >> 40) / Float(1 << 24) }
  /// Standard normal (Box-Muller).
  public mutating func normal() -> Float {
    let u = max(uniform(), 1e-7), v = uniform()
    return (-2 * logf(u)).squareRoot() * cosf(2 * Float.pi * v)
  }
}

/// A synthetic moving-face clip: face crops (with their landmarks) pasted into a textured
/// 640x480 frame under a similarity transform that changes over time (still, then
/// translating, zooming and rolling, then still), with fresh sensor noise on every frame.
/// Ground truth moves with the same transform.
public struct SyntheticClip: Sendable {
  public struct Pose: Sendable {
    public var cx: Float, cy: Float, scale: Float, roll: Float
    public init(cx: Float, cy: Float, scale: Float, roll: Float) { self.cx = cx; self.cy = cy; self.scale = scale; self.roll = roll }
  }
  public var width = 640, height = 480
  public var frameCount: Int
  public var fps: Double = 30
  /// Sensor noise, gray levels (standard deviation).
  public var noise: Float = 3
  public let sources: [(image: RGBImage, points: [Point])]

  public init(sources: [(image: RGBImage, points: [Point])], frameCount: Int = 180) {
    precondition(!sources.isEmpty && sources.count <= 2, "one or two faces")
    self.sources = sources
    self.frameCount = frameCount
  }

  /// Still for 30 frames, moving until frameCount - 30, still again.
  public func pose(face k: Int, frame n: Int) -> Pose {
    let two = sources.count == 2
    let base = Pose(cx: two ? (k == 0 ? 200 : 450) : 300, cy: 240, scale: two ? 0.6 : 0.85, roll: 0)
    let t = Float(min(max(n - 30, 0), max(frameCount - 60, 0)))
    let sign: Float = k == 0 ? 1 : -1
    let amp: Float = two ? 40 : 100
    return Pose(cx: base.cx + sign * amp * sinf(2 * .pi * t / 60), cy: base.cy + 40 * sinf(2 * .pi * t / 45),
                scale: base.scale * (1 + 0.15 * sinf(2 * .pi * t / 100)), roll: 0.3 * sinf(2 * .pi * t / 80))
  }

  public func truth(face k: Int, frame n: Int) -> [Point] { truth(face: k, pose: pose(face: k, frame: n)) }

  /// Face k's points when its photo is placed with pose `p`.
  public func truth(face k: Int, pose p: Pose) -> [Point] {
    let src = sources[k]
    let (ox, oy) = (Float(src.image.width) / 2, Float(src.image.height) / 2)
    let (c, s) = (cosf(p.roll) * p.scale, sinf(p.roll) * p.scale)
    return src.points.map { q in
      let (dx, dy) = (q.x - ox, q.y - oy)
      return Point(x: p.cx + c * dx - s * dy, y: p.cy + s * dx + c * dy)
    }
  }

  public func render(frame n: Int) -> RGBImage {
    render(poses: sources.indices.map { pose(face: $0, frame: n) }, seed: UInt64(n) &+ 12345)
  }

  /// The frame with each source photo placed by its pose (one per source) on the textured
  /// background, plus sensor noise seeded by `seed`.
  public func render(poses: [Pose], seed: UInt64) -> RGBImage {
    precondition(poses.count == sources.count, "one pose per source")
    var rng = SplitRNG(seed: seed)
    var px = [UInt8](repeating: 0, count: width * height * 3)
    // Background: a smooth gradient with a coarse checker, so the detector sees texture.
    for y in 0..<height {
      for x in 0..<width {
        let checker: Float = ((x / 40 + y / 40) % 2 == 0) ? 12 : -12
        let v = 90 + 60 * Float(x) / Float(width) + 30 * Float(y) / Float(height) + checker
        let i = (y * width + x) * 3
        px[i] = UInt8(clamping: Int(v)); px[i + 1] = UInt8(clamping: Int(v * 0.95)); px[i + 2] = UInt8(clamping: Int(v * 0.9))
      }
    }
    for k in sources.indices {
      let p = poses[k]
      let src = sources[k].image
      let (ox, oy) = (Float(src.width) / 2, Float(src.height) / 2)
      let (c, s) = (cosf(p.roll) / p.scale, sinf(p.roll) / p.scale)
      let half = Int((Float(max(src.width, src.height)) * p.scale * 0.75).rounded(.up))
      let (y0, y1) = (max(0, Int(p.cy) - half), min(height, Int(p.cy) + half))
      let (x0, x1) = (max(0, Int(p.cx) - half), min(width, Int(p.cx) + half))
      guard y0 < y1, x0 < x1 else { continue }  // placed outside the frame
      for y in y0..<y1 {
        for x in x0..<x1 {
          // Frame pixel centre to source coordinates (inverse similarity).
          let (dx, dy) = (Float(x) + 0.5 - p.cx, Float(y) + 0.5 - p.cy)
          let (u, v) = (c * dx + s * dy + ox - 0.5, -s * dx + c * dy + oy - 0.5)
          guard u >= 0, v >= 0, u < Float(src.width - 1), v < Float(src.height - 1) else { continue }
          let (u0, v0) = (Int(u), Int(v))
          let (fu, fv) = (u - Float(u0), v - Float(v0))
          let i = (y * width + x) * 3
          for ch in 0..<3 {
            let a = Float(src.pixels[(v0 * src.width + u0) * 3 + ch]), b = Float(src.pixels[(v0 * src.width + u0 + 1) * 3 + ch])
            let cc = Float(src.pixels[((v0 + 1) * src.width + u0) * 3 + ch]), d = Float(src.pixels[((v0 + 1) * src.width + u0 + 1) * 3 + ch])
            let val = (a * (1 - fu) + b * fu) * (1 - fv) + (cc * (1 - fu) + d * fu) * fv
            px[i + ch] = UInt8(clamping: Int(val.rounded()))
          }
        }
      }
    }
    if noise > 0 {
      for i in px.indices { px[i] = UInt8(clamping: Int((Float(px[i]) + noise * rng.normal()).rounded())) }
    }
    return RGBImage(width: width, height: height, pixels: px)
  }
}

/// A stand-in for the landmark model when none is available: ground truth plus Gaussian
/// noise of `noise` x the inter-ocular distance per coordinate, as long as the face's
/// centre lies inside the crop's central 80 %; otherwise the model is taken to be lost and
/// returns a mean-like face filling the crop (what a regressor does on background).
public struct GroundTruthLandmarker {
  public var noise: Float
  public var rng: SplitRNG
  public init(noise: Float = 0.02, seed: UInt64 = 7) { self.noise = noise; rng = SplitRNG(seed: seed) }

  public mutating func landmarks(truth: [Point], box: FaceBox, roll: Float, crop: ModelMetadata.Crop) -> [Point] {
    let a = CropGeometry.transform(box: box, crop: crop, roll: roll)
    guard let tb = FaceBox(bounding: truth) else { return truth }
    // Face centre in crop (u - 0.5, v - 0.5) coordinates: invert the 2x3 map.
    let (ex, ey) = (tb.x + tb.width / 2 - a[2], tb.y + tb.height / 2 - a[5])
    let det = a[0] * a[4] - a[1] * a[3]
    let (u, v) = ((a[4] * ex - a[1] * ey) / det, (-a[3] * ex + a[0] * ey) / det)
    if abs(u) > 0.4 || abs(v) > 0.4 {
      // Lost: the truth's shape re-centred and re-scaled to fill the crop like a face would.
      let side = max(tb.width, tb.height)
      let target = 1 / crop.scale
      return truth.map { p in
        let (x, y) = ((p.x - tb.x - tb.width / 2) / side * target, (p.y - tb.y - tb.height / 2) / side * target)
        return Point(x: a[0] * x + a[1] * y + a[2], y: a[3] * x + a[4] * y + a[5])
      }
    }
    let iod = LandmarkError.normaliser(truth)
    return truth.map { Point(x: $0.x + noise * iod * rng.normal(), y: $0.y + noise * iod * rng.normal()) }
  }
}
