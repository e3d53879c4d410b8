import LOTR
import XCTest

/// Deterministic values for test tensors.
struct TestRandom {
  var state: UInt64
  mutating func next() -> UInt64 {
    state &+= 0x9E37_79B9_7F4A_7C15
    var z = state
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
  }
  mutating func float(_ lo: Float, _ hi: Float) -> Float { lo + (hi - lo) * Float(next() >> 40) / Float(1 << 24) }
  mutating func floats(_ n: Int, _ lo: Float = -1, _ hi: Float = 1) -> [Float] { (0..<n).map { _ in float(lo, hi) } }
  mutating func int8s(_ n: Int, _ lo: Int = -127, _ hi: Int = 127) -> [Int8] {
    (0..<n).map { _ in Int8(lo + Int(next() % UInt64(hi - lo + 1))) }
  }
}

func metadata(width: Int, height: Int, landmarks n: Int) -> ModelMetadata {
  ModelMetadata(name: "network-test", landmarkCount: n, landmarkScheme: "test",
                mirrorPermutation: Array(0..<n), input: .init(width: width, height: height),
                normalization: .init(mean: [0, 0, 0], std: [1, 1, 1]), crop: .init(rule: "landmark-box-square", scale: 1.5),
                output: .init(pixelConvention: "corner"), trainingData: "synthetic", licence: "MIT")
}

func convAttributes(_ k: Int, _ s: Int, _ pad: Int, _ groups: Int, _ lo: Float, _ hi: Float) -> OpSchema.Conv2D {
  OpSchema.Conv2D(Window2D(kernel: k, stride: s, pad: pad), groups: groups, clamp: ActivationClamp(lo, hi))
}

/// Naive NHWC float convolution (weights OHWI, depthwise [1,KH,KW,C]).
func naiveConv(_ x: [Float], h: Int, w: Int, c: Int, weight: [Float], bias: [Float], cout: Int, k: Int, stride: Int,
               pad: Int, depthwise: Bool, lo: Float, hi: Float) -> (out: [Float], oh: Int, ow: Int) {
  let oh = (h + 2 * pad - k) / stride + 1, ow = (w + 2 * pad - k) / stride + 1
  var out = [Float](repeating: 0, count: oh * ow * cout)
  for oy in 0..<oh {
    for ox in 0..<ow {
      for o in 0..<cout {
        var acc = Double(bias[o])
        for ky in 0..<k {
          for kx in 0..<k {
            let iy = oy * stride + ky - pad, ix = ox * stride + kx - pad
            if iy < 0 || iy >= h || ix < 0 || ix >= w { continue }
            if depthwise {
              acc += Double(x[(iy * w + ix) * c + o]) * Double(weight[(ky * k + kx) * c + o])
            } else {
              for i in 0..<c { acc += Double(x[(iy * w + ix) * c + i]) * Double(weight[((o * k + ky) * k + kx) * c + i]) }
            }
          }
        }
        out[(oy * ow + ox) * cout + o] = min(max(Float(acc), lo), hi)
      }
    }
  }
  return (out, oh, ow)
}

func naiveLinear(_ x: [Float], rows: Int, k: Int, weight: [Float], bias: [Float], n: Int) -> [Float] {
  var y = [Float](repeating: 0, count: rows * n)
  for r in 0..<rows {
    for j in 0..<n {
      var acc = Double(bias[j])
      for i in 0..<k { acc += Double(x[r * k + i]) * Double(weight[j * k + i]) }
      y[r * n + j] = Float(acc)
    }
  }
  return y
}

func naiveLayerNorm(_ x: [Float], rows: Int, cols: Int, gamma: [Float], beta: [Float], eps: Float) -> [Float] {
  var y = x
  for r in 0..<rows {
    let row = x[(r * cols)..<((r + 1) * cols)].map(Double.init)
    let mean = row.reduce(0, +) / Double(cols)
    let variance = row.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(cols)
    for c in 0..<cols {
      y[r * cols + c] = Float((row[c] - mean) / (variance + Double(eps)).squareRoot()) * gamma[c] + beta[c]
    }
  }
  return y
}

