import LOTR
import XCTest

/// Naive transposed convolution (docs/FORMAT.md): input pixel (iy, ix) adds
/// x[iy, ix, :] . w[o, ky, kx, :] to output (iy*sh - pt + ky, ix*sw - pl + kx, o); no flip.
func naiveDeconv(_ x: [Float], h: Int, w: Int, cin: Int, weight: [Float], bias: [Float], cout: Int, kh: Int, kw: Int,
                 sh: Int, sw: Int, pads: [Int], lo: Float, hi: Float) -> (out: [Float], oh: Int, ow: Int) {
  let oh = (h - 1) * sh + kh - pads[0] - pads[2], ow = (w - 1) * sw + kw - pads[1] - pads[3]
  var acc = [Double](repeating: 0, count: oh * ow * cout)
  for p in 0..<(oh * ow) { for o in 0..<cout { acc[p * cout + o] = Double(bias[o]) } }
  for iy in 0..<h { for ix in 0..<w { for ky in 0..<kh { for kx in 0..<kw {
    let oy = iy * sh - pads[0] + ky, ox = ix * sw - pads[1] + kx
    guard oy >= 0, oy < oh, ox >= 0, ox < ow else { continue }
    for o in 0..<cout { for i in 0..<cin {
      acc[(oy * ow + ox) * cout + o] += Double(x[(iy * w + ix) * cin + i]) * Double(weight[((o * kh + ky) * kw + kx) * cin + i])
    } }
  } } } }
  return (acc.map { min(max(Float($0), lo), hi) }, oh, ow)
}

/// Naive NHWC max pooling; padded taps are skipped (they never win).
func naiveMaxPool<T: Comparable>(_ x: [T], h: Int, w: Int, c: Int, kh: Int, kw: Int, sh: Int, sw: Int, pads: [Int],
                                 lowest: T) -> (out: [T], oh: Int, ow: Int) {
  let oh = (h + pads[0] + pads[2] - kh) / sh + 1, ow = (w + pads[1] + pads[3] - kw) / sw + 1
  var y = [T](repeating: lowest, count: oh * ow * c)
  for oy in 0..<oh { for ox in 0..<ow { for ch in 0..<c { for ky in 0..<kh { for kx in 0..<kw {
    let iy = oy * sh - pads[0] + ky, ix = ox * sw - pads[1] + kx
    guard iy >= 0, iy < h, ix >= 0, ix < w else { continue }
    y[(oy * ow + ox) * c + ch] = max(y[(oy * ow + ox) * c + ch], x[(iy * w + ix) * c + ch])
  } } } } }
  return (y, oh, ow)
}

final class DeconvPoolTests: XCTestCase {
  /// input [1, 1, h*w*cin/3, 3] -> RESHAPE -> x [1, h, w, cin] (same order) -> `body(x, y)`
  /// -> y [1, oh, ow, c] (even element count) -> RESHAPE -> landmarks. (A graph input has 3
  /// channels; the reshape gives the op under test any channel count.)
  func model(h: Int, w: Int, cin: Int, outShape: [Int], _ body: (inout ModelBuilder, Int, Int) -> Void) throws -> ModelFile {
    let count = outShape.reduce(1, *)
    precondition(count % 2 == 0 && (h * w * cin) % 3 == 0)
    var b = ModelBuilder(metadata: metadata(width: h * w * cin / 3, height: 1, landmarks: count / 2))
    let input = b.addTensor("input", .f32, [1, 1, h * w * cin / 3, 3], role: .input)
    let x = b.addTensor("x", .f32, [1, h, w, cin])
    b.addNode(OpSchema.Reshape(), "to-nhwc", inputs: [input], outputs: [x])
    let y = b.addTensor("y", .f32, outShape)
    body(&b, x, y)
    b.addNode(OpSchema.Reshape(), "points", inputs: [y], outputs: [b.addTensor("landmarks", .f32, [1, count / 2, 2], role: .output)])
    return try ModelFile(bytes: try b.serialize())
  }

