import LOTR
import LOTREval
@testable import LOTRVision
import XCTest

/// The shipped int8 BlazeFace (models/blazeface-short.lotr) on the fixture faces.
final class CNNFaceDetectorTests: XCTestCase {
  func fixtureFaces() throws -> [(RGBImage, [Point])] {
    let set = try FaceDataset(directory: visionFixtures)
    return try set.faces.map { (try RGBImage(contentsOf: set.imagePath($0)), $0.points) }
  }

  func testFindsEachFixtureFaceWithItsEyesAndACropOnTheLandmarks() throws {
    let detector = try CNNFaceDetector(path: shippedModels + "/blazeface-short.lotr")
    XCTAssertEqual(detector.metadata.kind, .faceDetection)
    XCTAssertGreaterThan(detector.network.steps.filter(\.int8).count, 60, "the backbone runs int8")
    for (image, points) in try fixtureFaces() {
      let faces = detector.detect(in: PixelImage(image))
      XCTAssertEqual(faces.count, 1, "one face per fixture crop")
      guard let face = faces.first, let truth = AlignedBox(landmarks: points) else { continue }
      XCTAssertGreaterThan(face.score, 0.7)
      XCTAssertGreaterThan(iou(face.crop.box, truth.box), 0.6, "the mapped crop covers the landmarks")
      XCTAssertEqual(face.crop.roll, truth.roll, accuracy: 0.15, "roll from the eye keypoints")
      // Keypoints 0 and 1: the subject's right eye (points 36-41) and left eye (42-47).
      let iod = hypotf(points[36].x - points[45].x, points[36].y - points[45].y)
      for (k, range) in [(0, 36...41), (1, 42...47)] {
        let cx = range.map { points[$0].x }.reduce(0, +) / 6, cy = range.map { points[$0].y }.reduce(0, +) / 6
        XCTAssertLessThan(hypotf(face.keypoints[k].x - cx, face.keypoints[k].y - cy), 0.2 * iod, "eye keypoint \(k)")
      }
    }
  }

  func testFindsASmallFaceInA640x480FrameAndNothingOnBackground() throws {
    let detector = try CNNFaceDetector(path: shippedModels + "/blazeface-short.lotr")
    let (image, points) = try fixtureFaces()[0]
    let clip = SyntheticClip(sources: [(image, points)], frameCount: 1)
    let box = FaceBox(bounding: points)!
    let pose = SyntheticClip.Pose(cx: 420, cy: 200, scale: 150 / box.width, roll: 0.25)
    let frame = clip.render(poses: [pose], seed: 3)
    let truth = AlignedBox(landmarks: clip.truth(face: 0, pose: pose))!
    let faces = detector.detect(in: PixelImage(frame))
    XCTAssertEqual(faces.count, 1)
    XCTAssertGreaterThan(faces.first.map { iou($0.crop.box, truth.box) } ?? 0, 0.5)
    XCTAssertEqual(faces.first?.crop.roll ?? 0, 0.25, accuracy: 0.12, "a rolled face gives a rolled crop")
    let empty = clip.render(poses: [SyntheticClip.Pose(cx: -5000, cy: -5000, scale: 1, roll: 0)], seed: 3)
    XCTAssertTrue(detector.detect(in: PixelImage(empty)).isEmpty, "no face on the bare background (tiles included)")
  }

  func testModelsOfTheOtherTaskAreRefusedByName() throws {
    XCTAssertThrowsError(try CNNFaceDetector(path: shippedModels + "/lotr-s-68.lotr")) { error in
      XCTAssertTrue("\(error)".contains("not a face detector"), "\(error)")
    }
    XCTAssertThrowsError(try LandmarkModel(path: shippedModels + "/blazeface-short.lotr")) { error in
      XCTAssertTrue("\(error)".contains("not a landmark model"), "\(error)")
    }
  }
}
