#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import LOTR

/// One face from an anchor detector (a `.lotr` face-detection model), in frame pixels.
public struct DetectedFace: Sendable, Equatable {
  /// The detector's own box (for BlazeFace: about the eyes-to-mouth square).
  public var box: FaceBox
  /// BlazeFace's 6: subject's right eye, left eye, nose tip, mouth centre, right ear tragion,
  /// left ear tragion ("right" is the subject's, image left on an unmirrored camera).
  public var keypoints: [Point]
  /// sigmoid of the logit of the strongest anchor of the group.
  public var score: Float
  /// The landmark model's crop: landmark-box convention, rolled (DetectorBoxMapping).
  public var crop: AlignedBox
}

/// Anchor decoding and weighted non-maximum suppression, as MediaPipe's face detection
/// post-processing (TensorsToDetections + NonMaxSuppression, "weighted" algorithm).
/// Coordinates are normalised to the detector input, [0, 1] across.
public enum AnchorDecoding {
  public struct Candidate: Sendable, Equatable {
    /// Box (top-left, size) and keypoints in normalised input coordinates.
    public var box: FaceBox
    public var keypoints: [Point]
    public var score: Float
  }

  /// Anchor centres, in output row order: per stride, cells row-major, `perCell` per cell.
  public static func centres(_ a: ModelMetadata.Anchors, width: Int, height: Int) -> [Point] {
    var out: [Point] = []
    for (stride, perCell) in zip(a.strides, a.perCell) {
      let cells = a.cells(stride: stride, width: width, height: height)
      for y in 0..<cells.y {
        for x in 0..<cells.x {
          let p = Point(x: (Float(x) + a.offset) / Float(cells.x), y: (Float(y) + a.offset) / Float(cells.y))
          out.append(contentsOf: repeatElement(p, count: perCell))
        }
      }
    }
    return out
  }

  /// The anchors whose score reaches `minScore`. `rows` is the model output [anchors, 4 + 2K + 1]:
  /// dx, dy, w, h, K keypoints (x, y), all in input pixels relative to the anchor centre
  /// (anchor size 1), then the logit.
  public static func decode(_ rows: UnsafeBufferPointer<Float>, centres: [Point], keypoints k: Int,
                            inputWidth: Int, inputHeight: Int, scoreClip: Float, minScore: Float) -> [Candidate] {
    let width = 4 + 2 * k + 1
    precondition(rows.count == centres.count * width, "output does not match the anchors")
    let (sx, sy) = (1 / Float(inputWidth), 1 / Float(inputHeight))
    // sigmoid(l) >= minScore  <=>  l >= logit(minScore): compare logits, exp only for the kept.
    let minLogit = minScore <= 0 ? -Float.infinity : minScore >= 1 ? Float.infinity : logf(minScore / (1 - minScore))
    var out: [Candidate] = []
    for (i, c) in centres.enumerated() {
      let r = i * width
      let logit = max(-scoreClip, min(scoreClip, rows[r + width - 1]))
      guard logit >= minLogit else { continue }
      let (cx, cy) = (c.x + rows[r] * sx, c.y + rows[r + 1] * sy)
      let (w, h) = (rows[r + 2] * sx, rows[r + 3] * sy)
      guard w > 0, h > 0, cx.isFinite, cy.isFinite, w.isFinite, h.isFinite else { continue }
      let points = (0..<k).map { j in Point(x: c.x + rows[r + 4 + 2 * j] * sx, y: c.y + rows[r + 5 + 2 * j] * sy) }
      out.append(Candidate(box: FaceBox(x: cx - w / 2, y: cy - h / 2, width: w, height: h), keypoints: points,
                           score: 1 / (1 + expf(-logit))))
    }
    return out
  }

