#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import LOTR

/// The crop for the next frame from a face's landmarks: roll from the outer eye corners
/// (the eye line made level), box = the landmarks' bounding box in that rolled frame,
/// centred where that box's centre lies in the image. Schemes without known eye corners
/// get roll 0 and the plain bounding box.
public struct AlignedBox: Sendable, Equatable {
  public var box: FaceBox
  public var roll: Float

  public init(box: FaceBox, roll: Float) { self.box = box; self.roll = roll }

  /// `eyes`: the model's outer eye corners (ModelMetadata.outerEyeCorners); nil = by count.
  public init?(landmarks p: [Point], eyes: (Int, Int)? = nil) {
    guard !p.isEmpty, p.allSatisfy({ $0.x.isFinite && $0.y.isFinite }) else { return nil }
    var roll: Float = 0
    if let (a, b) = eyes ?? LandmarkError.outerEyeCorners(count: p.count), a < p.count, b < p.count {
      // For 68/98/106 points the first index is the subject's right eye (image left).
      roll = atan2f(p[b].y - p[a].y, p[b].x - p[a].x)
    }
    let (c, s) = (cosf(roll), sinf(roll))
    // Rotate into the face frame (by -roll), take the bounding box, rotate its centre back.
    let u = p.map { Point(x: c * $0.x + s * $0.y, y: -s * $0.x + c * $0.y) }
    guard let b = FaceBox(bounding: u) else { return nil }
    let (mu, mv) = (b.x + b.width / 2, b.y + b.height / 2)
    let (cx, cy) = (c * mu - s * mv, s * mu + c * mv)
    self.init(box: FaceBox(x: cx - b.width / 2, y: cy - b.height / 2, width: b.width, height: b.height), roll: roll)
  }

  /// The axis-aligned bounding box of the rotated box (for IoU matching).
  public var boundingBox: FaceBox {
    let (c, s) = (abs(cosf(roll)), abs(sinf(roll)))
    let w = box.width * c + box.height * s, h = box.width * s + box.height * c
    let (cx, cy) = (box.x + box.width / 2, box.y + box.height / 2)
    return FaceBox(x: cx - w / 2, y: cy - h / 2, width: w, height: h)
  }
}

/// Does a new set of landmarks still look like the face being tracked? Generic (any N):
/// size and aspect change against the previous frame, the shape change after a similarity
/// alignment (Procrustes) to the previous frame's shape, and, where the scheme has outer
/// eye corners, the inter-ocular distance against the box size. Thresholds measured with
/// `lotr vision plausibility` (docs/VISION.md).
public struct PlausibilityCheck: Sendable, Equatable {
  /// Allowed frame-to-frame change of sqrt(box w h), as a ratio (and its inverse).
  public var maxScaleChange: Float = 1.3
  /// Allowed frame-to-frame change of the box aspect w/h, as a ratio.
  public var maxAspectChange: Float = 1.3
  /// RMS residual of the similarity-aligned shapes, over the face size.
  public var maxShapeChange: Float = 0.08
  /// Frame-to-frame move of the box centre, over the face size.
  public var maxShift: Float = 0.4
  /// Outer-eye distance over the aligned box width (300-W: 0.1th..99.9th percentile
  /// 0.415..0.779, median 0.602; widened).
  public var eyeRatio: ClosedRange<Float> = 0.38...0.85

  public init() {}

  public enum Verdict: Sendable, Equatable {
    case plausible
    case implausible(String)
    public var isPlausible: Bool { self == .plausible }
  }

