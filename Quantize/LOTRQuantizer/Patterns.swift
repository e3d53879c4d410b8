/// Pass 2 of the import: finds the multi-node patterns that map onto one .lotr op, on the
/// original ONNX graph (so that a branch the folder turned constant, such as the
/// decoder's first queries, is still seen with its projection).

/// A linear projection as PyTorch's nn.Linear exports it: MatMul(x, W[K, N]) then
/// Add(b[N], .) (either operand order), or a Gemm.
struct Projection {
  var input: String
  /// [N, K], the .lotr LINEAR layout.
  var weight: ConstTensor
  var bias: ConstTensor
  var nodes: [Int]
  var output: String
  /// The input tokens [T, K] themselves, when an exporter folded a constant operand's
  /// projection and head split away (the dynamo exporter does, for learned queries): the
  /// projection is then the identity.
  var constantTokens: ConstTensor? = nil
}

/// One recognised multi-head attention: softmax((x_q Wq + bq)_h (x_k Wk + bk)_h^T / sqrt(d_h))
/// (x_v Wv + bv)_h, heads merged, then the output projection.
struct AttentionMatch {
  var q: Projection, k: Projection, v: Projection, out: Projection
  var heads: Int
  var nodes: [Int]
  /// The ONNX node after which ATTENTION is emitted (the output projection's last node).
  var anchor: Int
  var name: String
}

/// LayerNorm written out (PyTorch before opset 17, or by hand): mean, centre, variance,
/// rsqrt, scale, shift.
struct LayerNormMatch {
  var input: String
  var epsilon: Float
  var gamma: ConstTensor?
  var beta: ConstTensor?
  var nodes: [Int]
  var anchor: Int
  var output: String
}

/// The exact GELU written out (PyTorch's nn.GELU at any opset below 20):
/// x · 0.5 · (1 + erf(x / sqrt(2))), the three factors multiplied in any order.
struct GELUMatch {
  var input: String
  var nodes: [Int]
  var anchor: Int
  var output: String
}

struct PatternMatcher {
  let a: GraphAnalysis

  func node(_ i: Int) -> Onnx_NodeProto { a.nodes[i] }

  /// The only reader of `v`, when there is exactly one and it is a node.
  func soleReader(_ v: String) -> Int? {
    let r = a.readers(v)
    return r.count == 1 && r[0] >= 0 ? r[0] : nil
  }

  func producer(_ v: String, _ op: String) -> Int? {
    guard let p = a.producer[v], node(p).opType == op else { return nil }
    return p
  }

  /// A projection ending in `v` (the value after the bias add).
  func projection(endingAt v: String) -> Projection? {
    if let add = producer(v, "Add") {
      let n = node(add)
      for (mmIn, bIn) in [(0, 1), (1, 0)] {
        guard let mm = producer(n.input[mmIn], "MatMul"), let bias = a.constants[n.input[bIn]],
              soleReader(n.input[mmIn]) == add, var p = projection(matmul: mm) else { continue }
        let nOut = p.weight.shape[0]
        guard bias.count == nOut, bias.shape.last == nOut else { continue }
        p.bias = ConstTensor(shape: [nOut], floats: bias.floats)
        p.nodes.append(add)
        p.output = v
        return p
      }
      return nil
    }
    if let mm = producer(v, "MatMul") { return projection(matmul: mm) }
    if let g = producer(v, "Gemm") { return projection(gemm: g) }
    return nil
  }

  private func projection(matmul mm: Int) -> Projection? {
    let n = node(mm)
    guard let w = a.constants[n.input[1]], w.shape.count == 2 else { return nil }
    return Projection(input: n.input[0], weight: w.transposed([1, 0]), bias: ConstTensor(shape: [w.shape[1]], floats: .init(repeating: 0, count: w.shape[1])),
                      nodes: [mm], output: n.output[0])
  }

  /// The projection whose first node reads `v`: MatMul(v, W) [+ Add(b)], or Gemm(v, W, C).
  func projection(startingAt v: String) -> Projection? {
    guard let r = soleReader(v) else { return nil }
    let n = node(r)
    guard n.input[0] == v, n.opType == "MatMul" || n.opType == "Gemm" else { return nil }
    var end = n.output[0]
    if n.opType == "MatMul", let add = soleReader(end), node(add).opType == "Add",
       node(add).input.contains(where: { a.constants[$0] != nil }) {
      end = node(add).output[0]
    }
    guard let p = projection(endingAt: end), p.input == v else { return nil }
    return p
  }

