import Foundation
@testable import LOTRVision
import XCTest

/// A seeded normal generator (Box-Muller on a 64-bit LCG).
private struct Gaussian {
  var state: UInt64
  mutating func uniform() -> Double {
    state = state &* 6364136223846793005 &+ 1442695040888963407
    return Double(state >> 11) / Double(UInt64(1) << 53)
  }
  mutating func next() -> Float {
    let u = max(uniform(), 1e-300), v = uniform()
    return Float((-2 * log(u)).squareRoot() * cos(2 * .pi * v))
  }
}

/// The mean face (or `face`) at (yaw, pitch, roll), its origin at `t` (outer-eye units),
/// projected through `camera`, with Gaussian noise of `noise` pixels.
private func project(yaw: Float, pitch: Float, roll: Float, t: SIMD3<Float>, camera: PinholeCamera,
                     face: [SIMD3<Float>] = MeanFace3D.points, noise: Float = 0, rng: inout Gaussian) -> [Float] {
  let R = RotationMatrix(yaw: yaw, pitch: pitch, roll: roll)
  var out: [Float] = []
  for X in face {
    let P = R.apply(X) + t
    out.append(camera.focal * P.x / P.z + camera.cx + noise * rng.next())
    out.append(camera.focal * P.y / P.z + camera.cy + noise * rng.next())
  }
  return out
}

final class HeadPoseTests: XCTestCase {
  let camera = PinholeCamera(width: 640, height: 480)

  func testCameraModel() {
    let c = PinholeCamera(width: 640, height: 480)
    XCTAssertEqual(c.focal, 640); XCTAssertEqual(c.cx, 320); XCTAssertEqual(c.cy, 240)
    // 2 atan(320 / 640): the documented 53.1 degrees across the larger side.
    XCTAssertEqual(2 * atan(Double(c.cx) / Double(c.focal)) * 180 / .pi, 53.13, accuracy: 0.01)
    XCTAssertEqual(PinholeCamera(width: 480, height: 640, focal: 500).focal, 500)
  }

  func testMeanFaceFrame() {
    let p = MeanFace3D.points
    XCTAssertEqual(p.count, 68)
    XCTAssertEqual((p[45] - p[36]).x, 1, accuracy: 1e-5, "unit: the outer-eye-corner distance")
    XCTAssertEqual(abs((p[45] - p[36]).y) + abs((p[45] - p[36]).z), 0, accuracy: 1e-5)
    var eyes = SIMD3<Float>(repeating: 0)
    for i in 36...47 { eyes += p[i] }
    let c = eyes / 12
    XCTAssertLessThan(max(abs(c.x), abs(c.y), abs(c.z)), 1e-5, "origin: the centre of the eyes")
    XCTAssertLessThan(p[30].z, -0.2, "the nose tip points towards the camera")
    XCTAssertGreaterThan(p[8].y, 1, "y down: the chin below the eyes")
    XCTAssertLessThan(p[36].x, 0, "x from the subject's right eye (image left) to the left eye")
  }

  /// The angle conventions of docs/PROTOCOL.md, checked on the projected points themselves.
  func testAngleConventions() {
    var rng = Gaussian(state: 1)
    let t = SIMD3<Float>(0, 0, 7)
    func pts(_ y: Float, _ p: Float, _ r: Float) -> [Float] { project(yaw: y, pitch: p, roll: r, t: t, camera: camera, rng: &rng) }
    func x(_ a: [Float], _ i: Int) -> Float { a[2 * i] }
    func y(_ a: [Float], _ i: Int) -> Float { a[2 * i + 1] }
    let front = pts(0, 0, 0)
    XCTAssertEqual(x(front, 30), camera.cx, accuracy: 1e-3)
    // yaw +: the face turns to the image's right, so the nose tip moves right of the eyes.
    let right = pts(20, 0, 0)
    XCTAssertGreaterThan(x(right, 30) - (x(right, 39) + x(right, 42)) / 2, 5)
    // pitch +: looking down, so the nose tip moves down towards the mouth.
    let down = pts(0, 20, 0), up = pts(0, -20, 0)
    XCTAssertLessThan((y(down, 51) - y(down, 30)) / (y(down, 51) - y(down, 27)), (y(up, 51) - y(up, 30)) / (y(up, 51) - y(up, 27)))
    // roll +: clockwise in the image (y down), so the image-right eye goes lower.
    let cw = pts(0, 0, 20)
    XCTAssertGreaterThan(y(cw, 45) - y(cw, 36), 10)
    // The angles read back from the matrix.
    let a = RotationMatrix(yaw: 33, pitch: -21, roll: 12).angles
    XCTAssertEqual(a.yaw, 33, accuracy: 1e-4); XCTAssertEqual(a.pitch, -21, accuracy: 1e-4); XCTAssertEqual(a.roll, 12, accuracy: 1e-4)
  }