  /// Weighted NMS: the best remaining candidate and every other one overlapping it by more
  /// than `iou` form a group; the group's box and keypoints are their score-weighted mean,
  /// its score the best one's. Best first.
  public static func weightedNMS(_ candidates: [Candidate], iou threshold: Float) -> [Candidate] {
    var remaining = candidates.sorted { $0.score > $1.score }
    var out: [Candidate] = []
    while let best = remaining.first {
      var group: [Candidate] = []
      var rest: [Candidate] = []
      for c in remaining {
        if iou(best.box, c.box) > threshold || c == best { group.append(c) } else { rest.append(c) }
      }
      remaining = rest
      let total = group.reduce(Float(0)) { $0 + $1.score }
      var merged = best
      var (x, y, w, h) = (Float(0), Float(0), Float(0), Float(0))
      var points = [Point](repeating: Point(x: 0, y: 0), count: best.keypoints.count)
      for c in group {
        let f = c.score / total
        x += f * c.box.x; y += f * c.box.y; w += f * c.box.width; h += f * c.box.height
        for j in points.indices { points[j].x += f * c.keypoints[j].x; points[j].y += f * c.keypoints[j].y }
      }
      merged.box = FaceBox(x: x, y: y, width: w, height: h)
      merged.keypoints = points
      out.append(merged)
    }
    return out
  }
}

/// Face finding with a `.lotr` face-detection model (BlazeFace short range, int8 on the
/// lotr kernels): the frame letterboxed into the square input (the crop warp with the whole
/// frame as the box, black bars), anchors decoded, weighted NMS, then each face's box and
/// eye line mapped to the landmark model's rolled crop. Holds the network: one per thread.
public final class CNNFaceDetector: @unchecked Sendable {
  public struct Options: Sendable, Equatable {
    /// Faces scoring below this are dropped (MediaPipe's min_score_thresh).
    public var minScore: Float = 0.5
    /// Candidates overlapping the best by more than this IoU merge into it.
    public var suppressionIoU: Float = 0.3
    public var maxFaces: Int = 8
    /// When the whole frame shows no face, look again in 2x2 overlapping square tiles of
    /// 0.6 x the frame's longer side (faces 1.7x larger in the input): the short-range
    /// model misses faces under about a fifth of the frame (docs/VISION.md). Costs 4 more
    /// passes, only on frames with no face found.
    public var tileWhenEmpty = true
    public init(minScore: Float = 0.5, suppressionIoU: Float = 0.3, maxFaces: Int = 8, tileWhenEmpty: Bool = true) {
      self.minScore = minScore; self.suppressionIoU = suppressionIoU; self.maxFaces = maxFaces
      self.tileWhenEmpty = tileWhenEmpty
    }
  }

  public let file: ModelFile
  public let network: Network
  public var options: Options
  public var mapping: DetectorBoxMapping
  public var metadata: ModelMetadata { file.metadata }
  private let input: ModelInput
  private let centres: [Point]

  /// `mapping` defaults to the constants fitted for BlazeFace on the 300-W training faces.
  public init(path: String, kernels: KernelPath? = nil, threads: Int = 1, options: Options = Options(),
              mapping: DetectorBoxMapping = .blazeFaceShortRange) throws {
    file = try ModelFile.open(path: path)
    let m = file.metadata
    guard m.kind == .faceDetection, let anchors = m.anchors else {
      throw ModelFileError(path: path, "'\(m.name)' is a landmark model, not a face detector (pass it as --model)")
    }
    network = try Network(model: file, kernels: kernels ?? KernelPath.default(), threads: threads)
    input = ModelInput(network)
    centres = AnchorDecoding.centres(anchors, width: m.input.width, height: m.input.height)
    self.options = options
    self.mapping = mapping
  }

  /// The detector shipped beside a landmark model (models/, PREFIX/share/lotr/models/).
  public static func shippedModel(besideLandmarkModel model: String) -> String {
    guard let slash = model.lastIndex(of: "/") else { return "blazeface-short.lotr" }
    return String(model[...slash]) + "blazeface-short.lotr"
  }