  public func check(_ points: [Point], previous: [Point]?, frameWidth: Int, frameHeight: Int, eyes: (Int, Int)? = nil) -> Verdict {
    guard let aligned = AlignedBox(landmarks: points, eyes: eyes) else { return .implausible("non-finite points") }
    let b = aligned.box
    let (cx, cy) = (b.x + b.width / 2, b.y + b.height / 2)
    guard cx >= 0, cy >= 0, cx < Float(frameWidth), cy < Float(frameHeight) else { return .implausible("face centre left the frame") }
    let size = (b.width * b.height).squareRoot()
    guard size >= 4 else { return .implausible("collapsed (size \(size) px)") }
    if let (i, j) = eyes ?? LandmarkError.outerEyeCorners(count: points.count), i < points.count, j < points.count {
      let eye = hypotf(points[i].x - points[j].x, points[i].y - points[j].y) / max(b.width, 1e-3)
      guard eyeRatio.contains(eye) else { return .implausible("eye distance / box width \(eye)") }
    }
    guard let previous, previous.count == points.count, let pb = AlignedBox(landmarks: previous, eyes: eyes)?.box else { return .plausible }
    let prevSize = (pb.width * pb.height).squareRoot()
    let scale = size / max(prevSize, 1e-3)
    guard scale <= maxScaleChange, 1 / scale <= maxScaleChange else { return .implausible("size changed x\(scale)") }
    let aspect = (b.width / max(b.height, 1e-3)) / (pb.width / max(pb.height, 1e-3))
    guard aspect <= maxAspectChange, 1 / aspect <= maxAspectChange else { return .implausible("aspect changed x\(aspect)") }
    let shift = hypotf(cx - pb.x - pb.width / 2, cy - pb.y - pb.height / 2) / max(prevSize, 1e-3)
    guard shift <= maxShift else { return .implausible("moved \(shift) face sizes in a frame") }
    let residual = procrustesResidual(points, previous) / size
    guard residual <= maxShapeChange else { return .implausible("shape changed by \(residual) of the face size") }
    return .plausible
  }
}

/// RMS distance between `a` and the similarity transform of `b` that best fits it.
public func procrustesResidual(_ a: [Point], _ b: [Point]) -> Float {
  let n = Float(a.count)
  guard a.count == b.count, a.count > 1 else { return 0 }
  let (amx, amy) = (a.reduce(0) { $0 + $1.x } / n, a.reduce(0) { $0 + $1.y } / n)
  let (bmx, bmy) = (b.reduce(0) { $0 + $1.x } / n, b.reduce(0) { $0 + $1.y } / n)
  var sxx: Float = 0, sxy: Float = 0, bb: Float = 0, aa: Float = 0
  for (p, q) in zip(a, b) {
    let (ax, ay, bx, by) = (p.x - amx, p.y - amy, q.x - bmx, q.y - bmy)
    sxx += ax * bx + ay * by   // a . b
    sxy += ay * bx - ax * by   // a x b
    bb += bx * bx + by * by
    aa += ax * ax + ay * ay
  }
  guard bb > 0 else { return (aa / n).squareRoot() }
  // Minimum of sum |a - sR b|^2 over s, R: aa - (sxx^2 + sxy^2) / bb.
  return max(0, (aa - (sxx * sxx + sxy * sxy) / bb) / n).squareRoot()
}

/// A face followed across frames.
public struct TrackedFace: Sendable {
  public enum Source: Sendable, Equatable { case detected, tracked }
  /// Stable while the face is followed; never reused.
  public var id: Int
  /// The crop this frame's landmarks came from (landmark-box convention, rolled by `roll`).
  public var crop: AlignedBox
  /// Landmarks in frame coordinates (smoothed when smoothing is on).
  public var points: [Point]
  /// Landmarks as the model gave them.
  public var rawPoints: [Point]
  /// Whether this frame's crop came from the detector or from the previous landmarks.
  public var source: Source
  /// Frames since the track began.
  public var age: Int
  /// Confidence that the points are right (LandmarkConfidence), nil without a checker.
  public var score: Float? = nil
}

