/// One entry per op of format 1.4 (docs/FORMAT.md, "Ops"); OpSchema.swift says what an
/// entry holds. Shapes: activations NHWC with batch 1, conv weights OHWI, depthwise
/// weights [1, KH, KW, C], linear weights [N, K].
public enum OpSchema {
  public struct Conv2D: OpAttributes {
    public static let op = Op.conv2d
    public static let inputs = ["x", "weight", "bias"]
    public var window = Window2D()
    /// 1, or C for depthwise.
    public var groups = 1
    public var clamp = ActivationClamp.none

    public init() {}
    public init(_ window: Window2D, groups: Int = 1, clamp: ActivationClamp = .none) {
      self.window = window; self.groups = groups; self.clamp = clamp
    }

    public mutating func code(_ c: inout AttributeCoder) { window.code(&c); c.int(&groups); clamp.code(&c) }

    /// One filter per channel (groups = C_in = C_out > 1), weight [1, KH, KW, C].
    public func isDepthwise(inputChannels cin: Int, outputChannels cout: Int) -> Bool {
      groups > 1 && groups == cin && groups == cout
    }

    /// The int8 kernels: any dense convolution, depthwise 3x3 with stride 1 or 2.
    public func hasInt8Kernel(inputChannels cin: Int, outputChannels cout: Int) -> Bool {
      if groups == 1 { return true }
      return isDepthwise(inputChannels: cin, outputChannels: cout) && window.kernelH == 3 && window.kernelW == 3
        && (1...2).contains(window.strideH) && window.strideW == window.strideH
    }

    /// The weight's per-channel quantization axis: its output channels.
    public func weightAxis(inputChannels cin: Int, outputChannels cout: Int) -> Int {
      isDepthwise(inputChannels: cin, outputChannels: cout) ? 3 : 0
    }

    public func problem(_ ins: [TensorInfo], _ out: TensorInfo) -> String? {
      if let p = OperandRules.convolution(window, ins, out) { return p }
      let (x, w, b) = (ins[0], ins[1], ins[2])
      let (kh, kw) = (window.kernelH, window.kernelW)
      let (cin, cout) = (x.shape[3], out.shape[3])
      guard groups >= 1, cin % groups == 0, cout % groups == 0 else { return "groups \(groups) does not divide the channels" }
      let depthwise = isDepthwise(inputChannels: cin, outputChannels: cout)
      let expected = depthwise ? [1, kh, kw, cout] : [cout, kh, kw, cin / groups]
      guard w.shape == expected else {
        return "weight shape \(w.shape) should be \(expected) (kernel \(kh)x\(kw), \(cin) -> \(cout) channels, groups \(groups))"
      }
      let (oh, ow) = window.slidingOutput(height: x.shape[1], width: x.shape[2])
      guard oh >= 1, ow >= 1, out.shape == [1, oh, ow, cout] else { return "output shape \(out.shape) should be [1, \(oh), \(ow), \(cout)]" }
      let axis = weightAxis(inputChannels: cin, outputChannels: cout)
      return OperandRules.weightedTypes(x: x, w: w, bias: b, y: out, weightAxis: axis) ?? clamp.problem()
    }

    public func macs(_ ins: [[Int]], _ out: [Int]) -> Int {
      out.reduce(1, *) * window.kernelH * window.kernelW * (ins[0][3] / max(groups, 1))
    }

    public func int8Form(_ ins: [[Int]], _ out: [Int]) -> Int8Form {
      hasInt8Kernel(inputChannels: ins[0][3], outputChannels: out[3]) ? .requantized : .float
    }
  }

  /// Transposed convolution, no kernel flip (docs/FORMAT.md); weight [Cout, KH, KW, Cin]. Float only.
  public struct Deconv2D: OpAttributes {
    public static let op = Op.deconv2d
    public static let inputs = ["x", "weight", "bias"]
    public var window = Window2D()
    public var clamp = ActivationClamp.none

    public init() {}
    public init(_ window: Window2D, clamp: ActivationClamp = .none) { self.window = window; self.clamp = clamp }

    public mutating func code(_ c: inout AttributeCoder) { window.code(&c); clamp.code(&c) }