  func testFloatDeconvMatchesNaiveLoops() throws {
    var r = TestRandom(state: 5)
    // (kernel h, w, stride h, w, pads [t, l, b, r], clamp): lotr-m+'s 4x4/2 pad 1, asymmetric
    // pads, non-square kernels and strides, stride 1, a stride above the kernel (gaps).
    let cases: [(Int, Int, Int, Int, [Int], Float, Float)] = [
      (4, 4, 2, 2, [1, 1, 1, 1], 0, .infinity),
      (3, 3, 2, 2, [0, 1, 1, 0], -.infinity, .infinity),
      (3, 2, 2, 1, [2, 0, 1, 1], -0.5, 0.5),
      (3, 3, 1, 1, [1, 1, 1, 1], -.infinity, .infinity),
      (2, 2, 3, 3, [0, 0, 0, 0], -.infinity, 1),
      (1, 1, 1, 1, [0, 0, 0, 0], -.infinity, .infinity),
    ]
    let (h, w, cin, cout) = (5, 4, 6, 7)
    for (kh, kw, sh, sw, pads, lo, hi) in cases {
      let wt = r.floats(cout * kh * kw * cin), bias = r.floats(cout)
      let x = r.floats(h * w * cin, -2, 2)
      let reference = naiveDeconv(x, h: h, w: w, cin: cin, weight: wt, bias: bias, cout: cout, kh: kh, kw: kw, sh: sh, sw: sw,
                                  pads: pads, lo: lo, hi: hi)
      let outShape = [1, reference.oh, reference.ow, cout] // cout 7: every case has an even oh*ow
      let m = try model(h: h, w: w, cin: cin, outShape: outShape) { b, input, y in
        let geometry = [kh, kw, sh, sw] + pads
        b.addNode(OpSchema.Deconv2D(Window2D(geometry), clamp: ActivationClamp(lo, hi)), "up",
                  inputs: [input, b.addTensor("w", .f32, [cout, kh, kw, cin], role: .constant, data: ModelBuilder.bytes(wt)),
                           b.addTensor("b", .f32, [cout], role: .constant, data: ModelBuilder.bytes(bias))],
                  outputs: [y])
      }
      for threads in [1, 2] {
        let network = try Network(model: m, kernels: try KernelPath.default(), threads: threads)
        network.inputPointer.assumingMemoryBound(to: Float.self).update(from: x, count: x.count)
        network.run()
        let got = Array(network.output)
        XCTAssertEqual(got.count, reference.out.count)
        let worst = zip(got, reference.out).map { abs($0 - $1) }.max()!
        XCTAssertLessThan(worst, 1e-5, "kernel \(kh)x\(kw) stride \(sh)x\(sw) pads \(pads) threads \(threads)")
        XCTAssertEqual(network.steps[1].op, .deconv2d)
        XCTAssertEqual(network.stepMACs[1], h * w * cin * cout * kh * kw)
      }
    }
  }

  let poolCases: [(Int, Int, Int, Int, [Int])] = [
    (3, 3, 2, 2, [1, 1, 1, 1]),   // ResNet's stem pool
    (2, 2, 2, 2, [0, 0, 0, 0]),
    (3, 2, 2, 2, [0, 1, 1, 0]),   // asymmetric
    (3, 3, 1, 1, [2, 2, 2, 2]),   // corner windows hold a single real element
    (1, 1, 2, 3, [0, 0, 0, 0]),
  ]

  func testFloatMaxPoolMatchesNaiveLoops() throws {
    var r = TestRandom(state: 9)
    let (h, w, c) = (7, 6, 6)
    for (kh, kw, sh, sw, pads) in poolCases {
      // All negative inputs: a padded tap counted as 0 would win and show.
      let x = r.floats(h * w * c, -3, -0.1)
      let reference = naiveMaxPool(x, h: h, w: w, c: c, kh: kh, kw: kw, sh: sh, sw: sw, pads: pads, lowest: -Float.infinity)
      let m = try model(h: h, w: w, cin: c, outShape: [1, reference.oh, reference.ow, c]) { b, input, y in
        b.addNode(OpSchema.MaxPool(Window2D([kh, kw, sh, sw] + pads)), "pool", inputs: [input], outputs: [y])
      }
      XCTAssertEqual(m.versionMinor, 1, "MAXPOOL is a 1.1 op")
      let network = try Network(model: m, kernels: try KernelPath.default())
      network.inputPointer.assumingMemoryBound(to: Float.self).update(from: x, count: x.count)
      network.run()
      XCTAssertEqual(Array(network.output), reference.out, "kernel \(kh)x\(kw) stride \(sh)x\(sw) pads \(pads)")
      XCTAssertEqual(network.steps[1].op, .maxPool)
      XCTAssertFalse(network.steps[1].int8)
    }
  }

