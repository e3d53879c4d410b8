import LOTR

/// How an ONNX value's elements are laid out in its .lotr tensor: the physical tensor is
/// the ONNX tensor transposed by `perm` (physical axis i = ONNX axis perm[i]), with the
/// leading axis (size 1) dropped when `squeezed`. NCHW feature maps live as NHWC
/// (perm [0, 2, 3, 1]); token tensors [1, T, D] live as [T, D] (squeezed); after the
/// flatten-to-tokens reshape, ONNX's [1, D, T] is physically [T, D] (perm [0, 2, 1],
/// squeezed), so PyTorch's flatten(2).transpose(1, 2) costs nothing.
struct Layout: Hashable {
  var perm: [Int]
  var squeezed: Bool

  static func identity(_ rank: Int, squeezed: Bool = false) -> Layout { Layout(perm: Array(0..<rank), squeezed: squeezed) }
  static let nhwc = Layout(perm: [0, 2, 3, 1], squeezed: false)

  /// The layout a freshly reshaped value gets: tokens [1, T, D] squeezed to [T, D].
  static func natural(_ shape: [Int]) -> Layout { .identity(shape.count, squeezed: shape.count == 3 && shape[0] == 1) }

  func physical(_ shape: [Int]) -> [Int] {
    let p = perm.map { shape[$0] }
    return squeezed ? Array(p.dropFirst()) : p
  }

  var isIdentity: Bool { perm == Array(0..<perm.count) }
  var tag: String {
    if self == .nhwc { return "nhwc" }
    return (isIdentity ? "" : "p" + perm.map(String.init).joined()) + (squeezed ? "sq" : "")
  }
}

/// One ONNX value as emitted: its tensor, layout, and ONNX shape.
struct EmittedValue {
  var tensor: Int
  var layout: Layout
  var shape: [Int]
}

/// Pass 3 of the import: walks the ONNX nodes in order and writes the .lotr graph, fusing
/// BatchNorm into convolutions, clamps into the op before them, bias adds into LINEAR,
/// and emitting each recognised pattern (attention, decomposed LayerNorm) at its last node.
struct Emitter {
  var g: ImportedGraph
  let a: GraphAnalysis
  let m: PatternMatcher
  var values: [String: EmittedValue] = [:]
  var conversions: [String: [Layout: Int]] = [:]
  var constantCache: [String: Int] = [:]
  var consumed = Set<Int>()
  var usedNames = Set<String>()
  var attentionAt: [Int: AttentionMatch] = [:]
  var layerNormAt: [Int: LayerNormMatch] = [:]
  var geluAt: [Int: GELUMatch] = [:]

  init(analysis: GraphAnalysis, metadata: ModelMetadata) throws {
    a = analysis
    m = PatternMatcher(a: analysis)
    g = ImportedGraph(metadata: metadata)
    for match in m.attentions() {
      for n in match.nodes where n != match.anchor { consumed.insert(n) }
      attentionAt[match.anchor] = match
      g.notes.append("attention '\(match.name)': \(match.heads) heads, \(match.nodes.count) ONNX nodes -> ATTENTION")
    }
    for match in m.layerNorms() where match.nodes.allSatisfy({ !consumed.contains($0) }) {
      for n in match.nodes where n != match.anchor { consumed.insert(n) }
      layerNormAt[match.anchor] = match
      g.notes.append("decomposed LayerNorm ending at '\(match.output)' -> LAYERNORM")
    }
    for match in m.gelus() where match.nodes.allSatisfy({ !consumed.contains($0) }) {
      for n in match.nodes where n != match.anchor { consumed.insert(n) }
      geluAt[match.anchor] = match
      g.notes.append("decomposed GELU (erf) ending at '\(match.output)' -> GELU")
    }
    let fused = Set(attentionAt.values.flatMap(\.nodes))
    for (i, n) in a.nodes.enumerated() where n.opType == "Softmax" && !a.isConstant(n.output[0]) && !fused.contains(i) {
      g.notes.append("softmax '\(n.displayName)' is not part of an attention ATTENTION expresses (a mask or bias on the scores, non-square projections, ...): its ops run one by one in float")
    }
  }

  func node(_ i: Int) -> Onnx_NodeProto { a.nodes[i] }

  mutating func run() throws -> ImportedGraph {
    let inShape = a.shapes[a.inputName]!
    let input = g.addTensor(unique(a.inputName), Layout.nhwc.physical(inShape), role: .input, onnxValue: a.inputName)
    values[a.inputName] = EmittedValue(tensor: input, layout: .nhwc, shape: inShape)

    for i in a.nodes.indices where !consumed.contains(i) {
      let n = node(i)
      if let match = attentionAt[i] { try emitAttention(match); continue }
      if let match = layerNormAt[i] { try emitLayerNorm(match); continue }
      if let match = geluAt[i] {
        let x = try activation(match.input, n)
        let y = define(match.output, layout: x.layout)
        g.addNode(OpSchema.GELU(), unique(n.displayName), inputs: [x.tensor], outputs: [y.tensor], onnxNodes: match.nodes.sorted().map { node($0).name })
        continue
      }
      if n.output.allSatisfy({ $0.isEmpty || a.isConstant($0) }) { continue } // folded
      try emit(i)
    }

    // The graph output: [1, N, 2] f32, in ONNX order.
    guard let out = values[a.outputName] else {
      throw ImportError("graph output '\(a.outputName)' is a constant (it does not depend on the input)")
    }
    if g.tensors[out.tensor].role != .output {
      _ = try convert(out, name: a.outputName, to: .identity(out.shape.count), role: .output)
    }
    let dead = g.removeDeadCode()
    if dead > 0 { g.notes.append("\(dead) nodes whose results never reach the output were left out") }
    return g
  }