    public func problem(_ ins: [TensorInfo], _ out: TensorInfo) -> String? {
      if let p = OperandRules.convolution(window, ins, out) { return p }
      let (x, w, b) = (ins[0], ins[1], ins[2])
      let (kh, kw) = (window.kernelH, window.kernelW)
      let (cin, cout) = (x.shape[3], out.shape[3])
      guard w.shape == [cout, kh, kw, cin] else {
        return "weight shape \(w.shape) should be [\(cout), \(kh), \(kw), \(cin)]"
      }
      let (oh, ow) = window.transposedOutput(height: x.shape[1], width: x.shape[2])
      guard oh >= 1, ow >= 1, out.shape == [1, oh, ow, cout] else { return "output shape \(out.shape) should be [1, \(oh), \(ow), \(cout)]" }
      return OperandRules.weightedTypes(x: x, w: w, bias: b, y: out, weightAxis: 0) ?? clamp.problem()
    }

    /// Every input element meets Cout x KH x KW weights.
    public func macs(_ ins: [[Int]], _ out: [Int]) -> Int { ins[0].reduce(1, *) * ins[1][0] * ins[1][1] * ins[1][2] }
  }

  public struct Add: OpAttributes {
    public static let op = Op.add
    public static let inputs = ["a", "b"]
    public var clamp = ActivationClamp.none

    public init() {}
    public init(clamp: ActivationClamp) { self.clamp = clamp }

    public mutating func code(_ c: inout AttributeCoder) { clamp.code(&c) }

    public func problem(_ ins: [TensorInfo], _ out: TensorInfo) -> String? {
      if let p = OperandRules.sameShape(ins[0], ins[1]) ?? OperandRules.sameShape(ins[0], out) { return p }
      let all = [ins[0], ins[1], out]
      guard all.allSatisfy({ $0.dtype == .f32 }) || all.allSatisfy(OperandRules.quantizedI8) else {
        return "inputs and output must be all f32 or all quantized i8"
      }
      return clamp.problem()
    }

    public func int8Form(_ ins: [[Int]], _ out: [Int]) -> Int8Form { .requantized }
  }

  /// y [M, N] = x [M, K] · weight [N, K]ᵀ + bias [N], then the clamp.
  public struct Linear: OpAttributes {
    public static let op = Op.linear
    public static let inputs = ["x", "weight", "bias"]
    public var clamp = ActivationClamp.none

    public init() {}
    public init(clamp: ActivationClamp) { self.clamp = clamp }

    public mutating func code(_ c: inout AttributeCoder) { clamp.code(&c) }

    public func problem(_ ins: [TensorInfo], _ out: TensorInfo) -> String? {
      let (x, w, b) = (ins[0], ins[1], ins[2])
      if let p = OperandRules.constant(w) ?? OperandRules.constant(b) { return p }
      guard w.shape.count == 2, let k = x.shape.last, w.shape[1] == k, b.shape == [w.shape[0]] else {
        return "weight \(w.shape) and bias \(b.shape) do not fit input \(x.shape) (weight is [N, K], bias [N])"
      }
      guard out.shape == Array(x.shape.dropLast()) + [w.shape[0]] else { return "output shape \(out.shape) is wrong" }
      return OperandRules.weightedTypes(x: x, w: w, bias: b, y: out, weightAxis: 0) ?? clamp.problem()
    }

    public func macs(_ ins: [[Int]], _ out: [Int]) -> Int { out.reduce(1, *) * ins[1][1] }
    public func int8Form(_ ins: [[Int]], _ out: [Int]) -> Int8Form { .requantized }
  }

  /// y [M, N] = alpha · a [M, K] · b (b [K, N], or [N, K] transposed). Float only.
  public struct MatMul: OpAttributes {
    public static let op = Op.matmul
    public static let inputs = ["a", "b"]
    public var transposeB = false
    public var alpha: Float = 1

    public init() {}
    public init(transposeB: Bool, alpha: Float = 1) { self.transposeB = transposeB; self.alpha = alpha }

    public mutating func code(_ c: inout AttributeCoder) { c.bool(&transposeB); c.float(&alpha) }

    public func problem(_ ins: [TensorInfo], _ out: TensorInfo) -> String? {
      let (a, b) = (ins[0], ins[1])
      guard [a, b, out].allSatisfy({ $0.dtype == .f32 && $0.shape.count == 2 }) else { return "operands must be f32 matrices" }
      let (kb, n) = transposeB ? (b.shape[1], b.shape[0]) : (b.shape[0], b.shape[1])
      guard a.shape[1] == kb, out.shape == [a.shape[0], n] else { return "shapes \(a.shape) x \(b.shape) -> \(out.shape) do not agree" }
      return alpha.isFinite ? nil : "alpha is not finite"
    }