/// Detect once, then follow each face from its own landmarks (MediaPipe's pattern):
/// the next crop is the aligned box of the last landmarks; the detector runs again every
/// `redetectInterval` frames (new faces appear, stale tracks without detector support
/// are dropped) and at once when a face's landmarks fail the plausibility check or, with a
/// `confidence`, score below `Options.redetectBelow`. A detection that overlaps the lost
/// track keeps its id.
public final class FaceTracker {
  public struct Options: Sendable {
    /// Run the detector every this many frames even when every track looks fine.
    public var redetectInterval: Int = 10
    /// With no face followed, run it every this many frames: an empty scene costs the
    /// detector's full search (whole frame, then 2x2 and 3x3 tiles: 14 passes) a third
    /// of the time, and a face that walks in is found within 100 ms at 30 fps.
    public var idleDetectInterval: Int = 3
    public var maxFaces: Int = 4
    /// A detection and a track are the same face above this IoU.
    public var matchIoU: Float = 0.3
    /// ... and a track lost in this frame, whose last crop is off by definition (it gave wrong
    /// landmarks), above this one, so a re-detection keeps its id.
    public var lostMatchIoU: Float = 0.1
    /// Re-detections in a row that may miss a track before it is dropped.
    public var maxMissedDetections: Int = 1
    /// nil = no smoothing.
    public var smoothing: OneEuroFilter.Parameters? = .landmarks
    public var plausibility = PlausibilityCheck()
    /// With a confidence: a tracked result scoring below this is treated as lost (the
    /// detector runs again in the same frame) ...
    public var redetectBelow: Float = 0.3
    /// ... and a result from a fresh detection scoring below this is dropped with its track.
    /// Both measured with `lotr vision score` and `lotr vision drops` (docs/VISION.md).
    public var dropBelow: Float = 0.1
    public init() {}
  }

  /// Landmarks of the face in `box` rolled by `roll` (LandmarkModel.landmarks(in:box:roll:)).
  public typealias Landmarker = (PixelImage, FaceBox, Float) -> [Point]
  /// The landmark model's crops (landmark-box convention, rolled) of the faces in a frame:
  /// a detector and its mapping.
  public typealias Detect = (PixelImage) -> [AlignedBox]

  /// A confidence in [0, 1] that `points` (from the crop) are right; run on every result.
  public typealias Confidence = (PixelImage, AlignedBox, [Point]) -> Float

  public var options: Options
  /// The landmark model's outer eye corners (roll, plausibility); nil = by the point count.
  public var outerEyes: (Int, Int)?
  /// nil: results carry no score.
  public var confidence: Confidence?
  private let detectFaces: Detect
  private let landmarker: Landmarker

  private struct Track {
    var id: Int
    var crop: AlignedBox
    var last: [Point]?
    var misses = 0
    var age = 0
    var fromDetector = true
    var lost = false
    var smoother: LandmarkSmoother?
  }
  private var tracks: [Track] = []
  private var nextID = 1
  private var sinceDetection = Int.max

  /// Counters for the figures: frames, detector runs, and why.
  public private(set) var frames = 0
  public private(set) var detectorRuns = 0
  public private(set) var lostEvents = 0
  /// Of `lostEvents`, those where the points were plausible but their score too low.
  public private(set) var lowScoreEvents = 0

  public init(options: Options = Options(), detect: @escaping Detect, landmarker: @escaping Landmarker) {
    self.options = options
    self.detectFaces = detect
    self.landmarker = landmarker
  }

  /// The CNN detector finds faces and also scores every result (LandmarkConfidence: one
  /// detector pass over the crop the points came from).
  public convenience init(detector: CNNFaceDetector, model: LandmarkModel, options: Options = Options()) {
    self.init(options: options, detect: { detector.detect(in: $0).map(\.crop) },
              landmarker: { model.landmarks(in: $0, box: $1, roll: $2) })
    let scale = model.metadata.crop.scale
    outerEyes = model.metadata.outerEyeCorners
    confidence = { image, crop, points in
      LandmarkConfidence.score(landmarks: points, crop: crop, check: detector.check(image, crop: crop, cropScale: scale),
                               mapping: detector.mapping)
    }
  }

  /// Forget every face (e.g. after a camera reopen).
  public func reset() { tracks = []; sinceDetection = Int.max }

  /// Landmarks for every followed face in this frame, in id order. `timestamp` in seconds
  /// (monotonic) drives the smoothing.
  public func update(_ frame: PixelImage, timestamp: Double) -> [TrackedFace] {
    frames += 1
    var detected = false
    if sinceDetection >= (tracks.isEmpty ? options.idleDetectInterval : options.redetectInterval) {
      merge(detections: detect(frame))
      detected = true
    }
    sinceDetection = sinceDetection == Int.max ? 1 : sinceDetection + 1
    var faces = run(frame, timestamp: timestamp)
    if tracks.contains(where: \.lost) && !detected {
      // A face was lost: look again in this frame rather than wait for the next; a
      // detection that matches the lost track's last crop keeps its id.
      merge(detections: detect(frame))
      sinceDetection = 1
      faces += run(frame, timestamp: timestamp, onlyFresh: true)
    }
    tracks.removeAll { $0.lost }
    removeDuplicates()
    let ids = Set(tracks.map(\.id))
    return faces.filter { ids.contains($0.id) }.sorted { $0.id < $1.id }
  }

