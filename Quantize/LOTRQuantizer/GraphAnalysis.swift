#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Pass 1 of the import: walks the ONNX nodes in order and, for every value, works out
/// its static shape and, where it depends only on initializers and Constant nodes (shape
/// arithmetic, folded weights, the decoder's constant first queries...), its value.
struct GraphAnalysis {
  var shapes: [String: [Int]] = [:]
  var constants: [String: ConstTensor] = [:]
  /// Index of the node that writes each value.
  var producer: [String: Int] = [:]
  /// Indices of the nodes that read each value; the graph output counts as a reader (-1).
  var consumers: [String: [Int]] = [:]
  let nodes: [Onnx_NodeProto]
  let inputName: String
  let outputName: String
  let opset: Int

  /// What the importer maps, for error messages.
  static let supportedSummary = """
    Supported on activations: Conv, ConvTranspose (each with a following BatchNormalization folded in), \
    MaxPool (2-D, no dilation, ceil_mode 0), Pad (constant 0), Relu, Clip, Sigmoid, Gelu, Tanh, Neg, Add, Sub, \
    Mul, Div by a constant, Pow 2 or 3, MatMul/Gemm with constant weights (+ Add bias), MatMul of two operands \
    (2-D, or batched rank 3/4), LayerNormalization (last axis), Softmax (last axis), Reshape, Flatten, Squeeze, \
    Unsqueeze, Transpose, Concat, Identity, Dropout; multi-head attention (nn.MultiheadAttention, \
    nn.Transformer*Layer, timm-style and hand-written: MatMul/Reshape/Transpose/Gather/Split/Mul/Softmax), \
    decomposed LayerNorm (ReduceMean/Sub/Pow/Sqrt/Div) and exact GELU (Div/Erf/Add/Mul); on constants \
    also Shape, Gather, Cast, Slice, Split, ConstantOfShape, Expand, Equal, Where, Tile, Mod, Sqrt, Neg, Exp, Erf, ReduceMean
    """

  func isConstant(_ v: String) -> Bool { constants[v] != nil }
  func producerNode(_ v: String) -> Onnx_NodeProto? { producer[v].map { nodes[$0] } }
  func readers(_ v: String) -> [Int] { consumers[v] ?? [] }

  init(model: ONNXModel) throws {
    let g = model.graph
    nodes = g.node
    opset = model.opset
    // Initializers first; a graph input that is also an initializer is a constant.
    var initial: [String: ConstTensor] = [:]
    for t in g.initializer { initial[t.name] = try ConstTensor(t, what: "initializer") }
    let realInputs = g.input.filter { initial[$0.name] == nil }
    guard realInputs.count == 1 else {
      throw ImportError("the graph has \(realInputs.count) inputs (\(realInputs.map(\.name))); a LOTR model has one image input")
    }
    guard g.output.count == 1 else {
      throw ImportError("the graph has \(g.output.count) outputs (\(g.output.map(\.name))); a LOTR model has one, landmarks [1, N, 2]")
    }
    let input = realInputs[0]
    inputName = input.name
    outputName = g.output[0].name
    guard input.type.tensorType.elemType == ONNXDataType.float.rawValue else {
      throw ImportError("graph input '\(input.name)' is not float32")
    }
    var inShape: [Int] = []
    for (i, d) in input.type.tensorType.shape.dim.enumerated() {
      if case .dimValue(let v)? = d.value, v > 0 { inShape.append(Int(v)) }
      else if i == 0 { inShape.append(1) } // a symbolic batch: we run batch 1
      else { throw ImportError("graph input '\(input.name)' has a symbolic dimension \(i) ('\(d.dimParam)'); export with a fixed input size") }
    }
    guard inShape.count == 4, inShape[0] == 1, inShape[1] == 3 else {
      throw ImportError("graph input '\(input.name)' is \(inShape); expected NCHW [1, 3, H, W]")
    }
    constants = initial
    for (name, c) in initial { shapes[name] = c.shape }
    shapes[inputName] = inShape
    consumers[outputName, default: []].append(-1)

    for (index, node) in nodes.enumerated() {
      for v in node.presentInputs where !v.isEmpty {
        guard shapes[v] != nil else {
          throw ImportError.node(node, "input '\(v)' is not produced by an earlier node (the graph is not topologically sorted, or the value is missing)")
        }
        consumers[v, default: []].append(index)
      }
      let outs = try evaluate(node)
      guard outs.count >= 1, node.output.count >= outs.count || node.opType == "Dropout" else {
        throw ImportError.node(node, "unexpected number of outputs")
      }
      for (i, name) in node.output.enumerated() where !name.isEmpty {
        guard producer[name] == nil, shapes[name] == nil else { throw ImportError.node(node, "output '\(name)' is written twice") }
        producer[name] = index
        if i < outs.count {
          shapes[name] = outs[i].shape
          if let c = outs[i].value { constants[name] = c }
        } else if node.opType == "Dropout", i == 1 {
          shapes[name] = outs[0].shape // mask: never read by an inference graph
        } else {
          throw ImportError.node(node, "output \(i) ('\(name)') is not supported")
        }
      }
    }
    guard shapes[outputName] != nil else { throw ImportError("graph output '\(outputName)' is not produced by any node") }
  }