    public func macs(_ ins: [[Int]], _ out: [Int]) -> Int { out.reduce(1, *) * ins[0][1] }
  }

  /// Over the last axis; gamma and beta [C]. Float only.
  public struct LayerNorm: OpAttributes {
    public static let op = Op.layerNorm
    public static let inputs = ["x", "gamma", "beta"]
    public var epsilon: Float = 1e-5

    public init() {}
    public init(epsilon: Float) { self.epsilon = epsilon }

    public mutating func code(_ c: inout AttributeCoder) { c.float(&epsilon) }

    public func problem(_ ins: [TensorInfo], _ out: TensorInfo) -> String? {
      let (x, g, b) = (ins[0], ins[1], ins[2])
      guard [x, g, b, out].allSatisfy({ $0.dtype == .f32 }) else { return "LayerNorm stays float: all operands f32" }
      if let p = OperandRules.constant(g) ?? OperandRules.constant(b) ?? OperandRules.sameShape(x, out) { return p }
      guard let c = x.shape.last, g.shape == [c], b.shape == [c] else { return "gamma and beta must be [\(x.shape.last ?? 0)]" }
      return epsilon.isFinite && epsilon > 0 ? nil : "epsilon \(epsilon) is not finite and positive"
    }
  }

  /// Over the last axis.
  public struct Softmax: FloatElementwiseOp {
    public static let op = Op.softmax
    public init() {}
  }

  /// The exact (erf) form.
  public struct GELU: FloatElementwiseOp {
    public static let op = Op.gelu
    public init() {}
  }

  public struct Sigmoid: FloatElementwiseOp {
    public static let op = Op.sigmoid
    public init() {}
  }

  /// f32, or i8 with the input's quantization.
  public struct ReLU: UnaryWithoutAttributes {
    public static let op = Op.relu
    public init() {}
    public func problem(_ ins: [TensorInfo], _ out: TensorInfo) -> String? {
      guard ins[0].dtype == out.dtype, ins[0].dtype != .i32 else { return "input and output dtypes differ" }
      return OperandRules.sameShape(ins[0], out)
    }
  }

  /// f32, or i8 with the input's quantization.
  public struct Clamp: OpAttributes {
    public static let op = Op.clamp
    public static let inputs = ["x"]
    public var range = ActivationClamp.none

    public init() {}
    public init(_ range: ActivationClamp) { self.range = range }

    public mutating func code(_ c: inout AttributeCoder) { range.code(&c) }

    public func problem(_ ins: [TensorInfo], _ out: TensorInfo) -> String? {
      guard OperandRules.sameEncoding(ins[0], out), ins[0].dtype != .i32 else {
        return "input and output must share dtype and quantization"
      }
      if let p = OperandRules.sameShape(ins[0], out) { return p }
      return range.min.isNaN || range.max.isNaN || range.min > range.max ? "clamp [\(range.min), \(range.max)] is empty or NaN" : nil
    }
  }

  /// Multi-head attention: query [Lq, D], key and value [Lk, D], four projections
  /// (weight [D, D], f32 or i8 per channel; bias [D] f32) -> y [Lq, D].
  public struct Attention: OpAttributes {
    public static let op = Op.attention
    public static let inputs = ["query", "key", "value", "wq", "bq", "wk", "bk", "wv", "bv", "wo", "bo"]
    public var heads = 1

    public init() {}
    public init(heads: Int) { self.heads = heads }

    public mutating func code(_ c: inout AttributeCoder) { c.int(&heads) }

    public func problem(_ ins: [TensorInfo], _ out: TensorInfo) -> String? {
      let (q, k, v) = (ins[0], ins[1], ins[2])
      guard [q, k, v, out].allSatisfy({ $0.dtype == .f32 && $0.shape.count == 2 }) else {
        return "query, key, value and output must be f32 [tokens, D]"
      }
      let d = q.shape[1]
      guard k.shape[1] == d, v.shape == k.shape, out.shape == q.shape else { return "query \(q.shape), key \(k.shape), value \(v.shape) do not agree" }
      for i in stride(from: 3, to: 11, by: 2) {
        let (w, b) = (ins[i], ins[i + 1])
        if let p = OperandRules.constant(w) ?? OperandRules.constant(b) { return p }
        guard w.shape == [d, d], b.shape == [d], b.dtype == .f32, w.dtype == .f32 || OperandRules.perChannel(w, axis: 0) else {
          return "projection '\(w.name)' must be [\(d), \(d)] (f32 or i8 per channel) with f32 bias [\(d)]"
        }
      }
      return heads >= 1 && d % heads == 0 ? nil : "\(heads) heads do not divide D = \(d)"
    }