  /// QUANTIZE -> MAXPOOL (int8, the input's quantization) -> DEQUANTIZE equals the float max
  /// pool of the dequantized input, exactly: max commutes with the monotonic quantization.
  func testInt8MaxPoolIsExact() throws {
    var r = TestRandom(state: 13)
    let (h, w, c) = (9, 8, 6)
    let quant = ModelBuilder.TensorQuantization.perTensor(scale: 0.03, zeroPoint: 17)
    for (kh, kw, sh, sw, pads) in poolCases {
      let oh = (h + pads[0] + pads[2] - kh) / sh + 1, ow = (w + pads[1] + pads[3] - kw) / sw + 1
      var ids: (q: Int, p: Int) = (0, 0)
      let m = try model(h: h, w: w, cin: c, outShape: [1, oh, ow, c]) { b, input, y in
        let q = b.addTensor("q", .i8, [1, h, w, c], quantization: quant)
        b.addNode(OpSchema.Quantize(), "quantize", inputs: [input], outputs: [q])
        let p = b.addTensor("p", .i8, [1, oh, ow, c], quantization: quant)
        b.addNode(OpSchema.MaxPool(Window2D([kh, kw, sh, sw] + pads)), "pool", inputs: [q], outputs: [p])
        b.addNode(OpSchema.Dequantize(), "dequantize", inputs: [p], outputs: [y])
        ids = (q, p)
      }
      let network = try Network(model: m, kernels: try KernelPath.default())
      XCTAssertEqual(network.steps[2].op, .maxPool)
      XCTAssertTrue(network.steps[2].int8)
      for _ in 0..<3 {
        let x = r.floats(h * w * c, -4.5, 3.5) // reaches both ends of the int8 range (-128 and 127)
        network.inputPointer.assumingMemoryBound(to: Float.self).update(from: x, count: x.count)
        // The arena reuses bytes: read q and p right after the steps that write them.
        var raw: [Int8] = [], dequantized: [Float] = [], pooled: [Int8] = []
        network.run { step in
          if network.steps[step].op == .quantize {
            raw = Array(network.bytes(of: ids.q).bindMemory(to: Int8.self))
            dequantized = network.floats(of: ids.q)
          }
          if network.steps[step].op == .maxPool { pooled = Array(network.bytes(of: ids.p).bindMemory(to: Int8.self)) }
        }
        XCTAssertTrue(raw.contains(-128) && raw.contains(127))
        let pooledRaw = naiveMaxPool(raw, h: h, w: w, c: c, kh: kh, kw: kw, sh: sh, sw: sw, pads: pads, lowest: Int8.min).out
        XCTAssertEqual(pooled, pooledRaw)
        let floatPooled = naiveMaxPool(dequantized, h: h, w: w, c: c, kh: kh, kw: kw, sh: sh, sw: sw, pads: pads,
                                       lowest: -Float.infinity).out
        XCTAssertEqual(Array(network.output), floatPooled, "kernel \(kh)x\(kw) stride \(sh)x\(sw) pads \(pads)")
      }
    }
  }