  /// Faces in the frame, best score first, after NMS (before `maxFaces`: all of them).
  public func candidates(in image: PixelImage, minScore: Float? = nil) -> [AnchorDecoding.Candidate] {
    let (w, h) = (Float(image.width), Float(image.height))
    // The frame as squares of its shorter side, overlapping evenly (640x480: two of 480):
    // no input spent on letterbox bars, faces a third larger than in one letterboxed pass,
    // which finds 97 % of 120 px faces against 99.5 % (docs/VISION.md).
    let (short, long) = (min(w, h), max(w, h))
    let count = Int((long / short - 0.01).rounded(.up))
    let squares = (0..<count).map { k -> FaceBox in
      let offset = count > 1 ? Float(k) * (long - short) / Float(count - 1) : 0
      return w >= h ? FaceBox(x: offset, y: 0, width: short, height: short) : FaceBox(x: 0, y: offset, width: short, height: short)
    }
    let found = squares.flatMap { pass(image, region: $0, minScore: minScore) }
    guard found.isEmpty, options.tileWhenEmpty else {
      return count > 1 ? AnchorDecoding.weightedNMS(found, iou: options.suppressionIoU) : found
    }
    // Nothing found: n x n overlapping squares of `fraction` x the longer side, finer until
    // something is found (the short-range model misses faces under about a fifth of its input).
    var searches: [[FaceBox]] = []
    for (n, fraction) in [(2, Float(0.6)), (3, Float(0.4))] {
      let side = fraction * long
      searches.append((0..<(n * n)).map { k in
        let (fx, fy) = (Float(k % n) / Float(n - 1), Float(k / n) / Float(n - 1))
        return FaceBox(x: fx * (w - side), y: fy * (h - side), width: side, height: side)
      })
    }
    for regions in searches {
      let tiled = regions.flatMap { pass(image, region: $0, minScore: minScore) }
      if !tiled.isEmpty { return AnchorDecoding.weightedNMS(tiled, iou: options.suppressionIoU) }
    }
    return []
  }

  /// One run of the network on `region` of the frame (a square, or the frame letterboxed),
  /// candidates in frame pixels after NMS.
  func pass(_ image: PixelImage, region: FaceBox, minScore: Float?) -> [AnchorDecoding.Candidate] {
    let a = CropGeometry.transform(box: region, crop: metadata.crop)
    input.fill(from: image, transform: a)
    network.run()
    let m = metadata
    let found = AnchorDecoding.decode(network.output, centres: centres, keypoints: m.landmarkCount,
                                      inputWidth: m.input.width, inputHeight: m.input.height,
                                      scoreClip: m.anchors!.scoreClip, minScore: minScore ?? options.minScore)
    return AnchorDecoding.weightedNMS(found, iou: options.suppressionIoU).map { c in
      // Normalised input coordinates to frame pixels (mapBack works on (u, v) pairs).
      let corners = CropGeometry.mapBack([c.box.x, c.box.y, c.box.x + c.box.width, c.box.y + c.box.height], a)
      let points = CropGeometry.mapBack(c.keypoints.flatMap { [$0.x, $0.y] }, a)
      return .init(box: FaceBox(x: corners[0].x, y: corners[0].y, width: corners[1].x - corners[0].x,
                                height: corners[1].y - corners[0].y), keypoints: points, score: c.score)
    }
  }

  public func detect(in image: PixelImage) -> [DetectedFace] {
    candidates(in: image).prefix(options.maxFaces).map { c in
      DetectedFace(box: c.box, keypoints: c.keypoints, score: c.score, crop: mapping.alignedBox(for: c))
    }
  }
}

extension DetectorBoxMapping {
  /// Fitted by `lotr vision cnn --data ../shared/data/300w-train` (models/blazeface-short.lotr)
  /// on the 1,813 300-W training faces outside training/splits/300w-val.txt (docs/VISION.md).
  public static let blazeFaceShortRange = DetectorBoxMapping(widthScale: 0.9101, heightScale: 0.8776, centerX: 0.0039, centerY: 0.0784)