  /// Gemm(x, W, C) with transB = 1 (nn.Linear on a matrix), alpha = beta = 1.
  private func projection(gemm g: Int) -> Projection? {
    let n = node(g)
    guard n.int("transA", default: 0) == 0, (n.float("alpha") ?? 1) == 1, (n.float("beta") ?? 1) == 1,
          let w = a.constants[n.input[1]], w.shape.count == 2 else { return nil }
    let weight = n.int("transB", default: 0) != 0 ? w : w.transposed([1, 0])
    let nOut = weight.shape[0]
    var bias = [Float](repeating: 0, count: nOut)
    if n.input.count > 2, !n.input[2].isEmpty {
      guard let c = a.constants[n.input[2]], c.count == nOut || c.count == 1 else { return nil }
      bias = c.broadcast(to: [nOut]).floats
    }
    return Projection(input: n.input[0], weight: weight, bias: ConstTensor(shape: [nOut], floats: bias), nodes: [g], output: n.output[0])
  }

  // MARK: attention

  /// Ops that only move elements (or relabel the shape); their data is input 0, every other
  /// input a constant. Exporters split and merge heads with any mix of them.
  static let layoutOps: Set<String> = ["Reshape", "Transpose", "Squeeze", "Unsqueeze", "Flatten", "Identity", "Gather", "Slice", "Split"]

  /// A scalar constant multiplier: Mul(x, c), Mul(c, x) or Div(x, c) with one-element c;
  /// returns x and the factor.
  func scalarScaling(_ i: Int) -> (data: String, factor: Float)? {
    let n = node(i)
    guard n.opType == "Mul" || n.opType == "Div", n.input.count == 2 else { return nil }
    for (d, c) in [(0, 1), (1, 0)] where !(n.opType == "Div" && c == 0) {
      if let k = a.constants[n.input[c]], k.count == 1, a.constants[n.input[d]] == nil || a.isConstant(n.output[0]) {
        return (n.input[d], n.opType == "Div" ? 1 / k.floats[0] : k.floats[0])
      }
    }
    return nil
  }

  func isLayoutNode(_ i: Int) -> Bool {
    let n = node(i)
    return Self.layoutOps.contains(n.opType) && n.presentInputs.dropFirst().allSatisfy { a.isConstant($0) }
  }

  /// An attention operand traced back through layout nodes and scalar scalings to the
  /// value it rearranges (a projection's output).
  struct OperandTrace {
    var source: String
    /// From the operand back to the source, each with the output of it on the path.
    var steps: [(node: Int, output: String)]
    var factor: Float
    var nodes: [Int] { steps.map(\.node) }
  }

  func traceBack(_ v: String) -> OperandTrace {
    var t = OperandTrace(source: v, steps: [], factor: 1)
    while let p = a.producer[t.source] {
      if isLayoutNode(p) {
        t.steps.append((p, t.source)); t.source = node(p).input[0]
      } else if let (data, factor) = scalarScaling(p) {
        t.steps.append((p, t.source)); t.source = data; t.factor *= factor
      } else {
        break
      }
    }
    return t
  }

  /// Runs layout node `i` on `probe` (an integer tensor of the node's data input's shape),
  /// giving its `output`; scalings pass it through.
  func applyLayout(_ i: Int, output: String, to probe: ConstTensor) -> ConstTensor? {
    let n = node(i)
    guard let outShape = a.shapes[output] else { return nil }
    func c(_ k: Int) -> ConstTensor? { k < n.input.count && !n.input[k].isEmpty ? a.constants[n.input[k]] : nil }
    switch n.opType {
    case "Transpose":
      return probe.transposed(n.ints("perm") ?? Array((0..<probe.shape.count).reversed()))
    case "Gather":
      guard let idx = c(1), let ax = Shapes.axis(n.int("axis", default: 0), rank: probe.shape.count) else { return nil }
      return probe.gather(idx, axis: ax)
    case "Slice":
      guard let starts = c(1)?.ints, let ends = c(2)?.ints else { return nil }
      let axes = (c(3)?.ints.map { Int($0) } ?? Array(0..<starts.count)).compactMap { Shapes.axis($0, rank: probe.shape.count) }
      let steps = c(4)?.ints ?? [Int64](repeating: 1, count: starts.count)
      guard axes.count == starts.count else { return nil }
      return probe.slice(starts: starts, ends: ends, axes: axes, steps: steps)
    case "Split":
      guard let ax = Shapes.axis(n.int("axis", default: 0), rank: probe.shape.count), let k = n.output.firstIndex(of: output),
            let parts = try? a.splitSizes(n, length: probe.shape[ax]) else { return nil }
      let start = parts[..<k].reduce(0, +)
      return probe.slice(starts: [Int64(start)], ends: [Int64(start + parts[k])], axes: [ax], steps: [1])
    case "Mul", "Div":
      return probe
    default: // Reshape, Squeeze, Unsqueeze, Flatten, Identity
      return probe.count == outShape.reduce(1, *) ? probe.reshaped(outShape) : nil
    }
  }