  // MARK: names, tensors, constants

  mutating func unique(_ base: String) -> String {
    var name = base.isEmpty ? "t" : base
    var k = 1
    while usedNames.contains(name) { k += 1; name = "\(base)#\(k)" }
    usedNames.insert(name)
    return name
  }

  /// A new tensor for ONNX value `v`; the graph output gets its own name and role only
  /// when its layout is already ONNX's.
  mutating func define(_ v: String, layout: Layout) -> EmittedValue {
    let shape = a.shapes[v]!
    let isOutput = v == a.outputName && layout == .identity(shape.count)
    let name = unique(v == a.outputName && !isOutput ? v + ":" + layout.tag : v)
    let t = g.addTensor(name, layout.physical(shape), role: isOutput ? .output : .activation, onnxValue: v)
    let e = EmittedValue(tensor: t, layout: layout, shape: shape)
    values[v] = e
    return e
  }

  mutating func constantTensor(_ name: String, _ shape: [Int], _ data: [Float]) -> Int {
    g.addTensor(unique(name), shape, role: .constant, data: data)
  }

  /// ONNX constant `v` broadcast to `shape` and laid out as `layout` (cached).
  /// What `constant` does to each element: ADD of a Sub's constant negates it, MUL of a
  /// Div's takes its reciprocal.
  enum ConstantMap: String { case identity = "", negate = ":neg", reciprocal = ":recip" }

  mutating func constant(_ v: String, as shape: [Int], layout: Layout, _ node: Onnx_NodeProto, map: ConstantMap = .identity) throws -> Int {
    let key = "\(v)|\(shape)|\(layout.perm)|\(layout.squeezed)|\(map)"
    if let t = constantCache[key] { return t }
    guard let c = a.constants[v] else { throw ImportError.node(node, "'\(v)' is not a constant") }
    guard let b = Shapes.broadcast(c.shape, shape), b == shape else {
      throw ImportError.node(node, "constant '\(v)' \(c.shape) does not broadcast to the activation's \(shape)")
    }
    var t = c.broadcast(to: shape).transposed(layout.perm)
    switch map {
    case .identity: break
    case .negate: t = t.mapElements(float: { -$0 }, int: { -$0 })
    case .reciprocal: t = ConstTensor(shape: t.shape, floats: t.floats.map { 1 / $0 })
    }
    let physical = layout.physical(shape)
    let suffix = c.shape == shape && layout.isIdentity && !layout.squeezed ? "" : ":" + layout.tag
    let id = constantTensor(v + suffix + map.rawValue, physical, t.floats)
    constantCache[key] = id
    return id
  }

  func activation(_ v: String, _ node: Onnx_NodeProto) throws -> EmittedValue {
    guard let e = values[v] else {
      throw ImportError.node(node, "input '\(v)' is not available (it belongs to a pattern that was merged, or was never emitted)")
    }
    return e
  }

  // MARK: layout conversion

  /// The tensor holding `e` in `layout`, adding RESHAPE/TRANSPOSE nodes when needed.
  mutating func convert(_ e: EmittedValue, name: String? = nil, to layout: Layout, role: TensorRole = .activation) throws -> Int {
    if e.layout == layout, role == .activation { return e.tensor }
    let onnx = g.tensors[e.tensor].onnxValue ?? g.tensors[e.tensor].name
    let cacheKey = "\(e.tensor)|\(e.shape)"
    if role == .activation, let t = conversions[cacheKey]?[layout] { return t }
    let fullRank = e.shape.count
    guard fullRank <= ModelFormat.maxRank else { throw ImportError("value '\(onnx)' has rank \(fullRank) > 4 and cannot be laid out in .lotr") }
    var steps: [(any OpAttributes, [Int])] = [] // op, output shape
    var cur = e.layout
    if cur.perm != layout.perm {
      let q = layout.perm.map { cur.perm.firstIndex(of: $0)! } // physical out axis i reads in axis q[i]
      if cur.squeezed, layout.squeezed, q[0] == 0 {
        let reduced = q.dropFirst().map { $0 - 1 }
        steps.append((OpSchema.Transpose(perm: Array(reduced)), layout.physical(e.shape)))
        cur = layout
      } else {
        if cur.squeezed {
          cur.squeezed = false
          steps.append((OpSchema.Reshape(), cur.physical(e.shape)))
        }
        let target = Layout(perm: layout.perm, squeezed: false)
        steps.append((OpSchema.Transpose(perm: q), target.physical(e.shape)))
        cur = target
      }
    }
    if cur.squeezed != layout.squeezed {
      steps.append((OpSchema.Reshape(), layout.physical(e.shape)))
    }
    if steps.isEmpty { steps.append((OpSchema.Reshape(), layout.physical(e.shape))) } // only the role differs
    var input = e.tensor
    for (k, step) in steps.enumerated() {
      let last = k == steps.count - 1
      let tname = unique(last && name != nil ? name! : onnx + ":" + (last ? layout.tag : "\(step.0.op)".lowercased()))
      let out = g.addTensor(tname, step.1, role: last ? role : .activation, onnxValue: onnx)
      g.addNode(step.0, unique(onnx + "/" + (step.0.op == .transpose ? "transpose" : "reshape")), inputs: [input], outputs: [out],
                onnxNodes: [])
      input = out
    }
    if role == .activation { conversions[cacheKey, default: [:]][layout] = input }
    return input
  }