  struct Out {
    var shape: [Int]
    var value: ConstTensor?
    init(_ shape: [Int]) { self.shape = shape }
    init(_ value: ConstTensor) { self.shape = value.shape; self.value = value }
  }

  // MARK: per-op constant folding and shape inference

  private func evaluate(_ node: Onnx_NodeProto) throws -> [Out] {
    let ins = node.presentInputs
    func shape(_ i: Int) -> [Int] { shapes[ins[i]]! }
    func const(_ i: Int) -> ConstTensor? { i < ins.count && !ins[i].isEmpty ? constants[ins[i]] : nil }
    func need(_ i: Int, _ what: String) throws -> ConstTensor {
      guard let c = const(i) else { throw ImportError.node(node, "\(what) (input \(i)) must be a constant") }
      return c
    }
    func arity(_ r: ClosedRange<Int>) throws {
      guard r.contains(ins.count) else { throw ImportError.node(node, "has \(ins.count) inputs, expected \(r)") }
    }
    let allConst = !ins.isEmpty && ins.allSatisfy { $0.isEmpty || constants[$0] != nil }
    func axis(_ a: Int, _ rank: Int) throws -> Int {
      guard let v = Shapes.axis(a, rank: rank) else { throw ImportError.node(node, "axis \(a) is out of range for rank \(rank)") }
      return v
    }
    func elementwise(float f: @escaping (Float, Float) -> Float, int g: ((Int64, Int64) -> Int64)?) throws -> [Out] {
      try arity(2...2)
      if allConst {
        guard let r = ConstTensor.binary(const(0)!, const(1)!, float: f, int: g) else { throw ImportError.node(node, "shapes \(shape(0)) and \(shape(1)) do not broadcast") }
        return [Out(r)]
      }
      guard let s = Shapes.broadcast(shape(0), shape(1)) else { throw ImportError.node(node, "shapes \(shape(0)) and \(shape(1)) do not broadcast") }
      return [Out(s)]
    }
    func unary(_ f: @escaping (Float) -> Float) throws -> [Out] {
      try arity(1...1)
      if let c = const(0) { return [Out(ConstTensor(shape: c.shape, floats: c.floats.map(f)))] }
      return [Out(shape(0))]
    }

    switch node.opType {
    case "Constant":
      if let t = node.tensor("value") { return [Out(try ConstTensor(t, what: "node '\(node.displayName)'"))] }
      if let f = node.float("value_float") { return [Out(.scalar(f))] }
      if let a = node.attribute("value_floats") { return [Out(ConstTensor(shape: [a.floats.count], floats: a.floats))] }
      if let i = node.int("value_int") { return [Out(ConstTensor(shape: [], ints: [Int64(i)]))] }
      if let a = node.attribute("value_ints") { return [Out(.vector(a.ints))] }
      throw ImportError.node(node, "only tensor, float(s) and int(s) constants are supported")

    case "Identity", "Dropout":
      try arity(1...3)
      if let c = const(0) { return [Out(c)] }
      return [Out(shape(0))]

    case "Cast":
      try arity(1...1)
      let to = node.int("to", default: 1)
      if let c = const(0) {
        switch ONNXDataType(rawValue: Int32(to)) {
        case .float, .double: return [Out(ConstTensor(shape: c.shape, floats: c.floats))]
        case .bool: return [Out(ConstTensor(shape: c.shape, ints: c.floats.map { $0 != 0 ? 1 : 0 }))]
        default: return [Out(ConstTensor(shape: c.shape, ints: c.ints))]
        }
      }
      guard to == Int(ONNXDataType.float.rawValue) else { throw ImportError.node(node, "casting an activation to type \(to) is not supported (only to float)") }
      return [Out(shape(0))]

    case "Shape":
      try arity(1...1)
      var s = shape(0).map { Int64($0) }
      func clamp(_ v: Int) -> Int { min(max(v < 0 ? v + s.count : v, 0), s.count) }
      let start = clamp(node.int("start", default: 0)), end = clamp(node.int("end", default: s.count))
      s = start < end ? Array(s[start..<end]) : []
      return [Out(.vector(s))]

    case "ConstantOfShape":
      let dims = try need(0, "shape").ints.map { Int($0) }
      let fill = try node.tensor("value").map { try ConstTensor($0, what: "node '\(node.displayName)'") } ?? .scalar(0)
      let n = dims.reduce(1, *)
      if fill.isFloat { return [Out(ConstTensor(shape: dims, floats: [Float](repeating: fill.floats[0], count: n)))] }
      return [Out(ConstTensor(shape: dims, ints: [Int64](repeating: fill.ints[0], count: n)))]

    case "Gather":
      try arity(2...2)
      let a = try axis(node.int("axis", default: 0), shape(0).count)
      let indices = try need(1, "indices")
      if let data = const(0) {
        guard let r = data.gather(indices, axis: a) else { throw ImportError.node(node, "index out of range") }
        return [Out(r)]
      }
      return [Out(Array(shape(0)[..<a]) + indices.shape + Array(shape(0)[(a + 1)...]))]

    case "Unsqueeze", "Squeeze":
      try arity(1...2)
      let axesAttr = node.ints("axes")
      let axesConst = ins.count > 1 ? try need(1, "axes").ints.map { Int($0) } : nil
      var s = shape(0)
      if node.opType == "Unsqueeze" {
        guard let raw = axesConst ?? axesAttr else { throw ImportError.node(node, "no axes") }
        let rank = s.count + raw.count
        for a in try raw.map({ try axis($0, rank) }).sorted() { s.insert(1, at: a) }
      } else {
        let raw = axesConst ?? axesAttr
        if let raw {
          let axes = try raw.map { try axis($0, s.count) }.sorted(by: >)
          for a in axes {
            guard s[a] == 1 else { throw ImportError.node(node, "cannot squeeze axis \(a) of size \(s[a])") }
            s.remove(at: a)
          }
        } else {
          s.removeAll { $0 == 1 }
        }
      }
      if let c = const(0) { return [Out(c.reshaped(s))] }
      return [Out(s)]

    case "Reshape":
      try arity(2...2)
      let target = try need(1, "the target shape").ints
      let s = shape(0)
      let allowZero = node.int("allowzero", default: 0) != 0
      var out = target.enumerated().map { i, d -> Int in d == 0 && !allowZero && i < s.count ? s[i] : Int(d) }
      let known = out.filter { $0 >= 0 }.reduce(1, *)
      let total = s.reduce(1, *)
      if let m = out.firstIndex(of: -1) {
        guard known > 0, total % known == 0 else { throw ImportError.node(node, "cannot reshape \(s) to \(target)") }
        out[m] = total / known
      }
      guard out.allSatisfy({ $0 >= 0 }), out.reduce(1, *) == total else { throw ImportError.node(node, "cannot reshape \(s) to \(target)") }
      if let c = const(0) { return [Out(c.reshaped(out))] }
      return [Out(out)]

    case "Flatten":
      try arity(1...1)
      let s = shape(0)
      let a = try axis(node.int("axis", default: 1), s.count + 1)
      let out = [s[..<a].reduce(1, *), s[a...].reduce(1, *)]
      if let c = const(0) { return [Out(c.reshaped(out))] }
      return [Out(out)]

    case "Transpose":
      try arity(1...1)
      let s = shape(0)
      let perm = node.ints("perm") ?? Array((0..<s.count).reversed())
      guard perm.count == s.count, Set(perm) == Set(0..<s.count) else { throw ImportError.node(node, "perm \(perm) is not a permutation of \(s.count) axes") }
      if let c = const(0) { return [Out(c.transposed(perm))] }
      return [Out(perm.map { s[$0] })]

    case "Concat":
      try arity(1...64)
      let a = try axis(node.int("axis", default: 0), shape(0).count)
      if allConst {
        guard let r = const(0)!.concat((1..<ins.count).map { const($0)! }, axis: a) else { throw ImportError.node(node, "shapes do not concatenate") }
        return [Out(r)]
      }
      var s = shape(0)
      for i in 1..<ins.count {
        let t = shape(i)
        guard t.count == s.count, (0..<s.count).allSatisfy({ $0 == a || t[$0] == s[$0] }) else { throw ImportError.node(node, "shapes do not concatenate") }
        s[a] += t[a]
      }
      return [Out(s)]

    case "Slice":
      try arity(3...5)
      let s = shape(0)
      let starts = try need(1, "starts").ints, ends = try need(2, "ends").ints
      let axes = try (const(3)?.ints.map { Int($0) } ?? Array(0..<starts.count)).map { try axis($0, s.count) }
      let steps = const(4)?.ints ?? [Int64](repeating: 1, count: starts.count)
      guard starts.count == ends.count, axes.count == starts.count, steps.count == starts.count else {
        throw ImportError.node(node, "starts, ends, axes and steps differ in length")
      }
      let probe = ConstTensor(shape: s, ints: (0..<Int64(s.reduce(1, *))).map { $0 })
      guard let r = (const(0) ?? probe).slice(starts: starts, ends: ends, axes: axes, steps: steps) else {
        throw ImportError.node(node, "invalid slice")
      }
      if const(0) != nil { return [Out(r)] }
      return [Out(r.shape)] // an activation: only inside a fused attention (q/k/v of a packed projection)

    case "Split":
      try arity(1...2)
      let s = shape(0)
      let ax = try axis(node.int("axis", default: 0), s.count)
      let parts = try splitSizes(node, length: s[ax])
      var outs: [Out] = []
      var start = 0
      for len in parts {
        var shape = s
        shape[ax] = len
        if let c = const(0) {
          guard let r = c.slice(starts: [Int64(start)], ends: [Int64(start + len)], axes: [ax], steps: [1]) else {
            throw ImportError.node(node, "invalid split")
          }
          outs.append(Out(r))
        } else {
          outs.append(Out(shape))
        }
        start += len
      }
      return outs

    case "Expand":
      try arity(2...2)
      let target = try need(1, "shape").ints.map { Int($0) }
      guard let s = Shapes.broadcast(shape(0), target) else { throw ImportError.node(node, "cannot expand \(shape(0)) to \(target)") }
      if let c = const(0) { return [Out(c.broadcast(to: s))] }
      guard s == shape(0) else { throw ImportError.node(node, "expanding an activation is not supported (export with batch 1)") }
      return [Out(s)]

    case "Add": return try elementwise(float: +, int: { $0 &+ $1 })
    case "Sub": return try elementwise(float: -, int: { $0 &- $1 })
    case "Mul": return try elementwise(float: *, int: { $0 &* $1 })
    case "Div": return try elementwise(float: /, int: { $1 == 0 ? 0 : $0 / $1 })
    // Shape arithmetic that exporters write around Expand (nn.Transformer) and Tile
    // (nn.MultiheadAttention's add_bias_kv): constants only.
    case "Equal":
      try arity(2...2)
      guard allConst, let r = ConstTensor.binary(const(0)!, const(1)!, float: { $0 == $1 ? 1 : 0 }, int: { $0 == $1 ? 1 : 0 }) else {
        throw ImportError.node(node, "Equal is only supported on constants (shape arithmetic)")
      }
      return [Out(ConstTensor(shape: r.shape, ints: r.ints))]

    case "Where":
      try arity(3...3)
      guard allConst, let c = const(0), let x = const(1), let y = const(2),
            let shape = Shapes.broadcast(c.shape, x.shape).flatMap({ Shapes.broadcast($0, y.shape) }) else {
        throw ImportError.node(node, "Where is only supported on constants (shape arithmetic)")
      }
      let (ci, xi, yi) = (Shapes.broadcastIndices(from: c.shape, to: shape), Shapes.broadcastIndices(from: x.shape, to: shape),
                          Shapes.broadcastIndices(from: y.shape, to: shape))
      let cond = c.ints
      if x.isFloat || y.isFloat {
        let (a, b) = (x.floats, y.floats)
        return [Out(ConstTensor(shape: shape, floats: ci.indices.map { cond[ci[$0]] != 0 ? a[xi[$0]] : b[yi[$0]] }))]
      }
      let (a, b) = (x.ints, y.ints)
      return [Out(ConstTensor(shape: shape, ints: ci.indices.map { cond[ci[$0]] != 0 ? a[xi[$0]] : b[yi[$0]] }))]

    case "Tile":
      try arity(2...2)
      let repeats = try need(1, "repeats").ints.map { Int($0) }
      let s = shape(0)
      guard repeats.count == s.count, repeats.allSatisfy({ $0 >= 1 }) else { throw ImportError.node(node, "repeats \(repeats) do not fit rank \(s.count)") }
      guard let c = const(0) else { throw ImportError.node(node, "tiling an activation is not supported (only constants)") }
      let out = zip(s, repeats).map { $0 * $1 }
      let inStrides = Shapes.strides(s)
      var flat: [Int] = []
      flat.reserveCapacity(out.reduce(1, *))
      var index = [Int](repeating: 0, count: out.count)
      for _ in 0..<out.reduce(1, *) {
        flat.append(zip(index, zip(s, inStrides)).reduce(0) { $0 + ($1.0 % $1.1.0) * $1.1.1 })
        var d = out.count - 1
        while d >= 0 { index[d] += 1; if index[d] < out[d] { break }; index[d] = 0; d -= 1 }
      }
      return [Out(c.gathered(out, flat))]

    case "Mod":
      guard node.int("fmod", default: 0) == 0 else { return try elementwise(float: { fmodf($0, $1) }, int: { $1 == 0 ? 0 : $0 % $1 }) }
      // Integer Mod takes the divisor's sign (Python's %), like floor division.
      return try elementwise(float: { $0 - $1 * ($0 / $1).rounded(.down) }, int: { $1 == 0 ? 0 : (($0 % $1) + $1) % $1 })
    case "Pow": return try elementwise(float: { powf($0, $1) }, int: nil)
    case "Sqrt": return try unary { $0.squareRoot() }
    case "Neg": return try unary { -$0 }
    case "Exp": return try unary { expf($0) }
    case "Erf": return try unary { erff($0) }
    case "Tanh": return try unary { tanhf($0) }
    case "Sigmoid": return try unary { 1 / (1 + expf(-$0)) }
    case "Relu": return try unary { max($0, 0) }
    case "Gelu": return try unary { 0.5 * $0 * (1 + erff($0 / Float(2).squareRoot())) }

    case "Clip":
      try arity(1...3)
      let (lo, hi) = try clipBounds(node)
      if let c = const(0) { return [Out(ConstTensor(shape: c.shape, floats: c.floats.map { min(max($0, lo), hi) }))] }
      return [Out(shape(0))]

    case "MatMul":
      try arity(2...2)
      if allConst {
        guard let r = ConstTensor.matmul(const(0)!, const(1)!) else { throw ImportError.node(node, "shapes \(shape(0)) x \(shape(1)) do not multiply") }
        return [Out(r)]
      }
      let (a, b) = (shape(0), shape(1))
      guard a.count >= 2, b.count >= 2, a.last == b[b.count - 2],
            let batch = Shapes.broadcast(Array(a.dropLast(2)), Array(b.dropLast(2))) else {
        throw ImportError.node(node, "shapes \(a) x \(b) are not supported (both operands need rank >= 2 and a matching K)")
      }
      return [Out(batch + [a[a.count - 2], b.last!])]

    case "Gemm":
      try arity(2...3)
      let (a, b) = (shape(0), shape(1))
      guard a.count == 2, b.count == 2 else { throw ImportError.node(node, "operands must be matrices") }
      let ta = node.int("transA", default: 0) != 0, tb = node.int("transB", default: 0) != 0
      let (m, k) = ta ? (a[1], a[0]) : (a[0], a[1])
      let (kb, n) = tb ? (b[1], b[0]) : (b[0], b[1])
      guard k == kb else { throw ImportError.node(node, "shapes \(a) x \(b) do not multiply") }
      if allConst {
        var x = const(0)!, w = const(1)!
        if ta { x = x.transposed([1, 0]) }
        if tb { w = w.transposed([1, 0]) }
        var y = ConstTensor.matmul(x, w)!
        let alpha = node.float("alpha") ?? 1, beta = node.float("beta") ?? 1
        y = y.mapElements(float: { $0 * alpha }, int: { $0 })
        if let c = const(2) { y = ConstTensor.binary(y, c.mapElements(float: { $0 * beta }, int: { $0 }), float: +, int: nil)! }
        return [Out(y)]
      }
      return [Out([m, n])]

    case "Softmax":
      try arity(1...1)
      let s = shape(0)
      let a = try axis(node.int("axis", default: model13OrLater ? -1 : 1), s.count)
      guard a == s.count - 1 else { throw ImportError.node(node, "softmax over axis \(a) of rank \(s.count); only the last axis is supported") }
      if let c = const(0) { return [Out(c.softmax(axis: a))] }
      return [Out(s)]

    case "LayerNormalization":
      try arity(2...3)
      let s = shape(0)
      let a = try axis(node.int("axis", default: -1), s.count)
      if let c = const(0), let g = const(1) {
        return [Out(c.layerNorm(axis: a, epsilon: node.float("epsilon") ?? 1e-5, gamma: g, beta: const(2)))]
      }
      return [Out(s)]

    case "ReduceMean":
      try arity(1...2)
      let s = shape(0)
      let raw = ins.count > 1 ? try need(1, "axes").ints.map { Int($0) } : (node.ints("axes") ?? Array(0..<s.count))
      let axes = try raw.map { try axis($0, s.count) }.sorted()
      let keep = node.int("keepdims", default: 1) != 0
      if let c = const(0) { return [Out(c.reduceMean(axes: axes, keepDims: keep))] }
      var out = s
      for a in axes { out[a] = 1 }
      return [Out(keep ? out : s.enumerated().filter { !axes.contains($0.offset) }.map(\.element))]

    case "BatchNormalization":
      try arity(5...5)
      let s = shape(0)
      guard s.count >= 2 else { throw ImportError.node(node, "input rank \(s.count) < 2") }
      for i in 1...4 { _ = try need(i, ["", "scale", "bias", "mean", "var"][i]) }
      if let c = const(0) {
        let (scale, shift) = try batchNormAffine(node)
        let cs = s.count > 2 ? s[2...].reduce(1, *) : 1
        var v = c.floats
        for i in v.indices { let ch = (i / cs) % s[1]; v[i] = v[i] * scale[ch] + shift[ch] }
        return [Out(ConstTensor(shape: s, floats: v))]
      }
      return [Out(s)]

    case "Conv", "ConvTranspose":
      try arity(2...3)
      let (x, w) = (shape(0), shape(1))
      guard x.count == 4, w.count == 4 else { throw ImportError.node(node, "only 2-D convolutions (rank-4 input and weight) are supported") }
      let g = node.int("group", default: 1)
      let k = node.ints("kernel_shape") ?? [w[2], w[3]]
      let strides = node.ints("strides") ?? [1, 1]
      guard k.count == 2, strides.count == 2 else { throw ImportError.node(node, "only 2-D convolutions are supported") }
      let pads = try convPads(node, input: [x[2], x[3]], kernel: k, strides: strides)
      if node.opType == "Conv" {
        let oh = (x[2] + pads[0] + pads[2] - k[0]) / strides[0] + 1
        let ow = (x[3] + pads[1] + pads[3] - k[1]) / strides[1] + 1
        return [Out([x[0], w[0], oh, ow])]
      }
      let op = node.ints("output_padding") ?? [0, 0]
      let oh = (x[2] - 1) * strides[0] + k[0] - pads[0] - pads[2] + op[0]
      let ow = (x[3] - 1) * strides[1] + k[1] - pads[1] - pads[3] + op[1]
      return [Out([x[0], w[1] * g, oh, ow])]

    case "Pad":
      let x = shape(0)
      let (begin, end) = try padAmounts(node, rank: x.count)
      guard const(0) == nil else { throw ImportError.node(node, "padding a constant is not supported") }
      return [Out((0..<x.count).map { x[$0] + begin[$0] + end[$0] })]

    case "MaxPool":
      try arity(1...1)
      let x = shape(0)
      guard x.count == 4 else { throw ImportError.node(node, "only 2-D max pooling (rank-4 input) is supported") }
      let (k, strides, pads) = try poolGeometry(node, input: [x[2], x[3]])
      guard const(0) == nil else { throw ImportError.node(node, "max pooling a constant is not supported") }
      if node.output.count > 1, !node.output[1].isEmpty {
        throw ImportError.node(node, "the Indices output of MaxPool is not supported")
      }
      let oh = (x[2] + pads[0] + pads[2] - k[0]) / strides[0] + 1
      let ow = (x[3] + pads[1] + pads[3] - k[1]) / strides[1] + 1
      return [Out([x[0], x[1], oh, ow])]

    default:
      throw ImportError.node(node, "op '\(node.opType)' is not supported. \(Self.supportedSummary)")
    }
  }