    /// Four projections (2 Lq + 2 Lk rows of D x D) and the two matmuls (q kᵀ, attention v).
    public func macs(_ ins: [[Int]], _ out: [Int]) -> Int {
      let (lq, lk, d) = (ins[0][0], ins[1][0], ins[0][1])
      return (2 * lq + 2 * lk) * d * d + 2 * lq * lk * d
    }
  }

  /// The output's shape is the tensor's; same element count.
  public struct Reshape: UnaryWithoutAttributes {
    public static let op = Op.reshape
    public init() {}
    public func problem(_ ins: [TensorInfo], _ out: TensorInfo) -> String? {
      guard OperandRules.sameEncoding(ins[0], out) else { return "reshape keeps dtype and quantization" }
      return ins[0].elementCount == out.elementCount ? nil : "reshape changes the element count"
    }
    public func int8Form(_ ins: [[Int]], _ out: [Int]) -> Int8Form { .sharesInputQuantization }
  }

  /// perm[4]: output axis i is input axis perm[i]; entries past the rank are the identity.
  public struct Transpose: OpAttributes {
    public static let op = Op.transpose
    public static let inputs = ["x"]
    public var perm = [0, 1, 2, 3]

    public init() {}
    /// `perm` for the first axes; the rest keep their place.
    public init(perm: [Int]) { self.perm = (0..<4).map { $0 < perm.count ? perm[$0] : $0 } }

    public mutating func code(_ c: inout AttributeCoder) { for i in 0..<4 { c.int(&perm[i]) } }

    public func problem(_ ins: [TensorInfo], _ out: TensorInfo) -> String? {
      let x = ins[0], rank = x.shape.count
      let used = Array(perm.prefix(rank))
      guard Set(used) == Set(0..<rank), (rank..<4).allSatisfy({ perm[$0] == $0 }) else {
        return "perm \(used) is not a permutation of the \(rank) axes"
      }
      guard OperandRules.sameEncoding(x, out), out.shape == used.map({ x.shape[$0] }) else {
        return "output \(out.shape) is not the permuted input"
      }
      return nil
    }
    public func int8Form(_ ins: [[Int]], _ out: [Int]) -> Int8Form { .sharesInputQuantization }
  }

  public struct Concat: OpAttributes {
    public static let op = Op.concat
    public static let inputs = ["a", "b"]
    public var axis = 0

    public init() {}
    public init(axis: Int) { self.axis = axis }

    public mutating func code(_ c: inout AttributeCoder) { c.int(&axis) }

    public func problem(_ ins: [TensorInfo], _ out: TensorInfo) -> String? {
      let (a, b) = (ins[0], ins[1])
      guard OperandRules.sameEncoding(a, b), OperandRules.sameEncoding(a, out) else {
        return "concat operands must share dtype and quantization"
      }
      guard axis >= 0, axis < a.shape.count, a.shape.count == b.shape.count else { return "axis \(axis) is out of range" }
      var expected = a.shape
      expected[axis] += b.shape[axis]
      for i in a.shape.indices where i != axis && a.shape[i] != b.shape[i] { return "shapes \(a.shape) and \(b.shape) differ off the axis" }
      return out.shape == expected ? nil : "output \(out.shape) should be \(expected)"
    }
  }

  /// f32 -> i8 with the output's scale and zero point.
  public struct Quantize: UnaryWithoutAttributes {
    public static let op = Op.quantize
    public init() {}
    public func problem(_ ins: [TensorInfo], _ out: TensorInfo) -> String? {
      guard ins[0].dtype == .f32, OperandRules.quantizedI8(out) else { return "QUANTIZE takes f32 to per-tensor quantized i8" }
      return OperandRules.sameShape(ins[0], out)
    }
  }

  /// i8 -> f32 with the input's scale and zero point.
  public struct Dequantize: UnaryWithoutAttributes {
    public static let op = Op.dequantize
    public init() {}
    public func problem(_ ins: [TensorInfo], _ out: TensorInfo) -> String? {
      guard OperandRules.quantizedI8(ins[0]), out.dtype == .f32 else { return "DEQUANTIZE takes per-tensor quantized i8 to f32" }
      return OperandRules.sameShape(ins[0], out)
    }
  }

