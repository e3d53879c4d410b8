import Foundation
import LOTR
import SwiftProtobuf
import XCTest

@testable import LOTRQuantizer

/// Tests/Fixtures, found from this file (swift test runs from anywhere).
let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
  .appendingPathComponent("Fixtures")
let repositoryRoot = fixtures.deletingLastPathComponent().deletingLastPathComponent()

final class ONNXImportTests: XCTestCase {
  func onnxFixture(_ name: String) -> String { fixtures.appendingPathComponent("onnx/\(name).onnx").path }

  /// Imports, serializes (which validates with the reader) and reopens the model.
  func importAndValidate(_ path: String) throws -> (ImportedGraph, ModelFile) {
    let graph = try ONNXImporter.importModel(path: path)
    let bytes = try graph.modelBuilder().serialize()
    return (graph, try ModelFile(bytes: bytes))
  }

  func ops(_ model: ModelFile) -> [Op: Int] { model.nodes.reduce(into: [:]) { $0[$1.op, default: 0] += 1 } }

  /// Runs the imported fixture on its stored input and compares with ONNX Runtime's output.
  func checkAgainstExpected(_ name: String, _ model: ModelFile, tolerance: Float = 1e-4, file: StaticString = #filePath, line: UInt = #line) throws {
    let x = try readFloats(fixtures.appendingPathComponent("onnx/\(name).input.bin").path)
    let expected = try readFloats(fixtures.appendingPathComponent("onnx/\(name).expected.bin").path)
    let s = model.tensors[model.inputTensor].shape
    let y = NaiveEvaluator(model: model).run(nchwToNHWC(x, c: s[3], h: s[1], w: s[2]))[model.outputTensor]!
    XCTAssertEqual(y.count, expected.count, file: file, line: line)
    let worst = zip(y, expected).map { abs($0 - $1) }.max() ?? .infinity
    XCTAssertLessThan(worst, tolerance, "\(name): max |lotr - onnxruntime| = \(worst)", file: file, line: line)
  }

  // MARK: the tiny LOTR (PyTorch export from training/)

  func testTinyLOTRImportsAsAValidModel() throws {
    let (graph, model) = try importAndValidate(fixtures.appendingPathComponent("reference/lotr-tiny.onnx").path)
    let counts = ops(model)
    // 1 encoder self-attention + the decoder's cross-attention (its self-attention on the
    // constant first queries is folded away).
    XCTAssertEqual(counts[.attention], 2, "\(counts)")
    XCTAssertEqual(counts[.layerNorm], 4, "\(counts)")  // 2 encoder + 2 decoder (norm1 is constant)
    XCTAssertEqual(counts[.matmul], nil)
    XCTAssertEqual(counts[.transpose], nil, "tokens must come out of NHWC without a transpose")
    XCTAssertEqual(model.metadata.landmarkCount, 68)
    XCTAssertEqual(model.metadata.input.width, 64)
    XCTAssertEqual(model.metadata.crop.scale, 1.3)
    XCTAssertEqual(model.metadata.crop.rule, "landmark-box-square")
    XCTAssertEqual(model.metadata.output.pixelConvention, "corner")
    XCTAssertEqual(model.metadata.landmarkScheme, "ibug68")
    XCTAssertEqual(model.tensors[model.inputTensor].shape, [1, 64, 64, 3])
    XCTAssertEqual(model.tensors[model.outputTensor].shape, [1, 68, 2])
    // ReLU6 fused into the convs: no CLAMP or RELU nodes left.
    XCTAssertNil(counts[.clamp])
    XCTAssertNil(counts[.relu])
    XCTAssertTrue(model.nodes.contains { $0.op == .conv2d && $0.float(10) == 6 })
    // ONNX names survive for the quantizer's per-layer report.
    XCTAssertTrue(model.nodes.contains { $0.name == "/encoder/layers.0/self_attn" && $0.op == .attention })
    XCTAssertEqual(graph.nodes.count, model.nodes.count)
  }

