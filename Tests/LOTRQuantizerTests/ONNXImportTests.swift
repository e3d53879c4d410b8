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
    XCTAssertTrue(model.nodes.contains { ($0.attributes as? OpSchema.Conv2D)?.clamp.max == 6 })
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
    XCTAssertEqual(stem.attributes(as: OpSchema.Conv2D.self).clamp, ActivationClamp(0, 6), "Clip(0, 6) fused")
    let dw = model.nodes.first { $0.name == "/dw/Conv" }!
    XCTAssertEqual(dw.attributes(as: OpSchema.Conv2D.self).groups, 8, "depthwise groups")
    XCTAssertEqual(model.tensors[dw.inputs[1]].shape, [1, 3, 3, 8], "depthwise weight [1, KH, KW, C]")
    XCTAssertEqual(dw.attributes(as: OpSchema.Conv2D.self).clamp, .relu, "Relu fused")
    try checkAgainstExpected("conv_bn", model)
  }

  /// Runs `model` on the real executor (float) on the fixture's input; max |Network - ONNX Runtime|.
  func networkError(_ name: String, _ model: ModelFile) throws -> Float {
    let x = try readFloats(fixtures.appendingPathComponent("onnx/\(name).input.bin").path)
    let expected = try readFloats(fixtures.appendingPathComponent("onnx/\(name).expected.bin").path)
    let s = model.tensors[model.inputTensor].shape
    let network = try Network(model: model, kernels: try KernelPath.default())
    let nhwc = nchwToNHWC(x, c: s[3], h: s[1], w: s[2])
    network.inputPointer.copyMemory(from: nhwc, byteCount: nhwc.count * 4)
    network.run()
    XCTAssertEqual(network.output.count, expected.count)
    return zip(network.output, expected).map { abs($0 - $1) }.max() ?? .infinity
  }

  func testConvTransposeRunsOnTheExecutor() throws {
    let (_, model) = try importAndValidate(onnxFixture("conv_bn"))
    XCTAssertEqual(model.versionMinor, 0, "no 1.1 op: the file stays format 1.0")
    let worst = try networkError("conv_bn", model)
    XCTAssertLessThan(worst, 1e-4, "max |Network - onnxruntime| = \(worst)")
  }

  func testDeconvAndMaxPoolMatchONNXRuntime() throws {
    let (graph, model) = try importAndValidate(onnxFixture("deconv_maxpool"))
    let counts = ops(model)
    XCTAssertEqual(counts[.conv2d], 1)
    XCTAssertEqual(counts[.maxPool], 2)
    XCTAssertEqual(counts[.deconv2d], 1)
    XCTAssertEqual(counts[.linear], 1)
    XCTAssertNil(counts[.relu], "both Relus fused")
    XCTAssertEqual(model.versionMinor, 1, "MAXPOOL is a format 1.1 op")
    let stem = model.nodes.first { $0.name == "/stem/MaxPool" }!
    XCTAssertEqual(stem.attributes(as: OpSchema.MaxPool.self).window, Window2D(kernel: 3, stride: 2, pad: 1))
    let pool = model.nodes.first { $0.name == "/pool/MaxPool" }!
    XCTAssertEqual(pool.attributes(as: OpSchema.MaxPool.self).window, Window2D(kernel: (3, 2), stride: (2, 2), pads: (0, 1, 1, 0)),
                   "ONNX pads [top, left, bottom, right]")
    let up = model.nodes.first { $0.op == .deconv2d }!
    XCTAssertEqual(model.tensors[up.inputs[1]].shape, [6, 3, 3, 8], "deconv weight [Cout, KH, KW, Cin]")
    XCTAssertEqual(up.attributes(as: OpSchema.Deconv2D.self).clamp, .relu, "Relu fused into the DECONV2D")
    XCTAssertEqual(model.tensors[up.outputs[0]].shape, [1, 16, 16, 6])
    try checkAgainstExpected("deconv_maxpool", model)
    let worst = try networkError("deconv_maxpool", model)
    XCTAssertLessThan(worst, 1e-4, "max |Network - onnxruntime| = \(worst)")

    // int8: MAXPOOL follows its int8 input, DECONV2D stays float.
    let q = try checkInt8AgainstExpected("deconv_maxpool", graph)
    XCTAssertEqual(inputDType(q, "/stem/MaxPool"), .i8)
    XCTAssertEqual(inputDType(q, "/up/ConvTranspose"), .f32)
    let stemPool = q.nodes.first { $0.name == "/stem/MaxPool" }!
    XCTAssertEqual(q.tensors[stemPool.inputs[0]].quantization, q.tensors[stemPool.outputs[0]].quantization)
  }

  func testPadMatchesONNXRuntimeInFloatAndInt8() throws {
    let (graph, model) = try importAndValidate(onnxFixture("pad_residual"))
    XCTAssertEqual(ops(model)[.pad], 2)
    XCTAssertEqual(model.versionMinor, 2, "PAD is a format 1.2 op")
    let spatial = model.nodes.first { $0.name == "/down/Pad" }!.attributes(as: OpSchema.Pad.self)
    XCTAssertEqual([spatial.before, spatial.after], [[0, 0, 0, 0], [0, 1, 1, 0]], "NCHW pads as NHWC: bottom and right")
    let channels = model.nodes.first { $0.name == "/skip/Pad" }!.attributes(as: OpSchema.Pad.self)
    XCTAssertEqual([channels.before, channels.after], [[0, 0, 0, 0], [0, 0, 0, 4]], "channel pad on the last NHWC axis")
    try checkAgainstExpected("pad_residual", model)
    let worst = try networkError("pad_residual", model)
    XCTAssertLessThan(worst, 1e-4, "max |Network - onnxruntime| = \(worst)")

    // int8: PAD keeps its input's quantization and pads with the zero point.
    let q = try checkInt8AgainstExpected("pad_residual", graph)
    for name in ["/down/Pad", "/skip/Pad"] {
      let pad = q.nodes.first { $0.name == name }!
      XCTAssertEqual(q.tensors[pad.inputs[0]].dtype, .i8, name)
      XCTAssertEqual(q.tensors[pad.inputs[0]].quantization, q.tensors[pad.outputs[0]].quantization, name)
    }
  }

  func inputDType(_ model: ModelFile, _ node: String) -> DType {
    model.tensors[model.nodes.first { $0.name == node }!.inputs[0]].dtype
  }

  /// Quantizes `graph` (calibrated on the fixture's input and random ones), runs it on the
  /// fixture's input and checks it against ONNX Runtime's output within 10 % of its range.
  func checkInt8AgainstExpected(_ name: String, _ graph: ImportedGraph, file: StaticString = #filePath, line: UInt = #line) throws -> ModelFile {
    let x = try readFloats(fixtures.appendingPathComponent("onnx/\(name).input.bin").path)
    let s = graph.tensors[graph.inputTensor!].shape
    let inputs = [nchwToNHWC(x, c: s[3], h: s[1], w: s[2])] + randomInputs(7, size: x.count, seed: 11)
    let stats = try Calibrator.collect(graph, inputs: inputs, kernels: try KernelPath.default())
    let q = try ModelFile(bytes: try Int8Quantizer.quantize(graph, statistics: stats).builder.serialize())
    let network = try Network(model: q, kernels: try KernelPath.default())
    network.inputPointer.copyMemory(from: inputs[0], byteCount: inputs[0].count * 4)
    network.run()
    let expected = try readFloats(fixtures.appendingPathComponent("onnx/\(name).expected.bin").path)
    let int8Worst = zip(network.output, expected).map { abs($0 - $1) }.max()!
    let magnitude = expected.map(abs).max()!
    XCTAssertLessThan(int8Worst, 0.1 * magnitude, "\(name): int8 vs onnxruntime: \(int8Worst) (outputs up to \(magnitude))",
                      file: file, line: line)
    return q
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
    XCTAssertEqual(add.attributes(as: OpSchema.Add.self).clamp, .relu, "Relu fused into the ADD")
    try checkAgainstExpected("shape_folding", model)
  }

  func testFallbackOpsRunWhatNoPatternCovers() throws {
    let (_, model) = try importAndValidate(onnxFixture("fallback_elementwise"))
    // Neg, c - x, x - y (a negate each), Div, Pow 3 (two products), x * y; two batched products.
    XCTAssertEqual(ops(model)[.mul], 7, "\(ops(model))")
    XCTAssertEqual(ops(model)[.tanh], 1)
    XCTAssertEqual(ops(model)[.batchMatMul], 2)
    XCTAssertEqual(ops(model)[.add], 2, "c + (-x) and a + (-b)")
    XCTAssertEqual(model.versionMinor, 4)
    // Outputs span about -55..41: 1e-3 is 1e-5 of that.
    try checkAgainstExpected("fallback_elementwise", model, tolerance: 1e-3)
    let network = try Network(model: model, kernels: try KernelPath.default())
    let x = try readFloats(fixtures.appendingPathComponent("onnx/fallback_elementwise.input.bin").path)
    let nhwc = nchwToNHWC(x, c: 3, h: 8, w: 8)
    network.inputPointer.assumingMemoryBound(to: Float.self).update(from: nhwc, count: nhwc.count)
    network.run()
    let expected = try readFloats(fixtures.appendingPathComponent("onnx/fallback_elementwise.expected.bin").path)
    let worst = zip(network.output, expected).map { abs($0 - $1) }.max()!
    XCTAssertLessThan(worst, 1e-3, "the runtime's MUL, TANH, BATCH_MATMUL: max |lotr - onnxruntime| = \(worst)")
  }

  // MARK: errors

  func testUnsupportedOpIsNamed() throws {
    XCTAssertThrowsError(try ONNXImporter.importModel(path: onnxFixture("unsupported"))) { error in
      let text = "\(error)"
      XCTAssertTrue(text.contains("'/stem/AveragePool'"), text)
      XCTAssertTrue(text.contains("AveragePool"), text)
      XCTAssertTrue(text.contains("supported"), text)
    }
  }

  func testMissingMetadataKeyIsNamed() throws {
    var proto = try Onnx_ModelProto(serializedBytes: try Data(contentsOf: URL(fileURLWithPath: onnxFixture("conv_bn"))))
    proto.metadataProps.removeAll { $0.key == "crop_rule" || $0.key == "licence" }
    let bytes: [UInt8] = try proto.serializedBytes()
    XCTAssertThrowsError(try ONNXImporter.importModel(bytes: bytes, name: "no-crop-rule.onnx")) { error in
      XCTAssertTrue("\(error)".contains("no 'crop_rule'; give --crop-scale K"), "\(error)")
    }
    var crop = MetadataOverrides()
    crop.cropScale = 1.3
    let graph = try ONNXImporter.importModel(bytes: bytes, name: "no-crop-rule.onnx", metadata: crop)
    XCTAssertEqual(graph.metadata.licence, "not stated", "an optional key left out")
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
/// NAME.onnx there, NAME.input.bin (f32 NCHW) and NAME.expected.bin (ONNX Runtime's output),
/// and optionally NAME.checks.json (intermediate feature maps, compared where the .lotr
/// graph has a tensor of that name); training/scripts/export_random_presets.py writes such
/// a folder for lotr-m+ and lotr-r.
/// Each model is imported and run on the executor (float; OpenBLAS) within 1e-4 of ONNX
/// Runtime (intermediates: 1e-4 relative to their largest value), and with
/// LOTR_ONNX_CHECK_NAIVE=1 also by the naive evaluator within 1e-3 (minutes on lotr-r);
/// with LOTR_ONNX_CHECK_INT8=1 also quantized (see checkInt8).
final class ONNXExportCheckTests: XCTestCase {
  func testExportsInCheckDirMatchONNXRuntime() throws {
    let env = ProcessInfo.processInfo.environment
    guard let dir = env["LOTR_ONNX_CHECK_DIR"] else { throw XCTSkip("LOTR_ONNX_CHECK_DIR not set") }
    let names = try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.hasSuffix(".onnx") }.sorted()
    var checked = 0
    for name in names {
      let base = dir + "/" + name.dropLast(5)
      guard FileManager.default.fileExists(atPath: base + ".expected.bin") else { continue }
      let model = try ModelFile(bytes: try ONNXImporter.importModel(path: dir + "/" + name).modelBuilder().serialize())
      let s = model.tensors[model.inputTensor].shape
      let x = try readFloats(base + ".input.bin"), expected = try readFloats(base + ".expected.bin")
      let nhwc = nchwToNHWC(x, c: s[3], h: s[1], w: s[2])
      // NAME.checks.json (optional): ONNX Runtime's intermediate feature maps [{value, shape, file}], NCHW.
      var checks: [(id: Int, expected: [Float], value: String)] = []
      if let data = FileManager.default.contents(atPath: base + ".checks.json"),
         let list = try JSONSerialization.jsonObject(with: data) as? [[String: Any]] {
        for entry in list {
          guard let value = entry["value"] as? String, let file = entry["file"] as? String, let shape = entry["shape"] as? [Int],
                let id = model.tensors.firstIndex(where: { $0.name == value }) else { continue }
          guard shape.count == 4, model.tensors[id].shape == [1, shape[2], shape[3], shape[1]] else { continue }
          checks.append((id, nchwToNHWC(try readFloats(dir + "/" + file), c: shape[1], h: shape[2], w: shape[3]), value))
        }
      }
      let network = try Network(model: model, kernels: try KernelPath.default())
      network.inputPointer.copyMemory(from: nhwc, byteCount: nhwc.count * 4)
      var captured: [Int: [Float]] = [:] // the arena reuses bytes: read each right after its step
      network.run { step in
        for id in model.nodes[step].outputs where checks.contains(where: { $0.id == id }) { captured[id] = network.floats(of: id) }
      }
      for check in checks {
        let got = captured[check.id] ?? []
        XCTAssertEqual(got.count, check.expected.count, check.value)
        let worst = zip(got, check.expected).map { abs($0 - $1) }.max() ?? .infinity
        let magnitude = check.expected.map(abs).max() ?? 0
        print("\(name): '\(check.value)' max |Network - onnxruntime| = \(worst) (values up to \(magnitude))")
        XCTAssertLessThan(worst, 1e-4 * max(1, magnitude), "\(name): \(check.value)")
      }
      XCTAssertEqual(network.output.count, expected.count, name)
      let worst = zip(network.output, expected).map { abs($0 - $1) }.max()!
      let ops = model.nodes.reduce(into: [String: Int]()) { $0["\($1.op)", default: 0] += 1 }.sorted { $0.key < $1.key }
      print("\(name): format 1.\(model.versionMinor), ops \(ops.map { "\($0.key) \($0.value)" }.joined(separator: ", "))")
      print("\(name): max |Network - onnxruntime| = \(worst)")
      XCTAssertLessThan(worst, 1e-4, name)
      if env["LOTR_ONNX_CHECK_NAIVE"] == "1" {
        let y = NaiveEvaluator(model: model).run(nhwc)[model.outputTensor]!
        let naiveWorst = zip(y, expected).map { abs($0 - $1) }.max()!
        print("\(name): max |naive evaluator - onnxruntime| = \(naiveWorst)")
        XCTAssertLessThan(naiveWorst, 1e-3, name)
      }
      if env["LOTR_ONNX_CHECK_INT8"] == "1" { try checkInt8(name, dir + "/" + name, input: nhwc, float: network, checks: checks.map(\.value)) }
      checked += 1
    }
    XCTAssertGreaterThan(checked, 0, "no NAME.onnx with NAME.expected.bin in \(dir)")
  }

  /// LOTR_ONNX_CHECK_INT8=1: quantizes the import (calibrated on the check input and three
  /// N(0, 1) inputs: mechanics, not accuracy) and prints how far the int8 model's feature
  /// maps and landmarks are from the float model's. MAXPOOL must run int8, DECONV2D float.
  func checkInt8(_ name: String, _ path: String, input: [Float], float: Network, checks: [String]) throws {
    let graph = try ONNXImporter.importModel(path: path)
    let inputs = [input] + randomInputs(3, size: input.count, seed: 5).map { $0.map { $0 * 0.866 } } // U(-2,2) -> std 1
    let stats = try Calibrator.collect(graph, inputs: inputs, kernels: try KernelPath.default())
    let q = try ModelFile(bytes: try Int8Quantizer.quantize(graph, statistics: stats).builder.serialize())
    for node in q.nodes where node.op == .maxPool || node.op == .deconv2d {
      XCTAssertEqual(q.tensors[node.inputs[0]].dtype, node.op == .maxPool ? .i8 : .f32, "\(name): \(node.name)")
    }
    let ids = checks.compactMap { v in q.tensors.firstIndex { $0.name == v } }
    let floatIDs = checks.compactMap { v in float.model.tensors.firstIndex { $0.name == v } }
    var quantized: [Int: [Float]] = [:], reference: [Int: [Float]] = [:]
    float.inputPointer.copyMemory(from: input, byteCount: input.count * 4)
    float.run { step in for id in float.model.nodes[step].outputs where floatIDs.contains(id) { reference[id] = float.floats(of: id) } }
    let network = try Network(model: q, kernels: try KernelPath.default())
    network.inputPointer.copyMemory(from: input, byteCount: input.count * 4)
    network.run { step in for id in q.nodes[step].outputs where ids.contains(id) { quantized[id] = network.floats(of: id) } }
    for (id, fid) in zip(ids, floatIDs) {
      let (a, b) = (quantized[id] ?? [], reference[fid] ?? [])
      let worst = zip(a, b).map { abs($0 - $1) }.max() ?? .infinity
      let magnitude = b.map(abs).max() ?? 0
      print("\(name) int8: '\(q.tensors[id].name)' (\(q.tensors[id].dtype)) max |int8 - float| = \(worst), \(100 * worst / max(magnitude, 1e-9)) % of the largest value")
    }
    let worst = zip(network.output, float.output).map { abs($0 - $1) }.max()!
    let spread = float.output.max()! - float.output.min()!
    print("\(name) int8: landmarks max |int8 - float| = \(worst) (float landmarks span \(spread))")
    XCTAssertTrue(worst.isFinite)
  }
}
