import LOTR
import LOTREval
import XCTest

final class EvaluationTests: XCTestCase {
  func testNMEUsesOuterEyeCornersAndAUCMatchesTheCED() {
    var truth = (0..<68).map { Point(x: Float($0), y: 0) }
    truth[36] = Point(x: 0, y: 0)
    truth[45] = Point(x: 100, y: 0)
    let shifted = truth.map { Point(x: $0.x + 3, y: $0.y + 4) } // every point 5 px off
    XCTAssertEqual(LandmarkError.nme(shifted, truth), 0.05, accuracy: 1e-6)
    XCTAssertEqual(LandmarkError.normaliser(Array(truth.prefix(5))), 0, accuracy: 1e-6, "5 collinear points: sqrt(w x h) = 0")
    // Half the faces at NME 0, half at 0.2: CED is 0.5 on [0, 0.08), AUC 0.5, FR 0.5.
    let (auc, fr) = Evaluation.aucAndFailureRate([0, 0, 0.2, 0.2], threshold: 0.08)
    XCTAssertEqual(auc, 0.5, accuracy: 1e-3)
    XCTAssertEqual(fr, 0.5, accuracy: 1e-6)
    // Uniform NMEs on [0, 0.08]: the CED is a ramp, AUC 0.5.
    let ramp = (0..<1000).map { Float($0) / 1000 * 0.08 }
    XCTAssertEqual(Evaluation.aucAndFailureRate(ramp, threshold: 0.08).auc, 0.5, accuracy: 2e-3)
  }
}
