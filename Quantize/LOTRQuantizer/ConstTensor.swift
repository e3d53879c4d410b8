#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A tensor known at import time (an initializer, a Constant node, or anything computed
/// from them), row-major in ONNX's own layout. Floats are f32 as ONNX Runtime computes
/// them; integer types (shapes, indices, bools) are kept as Int64.
struct ConstTensor: Equatable {
  enum Elements: Equatable {
    case float([Float])
    case int([Int64])
  }

  var shape: [Int]
  var elements: Elements

  init(shape: [Int], floats: [Float]) {
    precondition(shape.reduce(1, *) == floats.count)
    self.shape = shape; elements = .float(floats)
  }

  init(shape: [Int], ints: [Int64]) {
    precondition(shape.reduce(1, *) == ints.count)
    self.shape = shape; elements = .int(ints)
  }

  static func scalar(_ v: Float) -> ConstTensor { ConstTensor(shape: [], floats: [v]) }
  static func vector(_ v: [Int64]) -> ConstTensor { ConstTensor(shape: [v.count], ints: v) }

  var count: Int { shape.reduce(1, *) }
  var isFloat: Bool { if case .float = elements { return true } else { return false } }

  var floats: [Float] {
    switch elements {
    case .float(let f): return f
    case .int(let i): return i.map { Float($0) }
    }
  }

  var ints: [Int64] {
    switch elements {
    case .float(let f): return f.map { Int64($0) }
    case .int(let i): return i
    }
  }

  /// Same elements, another shape of the same count.
  func reshaped(_ newShape: [Int]) -> ConstTensor {
    var t = self
    t.shape = newShape
    return t
  }

  /// Applies `f` elementwise, keeping the element kind.
  func mapElements(float f: (Float) -> Float, int g: (Int64) -> Int64) -> ConstTensor {
    switch elements {
    case .float(let v): return ConstTensor(shape: shape, floats: v.map(f))
    case .int(let v): return ConstTensor(shape: shape, ints: v.map(g))
    }
  }

  /// Gathers elements by flat index (used by every layout op below).
  func gathered(_ shape: [Int], _ indices: [Int]) -> ConstTensor {
    switch elements {
    case .float(let v): return ConstTensor(shape: shape, floats: indices.map { v[$0] })
    case .int(let v): return ConstTensor(shape: shape, ints: indices.map { v[$0] })
    }
  }
}

// MARK: index arithmetic

enum Shapes {
  static func strides(_ shape: [Int]) -> [Int] {
    var s = [Int](repeating: 1, count: shape.count)
    var acc = 1
    for i in stride(from: shape.count - 1, through: 0, by: -1) { s[i] = acc; acc *= shape[i] }
    return s
  }

  /// numpy broadcasting of two shapes, or nil when they do not broadcast.
  static func broadcast(_ a: [Int], _ b: [Int]) -> [Int]? {
    let r = max(a.count, b.count)
    let pa = [Int](repeating: 1, count: r - a.count) + a
    let pb = [Int](repeating: 1, count: r - b.count) + b
    var out: [Int] = []
    for i in 0..<r {
      if pa[i] == pb[i] || pb[i] == 1 { out.append(pa[i]) } else if pa[i] == 1 { out.append(pb[i]) } else { return nil }
    }
    return out
  }

  /// For each element of `target`, the flat index of the element of `shape` that
  /// broadcasting maps to it (shape must broadcast to target).
  static func broadcastIndices(from shape: [Int], to target: [Int]) -> [Int] {
    let padded = [Int](repeating: 1, count: target.count - shape.count) + shape
    let srcStrides = strides(padded)
    let n = target.reduce(1, *)
    var out = [Int](repeating: 0, count: n)
    var index = [Int](repeating: 0, count: target.count)
    for flat in 0..<n {
      var src = 0
      for d in 0..<target.count where padded[d] != 1 { src += index[d] * srcStrides[d] }
      out[flat] = src
      var d = target.count - 1
      while d >= 0 {
        index[d] += 1
        if index[d] < target[d] { break }
        index[d] = 0
        d -= 1
      }
    }
    return out
  }

  /// Flat source indices of `x.transpose(perm)` for a tensor of `shape`.
  static func transposeIndices(_ shape: [Int], _ perm: [Int]) -> (shape: [Int], indices: [Int]) {
    let outShape = perm.map { shape[$0] }
    let inStrides = strides(shape)
    let permStrides = perm.map { inStrides[$0] }
    let n = shape.reduce(1, *)
    var out = [Int](repeating: 0, count: n)
    var index = [Int](repeating: 0, count: perm.count)
    for flat in 0..<n {
      var src = 0
      for d in 0..<perm.count { src += index[d] * permStrides[d] }
      out[flat] = src
      var d = perm.count - 1
      while d >= 0 {
        index[d] += 1
        if index[d] < outShape[d] { break }
        index[d] = 0
        d -= 1
      }
    }
    return (outShape, out)
  }

