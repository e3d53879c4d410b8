#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A pinhole camera without distortion, in continuous frame pixels (the centre of the
/// top-left pixel is (0.5, 0.5)): a point (X, Y, Z) of camera space (x right, y down, z away
/// from the camera) is seen at (focal X / Z + cx, focal Y / Z + cy).
public struct PinholeCamera: Sendable, Equatable {
  /// Focal length in pixels.
  public var focal: Float
  /// Principal point in pixels.
  public var cx: Float
  public var cy: Float

  public init(focal: Float, cx: Float, cy: Float) {
    self.focal = focal; self.cx = cx; self.cy = cy
  }

  /// The principal point at the frame's centre and, unless given, a focal length of the
  /// frame's larger side: a field of view of 2 atan(1/2) = 53.1 degrees across that side
  /// (53.1 x 41.1 degrees for 4:3), typical of webcams and the Pi camera modules. A
  /// calibrated camera's focal length (in pixels at this frame size) is better.
  public init(width: Int, height: Int, focal: Float? = nil) {
    self.init(focal: focal ?? Float(max(width, height)), cx: Float(width) / 2, cy: Float(height) / 2)
  }
}

/// The rotation of a fitted face: face coordinates (``MeanFace3D``'s frame) to camera
/// coordinates, by rows.
public struct RotationMatrix: Sendable, Equatable {
  public var row0: SIMD3<Float>
  public var row1: SIMD3<Float>
  public var row2: SIMD3<Float>

  public init(row0: SIMD3<Float>, row1: SIMD3<Float>, row2: SIMD3<Float>) {
    self.row0 = row0; self.row1 = row1; self.row2 = row2
  }

  /// R = Ry(-yaw) Rx(pitch) Rz(roll) (right-handed rotations about the camera's axes, x
  /// right, y down, z away; degrees): yaw about the vertical first, then pitch about the
  /// face's own left-right axis, then roll about its own front-back axis.
  public init(yaw: Float, pitch: Float, roll: Float) {
    let (y, p, r) = (Double(yaw) * .pi / 180, Double(pitch) * .pi / 180, Double(roll) * .pi / 180)
    let (cy, sy, cp, sp, cr, sr) = (cos(y), sin(y), cos(p), sin(p), cos(r), sin(r))
    // Ry(-y) = [[cy,0,-sy],[0,1,0],[sy,0,cy]], Rx(p) = [[1,0,0],[0,cp,-sp],[0,sp,cp]],
    // Rz(r) = [[cr,-sr,0],[sr,cr,0],[0,0,1]].
    let rxrz0 = SIMD3<Double>(cr, -sr, 0)
    let rxrz1 = SIMD3<Double>(cp * sr, cp * cr, -sp)
    let rxrz2 = SIMD3<Double>(sp * sr, sp * cr, cp)
    row0 = SIMD3<Float>(cy * rxrz0 - sy * rxrz2)
    row1 = SIMD3<Float>(rxrz1)
    row2 = SIMD3<Float>(sy * rxrz0 + cy * rxrz2)
  }

  public func apply(_ v: SIMD3<Float>) -> SIMD3<Float> {
    SIMD3((row0 * v).sum(), (row1 * v).sum(), (row2 * v).sum())
  }

  /// The angles of ``init(yaw:pitch:roll:)``, in degrees: yaw + = the face turned to the
  /// image's right, pitch + = looking down, roll + = clockwise in the image (docs/PROTOCOL.md).
  /// Yaw and pitch are the direction of the face's front (its -z) in the camera: yaw =
  /// atan2(front.x, -front.z), pitch = asin(front.y).
  public var angles: (yaw: Float, pitch: Float, roll: Float) {
    let deg = 180 / Double.pi
    let yaw = atan2(-Double(row0.z), Double(row2.z)) * deg
    let pitch = asin(max(-1, min(1, -Double(row1.z)))) * deg
    let roll = atan2(Double(row1.x), Double(row1.y)) * deg
    return (Float(yaw), Float(pitch), Float(roll))
  }
}