  func testTinyLOTRMatchesPyTorchReferenceDumps() throws {
    let (_, model) = try importAndValidate(fixtures.appendingPathComponent("reference/lotr-tiny.onnx").path)
    let dir = fixtures.appendingPathComponent("reference/lotr-tiny")
    for image in ["afw_2288136183_1", "lfpw_image_0337"] {
      let x = try readFloats(dir.appendingPathComponent("\(image).input.bin").path)
      let expected = try readFloats(dir.appendingPathComponent("\(image).landmarks.bin").path)
      let all = NaiveEvaluator(model: model).run(nchwToNHWC(x, c: 3, h: 64, w: 64))
      let y = all[model.outputTensor]!
      let worst = zip(y, expected).map { abs($0 - $1) }.max()!
      XCTAssertLessThan(worst, 1e-4, "\(image): landmarks differ from PyTorch by \(worst)")
      // The encoder output, token order included ([T, D] here, [1, T, D] in PyTorch).
      let enc = try readFloats(dir.appendingPathComponent("\(image).encoder.0.bin").path)
      let id = model.tensors.firstIndex { $0.name == "/encoder/layers.0/norm2/LayerNormalization_output_0" }!
      XCTAssertEqual(model.tensors[id].shape, [16, 32])
      let encWorst = zip(all[id]!, enc).map { abs($0 - $1) }.max()!
      XCTAssertLessThan(encWorst, 1e-4, "\(image): encoder output differs from PyTorch by \(encWorst)")
      // The decoder output, what the head reads (the landmarks alone are dominated by the
      // head's anchors in this random-weight fixture).
      let dec = try readFloats(dir.appendingPathComponent("\(image).decoder.0.bin").path)
      let did = model.tensors.firstIndex { $0.name == "/decoder/layers.0/norm3/LayerNormalization_output_0" }!
      XCTAssertEqual(model.tensors[did].shape, [68, 32])
      let decWorst = zip(all[did]!, dec).map { abs($0 - $1) }.max()!
      XCTAssertLessThan(decWorst, 1e-4, "\(image): decoder output differs from PyTorch by \(decWorst)")
    }
  }

  // MARK: mapping rules, one fixture each

  func testConvBatchNormFoldingMatchesONNXRuntime() throws {
    let (graph, model) = try importAndValidate(onnxFixture("conv_bn"))
    let counts = ops(model)
    XCTAssertEqual(counts[.conv2d], 3)
    XCTAssertEqual(counts[.deconv2d], 1)
    XCTAssertEqual(counts[.add], 1)
    XCTAssertEqual(counts[.linear], 1)
    XCTAssertEqual(graph.notes.filter { $0.contains("BatchNormalization") }.count, 3, "\(graph.notes)")
    let stem = model.nodes.first { $0.name == "/stem/Conv" }!
    XCTAssertEqual([stem.float(9), stem.float(10)], [0, 6], "Clip(0, 6) fused")
    let dw = model.nodes.first { $0.name == "/dw/Conv" }!
    XCTAssertEqual(dw.int(8), 8, "depthwise groups")
    XCTAssertEqual(model.tensors[dw.inputs[1]].shape, [1, 3, 3, 8], "depthwise weight [1, KH, KW, C]")
    XCTAssertEqual([dw.float(9), dw.float(10)], [0, .infinity], "Relu fused")
    try checkAgainstExpected("conv_bn", model)
  }

  func testDecomposedLayerNormBecomesLAYERNORM() throws {
    let (_, model) = try importAndValidate(onnxFixture("layernorm_decomposed"))
    XCTAssertEqual(ops(model), [.conv2d: 1, .reshape: 2, .layerNorm: 1, .linear: 1])
    try checkAgainstExpected("layernorm_decomposed", model)
  }

  func testShapeArithmeticIsFoldedAndSubReluSigmoidMap() throws {
    let (_, model) = try importAndValidate(onnxFixture("shape_folding"))
    XCTAssertEqual(ops(model), [.conv2d: 1, .reshape: 2, .add: 1, .sigmoid: 1, .linear: 1])
    let add = model.nodes.first { $0.op == .add }!
    XCTAssertEqual([add.float(0), add.float(1)], [0, .infinity], "Relu fused into the ADD")
    try checkAgainstExpected("shape_folding", model)
  }