  /// x [1, H, W, C] -> y [1, OH, OW, C]; padded taps never win. f32, or i8 with the
  /// input's quantization (max commutes with it: exact).
  public struct MaxPool: OpAttributes {
    public static let op = Op.maxPool
    public static let inputs = ["x"]
    public static let sinceMinor: UInt16 = 1
    public var window = Window2D()

    public init() {}
    public init(_ window: Window2D) { self.window = window }

    public mutating func code(_ c: inout AttributeCoder) { window.code(&c) }

    public func problem(_ ins: [TensorInfo], _ out: TensorInfo) -> String? {
      let x = ins[0]
      guard x.shape.count == 4, out.shape.count == 4, x.shape[0] == 1 else { return "input and output must be rank 4 (NHWC) with batch 1" }
      if let p = window.rangeProblem() { return p }
      let w = window
      // Padding smaller than the kernel: every window holds at least one real element.
      guard [w.padTop, w.padBottom].allSatisfy({ $0 >= 0 && $0 < w.kernelH }), [w.padLeft, w.padRight].allSatisfy({ $0 >= 0 && $0 < w.kernelW }) else {
        return "padding out of range (each pad must be below the kernel size)"
      }
      let (oh, ow) = w.slidingOutput(height: x.shape[1], width: x.shape[2])
      guard x.shape[1] + w.padTop + w.padBottom >= w.kernelH, x.shape[2] + w.padLeft + w.padRight >= w.kernelW,
            out.shape == [1, oh, ow, x.shape[3]] else {
        return "output shape \(out.shape) should be [1, \(oh), \(ow), \(x.shape[3])]"
      }
      guard OperandRules.sameEncoding(x, out), x.dtype == .f32 || OperandRules.quantizedI8(x) else {
        return "MAXPOOL takes f32, or per-tensor quantized i8 with the output's quantization identical to the input's"
      }
      return nil
    }

    public func int8Form(_ ins: [[Int]], _ out: [Int]) -> Int8Form { .sharesInputQuantization }
  }
}

extension OpSchema {
  /// Zero padding: y has x's shape plus `before[i] + after[i]` along axis i, x in the
  /// middle, real 0 elsewhere (the zero point for i8). f32, or i8 with the input's
  /// quantization. Entries past x's rank are 0. (BlazeFace pads channels before its
  /// residual adds.)
  public struct Pad: OpAttributes {
    public static let op = Op.pad
    public static let inputs = ["x"]
    public static let sinceMinor: UInt16 = 2
    public var before = [0, 0, 0, 0]
    public var after = [0, 0, 0, 0]

    public init() {}
    /// Pads of the first axes; the rest get none.
    public init(before: [Int], after: [Int]) {
      self.before = (0..<4).map { $0 < before.count ? before[$0] : 0 }
      self.after = (0..<4).map { $0 < after.count ? after[$0] : 0 }
    }

    public mutating func code(_ c: inout AttributeCoder) {
      for i in 0..<4 { c.int(&before[i]) }
      for i in 0..<4 { c.int(&after[i]) }
    }

    public func problem(_ ins: [TensorInfo], _ out: TensorInfo) -> String? {
      let x = ins[0], rank = x.shape.count
      guard (before + after).allSatisfy({ $0 >= 0 }),
            (rank..<4).allSatisfy({ before[$0] == 0 && after[$0] == 0 }) else {
        return "pads \(before) / \(after) must be non-negative, and 0 past the rank \(rank)"
      }
      let expected = (0..<rank).map { x.shape[$0] + before[$0] + after[$0] }
      guard out.shape == expected else { return "output shape \(out.shape) should be \(expected)" }
      guard OperandRules.sameEncoding(x, out), x.dtype == .f32 || OperandRules.quantizedI8(x) else {
        return "PAD takes f32, or per-tensor quantized i8 with the output's quantization identical to the input's"
      }
      return nil
    }

    public func int8Form(_ ins: [[Int]], _ out: [Int]) -> Int8Form { .sharesInputQuantization }
  }

  // MARK: format 1.4: the importer's float fallback