  /// An axis attribute (possibly negative) as an index below `rank`, or nil.
  static func axis(_ a: Int, rank: Int) -> Int? {
    let v = a < 0 ? a + rank : a
    return (0..<max(rank, 1)).contains(v) ? v : nil
  }
}

// MARK: evaluation (constant folding)

extension ConstTensor {
  func broadcast(to target: [Int]) -> ConstTensor {
    if shape == target { return self }
    return gathered(target, Shapes.broadcastIndices(from: shape, to: target))
  }

  func transposed(_ perm: [Int]) -> ConstTensor {
    let (s, idx) = Shapes.transposeIndices(shape, perm)
    return gathered(s, idx)
  }

  /// numpy-broadcast binary op; integer when both are integer.
  static func binary(_ a: ConstTensor, _ b: ConstTensor, float f: (Float, Float) -> Float,
                     int g: ((Int64, Int64) -> Int64)?) -> ConstTensor? {
    guard let shape = Shapes.broadcast(a.shape, b.shape) else { return nil }
    let ia = Shapes.broadcastIndices(from: a.shape, to: shape)
    let ib = Shapes.broadcastIndices(from: b.shape, to: shape)
    if !a.isFloat, !b.isFloat, let g {
      let (x, y) = (a.ints, b.ints)
      return ConstTensor(shape: shape, ints: (0..<ia.count).map { g(x[ia[$0]], y[ib[$0]]) })
    }
    let (x, y) = (a.floats, b.floats)
    return ConstTensor(shape: shape, floats: (0..<ia.count).map { f(x[ia[$0]], y[ib[$0]]) })
  }

  /// ONNX MatMul (numpy matmul semantics, rank >= 1, batch dims broadcast), in float.
  static func matmul(_ a: ConstTensor, _ b: ConstTensor) -> ConstTensor? {
    var sa = a.shape, sb = b.shape
    let vecA = sa.count == 1, vecB = sb.count == 1
    if vecA { sa = [1] + sa }
    if vecB { sb = sb + [1] }
    guard sa.count >= 2, sb.count >= 2, sa[sa.count - 1] == sb[sb.count - 2] else { return nil }
    let (m, k, n) = (sa[sa.count - 2], sa[sa.count - 1], sb[sb.count - 1])
    guard let batch = Shapes.broadcast(Array(sa.dropLast(2)), Array(sb.dropLast(2))) else { return nil }
    let ba = ConstTensor(shape: sa, floats: a.floats).broadcast(to: batch + [m, k]).floats
    let bb = ConstTensor(shape: sb, floats: b.floats).broadcast(to: batch + [k, n]).floats
    let batches = batch.reduce(1, *)
    var out = [Float](repeating: 0, count: batches * m * n)
    for p in 0..<batches {
      for i in 0..<m {
        for j in 0..<n {
          var acc: Float = 0
          for t in 0..<k { acc += ba[p * m * k + i * k + t] * bb[p * k * n + t * n + j] }
          out[p * m * n + i * n + j] = acc
        }
      }
    }
    var shape = batch + [m, n]
    if vecB { shape.removeLast() }
    if vecA { shape.remove(at: shape.count - (vecB ? 1 : 2)) }
    return ConstTensor(shape: shape, floats: out)
  }

  /// Softmax over the last `axis`... (ONNX 13+: over one axis).
  func softmax(axis: Int) -> ConstTensor {
    let v = floats
    let outer = shape[..<axis].reduce(1, *), len = shape[axis], inner = shape[(axis + 1)...].reduce(1, *)
    var out = v
    for o in 0..<outer {
      for i in 0..<inner {
        let base = o * len * inner + i
        var mx = -Float.infinity
        for j in 0..<len { mx = max(mx, v[base + j * inner]) }
        var sum: Float = 0
        for j in 0..<len { let e = expf(v[base + j * inner] - mx); out[base + j * inner] = e; sum += e }
        for j in 0..<len { out[base + j * inner] /= sum }
      }
    }
    return ConstTensor(shape: shape, floats: out)
  }