/// The pose of ``MeanFace3D`` that best explains a face's 68 points through a camera.
public struct HeadPoseFit: Sendable, Equatable {
  /// Degrees, docs/PROTOCOL.md's conventions (see ``RotationMatrix/angles``).
  public var yaw: Float
  public var pitch: Float
  public var roll: Float
  public var rotation: RotationMatrix
  /// Where the mean face's origin (the centre of the eyes) is in camera space, in units of
  /// its outer-eye-corner distance (about 9 cm on an adult: multiply to get metres).
  public var translation: SIMD3<Float>
  /// RMS reprojection error of the fitted points, in outer-eye-corner distances at the
  /// face's depth (pixels / (focal / z)). About 0.03-0.05 for a real face at any pose (the
  /// spread of faces about the mean one); much larger means the points are not a face or
  /// the fit failed: a confidence measure.
  public var rmsError: Float
  /// Levenberg-Marquardt iterations taken.
  public var iterations: Int
}

/// Head pose from 68 iBUG points by fitting ``MeanFace3D`` through a ``PinholeCamera``:
/// Levenberg-Marquardt over a rotation (left-multiplied axis-angle increments) and a
/// translation, minimising the Huber loss of the reprojection errors, started from the
/// scaled-orthographic pose of the least-squares 2x3 affine fit.
///
/// Points fitted (43): brows, nose, eyes and the upper lip with the mouth corners (17-54,
/// 60-64), the points that stay put on the skull when the jaw moves. Not the jaw outline
/// (0-16): on a turned face its far side is drawn on the silhouette, which slides over the
/// face rather than turning with it (it also scatters 3-4 times as much as the eyes about
/// the mean face), so no fixed 3-D points match it. Not the lower lip (55-59, 65-67): it
/// drops with the jaw when the subject talks, and a rigid fit would read that as pitch.
/// Brows, lids and mouth corners still move with expression; the Huber loss (quadratic up
/// to 0.05 outer-eye distances, a little above the 0.04 RMS scatter of real faces about the
/// mean one, linear beyond) keeps a raised brow or a smile from pulling the pose as much.
/// The points are weighted alike: the rest of the scatter is similar from point to point.
///
/// No heap allocation per call (the model table is built once); never traps: degenerate
/// input (not 136 numbers, non-finite values, all points equal or on a line, a fit behind
/// the camera) gives nil.
public enum HeadPoseFitter {
  public static let fittedPoints: [Int] = Array(17...54) + Array(60...64)
  /// Huber threshold, in outer-eye-corner distances at the face's depth.
  public static let huberThreshold = 0.05
  public static let maxIterations = 50

  /// The fitted points of the mean face, centred on their centroid, with the inverse of
  /// their scatter matrix (for the affine start) and the centroid.
  private struct Model: Sendable {
    var points: [SIMD3<Double>]
    var indices: [Int]
    var centroid: SIMD3<Double>
    var scatterInverse: (SIMD3<Double>, SIMD3<Double>, SIMD3<Double>)
  }

  private static let model: Model = {
    let raw = fittedPoints.map { SIMD3<Double>(MeanFace3D.points[$0]) }
    let c = raw.reduce(SIMD3<Double>(repeating: 0), +) / Double(raw.count)
    let pts = raw.map { $0 - c }
    var g = [[Double]](repeating: [0, 0, 0], count: 3)
    for p in pts { for i in 0..<3 { for j in 0..<3 { g[i][j] += p[i] * p[j] } } }
    // 3x3 inverse by cofactors (the scatter of a 3-D face is well conditioned).
    let det = g[0][0] * (g[1][1] * g[2][2] - g[1][2] * g[2][1]) - g[0][1] * (g[1][0] * g[2][2] - g[1][2] * g[2][0])
      + g[0][2] * (g[1][0] * g[2][1] - g[1][1] * g[2][0])
    func cof(_ i: Int, _ j: Int) -> Double {
      let r = [0, 1, 2].filter { $0 != j }, s = [0, 1, 2].filter { $0 != i }
      let m = g[r[0]][s[0]] * g[r[1]][s[1]] - g[r[0]][s[1]] * g[r[1]][s[0]]
      return ((i + j) % 2 == 0 ? m : -m) / det
    }
    let inv = (SIMD3(cof(0, 0), cof(0, 1), cof(0, 2)), SIMD3(cof(1, 0), cof(1, 1), cof(1, 2)), SIMD3(cof(2, 0), cof(2, 1), cof(2, 2)))
    return Model(points: pts, indices: fittedPoints, centroid: c, scatterInverse: inv)
  }()

