#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import LOTR

/// Turns the ONNX model's metadata_props (written by training/lotr_train/export.py,
/// `build_metadata`), completed or overridden by lotr-quantize's command line
/// (`MetadataOverrides`), into the .lotr META section.
///
/// | ONNX key | option | .lotr field | without either |
/// | --- | --- | --- | --- |
/// | model_name | --name | name | the ONNX file name without .onnx |
/// | landmark_count | --landmarks | landmark_count (must equal the output's N) | the output's N |
/// | landmark_scheme | --scheme | landmark_scheme | ibug68 / wflw98 / jd106 from the count, else an error |
/// | mirror_permutation (JSON list) | --mirror-permutation | mirror_permutation | an error |
/// | crop_rule (JSON: k, side, optional rule and offset_y) | --crop-scale, --crop-offset-y | crop: rule, scale = k, offset_y | an error |
/// | input_size (W or WxH) | --input-size | input width/height (must equal the graph input) | the graph input's |
/// | mean, std (JSON lists of 3) | --mean, --std, --normalization | normalization | an error |
/// | coordinate_convention ("corner: ..." or "center: ...") | --pixel-convention | output.pixel_convention | corner |
/// | outer_eye_indices (JSON [i, j]; [] for none) | --outer-eyes | outer_eyes, unless the count's known ones | absent (68/98/106 points have known ones) |
/// | training_data, licence | --training-data, --licence | training_data, licence | "not stated" |
public enum MetadataMapping {
  /// The keys a landmark model cannot do without, each with the option that stands for it.
  public static let requiredKeys: [(key: String, option: String)] = [
    ("mirror_permutation", "--mirror-permutation FILE"), ("crop_rule", "--crop-scale K"),
    ("mean", "--normalization NAME (or --mean R,G,B --std R,G,B)"), ("std", "--normalization NAME (or --mean R,G,B --std R,G,B)"),
  ]

  /// Schemes known by their point count, used when the model does not say.
  static let schemesByCount = [68: "ibug68", 98: "wflw98", 106: "jd106"]

  struct CropRule: Codable {
    var rule: String?
    var side: String?
    var centre: String?
    var k: Float?
    var scale: Float?
    var offset_y: Float?
  }

  static func parseJSON<T: Decodable>(_ type: T.Type, _ key: String, _ text: String) throws -> T {
    do {
      return try JSONDecoder().decode(T.self, from: Data(text.utf8))
    } catch {
      throw ImportError("ONNX metadata '\(key)' is not valid JSON of the expected form: \(text.prefix(80))")
    }
  }

  /// A face detector's metadata_props (training/lotr_train/blazeface.py writes them):
  /// model_name, task = face-detection, input_size, mean, std, keypoints, mirror_permutation
  /// (of the keypoints), anchors (JSON: strides, per_cell, offset), score_clip, training_data,
  /// licence. The crop of a detector is the whole frame, letterboxed into the square input.
  public static let detectorKeys = [
    "model_name", "keypoints", "mirror_permutation", "anchors", "input_size", "mean", "std", "training_data", "licence",
  ]

  struct AnchorSpec: Decodable {
    var strides: [Int]
    var per_cell: [Int]
    var offset: Float?
  }

