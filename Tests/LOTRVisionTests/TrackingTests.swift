import LOTR
import LOTREval
@testable import LOTRVision
import XCTest

/// A synthetic 68-point face: the first committed 300-W shape, normalised.
func unitShape() throws -> [Point] {
  let f = try FaceDataset(directory: visionFixtures).faces[0].points
  let b = FaceBox(bounding: f)!
  return f.map { Point(x: ($0.x - b.x - b.width / 2) / b.width, y: ($0.y - b.y - b.height / 2) / b.width) }
}

func place(_ shape: [Point], cx: Float, cy: Float, size: Float, roll: Float = 0) -> [Point] {
  let (c, s) = (cosf(roll) * size, sinf(roll) * size)
  return shape.map { Point(x: cx + c * $0.x - s * $0.y, y: cy + s * $0.x + c * $0.y) }
}

final class AlignmentTests: XCTestCase {
  func testRollFromTheOuterEyeCornersAndAlignedBox() throws {
    let shape = try unitShape()
    let level = AlignedBox(landmarks: place(shape, cx: 200, cy: 150, size: 100))!
    for roll: Float in [-0.6, -0.2, 0.3, 0.7] {
      let a = AlignedBox(landmarks: place(shape, cx: 200, cy: 150, size: 100, roll: roll))!
      XCTAssertEqual(a.roll - level.roll, roll, accuracy: 1e-3)
      XCTAssertEqual(a.box.width, level.box.width, accuracy: 0.05 * level.box.width)
      XCTAssertEqual(a.box.x + a.box.width / 2, 200 + (level.box.x + level.box.width / 2 - 200), accuracy: 8)
    }
    // No known eye corners: roll 0, the plain bounding box.
    let five = [Point(x: 0, y: 0), Point(x: 10, y: 5), Point(x: 4, y: 9), Point(x: 2, y: 2), Point(x: 8, y: 1)]
    XCTAssertEqual(AlignedBox(landmarks: five), AlignedBox(box: FaceBox(x: 0, y: 0, width: 10, height: 9), roll: 0))
    // A model's own eye corners (ModelMetadata.outerEyeCorners, e.g. from lotr-quantize
    // --outer-eyes) give the roll for a scheme the count does not name.
    let eyes = [Point(x: 0, y: 0), Point(x: 10, y: 10), Point(x: 5, y: 12), Point(x: 2, y: 8), Point(x: 9, y: 1)]
    XCTAssertEqual(AlignedBox(landmarks: eyes, eyes: (0, 1))?.roll ?? 0, .pi / 4, accuracy: 1e-5)
    XCTAssertEqual(AlignedBox(landmarks: eyes)?.roll, 0)
    XCTAssertEqual(LandmarkError.nme(eyes.map { Point(x: $0.x + 1, y: $0.y) }, eyes, eyes: (0, 1)), 1 / hypotf(10, 10), accuracy: 1e-6)
  }

  func testPlausibilityCheck() throws {
    let shape = try unitShape()
    let check = PlausibilityCheck()
    let a = place(shape, cx: 300, cy: 200, size: 120)
    XCTAssertTrue(check.check(place(shape, cx: 306, cy: 198, size: 124, roll: 0.05), previous: a, frameWidth: 640, frameHeight: 480).isPlausible)
    XCTAssertFalse(check.check(place(shape, cx: 300, cy: 200, size: 60), previous: a, frameWidth: 640, frameHeight: 480).isPlausible)
    var scattered = a
    var rng = SplitRNG(seed: 5)
    for i in scattered.indices { scattered[i].x += 25 * rng.normal(); scattered[i].y += 25 * rng.normal() }
    XCTAssertFalse(check.check(scattered, previous: a, frameWidth: 640, frameHeight: 480).isPlausible)
    XCTAssertFalse(check.check(place(shape, cx: 700, cy: 200, size: 120), previous: nil, frameWidth: 640, frameHeight: 480).isPlausible)
  }
}

