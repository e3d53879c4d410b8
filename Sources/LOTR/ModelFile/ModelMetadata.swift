import FoundationEssentials

/// The META section: what the points mean and how to make the model's input (docs/FORMAT.md).
public struct ModelMetadata: Codable, Sendable, Equatable {
  public struct Input: Codable, Sendable, Equatable {
    public var width: Int
    public var height: Int
    public var channels: Int
    public var color: String
    public init(width: Int, height: Int, channels: Int = 3, color: String = "rgb") {
      self.width = width; self.height = height; self.channels = channels; self.color = color
    }
  }

  public struct Normalization: Codable, Sendable, Equatable {
    public var mean: [Float]
    public var std: [Float]
    public init(mean: [Float], std: [Float]) { self.mean = mean; self.std = std }
  }

  /// How a face box becomes the crop: a square of side `scale` x box side, centred on the
  /// box centre moved down by `offsetY` box sides, warped to the input size.
  public struct Crop: Codable, Sendable, Equatable {
    public var rule: String
    public var scale: Float
    public var offsetY: Float
    enum CodingKeys: String, CodingKey { case rule, scale, offsetY = "offset_y" }
    public init(rule: String, scale: Float, offsetY: Float = 0) { self.rule = rule; self.scale = scale; self.offsetY = offsetY }
  }

  public struct Output: Codable, Sendable, Equatable {
    public var coordinates: String
    public var pixelConvention: String
    enum CodingKeys: String, CodingKey { case coordinates, pixelConvention = "pixel_convention" }
    public init(coordinates: String = "normalized-crop", pixelConvention: String) {
      self.coordinates = coordinates; self.pixelConvention = pixelConvention
    }
  }

  /// A face detector's anchor grid (SSD style, as MediaPipe's BlazeFace): per stride s a
  /// grid of ceil(H/s) x ceil(W/s) cells, row-major, `perCell` anchors in each, centred at
  /// ((x + offset) / cells_x, (y + offset) / cells_y) of the input. The output has one row
  /// per anchor in that order: dx, dy, w, h, then N keypoints (x, y), in input pixels
  /// relative to the anchor centre, then the score logit (clipped to +-scoreClip).
  public struct Anchors: Codable, Sendable, Equatable {
    public var strides: [Int]
    public var perCell: [Int]
    public var offset: Float
    public var scoreClip: Float
    enum CodingKeys: String, CodingKey { case strides, perCell = "per_cell", offset, scoreClip = "score_clip" }
    public init(strides: [Int], perCell: [Int], offset: Float = 0.5, scoreClip: Float = 100) {
      self.strides = strides; self.perCell = perCell; self.offset = offset; self.scoreClip = scoreClip
    }

    /// Cells across and down for stride `s` of an input of `width` x `height`.
    public func cells(stride s: Int, width: Int, height: Int) -> (x: Int, y: Int) {
      ((width + s - 1) / s, (height + s - 1) / s)
    }

    public func count(width: Int, height: Int) -> Int {
      zip(strides, perCell).reduce(0) { total, sa in
        let c = cells(stride: sa.0, width: width, height: height)
        return total + c.x * c.y * sa.1
      }
    }
  }

  /// What the model computes: landmarks of a face crop, or faces in a whole frame.
  public enum Task: String, Sendable {
    case landmarks
    case faceDetection = "face-detection"
  }

  public var name: String
  /// Absent (files before 1.3) means landmarks.
  public var task: String?
  /// Face detectors only.
  public var anchors: Anchors?
  /// Landmarks, or for a face detector its keypoints per face.
  public var landmarkCount: Int
  public var landmarkScheme: String
  public var mirrorPermutation: [Int]
  /// (1.4) The outer eye corners [i, j] (the inter-ocular distance, the eye line's roll);
  /// absent: those of the scheme known by the count (`LandmarkError.outerEyeCorners`).
  public var outerEyes: [Int]?
  public var input: Input
  public var normalization: Normalization
  public var crop: Crop
  public var output: Output
  public var trainingData: String
  public var licence: String
  public var source: [String: String]?
  public var quantization: [String: String]?

  enum CodingKeys: String, CodingKey {
    case name, task, anchors, landmarkCount = "landmark_count", landmarkScheme = "landmark_scheme",
      mirrorPermutation = "mirror_permutation", outerEyes = "outer_eyes", input, normalization, crop, output,
      trainingData = "training_data", licence, source, quantization
  }

