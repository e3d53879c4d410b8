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

  public var name: String
  public var landmarkCount: Int
  public var landmarkScheme: String
  public var mirrorPermutation: [Int]
  public var input: Input
  public var normalization: Normalization
  public var crop: Crop
  public var output: Output
  public var trainingData: String
  public var licence: String
  public var source: [String: String]?
  public var quantization: [String: String]?

  enum CodingKeys: String, CodingKey {
    case name, landmarkCount = "landmark_count", landmarkScheme = "landmark_scheme",
      mirrorPermutation = "mirror_permutation", input, normalization, crop, output,
      trainingData = "training_data", licence, source, quantization
  }

  public init(name: String, landmarkCount: Int, landmarkScheme: String, mirrorPermutation: [Int], input: Input,
              normalization: Normalization, crop: Crop, output: Output, trainingData: String, licence: String,
              source: [String: String]? = nil, quantization: [String: String]? = nil) {
    self.name = name; self.landmarkCount = landmarkCount; self.landmarkScheme = landmarkScheme
    self.mirrorPermutation = mirrorPermutation; self.input = input; self.normalization = normalization
    self.crop = crop; self.output = output; self.trainingData = trainingData; self.licence = licence
    self.source = source; self.quantization = quantization
  }

  /// The rules a reader enforces beyond JSON shape; returns the first problem found.
  public func problem() -> String? {
    if name.isEmpty { return "name is empty" }
    if landmarkCount < 1 || landmarkCount > 4096 { return "landmark_count \(landmarkCount) is not in 1...4096" }
    if mirrorPermutation.count != landmarkCount {
      return "mirror_permutation has \(mirrorPermutation.count) entries, landmark_count is \(landmarkCount)"
    }
    if Set(mirrorPermutation) != Set(0..<landmarkCount) { return "mirror_permutation is not a permutation of 0..<\(landmarkCount)" }
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