  /// The roll of the eye line (keypoints 0 and 1), 0 without keypoints.
  static func eyeRoll(_ c: AnchorDecoding.Candidate) -> Float {
    c.keypoints.count >= 2 ? atan2f(c.keypoints[1].y - c.keypoints[0].y, c.keypoints[1].x - c.keypoints[0].x) : 0
  }

  /// The rolled landmark box of a detector candidate in frame pixels: roll from the eye
  /// keypoints (0 without keypoints), side s = the box's longer side, the constants applied
  /// in the face's own frame (x along the eye line).
  public func alignedBox(for c: AnchorDecoding.Candidate) -> AlignedBox {
    let roll = Self.eyeRoll(c)
    let s = max(c.box.width, c.box.height)
    let (cos, sin) = (cosf(roll), sinf(roll))
    let (dx, dy) = (centerX * s, centerY * s)
    let cx = c.box.x + c.box.width / 2 + cos * dx - sin * dy
    let cy = c.box.y + c.box.height / 2 + sin * dx + cos * dy
    let (w, h) = (widthScale * s, heightScale * s)
    return AlignedBox(box: FaceBox(x: cx - w / 2, y: cy - h / 2, width: w, height: h), roll: roll)
  }

  /// Least squares over (candidate, truth) pairs, the truth being the rolled box of the
  /// ground-truth landmarks (AlignedBox(landmarks:)); offsets measured in the face's frame.
  public static func fit(candidates pairs: [(AnchorDecoding.Candidate, AlignedBox)]) -> DetectorBoxMapping {
    var ss = 0.0, sw = 0.0, sh = 0.0, sx = 0.0, sy = 0.0
    for (c, t) in pairs {
      let s = Double(max(c.box.width, c.box.height))
      let roll = Double(eyeRoll(c))
      let ex = Double(t.box.x + t.box.width / 2) - Double(c.box.x + c.box.width / 2)
      let ey = Double(t.box.y + t.box.height / 2) - Double(c.box.y + c.box.height / 2)
      let (u, v) = (cos(roll) * ex + sin(roll) * ey, -sin(roll) * ex + cos(roll) * ey)   // into the face frame
      ss += s * s; sw += s * Double(t.box.width); sh += s * Double(t.box.height); sx += s * u; sy += s * v
    }
    guard ss > 0 else { return .identity }
    return DetectorBoxMapping(widthScale: Float(sw / ss), heightScale: Float(sh / ss), centerX: Float(sx / ss), centerY: Float(sy / ss))
  }
}

extension CNNFaceDetector {
  /// How sure the detector is that a face fills the landmark model's crop `crop`, and where
  /// it puts the eyes: one pass over the crop's bounding square (the square the landmark
  /// model sees, grown 1.5x so a shifted face is still whole). nil when it finds no face there.
  public func check(_ image: PixelImage, crop: AlignedBox, cropScale: Float) -> AnchorDecoding.Candidate? {
    let side = 1.5 * cropScale * max(crop.box.width, crop.box.height)
    let (cx, cy) = (crop.box.x + crop.box.width / 2, crop.box.y + crop.box.height / 2)
    let region = FaceBox(x: cx - side / 2, y: cy - side / 2, width: side, height: side)
    return pass(image, region: region, minScore: 0.05).max { $0.score < $1.score }
  }
}

/// A confidence that the landmarks are right (LANDMARKS `score`): the probability that their
/// NME is below 8 %, from a logistic model over what one detector pass over the crop says
/// (`CNNFaceDetector.check`): is there a face, do its keypoints (eyes, nose tip, mouth) fall
/// where the landmarks put them, and how far the crop the model saw, and the landmarks' own
/// box, are from the crop the detector would have given. The landmark model fails when its
/// crop is off (shifted, scaled, rolled, or on no face); the detector, run on a region 1.5x
/// the crop, sees where the face really is. Coefficients fitted by `lotr vision score --fit`
/// on the training faces outside the validation split; measured by `lotr vision score`
/// (docs/VISION.md).
public enum LandmarkConfidence {
  /// What the logistic model reads, in order (`Features.values`).
  public static let featureNames = [
    "detector logit", "keypoint distance / IOD", "crop dx^2", "crop dy^2", "crop dy", "crop log scale",
    "crop log scale^2", "crop sin^2 droll", "landmark box dx^2", "landmark box dy^2", "landmark box log scale^2", "no face",
  ]

