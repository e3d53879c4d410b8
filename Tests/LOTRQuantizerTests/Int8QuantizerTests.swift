import LOTR
@testable import LOTRQuantizer
import XCTest

/// A float graph shaped like a small LOTR: conv3x3/s2 + ReLU6 -> depthwise -> residual add
/// -> tokens -> LayerNorm -> FFN (linear + ReLU, linear) -> residual -> head linear -> points.
func makeFloatGraph(seed: UInt64 = 1) -> ImportedGraph {
  var state = seed
  func rand() -> Float {
    state &+= 0x9E37_79B9_7F4A_7C15
    var z = state
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return Float((z ^ (z >> 31)) >> 40) / Float(1 << 24) * 2 - 1
  }
  func values(_ n: Int, _ scale: Float) -> [Float] { (0..<n).map { _ in rand() * scale } }
  let meta = ModelMetadata(name: "quantizer-test", landmarkCount: 16, landmarkScheme: "test", mirrorPermutation: Array(0..<16),
                           input: .init(width: 8, height: 8), normalization: .init(mean: [0.5, 0.5, 0.5], std: [0.25, 0.25, 0.25]),
                           crop: .init(rule: "landmark-box-square", scale: 1.3), output: .init(pixelConvention: "corner"),
                           trainingData: "synthetic", licence: "MIT")
  var g = ImportedGraph(metadata: meta)
  let conv: (Int, Int, Int, Float, Float) -> OpSchema.Conv2D = { k, s, groups, lo, hi in
    OpSchema.Conv2D(Window2D(kernel: k, stride: s, pad: 1), groups: groups, clamp: ActivationClamp(lo, hi))
  }
  let x = g.addTensor("input", [1, 8, 8, 3], role: .input)
  let c1 = g.addTensor("c1", [1, 4, 4, 8])
  g.addNode(conv(3, 2, 1, 0, 6), "conv1", inputs: [x, g.addTensor("conv1.w", [8, 3, 3, 3], role: .constant, data: values(216, 0.4)),
                                       g.addTensor("conv1.b", [8], role: .constant, data: values(8, 0.2))],
            outputs: [c1], onnxNodes: ["conv1"])
  let c2 = g.addTensor("c2", [1, 4, 4, 8])
  g.addNode(conv(3, 1, 8, -.infinity, .infinity), "dw", inputs: [c1, g.addTensor("dw.w", [1, 3, 3, 8], role: .constant, data: values(72, 0.5)),
                                    g.addTensor("dw.b", [8], role: .constant, data: values(8, 0.1))],
            outputs: [c2], onnxNodes: ["dw"])
  let sum = g.addTensor("sum", [1, 4, 4, 8])
  g.addNode(OpSchema.Add(), "residual", inputs: [c1, c2], outputs: [sum], onnxNodes: ["add"])
  let tokens = g.addTensor("tokens", [16, 8])
  g.addNode(OpSchema.Reshape(), "flatten", inputs: [sum], outputs: [tokens], onnxNodes: ["reshape"])
  let ln = g.addTensor("ln", [16, 8])
  g.addNode(OpSchema.LayerNorm(epsilon: 1e-5), "norm", inputs: [tokens, g.addTensor("norm.g", [8], role: .constant, data: values(8, 0.2).map { $0 + 1 }),
                                         g.addTensor("norm.b", [8], role: .constant, data: values(8, 0.1))],
            outputs: [ln], onnxNodes: ["ln"])
  let f1 = g.addTensor("ffn1", [16, 32])
  g.addNode(OpSchema.Linear(clamp: .relu), "ffn.0", inputs: [ln, g.addTensor("ffn.0.w", [32, 8], role: .constant, data: values(256, 0.5)),
                                       g.addTensor("ffn.0.b", [32], role: .constant, data: values(32, 0.1))],
            outputs: [f1], onnxNodes: ["fc1", "relu"])
  let f2 = g.addTensor("ffn2", [16, 8])
  g.addNode(OpSchema.Linear(), "ffn.1", inputs: [f1, g.addTensor("ffn.1.w", [8, 32], role: .constant, data: values(256, 0.3)),
                                       g.addTensor("ffn.1.b", [8], role: .constant, data: values(8, 0.1))],
            outputs: [f2], onnxNodes: ["fc2"])
  let r = g.addTensor("res", [16, 8])
  g.addNode(OpSchema.Add(), "ffn.residual", inputs: [ln, f2], outputs: [r], onnxNodes: ["add2"])
  let h = g.addTensor("head", [16, 2])
  g.addNode(OpSchema.Linear(), "head", inputs: [r, g.addTensor("head.w", [2, 8], role: .constant, data: values(16, 0.3)),
                                      g.addTensor("head.b", [2], role: .constant, data: [0.5, 0.5])],
            outputs: [h], onnxNodes: ["head"])
  let out = g.addTensor("landmarks", [1, 16, 2], role: .output)
  g.addNode(OpSchema.Reshape(), "points", inputs: [h], outputs: [out], onnxNodes: ["out"])
  return g
}

