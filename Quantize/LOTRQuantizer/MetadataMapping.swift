#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import LOTR

/// Turns the ONNX model's metadata_props (written by training/lotr_train/export.py,
/// `build_metadata`) into the .lotr META section.
///
/// | ONNX key | .lotr field |
/// | --- | --- |
/// | model_name | name |
/// | landmark_count | landmark_count (must equal the output's N) |
/// | landmark_scheme (optional) | landmark_scheme; else ibug68 / wflw98 / jd106 from the count |
/// | mirror_permutation (JSON list) | mirror_permutation |
/// | crop_rule (JSON: k, side, optional rule and offset_y) | crop: rule, scale = k, offset_y |
/// | input_size (W or WxH) | input width/height (must equal the graph input) |
/// | mean, std (JSON lists of 3) | normalization |
/// | coordinate_convention ("corner: ..." or "center: ...") | output.pixel_convention |
/// | training_data, licence | training_data, licence |
public enum MetadataMapping {
  public static let requiredKeys = [
    "model_name", "landmark_count", "mirror_permutation", "crop_rule", "input_size", "mean", "std",
    "coordinate_convention", "training_data", "licence",
  ]

  /// Schemes known by their point count, used when the model does not say.
  static let schemesByCount = [68: "ibug68", 98: "wflw98", 106: "jd106"]

  struct CropRule: Decodable {
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

  public static func metadata(from props: [String: String], inputHeight: Int, inputWidth: Int, landmarks: Int,
                              source: [String: String]) throws -> ModelMetadata {
    func value(_ key: String) throws -> String {
      guard let v = props[key] else {
        throw ImportError("ONNX metadata_props has no '\(key)' (needed: \(requiredKeys.joined(separator: ", ")); training/lotr_train/export.py writes them)")
      }
      return v
    }
    guard let count = Int(try value("landmark_count").trimmingCharacters(in: .whitespaces)) else {
      throw ImportError("ONNX metadata 'landmark_count' is not an integer: \(props["landmark_count"]!)")
    }
    guard count == landmarks else {
      throw ImportError("ONNX metadata 'landmark_count' is \(count), the graph outputs \(landmarks) points")
    }
    let scheme: String
    if let s = props["landmark_scheme"] { scheme = s } else if let s = schemesByCount[count] { scheme = s } else {
      throw ImportError("ONNX metadata_props has no 'landmark_scheme' and \(count) points match no known scheme (68: ibug68, 98: wflw98, 106: jd106)")
    }
    let perm = try parseJSON([Int].self, "mirror_permutation", try value("mirror_permutation"))
    let (w, h) = try inputSize(try value("input_size"))
    guard w == inputWidth, h == inputHeight else {
      throw ImportError("ONNX metadata 'input_size' says \(w)x\(h), the graph input is \(inputWidth)x\(inputHeight)")
    }
    let mean = try parseJSON([Float].self, "mean", try value("mean"))
    let std = try parseJSON([Float].self, "std", try value("std"))
    let crop = try parseJSON(CropRule.self, "crop_rule", try value("crop_rule"))
    guard let k = crop.k ?? crop.scale else { throw ImportError("ONNX metadata 'crop_rule' has no 'k' (crop side / box side)") }
    let rule: String
    if let r = crop.rule { rule = r } else if crop.side == "k * max(box_w, box_h)" { rule = "landmark-box-square" } else {
      throw ImportError("ONNX metadata 'crop_rule' has no 'rule' and its side '\(crop.side ?? "")' is not the known k * max(box_w, box_h)")
    }
    let convention = try value("coordinate_convention").trimmingCharacters(in: .whitespaces)
    let pixel: String
    if convention.hasPrefix("corner") { pixel = "corner" } else if convention.hasPrefix("center") || convention.hasPrefix("centre") { pixel = "center" } else {
      throw ImportError("ONNX metadata 'coordinate_convention' starts with neither 'corner' nor 'center': \(convention.prefix(60))")
    }
    let meta = ModelMetadata(
      name: try value("model_name"), landmarkCount: count, landmarkScheme: scheme, mirrorPermutation: perm,
      input: .init(width: w, height: h), normalization: .init(mean: mean, std: std),
      crop: .init(rule: rule, scale: k, offsetY: crop.offset_y ?? 0), output: .init(pixelConvention: pixel),
      trainingData: try value("training_data"), licence: try value("licence"), source: source)
    if let problem = meta.problem() { throw ImportError("ONNX metadata: \(problem)") }
    return meta
  }
}