  /// `e` with its last ONNX axis last in memory (what LINEAR, LAYERNORM and SOFTMAX need).
  mutating func lastAxisLast(_ e: EmittedValue) throws -> EmittedValue {
    if e.layout.perm.last == e.shape.count - 1 { return e }
    let layout = Layout.natural(e.shape)
    return EmittedValue(tensor: try convert(e, to: layout), layout: layout, shape: e.shape)
  }

  // MARK: fusion helpers

  /// A Relu or Clip that is the only reader of `v`: merged into the op that writes `v`.
  mutating func fuseActivation(after v: inout String, merged: inout [String]) throws -> (Float, Float) {
    guard let r = m.soleReader(v), !consumed.contains(r), attentionAt[r] == nil, layerNormAt[r] == nil, geluAt[r] == nil else { return (-.infinity, .infinity) }
    let n = node(r)
    let bounds: (Float, Float)
    switch n.opType {
    case "Relu": bounds = (0, .infinity)
    case "Clip": bounds = try a.clipBounds(n)
    default: return (-.infinity, .infinity)
    }
    consumed.insert(r)
    merged.append(n.name)
    v = n.output[0]
    return bounds
  }

  // MARK: per-op emission

  mutating func emit(_ i: Int) throws {
    let n = node(i)
    let ins = n.presentInputs
    let out = n.output[0]
    switch n.opType {
    case "Conv", "ConvTranspose":
      try emitConv(i)

    case "MaxPool":
      let x = try activation(ins[0], n)
      let xt = try convert(x, to: .nhwc)
      let (k, strides, pads) = try a.poolGeometry(n, input: [x.shape[2], x.shape[3]])
      let y = define(out, layout: .nhwc)
      let window = Window2D(kernel: (k[0], k[1]), stride: (strides[0], strides[1]), pads: (pads[0], pads[1], pads[2], pads[3]))
      g.addNode(OpSchema.MaxPool(window), unique(n.displayName), inputs: [xt], outputs: [y.tensor], onnxNodes: [n.name])

    case "Pad":
      let x = try activation(ins[0], n)
      let (begin, end) = try a.padAmounts(n, rank: x.shape.count)
      let layout: Layout = x.shape.count == 4 ? .nhwc : .identity(x.shape.count)
      let xt = try convert(x, to: layout)
      let y = define(out, layout: layout)
      g.addNode(OpSchema.Pad(before: layout.perm.map { begin[$0] }, after: layout.perm.map { end[$0] }), unique(n.displayName),
                inputs: [xt], outputs: [y.tensor], onnxNodes: [n.name])

    case "BatchNormalization":
      throw ImportError.node(n, "a BatchNormalization is only supported right after a Conv/ConvTranspose that nothing else reads (it is folded into it)")

    case "MatMul", "Gemm":
      try emitMatMul(i)

    case "Add", "Sub":
      try emitAdd(i)

    case "Relu", "Clip", "Sigmoid", "Gelu":
      let x = try activation(ins[0], n)
      let y = define(out, layout: x.layout)
      switch n.opType {
      case "Relu": g.addNode(OpSchema.ReLU(), unique(n.displayName), inputs: [x.tensor], outputs: [y.tensor], onnxNodes: [n.name])
      case "Sigmoid": g.addNode(OpSchema.Sigmoid(), unique(n.displayName), inputs: [x.tensor], outputs: [y.tensor], onnxNodes: [n.name])
      case "Gelu":
        guard (n.string("approximate") ?? "none") == "none" else { throw ImportError.node(n, "only the exact (erf) GELU is supported") }
        g.addNode(OpSchema.GELU(), unique(n.displayName), inputs: [x.tensor], outputs: [y.tensor], onnxNodes: [n.name])
      default:
        let (lo, hi) = try a.clipBounds(n)
        g.addNode(OpSchema.Clamp(ActivationClamp(lo, hi)), unique(n.displayName), inputs: [x.tensor], outputs: [y.tensor], onnxNodes: [n.name])
      }

    case "Identity", "Dropout", "Cast", "Expand":
      values[out] = try activation(ins[0], n)

    case "LayerNormalization":
      let rank = a.shapes[ins[0]]!.count
      guard Shapes.axis(n.int("axis", default: -1), rank: rank) == rank - 1 else {
        throw ImportError.node(n, "LayerNormalization over axes \(n.int("axis", default: -1))... ; only the last axis is supported")
      }
      try layerNorm(input: ins[0], gamma: a.constants[ins[1]], gammaName: ins[1], beta: ins.count > 2 ? a.constants[ins[2]] : nil,
                    betaName: ins.count > 2 ? ins[2] : "", epsilon: n.float("epsilon") ?? 1e-5, output: out, name: n.displayName,
                    onnxNodes: [n.name], n)

    case "Softmax":
      let x = try lastAxisLast(try activation(ins[0], n))
      let y = define(out, layout: x.layout)
      g.addNode(OpSchema.Softmax(), unique(n.displayName), inputs: [x.tensor], outputs: [y.tensor], onnxNodes: [n.name])

    case "Transpose":
      let x = try activation(ins[0], n)
      let perm = n.ints("perm") ?? Array((0..<x.shape.count).reversed())
      var inverse = perm
      for (i, p) in perm.enumerated() { inverse[p] = i }
      // No data moves: the same tensor, read through the composed permutation.
      values[out] = EmittedValue(tensor: x.tensor, layout: Layout(perm: x.layout.perm.map { inverse[$0] }, squeezed: x.layout.squeezed),
                                 shape: a.shapes[out]!)

    case "Reshape", "Flatten", "Squeeze", "Unsqueeze":
      try emitReshape(i)

    case "Concat":
      try emitConcat(i)

    case "Mul", "Div":
      try emitMul(i)

    case "Pow":
      // x^2, x^3 as products (the tanh form of GELU cubes its input).
      guard let e = a.constants[ins[1]], e.count == 1, [1, 2, 3].contains(e.floats[0]) else {
        throw ImportError.node(n, "Pow of an activation is only supported with a constant exponent 1, 2 or 3")
      }
      let x = try activation(ins[0], n)
      var cur = x.tensor
      for k in 1..<Int(e.floats[0]) {
        let last = k == Int(e.floats[0]) - 1
        let t = last ? define(out, layout: x.layout).tensor : g.addTensor(unique(out + ":pow\(k + 1)"), x.layout.physical(x.shape), onnxValue: nil)
        g.addNode(OpSchema.Mul(), unique(n.displayName), inputs: [cur, x.tensor], outputs: [t], onnxNodes: [n.name])
        cur = t
      }
      if e.floats[0] == 1 { values[out] = x }

    case "Tanh":
      let x = try activation(ins[0], n)
      let y = define(out, layout: x.layout)
      g.addNode(OpSchema.Tanh(), unique(n.displayName), inputs: [x.tensor], outputs: [y.tensor], onnxNodes: [n.name])

    case "Neg":
      let x = try activation(ins[0], n)
      values[out] = EmittedValue(tensor: negated(x, n), layout: x.layout, shape: x.shape)

    case "Slice", "Gather", "Split":
      throw ImportError.node(n, "\(n.opType) of an activation is only supported inside a fused attention (q, k, v taken from a packed projection); the .lotr op set has no slice")

    case "Sqrt", "ReduceMean", "Exp", "Erf":
      throw ImportError.node(n, "\(n.opType) on activations is only supported inside a recognised pattern (decomposed LayerNorm, exact GELU); the .lotr op set has no elementwise \(n.opType)")

    default:
      throw ImportError.node(n, "op '\(n.opType)' on activations is not supported. \(GraphAnalysis.supportedSummary)")
    }
  }

