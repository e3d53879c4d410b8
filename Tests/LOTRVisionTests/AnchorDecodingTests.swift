import XCTest
import LOTR
@testable import LOTRVision

/// The BlazeFace post-processing on hand-made outputs: anchor order, decoding, weighted NMS
/// and the rolled crop of a candidate.
final class AnchorDecodingTests: XCTestCase {
  let blazeFace = ModelMetadata.Anchors(strides: [8, 16], perCell: [2, 6])

  func testAnchorsAreInMediaPipeOrder() {
    let c = AnchorDecoding.centres(blazeFace, width: 128, height: 128)
    XCTAssertEqual(c.count, 896)
    XCTAssertEqual(blazeFace.count(width: 128, height: 128), 896)
    XCTAssertEqual(c[0], Point(x: 0.5 / 16, y: 0.5 / 16))
    XCTAssertEqual(c[1], c[0], "2 anchors per stride-8 cell")
    XCTAssertEqual(c[2], Point(x: 1.5 / 16, y: 0.5 / 16), "cells row-major: x first")
    XCTAssertEqual(c[32], Point(x: 0.5 / 16, y: 1.5 / 16))
    XCTAssertEqual(c[512], Point(x: 0.5 / 8, y: 0.5 / 8), "stride 16 follows stride 8")
    XCTAssertEqual(c[517], c[512], "6 anchors per stride-16 cell")
    XCTAssertEqual(c[518], Point(x: 1.5 / 8, y: 0.5 / 8))
  }

  /// Rows of a 896-anchor output, all below threshold except those set.
  func output(_ set: [Int: [Float]]) -> [Float] {
    var rows = [Float](repeating: 0, count: 896 * 17)
    for i in 0..<896 { rows[i * 17 + 16] = -20 }
    for (i, r) in set { for (k, v) in r.enumerated() { rows[i * 17 + k] = v } }
    return rows
  }

  func testDecodeMapsPixelOffsetsAndSizesAroundTheAnchor() {
    // Anchor 34: stride 8, cell (1, 1): centre (1.5/16, 1.5/16).
    var row: [Float] = [16, -8, 32, 48]
    for k in 0..<6 { row += [Float(k), -Float(k)] }
    row.append(2)  // logit 2: score 0.8808
    let rows = output([34: row])
    let centres = AnchorDecoding.centres(blazeFace, width: 128, height: 128)
    let found = rows.withUnsafeBufferPointer {
      AnchorDecoding.decode($0, centres: centres, keypoints: 6, inputWidth: 128, inputHeight: 128, scoreClip: 100, minScore: 0.5)
    }
    XCTAssertEqual(found.count, 1)
    let c = found[0]
    let (cx, cy) = (Float(1.5 / 16) + 16 / 128, Float(1.5 / 16) - 8 / 128)
    XCTAssertEqual(c.box.x + c.box.width / 2, cx, accuracy: 1e-6)
    XCTAssertEqual(c.box.y + c.box.height / 2, cy, accuracy: 1e-6)
    XCTAssertEqual(c.box.width, 32 / 128, accuracy: 1e-6)
    XCTAssertEqual(c.box.height, 48 / 128, accuracy: 1e-6)
    XCTAssertEqual(c.keypoints[3].x, Float(1.5 / 16) + 3 / 128, accuracy: 1e-6)
    XCTAssertEqual(c.keypoints[3].y, Float(1.5 / 16) - 3 / 128, accuracy: 1e-6)
    XCTAssertEqual(c.score, 1 / (1 + expf(-2)), accuracy: 1e-6)

    // The threshold is on the score: logit 2 passes 0.88, fails 0.89.
    let strict = rows.withUnsafeBufferPointer {
      AnchorDecoding.decode($0, centres: centres, keypoints: 6, inputWidth: 128, inputHeight: 128, scoreClip: 100, minScore: 0.89)
    }
    XCTAssertTrue(strict.isEmpty)
  }

  func testWeightedNMSMergesOverlapsByScoreAndKeepsTheRest() {
    func cand(_ x: Float, _ score: Float) -> AnchorDecoding.Candidate {
      .init(box: FaceBox(x: x, y: 0.2, width: 0.3, height: 0.3), keypoints: [Point(x: x, y: 0.3)], score: score)
    }
    let out = AnchorDecoding.weightedNMS([cand(0.12, 0.6), cand(0.7, 0.55), cand(0.1, 0.9)], iou: 0.3)
    XCTAssertEqual(out.count, 2)
    XCTAssertEqual(out[0].score, 0.9, "the group keeps its best score")
    XCTAssertEqual(out[0].box.x, (0.1 * 0.9 + 0.12 * 0.6) / 1.5, accuracy: 1e-6, "score-weighted mean")
    XCTAssertEqual(out[0].keypoints[0].x, (0.1 * 0.9 + 0.12 * 0.6) / 1.5, accuracy: 1e-6)
    XCTAssertEqual(out[1].box.x, 0.7, accuracy: 1e-6, "no overlap: its own face")
  }

  func testAlignedBoxRollsWithTheEyeLine() {
    let mapping = DetectorBoxMapping(widthScale: 1.5, heightScale: 2, centerX: 0, centerY: 0.1)
    // Eyes on a vertical line going down: roll +90 degrees; the centre offset (0, 0.1 s) of
    // the face frame points along -x of the image.
    let c = AnchorDecoding.Candidate(box: FaceBox(x: 100, y: 100, width: 50, height: 40),
                                     keypoints: [Point(x: 120, y: 110), Point(x: 120, y: 130)], score: 1)
    let a = mapping.alignedBox(for: c)
    XCTAssertEqual(a.roll, .pi / 2, accuracy: 1e-5)
    XCTAssertEqual(a.box.width, 75, accuracy: 1e-4)
    XCTAssertEqual(a.box.height, 100, accuracy: 1e-4)
    XCTAssertEqual(a.box.x + a.box.width / 2, 125 - 5, accuracy: 1e-4)
    XCTAssertEqual(a.box.y + a.box.height / 2, 120, accuracy: 1e-4)
    // The fit recovers the constants from exact pairs.
    let fitted = DetectorBoxMapping.fit(candidates: [(c, a)])
    XCTAssertEqual(fitted.widthScale, 1.5, accuracy: 1e-4)
    XCTAssertEqual(fitted.heightScale, 2, accuracy: 1e-4)
    XCTAssertEqual(fitted.centerX, 0, accuracy: 1e-4)
    XCTAssertEqual(fitted.centerY, 0.1, accuracy: 1e-4)
  }
}
