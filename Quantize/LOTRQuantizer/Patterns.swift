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

/// LayerNorm written out (PyTorch before opset 17): mean, centre, variance, rsqrt, scale, shift.
struct LayerNormMatch {
  var input: String
  var epsilon: Float
  var gamma: ConstTensor?
  var beta: ConstTensor?
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
    return nil
  }

  private func projection(matmul mm: Int) -> Projection? {
    let n = node(mm)
    guard let w = a.constants[n.input[1]], w.shape.count == 2 else { return nil }
    return Projection(input: n.input[0], weight: w.transposed([1, 0]), bias: ConstTensor(shape: [w.shape[1]], floats: .init(repeating: 0, count: w.shape[1])),
                      nodes: [mm], output: n.output[0])
  }

  /// `v` = Transpose(Reshape(projection, [1, T, h, dh]), perm) for one of `perms` (a
  /// two-transpose chain composes); returns the projection, h and the nodes.
  func headSplit(_ v: String, perm wanted: [Int]) -> (Projection, heads: Int, nodes: [Int])? {
    var nodes: [Int] = []
    var composed = [0, 1, 2, 3]
    var cur = v
    while let t = producer(cur, "Transpose") {
      let n = node(t)
      guard let perm = n.ints("perm"), perm.count == 4 else { return nil }
      composed = composed.map { perm[$0] } // out axis i reads in axis perm[i]
      nodes.append(t)
      cur = n.input[0]
      if nodes.count > 1 {
        guard a.readers(n.output[0]).count == 1 else { return nil }
      }
    }
    // composed[i] is the axis of the pre-transpose tensor that output axis i reads.
    guard !nodes.isEmpty, composed == wanted, let r = producer(cur, "Reshape"), a.readers(cur).count == 1 else { return nil }
    let rs = node(r)
    guard let s = a.shapes[cur], s.count == 4, s[0] == 1, let src = a.shapes[rs.input[0]], src.count == 3,
          src[0] == 1, src[1] == s[1], src[2] == s[2] * s[3], a.readers(rs.input[0]).count == 1,
          let p = projection(endingAt: rs.input[0]) else { return nil }
    return (p, s[2], nodes + [r])
  }

  /// All attentions whose result is not already a constant.
  func attentions() throws -> [AttentionMatch] {
    var out: [AttentionMatch] = []
    for (i, sm) in a.nodes.enumerated() where sm.opType == "Softmax" && !a.isConstant(sm.output[0]) {
      guard let m = try attention(softmax: i) else { continue }
      out.append(m)
    }
    return out
  }

  private func attention(softmax i: Int) throws -> AttentionMatch? {
    let sm = node(i)
    guard let s = a.shapes[sm.input[0]], s.count == 4 else { return nil }
    var nodes = [i]
    // Scores: MatMul(q, k^T), scaled by Mul or Div with a scalar constant.
    var scoresValue = sm.input[0]
    var scale: Float = 1
    if let mul = producer(scoresValue, "Mul") ?? producer(scoresValue, "Div"), soleReader(scoresValue) == i {
      let n = node(mul)
      let isDiv = n.opType == "Div"
      let constIndex = a.constants[n.input[1]].map { _ in 1 } ?? (isDiv ? nil : a.constants[n.input[0]].map { _ in 0 })
      guard let ci = constIndex, let c = a.constants[n.input[ci]], c.count == 1 else { return nil }
      scale = isDiv ? 1 / c.floats[0] : c.floats[0]
      nodes.append(mul)
      scoresValue = n.input[1 - ci]
    }
    guard let mm1 = producer(scoresValue, "MatMul"), soleReader(scoresValue) == nodes.last else { return nil }
    nodes.append(mm1)
    let scoresMM = node(mm1)
    guard let (q, hq, qNodes) = headSplit(scoresMM.input[0], perm: [0, 2, 1, 3]),
          let (k, hk, kNodes) = headSplit(scoresMM.input[1], perm: [0, 2, 3, 1]) else {
      throw ImportError.node(sm, "softmax over attention scores, but the scores are not MatMul(split heads of q, split heads of k transposed) as training/lotr_train/model.py exports them")
    }
    // Weighted sum: MatMul(softmax, v), heads merged back, output projection.
    let fail = { (why: String) in ImportError.node(sm, "attention pattern: \(why)") }
    guard let mm2 = soleReader(sm.output[0]), node(mm2).opType == "MatMul", node(mm2).input[0] == sm.output[0] else {
      throw fail("the softmax output is not read only by MatMul(softmax, v)")
    }
    guard let (v, hv, vNodes) = headSplit(node(mm2).input[1], perm: [0, 2, 1, 3]) else { throw fail("v is not split into heads as expected") }
    guard let tr = soleReader(node(mm2).output[0]), node(tr).opType == "Transpose", node(tr).ints("perm") == [0, 2, 1, 3] else {
      throw fail("the per-head result is not transposed back with perm [0, 2, 1, 3]")
    }
    guard let rs = soleReader(node(tr).output[0]), node(tr).output.count == 1, node(rs).opType == "Reshape",
          let merged = a.shapes[node(rs).output[0]], merged.count == 3 else {
      throw fail("the heads are not merged by a Reshape to [1, T, D]")
    }
    guard let outMM = soleReader(node(rs).output[0]), node(outMM).opType == "MatMul" else { throw fail("no output projection after the merged heads") }
    let outEnd = soleReader(node(outMM).output[0]).flatMap { r -> String? in
      node(r).opType == "Add" && (a.constants[node(r).input[0]] != nil || a.constants[node(r).input[1]] != nil) ? node(r).output[0] : nil
    } ?? node(outMM).output[0]
    guard let o = projection(endingAt: outEnd), o.input == node(rs).output[0] else { throw fail("the output projection is not a constant MatMul + Add") }

    let d = q.weight.shape[0]
    guard hq == hk, hk == hv, d % hq == 0, merged == [1, s[2], d] else {
      throw fail("head counts \(hq)/\(hk)/\(hv) or merged shape \(merged) do not agree with D = \(d)")
    }
    for p in [q, k, v, o] where p.weight.shape != [d, d] {
      throw fail("projection weight \(p.weight.shape) is not [\(d), \(d)] (ATTENTION needs square q/k/v/out projections)")
    }
    let dh = d / hq
    let expected = 1 / Float(dh).squareRoot()
    guard abs(scale - expected) <= 1e-5 * expected else {
      throw fail("scores are scaled by \(scale); ATTENTION uses 1/sqrt(d_head) = \(expected)")
    }
    nodes += qNodes + kNodes + vNodes + q.nodes + k.nodes + v.nodes + [mm2, tr, rs] + o.nodes
    let anchor = o.nodes.max()!
    let prefix = sm.name.split(separator: "/").dropLast().joined(separator: "/")
    return AttentionMatch(q: q, k: k, v: v, out: o, heads: hq, nodes: nodes, anchor: anchor,
                          name: prefix.isEmpty ? sm.displayName : (sm.name.hasPrefix("/") ? "/" : "") + prefix)
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

  private func layerNorm(mean i: Int) -> LayerNormMatch? {
    let mean = node(i)
    let x = mean.input[0]
    guard lastAxisOnly(i), let sub = soleReader(mean.output[0]), node(sub).opType == "Sub",
          node(sub).input == [x, mean.output[0]] else { return nil }
    let centred = node(sub).output[0]
    let readers = a.readers(centred)
    guard readers.count == 2, let pow = readers.first(where: { node($0).opType == "Pow" }),
          let div = readers.first(where: { node($0).opType == "Div" }),
          let two = a.constants[node(pow).input[1]], two.count == 1, two.floats[0] == 2,
          let varMean = soleReader(node(pow).output[0]), node(varMean).opType == "ReduceMean", lastAxisOnly(varMean),
          let addEps = soleReader(node(varMean).output[0]), node(addEps).opType == "Add",
          let eps = a.constants[node(addEps).input[1]], eps.count == 1,
          let sqrt = soleReader(node(addEps).output[0]), node(sqrt).opType == "Sqrt",
          soleReader(node(sqrt).output[0]) == div, node(div).input == [centred, node(sqrt).output[0]] else { return nil }
    var nodes = [i, sub, pow, varMean, addEps, sqrt, div]
    var output = node(div).output[0]
    var gamma: ConstTensor? = nil, beta: ConstTensor? = nil
    let c = a.shapes[x]!.last!
    if let mul = soleReader(output), node(mul).opType == "Mul", let g = a.constants[node(mul).input[1]], g.count == c {
      gamma = g; nodes.append(mul); output = node(mul).output[0]
      if let add = soleReader(output), node(add).opType == "Add", let b = a.constants[node(add).input[1]], b.count == c {
        beta = b; nodes.append(add); output = node(add).output[0]
      }
    }
    return LayerNormMatch(input: x, epsilon: eps.floats[0], gamma: gamma, beta: beta, nodes: nodes, anchor: nodes.max()!, output: output)
  }
}
