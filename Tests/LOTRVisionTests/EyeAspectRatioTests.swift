import XCTest
@testable import LOTRVision

final class EyeAspectRatioTests: XCTestCase {
  /// A 68-point face with the given six points for the subject's right eye (36-41) and a
  /// closed left eye (42-47).
  func face(rightEye: [(Float, Float)]) -> [Float] {
    var xy = [Float](repeating: 0, count: 136)
    for (k, p) in rightEye.enumerated() { xy[2 * (36 + k)] = p.0; xy[2 * (36 + k) + 1] = p.1 }
    for k in 0..<6 { xy[2 * (42 + k)] = 10 + Float([0, 1, 2, 3, 2, 1][k]); xy[2 * (42 + k) + 1] = 5 }
    return xy
  }

  func testRatioOfKnownEyes() throws {
    let open = face(rightEye: [(0, 0), (1, -1), (2, -1), (3, 0), (2, 1), (1, 1)])
    let eyes = try XCTUnwrap(EyeAspectRatio.ibug68(open))
    XCTAssertEqual(eyes.right, 2.0 / 3.0, accuracy: 1e-6)   // (2 + 2) / (2 * 3)
    XCTAssertEqual(eyes.left, 0, accuracy: 1e-6, "lids on the corner line: closed")
    // Invariant to a similarity transform of the face.
    let (c, s): (Float, Float) = (2 * cosf(0.5), 2 * sinf(0.5))
    var moved = open
    for i in 0..<68 { (moved[2 * i], moved[2 * i + 1]) = (c * open[2 * i] - s * open[2 * i + 1] + 30, s * open[2 * i] + c * open[2 * i + 1] - 4) }
    XCTAssertEqual(try XCTUnwrap(EyeAspectRatio.ibug68(moved)).right, 2.0 / 3.0, accuracy: 1e-5)
  }

  func testDegenerateOrOtherSchemesGiveNil() {
    XCTAssertNil(EyeAspectRatio.ibug68([Float](repeating: 0, count: 136)), "an eye of no width")
    XCTAssertNil(EyeAspectRatio.ibug68([Float](repeating: 1, count: 196)), "98 points: not iBUG 68")
    var nan = face(rightEye: [(0, 0), (1, -1), (2, -1), (3, 0), (2, 1), (1, 1)])
    nan[2 * 37] = .nan
    XCTAssertNil(EyeAspectRatio.ibug68(nan))
  }
}