/// Two faces moving on straight lines; the detector returns their true boxes; the
/// landmarker returns the true points of the face whose centre is in the crop (else a
/// collapsed shape), unless told to fail.
final class TrackerTests: XCTestCase {
  final class Scene {
    let shape: [Point]
    var frame = 0
    var detections = 0
    init(shape: [Point]) { self.shape = shape }
    func truth(_ k: Int) -> [Point] {
      let t = Float(frame)
      return k == 0 ? place(shape, cx: 150 + 2 * t, cy: 200, size: 100, roll: 0.1)
                    : place(shape, cx: 450 - 1.5 * t, cy: 250 + t, size: 80, roll: -0.1)
    }
  }

  func makeTracker(_ scene: Scene, fail: @escaping (Int) -> Bool, interval: Int = 10) -> FaceTracker {
    var options = FaceTracker.Options()
    options.redetectInterval = interval
    options.smoothing = nil
    return FaceTracker(options: options, detect: { _ in
      scene.detections += 1
      return (0..<2).map { AlignedBox(box: FaceBox(bounding: scene.truth($0))!, roll: 0) }
    }, landmarker: { _, box, _ in
      let s = scene
      for k in 0..<2 {
        let b = FaceBox(bounding: s.truth(k))!
        let (cx, cy) = (b.x + b.width / 2, b.y + b.height / 2)
        if abs(cx - box.x - box.width / 2) < box.width / 2, abs(cy - box.y - box.height / 2) < box.height / 2 {
          return fail(s.frame) && k == 0 ? place(s.shape, cx: cx, cy: cy, size: 20) : s.truth(k)
        }
      }
      return place(s.shape, cx: box.x, cy: box.y, size: 5)
    })
  }

  func testIdsStayStableAndDetectorRunsEveryKFrames() throws {
    let scene = Scene(shape: try unitShape())
    let frame = PixelImage(width: 640, height: 480, layout: .gray8, pixels: [UInt8](repeating: 0, count: 640 * 480))
    let tracker = makeTracker(scene, fail: { _ in false })
    var idOf: [Int: Int] = [:] // face index -> id
    for n in 0..<60 {
      scene.frame = n
      let faces = tracker.update(frame, timestamp: Double(n) / 30)
      XCTAssertEqual(faces.count, 2, "frame \(n)")
      for f in faces {
        let k = (0..<2).max { iou(FaceBox(bounding: scene.truth($0))!, FaceBox(bounding: f.points)!) < iou(FaceBox(bounding: scene.truth($1))!, FaceBox(bounding: f.points)!) }!
        if let id = idOf[k] { XCTAssertEqual(f.id, id, "frame \(n): face \(k) changed id") } else { idOf[k] = f.id }
        XCTAssertEqual(f.source, n == 0 ? .detected : .tracked)
      }
    }
    XCTAssertEqual(Set(idOf.values).count, 2)
    XCTAssertEqual(scene.detections, 6, "every 10 frames over 60")
    XCTAssertEqual(tracker.lostEvents, 0)
  }

  func testImplausibleLandmarksTriggerAnImmediateRedetectionAndKeepTheId() throws {
    let scene = Scene(shape: try unitShape())
    let frame = PixelImage(width: 640, height: 480, layout: .gray8, pixels: [UInt8](repeating: 0, count: 640 * 480))
    // Face 0's landmarks collapse on frame 14 only (crop from frame 13's landmarks).
    var failed = false
    let tracker = makeTracker(scene, fail: { n in
      if n == 14 && !failed { failed = true; return true }
      return false
    })
    var ids: [Int: Set<Int>] = [:]
    for n in 0..<30 {
      scene.frame = n
      let faces = tracker.update(frame, timestamp: Double(n) / 30)
      XCTAssertEqual(faces.count, 2, "frame \(n)")
      for f in faces { ids[n, default: []].insert(f.id) }
      if n == 13 { XCTAssertEqual(scene.detections, 2) }
      if n == 14 {
        XCTAssertEqual(scene.detections, 3, "lost landmarks re-run the detector in the same frame")
        XCTAssertEqual(faces.first { $0.source == .detected }?.id, faces.map(\.id).min(), "re-initialised from the detector")
      }
    }
    XCTAssertEqual(tracker.lostEvents, 1)
    XCTAssertEqual(Set(ids.values), [Set([1, 2])], "ids unchanged through the loss")
    XCTAssertEqual(scene.detections, 4, "frames 0, 10, 14 (lost) and 24")
  }