  /// The inputs of the model for one result. Offsets and scales are measured against the
  /// detector's mapped crop (DetectorBoxMapping), in its own rolled frame, in units of its side.
  public struct Features: Sendable, Equatable {
    public var values: [Float]

    public init(landmarks p: [Point], crop: AlignedBox, check: AnchorDecoding.Candidate?, mapping: DetectorBoxMapping) {
      guard let c = check, c.keypoints.count >= 4, let box = AlignedBox(landmarks: p) else {
        values = Array(repeating: 0, count: featureNames.count - 1) + [1]
        return
      }
      let reference = mapping.alignedBox(for: c)
      let side = max(reference.box.width, reference.box.height, 1e-3)
      let (cr, sr) = (cosf(reference.roll), sinf(reference.roll))
      /// Centre offset (in the reference's frame), log scale, roll difference of `b`.
      func relative(_ b: AlignedBox) -> (dx: Float, dy: Float, logScale: Float, roll: Float) {
        let ex = b.box.x + b.box.width / 2 - reference.box.x - reference.box.width / 2
        let ey = b.box.y + b.box.height / 2 - reference.box.y - reference.box.height / 2
        return ((cr * ex + sr * ey) / side, (-sr * ex + cr * ey) / side,
                logf(max(b.box.width, b.box.height, 1e-3) / side), b.roll - reference.roll)
      }
      let used = relative(crop), own = relative(box)
      let score = min(max(c.score, 1e-4), 1 - 1e-4)
      let kp = p.count == 68 ? min(keypointDistance(landmarks: p, keypoints: c.keypoints), 2) : 0
      values = [
        logf(score / (1 - score)), kp, used.dx * used.dx, used.dy * used.dy, used.dy, used.logScale,
        used.logScale * used.logScale, sinf(used.roll) * sinf(used.roll),
        own.dx * own.dx, own.dy * own.dy, own.logScale * own.logScale, 0,
      ]
    }
  }

  /// sigmoid(bias + weights . features).
  public struct Model: Sendable, Equatable {
    public var weights: [Float]
    public var bias: Float
    public init(weights: [Float], bias: Float) {
      precondition(weights.count == featureNames.count, "one weight per feature")
      self.weights = weights; self.bias = bias
    }

    public func probability(_ f: Features) -> Float {
      let z = zip(weights, f.values).reduce(bias) { $0 + $1.0 * $1.1 }
      let s = 1 / (1 + expf(-z))
      return s.isFinite ? s : 0
    }
  }

  /// Fitted by `lotr vision score --fit --data ../shared/data/300w-train` (lotr-m-68,
  /// blazeface-short) on 23,569 perturbed crops of the 1,813 faces outside the validation split.
  public static let fitted = Model(
    weights: [0.3539, -4.1516, -28.8602, -26.9965, 1.9260, 3.0499, -16.1926, -2.9862, 16.7915, 18.5011, 7.2210, -9.4127],
    bias: 3.1390)

  public static func score(landmarks p: [Point], crop: AlignedBox, check: AnchorDecoding.Candidate?,
                           mapping: DetectorBoxMapping = .blazeFaceShortRange, model: Model = fitted) -> Float {
    model.probability(Features(landmarks: p, crop: crop, check: check, mapping: mapping))
  }