  mutating func emitConv(_ i: Int) throws {
    let n = node(i)
    let ins = n.presentInputs
    let transposed = n.opType == "ConvTranspose"
    guard let w0 = a.constants[ins[1]] else { throw ImportError.node(n, "the weight must be a constant") }
    let x = try activation(ins[0], n)
    guard x.shape.count == 4 else { throw ImportError.node(n, "input is not 4-D") }
    let xt = try convert(x, to: .nhwc)
    let cin = x.shape[1]
    let groups = n.int("group", default: 1)
    let kernel = n.ints("kernel_shape") ?? [w0.shape[2], w0.shape[3]]
    guard kernel == [w0.shape[2], w0.shape[3]] else { throw ImportError.node(n, "kernel_shape \(kernel) does not match the weight \(w0.shape)") }
    let strides = n.ints("strides") ?? [1, 1]
    let pads = try a.convPads(n, input: [x.shape[2], x.shape[3]], kernel: kernel, strides: strides)
    let cout = transposed ? w0.shape[1] * groups : w0.shape[0]
    var w = w0.floats
    var bias = ins.count > 2 ? try { () throws -> [Float] in
      guard let b = a.constants[ins[2]], b.count == cout else { throw ImportError.node(n, "the bias must be a constant of \(cout) values") }
      return b.floats
    }() : [Float](repeating: 0, count: cout)
    if transposed {
      guard groups == 1 else { throw ImportError.node(n, "grouped ConvTranspose (group \(groups)) is not supported") }
      guard (n.ints("output_padding") ?? [0, 0]).allSatisfy({ $0 == 0 }) else { throw ImportError.node(n, "output_padding is not supported") }
      guard n.ints("output_shape") == nil else { throw ImportError.node(n, "output_shape is not supported; give pads") }
    } else {
      guard groups == 1 || (groups == cin && w0.shape[1] == 1) || cin % groups == 0 else { throw ImportError.node(n, "group \(groups) does not divide \(cin) channels") }
    }
    var merged = [n.name]
    var outName = n.output[0]
    // Fold a BatchNormalization that only this conv feeds.
    if let r = m.soleReader(outName), node(r).opType == "BatchNormalization", !consumed.contains(r) {
      let (scale, shift) = try a.batchNormAffine(node(r))
      guard scale.count == cout else { throw ImportError.node(node(r), "has \(scale.count) channels, the conv before it \(cout)") }
      let per = w.count / (transposed ? w0.shape[0] : cout) // elements per (outer) slice
      for e in w.indices {
        let o = transposed ? (e / (kernel[0] * kernel[1])) % cout : e / per
        w[e] *= scale[o]
      }
      for o in 0..<cout { bias[o] = bias[o] * scale[o] + shift[o] }
      consumed.insert(r)
      merged.append(node(r).name)
      outName = node(r).output[0]
      g.notes.append("BatchNormalization '\(node(r).displayName)' folded into '\(n.displayName)'")
    }
    let (lo, hi) = try fuseActivation(after: &outName, merged: &merged)
    let wt = ConstTensor(shape: w0.shape, floats: w)
    let weight: ConstTensor
    if transposed {
      weight = wt.transposed([1, 2, 3, 0])            // [Cin, Cout, kh, kw] -> [Cout, kh, kw, Cin]
    } else if groups > 1 && groups == cin && w0.shape[1] == 1 && cout == cin {
      weight = wt.transposed([1, 2, 3, 0])            // depthwise [C, 1, kh, kw] -> [1, kh, kw, C]
    } else {
      weight = wt.transposed([0, 2, 3, 1])            // OIHW -> OHWI
    }
    let base = n.displayName.hasSuffix("/Conv") || n.displayName.hasSuffix("/ConvTranspose")
      ? String(n.displayName[..<n.displayName.lastIndex(of: "/")!]) : n.displayName
    let wid = constantTensor(base + ".weight", weight.shape, weight.floats)
    let bid = constantTensor(base + ".bias", [cout], bias)
    let y = define(outName, layout: .nhwc)
    let window = Window2D(kernel: (kernel[0], kernel[1]), stride: (strides[0], strides[1]), pads: (pads[0], pads[1], pads[2], pads[3]))
    let clamp = ActivationClamp(lo, hi)
    let attributes: any OpAttributes = transposed
      ? OpSchema.Deconv2D(window, clamp: clamp) : OpSchema.Conv2D(window, groups: groups, clamp: clamp)
    g.addNode(attributes, unique(n.displayName), inputs: [xt, wid, bid], outputs: [y.tensor], onnxNodes: merged)
  }