func naiveAttention(q: [Float], k: [Float], v: [Float], lq: Int, lk: Int, d: Int, heads: Int, w: [[Float]], b: [[Float]]) -> [Float] {
  let qp = naiveLinear(q, rows: lq, k: d, weight: w[0], bias: b[0], n: d)
  let kp = naiveLinear(k, rows: lk, k: d, weight: w[1], bias: b[1], n: d)
  let vp = naiveLinear(v, rows: lk, k: d, weight: w[2], bias: b[2], n: d)
  let dh = d / heads
  var o = [Float](repeating: 0, count: lq * d)
  for h in 0..<heads {
    for i in 0..<lq {
      var s = (0..<lk).map { j in (0..<dh).reduce(0.0) { $0 + Double(qp[i * d + h * dh + $1]) * Double(kp[j * d + h * dh + $1]) } / Double(dh).squareRoot() }
      let m = s.max()!
      s = s.map { exp($0 - m) }
      let sum = s.reduce(0, +)
      for c in 0..<dh { o[i * d + h * dh + c] = Float((0..<lk).reduce(0.0) { $0 + s[$1] / sum * Double(vp[$1 * d + h * dh + c]) }) }
    }
  }
  return naiveLinear(o, rows: lq, k: d, weight: w[3], bias: b[3], n: d)
}

final class NetworkTests: XCTestCase {
  /// input [1,6,6,3] -> conv3x3/s2 (ReLU6) -> depthwise 3x3 -> add -> tokens [9,4] -> linear 4->8
  /// -> LayerNorm -> attention (2 heads) -> linear 8->2 -> [1,9,2]
  func makeFloatGraph(_ r: inout TestRandom) -> (ModelBuilder, (([Float]) -> [Float])) {
    var b = ModelBuilder(metadata: metadata(width: 6, height: 6, landmarks: 9))
    let input = b.addTensor("input", .f32, [1, 6, 6, 3], role: .input)
    let w1 = r.floats(4 * 9 * 3), b1 = r.floats(4)
    let c1 = b.addTensor("c1", .f32, [1, 3, 3, 4])
    b.addNode(convAttributes(3, 2, 1, 1, 0, 6), "conv1", inputs: [input, b.addTensor("c1.w", .f32, [4, 3, 3, 3], role: .constant, data: ModelBuilder.bytes(w1)),
                                         b.addTensor("c1.b", .f32, [4], role: .constant, data: ModelBuilder.bytes(b1))],
              outputs: [c1])
    let w2 = r.floats(9 * 4), b2 = r.floats(4)
    let c2 = b.addTensor("c2", .f32, [1, 3, 3, 4])
    b.addNode(convAttributes(3, 1, 1, 4, -.infinity, .infinity), "dw", inputs: [c1, b.addTensor("dw.w", .f32, [1, 3, 3, 4], role: .constant, data: ModelBuilder.bytes(w2)),
                                      b.addTensor("dw.b", .f32, [4], role: .constant, data: ModelBuilder.bytes(b2))],
              outputs: [c2])
    let sum = b.addTensor("sum", .f32, [1, 3, 3, 4])
    b.addNode(OpSchema.Add(), "residual", inputs: [c1, c2], outputs: [sum])
    let tokens = b.addTensor("tokens", .f32, [9, 4])
    b.addNode(OpSchema.Reshape(), "flatten", inputs: [sum], outputs: [tokens])
    let w3 = r.floats(8 * 4), b3 = r.floats(8)
    let l1 = b.addTensor("l1", .f32, [9, 8])
    b.addNode(OpSchema.Linear(), "proj", inputs: [tokens, b.addTensor("proj.w", .f32, [8, 4], role: .constant, data: ModelBuilder.bytes(w3)),
                                        b.addTensor("proj.b", .f32, [8], role: .constant, data: ModelBuilder.bytes(b3))],
              outputs: [l1])
    let gamma = r.floats(8, 0.5, 1.5), beta = r.floats(8)
    let ln = b.addTensor("ln", .f32, [9, 8])
    b.addNode(OpSchema.LayerNorm(epsilon: 1e-5), "norm", inputs: [l1, b.addTensor("norm.g", .f32, [8], role: .constant, data: ModelBuilder.bytes(gamma)),
                                           b.addTensor("norm.b", .f32, [8], role: .constant, data: ModelBuilder.bytes(beta))],
              outputs: [ln])
    let aw = (0..<4).map { _ in r.floats(64, -0.5, 0.5) }, ab = (0..<4).map { _ in r.floats(8) }
    var attnInputs = [ln, ln, l1]
    for i in 0..<4 {
      attnInputs.append(b.addTensor("attn.w\(i)", .f32, [8, 8], role: .constant, data: ModelBuilder.bytes(aw[i])))
      attnInputs.append(b.addTensor("attn.b\(i)", .f32, [8], role: .constant, data: ModelBuilder.bytes(ab[i])))
    }
    let at = b.addTensor("attn", .f32, [9, 8])
    b.addNode(OpSchema.Attention(heads: 2), "attn", inputs: attnInputs, outputs: [at])
    let w4 = r.floats(2 * 8), b4 = r.floats(2)
    let l2 = b.addTensor("l2", .f32, [9, 2])
    b.addNode(OpSchema.Linear(), "head", inputs: [at, b.addTensor("head.w", .f32, [2, 8], role: .constant, data: ModelBuilder.bytes(w4)),
                                        b.addTensor("head.b", .f32, [2], role: .constant, data: ModelBuilder.bytes(b4))],
              outputs: [l2])
    let out = b.addTensor("landmarks", .f32, [1, 9, 2], role: .output)
    b.addNode(OpSchema.Reshape(), "points", inputs: [l2], outputs: [out])

    let reference: ([Float]) -> [Float] = { x in
      let (y1, _, _) = naiveConv(x, h: 6, w: 6, c: 3, weight: w1, bias: b1, cout: 4, k: 3, stride: 2, pad: 1, depthwise: false, lo: 0, hi: 6)
      let (y2, _, _) = naiveConv(y1, h: 3, w: 3, c: 4, weight: w2, bias: b2, cout: 4, k: 3, stride: 1, pad: 1, depthwise: true,
                                 lo: -.infinity, hi: .infinity)
      let s = zip(y1, y2).map(+)
      let p = naiveLinear(s, rows: 9, k: 4, weight: w3, bias: b3, n: 8)
      let n = naiveLayerNorm(p, rows: 9, cols: 8, gamma: gamma, beta: beta, eps: 1e-5)
      let a = naiveAttention(q: n, k: n, v: p, lq: 9, lk: 9, d: 8, heads: 2, w: aw, b: ab)
      return naiveLinear(a, rows: 9, k: 8, weight: w4, bias: b4, n: 2)
    }
    return (b, reference)
  }

