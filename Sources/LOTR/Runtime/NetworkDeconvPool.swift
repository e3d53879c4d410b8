import COpenBLAS

/// DECONV2D (float) and MAXPOOL (float and int8).
extension Network {
  /// Scratch of a float DECONV2D: the GEMM's columns, [H*W, Cout*KH*KW] f32.
  static func deconvScratchBytes(_ node: NodeInfo, _ model: ModelFile) -> Int {
    let x = model.tensors[node.inputs[0]], w = model.tensors[node.inputs[1]]
    return x.shape[1] * x.shape[2] * w.shape[0] * w.shape[1] * w.shape[2] * 4
  }

  /// Transposed convolution, NHWC input [1, H, W, Cin], weight [Cout, KH, KW, Cin]: input
  /// pixel (iy, ix) adds x[iy, ix, :] . w[o, ky, kx, :] to output (iy*sh - pt + ky,
  /// ix*sw - pl + kx, o) when that lies inside the output (no kernel flip). As one SGEMM,
  /// columns[H*W, Cout*KH*KW] = x[H*W, Cin] x w^T (the weight read as [Cout*KH*KW, Cin],
  /// as stored), then a col2im scatter-add onto the bias, then the fused clamp.
  func prepareDeconv(_ node: NodeInfo, index n: Int) throws -> () -> Void {
    let t = model.tensors
    let (xi, wi, bi, yi) = (node.inputs[0], node.inputs[1], node.inputs[2], node.outputs[0])
    let (x, y) = (t[xi], t[yi])
    guard x.dtype == .f32 else {
      throw NetworkError("int8 DECONV2D is not supported (lotr-quantize keeps DECONV2D in float)")
    }
    let (ih, iw, cin) = (x.shape[1], x.shape[2], x.shape[3])
    let (oh, ow, cout) = (y.shape[1], y.shape[2], y.shape[3])
    let deconv = node.attributes(as: OpSchema.Deconv2D.self), window = deconv.window
    let (kh, kw) = (window.kernelH, window.kernelW)
    let (sh, sw, pt, pl) = (window.strideH, window.strideW, window.padTop, window.padLeft)
    let (lo, hi) = (deconv.clamp.min, deconv.clamp.max)
    let kk = kh * kw, columnsPerPixel = cout * kk, pixels = ih * iw
    let px = pointer(xi).assumingMemoryBound(to: Float.self), py = pointer(yi).assumingMemoryBound(to: Float.self)
    let pw = model.data(wi).baseAddress!.assumingMemoryBound(to: Float.self)
    let pb = model.data(bi).baseAddress!.assumingMemoryBound(to: Float.self)
    let columns = scratch(n).assumingMemoryBound(to: Float.self)
    return {
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(pixels), Int32(columnsPerPixel), Int32(cin), 1, px,
                  Int32(cin), pw, Int32(cin), 0, columns, Int32(columnsPerPixel))
      for p in 0..<(oh * ow) { (py + p * cout).update(from: pb, count: cout) }
      for iy in 0..<ih {
        for ix in 0..<iw {
          let col = columns + (iy * iw + ix) * columnsPerPixel
          for ky in 0..<kh {
            let oy = iy * sh - pt + ky
            if oy < 0 || oy >= oh { continue }
            for kx in 0..<kw {
              let ox = ix * sw - pl + kx
              if ox < 0 || ox >= ow { continue }
              let out = py + (oy * ow + ox) * cout
              let src = col + ky * kw + kx
              for o in 0..<cout { out[o] += src[o * kk] }
            }
          }
        }
      }
      if lo > -.infinity || hi < .infinity {
        for i in 0..<(oh * ow * cout) { py[i] = min(max(py[i], lo), hi) }
      }
    }
  }

  /// Max pooling over NHWC windows. Padded taps never win (they count as -inf / -128);
  /// the MAXPOOL schema keeps every pad below the kernel, so each window holds a real element.
  /// int8 runs on the raw integers: the input and output share one quantization and max
  /// commutes with the monotonic quantization, so it is exact.
  func prepareMaxPool(_ node: NodeInfo) -> () -> Void {
    let x = model.tensors[node.inputs[0]], y = model.tensors[node.outputs[0]]
    let w = node.attributes(as: OpSchema.MaxPool.self).window
    let g = PoolGeometry(ih: x.shape[1], iw: x.shape[2], c: x.shape[3], oh: y.shape[1], ow: y.shape[2],
                         kh: w.kernelH, kw: w.kernelW, sh: w.strideH, sw: w.strideW, pt: w.padTop, pl: w.padLeft)
    let px = pointer(node.inputs[0]), py = pointer(node.outputs[0])
    if x.dtype == .i8 {
      let (xs, ys) = (px.assumingMemoryBound(to: Int8.self), py.assumingMemoryBound(to: Int8.self))
      return { Self.maxPool(g, xs, ys, lowest: Int8.min) }
    }
    let (xs, ys) = (px.assumingMemoryBound(to: Float.self), py.assumingMemoryBound(to: Float.self))
    return { Self.maxPool(g, xs, ys, lowest: -Float.infinity) }
  }

  struct PoolGeometry {
    var ih, iw, c, oh, ow, kh, kw, sh, sw, pt, pl: Int
  }

  @inline(__always)
  static func maxPool<T: Comparable>(_ g: PoolGeometry, _ x: UnsafeMutablePointer<T>, _ y: UnsafeMutablePointer<T>, lowest: T) {
    let c = g.c
    for oy in 0..<g.oh {
      let y0 = max(0, oy * g.sh - g.pt), y1 = min(g.ih, oy * g.sh - g.pt + g.kh)
      for ox in 0..<g.ow {
        let x0 = max(0, ox * g.sw - g.pl), x1 = min(g.iw, ox * g.sw - g.pl + g.kw)
        let out = y + (oy * g.ow + ox) * c
        out.update(repeating: lowest, count: c)
        for iy in y0..<y1 {
          for ix in x0..<x1 {
            let src = x + (iy * g.iw + ix) * c
            for ch in 0..<c where src[ch] > out[ch] { out[ch] = src[ch] }
          }
        }
      }
    }
  }
}