  /// `points`: 68 (x, y) pairs in frame pixels, flat.
  public static func fit(_ points: [Float], camera: PinholeCamera) -> HeadPoseFit? {
    points.withUnsafeBufferPointer { fit($0, camera: camera) }
  }

  public static func fit(_ points: UnsafeBufferPointer<Float>, camera: PinholeCamera) -> HeadPoseFit? {
    guard points.count == 136, camera.focal.isFinite, camera.focal > 0, camera.cx.isFinite, camera.cy.isFinite else { return nil }
    let m = model
    return m.points.withUnsafeBufferPointer { X in
      m.indices.withUnsafeBufferPointer { I in
        fit(points, X, I, m, Camera(f: Double(camera.focal), cx: Double(camera.cx), cy: Double(camera.cy)))
      }
    }
  }

  private struct Camera { var f, cx, cy: Double }

  /// A rotation as three rows, in Double.
  private struct Rot {
    var r0, r1, r2: SIMD3<Double>
    func apply(_ v: SIMD3<Double>) -> SIMD3<Double> { SIMD3((r0 * v).sum(), (r1 * v).sum(), (r2 * v).sum()) }
    /// exp([w]x) * self (Rodrigues).
    func rotated(by w: SIMD3<Double>) -> Rot {
      let th = (w * w).sum().squareRoot()
      let (a, b) = th < 1e-12 ? (1.0, 0.5) : (sin(th) / th, (1 - cos(th)) / (th * th))
      // E = I + a K + b K^2, K = [w]x; E applied to each column of self.
      func e(_ v: SIMD3<Double>) -> SIMD3<Double> {
        let kv = cross(w, v)
        return v + a * kv + b * cross(w, kv)
      }
      // Columns of self.
      let c0 = e(SIMD3(r0.x, r1.x, r2.x)), c1 = e(SIMD3(r0.y, r1.y, r2.y)), c2 = e(SIMD3(r0.z, r1.z, r2.z))
      return Rot(r0: SIMD3(c0.x, c1.x, c2.x), r1: SIMD3(c0.y, c1.y, c2.y), r2: SIMD3(c0.z, c1.z, c2.z))
    }
  }

  @inline(__always) private static func cross(_ a: SIMD3<Double>, _ b: SIMD3<Double>) -> SIMD3<Double> {
    SIMD3(a.y * b.z - a.z * b.y, a.z * b.x - a.x * b.z, a.x * b.y - a.y * b.x)
  }

  @inline(__always) private static func norm(_ v: SIMD3<Double>) -> Double { (v * v).sum().squareRoot() }