  /// LayerNormalization over the axes from `axis` on.
  func layerNorm(axis: Int, epsilon: Float, gamma: ConstTensor, beta: ConstTensor?) -> ConstTensor {
    let v = floats
    let inner = shape[axis...].reduce(1, *), outer = count / max(inner, 1)
    let g = gamma.broadcast(to: Array(shape[axis...])).floats
    let b = beta?.broadcast(to: Array(shape[axis...])).floats ?? [Float](repeating: 0, count: inner)
    var out = v
    for o in 0..<outer {
      var mean: Float = 0
      for i in 0..<inner { mean += v[o * inner + i] }
      mean /= Float(inner)
      var variance: Float = 0
      for i in 0..<inner { let d = v[o * inner + i] - mean; variance += d * d }
      variance /= Float(inner)
      let r = 1 / (variance + epsilon).squareRoot()
      for i in 0..<inner { out[o * inner + i] = (v[o * inner + i] - mean) * r * g[i] + b[i] }
    }
    return ConstTensor(shape: shape, floats: out)
  }

  /// Mean over `axes` (sorted, non-negative).
  func reduceMean(axes: [Int], keepDims: Bool) -> ConstTensor {
    let v = floats
    var outShape = shape
    for a in axes { outShape[a] = 1 }
    let outCount = outShape.reduce(1, *)
    var sums = [Float](repeating: 0, count: outCount)
    let idx = Shapes.broadcastIndices(from: outShape, to: shape) // element -> its reduced slot
    for (e, slot) in idx.enumerated() { sums[slot] += v[e] }
    let n = Float(axes.map { shape[$0] }.reduce(1, *))
    let means = sums.map { $0 / n }
    let finalShape = keepDims ? outShape : shape.enumerated().filter { !axes.contains($0.offset) }.map(\.element)
    return ConstTensor(shape: finalShape, floats: means)
  }

  func concat(_ others: [ConstTensor], axis: Int) -> ConstTensor? {
    let all = [self] + others
    guard all.allSatisfy({ $0.shape.count == shape.count }) else { return nil }
    for t in all { for d in 0..<shape.count where d != axis && t.shape[d] != shape[d] { return nil } }
    var outShape = shape
    outShape[axis] = all.map { $0.shape[axis] }.reduce(0, +)
    let outer = shape[..<axis].reduce(1, *), inner = shape[(axis + 1)...].reduce(1, *)
    if all.allSatisfy({ !$0.isFloat }) {
      var out: [Int64] = []
      for o in 0..<outer { for t in all { let c = t.shape[axis] * inner; out += t.ints[(o * c)..<((o + 1) * c)] } }
      return ConstTensor(shape: outShape, ints: out)
    }
    var out: [Float] = []
    for o in 0..<outer { for t in all { let c = t.shape[axis] * inner; out += t.floats[(o * c)..<((o + 1) * c)] } }
    return ConstTensor(shape: outShape, floats: out)
  }

  /// ONNX Gather along `axis` with integer `indices` (negative wrap).
  func gather(_ indices: ConstTensor, axis: Int) -> ConstTensor? {
    let len = shape[axis]
    let outer = shape[..<axis].reduce(1, *), inner = shape[(axis + 1)...].reduce(1, *)
    var flat: [Int] = []
    let ids = indices.ints.map { Int($0 < 0 ? $0 + Int64(len) : $0) }
    guard ids.allSatisfy({ (0..<len).contains($0) }) else { return nil }
    for o in 0..<outer { for i in ids { for j in 0..<inner { flat.append((o * len + i) * inner + j) } } }
    let outShape = Array(shape[..<axis]) + indices.shape + Array(shape[(axis + 1)...])
    return gathered(outShape, flat)
  }

  /// ONNX Slice with starts/ends/axes/steps already read.
  func slice(starts: [Int64], ends: [Int64], axes: [Int], steps: [Int64]) -> ConstTensor? {
    var ranges = shape.map { Array(0..<$0) }
    for (i, a) in axes.enumerated() {
      let dim = Int64(shape[a]), step = steps[i]
      guard step != 0 else { return nil }
      var s = starts[i] < 0 ? starts[i] + dim : starts[i]
      var e = ends[i] < 0 ? ends[i] + dim : ends[i]
      if step > 0 {
        s = min(max(s, 0), dim); e = min(max(e, 0), dim)
        ranges[a] = Array(stride(from: Int(s), to: Int(e), by: Int(step)))
      } else {
        s = min(max(s, -1), dim - 1); e = min(max(e, -1), dim - 1)
        ranges[a] = Array(stride(from: Int(s), to: Int(e), by: Int(step)))
      }
    }
    let st = Shapes.strides(shape)
    var flat: [Int] = [0]
    for d in 0..<shape.count { flat = flat.flatMap { base in ranges[d].map { base + $0 * st[d] } } }
    return gathered(ranges.map(\.count), flat)
  }
}