  public static func detectorMetadata(from props: [String: String], inputHeight: Int, inputWidth: Int,
                                      source: [String: String]) throws -> ModelMetadata {
    func value(_ key: String) throws -> String {
      guard let v = props[key] else {
        throw ImportError("ONNX metadata_props of a face detector has no '\(key)' (needed: \(detectorKeys.joined(separator: ", ")); training/lotr_train/blazeface.py writes them)")
      }
      return v
    }
    guard let keypoints = Int(try value("keypoints").trimmingCharacters(in: .whitespaces)), (0...64).contains(keypoints) else {
      throw ImportError("ONNX metadata 'keypoints' is not an integer in 0...64: \(props["keypoints"]!)")
    }
    let (w, h) = try inputSize(try value("input_size"))
    guard w == inputWidth, h == inputHeight else {
      throw ImportError("ONNX metadata 'input_size' says \(w)x\(h), the graph input is \(inputWidth)x\(inputHeight)")
    }
    let spec = try parseJSON(AnchorSpec.self, "anchors", try value("anchors"))
    let clip = try props["score_clip"].map { text -> Float in
      guard let v = Float(text.trimmingCharacters(in: .whitespaces)) else { throw ImportError("ONNX metadata 'score_clip' is not a number: \(text)") }
      return v
    } ?? 100
    let meta = ModelMetadata(
      name: try value("model_name"), task: .faceDetection,
      anchors: .init(strides: spec.strides, perCell: spec.per_cell, offset: spec.offset ?? 0.5, scoreClip: clip),
      landmarkCount: keypoints, landmarkScheme: props["keypoint_scheme"] ?? "blazeface\(keypoints)",
      mirrorPermutation: try parseJSON([Int].self, "mirror_permutation", try value("mirror_permutation")),
      input: .init(width: w, height: h),
      normalization: .init(mean: try parseJSON([Float].self, "mean", try value("mean")), std: try parseJSON([Float].self, "std", try value("std"))),
      crop: .init(rule: "frame-letterbox", scale: 1), output: .init(coordinates: "anchor-offsets-input-pixels", pixelConvention: "corner"),
      trainingData: try value("training_data"), licence: try value("licence"), source: source)
    if let problem = meta.problem() { throw ImportError("ONNX metadata: \(problem)") }
    return meta
  }

  static func inputSize(_ text: String) throws -> (Int, Int) {
    let size = text.lowercased().split(separator: "x").map { Int($0.trimmingCharacters(in: .whitespaces)) }
    guard size.count == 1 || size.count == 2, let w = size[0], let h = size.count == 2 ? size[1] : size[0] else {
      throw ImportError("ONNX metadata 'input_size' is not W or WxH: \(text)")
    }
    return (w, h)
  }

  public static func metadata(from onnxProps: [String: String], overrides: MetadataOverrides = .init(), inputHeight: Int, inputWidth: Int,
                              landmarks: Int, source: [String: String]) throws -> ModelMetadata {
    let props = onnxProps.merging(try overrides.props(), uniquingKeysWith: { $1 })
    let missing = requiredKeys.filter { props[$0.key] == nil }
    if !missing.isEmpty {
      throw ImportError("the model's metadata is incomplete: the ONNX metadata_props have no \(missing.map { "'\($0.key)'" }.joined(separator: ", ")); "
        + "give \(missing.map(\.option).reduce(into: [String]()) { if !$0.contains($1) { $0.append($1) } }.joined(separator: ", ")) on the command line (docs/QUANTIZATION.md, \"Your own model\")")
    }
    func value(_ key: String) -> String { props[key]! }
    let count: Int
    if let text = props["landmark_count"] {
      guard let c = Int(text.trimmingCharacters(in: .whitespaces)) else {
        throw ImportError("metadata 'landmark_count' is not an integer: \(text)")
      }
      count = c
    } else {
      count = landmarks
    }
    guard count == landmarks else {
      throw ImportError("metadata 'landmark_count' (--landmarks) is \(count), the graph outputs \(landmarks) points")
    }
    let scheme: String
    if let s = props["landmark_scheme"] { scheme = s } else if let s = schemesByCount[count] { scheme = s } else {
      throw ImportError("no landmark scheme: the metadata has no 'landmark_scheme' and \(count) points match no known scheme (68: ibug68, 98: wflw98, 106: jd106); give --scheme NAME")
    }
    let perm = try parseJSON([Int].self, "mirror_permutation", value("mirror_permutation"))
    let (w, h) = try props["input_size"].map(inputSize) ?? (inputWidth, inputHeight)
    guard w == inputWidth, h == inputHeight else {
      throw ImportError("metadata 'input_size' (--input-size) says \(w)x\(h), the graph input is \(inputWidth)x\(inputHeight)")
    }
    let mean = try parseJSON([Float].self, "mean", value("mean"))
    let std = try parseJSON([Float].self, "std", value("std"))
    let crop = try parseJSON(CropRule.self, "crop_rule", value("crop_rule"))
    guard let k = crop.k ?? crop.scale else { throw ImportError("metadata 'crop_rule' has no 'k' (crop side / box side)") }
    let rule: String
    if let r = crop.rule { rule = r } else if crop.side == "k * max(box_w, box_h)" { rule = "landmark-box-square" } else {
      throw ImportError("metadata 'crop_rule' has no 'rule' and its side '\(crop.side ?? "")' is not the known k * max(box_w, box_h)")
    }
    let convention = (props["coordinate_convention"] ?? "corner").trimmingCharacters(in: .whitespaces)
    let pixel: String
    if convention.hasPrefix("corner") { pixel = "corner" } else if convention.hasPrefix("center") || convention.hasPrefix("centre") { pixel = "center" } else {
      throw ImportError("metadata 'coordinate_convention' starts with neither 'corner' nor 'center': \(convention.prefix(60))")
    }
    // Stored only where the count does not already say them (training/ writes its 68 points' too).
    let known = LandmarkError.outerEyeCorners(count: count).map { [$0.0, $0.1] }
    let eyes = try props["outer_eye_indices"].map { try parseJSON([Int].self, "outer_eye_indices", $0) }
      .flatMap { $0.isEmpty || $0 == known ? nil : $0 }
    let meta = ModelMetadata(
      name: props["model_name"] ?? MetadataOverrides.stem(source["file"] ?? "model"), landmarkCount: count, landmarkScheme: scheme,
      mirrorPermutation: perm, outerEyes: eyes, input: .init(width: w, height: h), normalization: .init(mean: mean, std: std),
      crop: .init(rule: rule, scale: k, offsetY: crop.offset_y ?? 0), output: .init(pixelConvention: pixel),
      trainingData: props["training_data"] ?? "not stated", licence: props["licence"] ?? "not stated", source: source)
    if let problem = meta.problem() { throw ImportError("metadata: \(problem)") }
    return meta
  }
}