  /// Element i of the probe tensor of `shape` holds i.
  static func indexProbe(_ shape: [Int]) -> ConstTensor {
    ConstTensor(shape: shape, ints: (0..<Int64(shape.reduce(1, *))).map { $0 })
  }

  /// A per-head tensor [H, A, B] as rank 4 with batch 1, rank 3, or rank 2 (one head).
  static func perHead(_ s: [Int]) -> [Int]? {
    switch s.count {
    case 4 where s[0] == 1: return Array(s[1...])
    case 3: return s
    case 2: return [1] + s
    default: return nil
    }
  }

  /// Where an attention operand's elements come from in its projection: the operand
  /// [H, T, dh] (or [H, dh, T] when `transposed`, k of q kᵀ) must be the projection's
  /// [T, C] columns c0 + h dh + d, for one c0. Returns c0 (the packed q/k/v offset).
  func headColumns(_ t: OperandTrace, operand: String, heads h: Int, headDim dh: Int, tokens: Int, transposed: Bool) -> Int? {
    guard let src = a.shapes[t.source], let c = src.last, src.count >= 2, src.dropLast().reduce(1, *) == tokens else { return nil }
    var probe = Self.indexProbe(src)
    for (i, output) in t.steps.reversed() {
      guard let next = applyLayout(i, output: output, to: probe) else { return nil }
      probe = next
    }
    guard probe.shape == a.shapes[operand] else { return nil }
    let v = probe.ints
    let c0 = Int(v[0]) % c
    guard c0 + h * dh <= c else { return nil }
    var i = 0
    for head in 0..<h {
      for x in 0..<(transposed ? dh : tokens) {
        for y in 0..<(transposed ? tokens : dh) {
          let (tok, d) = transposed ? (y, x) : (x, y)
          guard v[i] == Int64(tok * c + c0 + head * dh + d) else { return nil }
          i += 1
        }
      }
    }
    return c0
  }

  /// One operand of the attention: its projection, the column offset of its heads in it,
  /// and the scale on the way. A constant operand without a projection to trace back to
  /// becomes its own tokens, [T, H dh], under an identity projection (its scale is in it).
  func side(_ t: OperandTrace, operand: String, heads h: Int, headDim dh: Int, tokens: Int,
            transposed: Bool) -> (Projection, Int, Float)? {
    if let p = projection(endingAt: t.source),
       let c0 = headColumns(t, operand: operand, heads: h, headDim: dh, tokens: tokens, transposed: transposed) {
      return (p, c0, t.factor)
    }
    guard let c = a.constants[operand], let s = Self.perHead(c.shape), s == (transposed ? [h, dh, tokens] : [h, tokens, dh]) else { return nil }
    let d = h * dh
    let v = c.floats
    var tok = [Float](repeating: 0, count: tokens * d)
    for head in 0..<h {
      for t in 0..<tokens {
        for j in 0..<dh {
          tok[t * d + head * dh + j] = transposed ? v[(head * dh + j) * tokens + t] : v[(head * tokens + t) * dh + j]
        }
      }
    }
    var identity = [Float](repeating: 0, count: d * d)
    for i in 0..<d { identity[i * d + i] = 1 }
    let p = Projection(input: operand, weight: ConstTensor(shape: [d, d], floats: identity), bias: ConstTensor(shape: [d], floats: .init(repeating: 0, count: d)),
                       nodes: [], output: operand, constantTokens: ConstTensor(shape: [tokens, d], floats: tok))
    return (p, 0, 1)
  }