  func testFloatGraphMatchesNaiveEvaluation() throws {
    var r = TestRandom(state: 42)
    let (builder, reference) = makeFloatGraph(&r)
    let model = try ModelFile(bytes: try builder.serialize())
    for threads in [1, 2] {
      let network = try Network(model: model, kernels: try KernelPath.default(), threads: threads)
      for trial in 0..<3 {
        let x = r.floats(6 * 6 * 3, -2, 2)
        network.inputPointer.assumingMemoryBound(to: Float.self).update(from: x, count: x.count)
        network.run()
        let expected = reference(x)
        let got = Array(network.output)
        XCTAssertEqual(got.count, expected.count)
        for i in got.indices {
          XCTAssertEqual(got[i], expected[i], accuracy: 1e-4 * max(1, abs(expected[i])), "trial \(trial) threads \(threads) [\(i)]")
        }
      }
    }
  }

  func testArenaReusesMemoryWithoutOverlap() throws {
    var r = TestRandom(state: 7)
    let (builder, _) = makeFloatGraph(&r)
    let model = try ModelFile(bytes: try builder.serialize())
    let network = try Network(model: model, kernels: try KernelPath.default())
    XCTAssertLessThan(network.arenaBytes, network.unsharedBytes, "lifetimes let the arena reuse bytes")
    XCTAssertGreaterThan(network.arenaBytes, 0)
  }