  /// y = a ⊙ b, element by element; a, b and y one shape, f32 (a constant operand is stored
  /// broadcast to it, as ADD's is).
  public struct Mul: OpAttributes {
    public static let op = Op.mul
    public static let inputs = ["a", "b"]
    public static let sinceMinor: UInt16 = 4

    public init() {}
    public mutating func code(_ c: inout AttributeCoder) {}

    public func problem(_ ins: [TensorInfo], _ out: TensorInfo) -> String? {
      if let p = OperandRules.sameShape(ins[0], ins[1]) ?? OperandRules.sameShape(ins[0], out) { return p }
      return [ins[0], ins[1], out].allSatisfy({ $0.dtype == .f32 }) ? nil : "MUL stays float: inputs and output f32"
    }

    public func macs(_ ins: [[Int]], _ out: [Int]) -> Int { out.reduce(1, *) }
  }

  /// y [B, M, N] = alpha · a [B, M, K] · b [B, K, N] (b [B, N, K] when transpose_b), one
  /// matrix product per batch entry; f32. Attention scores and weighted sums that no
  /// pattern fused (heads as the batch).
  public struct BatchMatMul: OpAttributes {
    public static let op = Op.batchMatMul
    public static let inputs = ["a", "b"]
    public static let sinceMinor: UInt16 = 4
    public var transposeB = false
    public var alpha: Float = 1

    public init() {}
    public init(transposeB: Bool, alpha: Float = 1) { self.transposeB = transposeB; self.alpha = alpha }

    public mutating func code(_ c: inout AttributeCoder) { c.bool(&transposeB); c.float(&alpha) }

    public func problem(_ ins: [TensorInfo], _ out: TensorInfo) -> String? {
      let (a, b) = (ins[0], ins[1])
      guard [a, b, out].allSatisfy({ $0.dtype == .f32 && $0.shape.count == 3 }) else { return "operands must be f32 [batch, rows, columns]" }
      let (kb, n) = transposeB ? (b.shape[2], b.shape[1]) : (b.shape[1], b.shape[2])
      guard a.shape[0] == b.shape[0], a.shape[2] == kb, out.shape == [a.shape[0], a.shape[1], n] else {
        return "shapes \(a.shape) x \(b.shape) -> \(out.shape) do not agree"
      }
      return alpha.isFinite ? nil : "alpha is not finite"
    }

    public func macs(_ ins: [[Int]], _ out: [Int]) -> Int { out.reduce(1, *) * ins[0][2] }
  }

  /// tanh, element by element (the tanh form of GELU, written out by exporters).
  public struct Tanh: FloatElementwiseOp {
    public static let op = Op.tanh
    public static let sinceMinor: UInt16 = 4
    public init() {}
  }
}

extension Op {
  /// The op's schema entry: the one table from op id to attribute struct.
  public var attributesType: any OpAttributes.Type {
    switch self {
    case .conv2d: return OpSchema.Conv2D.self
    case .deconv2d: return OpSchema.Deconv2D.self
    case .add: return OpSchema.Add.self
    case .linear: return OpSchema.Linear.self
    case .matmul: return OpSchema.MatMul.self
    case .layerNorm: return OpSchema.LayerNorm.self
    case .softmax: return OpSchema.Softmax.self
    case .gelu: return OpSchema.GELU.self
    case .relu: return OpSchema.ReLU.self
    case .sigmoid: return OpSchema.Sigmoid.self
    case .clamp: return OpSchema.Clamp.self
    case .attention: return OpSchema.Attention.self
    case .reshape: return OpSchema.Reshape.self
    case .transpose: return OpSchema.Transpose.self
    case .concat: return OpSchema.Concat.self
    case .quantize: return OpSchema.Quantize.self
    case .dequantize: return OpSchema.Dequantize.self
    case .maxPool: return OpSchema.MaxPool.self
    case .pad: return OpSchema.Pad.self
    case .mul: return OpSchema.Mul.self
    case .batchMatMul: return OpSchema.BatchMatMul.self
    case .tanh: return OpSchema.Tanh.self
    }
  }

  public var inputCount: Int { attributesType.inputs.count }
  public var outputCount: Int { 1 }
  /// Attribute words (i32 or f32 each) in a node record.
  public var attributeWords: Int { attributesType.wordCount }
  public var sinceMinor: UInt16 { attributesType.sinceMinor }

  /// Decodes a node record's attribute words.
  public func decodeAttributes(_ words: [UInt32]) -> any OpAttributes { attributesType.init(words: words) }
}