/// Metadata from lotr-quantize's command line for a model exported without lotr-edge's
/// metadata_props (or to correct them): each value set here replaces the ONNX key it stands
/// for (the table on `MetadataMapping`), so both sources go through one parser.
public struct MetadataOverrides: Sendable, Equatable {
  public var name: String?
  public var landmarks: Int?
  public var scheme: String?
  public var mirrorPermutation: [Int]?
  public var inputWidth: Int?, inputHeight: Int?
  public var mean: [Float]?, std: [Float]?
  public var cropScale: Float?
  public var cropOffsetY: Float?
  public var pixelConvention: String?
  public var outerEyes: [Int]?
  public var trainingData: String?, licence: String?

  public init() {}

  /// Input normalisations by name: input = (pixel / 255 - mean) / std.
  public enum Normalization: String, CaseIterable, Sendable {
    /// torchvision's ImageNet statistics.
    case imagenet
    /// pixel / 255: [0, 1].
    case unit
    /// pixel / 127.5 - 1: [-1, 1].
    case minusOneOne = "minus-one-one"

    public var mean: [Float] {
      switch self {
      case .imagenet: return [0.485, 0.456, 0.406]
      case .unit: return [0, 0, 0]
      case .minusOneOne: return [0.5, 0.5, 0.5]
      }
    }

    public var std: [Float] {
      switch self {
      case .imagenet: return [0.229, 0.224, 0.225]
      case .unit: return [1, 1, 1]
      case .minusOneOne: return [0.5, 0.5, 0.5]
      }
    }
  }

  /// The file name without directories and a trailing .onnx.
  static func stem(_ path: String) -> String {
    let file = path.split(separator: "/").last.map(String.init) ?? path
    return file.hasSuffix(".onnx") ? String(file.dropLast(5)) : file
  }

  /// These values as ONNX metadata_props.
  func props() throws -> [String: String] {
    func json<T: Encodable>(_ v: T) throws -> String { String(decoding: try JSONEncoder().encode(v), as: UTF8.self) }
    var p: [String: String] = [:]
    p["model_name"] = name
    p["landmark_count"] = landmarks.map(String.init)
    p["landmark_scheme"] = scheme
    p["mirror_permutation"] = try mirrorPermutation.map(json)
    if let w = inputWidth { p["input_size"] = "\(w)x\(inputHeight ?? w)" }
    p["mean"] = try mean.map(json)
    p["std"] = try std.map(json)
    if let k = cropScale {
      p["crop_rule"] = try json(MetadataMapping.CropRule(rule: "landmark-box-square", k: k, offset_y: cropOffsetY))
    } else if cropOffsetY != nil {
      throw ImportError("--crop-offset-y needs --crop-scale")
    }
    p["coordinate_convention"] = pixelConvention
    p["outer_eye_indices"] = try outerEyes.map(json)
    p["training_data"] = trainingData
    p["licence"] = licence
    return p
  }
}
