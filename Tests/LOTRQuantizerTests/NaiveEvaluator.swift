import Foundation
import LOTR

/// A deliberately plain float interpreter for .lotr graphs (loops straight from
/// docs/FORMAT.md), so the importer can be checked against ONNX Runtime / PyTorch without
/// the real executor. Test-only; slow; float models only.
struct NaiveEvaluator {
  let model: ModelFile

  func constant(_ id: Int) -> [Float] { Array(model.data(id).bindMemory(to: Float.self)) }

  /// Runs the graph on `input` (the .lotr input layout, NHWC) and returns every tensor.
  func run(_ input: [Float]) -> [Int: [Float]] {
    var v: [Int: [Float]] = [model.inputTensor: input]
    func get(_ id: Int) -> [Float] {
      if let x = v[id] { return x }
      let c = constant(id)
      v[id] = c
      return c
    }
    for n in model.nodes {
      let ins = n.inputs.map { get($0) }
      let shapes = n.inputs.map { model.tensors[$0].shape }
      let outShape = model.tensors[n.outputs[0]].shape
      v[n.outputs[0]] = eval(n, ins, shapes, outShape)
    }
    return v
  }

  func clamp(_ x: Float, _ lo: Float, _ hi: Float) -> Float { min(max(x, lo), hi) }