  /// Split's part lengths along an axis of `length`: input 1 (opset >= 13), the `split`
  /// attribute (older), or `num_outputs` / the output count in equal parts (the last one
  /// shorter, as ONNX says).
  func splitSizes(_ node: Onnx_NodeProto, length: Int) throws -> [Int] {
    var parts: [Int]
    if node.input.count > 1, !node.input[1].isEmpty {
      guard let c = constants[node.input[1]] else { throw ImportError.node(node, "split (input 1) must be a constant") }
      parts = c.ints.map { Int($0) }
    } else if let p = node.ints("split") {
      parts = p
    } else {
      let k = node.int("num_outputs", default: node.output.count)
      let each = (length + k - 1) / max(k, 1)
      parts = (0..<k).map { min(each, max(length - $0 * each, 0)) }
    }
    guard parts.count == node.output.count, parts.allSatisfy({ $0 >= 0 }), parts.reduce(0, +) == length else {
      throw ImportError.node(node, "split \(parts) does not divide \(length) into \(node.output.count) parts")
    }
    return parts
  }

  /// A constant-mode Pad with value 0 as (begin, end) per axis; the pads come from input 1
  /// (opset >= 11; `axes`, input 3, from opset 18) or the `pads` attribute (older).
  func padAmounts(_ node: Onnx_NodeProto, rank: Int) throws -> (begin: [Int], end: [Int]) {
    let ins = node.presentInputs
    guard (node.string("mode") ?? "constant") == "constant" else {
      throw ImportError.node(node, "mode '\(node.string("mode")!)' is not supported (only constant zero padding)")
    }
    func constantInput(_ i: Int) -> ConstTensor? { i < node.input.count && !node.input[i].isEmpty ? constants[node.input[i]] : nil }
    let raw: [Int]
    if ins.count > 1 || node.input.count > 1 {
      guard let p = constantInput(1) else { throw ImportError.node(node, "pads (input 1) must be a constant") }
      raw = p.ints.map { Int($0) }
      if let v = constantInput(2), v.floats.contains(where: { $0 != 0 }) {
        throw ImportError.node(node, "constant_value \(v.floats) is not supported (only 0)")
      } else if node.input.count > 2, !node.input[2].isEmpty, constantInput(2) == nil {
        throw ImportError.node(node, "constant_value (input 2) must be a constant")
      }
    } else {
      raw = node.ints("pads") ?? []
      guard (node.float("value") ?? 0) == 0 else { throw ImportError.node(node, "value \(node.float("value")!) is not supported (only 0)") }
    }
    var axes = Array(0..<rank)
    if node.input.count > 3, !node.input[3].isEmpty {
      guard let a = constantInput(3) else { throw ImportError.node(node, "axes (input 3) must be a constant") }
      axes = try a.ints.map { v in
        guard let ax = Shapes.axis(Int(v), rank: rank) else { throw ImportError.node(node, "axis \(v) is out of range for rank \(rank)") }
        return ax
      }
    }
    guard raw.count == 2 * axes.count else { throw ImportError.node(node, "pads has \(raw.count) values, expected \(2 * axes.count)") }
    guard raw.allSatisfy({ $0 >= 0 }) else { throw ImportError.node(node, "negative pads (cropping) \(raw) are not supported") }
    var begin = [Int](repeating: 0, count: rank), end = begin
    for (k, ax) in axes.enumerated() { begin[ax] = raw[k]; end[ax] = raw[axes.count + k] }
    return (begin, end)
  }