  private func detect(_ frame: PixelImage) -> [AlignedBox] {
    detectorRuns += 1
    return detectFaces(frame)
  }

  /// Runs the landmarker on every live track (or only those just re-initialised by the
  /// detector); a track whose landmarks fail the check is marked lost.
  private func run(_ frame: PixelImage, timestamp: Double, onlyFresh: Bool = false) -> [TrackedFace] {
    var faces: [TrackedFace] = []
    for k in tracks.indices where !tracks[k].lost && (!onlyFresh || tracks[k].fromDetector) {
      var t = tracks[k]
      let points = landmarker(frame, t.crop.box, t.crop.roll)
      let verdict = options.plausibility.check(points, previous: t.fromDetector ? nil : t.last,
                                               frameWidth: frame.width, frameHeight: frame.height, eyes: outerEyes)
      let used = t.crop
      let score = verdict.isPlausible ? confidence?(frame, used, points) : nil
      guard verdict.isPlausible, let next = AlignedBox(landmarks: points, eyes: outerEyes),
            score.map({ $0 >= (t.fromDetector ? options.dropBelow : options.redetectBelow) }) ?? true else {
        tracks[k].lost = true
        lostEvents += 1
        if score != nil { lowScoreEvents += 1 }
        continue
      }
      let source: TrackedFace.Source = t.fromDetector ? .detected : .tracked
      var shown = points
      if let p = options.smoothing {
        if t.smoother == nil { t.smoother = LandmarkSmoother(p) }
        shown = t.smoother!.smooth(points, at: timestamp, faceSize: max(next.box.width, next.box.height))
      }
      t.last = points
      t.crop = next
      t.fromDetector = false
      t.age += 1
      tracks[k] = t
      faces.append(TrackedFace(id: t.id, crop: used, points: shown, rawPoints: points, source: source, age: t.age,
                               score: score))
    }
    return faces
  }

  /// Two tracks on one face (e.g. a track drifted onto another): keep the older.
  private func removeDuplicates() {
    var unique: [Track] = []
    for t in tracks.sorted(by: { $0.id < $1.id }) where !unique.contains(where: { iou($0.crop.boundingBox, t.crop.boundingBox) > 0.5 }) {
      unique.append(t)
    }
    tracks = unique
  }

  /// Matches detections to tracks by IoU (greedy, best first): matched tracks keep their
  /// id and their landmark-derived crop; unmatched tracks count a miss; unmatched
  /// detections start tracks.
  private func merge(detections: [AlignedBox]) {
    var pairs: [(Float, Int, Int)] = []
    for (ti, t) in tracks.enumerated() {
      for (di, d) in detections.enumerated() {
        let v = iou(t.crop.boundingBox, d.boundingBox)
        if v > (t.lost ? options.lostMatchIoU : options.matchIoU) { pairs.append((v, ti, di)) }
      }
    }
    pairs.sort { $0.0 > $1.0 }
    var trackUsed = Set<Int>(), detUsed = Set<Int>()
    for (_, ti, di) in pairs where !trackUsed.contains(ti) && !detUsed.contains(di) {
      trackUsed.insert(ti); detUsed.insert(di)
      tracks[ti].misses = 0
      if tracks[ti].lost {
        tracks[ti].crop = detections[di]
        tracks[ti].fromDetector = true
        tracks[ti].lost = false
      }
    }
    var next: [Track] = []
    for (ti, var t) in tracks.enumerated() {
      if !trackUsed.contains(ti) {
        if t.lost { continue }
        t.misses += 1
        if t.misses > options.maxMissedDetections { continue }
      }
      next.append(t)
    }
    for (di, d) in detections.enumerated() where !detUsed.contains(di) && next.count < options.maxFaces {
      next.append(Track(id: nextID, crop: d))
      nextID += 1
    }
    tracks = next
    sinceDetection = 0
  }
}
