import LOTR
import LOTREval
@testable import LOTRVision
import XCTest

final class LandmarkConfidenceTests: XCTestCase {
  /// Samples whose label depends on two features: the fit must rank by them with the
  /// right signs and leave an irrelevant one near zero.
  func testFitRecoversTheSignsAndRanksWell() {
    var rng = SplitRNG(seed: 11)
    var samples: [(LandmarkConfidence.Features, Bool)] = []
    for _ in 0..<4000 {
      var v = (0..<LandmarkConfidence.featureNames.count).map { _ in rng.normal() }
      v[11] = 0
      let z = 2 * v[0] - 3 * v[1] + 0.5 * rng.normal()
      var f = LandmarkConfidence.Features(landmarks: [], crop: AlignedBox(box: FaceBox(x: 0, y: 0, width: 1, height: 1), roll: 0),
                                          check: nil, mapping: .identity)
      f.values = v
      samples.append((f, z > 0))
    }
    let m = LandmarkConfidence.fit(samples)
    XCTAssertGreaterThan(m.weights[0], 1)
    XCTAssertLessThan(m.weights[1], -1.5)
    XCTAssertEqual(m.weights[1] / m.weights[0], -1.5, accuracy: 0.2, "the ratio of the true weights")
    XCTAssertLessThan(abs(m.weights[5]), 0.25 * abs(m.weights[0]), "an irrelevant feature stays small")
    let right = samples.filter { (m.probability($0.0) > 0.5) == $0.1 }.count
    XCTAssertGreaterThan(Double(right) / Double(samples.count), 0.9)
  }

  /// The shipped models on the fixture faces: high on the face's own crop, low on a crop
  /// shifted half a face off it and where no face is found.
  func testShippedScoreSeparatesRightFromWrongCrops() throws {
    let lm = try LandmarkModel(path: shippedModels + "/lotr-m-68.lotr")
    let detector = try CNNFaceDetector(path: shippedModels + "/blazeface-short.lotr")
    let set = try FaceDataset(directory: visionFixtures)
    for f in set.faces {
      let image = try RGBImage(contentsOf: set.imagePath(f))
      let truth = AlignedBox(landmarks: f.points)!
      func score(_ crop: AlignedBox) -> Float {
        let points = lm.landmarks(in: image, box: crop.box, roll: crop.roll)
        return LandmarkConfidence.score(landmarks: points, crop: crop,
                                        check: detector.check(PixelImage(image), crop: crop, cropScale: lm.metadata.crop.scale))
      }
      XCTAssertGreaterThan(score(truth), 0.7, f.image)
      var off = truth
      off.box.x += 0.5 * truth.box.width
      XCTAssertLessThan(score(off), 0.3, "\(f.image): shifted half a face")
    }
    let none = LandmarkConfidence.Features(landmarks: set.faces[0].points, crop: AlignedBox(landmarks: set.faces[0].points)!,
                                           check: nil, mapping: detector.mapping)
    XCTAssertEqual(none.values.last, 1)
    XCTAssertLessThan(LandmarkConfidence.fitted.probability(none), 0.01, "no face on the crop")
  }
}