func randomInputs(_ count: Int, size: Int, seed: UInt64) -> [[Float]] {
  var state = seed
  return (0..<count).map { _ in
    (0..<size).map { _ in
      state = state &* 6364136223846793005 &+ 1442695040888963407
      return Float(state >> 40) / Float(1 << 24) * 4 - 2
    }
  }
}

final class Int8QuantizerTests: XCTestCase {
  func testCalibrationIsDeterministicAndCoversEveryActivation() throws {
    let g = makeFloatGraph()
    let inputs = randomInputs(8, size: 192, seed: 3)
    let kernels = try KernelPath.default()
    let a = try Calibrator.collect(g, inputs: inputs, kernels: kernels)
    let b = try Calibrator.collect(g, inputs: inputs, kernels: kernels)
    XCTAssertEqual(a.minimum, b.minimum)
    XCTAssertEqual(a.maximum, b.maximum)
    XCTAssertEqual(a.images, 8)
    for (i, t) in g.tensors.enumerated() where t.role != .constant {
      XCTAssertTrue(a.minimum[i].isFinite && a.maximum[i].isFinite, "\(t.name) was never observed")
    }
    let relu6 = g.tensors.firstIndex { $0.name == "c1" }!
    XCTAssertGreaterThanOrEqual(a.minimum[relu6], 0)
    XCTAssertLessThanOrEqual(a.maximum[relu6], 6)
    let (lo, hi) = a.range(relu6, .percentile(90))
    XCTAssertLessThanOrEqual(hi, a.maximum[relu6])
    XCTAssertEqual(lo, 0, "ranges always include 0")
  }

