import XCTest
@testable import LOTR

/// The schema is the file format's op table (docs/FORMAT.md, "Ops"): these pin its word
/// layout, so a change to an entry that would alter the bytes on disk fails here.
final class OpSchemaTests: XCTestCase {
  func testAttributeSizesAndAritiesAreTheDocumentedOnes() {
    // op: (inputs, attribute words), as docs/FORMAT.md lists them.
    let documented: [Op: (Int, Int)] = [
      .conv2d: (3, 11), .deconv2d: (3, 10), .add: (2, 2), .linear: (3, 2), .matmul: (2, 2), .layerNorm: (3, 1),
      .softmax: (1, 0), .gelu: (1, 0), .relu: (1, 0), .sigmoid: (1, 0), .clamp: (1, 2), .attention: (11, 1),
      .reshape: (1, 0), .transpose: (1, 4), .concat: (2, 1), .quantize: (1, 0), .dequantize: (1, 0), .maxPool: (1, 8),
      .pad: (1, 8), .mul: (2, 0), .batchMatMul: (2, 2), .tanh: (1, 0),
    ]
    XCTAssertEqual(Set(documented.keys), Set(Op.allCases))
    for op in Op.allCases {
      XCTAssertEqual(op.inputCount, documented[op]!.0, "\(op) inputs")
      XCTAssertEqual(op.attributeWords, documented[op]!.1, "\(op) attribute words")
      XCTAssertEqual(op.attributesType.op, op, "\(op)'s entry names its op")
      XCTAssertEqual(op.sinceMinor, [Op.maxPool: 1, .pad: 2, .mul: 4, .batchMatMul: 4, .tanh: 4][op] ?? 0, "\(op): the format minor that added it")
    }
  }

  func testWordsAreInFileOrderAndRoundTrip() {
    let f = { (v: Float) in v.bitPattern }
    let conv = OpSchema.Conv2D(Window2D(kernel: (3, 5), stride: (2, 1), pads: (top: 1, left: 2, bottom: 0, right: 4)),
                               groups: 8, clamp: ActivationClamp(0, 6))
    XCTAssertEqual(conv.words, [3, 5, 2, 1, 1, 2, 0, 4, 8, f(0), f(6)])
    let deconv = OpSchema.Deconv2D(Window2D(kernel: 4, stride: 2, pad: 1), clamp: .relu)
    XCTAssertEqual(deconv.words, [4, 4, 2, 2, 1, 1, 1, 1, f(0), f(.infinity)])
    XCTAssertEqual(OpSchema.MatMul(transposeB: true, alpha: 0.125).words, [1, f(0.125)])
    XCTAssertEqual(OpSchema.BatchMatMul(transposeB: true, alpha: 0.5).words, [1, f(0.5)])
    XCTAssertEqual(OpSchema.Transpose(perm: [1, 0]).words, [1, 0, 2, 3], "axes past the rank keep their place")
    XCTAssertEqual(OpSchema.Concat(axis: 3).words, [3])
    XCTAssertEqual(OpSchema.Attention(heads: 4).words, [4])
    XCTAssertEqual(OpSchema.LayerNorm(epsilon: 1e-6).words, [f(1e-6)])
    XCTAssertEqual(OpSchema.Linear(clamp: .none).words, [f(-.infinity), f(.infinity)])
    XCTAssertEqual(OpSchema.MaxPool(Window2D(kernel: (3, 2), stride: (2, 2), pads: (0, 1, 1, 0))).words, [3, 2, 2, 2, 0, 1, 1, 0])
    XCTAssertEqual(OpSchema.Pad(before: [0, 1], after: [2, 0, 3]).words, [0, 1, 0, 0, 2, 0, 3, 0], "before[4], then after[4]")
    XCTAssertEqual(OpSchema.Conv2D(words: conv.words), conv)
    XCTAssertEqual(OpSchema.Deconv2D(words: deconv.words), deconv)
    XCTAssertEqual(Int32(bitPattern: OpSchema.Concat(axis: -1).words[0]), -1, "i32 fields keep their sign")
  }

  func testMACsAndInt8FormsComeFromTheEntry() {
    let pointwise = OpSchema.Conv2D(Window2D(kernel: 1, stride: 1, pad: 0))
    XCTAssertEqual(pointwise.macs([[1, 10, 10, 32], [64, 1, 1, 32], [64]], [1, 10, 10, 64]), 100 * 64 * 32)
    let depthwise = OpSchema.Conv2D(Window2D(kernel: 3, stride: 2, pad: 1), groups: 32)
    XCTAssertEqual(depthwise.macs([[1, 10, 10, 32], [1, 3, 3, 32], [32]], [1, 5, 5, 32]), 25 * 32 * 9)
    XCTAssertEqual(depthwise.int8Form([[1, 10, 10, 32], [1, 3, 3, 32], [32]], [1, 5, 5, 32]), .requantized)
    let dw5 = OpSchema.Conv2D(Window2D(kernel: 5, stride: 1, pad: 2), groups: 32)
    XCTAssertEqual(dw5.int8Form([[1, 10, 10, 32], [1, 5, 5, 32], [32]], [1, 10, 10, 32]), .float, "no int8 5x5 depthwise kernel")
    XCTAssertEqual(OpSchema.Attention(heads: 4).macs([[68, 128], [25, 128]], [68, 128]), (2 * 68 + 2 * 25) * 128 * 128 + 2 * 68 * 25 * 128)
    XCTAssertEqual(OpSchema.MaxPool().int8Form([[1, 4, 4, 8]], [1, 4, 4, 8]), .sharesInputQuantization)
    XCTAssertEqual(OpSchema.LayerNorm().int8Form([[4, 8]], [4, 8]), .float)
  }

  func testActivationClampInInt8Units() {
    let q = { (c: ActivationClamp, scale: Float, zp: Int32) -> [Int8] in let r = c.quantized(scale: scale, zeroPoint: zp); return [r.0, r.1] }
    XCTAssertEqual(q(.none, 0.1, 5), [-128, 127])
    XCTAssertEqual(q(ActivationClamp(0, 6), 0.05, -128), [-128, -8])
    XCTAssertEqual(q(ActivationClamp(-1e9, 1e9), 1e-3, 0), [-128, 127], "far bounds saturate")
  }
}