  /// Rows c0 ..< c0 + count of a projection (its [N, K] weight and bias).
  static func rows(_ p: Projection, _ c0: Int, _ count: Int) -> Projection {
    var q = p
    let k = p.weight.shape[1]
    q.weight = ConstTensor(shape: [count, k], floats: Array(p.weight.floats[(c0 * k)..<((c0 + count) * k)]))
    q.bias = ConstTensor(shape: [count], floats: Array(p.bias.floats[c0..<(c0 + count)]))
    return q
  }

  /// All attentions whose result is not already a constant.
  func attentions() -> [AttentionMatch] {
    var out: [AttentionMatch] = []
    var taken = Set<Int>()
    for (i, sm) in a.nodes.enumerated() where sm.opType == "Softmax" && !a.isConstant(sm.output[0]) {
      guard let m = attention(softmax: i), taken.isDisjoint(with: m.nodes) else { continue }
      taken.formUnion(m.nodes)
      out.append(m)
    }
    return out
  }

  /// softmax(s (q kᵀ)) v with q, k, v heads rearranged from projections by any chain of
  /// layout nodes (checked by tracing element indices, so every exporter's mix of
  /// Reshape/Transpose/Squeeze/Gather works, packed in-projections included) and scalar
  /// scalings anywhere on q, k or the scores; the heads merged back by layout nodes into
  /// the output projection. The scale s is folded into q's projection, so ATTENTION's
  /// fixed 1/sqrt(dh) gives the same scores.
  private func attention(softmax i: Int) -> AttentionMatch? {
    let sm = node(i)
    guard let scores = a.shapes[sm.input[0]], let ph = Self.perHead(scores) else { return nil }
    var nodes = [i]
    var factor: Float = 1
    var scoresValue = sm.input[0]
    while let p = a.producer[scoresValue], soleReader(scoresValue) == nodes.last, let (data, f) = scalarScaling(p) {
      nodes.append(p); factor *= f; scoresValue = data
    }
    guard let mm1 = producer(scoresValue, "MatMul"), soleReader(scoresValue) == nodes.last else { return nil }
    nodes.append(mm1)
    let qOperand = node(mm1).input[0], kOperand = node(mm1).input[1]
    guard let qShape = a.shapes[qOperand].flatMap(Self.perHead) else { return nil }
    let (h, tq, dh) = (qShape[0], qShape[1], qShape[2])
    let tk = ph[2]
    guard ph == [h, tq, tk] else { return nil }

    // Weighted sum: MatMul(softmax, v), read only there.
    guard let mm2 = soleReader(sm.output[0]), node(mm2).opType == "MatMul", node(mm2).input[0] == sm.output[0] else { return nil }
    let vOperand = node(mm2).input[1]
    let qt = traceBack(qOperand), kt = traceBack(kOperand), vt = traceBack(vOperand)
    guard let (qp, qc, qf) = side(qt, operand: qOperand, heads: h, headDim: dh, tokens: tq, transposed: false),
          let (kp, kc, kf) = side(kt, operand: kOperand, heads: h, headDim: dh, tokens: tk, transposed: true),
          let (vp, vc, vf) = side(vt, operand: vOperand, heads: h, headDim: dh, tokens: tk, transposed: false),
          vf == 1 else { return nil }
    factor *= qf * kf
    let d = h * dh

    // Heads merged: [H, Tq, dh] -> layout nodes -> [.., Tq, D] read by the output projection.
    var merged = node(mm2).output[0]
    var mergeNodes: [Int] = []
    while let r = soleReader(merged), isLayoutNode(r), node(r).input[0] == merged, node(r).output.count == 1 {
      mergeNodes.append(r); merged = node(r).output[0]
    }
    guard let o = projection(startingAt: merged), let ms = a.shapes[merged], ms.last == d, ms.dropLast().reduce(1, *) == tq,
          let ys = a.shapes[node(mm2).output[0]] else { return nil }
    var probe = Self.indexProbe(ys)
    for r in mergeNodes {
      guard let next = applyLayout(r, output: node(r).output[0], to: probe) else { return nil }
      probe = next
    }
    let v = probe.ints
    for t in 0..<tq {
      for c in 0..<d where v[t * d + c] != Int64(((c / dh) * tq + t) * dh + c % dh) { return nil }
    }

    var q = Self.rows(qp, qc, d)
    let k = Self.rows(kp, kc, d), vv = Self.rows(vp, vc, d)
    for p in [q, k, vv, o] where p.weight.shape != [d, d] { return nil } // ATTENTION: square projections
    // Fold the exporter's score scale into q: s (q kᵀ) = (c q) kᵀ / sqrt(dh) with c = s sqrt(dh).
    let c = factor * Float(dh).squareRoot()
    if abs(c - 1) > 1e-6 {
      q.weight = q.weight.mapElements(float: { $0 * c }, int: { $0 })
      q.bias = q.bias.mapElements(float: { $0 * c }, int: { $0 })
    }
    let traced = [(qt, qp), (kt, kp), (vt, vp)].flatMap { t, p in p.constantTokens == nil ? t.nodes : [] }
    var all = Set(nodes + traced + qp.nodes + kp.nodes + vp.nodes + [mm2] + mergeNodes + o.nodes)
    // Every value the match computes must be read only inside it (or only for its shape).
    let anchor = o.nodes.max()!
    for n in all where n != anchor {
      for out in node(n).output where !out.isEmpty {
        for r in a.readers(out) where !all.contains(r) {
          guard r >= 0, node(r).output.allSatisfy({ $0.isEmpty || a.isConstant($0) }) else { return nil }
        }
      }
    }
    all.remove(anchor)
    let prefix = sm.name.split(separator: "/").dropLast().joined(separator: "/")
    return AttentionMatch(q: q, k: k, v: vv, out: o, heads: h, nodes: Array(all) + [anchor], anchor: anchor,
                          name: prefix.isEmpty ? sm.displayName : (sm.name.hasPrefix("/") ? "/" : "") + prefix)
  }