  func testMaxPoolRulesAreChecked() throws {
    func build(pads: [Int] = [1, 1, 1, 1], kernel: Int = 3, out: [Int] = [1, 4, 4, 3], dtype: DType = .f32,
               inQ: ModelBuilder.TensorQuantization = .none, outQ: ModelBuilder.TensorQuantization = .none) throws {
      var b = ModelBuilder(metadata: metadata(width: 8, height: 8, landmarks: out.reduce(1, *) / 2))
      let input = b.addTensor("input", dtype, [1, 8, 8, 3], role: .input, quantization: inQ)
      let y = b.addTensor("y", dtype, out, quantization: outQ)
      b.addNode(OpSchema.MaxPool(Window2D([kernel, kernel, 2, 2] + pads)), "pool", inputs: [input], outputs: [y])
      let f = b.addTensor("f", .f32, out)
      if dtype == .f32 { b.addNode(OpSchema.ReLU(), "r", inputs: [y], outputs: [f]) } else { b.addNode(OpSchema.Dequantize(), "d", inputs: [y], outputs: [f]) }
      b.addNode(OpSchema.Reshape(), "points", inputs: [f], outputs: [b.addTensor("landmarks", .f32, [1, out.reduce(1, *) / 2, 2], role: .output)])
      _ = try b.serialize()
    }
    XCTAssertNoThrow(try build())
    func expectError(_ text: String, _ body: () throws -> Void) {
      XCTAssertThrowsError(try body()) { XCTAssertTrue("\($0)".contains(text), "\($0)") }
    }
    expectError("padding out of range") { try build(pads: [3, 1, 1, 1]) }
    expectError("should be [1, 4, 4, 3]") { try build(out: [1, 6, 4, 3]) }
    let q = ModelBuilder.TensorQuantization.perTensor(scale: 0.1, zeroPoint: 3)
    XCTAssertNoThrow(try build(dtype: .i8, inQ: q, outQ: q))
    expectError("quantization identical") { try build(dtype: .i8, inQ: q, outQ: .perTensor(scale: 0.2, zeroPoint: 3)) }
  }

  /// MAXPOOL is 1.1: a file stamped 1.0 that uses it is refused; a 1.0 file stays 1.0.
  func testMaxPoolNeedsFormat11() throws {
    let pooled = try model(h: 4, w: 4, cin: 3, outShape: [1, 2, 2, 3]) { b, input, y in
      b.addNode(OpSchema.MaxPool(Window2D(kernel: 2, stride: 2, pad: 0)), "pool", inputs: [input], outputs: [y])
    }
    XCTAssertEqual(pooled.versionMinor, 1)
    let plain = try model(h: 4, w: 4, cin: 3, outShape: [1, 4, 4, 3]) { b, input, y in
      b.addNode(OpSchema.ReLU(), "relu", inputs: [input], outputs: [y])
    }
    XCTAssertEqual(plain.versionMinor, 0, "writers write the lowest version that holds the graph")

    var b = ModelBuilder(metadata: metadata(width: 4, height: 4, landmarks: 6))
    let input = b.addTensor("input", .f32, [1, 4, 4, 3], role: .input)
    let y = b.addTensor("y", .f32, [1, 2, 2, 3])
    b.addNode(OpSchema.MaxPool(Window2D(kernel: 2, stride: 2, pad: 0)), "pool", inputs: [input], outputs: [y])
    b.addNode(OpSchema.Reshape(), "points", inputs: [y], outputs: [b.addTensor("landmarks", .f32, [1, 6, 2], role: .output)])
    var bytes = try b.serialize()
    // Stamp 1.0 and fix the header CRC.
    bytes[10] = 0
    bytes[11] = 0
    let crc = crc32(Array(bytes[0..<60]))
    for i in 0..<4 { bytes[60 + i] = UInt8((crc >> (8 * UInt32(i))) & 0xFF) }
    XCTAssertThrowsError(try ModelFile(bytes: bytes)) { error in
      XCTAssertTrue("\(error)".contains("MAXPOOL is a format 1.1 op but the file says 1.0"), "\(error)")
    }
  }
}

/// CRC-32 (IEEE), bitwise.
private func crc32(_ bytes: [UInt8]) -> UInt32 {
  var c: UInt32 = 0xFFFF_FFFF
  for b in bytes {
    c ^= UInt32(b)
    for _ in 0..<8 { c = (c >> 1) ^ (0xEDB8_8320 & (0 &- (c & 1))) }
  }
  return ~c
}

extension Window2D {
  /// [kernel_h, kernel_w, stride_h, stride_w, pad_top, pad_left, pad_bottom, pad_right], the file's order.
  init(_ g: [Int]) { self.init(kernel: (g[0], g[1]), stride: (g[2], g[3]), pads: (g[4], g[5], g[6], g[7])) }
}
