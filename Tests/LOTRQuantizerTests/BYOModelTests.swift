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
    XCTAssertGreaterThanOrEqual(Self.manifest.count, 9, "make_byo_fixtures.py wrote every fixture (dynamo ones need onnxscript)")
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
}