  mutating func emitMatMul(_ i: Int) throws {
    let n = node(i)
    let ins = n.presentInputs
    var merged = [n.name]
    var outName = n.output[0]
    var weight: ConstTensor         // [N, K]
    var bias: ConstTensor? = nil
    if n.opType == "Gemm" {
      guard n.int("transA", default: 0) == 0 else { throw ImportError.node(n, "transA = 1 is not supported") }
      guard let b = a.constants[ins[1]] else { throw ImportError.node(n, "B must be a constant weight") }
      let alpha = n.float("alpha") ?? 1, beta = n.float("beta") ?? 1
      weight = n.int("transB", default: 0) != 0 ? b : b.transposed([1, 0])
      weight = weight.mapElements(float: { $0 * alpha }, int: { $0 })
      if ins.count > 2 {
        guard let c = a.constants[ins[2]], c.count == weight.shape[0] || c.count == 1 else { throw ImportError.node(n, "C must be a constant [N]") }
        bias = ConstTensor(shape: [weight.shape[0]], floats: c.broadcast(to: [weight.shape[0]]).floats.map { $0 * beta })
      }
    } else if let b = a.constants[ins[1]], b.shape.count == 2, !a.isConstant(ins[0]) {
      weight = b.transposed([1, 0])
      // Bias: an Add of a constant [N] that only this MatMul feeds.
      if let r = m.soleReader(outName), node(r).opType == "Add", !consumed.contains(r), attentionAt[r] == nil {
        let add = node(r)
        let other = add.input[0] == outName ? add.input[1] : add.input[0]
        if let c = a.constants[other], c.shape.last == weight.shape[0], c.count == weight.shape[0] {
          bias = ConstTensor(shape: [weight.shape[0]], floats: c.floats)
          consumed.insert(r)
          merged.append(add.name)
          outName = add.output[0]
        }
      }
    } else if !a.isConstant(ins[0]), !a.isConstant(ins[1]) {
      let x = try activation(ins[0], n), y = try activation(ins[1], n)
      if x.shape.count > 2 || y.shape.count > 2 { try emitBatchMatMul(i); return }
      let xt = try convert(x, to: .identity(2)), yt = try convert(y, to: .identity(2))
      let z = define(outName, layout: .identity(2))
      g.addNode(OpSchema.MatMul(transposeB: false), unique(n.displayName), inputs: [xt, yt], outputs: [z.tensor], onnxNodes: merged)
      return
    } else if a.shapes[ins[0]]!.count > 2 || a.shapes[ins[1]]!.count > 2 {
      try emitBatchMatMul(i)
      return
    } else {
      throw ImportError.node(n, "MatMul with a constant left operand and a \(a.shapes[ins[1]]!) right operand is not supported; LINEAR needs x [.., K] times a constant [K, N]")
    }
    let x = try lastAxisLast(try activation(ins[0], n))
    let (lo, hi) = try fuseActivation(after: &outName, merged: &merged)
    let nOut = weight.shape[0]
    let base = n.displayName.hasSuffix("/MatMul") || n.displayName.hasSuffix("/Gemm")
      ? String(n.displayName[..<n.displayName.lastIndex(of: "/")!]) : n.displayName
    let wid = constantTensor(base + ".weight", weight.shape, weight.floats)
    let bid = constantTensor(base + ".bias", [nOut], bias?.floats ?? [Float](repeating: 0, count: nOut))
    let y = define(outName, layout: x.layout)
    guard g.tensors[y.tensor].shape == Array(g.tensors[x.tensor].shape.dropLast()) + [nOut] else {
      throw ImportError.node(n, "output \(a.shapes[outName]!) does not follow from \(x.shape) x [K, \(nOut)] (batched weights are not supported)")
    }
    g.addNode(OpSchema.Linear(clamp: ActivationClamp(lo, hi)), unique(base), inputs: [x.tensor, wid, bid], outputs: [y.tensor], onnxNodes: merged)
  }