  /// int8 graph: QUANTIZE -> conv3x3/s2 (im2col GEMM) -> depthwise -> ADD -> tokens -> LINEAR int8->f32 -> points.
  func makeInt8Graph(_ r: inout TestRandom, channels: Int = 8, size: Int = 12) -> ModelBuilder {
    let c = channels, h = size, oh = (size + 2 - 3) / 2 + 1
    let n = oh * oh
    var b = ModelBuilder(metadata: metadata(width: h, height: h, landmarks: n))
    let input = b.addTensor("input", .f32, [1, h, h, 3], role: .input)
    let q = b.addTensor("q", .i8, [1, h, h, 3], quantization: .perTensor(scale: 1 / 64, zeroPoint: -5))
    b.addNode(OpSchema.Quantize(), "quantize", inputs: [input], outputs: [q])
    let c1 = b.addTensor("c1", .i8, [1, oh, oh, c], quantization: .perTensor(scale: 0.05, zeroPoint: -128))
    b.addNode(convAttributes(3, 2, 1, 1, 0, 6), "conv", inputs: [
      q, b.addTensor("c.w", .i8, [c, 3, 3, 3], role: .constant, quantization: .perChannel(axis: 0, scales: r.floats(c, 0.002, 0.01)),
                     data: ModelBuilder.bytes(r.int8s(c * 27))),
      b.addTensor("c.b", .i32, [c], role: .constant, data: ModelBuilder.bytes((0..<c).map { _ in Int32(truncatingIfNeeded: r.next() % 2001) - 1000 })),
    ], outputs: [c1])
    let c2 = b.addTensor("c2", .i8, [1, oh, oh, c], quantization: .perTensor(scale: 0.04, zeroPoint: 3))
    b.addNode(convAttributes(3, 1, 1, c, -.infinity, .infinity), "dw", inputs: [
      c1, b.addTensor("dw.w", .i8, [1, 3, 3, c], role: .constant, quantization: .perChannel(axis: 3, scales: r.floats(c, 0.005, 0.02)),
                      data: ModelBuilder.bytes(r.int8s(9 * c))),
      b.addTensor("dw.b", .i32, [c], role: .constant, data: ModelBuilder.bytes((0..<c).map { _ in Int32(truncatingIfNeeded: r.next() % 401) - 200 })),
    ], outputs: [c2])
    let sum = b.addTensor("sum", .i8, [1, oh, oh, c], quantization: .perTensor(scale: 0.07, zeroPoint: -10))
    b.addNode(OpSchema.Add(), "residual", inputs: [c1, c2], outputs: [sum])
    let tokens = b.addTensor("tokens", .i8, [n, c], quantization: .perTensor(scale: 0.07, zeroPoint: -10))
    b.addNode(OpSchema.Reshape(), "flatten", inputs: [sum], outputs: [tokens])
    let y = b.addTensor("y", .f32, [n, 2])
    b.addNode(OpSchema.Linear(), "head", inputs: [
      tokens, b.addTensor("h.w", .i8, [2, c], role: .constant, quantization: .perChannel(axis: 0, scales: [0.01, 0.02]),
                          data: ModelBuilder.bytes(r.int8s(2 * c))),
      b.addTensor("h.b", .i32, [2], role: .constant, data: ModelBuilder.bytes([Int32(100), -100])),
    ], outputs: [y])
    let out = b.addTensor("landmarks", .f32, [1, n, 2], role: .output)
    b.addNode(OpSchema.Reshape(), "points", inputs: [y], outputs: [out])
    return b
  }

  func testInt8GraphGivesTheSameBitsOnEveryPathAndThreadCount() throws {
    var r = TestRandom(state: 2024)
    let model = try ModelFile(bytes: try makeInt8Graph(&r, channels: 24, size: 30).serialize())
    let x = r.floats(30 * 30 * 3, -1.5, 1.5)
    var results: [String: [UInt32]] = [:]
    var intermediate: [String: [Float]] = [:]
    for path in KernelPath.supported() {
      for threads in 1...3 {
        let network = try Network(model: model, kernels: path, threads: threads)
        network.inputPointer.assumingMemoryBound(to: Float.self).update(from: x, count: x.count)
        network.run()
        results["\(path.name)/\(threads)"] = network.output.map(\.bitPattern)
        intermediate["\(path.name)/\(threads)"] = network.floats(of: model.tensors.firstIndex { $0.name == "sum" }!)
      }
    }
    let reference = results["ref/1"]!
    XCTAssertTrue(reference.contains { $0 != 0 })
    for (key, bits) in results { XCTAssertEqual(bits, reference, "\(key) differs from ref/1") }
    for (key, values) in intermediate { XCTAssertEqual(values, intermediate["ref/1"]!, "\(key) residual sum differs") }
  }