  private static func fit(_ p: UnsafeBufferPointer<Float>, _ X: UnsafeBufferPointer<SIMD3<Double>>, _ I: UnsafeBufferPointer<Int>,
                          _ m: Model, _ cam: Camera) -> HeadPoseFit? {
    let n = X.count
    @inline(__always) func point(_ k: Int) -> (Double, Double) { (Double(p[2 * I[k]]), Double(p[2 * I[k] + 1])) }

    // Scaled-orthographic start: the affine camera A = B G^-1 with B = sum (p - mean) X^T.
    var mean = (0.0, 0.0)
    for k in 0..<n {
      let (x, y) = point(k)
      guard x.isFinite, y.isFinite, abs(x) < 1e7, abs(y) < 1e7 else { return nil }
      mean.0 += x; mean.1 += y
    }
    mean.0 /= Double(n); mean.1 /= Double(n)
    var b0 = SIMD3<Double>(repeating: 0), b1 = SIMD3<Double>(repeating: 0)
    for k in 0..<n {
      let (x, y) = point(k)
      b0 += (x - mean.0) * X[k]; b1 += (y - mean.1) * X[k]
    }
    let gi = m.scatterInverse
    let a0 = SIMD3((gi.0 * b0).sum(), (gi.1 * b0).sum(), (gi.2 * b0).sum())
    let a1 = SIMD3((gi.0 * b1).sum(), (gi.1 * b1).sum(), (gi.2 * b1).sum())
    let n0 = norm(a0), n1 = norm(a1)
    guard n0.isFinite, n1.isFinite, n0 > 1e-6, n1 > 1e-6 else { return nil }
    var u0 = a0 / n0, u1 = a1 / n1
    let d = (u0 * u1).sum()
    guard abs(d) < 0.95 else { return nil }               // points (nearly) on a line
    (u0, u1) = (u0 - d / 2 * u1, u1 - d / 2 * u0)
    u0 /= norm(u0)
    var u2 = cross(u0, u1)
    u2 /= norm(u2)
    u1 = cross(u2, u0)
    var R = Rot(r0: u0, r1: u1, r2: u2)
    let scale = (n0 + n1) / 2                               // pixels per model unit
    let z0 = cam.f / scale
    var t = SIMD3<Double>((mean.0 - cam.cx) * z0 / cam.f, (mean.1 - cam.cy) * z0 / cam.f, z0)
    let delta = huberThreshold * scale                      // pixels

    // The Huber cost at (R, t); with `H`, `g` also the Gauss-Newton normal equations of
    // the IRLS-weighted problem (H: 6x6 row-major, g: 6; parameters: rotation increment,
    // translation increment). Infinite when a point is at or behind the camera.
    func cost(_ R: Rot, _ t: SIMD3<Double>, _ H: UnsafeMutablePointer<Double>?, _ g: UnsafeMutablePointer<Double>?) -> Double {
      if let H, let g {
        H.update(repeating: 0, count: 36); g.update(repeating: 0, count: 6)
      }
      var c = 0.0
      for k in 0..<n {
        let q = R.apply(X[k]), P = q + t
        guard P.z > 1e-6 * abs(t.z) + 1e-12 else { return .infinity }
        let iz = 1 / P.z
        let (x, y) = point(k)
        let ru = cam.f * P.x * iz + cam.cx - x, rv = cam.f * P.y * iz + cam.cy - y
        let e = (ru * ru + rv * rv).squareRoot()
        let w: Double
        if e <= delta { c += e * e / 2; w = 1 } else { c += delta * (e - delta / 2); w = delta / e }
        guard let H, let g else { continue }
        // d(u, v)/dP, then dP/dw = -[q]x (rows (0, qz, -qy), (-qz, 0, qx), (qy, -qx, 0)), dP/dt = I.
        let fu = cam.f * iz, fx = -cam.f * P.x * iz * iz, fy = -cam.f * P.y * iz * iz
        let a = SIMD8<Double>(fx * q.y, fu * q.z - fx * q.x, -fu * q.y, fu, 0, fx, 0, 0)
        let b = SIMD8<Double>(-fu * q.z + fy * q.y, -fy * q.x, fu * q.x, 0, fu, fy, 0, 0)
        let wa = w * a, wb = w * b
        for i in 0..<6 {
          g[i] += wa[i] * ru + wb[i] * rv
          for j in i..<6 { H[6 * i + j] += wa[i] * a[j] + wb[i] * b[j] }
        }
      }
      if let H { for i in 0..<6 { for j in 0..<i { H[6 * i + j] = H[6 * j + i] } } }
      return c
    }

    var iterations = 0
    let ok: Bool = withUnsafeTemporaryAllocation(of: Double.self, capacity: 36 + 36 + 6 + 6) { buf in
      let H = buf.baseAddress!, A = H + 36, g = A + 36, step = g + 6
      var lambda = 1e-3
      var current = cost(R, t, H, g)
      guard current.isFinite else { return false }
      while iterations < maxIterations {
        iterations += 1
        // (H + lambda diag(H)) step = -g, by Cholesky.
        for i in 0..<36 { A[i] = H[i] }
        for i in 0..<6 { A[7 * i] += lambda * H[7 * i] + 1e-12 }
        guard choleskySolve(A, g, step) else { lambda *= 10; if lambda > 1e10 { break }; continue }
        let w = SIMD3(step[0], step[1], step[2]), dt = SIMD3(step[3], step[4], step[5])
        let R2 = R.rotated(by: w), t2 = t + dt
        let c2 = cost(R2, t2, nil, nil)
        if c2.isFinite && c2 <= current {
          let small = norm(w) < 1e-9 && norm(dt) < 1e-9 * abs(t.z)
          let gain = current - c2
          R = R2; t = t2
          current = cost(R, t, H, g)
          lambda = max(lambda / 10, 1e-9)
          if small || gain <= 1e-12 * current { break }
        } else {
          lambda *= 10
          if lambda > 1e10 { break }
        }
      }
      return current.isFinite
    }
    guard ok, t.z > 0 else { return nil }

    var sse = 0.0
    for k in 0..<n {
      let P = R.apply(X[k]) + t
      let (x, y) = point(k)
      let ru = cam.f * P.x / P.z + cam.cx - x, rv = cam.f * P.y / P.z + cam.cy - y
      sse += ru * ru + rv * rv
    }
    let rms = (sse / Double(n)).squareRoot() / (cam.f / t.z)
    let rot = RotationMatrix(row0: SIMD3<Float>(R.r0), row1: SIMD3<Float>(R.r1), row2: SIMD3<Float>(R.r2))
    let origin = SIMD3<Float>(t - R.apply(m.centroid))
    let (yaw, pitch, roll) = rot.angles
    guard yaw.isFinite, pitch.isFinite, roll.isFinite, rms.isFinite, origin.x.isFinite, origin.y.isFinite, origin.z.isFinite else { return nil }
    return HeadPoseFit(yaw: yaw, pitch: pitch, roll: roll, rotation: rot, translation: origin,
                       rmsError: Float(rms), iterations: iterations)
  }