  mutating func emitAdd(_ i: Int) throws {
    let n = node(i)
    let ins = n.presentInputs
    let sub = n.opType == "Sub"
    var merged = [n.name]
    var outName = n.output[0]
    let aConst = a.isConstant(ins[0]), bConst = a.isConstant(ins[1])
    let xName = aConst ? ins[1] : ins[0]
    let x = try activation(xName, n)
    guard a.shapes[n.output[0]]! == x.shape else {
      throw ImportError.node(n, "broadcasting the activation \(x.shape) to \(a.shapes[n.output[0]]!) is not supported (ADD needs equal shapes)")
    }
    let other: Int
    if aConst || bConst {
      other = try constant(aConst ? ins[0] : ins[1], as: x.shape, layout: x.layout, n, map: sub && bConst ? .negate : .identity)
      if sub && aConst { // c - x = c + (-x)
        let z = define(outName, layout: x.layout)
        g.addNode(OpSchema.Add(), unique(n.displayName), inputs: [other, negated(x, n)], outputs: [z.tensor], onnxNodes: merged)
        return
      }
    } else {
      let y = try activation(ins[1], n)
      guard y.shape == x.shape else { throw ImportError.node(n, "shapes \(x.shape) and \(y.shape) differ; ADD of activations needs equal shapes") }
      let yt = try convert(y, to: x.layout)
      other = sub ? negated(EmittedValue(tensor: yt, layout: x.layout, shape: y.shape), n) : yt // a - b = a + (-b)
    }
    let (lo, hi) = try fuseActivation(after: &outName, merged: &merged)
    let z = define(outName, layout: x.layout)
    g.addNode(OpSchema.Add(clamp: ActivationClamp(lo, hi)), unique(n.displayName), inputs: aConst ? [other, x.tensor] : [x.tensor, other],
              outputs: [z.tensor], onnxNodes: merged)
  }

  mutating func emitReshape(_ i: Int) throws {
    let n = node(i)
    let x = try activation(n.input[0], n)
    let target = a.shapes[n.output[0]]!
    if target == x.shape { values[n.output[0]] = x; return }
    guard target.count <= ModelFormat.maxRank + 1 else { throw ImportError.node(n, "rank \(target.count) results are not supported") }
    // Flatten to tokens: NCHW [1, C, H, W] -> [1, C, H*W]; in NHWC that is [H*W, C] as is.
    if x.layout == .nhwc, x.shape[0] == 1, target == [1, x.shape[1], x.shape[2] * x.shape[3]] {
      let layout = Layout(perm: [0, 2, 1], squeezed: true)
      let y = define(n.output[0], layout: layout)
      g.addNode(OpSchema.Reshape(), unique(n.displayName), inputs: [x.tensor], outputs: [y.tensor], onnxNodes: [n.name])
      return
    }
    // Otherwise in ONNX order: same elements, new shape.
    let plain = try convert(x, to: .identity(x.shape.count, squeezed: x.layout.squeezed && x.layout.isIdentity))
    let layout = Layout.natural(target)
    guard layout.physical(target).count <= ModelFormat.maxRank else { throw ImportError.node(n, "the result \(target) has rank > 4") }
    let y = define(n.output[0], layout: layout)
    if g.tensors[plain].shape == g.tensors[y.tensor].shape {
      // Same physical shape (a squeeze/unsqueeze of the leading 1): no node needed.
      g.tensors.removeLast()
      values[n.output[0]] = EmittedValue(tensor: plain, layout: layout, shape: target)
      return
    }
    g.addNode(OpSchema.Reshape(), unique(n.displayName), inputs: [plain], outputs: [y.tensor], onnxNodes: [n.name])
  }