  func testALowScoreRedetectsInTheSameFrameAndAVeryLowOneDropsTheFace() throws {
    let scene = Scene(shape: try unitShape())
    let frame = PixelImage(width: 640, height: 480, layout: .gray8, pixels: [UInt8](repeating: 0, count: 640 * 480))
    let tracker = makeTracker(scene, fail: { _ in false })
    // Face 0 (left, larger) scores 0.2 while tracked on frame 5 (below redetectBelow 0.3),
    // from frame 20 on it scores 0.05 always (below dropBelow 0.1): a face the model gets wrong.
    tracker.confidence = { _, crop, _ in
      let left = crop.box.x + crop.box.width / 2 < 320
      guard left else { return 0.9 }
      if scene.frame >= 20 { return 0.05 }
      return scene.frame == 5 && scene.detections == 1 ? 0.2 : 0.9
    }
    for n in 0..<30 {
      scene.frame = n
      let faces = tracker.update(frame, timestamp: Double(n) / 30)
      if n < 20 { XCTAssertEqual(faces.map(\.id), [1, 2], "frame \(n): ids kept through the re-detection") }
      if n == 4 { XCTAssertEqual(scene.detections, 1) }
      if n == 5 {
        XCTAssertEqual(scene.detections, 2, "a low score re-runs the detector in the same frame")
        XCTAssertEqual(faces.first?.source, .detected)
        XCTAssertEqual(faces.first?.score, 0.9)
      }
      if n >= 20 { XCTAssertEqual(faces.map(\.id), [2], "frame \(n): the face scoring under dropBelow is not reported") }
    }
    XCTAssertEqual(tracker.lowScoreEvents, tracker.lostEvents, "no landmarks were implausible")
    XCTAssertGreaterThanOrEqual(tracker.lowScoreEvents, 2)
  }

  /// A track that drifts off its face (each step plausible) and is then lost: its last crop
  /// overlaps the face's detection by IoU ~0.2, under matchIoU, yet the id is kept.
  func testADriftedTrackKeepsItsIdThroughTheRedetection() throws {
    let scene = Scene(shape: try unitShape())
    var options = FaceTracker.Options()
    options.smoothing = nil
    let frame = PixelImage(width: 640, height: 480, layout: .gray8, pixels: [UInt8](repeating: 0, count: 640 * 480))
    let drift: [Int: Float] = [5: 0.35, 6: 0.7]   // frame -> landmarks shifted by this many face sizes
    let tracker = FaceTracker(options: options, detect: { _ in
      scene.detections += 1
      return [AlignedBox(box: FaceBox(bounding: scene.truth(0))!, roll: 0)]
    }, landmarker: { _, _, _ in
      let t = scene.truth(0)
      let shift = (drift[scene.frame] ?? 0) * FaceBox(bounding: t)!.width
      return t.map { Point(x: $0.x + shift, y: $0.y) }
    })
    tracker.confidence = { _, crop, _ in
      let b = FaceBox(bounding: scene.truth(0))!
      return abs(crop.box.x - b.x) > 0.5 * b.width ? 0.05 : 0.9
    }
    for n in 0..<12 {
      scene.frame = n
      let faces = tracker.update(frame, timestamp: Double(n) / 30)
      XCTAssertEqual(faces.map(\.id), [1], "frame \(n)")
      if n == 7 { XCTAssertEqual(faces.first?.source, .detected, "re-detected when the landmarks jump back") }
    }
    XCTAssertEqual(tracker.lostEvents, 1)
  }

  func testAnEmptySceneIsSearchedEveryThirdFrame() throws {
    let scene = Scene(shape: try unitShape())
    var options = FaceTracker.Options()
    options.smoothing = nil
    let frame = PixelImage(width: 640, height: 480, layout: .gray8, pixels: [UInt8](repeating: 0, count: 640 * 480))
    let arrives = 31
    let tracker = FaceTracker(options: options, detect: { _ in
      scene.detections += 1
      return scene.frame >= arrives ? [AlignedBox(box: FaceBox(bounding: scene.truth(0))!, roll: 0)] : []
    }, landmarker: { _, _, _ in scene.truth(0) })
    var firstSeen: Int?
    for n in 0..<40 {
      scene.frame = n
      if n == arrives { XCTAssertEqual(scene.detections, 11, "frames 0, 3, ..., 30") }
      if !tracker.update(frame, timestamp: Double(n) / 30).isEmpty && firstSeen == nil { firstSeen = n }
    }
    XCTAssertEqual(firstSeen, 33, "found at the next idle search")
    XCTAssertEqual(scene.detections, 12, "then tracked: no detector run until the 10-frame re-detection")
  }