  // MARK: errors

  func testUnsupportedOpIsNamed() throws {
    XCTAssertThrowsError(try ONNXImporter.importModel(path: onnxFixture("unsupported"))) { error in
      let text = "\(error)"
      XCTAssertTrue(text.contains("'/stem/MaxPool'"), text)
      XCTAssertTrue(text.contains("MaxPool"), text)
      XCTAssertTrue(text.contains("supported"), text)
    }
  }

  func testMissingMetadataKeyIsNamed() throws {
    var proto = try Onnx_ModelProto(serializedBytes: try Data(contentsOf: URL(fileURLWithPath: onnxFixture("conv_bn"))))
    proto.metadataProps.removeAll { $0.key == "licence" }
    let bytes: [UInt8] = try proto.serializedBytes()
    XCTAssertThrowsError(try ONNXImporter.importModel(bytes: bytes, name: "no-licence.onnx")) { error in
      XCTAssertTrue("\(error)".contains("no 'licence'"), "\(error)")
    }
  }

  func testNotAnONNXFile() throws {
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("lotr-not-onnx-\(getpid()).txt").path
    try Data("hello, this is not a model\n".utf8).write(to: URL(fileURLWithPath: path))
    defer { try? FileManager.default.removeItem(atPath: path) }
    XCTAssertThrowsError(try ONNXImporter.importModel(path: path)) { error in
      XCTAssertTrue("\(error)".contains("not an ONNX model"), "\(error)")
    }
    XCTAssertThrowsError(try ONNXImporter.importModel(path: fixtures.appendingPathComponent("onnx/conv_bn.input.bin").path)) { error in
      XCTAssertTrue("\(error)".contains("not an ONNX model"), "\(error)")
    }
  }

  func testMissingFile() throws {
    XCTAssertThrowsError(try ONNXImporter.importModel(path: "/nonexistent/model.onnx")) { error in
      XCTAssertTrue("\(error)".contains("/nonexistent/model.onnx"), "\(error)")
      XCTAssertTrue("\(error)".contains("No such file"), "\(error)")
    }
  }

  // MARK: the shipped model, once training/ has exported it

  func testShippedModelImports() throws {
    let path = repositoryRoot.appendingPathComponent("models/lotr-m-68.onnx").path
    guard FileManager.default.fileExists(atPath: path) else { throw XCTSkip("models/lotr-m-68.onnx not exported yet") }
    let (_, model) = try importAndValidate(path)
    XCTAssertEqual(model.metadata.landmarkCount, 68)
    XCTAssertEqual(ops(model)[.attention], 2 * 1 + 2 * 2 - 1) // 2 encoder + 2x2 decoder, minus the folded first self-attention
  }
}

/// Opt-in numerical check of bigger exports: LOTR_ONNX_CHECK_DIR=<dir> with, for each
/// NAME.onnx there, NAME.input.bin (f32 NCHW) and NAME.expected.bin (ONNX Runtime's output).
final class ONNXExportCheckTests: XCTestCase {
  func testExportsInCheckDirMatchONNXRuntime() throws {
    guard let dir = ProcessInfo.processInfo.environment["LOTR_ONNX_CHECK_DIR"] else { throw XCTSkip("LOTR_ONNX_CHECK_DIR not set") }
    let names = try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.hasSuffix(".onnx") }.sorted()
    for name in names {
      let base = dir + "/" + name.dropLast(5)
      guard FileManager.default.fileExists(atPath: base + ".expected.bin") else { continue }
      let model = try ModelFile(bytes: try ONNXImporter.importModel(path: dir + "/" + name).modelBuilder().serialize())
      let s = model.tensors[model.inputTensor].shape
      let x = try readFloats(base + ".input.bin"), expected = try readFloats(base + ".expected.bin")
      let y = NaiveEvaluator(model: model).run(nchwToNHWC(x, c: s[3], h: s[1], w: s[2]))[model.outputTensor]!
      let worst = zip(y, expected).map { abs($0 - $1) }.max()!
      print("\(name): max |lotr - onnxruntime| = \(worst)")
      XCTAssertLessThan(worst, 1e-3, name)
    }
  }
}