  /// Solves the symmetric positive definite 6x6 system a x = b in place of `a` (its lower
  /// triangle becomes the Cholesky factor); false when it is not positive definite.
  private static func choleskySolve(_ a: UnsafeMutablePointer<Double>, _ b: UnsafeMutablePointer<Double>,
                                    _ x: UnsafeMutablePointer<Double>) -> Bool {
    for j in 0..<6 {
      var s = a[7 * j]
      for k in 0..<j { s -= a[6 * j + k] * a[6 * j + k] }
      guard s > 0, s.isFinite else { return false }
      let l = s.squareRoot()
      a[7 * j] = l
      for i in (j + 1)..<6 {
        var v = a[6 * i + j]
        for k in 0..<j { v -= a[6 * i + k] * a[6 * j + k] }
        a[6 * i + j] = v / l
      }
    }
    for i in 0..<6 {                                          // L y = -b
      var v = -b[i]
      for k in 0..<i { v -= a[6 * i + k] * x[k] }
      x[i] = v / a[7 * i]
    }
    for i in stride(from: 5, through: 0, by: -1) {            // L^T x = y
      var v = x[i]
      for k in (i + 1)..<6 { v -= a[6 * k + i] * x[k] }
      x[i] = v / a[7 * i]
    }
    return true
  }
}