  /// A 2-D MaxPool's kernel, strides and [top, left, bottom, right] pads, refusing what
  /// MAXPOOL cannot express (ceil_mode 1, dilation, pads as large as the kernel).
  func poolGeometry(_ node: Onnx_NodeProto, input: [Int]) throws -> (kernel: [Int], strides: [Int], pads: [Int]) {
    guard let k = node.ints("kernel_shape"), k.count == 2 else { throw ImportError.node(node, "kernel_shape must be 2 values (2-D pooling)") }
    let strides = node.ints("strides") ?? [1, 1]
    guard strides.count == 2, strides.allSatisfy({ $0 >= 1 }) else { throw ImportError.node(node, "strides \(strides) are not 2 positive values") }
    guard node.int("ceil_mode", default: 0) == 0 else { throw ImportError.node(node, "ceil_mode = 1 is not supported (only floor)") }
    let pads = try convPads(node, input: input, kernel: k, strides: strides)
    guard pads[0] < k[0], pads[2] < k[0], pads[1] < k[1], pads[3] < k[1], pads.allSatisfy({ $0 >= 0 }) else {
      throw ImportError.node(node, "pads \(pads) must each be below the kernel \(k)")
    }
    guard input[0] + pads[0] + pads[2] >= k[0], input[1] + pads[1] + pads[3] >= k[1] else {
      throw ImportError.node(node, "the kernel \(k) is larger than the padded input \(input)")
    }
    return (k, strides, pads)
  }