  /// Mean distance of BlazeFace's keypoints 0-3 from the same places in iBUG 68 points (eye
  /// centres, nose tip 30, mouth centre), over the distance between the eye centres.
  public static func keypointDistance(landmarks p: [Point], keypoints: [Point]) -> Float {
    func centre(_ r: ClosedRange<Int>) -> Point {
      Point(x: r.map { p[$0].x }.reduce(0, +) / Float(r.count), y: r.map { p[$0].y }.reduce(0, +) / Float(r.count))
    }
    let places = [centre(36...41), centre(42...47), p[30], centre(48...67)]
    let iod = max(hypotf(places[0].x - places[1].x, places[0].y - places[1].y), 1e-3)
    return zip(places, keypoints).reduce(Float(0)) { $0 + hypotf($1.0.x - $1.1.x, $1.0.y - $1.1.y) } / 4 / iod
  }

  /// Logistic regression by Newton's method on standardised features, with an L2 penalty
  /// `l2` on the standardised weights (not the bias); returns the model in raw units.
  public static func fit(_ samples: [(Features, Bool)], l2: Double = 1e-4, iterations: Int = 25) -> Model {
    let d = featureNames.count, n = Double(max(samples.count, 1))
    var mean = [Double](repeating: 0, count: d), sd = [Double](repeating: 0, count: d)
    for (f, _) in samples { for j in 0..<d { mean[j] += Double(f.values[j]) / n } }
    for (f, _) in samples { for j in 0..<d { sd[j] += (Double(f.values[j]) - mean[j]) * (Double(f.values[j]) - mean[j]) / n } }
    sd = sd.map { $0 > 1e-12 ? $0.squareRoot() : 1 }
    let x = samples.map { s in (0..<d).map { (Double(s.0.values[$0]) - mean[$0]) / sd[$0] } + [1] }
    let y = samples.map { $0.1 ? 1.0 : 0.0 }
    var w = [Double](repeating: 0, count: d + 1)   // last: bias
    for _ in 0..<iterations {
      var g = [Double](repeating: 0, count: d + 1)
      var h = [[Double]](repeating: [Double](repeating: 0, count: d + 1), count: d + 1)
      for (xi, yi) in zip(x, y) {
        let z = zip(w, xi).reduce(0) { $0 + $1.0 * $1.1 }
        let p = 1 / (1 + exp(-z)), v = p * (1 - p)
        for a in 0...d {
          g[a] += (p - yi) * xi[a] / n
          for b in 0...a { h[a][b] += v * xi[a] * xi[b] / n }
        }
      }
      for a in 0...d { for b in 0..<a { h[b][a] = h[a][b] } }
      for a in 0..<d { g[a] += 2 * l2 * w[a]; h[a][a] += 2 * l2 }
      guard let step = solve(h, g) else { break }
      for a in 0...d { w[a] -= step[a] }
      if step.map(abs).max() ?? 0 < 1e-9 { break }
    }
    let weights = (0..<d).map { Float(w[$0] / sd[$0]) }
    let bias = Float(w[d] - (0..<d).reduce(0) { $0 + w[$1] * mean[$1] / sd[$1] })
    return Model(weights: weights, bias: bias)
  }

  /// Solves a x = b by Gaussian elimination with partial pivoting; nil if singular.
  static func solve(_ a: [[Double]], _ b: [Double]) -> [Double]? {
    var m = a, v = b
    let n = v.count
    for col in 0..<n {
      guard let pivot = (col..<n).max(by: { abs(m[$0][col]) < abs(m[$1][col]) }), abs(m[pivot][col]) > 1e-15 else { return nil }
      m.swapAt(col, pivot); v.swapAt(col, pivot)
      for r in (col + 1)..<n where m[r][col] != 0 {
        let k = m[r][col] / m[col][col]
        for c in col..<n { m[r][c] -= k * m[col][c] }
        v[r] -= k * v[col]
      }
    }
    var out = [Double](repeating: 0, count: n)
    for r in stride(from: n - 1, through: 0, by: -1) {
      out[r] = (v[r] - ((r + 1)..<n).reduce(0) { $0 + m[r][$1] * out[$1] }) / m[r][r]
    }
    return out
  }
}