  func testInt8GraphTracksItsFloatTwin() throws {
    // The int8 graph's output stays near a float evaluation of the same dequantized weights.
    var r = TestRandom(state: 99)
    let builder = makeInt8Graph(&r)
    let model = try ModelFile(bytes: try builder.serialize())
    let network = try Network(model: model, kernels: try KernelPath.default())
    let x = r.floats(12 * 12 * 3, -1, 1)
    network.inputPointer.assumingMemoryBound(to: Float.self).update(from: x, count: x.count)
    network.run()
    func deq(_ name: String) -> [Float] {
      let id = model.tensors.firstIndex { $0.name == name }!
      let s = model.scales(id)
      let q = model.data(id).bindMemory(to: Int8.self)
      let axisLength = s.count
      let t = model.tensors[id]
      let inner = t.shape.last == axisLength && t.shape.first == 1 ? 1 : q.count / axisLength
      return q.enumerated().map { i, v in Float(v) * s[inner == 1 ? i % axisLength : i / inner] }
    }
    func bias(_ name: String, _ scale: [Float]) -> [Float] {
      let id = model.tensors.firstIndex { $0.name == name }!
      return model.data(id).bindMemory(to: Int32.self).enumerated().map { Float($1) * scale[$0] }
    }
    let xs: Float = 1 / 64
    let xq = x.map { max(-128, min(127, ($0 / xs).rounded(.toNearestOrEven) - 5)) }.map { ($0 + 5) * xs }
    let cw = model.scales(model.tensors.firstIndex { $0.name == "c.w" }!)
    let (y1, _, _) = naiveConv(xq, h: 12, w: 12, c: 3, weight: deq("c.w"), bias: bias("c.b", cw.map { $0 * xs }), cout: 8, k: 3,
                               stride: 2, pad: 1, depthwise: false, lo: 0, hi: 6)
    let dw = model.scales(model.tensors.firstIndex { $0.name == "dw.w" }!)
    let (y2, _, _) = naiveConv(y1, h: 6, w: 6, c: 8, weight: deq("dw.w"), bias: bias("dw.b", dw.map { $0 * 0.05 }), cout: 8, k: 3,
                               stride: 1, pad: 1, depthwise: true, lo: -131 * 0.04, hi: 124 * 0.04) // c2's int8 range
    let s = zip(y1, y2).map { min(max($0 + $1, -118 * 0.07), 137 * 0.07) } // sum's int8 range
    let expected = naiveLinear(s, rows: 36, k: 8, weight: deq("h.w"), bias: bias("h.b", [0.01 * 0.07, 0.02 * 0.07]), n: 2)
    let got = Array(network.output)
    let worst = zip(got, expected).map { abs($0 - $1) }.max()!
    let magnitude = expected.map(abs).max()!
    XCTAssertLessThan(worst, 0.08 * max(1, magnitude), "int8 strays from float: worst \(worst), magnitude \(magnitude)")
  }

  func testUnsupportedCombinationsAreNamed() throws {
    // An int8 DECONV2D is valid in the format, but lotr-quantize keeps deconvolutions float
    // and the runtime has no int8 kernel for them.
    var b = ModelBuilder(metadata: metadata(width: 4, height: 4, landmarks: 32))
    let input = b.addTensor("input", .i8, [1, 4, 4, 3], role: .input, quantization: .perTensor(scale: 0.1, zeroPoint: 0))
    let y = b.addTensor("up", .f32, [1, 8, 8, 1])
    b.addNode(OpSchema.Deconv2D(Window2D(kernel: 2, stride: 2, pad: 0)), "upsample", inputs: [input, b.addTensor("w", .i8, [1, 2, 2, 3], role: .constant, quantization: .perChannel(axis: 0, scales: [0.01]),
                                                                 data: ModelBuilder.bytes([Int8](repeating: 1, count: 12))),
                                              b.addTensor("b", .i32, [1], role: .constant, data: ModelBuilder.bytes([Int32(0)]))],
              outputs: [y])
    let out = b.addTensor("landmarks", .f32, [1, 32, 2], role: .output)
    let flat = b.addTensor("flat", .f32, [64, 1])
    b.addNode(OpSchema.Reshape(), "r", inputs: [y], outputs: [flat])
    b.addNode(OpSchema.Linear(), "l", inputs: [flat, b.addTensor("lw", .f32, [1, 1], role: .constant, data: ModelBuilder.bytes([Float(1)])),
                                     b.addTensor("lb", .f32, [1], role: .constant, data: ModelBuilder.bytes([Float(0)]))],
              outputs: [b.addTensor("lo", .f32, [64, 1])])
    b.addNode(OpSchema.Reshape(), "o", inputs: [b.tensorCount - 1], outputs: [out])
    let model = try ModelFile(bytes: try b.serialize())
    XCTAssertThrowsError(try Network(model: model, kernels: try KernelPath.default())) { error in
      XCTAssertTrue("\(error)".contains("'upsample' (DECONV2D)"), "\(error)")
      XCTAssertTrue("\(error)".contains("int8 DECONV2D is not supported"), "\(error)")
    }
  }
}