  func testAFaceThatLeavesIsDroppedAfterMissedDetections() throws {
    let scene = Scene(shape: try unitShape())
    var gone = false
    var options = FaceTracker.Options()
    options.redetectInterval = 5
    options.smoothing = nil
    let frame = PixelImage(width: 640, height: 480, layout: .gray8, pixels: [UInt8](repeating: 0, count: 640 * 480))
    let tracker = FaceTracker(options: options, detect: { _ in
      scene.detections += 1
      return (gone ? [1] : [0, 1]).map { AlignedBox(box: FaceBox(bounding: scene.truth($0))!, roll: 0) }
    }, landmarker: { _, box, _ in
      // The landmarker keeps "seeing" face 0 where it was (a regressor always answers).
      let b0 = FaceBox(bounding: scene.truth(0))!, b1 = FaceBox(bounding: scene.truth(1))!
      return iou(box, b1) > iou(box, b0) ? scene.truth(1) : scene.truth(0)
    })
    for n in 0..<30 {
      scene.frame = n
      if n == 10 { gone = true }
      let faces = tracker.update(frame, timestamp: Double(n) / 30)
      if n < 10 { XCTAssertEqual(faces.count, 2) }
      if n >= 20 { XCTAssertEqual(faces.map(\.id), [2], "frame \(n)") }
    }
  }
}

final class OneEuroFilterTests: XCTestCase {
  func testConstantInputGivesConstantOutput() {
    var f = OneEuroFilter(.landmarks)
    for k in 0..<100 { XCTAssertEqual(f.filter(42.5, at: Double(k) / 30), 42.5) }
  }

  func testStepResponseSettles() {
    var f = OneEuroFilter(.init(minCutoff: 1, beta: 0))
    _ = f.filter(0, at: 0)
    var y: Float = 0
    var previous: Float = 0
    for k in 1...90 {
      y = f.filter(10, at: Double(k) / 30)
      XCTAssertGreaterThanOrEqual(y, previous, "monotone")
      XCTAssertLessThanOrEqual(y, 10)
      previous = y
    }
    XCTAssertEqual(y, 10, accuracy: 0.01, "settled within 3 s at 1 Hz")
    // A higher beta follows a step faster.
    var fast = OneEuroFilter(.init(minCutoff: 1, beta: 1))
    var slow = OneEuroFilter(.init(minCutoff: 1, beta: 0))
    _ = fast.filter(0, at: 0); _ = slow.filter(0, at: 0)
    XCTAssertGreaterThan(fast.filter(10, at: 1.0 / 30), slow.filter(10, at: 1.0 / 30))
  }

  func testLowersJitterOnANoisyConstant() {
    // 1 px noise on a 100 px face at 30 fps: the default takes off about a third, a lower
    // cutoff more than half.
    for (p, bound) in [(OneEuroFilter.Parameters.landmarks, Float(0.8)), (.init(minCutoff: 1, beta: 10), 0.5)] {
      var rng = SplitRNG(seed: 11)
      var f = OneEuroFilter(p)
      var inSq: Float = 0, outSq: Float = 0
      for k in 0..<600 {
        let x = 100 + rng.normal()
        let y = f.filter(x, at: Double(k) / 30, speedScale: 1 / 100)
        if k >= 30 { inSq += (x - 100) * (x - 100); outSq += (y - 100) * (y - 100) }
      }
      XCTAssertLessThan(outSq.squareRoot(), bound * inSq.squareRoot(), "\(p)")
    }
  }

  func testLandmarkSmootherResetsOnPointCountChange() {
    var s = LandmarkSmoother()
    XCTAssertEqual(s.smooth([Point(x: 1, y: 2)], at: 0, faceSize: 100), [Point(x: 1, y: 2)])
    XCTAssertEqual(s.smooth([Point(x: 5, y: 6), Point(x: 7, y: 8)], at: 0.1, faceSize: 100).count, 2)
  }
}