  var model13OrLater: Bool { opset >= 13 }

  /// Clip's bounds: inputs 1 and 2 (opset >= 11), or the min/max attributes (older).
  func clipBounds(_ node: Onnx_NodeProto) throws -> (Float, Float) {
    let ins = node.input
    func bound(_ i: Int, _ attr: String, _ d: Float) throws -> Float {
      if i < ins.count, !ins[i].isEmpty {
        guard let c = constants[ins[i]], c.count == 1 else { throw ImportError.node(node, "clip bound '\(ins[i])' must be a scalar constant") }
        return c.floats[0]
      }
      return node.float(attr) ?? d
    }
    return (try bound(1, "min", -.infinity), try bound(2, "max", .infinity))
  }

  /// BatchNormalization as y = x * scale[c] + shift[c].
  func batchNormAffine(_ node: Onnx_NodeProto) throws -> (scale: [Float], shift: [Float]) {
    let ins = node.input
    let p = try (1...4).map { i -> [Float] in
      guard let c = constants[ins[i]] else { throw ImportError.node(node, "parameter '\(ins[i])' must be a constant") }
      return c.floats
    }
    let eps = node.float("epsilon") ?? 1e-5
    let n = p[0].count
    guard p.allSatisfy({ $0.count == n }) else { throw ImportError.node(node, "scale, bias, mean and var differ in length") }
    let scale = (0..<n).map { p[0][$0] / (p[3][$0] + eps).squareRoot() }
    let shift = (0..<n).map { p[1][$0] - p[2][$0] * scale[$0] }
    return (scale, shift)
  }