  // MARK: GELU

  /// Decomposed exact GELUs.
  func gelus() -> [GELUMatch] {
    a.nodes.indices.compactMap { i in a.nodes[i].opType == "Erf" && !a.isConstant(a.nodes[i].output[0]) ? gelu(erf: i) : nil }
  }

  private func gelu(erf i: Int) -> GELUMatch? {
    func near(_ v: Float, _ w: Float) -> Bool { abs(v - w) <= 1e-4 * abs(w) }
    guard let scaling = a.producer[node(i).input[0]], soleReader(node(i).input[0]) == i,
          let (x, f) = scalarScaling(scaling), near(f, 1 / Float(2).squareRoot()), !a.isConstant(x),
          let add = soleReader(node(i).output[0]), let (one, _) = addedScalar(add), near(one, 1) else { return nil }
    var nodes = [scaling, i, add]
    let erfPlusOne = node(add).output[0]
    // The remaining factors x and 0.5, in one of the three orders exporters write.
    guard let m1 = soleReader(erfPlusOne), node(m1).opType == "Mul" else { return nil }
    nodes.append(m1)
    let other = node(m1).input[0] == erfPlusOne ? node(m1).input[1] : node(m1).input[0]
    var output = node(m1).output[0]
    if other == x {                                             // (x · (1 + erf)) · 0.5
      guard let m2 = soleReader(output), let (_, h) = scalarScaling(m2), near(h, 0.5) else { return nil }
      nodes.append(m2); output = node(m2).output[0]
    } else if let half = a.producer[other], let (d, h) = scalarScaling(half), d == x, near(h, 0.5), soleReader(other) == m1 {
      nodes.append(half)                                        // (0.5 · x) · (1 + erf)
    } else if let (_, h) = scalarScaling(m1), near(h, 0.5) {    // x · ((1 + erf) · 0.5)
      guard let m2 = soleReader(output), node(m2).opType == "Mul", node(m2).input.contains(x) else { return nil }
      nodes.append(m2); output = node(m2).output[0]
    } else {
      return nil
    }
    return GELUMatch(input: x, nodes: nodes, anchor: nodes.max()!, output: output)
  }

  /// Add(x, c) or Add(c, x) with a one-element constant c: c and x.
  func addedScalar(_ i: Int) -> (Float, String)? {
    let n = node(i)
    guard n.opType == "Add" else { return nil }
    for (c, d) in [(1, 0), (0, 1)] {
      if let k = a.constants[n.input[c]], k.count == 1, !a.isConstant(n.input[d]) { return (k.floats[0], n.input[d]) }
    }
    return nil
  }