  public init(name: String, task: Task? = nil, anchors: Anchors? = nil, landmarkCount: Int, landmarkScheme: String,
              mirrorPermutation: [Int], outerEyes: [Int]? = nil, input: Input, normalization: Normalization, crop: Crop, output: Output,
              trainingData: String, licence: String, source: [String: String]? = nil, quantization: [String: String]? = nil) {
    self.name = name; self.task = task?.rawValue; self.anchors = anchors; self.landmarkCount = landmarkCount; self.landmarkScheme = landmarkScheme
    self.mirrorPermutation = mirrorPermutation; self.outerEyes = outerEyes; self.input = input; self.normalization = normalization
    self.crop = crop; self.output = output; self.trainingData = trainingData; self.licence = licence
    self.source = source; self.quantization = quantization
  }

  /// The outer eye corners: META's, else the scheme's (68, 98, 106 points).
  public var outerEyeCorners: (Int, Int)? {
    if let e = outerEyes { return (e[0], e[1]) }
    return LandmarkError.outerEyeCorners(count: landmarkCount)
  }

  public var kind: Task { task.flatMap(Task.init(rawValue:)) ?? .landmarks }

  /// The graph output's shape: [1, N, 2] (landmarks), [1, anchors, 4 + 2N + 1] (face detection).
  public var outputShape: [Int] {
    switch kind {
    case .landmarks: return [1, landmarkCount, 2]
    case .faceDetection:
      return [1, anchors?.count(width: input.width, height: input.height) ?? 0, 4 + 2 * landmarkCount + 1]
    }
  }

  /// The rules a reader enforces beyond JSON shape; returns the first problem found.
  public func problem() -> String? {
    if name.isEmpty { return "name is empty" }
    if let task, Task(rawValue: task) == nil { return "task '\(task)' is not landmarks or face-detection" }
    if kind == .faceDetection {
      guard let a = anchors else { return "a face-detection model needs 'anchors'" }
      if a.strides.isEmpty || a.strides.count != a.perCell.count { return "anchors: strides and per_cell must be non-empty and of equal length" }
      if !a.strides.allSatisfy({ (1...4096).contains($0) }) || !a.perCell.allSatisfy({ (1...64).contains($0) }) {
        return "anchors: strides must be in 1...4096 and per_cell in 1...64"
      }
      if !(a.offset.isFinite && a.offset >= 0 && a.offset <= 1) { return "anchors: offset \(a.offset) is not in [0, 1]" }
      if !(a.scoreClip.isFinite && a.scoreClip > 0) { return "anchors: score_clip \(a.scoreClip) is not positive" }
    } else if anchors != nil {
      return "'anchors' belongs to a face-detection model, this one's task is landmarks"
    }
    if landmarkCount < 1 || landmarkCount > 4096 { return "landmark_count \(landmarkCount) is not in 1...4096" }
    if mirrorPermutation.count != landmarkCount {
      return "mirror_permutation has \(mirrorPermutation.count) entries, landmark_count is \(landmarkCount)"
    }
    if Set(mirrorPermutation) != Set(0..<landmarkCount) { return "mirror_permutation is not a permutation of 0..<\(landmarkCount)" }
    if let e = outerEyes, e.count != 2 || e[0] == e[1] || !e.allSatisfy({ (0..<landmarkCount).contains($0) }) {
      return "outer_eyes \(e) is not two different points of 0..<\(landmarkCount)"
    }
    if !(1...4096).contains(input.width) || !(1...4096).contains(input.height) {
      return "input size \(input.width)x\(input.height) is not in 1...4096"
    }
    if input.channels != 3 { return "input channels \(input.channels) (only 3 supported)" }
    if normalization.mean.count != 3 || normalization.std.count != 3 { return "normalization needs 3 means and 3 stds" }
    if !(normalization.mean + normalization.std).allSatisfy({ $0.isFinite }) || !normalization.std.allSatisfy({ $0 > 0 }) {
      return "normalization has a non-finite mean or a std that is not positive"
    }
    if !(crop.scale.isFinite && crop.scale > 0 && crop.scale < 16) { return "crop scale \(crop.scale) is not in (0, 16)" }
    if !crop.offsetY.isFinite || abs(crop.offsetY) > 4 { return "crop offset_y \(crop.offsetY) is not in [-4, 4]" }
    if !["corner", "center"].contains(output.pixelConvention) {
      return "output pixel_convention '\(output.pixelConvention)' is not corner or center"
    }
    return nil
  }

  public func encoded() throws -> [UInt8] {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
    return Array(try encoder.encode(self))
  }

  public static func decode(_ bytes: UnsafeRawBufferPointer) throws -> ModelMetadata {
    try JSONDecoder().decode(ModelMetadata.self, from: Data(bytes))
  }
}