  func testInt8GraphStaysCloseToFloatAndKeepsTheTransformerFloat() throws {
    let g = makeFloatGraph()
    let kernels = try KernelPath.default()
    let stats = try Calibrator.collect(g, inputs: randomInputs(32, size: 192, seed: 11), kernels: kernels)
    let result = try Int8Quantizer.quantize(g, statistics: stats)
    let model = try ModelFile(bytes: try result.builder.serialize())
    // The backbone and linears are int8; LayerNorm stays float.
    let ops = Dictionary(grouping: model.nodes, by: \.op)
    XCTAssertEqual(ops[.quantize]?.count, 3, "QUANTIZE at the input, after LayerNorm, and before the head")
    XCTAssertNotNil(ops[.dequantize], "int8 tokens reach the float LayerNorm through a DEQUANTIZE")
    let norm = model.nodes.first { $0.name == "norm" }!
    XCTAssertEqual(model.tensors[norm.inputs[0]].dtype, .f32)
    for name in ["conv1", "dw", "ffn.0", "ffn.1", "head"] {
      let node = model.nodes.first { $0.name == name }!
      XCTAssertEqual(model.tensors[node.inputs[0]].dtype, .i8, "\(name) runs int8")
      XCTAssertEqual(model.tensors[node.inputs[1]].dtype, .i8)
      let w = model.data(node.inputs[1]).bindMemory(to: Int8.self)
      XCTAssertTrue(w.allSatisfy { $0 >= -127 }, "\(name): weights in [-127, 127]")
      XCTAssertTrue(w.contains { $0 == 127 || $0 == -127 }, "\(name): per-channel scales use the full range")
    }
    let residual = model.nodes.first { $0.name == "residual" }!
    XCTAssertEqual(model.tensors[residual.outputs[0]].dtype, .i8, "the backbone residual add runs int8")
    let ffnOut = model.nodes.first { $0.name == "ffn.1" }!
    XCTAssertEqual(model.tensors[ffnOut.outputs[0]].dtype, .f32, "a linear feeding only float ops writes float")
    XCTAssertEqual(result.int8MACs + result.floatMACs, g.nodeMACs().reduce(0, +))

    // Outputs: int8 vs float on fresh inputs.
    let floatModel = try ModelFile(bytes: try g.modelBuilder().serialize())
    let floatNet = try Network(model: floatModel, kernels: kernels), int8Net = try Network(model: model, kernels: kernels)
    var worst: Float = 0, magnitude: Float = 0
    for x in randomInputs(16, size: 192, seed: 99) {
      for n in [floatNet, int8Net] { n.inputPointer.assumingMemoryBound(to: Float.self).update(from: x, count: x.count); n.run() }
      for (a, b) in zip(floatNet.output, int8Net.output) {
        worst = max(worst, abs(a - b))
        magnitude = max(magnitude, abs(a))
      }
    }
    XCTAssertLessThan(worst, 0.05 * magnitude, "int8 output strays: worst \(worst), magnitude \(magnitude)")
    XCTAssertGreaterThan(worst, 0, "int8 should not be bit-identical to float")
  }

  func testKeepFloatLeavesNamedLayersInFloat() throws {
    let g = makeFloatGraph()
    let stats = try Calibrator.collect(g, inputs: randomInputs(4, size: 192, seed: 5), kernels: try KernelPath.default())
    let result = try Int8Quantizer.quantize(g, statistics: stats, options: .init(keepFloat: ["conv1", "head"]))
    let model = try ModelFile(bytes: try result.builder.serialize())
    for name in ["conv1", "head"] {
      let node = model.nodes.first { $0.name == name }!
      XCTAssertTrue(node.inputs.allSatisfy { model.tensors[$0].dtype == .f32 }, "\(name) kept float")
    }
    XCTAssertFalse(result.layers.contains { $0.node == "conv1" })
    let dw = model.nodes.first { $0.name == "dw" }!
    XCTAssertEqual(model.tensors[dw.inputs[0]].dtype, .i8, "the layer after a float one is quantized on entry")
  }

  func testQuantizedModelIsBitExactAcrossKernelPaths() throws {
    let g = makeFloatGraph(seed: 77)
    let stats = try Calibrator.collect(g, inputs: randomInputs(8, size: 192, seed: 8), kernels: try KernelPath.named("ref"))
    let model = try ModelFile(bytes: try Int8Quantizer.quantize(g, statistics: stats).builder.serialize())
    let x = randomInputs(1, size: 192, seed: 123)[0]
    var outputs: [[UInt32]] = []
    for path in KernelPath.supported() {
      let n = try Network(model: model, kernels: path, threads: 2)
      n.inputPointer.assumingMemoryBound(to: Float.self).update(from: x, count: x.count)
      n.run()
      // int8 stages must agree exactly; float tails (LayerNorm) may differ in the last bits.
      let sum = model.tensors.firstIndex { $0.name == "sum" }!
      outputs.append(n.bytes(of: sum).bindMemory(to: Int8.self).map { UInt32(bitPattern: Int32($0)) })
    }
    for o in outputs { XCTAssertEqual(o, outputs[0]) }
  }
}
