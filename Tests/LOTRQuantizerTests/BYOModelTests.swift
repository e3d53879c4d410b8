import Foundation
import LOTR
import LOTREval
import XCTest

@testable import LOTRQuantizer

/// Bring your own model: the landmark models of Tests/Fixtures/byo (torch
/// nn.MultiheadAttention, nn.Transformer*Layer, timm-style and hand-written attention;
/// ResNet-18/34/50; 68, 98 and 106 points; the legacy exporter at opsets 13 to 18 and the
/// dynamo exporter), exported without lotr-edge's metadata_props and imported with the
/// metadata lotr-quantize takes from its command line. make_byo_fixtures.py writes them
/// with ONNX Runtime's output for `testInput`.
final class BYOModelTests: XCTestCase {
  static let dir = fixtures.appendingPathComponent("byo")

  struct Fixture: Decodable {
    var family: String
    var backbone: String
    var landmarks: Int
    var input_size: Int
    var exporter: String
    var opset: Int
  }

  static let manifest: [String: Fixture] = {
    let data = try! Data(contentsOf: dir.appendingPathComponent("manifest.json"))
    return try! JSONDecoder().decode([String: Fixture].self, from: data)
  }()

  /// What a user passes on the command line for these models (docs/QUANTIZATION.md, "Your
  /// own model"); the point count comes from the output shape.
  static func commandLineMetadata(_ n: Int) -> MetadataOverrides {
    var m = MetadataOverrides()
    m.mirrorPermutation = Array(0..<n)
    m.cropScale = 1.3
    m.mean = MetadataOverrides.Normalization.imagenet.mean
    m.std = MetadataOverrides.Normalization.imagenet.std
    return m
  }

  /// make_byo_fixtures.py's `test_input`: element i of the NCHW input is 1.5 sin(0.37 i + 0.2).
  static func testInput(size: Int) -> [Float] {
    (0..<(3 * size * size)).map { Float(1.5 * sin(0.37 * Double($0) + 0.2)) }
  }

  func importFixture(_ name: String) throws -> (ImportedGraph, ModelFile) {
    let f = Self.manifest[name]!
    let graph = try ONNXImporter.importModel(path: Self.dir.appendingPathComponent(name + ".onnx").path,
                                             metadata: Self.commandLineMetadata(f.landmarks))
    return (graph, try ModelFile(bytes: try graph.modelBuilder().serialize()))
  }

  func ops(_ model: ModelFile) -> [Op: Int] { model.nodes.reduce(into: [:]) { $0[$1.op, default: 0] += 1 } }