  func eval(_ n: NodeInfo, _ ins: [[Float]], _ shapes: [[Int]], _ out: [Int]) -> [Float] {
    let count = out.reduce(1, *)
    switch n.op {
    case .conv2d:
      let (x, w, b) = (ins[0], ins[1], ins[2])
      let (h, wd, cin) = (shapes[0][1], shapes[0][2], shapes[0][3])
      let g = n.attributes(as: OpSchema.Conv2D.self).window
      let (kh, kw, sh, sw, pt, pl) = (g.kernelH, g.kernelW, g.strideH, g.strideW, g.padTop, g.padLeft)
      let conv = n.attributes(as: OpSchema.Conv2D.self), groups = conv.groups
      let (oh, ow, cout) = (out[1], out[2], out[3])
      let depthwise = groups == cin && shapes[1][0] == 1 && cin > 1
      let cinG = cin / groups, coutG = cout / groups
      var y = [Float](repeating: 0, count: count)
      for oy in 0..<oh { for ox in 0..<ow { for o in 0..<cout {
        var acc = b[o]
        let g = o / coutG
        for ky in 0..<kh { for kx in 0..<kw {
          let iy = oy * sh - pt + ky, ix = ox * sw - pl + kx
          guard iy >= 0, iy < h, ix >= 0, ix < wd else { continue }
          if depthwise {
            acc += x[(iy * wd + ix) * cin + o] * w[(ky * kw + kx) * cout + o]
          } else {
            for i in 0..<cinG { acc += x[(iy * wd + ix) * cin + g * cinG + i] * w[((o * kh + ky) * kw + kx) * cinG + i] }
          }
        } }
        y[(oy * ow + ox) * cout + o] = clamp(acc, conv.clamp.min, conv.clamp.max)
      } } }
      return y

    case .deconv2d:
      let (x, w, b) = (ins[0], ins[1], ins[2])
      let (h, wd, cin) = (shapes[0][1], shapes[0][2], shapes[0][3])
      let g = n.attributes(as: OpSchema.Deconv2D.self).window
      let (kh, kw, sh, sw, pt, pl) = (g.kernelH, g.kernelW, g.strideH, g.strideW, g.padTop, g.padLeft)
      let (oh, ow, cout) = (out[1], out[2], out[3])
      var y = [Float](repeating: 0, count: count)
      for oy in 0..<oh { for ox in 0..<ow { for o in 0..<cout { y[(oy * ow + ox) * cout + o] = b[o] } } }
      for iy in 0..<h { for ix in 0..<wd { for ky in 0..<kh { for kx in 0..<kw {
        let oy = iy * sh - pt + ky, ox = ix * sw - pl + kx
        guard oy >= 0, oy < oh, ox >= 0, ox < ow else { continue }
        for o in 0..<cout { for i in 0..<cin {
          y[(oy * ow + ox) * cout + o] += x[(iy * wd + ix) * cin + i] * w[((o * kh + ky) * kw + kx) * cin + i]
        } }
      } } } }
      let c = n.attributes(as: OpSchema.Deconv2D.self).clamp
      return y.map { clamp($0, c.min, c.max) }

    case .add:
      let c = n.attributes(as: OpSchema.Add.self).clamp
      return zip(ins[0], ins[1]).map { clamp($0 + $1, c.min, c.max) }

    case .linear:
      let (x, w, b) = (ins[0], ins[1], ins[2])
      let linearClamp = n.attributes(as: OpSchema.Linear.self).clamp
      let (nn, k) = (shapes[1][0], shapes[1][1])
      let m = x.count / k
      var y = [Float](repeating: 0, count: m * nn)
      for r in 0..<m { for o in 0..<nn {
        var acc = b[o]
        for t in 0..<k { acc += x[r * k + t] * w[o * k + t] }
        y[r * nn + o] = clamp(acc, linearClamp.min, linearClamp.max)
      } }
      return y

    case .matmul:
      let (a, b) = (ins[0], ins[1])
      let (m, k) = (shapes[0][0], shapes[0][1])
      let mm = n.attributes(as: OpSchema.MatMul.self), tb = mm.transposeB
      let nn = out[1]
      var y = [Float](repeating: 0, count: m * nn)
      for r in 0..<m { for c in 0..<nn {
        var acc: Float = 0
        for t in 0..<k { acc += a[r * k + t] * (tb ? b[c * k + t] : b[t * nn + c]) }
        y[r * nn + c] = acc * mm.alpha
      } }
      return y

    case .batchMatMul:
      let (a, b) = (ins[0], ins[1])
      let (batch, m, k) = (shapes[0][0], shapes[0][1], shapes[0][2])
      let mm = n.attributes(as: OpSchema.BatchMatMul.self), tb = mm.transposeB
      let nn = out[2]
      var y = [Float](repeating: 0, count: batch * m * nn)
      for i in 0..<batch { for r in 0..<m { for c in 0..<nn {
        var acc: Float = 0
        for t in 0..<k { acc += a[(i * m + r) * k + t] * (tb ? b[(i * nn + c) * k + t] : b[(i * k + t) * nn + c]) }
        y[(i * m + r) * nn + c] = acc * mm.alpha
      } } }
      return y

    case .mul: return zip(ins[0], ins[1]).map { $0 * $1 }
    case .tanh: return ins[0].map { (x: Float) -> Float in tanh(x) }

    case .layerNorm:
      return layerNorm(ins[0], ins[1], ins[2], n.attributes(as: OpSchema.LayerNorm.self).epsilon)

    case .softmax:
      return softmax(ins[0], shapes[0].last!)

    case .relu: return ins[0].map { max($0, 0) }
    case .sigmoid: return ins[0].map { (x: Float) -> Float in 1 / (1 + exp(-x)) }
    case .gelu:
      let r: Float = 1 / Float(2).squareRoot()
      return ins[0].map { (x: Float) -> Float in 0.5 * x * (1 + erf(x * r)) }
    case .clamp:
      let r = n.attributes(as: OpSchema.Clamp.self).range
      return ins[0].map { clamp($0, r.min, r.max) }
    case .reshape: return ins[0]

    case .pad:
      // Walk the output; an index inside [before, before + input) reads the input, else 0.
      let s = shapes[0], p = n.attributes(as: OpSchema.Pad.self)
      var y = [Float](repeating: 0, count: count)
      var idx = [Int](repeating: 0, count: s.count)
      for flat in 0..<count {
        var src = 0, inside = true
        for d in 0..<s.count {
          let i = idx[d] - p.before[d]
          if i < 0 || i >= s[d] { inside = false; break }
          src = src * s[d] + i
        }
        if inside { y[flat] = ins[0][src] }
        var d = s.count - 1
        while d >= 0 { idx[d] += 1; if idx[d] < out[d] { break }; idx[d] = 0; d -= 1 }
      }
      return y

    case .transpose:
      let s = shapes[0]
      let perm = Array(n.attributes(as: OpSchema.Transpose.self).perm.prefix(s.count))
      var strides = [Int](repeating: 1, count: s.count)
      for i in stride(from: s.count - 2, through: 0, by: -1) { strides[i] = strides[i + 1] * s[i + 1] }
      var y = [Float](repeating: 0, count: count)
      var idx = [Int](repeating: 0, count: s.count)
      for flat in 0..<count {
        var src = 0
        for d in 0..<s.count { src += idx[d] * strides[perm[d]] }
        y[flat] = ins[0][src]
        var d = s.count - 1
        while d >= 0 { idx[d] += 1; if idx[d] < out[d] { break }; idx[d] = 0; d -= 1 }
      }
      return y

    case .concat:
      let axis = n.attributes(as: OpSchema.Concat.self).axis
      let outer = out[..<axis].reduce(1, *)
      let ca = shapes[0][axis...].reduce(1, *), cb = shapes[1][axis...].reduce(1, *)
      var y: [Float] = []
      for o in 0..<outer { y += ins[0][(o * ca)..<((o + 1) * ca)]; y += ins[1][(o * cb)..<((o + 1) * cb)] }
      return y

    case .attention:
      let (tq, d) = (shapes[0][0], shapes[0][1]), tk = shapes[1][0]
      let heads = n.attributes(as: OpSchema.Attention.self).heads, dh = d / heads
      func project(_ x: [Float], _ rows: Int, _ w: [Float], _ b: [Float]) -> [Float] {
        var y = [Float](repeating: 0, count: rows * d)
        for r in 0..<rows { for o in 0..<d {
          var acc = b[o]
          for t in 0..<d { acc += x[r * d + t] * w[o * d + t] }
          y[r * d + o] = acc
        } }
        return y
      }
      let q = project(ins[0], tq, ins[3], ins[4]), k = project(ins[1], tk, ins[5], ins[6]), v = project(ins[2], tk, ins[7], ins[8])
      var merged = [Float](repeating: 0, count: tq * d)
      let scale = 1 / Float(dh).squareRoot()
      for h in 0..<heads {
        for i in 0..<tq {
          var s = [Float](repeating: 0, count: tk)
          for j in 0..<tk {
            var acc: Float = 0
            for t in 0..<dh { acc += q[i * d + h * dh + t] * k[j * d + h * dh + t] }
            s[j] = acc * scale
          }
          let p = softmax(s, tk)
          for t in 0..<dh {
            var acc: Float = 0
            for j in 0..<tk { acc += p[j] * v[j * d + h * dh + t] }
            merged[i * d + h * dh + t] = acc
          }
        }
      }
      return project(merged, tq, ins[9], ins[10])

    case .maxPool:
      let x = ins[0]
      let (h, wd, c) = (shapes[0][1], shapes[0][2], shapes[0][3])
      let g = n.attributes(as: OpSchema.MaxPool.self).window
      let (kh, kw, sh, sw, pt, pl) = (g.kernelH, g.kernelW, g.strideH, g.strideW, g.padTop, g.padLeft)
      let (oh, ow) = (out[1], out[2])
      var y = [Float](repeating: -.infinity, count: count)
      for oy in 0..<oh { for ox in 0..<ow { for ch in 0..<c { for ky in 0..<kh { for kx in 0..<kw {
        let iy = oy * sh - pt + ky, ix = ox * sw - pl + kx
        guard iy >= 0, iy < h, ix >= 0, ix < wd else { continue }
        y[(oy * ow + ox) * c + ch] = max(y[(oy * ow + ox) * c + ch], x[(iy * wd + ix) * c + ch])
      } } } } }
      return y

    case .quantize, .dequantize:
      fatalError("NaiveEvaluator runs float graphs only")
    }
  }

