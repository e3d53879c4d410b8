import CLOTRKernels
import COpenBLAS

/// The steps with more preparation: convolutions, linears, attention, layout ops.
extension Network {
  func prepareConv(_ node: NodeInfo, index n: Int) throws -> () -> Void {
    let t = model.tensors
    let (xi, wi, bi, yi) = (node.inputs[0], node.inputs[1], node.inputs[2], node.outputs[0])
    let (x, y) = (t[xi], t[yi])
    let conv = node.attributes(as: OpSchema.Conv2D.self), window = conv.window
    var g = Self.geometry(window, x: x, y: y)
    let (cin, cout) = (x.shape[3], y.shape[3])
    let (kh, kw) = (window.kernelH, window.kernelW)
    let (oh, ow) = (y.shape[1], y.shape[2])
    let depthwise = conv.isDepthwise(inputChannels: cin, outputChannels: cout)
    guard conv.groups == 1 || depthwise else { throw NetworkError("grouped convolution (groups \(conv.groups)) is not supported") }
    let k = kernels.table
    let poolPointer = pool?.pointer

    if x.dtype == .i8 {
      guard y.dtype == .i8 else { throw NetworkError("int8 convolution with a float output is not supported") }
      let (sx, zx) = try perTensor(xi), (sy, zy) = try perTensor(yi)
      let (mult, shift) = try requantization(input: sx, weights: model.scales(wi), output: sy)
      let (lo, hi) = conv.clamp.quantized(scale: sy, zeroPoint: zy)
      let requant = AlignedBuffer<lotr_qs8_requant>(count: 1)
      requant[0] = lotr_qs8_requant(multiplier: mult.pointer, shift: shift.pointer, output_zero_point: zy,
                                    output_min: lo, output_max: hi)
      owned.append(requant)
      let geometry = AlignedBuffer<lotr_conv_geometry>(count: 1)
      geometry[0] = g
      owned.append(geometry)
      let px = pointer(xi).assumingMemoryBound(to: Int8.self), py = pointer(yi).assumingMemoryBound(to: Int8.self)
      let weights = model.data(wi).baseAddress!.assumingMemoryBound(to: Int8.self)
      let bias = model.data(bi).baseAddress!.assumingMemoryBound(to: Int32.self)
      if depthwise {
        guard conv.hasInt8Kernel(inputChannels: cin, outputChannels: cout) else {
          throw NetworkError("depthwise convolution must be 3x3 with stride 1 or 2")
        }
        let packed = AlignedBuffer<UInt8>(count: lotr_qs8_dwconv3x3_packed_size(k, cin))
        lotr_qs8_dwconv3x3_pack(k, cin, weights, bias, zx, packed.raw)
        owned.append(packed)
        packedBytes += packed.count
        let pw = UnsafeRawPointer(packed.raw)
        return { lotr_qs8_dwconv3x3(k, poolPointer, geometry.pointer, px, zx, pw, py, requant.pointer) }
      }
      let kk = kh * kw * cin
      let packed = AlignedBuffer<UInt8>(count: lotr_qs8_gemm_packed_size(k, cout, kk))
      lotr_qs8_gemm_pack(k, cout, kk, weights, bias, zx, packed.raw)
      owned.append(packed)
      packedBytes += packed.count
      let pw = UnsafeRawPointer(packed.raw)
      let scratch = lotr_qs8_conv2d_scratch_size(&g) > 0 ? scratch(n) : nil
      return { lotr_qs8_conv2d(k, poolPointer, geometry.pointer, px, zx, pw, py, requant.pointer, scratch) }
    }

    // Float reference path: im2col + SGEMM, depthwise as direct loops.
    let px = pointer(xi).assumingMemoryBound(to: Float.self), py = pointer(yi).assumingMemoryBound(to: Float.self)
    let pw = model.data(wi).baseAddress!.assumingMemoryBound(to: Float.self)
    let pb = model.data(bi).baseAddress!.assumingMemoryBound(to: Float.self)
    let (lo, hi) = (conv.clamp.min, conv.clamp.max)
    let (sh, sw, pt, pl) = (window.strideH, window.strideW, window.padTop, window.padLeft)
    let (ih, iw) = (x.shape[1], x.shape[2])
    if depthwise {
      let c = cin
      return {
        for oy in 0..<oh {
          for ox in 0..<ow {
            let out = py + (oy * ow + ox) * c
            for ch in 0..<c { out[ch] = pb[ch] }
            for ky in 0..<kh {
              let iy = oy * sh + ky - pt
              if iy < 0 || iy >= ih { continue }
              for kx in 0..<kw {
                let ix = ox * sw + kx - pl
                if ix < 0 || ix >= iw { continue }
                let inp = px + (iy * iw + ix) * c, wt = pw + (ky * kw + kx) * c
                for ch in 0..<c { out[ch] += inp[ch] * wt[ch] }
              }
            }
            for ch in 0..<c { out[ch] = min(max(out[ch], lo), hi) }
          }
        }
      }
    }
    let kk = kh * kw * cin, rows = oh * ow
    let pointwise = window.isPointwise
    let columns: UnsafeMutablePointer<Float> = pointwise ? px : scratch(n).assumingMemoryBound(to: Float.self)
    return {
      if !pointwise {
        for oy in 0..<oh {
          for ox in 0..<ow {
            var dst = columns + (oy * ow + ox) * kk
            for ky in 0..<kh {
              let iy = oy * sh + ky - pt
              for kx in 0..<kw {
                let ix = ox * sw + kx - pl
                if iy < 0 || iy >= ih || ix < 0 || ix >= iw {
                  dst.update(repeating: 0, count: cin)
                } else {
                  dst.update(from: px + (iy * iw + ix) * cin, count: cin)
                }
                dst += cin
              }
            }
          }
        }
      }
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(rows), Int32(cout), Int32(kk), 1, columns, Int32(kk),
                  pw, Int32(kk), 0, py, Int32(cout))
      for r in 0..<rows {
        let out = py + r * cout
        for ch in 0..<cout { out[ch] = min(max(out[ch] + pb[ch], lo), hi) }
      }
    }
  }

  func prepareLinear(_ node: NodeInfo) throws -> () -> Void {
    let t = model.tensors
    let (xi, wi, bi, yi) = (node.inputs[0], node.inputs[1], node.inputs[2], node.outputs[0])
    let (x, w, y) = (t[xi], t[wi], t[yi])
    let (nn, kk) = (w.shape[0], w.shape[1])
    let m = x.elementCount / kk
    let k = kernels.table
    let poolPointer = pool?.pointer
    let clamp = node.attributes(as: OpSchema.Linear.self).clamp
    let (lo, hi) = (clamp.min, clamp.max)
    if x.dtype == .i8 {
      let (sx, zx) = try perTensor(xi)
      let weightScales = model.scales(wi)
      let packed = AlignedBuffer<UInt8>(count: lotr_qs8_gemm_packed_size(k, nn, kk))
      lotr_qs8_gemm_pack(k, nn, kk, model.data(wi).baseAddress!.assumingMemoryBound(to: Int8.self),
                         model.data(bi).baseAddress!.assumingMemoryBound(to: Int32.self), zx, packed.raw)
      owned.append(packed)
      packedBytes += packed.count
      let pw = UnsafeRawPointer(packed.raw)
      let px = pointer(xi).assumingMemoryBound(to: Int8.self)
      if y.dtype == .i8 {
        let (sy, zy) = try perTensor(yi)
        let (mult, shift) = try requantization(input: sx, weights: weightScales, output: sy)
        let (qlo, qhi) = clamp.quantized(scale: sy, zeroPoint: zy)
        let requant = AlignedBuffer<lotr_qs8_requant>(count: 1)
        requant[0] = lotr_qs8_requant(multiplier: mult.pointer, shift: shift.pointer, output_zero_point: zy,
                                      output_min: qlo, output_max: qhi)
        owned.append(requant)
        let py = pointer(yi).assumingMemoryBound(to: Int8.self)
        return { lotr_qs8_gemm(k, poolPointer, m, nn, kk, px, kk, pw, py, nn, requant.pointer) }
      }
      let scales = AlignedBuffer<Float>(count: nn)
      for c in 0..<nn { scales[c] = sx * weightScales[c] }
      owned.append(scales)
      let py = pointer(yi).assumingMemoryBound(to: Float.self)
      let clamps = lo.isFinite || hi.isFinite
      let count = m * nn
      return {
        lotr_qs8_gemm_f32(k, poolPointer, m, nn, kk, px, kk, pw, py, nn, scales.pointer)
        if clamps { for i in 0..<count { py[i] = min(max(py[i], lo), hi) } }
      }
    }
    let px = pointer(xi).assumingMemoryBound(to: Float.self), py = pointer(yi).assumingMemoryBound(to: Float.self)
    let pw = model.data(wi).baseAddress!.assumingMemoryBound(to: Float.self)
    let pb = model.data(bi).baseAddress!.assumingMemoryBound(to: Float.self)
    return {
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(m), Int32(nn), Int32(kk), 1, px, Int32(kk), pw,
                  Int32(kk), 0, py, Int32(nn))
      for r in 0..<m {
        let out = py + r * nn
        for c in 0..<nn { out[c] = min(max(out[c] + pb[c], lo), hi) }
      }
    }
  }

  /// Multi-head attention: the projections Q = q Wq^T + bq (likewise K, V), per head
  /// softmax(Q_h K_h^T / sqrt(d_h)) V_h concatenated, in one fused float kernel call
  /// (`lotr_f32_attention`: each head's scores stay in cache, heads split over the pool),
  /// then the output projection. With int8 weights (an int8 model) each projection is an
  /// int8 GEMM on the pool: its float input quantized per row as it comes
  /// (`lotr_qs8_quantize_rows`), float out (`lotr_qs8_gemm_f32_rows`), and projections of
  /// one input share one GEMM (Q, K, V of a self-attention: N = 3D; Q, K when only they
  /// carry the position, or K, V of a cross-attention: 2D). Float weights of an int8 model
  /// are quantized per output channel at load (as lotr-quantize would). In a float model
  /// they are OpenBLAS SGEMMs, int8 weights dequantized once here.
  func prepareAttention(_ node: NodeInfo, index n: Int) throws -> () -> Void {
    let t = model.tensors
    let (lq, d) = (t[node.inputs[0]].shape[0], t[node.inputs[0]].shape[1])
    let lk = t[node.inputs[1]].shape[0]
    let heads = node.attributes(as: OpSchema.Attention.self).heads, dh = d / heads
    let weights = stride(from: 3, to: 11, by: 2).map { node.inputs[$0] }
    let b = stride(from: 4, to: 12, by: 2).map { UnsafePointer(pointer(node.inputs[$0]).assumingMemoryBound(to: Float.self)) }
    let query = pointer(node.inputs[0]).assumingMemoryBound(to: Float.self)
    let key = pointer(node.inputs[1]).assumingMemoryBound(to: Float.self)
    let value = pointer(node.inputs[2]).assumingMemoryBound(to: Float.self)
    let out = pointer(node.outputs[0]).assumingMemoryBound(to: Float.self)
    let int8 = Self.attentionRunsInt8(model)
    let layout = Self.attentionScratch(lq: lq, lk: lk, d: d, heads: heads, int8: int8)
    let base = scratch(n)
    let floats = base.assumingMemoryBound(to: Float.self)
    let o = floats + layout.output
    let attentionScratch = base + layout.core
    let scale = 1 / Float(dh).squareRoot()
    let kernelsTable = kernels.table
    let poolPointer = pool?.pointer

    guard int8 else {
      let (q, kp, vp) = (floats, floats + lq * d, floats + lq * d + lk * d)
      func floatWeights(_ id: Int) -> UnsafePointer<Float> {
        if t[id].dtype == .f32 { return UnsafePointer(model.data(id).baseAddress!.assumingMemoryBound(to: Float.self)) }
        let scales = model.scales(id), q = model.data(id).bindMemory(to: Int8.self)
        let buffer = AlignedBuffer<Float>(count: d * d)
        for r in 0..<d { for c in 0..<d { buffer[r * d + c] = Float(q[r * d + c]) * scales[r] } }
        owned.append(buffer)
        packedBytes += d * d * 4
        return UnsafePointer(buffer.pointer)
      }
      let w = weights.map(floatWeights)
      func project(_ x: UnsafePointer<Float>, rows: Int, _ weight: UnsafePointer<Float>, _ bias: UnsafePointer<Float>,
                   _ y: UnsafeMutablePointer<Float>) {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(rows), Int32(d), Int32(d), 1, x, Int32(d), weight,
                    Int32(d), 0, y, Int32(d))
        for r in 0..<rows {
          let row = y + r * d
          for c in 0..<d { row[c] += bias[c] }
        }
      }
      return {
        project(query, rows: lq, w[0], b[0], q)
        project(key, rows: lk, w[1], b[1], kp)
        project(value, rows: lk, w[2], b[2], vp)
        lotr_f32_attention(kernelsTable, poolPointer, lq, lk, heads, dh, scale, q, d, kp, vp, d, o, d, attentionScratch)
        project(o, rows: lq, w[3], b[3], out)
      }
    }

    // One int8 GEMM per distinct input: [rows, g*D] out of g projections' weights stacked.
    struct Projection { var input: UnsafePointer<Float>; var rows: Int; var packed: UnsafeRawPointer
                        var wScale: UnsafePointer<Float>; var bias: UnsafePointer<Float>; var output: UnsafeMutablePointer<Float>
                        var width: Int; var stride: Int }
    func projection(_ parts: [Int], input: UnsafePointer<Float>, rows: Int, output: UnsafeMutablePointer<Float>,
                    stride outputStride: Int? = nil) -> Projection {
      let width = parts.count * d
      let stacked = AlignedBuffer<Int8>(count: width * d)
      let wScale = AlignedBuffer<Float>(count: width), bias = AlignedBuffer<Float>(count: width)
      for (g, p) in parts.enumerated() {
        if t[weights[p]].dtype == .i8 {
          let q = model.data(weights[p]).bindMemory(to: Int8.self), scales = model.scales(weights[p])
          for i in 0..<(d * d) { stacked[g * d * d + i] = q[i] }
          for c in 0..<d { wScale[g * d + c] = scales[c] }
        } else {  // float weights in an int8 model: per output channel, symmetric, once
          lotr_qs8_quantize_rows(kernelsTable, d, d, model.data(weights[p]).baseAddress!.assumingMemoryBound(to: Float.self),
                                 d, stacked.pointer + g * d * d, d, wScale.pointer + g * d)
        }
        for c in 0..<d { bias[g * d + c] = b[p][c] }
      }
      let packed = AlignedBuffer<UInt8>(count: lotr_qs8_gemm_packed_size(kernelsTable, width, d))
      lotr_qs8_gemm_pack(kernelsTable, width, d, stacked.pointer, nil, 0, packed.raw)
      owned.append(packed); owned.append(wScale); owned.append(bias)
      packedBytes += packed.count + 8 * width
      return Projection(input: input, rows: rows, packed: UnsafeRawPointer(packed.raw), wScale: UnsafePointer(wScale.pointer),
                        bias: UnsafePointer(bias.pointer), output: output, width: width, stride: outputStride ?? width)
    }
    let (qi, ki, vi) = (node.inputs[0], node.inputs[1], node.inputs[2])
    var projections: [Projection] = []
    let (q, kp, vp): (UnsafeMutablePointer<Float>, UnsafeMutablePointer<Float>, UnsafeMutablePointer<Float>)
    let (qStride, kvStride): (Int, Int)
    if qi == ki && ki == vi {        // self-attention: [lq, 3D] = Q | K | V
      projections.append(projection([0, 1, 2], input: query, rows: lq, output: floats))
      (q, kp, vp, qStride, kvStride) = (floats, floats + d, floats + 2 * d, 3 * d, 3 * d)
    } else if qi == ki {              // self-attention, position on Q and K: [lq, 2D] = Q | K, then V at stride 2D
      projections.append(projection([0, 1], input: query, rows: lq, output: floats))
      projections.append(projection([2], input: value, rows: lk, output: floats + 2 * lq * d, stride: 2 * d))
      (q, kp, vp, qStride, kvStride) = (floats, floats + d, floats + 2 * lq * d, 2 * d, 2 * d)
    } else if ki == vi {              // cross-attention: Q [lq, D], then [lk, 2D] = K | V
      projections.append(projection([0], input: query, rows: lq, output: floats))
      projections.append(projection([1, 2], input: key, rows: lk, output: floats + lq * d))
      (q, kp, vp, qStride, kvStride) = (floats, floats + lq * d, floats + lq * d + d, d, 2 * d)
    } else {
      projections.append(projection([0], input: query, rows: lq, output: floats))
      projections.append(projection([1], input: key, rows: lk, output: floats + lq * d))
      projections.append(projection([2], input: value, rows: lk, output: floats + lq * d + lk * d))
      (q, kp, vp, qStride, kvStride) = (floats, floats + lq * d, floats + lq * d + lk * d, d, d)
    }
    let outputProjection = projection([3], input: UnsafePointer(o), rows: lq, output: out)
    let quantized = (base + layout.quantized).assumingMemoryBound(to: Int8.self)
    let rowScale = (base + layout.rowScales).assumingMemoryBound(to: Float.self)
    func run(_ p: Projection) {
      lotr_qs8_quantize_rows(kernelsTable, p.rows, d, p.input, d, quantized, d, rowScale)
      lotr_qs8_gemm_f32_rows(kernelsTable, poolPointer, p.rows, p.width, d, quantized, d, p.packed, p.output, p.stride,
                             p.wScale, rowScale, p.bias)
    }
    return {
      for p in projections { run(p) }
      lotr_f32_attention(kernelsTable, poolPointer, lq, lk, heads, dh, scale, q, qStride, kp, vp, kvStride, o, d,
                         attentionScratch)
      run(outputProjection)
    }
  }

  /// Byte offsets in an ATTENTION node's scratch: the projections' float outputs
  /// (Q, K, V however they are grouped: at most [lq, 2D] + [lk, 2D]), the heads' output
  /// [lq, D], for int8 weights the quantized input rows and their scales, then the fused
  /// core's scratch; every part 64-byte aligned.
  static func attentionRunsInt8(_ model: ModelFile) -> Bool { model.tensors.contains { $0.dtype == .i8 } }

  static func attentionScratch(lq: Int, lk: Int, d: Int, heads: Int, int8: Bool)
    -> (output: Int, quantized: Int, rowScales: Int, core: Int, bytes: Int) {
    func align(_ x: Int) -> Int { (x + 63) / 64 * 64 }
    let output = 2 * lq * d + 2 * lk * d             // in floats: after Q, K, V (grouped: see above)
    let quantized = align(4 * (output + lq * d))
    let rows = max(lq, lk)
    let rowScales = quantized + (int8 ? align(rows * d) : 0)
    let core = rowScales + (int8 ? align(4 * rows) : 0)
    return (output, quantized, rowScales, core, core + lotr_f32_attention_scratch_size(lk, d / heads, heads))
  }

  func prepareTranspose(_ node: NodeInfo) -> () -> Void {
    let x = model.tensors[node.inputs[0]]
    let rank = x.shape.count
    var shape = x.shape + [Int](repeating: 1, count: 4 - rank)
    let perm = node.attributes(as: OpSchema.Transpose.self).perm
    var strides = [Int](repeating: 0, count: 4)
    var s = 1
    for i in (0..<4).reversed() { strides[i] = s; s *= shape[i] }
    let outShape = perm.map { shape[$0] }
    let inStrides = perm.map { strides[$0] }
    shape = outShape
    let size = x.dtype.size
    let px = pointer(node.inputs[0]), py = pointer(node.outputs[0])
    return {
      var o = 0
      for a in 0..<shape[0] {
        for b in 0..<shape[1] {
          for c in 0..<shape[2] {
            for d in 0..<shape[3] {
              let i = a * inStrides[0] + b * inStrides[1] + c * inStrides[2] + d * inStrides[3]
              (py + o * size).copyMemory(from: px + i * size, byteCount: size)
              o += 1
            }
          }
        }
      }
    }
  }

  /// Fills y with real 0 (the zero point for i8), then copies each innermost row of x
  /// into place; axes counted from the left, shapes padded to rank 4 with leading 1s.
  func preparePad(_ node: NodeInfo) throws -> () -> Void {
    let x = model.tensors[node.inputs[0]], y = model.tensors[node.outputs[0]]
    let pad = node.attributes(as: OpSchema.Pad.self)
    let lead = 4 - x.shape.count
    let xs = [Int](repeating: 1, count: lead) + x.shape, ys = [Int](repeating: 1, count: lead) + y.shape
    let before = [Int](repeating: 0, count: lead) + pad.before.prefix(x.shape.count)
    let size = x.dtype.size
    // f32 0.0 is all zero bits; i8 real 0 is the zero point.
    let fillByte = x.dtype == .i8 ? UInt8(bitPattern: Int8(clamping: try perTensor(node.inputs[0]).zeroPoint)) : 0
    let px = pointer(node.inputs[0]), py = pointer(node.outputs[0])
    let row = xs[3] * size, yBytes = y.byteCount
    return {
      py.initializeMemory(as: UInt8.self, repeating: fillByte, count: yBytes)
      var src = px
      for a in 0..<xs[0] {
        for b in 0..<xs[1] {
          for c in 0..<xs[2] {
            let o = (((a + before[0]) * ys[1] + b + before[1]) * ys[2] + c + before[2]) * ys[3] + before[3]
            (py + o * size).copyMemory(from: src, byteCount: row)
            src += row
          }
        }
      }
    }
  }

  func prepareConcat(_ node: NodeInfo) -> () -> Void {
    let (a, b) = (model.tensors[node.inputs[0]], model.tensors[node.inputs[1]])
    let axis = node.attributes(as: OpSchema.Concat.self).axis
    let outer = a.shape[..<axis].reduce(1, *)
    let size = a.dtype.size
    let aChunk = a.shape[axis...].reduce(1, *) * size, bChunk = b.shape[axis...].reduce(1, *) * size
    let pa = pointer(node.inputs[0]), pb = pointer(node.inputs[1]), py = pointer(node.outputs[0])
    return {
      var dst = py
      for i in 0..<outer {
        dst.copyMemory(from: pa + i * aChunk, byteCount: aChunk); dst += aChunk
        dst.copyMemory(from: pb + i * bChunk, byteCount: bChunk); dst += bChunk
      }
    }
  }
}