  /// The float model, on the runtime (the default kernel path) and on the tests' naive
  /// evaluator, against ONNX Runtime: max |diff| <= 1e-4 of the output's range.
  func testFloatPathMatchesONNXRuntime() throws {
    XCTAssertGreaterThanOrEqual(Self.manifest.count, 12, "make_byo_fixtures.py wrote every fixture (dynamo ones need onnxscript)")
    for (name, f) in Self.manifest.sorted(by: { $0.key < $1.key }) {
      let model: ModelFile
      do { model = try importFixture(name).1 } catch { XCTFail("\(name): \(error)"); continue }
      XCTAssertEqual(model.metadata.landmarkCount, f.landmarks, name)
      let expected = try readFloats(Self.dir.appendingPathComponent(name + ".expected.bin").path)
      let x = nchwToNHWC(Self.testInput(size: f.input_size), c: 3, h: f.input_size, w: f.input_size)
      let network = try Network(model: model, kernels: try KernelPath.default(), threads: 2)
      network.inputPointer.assumingMemoryBound(to: Float.self).update(from: x, count: x.count)
      network.run()
      let naive = NaiveEvaluator(model: model).run(x)[model.outputTensor]!
      let range = expected.max()! - expected.min()!
      let runtimeDiff = zip(network.output, expected).map { abs($0 - $1) }.max()!
      let naiveDiff = zip(naive, expected).map { abs($0 - $1) }.max()!
      print("\(name): \(model.nodes.count) nodes \(ops(model).sorted { $0.key.rawValue < $1.key.rawValue }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")); max |lotr - onnxruntime| runtime \(runtimeDiff), naive \(naiveDiff), output range \(range)")
      XCTAssertLessThanOrEqual(runtimeDiff, 1e-4 * range, "\(name): runtime differs from ONNX Runtime by \(runtimeDiff)")
      XCTAssertLessThanOrEqual(naiveDiff, 1e-4 * range, "\(name): naive evaluator differs from ONNX Runtime by \(naiveDiff)")
    }
  }

  /// Calibrated on lotr-tiny's two reference faces (crop 1.3, ImageNet normalisation, as the
  /// fixtures' metadata says), the int8 model keeps the points within 0.01 of the crop
  /// (0.64 px of the 64 px input) of the float model's on those faces' crops (measured:
  /// 0.0021 to 0.0047); most MACs run int8.
  func testInt8StaysCloseToFloat() throws {
    let tiny = fixtures.appendingPathComponent("reference/lotr-tiny")
    let json = try JSONSerialization.jsonObject(with: Data(contentsOf: tiny.appendingPathComponent("manifest.json"))) as! [String: Any]
    var faces: [FaceSet.Face] = []
    var crops: [[Float]] = []
    for entry in json["images"] as! [[String: Any]] {
      let image = (entry["image"] as! String).replacingOccurrences(of: ".jpg", with: "")
      let points = (entry["landmarks_source"] as! [[Double]]).map { Point(x: Float($0[0]), y: Float($0[1])) }
      faces.append(FaceSet.Face(path: image, image: try RGBImage(contentsOf: tiny.appendingPathComponent(image + ".jpg").path),
                                box: FaceBox(bounding: points)!, landmarks: nil))
      crops.append(nchwToNHWC(try readFloats(tiny.appendingPathComponent(image + ".input.bin").path), c: 3, h: 64, w: 64))
    }
    for (name, f) in Self.manifest.sorted(by: { $0.key < $1.key }) where f.input_size == 64 {
      let (graph, float) = try importFixture(name)
      let outcome = try QuantizationRun.run(graph, calibration: FaceSet(faces: faces), validation: nil,
                                            settings: .init(kernels: try KernelPath.default()))
      let int8 = try ModelFile(bytes: try outcome.builder.serialize())
      let runs = try [float, int8].map { try Network(model: $0, kernels: try KernelPath.default(), threads: 2) }
      var worst: Float = 0
      for x in crops {
        let outputs = runs.map { network -> [Float] in
          network.inputPointer.assumingMemoryBound(to: Float.self).update(from: x, count: x.count)
          network.run()
          return Array(network.output)
        }
        worst = max(worst, zip(outputs[0], outputs[1]).map { abs($0 - $1) }.max()!)
      }
      let share = Double(outcome.quantization.int8MACs) / Double(outcome.quantization.int8MACs + outcome.quantization.floatMACs)
      print("\(name): int8 vs float max |diff| \(worst) (crop units), \(Int((share * 100).rounded())) % of MACs int8")
      XCTAssertLessThan(worst, 0.01, "\(name): int8 moves a point by \(worst) of the crop")
      XCTAssertGreaterThan(share, 0.5, "\(name): most MACs run int8")
    }
  }

  /// Each family fused as it should be: every attention of nn.MultiheadAttention,
  /// nn.Transformer*Layer and timm's packed qkv becomes one ATTENTION (the decoders' first
  /// self-attention, on constant queries, is folded away), LayerNorm and exact GELU one op
  /// at every opset; what ATTENTION cannot express (a bias on the scores, key/value widths
  /// other than D) runs on the float fallback ops.
  func testPatternsAreFusedAndTheRestFallsBack() throws {
    for (name, f) in Self.manifest.sorted(by: { $0.key < $1.key }) {
      let (graph, model) = try importFixture(name)
      let counts = ops(model)
      let fallback = counts[.batchMatMul, default: 0] + counts[.mul, default: 0] + counts[.tanh, default: 0]
      XCTAssertNil(counts[.matmul], "\(name): \(counts)")
      XCTAssertEqual(model.tensors[model.inputTensor].shape, [1, f.input_size, f.input_size, 3], name)
      XCTAssertEqual(counts[.maxPool], 1, "\(name): the ResNet stem's MaxPool")
      switch f.family {
      case "detr-mha", "torch-layers":
        // Encoder self-attention, decoder 1 cross, decoder 2 self + cross.
        XCTAssertEqual(counts[.attention], 4, "\(name): \(counts)")
        XCTAssertEqual(counts[.layerNorm], name.contains("prenorm") && f.family == "torch-layers" ? 6 : 7, "\(name): \(counts)")
        if name.contains("gelutanh") {
          XCTAssertEqual(counts[.tanh], 3, "\(name): the tanh GELU runs on the fallback")
        } else {
          XCTAssertEqual(fallback, 0, "\(name): nothing on the fallback, \(counts)")
        }
        XCTAssertEqual(counts[.gelu, default: 0], name.contains("-gelu-") || name.contains("dynamo18") && f.family == "torch-layers"
                       || name.contains("mha-batchfirst") ? 3 : 0, "\(name): \(counts)")
      case "timm", "nn-transformer":
        // timm: encoder + cross; nn.Transformer: encoder self + decoder cross (its decoder
        // self-attention runs on the constant queries and is folded away).
        XCTAssertEqual(counts[.attention], 2, "\(name): \(counts)")
        XCTAssertEqual(fallback, 0, "\(name): \(counts)")
      case "relative-bias", "mha-kdim":
        XCTAssertEqual(counts[.batchMatMul], 2, "\(name): scores and weighted sum on the fallback, \(counts)")
        XCTAssertEqual(counts[.softmax], 1, "\(name): \(counts)")
        XCTAssertTrue(graph.notes.contains { $0.contains("is not part of an attention ATTENTION expresses") }, name)
        XCTAssertEqual(model.versionMinor, 4, "\(name): the fallback ops are format 1.4")
        XCTAssertEqual(counts[.layerNorm], 1, "\(name): the hand-written (rsqrt) or nn.LayerNorm is one LAYERNORM")
      default:
        XCTFail("\(name): unknown family \(f.family)")
      }
      if fallback == 0 { XCTAssertLessThan(model.versionMinor, 4, "\(name): no 1.4 op, no 1.4 stamp") }
    }
  }

  // MARK: metadata from the command line

  func testMissingMetadataIsNamedWithTheOptionsThatGiveIt() throws {
    let path = Self.dir.appendingPathComponent("timm-r18-106-legacy17.onnx").path
    XCTAssertThrowsError(try ONNXImporter.importModel(path: path)) { error in
      let text = "\(error)"
      for needed in ["'mirror_permutation'", "'crop_rule'", "'mean'", "'std'", "--mirror-permutation", "--crop-scale", "--normalization"] {
        XCTAssertTrue(text.contains(needed), "the error names \(needed): \(text)")
      }
    }
    var partial = Self.commandLineMetadata(106)
    partial.cropScale = nil
    XCTAssertThrowsError(try ONNXImporter.importModel(path: path, metadata: partial)) { error in
      XCTAssertTrue("\(error)".contains("'crop_rule'") && !"\(error)".contains("'mean'"), "only what is still missing: \(error)")
    }
  }

  func testCommandLineMetadataFillsTheFile() throws {
    let path = Self.dir.appendingPathComponent("timm-r18-106-legacy17.onnx").path
    var m = Self.commandLineMetadata(106)
    m.mean = MetadataOverrides.Normalization.minusOneOne.mean
    m.std = MetadataOverrides.Normalization.minusOneOne.std
    m.cropOffsetY = 0.1
    m.outerEyes = [64, 80]
    m.scheme = "my106"
    m.licence = "CC-BY-4.0"
    let graph = try ONNXImporter.importModel(path: path, metadata: m)
    let model = try ModelFile(bytes: try graph.modelBuilder().serialize())
    let meta = model.metadata
    XCTAssertEqual(meta.name, "timm-r18-106-legacy17", "the name defaults to the file's")
    XCTAssertEqual(meta.landmarkCount, 106, "the count defaults to the output's N")
    XCTAssertEqual(meta.landmarkScheme, "my106")
    XCTAssertEqual(meta.input.width, 64)
    XCTAssertEqual(meta.normalization, .init(mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5]))
    XCTAssertEqual(meta.crop, .init(rule: "landmark-box-square", scale: 1.3, offsetY: 0.1))
    XCTAssertEqual(meta.output.pixelConvention, "corner")
    XCTAssertEqual(meta.outerEyes, [64, 80])
    XCTAssertEqual(meta.outerEyeCorners?.0, 64)
    XCTAssertEqual(meta.licence, "CC-BY-4.0")
    XCTAssertEqual(meta.trainingData, "not stated")
    XCTAssertEqual(model.versionMinor, 4, "outer_eyes is a format 1.4 key")

    var wrong = Self.commandLineMetadata(106)
    wrong.landmarks = 98
    XCTAssertThrowsError(try ONNXImporter.importModel(path: path, metadata: wrong)) { error in
      XCTAssertTrue("\(error)".contains("is 98, the graph outputs 106 points"), "\(error)")
    }
    wrong = Self.commandLineMetadata(106)
    wrong.inputWidth = 96
    XCTAssertThrowsError(try ONNXImporter.importModel(path: path, metadata: wrong)) { error in
      XCTAssertTrue("\(error)".contains("says 96x96, the graph input is 64x64"), "\(error)")
    }
    wrong = Self.commandLineMetadata(106)
    wrong.outerEyes = [3, 3]
    XCTAssertThrowsError(try ONNXImporter.importModel(path: path, metadata: wrong)) { error in
      XCTAssertTrue("\(error)".contains("outer_eyes [3, 3] is not two different points"), "\(error)")
    }
    wrong = Self.commandLineMetadata(106)
    wrong.mirrorPermutation = Array(0..<68)
    XCTAssertThrowsError(try ONNXImporter.importModel(path: path, metadata: wrong)) { error in
      XCTAssertTrue("\(error)".contains("mirror_permutation has 68 entries, landmark_count is 106"), "\(error)")
    }
  }

  /// The command line wins over metadata_props, key by key (lotr-tiny has them all).
  func testCommandLineOverridesONNXMetadata() throws {
    var m = MetadataOverrides()
    m.cropScale = 1.25
    m.name = "renamed"
    let graph = try ONNXImporter.importModel(path: fixtures.appendingPathComponent("reference/lotr-tiny.onnx").path, metadata: m)
    XCTAssertEqual(graph.metadata.crop.scale, 1.25)
    XCTAssertEqual(graph.metadata.name, "renamed")
    XCTAssertEqual(graph.metadata.normalization.std, [0.229, 0.224, 0.225], "the rest from the ONNX file")
    XCTAssertNil(graph.metadata.outerEyes, "training/'s outer_eye_indices [36, 45] are the 68 points' own: not stored")
    XCTAssertLessThan(try ModelFile(bytes: try graph.modelBuilder().serialize()).versionMinor, 4)
  }
}