  /// A grid over yaw +-50, pitch +-30, roll +-30 (10 degree steps), the face at three places
  /// in a 640x480 frame (centre, lower left near, upper right far: 80-107 px between the
  /// outer eye corners), 0.5 px of noise on every point.
  func testSyntheticPosesAreRecovered() {
    var rng = Gaussian(state: 42)
    let places: [SIMD3<Float>] = [SIMD3(0, 0, 7), SIMD3(-1.8, 1, 6), SIMD3(2, -1.2, 8)]
    var worst: Float = 0, worstAt = "", sum: Double = 0, count = 0, maxRMS: Float = 0
    for yaw in stride(from: Float(-50), through: 50, by: 10) {
      for pitch in stride(from: Float(-30), through: 30, by: 10) {
        for roll in stride(from: Float(-30), through: 30, by: 10) {
          for t in places {
            let pts = project(yaw: yaw, pitch: pitch, roll: roll, t: t, camera: camera, noise: 0.5, rng: &rng)
            guard let f = HeadPoseFitter.fit(pts, camera: camera) else { return XCTFail("no fit at \(yaw), \(pitch), \(roll)") }
            for e in [f.yaw - yaw, f.pitch - pitch, f.roll - roll] {
              sum += Double(e * e); count += 1
              if abs(e) > worst { worst = abs(e); worstAt = "yaw \(yaw) pitch \(pitch) roll \(roll) at \(t)" }
            }
            maxRMS = max(maxRMS, f.rmsError)
            XCTAssertEqual(f.translation.z, t.z, accuracy: 0.1 * t.z)
          }
        }
      }
    }
    print(String(format: "head pose grid: %d fits, max angle error %.2f deg (%@), RMS %.2f deg, max rmsError %.4f",
                 count / 3, worst, worstAt, (sum / Double(count)).squareRoot(), maxRMS))
    XCTAssertLessThan(worst, 2)
    XCTAssertLessThan(maxRMS, 0.02, "0.5 px of noise only")
  }

  /// The fit starts from the affine solution; exact data must come back (almost) exactly,
  /// also at the grid's extremes and with a calibrated (non-default) focal length.
  func testNoiselessPosesAreExact() {
    var rng = Gaussian(state: 3)
    let cam = PinholeCamera(width: 1280, height: 720, focal: 900)
    for (yaw, pitch, roll) in [(Float(0), Float(0), Float(0)), (50, 30, 30), (-50, -30, -30), (-45, 25, 5), (15, -5, -28)] {
      let pts = project(yaw: yaw, pitch: pitch, roll: roll, t: SIMD3(0.7, -0.4, 5), camera: cam, rng: &rng)
      let f = try! XCTUnwrap(HeadPoseFitter.fit(pts, camera: cam))
      XCTAssertEqual(f.yaw, yaw, accuracy: 0.01); XCTAssertEqual(f.pitch, pitch, accuracy: 0.01); XCTAssertEqual(f.roll, roll, accuracy: 0.01)
      XCTAssertLessThan(f.rmsError, 1e-4)
      XCTAssertEqual(f.translation.x, 0.7, accuracy: 1e-3); XCTAssertEqual(f.translation.z, 5, accuracy: 1e-3)
    }
  }

  /// An open mouth (the lower lip and the jaw dropped by 0.2 outer-eye distances) moves
  /// only points the fit leaves out. Raised brows (0.06, about 5 mm, inside the Huber loss's
  /// quadratic part) pull like any other error: about 2 degrees of pitch (a known limit of a
  /// rigid mean face; the fit keeps the brows for their steadiness across people and poses).
  func testExpressionsMoveThePoseLittle() {
    var rng = Gaussian(state: 5)
    var open = MeanFace3D.points
    for i in Array(4...12) + Array(55...59) + Array(65...67) { open[i].y += 0.2 }
    var brows = MeanFace3D.points
    for i in 17...26 { brows[i].y -= 0.06 }
    var worst: [Float] = [0, 0]
    for (yaw, pitch) in [(Float(0), Float(0)), (30, 10), (-40, -20), (20, 25)] {
      for (k, face) in [open, brows].enumerated() {
        let pts = project(yaw: yaw, pitch: pitch, roll: 5, t: SIMD3(0, 0, 7), camera: camera, face: face, rng: &rng)
        let f = try! XCTUnwrap(HeadPoseFitter.fit(pts, camera: camera))
        worst[k] = max(worst[k], abs(f.yaw - yaw), abs(f.pitch - pitch), abs(f.roll - 5))
      }
    }
    print(String(format: "expressions: open mouth %.3f deg, raised brows %.2f deg", worst[0], worst[1]))
    XCTAssertLessThan(worst[0], 0.01)
    XCTAssertLessThan(worst[1], 3)
  }