  mutating func emitConcat(_ i: Int) throws {
    let n = node(i)
    let ins = n.presentInputs
    guard let first = ins.first(where: { !a.isConstant($0) }) else { return }
    let x = try activation(first, n)
    let axis = Shapes.axis(n.int("axis", default: 0), rank: x.shape.count)!
    var physicalAxis = x.layout.perm.firstIndex(of: axis)!
    if x.layout.squeezed {
      guard physicalAxis > 0 else { throw ImportError.node(n, "concatenating along the batch axis is not supported") }
      physicalAxis -= 1
    }
    var parts: [(Int, [Int])] = []
    for v in ins {
      let shape = a.shapes[v]!
      if a.isConstant(v) {
        parts.append((try constant(v, as: shape, layout: x.layout, n), shape))
      } else {
        let e = try activation(v, n)
        parts.append((try convert(e, to: x.layout), shape))
      }
    }
    var acc = parts[0]
    for k in 1..<parts.count {
      var shape = acc.1
      shape[axis] += parts[k].1[axis]
      let last = k == parts.count - 1
      let outT: Int
      if last {
        outT = define(n.output[0], layout: x.layout).tensor
      } else {
        outT = g.addTensor(unique(n.output[0] + ":part\(k)"), x.layout.physical(shape), onnxValue: nil)
      }
      g.addNode(OpSchema.Concat(axis: physicalAxis), unique(n.displayName), inputs: [acc.0, parts[k].0], outputs: [outT], onnxNodes: [n.name])
      acc = (outT, shape)
    }
  }

  /// -x as MUL by a constant -1 (the format has no negate).
  mutating func negated(_ x: EmittedValue, _ n: Onnx_NodeProto) -> Int {
    let shape = x.layout.physical(x.shape)
    let minusOne = constantTensor(n.displayName + ":minus_one", shape, [Float](repeating: -1, count: shape.reduce(1, *)))
    let y = g.addTensor(unique((g.tensors[x.tensor].onnxValue ?? g.tensors[x.tensor].name) + ":neg"), shape, onnxValue: nil)
    g.addNode(OpSchema.Mul(), unique(n.displayName + "/negate"), inputs: [x.tensor, minusOne], outputs: [y], onnxNodes: [n.name])
    return y
  }

  /// Mul or Div: MUL with the other operand, an activation of the same shape or a constant
  /// broadcast to it (a Div's constant as its reciprocal).
  mutating func emitMul(_ i: Int) throws {
    let n = node(i)
    let ins = n.presentInputs
    let div = n.opType == "Div"
    let aConst = a.isConstant(ins[0]), bConst = a.isConstant(ins[1])
    if div && aConst { throw ImportError.node(n, "constant divided by an activation is not supported (no elementwise reciprocal in .lotr)") }
    let x = try activation(aConst ? ins[1] : ins[0], n)
    guard a.shapes[n.output[0]]! == x.shape else {
      throw ImportError.node(n, "broadcasting the activation \(x.shape) to \(a.shapes[n.output[0]]!) is not supported (MUL needs equal shapes)")
    }
    let other: Int
    if aConst || bConst {
      other = try constant(aConst ? ins[0] : ins[1], as: x.shape, layout: x.layout, n, map: div ? .reciprocal : .identity)
    } else {
      if div { throw ImportError.node(n, "Div of two activations is not supported (no elementwise reciprocal in .lotr)") }
      let y = try activation(ins[1], n)
      guard y.shape == x.shape else { throw ImportError.node(n, "shapes \(x.shape) and \(y.shape) differ; MUL of activations needs equal shapes") }
      other = try convert(y, to: x.layout)
    }
    let z = define(n.output[0], layout: x.layout)
    g.addNode(OpSchema.Mul(), unique(n.displayName), inputs: [x.tensor, other], outputs: [z.tensor], onnxNodes: [n.name])
  }

  /// MatMul of rank 3 or 4 (batch 1 leading) operands, activations or one constant:
  /// BATCH_MATMUL over the batch axis, [B, M, K] x [B, K, N], operands laid out in ONNX order.
  mutating func emitBatchMatMul(_ i: Int) throws {
    let n = node(i)
    let (xs, ys) = (a.shapes[n.input[0]]!, a.shapes[n.input[1]]!)
    func batched(_ shape: [Int]) -> Layout? {
      switch shape.count {
      case 3: return .identity(3)
      case 4 where shape[0] == 1: return .identity(4, squeezed: true)
      default: return nil
      }
    }
    let out = a.shapes[n.output[0]]!
    guard xs.count == ys.count, let lx = batched(xs), let ly = batched(ys), let lo = batched(out), xs.dropLast(2) == ys.dropLast(2) else {
      throw ImportError.node(n, "MatMul \(xs) x \(ys): only 2-D, or batched [B, M, K] x [B, K, N] (rank 3, or rank 4 with batch 1) without broadcasting")
    }
    func operand(_ v: String, _ layout: Layout) throws -> Int {
      if a.isConstant(v) { return try constant(v, as: a.shapes[v]!, layout: layout, n) }
      return try convert(try activation(v, n), to: layout)
    }
    let xt = try operand(n.input[0], lx), yt = try operand(n.input[1], ly)
    let z = define(n.output[0], layout: lo)
    g.addNode(OpSchema.BatchMatMul(transposeB: false), unique(n.displayName), inputs: [xt, yt], outputs: [z.tensor], onnxNodes: [n.name])
  }