  /// Decomposed LayerNorms over the last axis.
  func layerNorms() -> [LayerNormMatch] {
    var out: [LayerNormMatch] = []
    for (i, n) in a.nodes.enumerated() where n.opType == "ReduceMean" && !a.isConstant(n.output[0]) {
      if let m = layerNorm(mean: i) { out.append(m) }
    }
    return out
  }

  private func lastAxisOnly(_ i: Int) -> Bool {
    let n = node(i)
    guard let rank = a.shapes[n.input[0]]?.count, n.int("keepdims", default: 1) == 1 else { return false }
    let axes = n.input.count > 1 ? a.constants[n.input[1]]?.ints.map { Int($0) } : n.ints("axes")
    guard let axes, axes.count == 1 else { return false }
    return Shapes.axis(axes[0], rank: rank) == rank - 1
  }

  /// d = x - mean(x); var = mean(d²) with d² as Pow(d, 2) or Mul(d, d); then d / sqrt(var + eps),
  /// or d · 1/sqrt(var + eps) (Reciprocal(Sqrt), Div(1, Sqrt) or Pow(., -0.5), as torch.rsqrt and
  /// hand-written norms export it); then an optional scale and shift by constants [C].
  private func layerNorm(mean i: Int) -> LayerNormMatch? {
    let mean = node(i)
    let x = mean.input[0]
    guard lastAxisOnly(i), let sub = soleReader(mean.output[0]), node(sub).opType == "Sub",
          node(sub).input == [x, mean.output[0]] else { return nil }
    let centred = node(sub).output[0]
    func isScalar(_ v: String, _ value: Float) -> Bool { a.constants[v].map { $0.count == 1 && $0.floats[0] == value } ?? false }
    let readers = Set(a.readers(centred))
    guard readers.count == 2, let square = readers.first(where: { r in
            let n = node(r)
            return (n.opType == "Pow" && n.input[0] == centred && isScalar(n.input[1], 2)) || (n.opType == "Mul" && n.input == [centred, centred])
          }),
          let varMean = soleReader(node(square).output[0]), node(varMean).opType == "ReduceMean", lastAxisOnly(varMean),
          let addEps = soleReader(node(varMean).output[0]), let (epsilon, _) = addedScalar(addEps),
          let normalise = readers.subtracting([square]).first else { return nil }
    var nodes = [i, sub, square, varMean, addEps]
    // From var + eps to the node that applies it to d.
    var v = node(addEps).output[0]
    var divides: Bool
    if let sqrt = soleReader(v), node(sqrt).opType == "Sqrt" {
      nodes.append(sqrt); v = node(sqrt).output[0]
      if let rec = soleReader(v), node(rec).opType == "Reciprocal" || (node(rec).opType == "Div" && node(rec).input[1] == v && isScalar(node(rec).input[0], 1)) {
        nodes.append(rec); v = node(rec).output[0]; divides = false // Reciprocal(s), or Div(1, s) (torch.rsqrt)
      } else {
        divides = true
      }
    } else if let pow = soleReader(v), node(pow).opType == "Pow", node(pow).input[0] == v, isScalar(node(pow).input[1], -0.5) {
      nodes.append(pow); v = node(pow).output[0]; divides = false
    } else {
      return nil
    }
    let n = node(normalise)
    guard soleReader(v) == normalise,
          divides ? n.opType == "Div" && n.input == [centred, v] : n.opType == "Mul" && Set(n.input) == [centred, v] else { return nil }
    nodes.append(normalise)
    var output = n.output[0]
    var gamma: ConstTensor? = nil, beta: ConstTensor? = nil
    let c = a.shapes[x]!.last!
    func constantOperand(_ r: Int, _ op: String) -> ConstTensor? {
      let n = node(r)
      guard n.opType == op, n.input.count == 2, let k = n.input.first(where: { $0 != output }), n.input.contains(output),
            let t = a.constants[k], t.count == c, t.shape.last == c else { return nil }
      return t
    }
    if let mul = soleReader(output), let g = constantOperand(mul, "Mul") {
      gamma = g; nodes.append(mul); output = node(mul).output[0]
      if let add = soleReader(output), let b = constantOperand(add, "Add") {
        beta = b; nodes.append(add); output = node(add).output[0]
      }
    }
    return LayerNormMatch(input: x, epsilon: epsilon, gamma: gamma, beta: beta, nodes: nodes, anchor: nodes.max()!, output: output)
  }

}