  /// Explicit [top, left, bottom, right] padding of a 2-D conv (pads or auto_pad).
  func convPads(_ node: Onnx_NodeProto, input: [Int], kernel: [Int], strides: [Int]) throws -> [Int] {
    if let d = node.ints("dilations"), d.contains(where: { $0 != 1 }) {
      throw ImportError.node(node, "dilations \(d) are not supported (only 1)")
    }
    let auto = node.string("auto_pad") ?? "NOTSET"
    switch auto {
    case "NOTSET", "":
      let p = node.ints("pads") ?? [0, 0, 0, 0]
      guard p.count == 4 else { throw ImportError.node(node, "pads \(p) is not 4 values") }
      return [p[0], p[1], p[2], p[3]]
    case "VALID":
      return [0, 0, 0, 0]
    case "SAME_UPPER", "SAME_LOWER":
      guard node.opType != "ConvTranspose" else { throw ImportError.node(node, "auto_pad \(auto) is not supported for ConvTranspose") }
      var out = [0, 0, 0, 0]
      for i in 0..<2 {
        let o = (input[i] + strides[i] - 1) / strides[i]
        let total = max(0, (o - 1) * strides[i] + kernel[i] - input[i])
        let small = total / 2
        if auto == "SAME_UPPER" { out[i] = small; out[i + 2] = total - small } else { out[i] = total - small; out[i + 2] = small }
      }
      return out
    default:
      throw ImportError.node(node, "auto_pad '\(auto)' is not supported")
    }
  }
}