  func testDegenerateInputGivesNil() {
    var rng = Gaussian(state: 9)
    let good = project(yaw: 10, pitch: 5, roll: 0, t: SIMD3(0, 0, 7), camera: camera, noise: 0.5, rng: &rng)
    XCTAssertNotNil(HeadPoseFitter.fit(good, camera: camera))
    XCTAssertNil(HeadPoseFitter.fit([Float](repeating: 100, count: 136), camera: camera), "all points equal")
    XCTAssertNil(HeadPoseFitter.fit([Float](repeating: 0, count: 136), camera: camera))
    XCTAssertNil(HeadPoseFitter.fit([], camera: camera), "not 68 points")
    XCTAssertNil(HeadPoseFitter.fit(Array(good.prefix(134)), camera: camera))
    XCTAssertNil(HeadPoseFitter.fit([Float](repeating: 1, count: 196), camera: camera))
    for bad in [Float.nan, .infinity, -.infinity, 1e30] {
      var p = good
      p[2 * 30 + 1] = bad
      XCTAssertNil(HeadPoseFitter.fit(p, camera: camera), "\(bad) in a fitted point")
    }
    // NaN in a point the fit does not use (the jaw) does not matter.
    var jaw = good
    jaw[0] = .nan
    XCTAssertNotNil(HeadPoseFitter.fit(jaw, camera: camera))
    // All points on a line (a face seen edge on, or garbage).
    let line = (0..<68).flatMap { i -> [Float] in [100 + 3 * Float(i), 50 + 2 * Float(i)] }
    XCTAssertNil(HeadPoseFitter.fit(line, camera: camera))
    for cam in [PinholeCamera(focal: 0, cx: 320, cy: 240), PinholeCamera(focal: .nan, cx: 320, cy: 240),
                PinholeCamera(focal: -640, cx: 320, cy: 240), PinholeCamera(focal: 640, cx: .infinity, cy: 240)] {
      XCTAssertNil(HeadPoseFitter.fit(good, camera: cam))
    }
    // Random points: a fit may come back, never a crash, and then with a large error.
    for _ in 0..<200 {
      let junk = (0..<136).map { _ in Float(rng.uniform() * 640) }
      if let f = HeadPoseFitter.fit(junk, camera: camera) {
        XCTAssertTrue(f.yaw.isFinite && f.pitch.isFinite && f.roll.isFinite && f.rmsError.isFinite)
        XCTAssertGreaterThan(f.rmsError, 0.1)
      }
    }
  }

  /// The most mirror-symmetric validation faces of 300-W (Tests/Fixtures/vision/README.md):
  /// yaw near 0 by their symmetry; pitch near 0 if the mean face's frame (the training
  /// photographs' mean viewing direction) is right. The 320x320 crops hide where the
  /// photographs' optical axes were; a long lens (f = 10 x the side: near-orthographic, as
  /// the structure from motion that made the mean face) reads the pose against each face's
  /// own line of sight. With the default camera (f = the side) the eyes, ~25 px above the
  /// crop's centre, are seen ~4 degrees from the axis, which adds that much pitch.
  func testFrontalFacesReadNearZero() throws {
    let text = try String(contentsOfFile: visionFixtures + "/frontal_faces.csv", encoding: .utf8)
    let lines = text.split(separator: "\n").dropFirst()
    XCTAssertEqual(lines.count, 20)
    var sums: [(Float, Float, Float)] = [(0, 0, 0), (0, 0, 0)]
    for line in lines {
      let f = line.split(separator: ",")
      let (w, h) = (Int(f[1])!, Int(f[2])!)
      let pts = f[3...].map { Float($0)! }
      XCTAssertEqual(pts.count, 136)
      for (k, cam) in [PinholeCamera(width: w, height: h, focal: Float(10 * max(w, h))), PinholeCamera(width: w, height: h)].enumerated() {
        let fit = try XCTUnwrap(HeadPoseFitter.fit(pts, camera: cam), String(f[0]))
        XCTAssertLessThan(abs(fit.yaw), 6, String(f[0]))
        XCTAssertLessThan(fit.rmsError, 0.08, String(f[0]))
        sums[k].0 += fit.yaw; sums[k].1 += fit.pitch; sums[k].2 += fit.rmsError
      }
    }
    let n = Float(lines.count)
    print(String(format: "frontal faces: long lens mean yaw %+.2f pitch %+.2f (RMS error %.3f); f = side: yaw %+.2f pitch %+.2f",
                 sums[0].0 / n, sums[0].1 / n, sums[0].2 / n, sums[1].0 / n, sums[1].1 / n))
    XCTAssertLessThan(abs(sums[0].0 / n), 5); XCTAssertLessThan(abs(sums[0].1 / n), 5)
    XCTAssertLessThan(abs(sums[1].0 / n), 5); XCTAssertLessThan(abs(sums[1].1 / n), 5)
  }
}