  func softmax(_ x: [Float], _ len: Int) -> [Float] {
    var y = x
    for r in 0..<(x.count / len) {
      let row = x[(r * len)..<((r + 1) * len)]
      let m = row.max()!
      let e = row.map { exp($0 - m) }
      let s = e.reduce(0, +)
      for j in 0..<len { y[r * len + j] = e[j] / s }
    }
    return y
  }

  func layerNorm(_ x: [Float], _ g: [Float], _ b: [Float], _ eps: Float) -> [Float] {
    let c = g.count
    var y = x
    for r in 0..<(x.count / c) {
      let row = Array(x[(r * c)..<((r + 1) * c)])
      let mean = row.reduce(0, +) / Float(c)
      let variance = row.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Float(c)
      let inv = 1 / (variance + eps).squareRoot()
      for j in 0..<c { y[r * c + j] = (row[j] - mean) * inv * g[j] + b[j] }
    }
    return y
  }
}

/// NCHW [1, C, H, W] -> NHWC [1, H, W, C].
func nchwToNHWC(_ x: [Float], c: Int, h: Int, w: Int) -> [Float] {
  var y = [Float](repeating: 0, count: x.count)
  for ch in 0..<c { for i in 0..<h { for j in 0..<w { y[(i * w + j) * c + ch] = x[(ch * h + i) * w + j] } } }
  return y
}

func readFloats(_ path: String) throws -> [Float] {
  let data = try Data(contentsOf: URL(fileURLWithPath: path))
  return data.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
}