  // MARK: patterns

  mutating func layerNorm(input: String, gamma: ConstTensor?, gammaName: String, beta: ConstTensor?, betaName: String,
                          epsilon: Float, output: String, name: String, onnxNodes: [String], _ n: Onnx_NodeProto) throws {
    let x = try lastAxisLast(try activation(input, n))
    let c = x.shape.last!
    guard let gammaValues = gamma?.floats ?? (gammaName.isEmpty ? [Float](repeating: 1, count: c) : nil), gammaValues.count == c else {
      throw ImportError.node(n, "gamma must be a constant of \(c) values")
    }
    let betaValues = beta?.floats ?? [Float](repeating: 0, count: c)
    guard betaValues.count == c, betaName.isEmpty || beta != nil else { throw ImportError.node(n, "beta must be a constant of \(c) values") }
    let base = name.hasSuffix("/LayerNormalization") ? String(name[..<name.lastIndex(of: "/")!]) : name
    let gid = constantTensor(base + ".weight", [c], gammaValues)
    let bid = constantTensor(base + ".bias", [c], betaValues)
    let y = define(output, layout: x.layout)
    g.addNode(OpSchema.LayerNorm(epsilon: epsilon), unique(name), inputs: [x.tensor, gid, bid], outputs: [y.tensor], onnxNodes: onnxNodes)
  }

  mutating func emitLayerNorm(_ match: LayerNormMatch) throws {
    let n = node(match.anchor)
    try layerNorm(input: match.input, gamma: match.gamma, gammaName: "", beta: match.beta, betaName: "", epsilon: match.epsilon,
                  output: match.output, name: n.displayName, onnxNodes: match.nodes.sorted().map { node($0).name }, n)
  }

  /// The layout that stores a token tensor [T, D], [1, T, D] or [T, 1, D] (batch first or
  /// not, batch 1) as the [T, D] matrix ATTENTION reads and writes.
  static func tokenLayout(_ shape: [Int]) -> Layout? {
    switch shape.count {
    case 2: return .identity(2)
    case 3 where shape[0] == 1: return .identity(3, squeezed: true)
    case 3 where shape[1] == 1: return Layout(perm: [1, 0, 2], squeezed: true)
    default: return nil
    }
  }

  /// [T, D] for ATTENTION: an activation converted, or a constant laid out.
  mutating func tokens(_ v: String, _ n: Onnx_NodeProto) throws -> Int {
    let shape = a.shapes[v]!
    guard let layout = Self.tokenLayout(shape) else {
      throw ImportError.node(n, "attention input '\(v)' is \(shape), expected tokens [T, D], [1, T, D] or [T, 1, D]")
    }
    if a.isConstant(v) { return try constant(v, as: shape, layout: layout, n) }
    return try convert(try activation(v, n), to: layout)
  }

  mutating func emitAttention(_ match: AttentionMatch) throws {
    let n = node(match.anchor)
    func input(_ p: Projection) throws -> Int {
      guard let t = p.constantTokens else { return try tokens(p.input, n) }
      return constantTensor(p.input + ":tokens", t.shape, t.floats)
    }
    let q = try input(match.q), k = try input(match.k), v = try input(match.v)
    var inputs = [q, k, v]
    let projections = [(match.q, "q_proj"), (match.k, "k_proj"), (match.v, "v_proj"), (match.out, "out_proj")]
    for (p, label) in projections {
      let mm = p.nodes.first.map { node($0).name } ?? ""     // none: the identity of constant tokens
      let packed = projections.filter { $0.0.nodes.first == p.nodes.first }.count > 1 // one in-projection for q, k and v
      let base = mm.hasSuffix("/MatMul") && !packed ? String(mm[..<mm.lastIndex(of: "/")!]) : match.name + "/" + label
      inputs.append(constantTensor(base + ".weight", p.weight.shape, p.weight.floats))
      inputs.append(constantTensor(base + ".bias", [p.bias.count], p.bias.floats))
    }
    let outShape = a.shapes[match.out.output]!
    guard let outLayout = Self.tokenLayout(outShape) else {
      throw ImportError.node(n, "attention output '\(match.out.output)' is \(outShape), expected tokens [T, D], [1, T, D] or [T, 1, D]")
    }
    let y = define(match.out.output, layout: outLayout)
    g.addNode(OpSchema.Attention(heads: match.heads), unique(match.name), inputs: inputs, outputs: [y.tensor],
              onnxNodes: match.nodes.sorted().map { node($0).name })
  }
}
