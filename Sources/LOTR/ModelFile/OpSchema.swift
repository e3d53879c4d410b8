/// The typed op schema of format 1.1 (docs/FORMAT.md, "Ops"): one attribute struct per op
/// (OpSchema.swift's entries in OpSchemaEntries.swift), each saying once
///   - its fields in file order (`code`, which both decodes and encodes the 4-byte words),
///   - its inputs (the arity), the format minor that introduced it,
///   - its rules on operand shapes and dtypes (`problem`: the reader's check, which the
///     executor relies on),
///   - its multiply-accumulate count (`macs`),
///   - its int8 form (`int8Form`: what lotr-quantize may run in int8).
/// The runtime, the reader and writer, the quantizer and the tests read attributes only
/// through these structs. Adding an op: a case in `Op` (id, name), an entry here, its line
/// in `Op.attributesType`, and its kernel binding in `Network.prepare`.
public protocol OpAttributes: Sendable, Equatable {
  static var op: Op { get }
  /// Input operand names, in order (the arity; every op has one output).
  static var inputs: [String] { get }
  /// The format 1.x minor version that introduced the op.
  static var sinceMinor: UInt16 { get }
  /// The neutral value (decoding starts from it; its encoding gives the word count).
  init()
  /// Every field in file order, once: `AttributeCoder` reads or writes them.
  mutating func code(_ c: inout AttributeCoder)
  /// Attribute and operand rules; nil when the node is valid.
  func problem(_ ins: [TensorInfo], _ out: TensorInfo) -> String?
  /// Multiply-accumulates of one run, from the operand shapes.
  func macs(_ ins: [[Int]], _ out: [Int]) -> Int
  /// What lotr-quantize may do with the node in int8, from the operand shapes.
  func int8Form(_ ins: [[Int]], _ out: [Int]) -> Int8Form
}

/// How a node runs in int8 (the quantizer's choice, the runtime's kernels).
public enum Int8Form: Sendable, Equatable {
  /// No int8 kernel: the node stays float.
  case float
  /// int8 in, int8 out with a new scale (int32 accumulation or rescaled adds).
  case requantized
  /// int8 in, int8 out with the input's scale and zero point (data movement, max).
  case sharesInputQuantization
}

extension OpAttributes {
  public static var sinceMinor: UInt16 { 0 }
  public func macs(_ ins: [[Int]], _ out: [Int]) -> Int { 0 }
  public func int8Form(_ ins: [[Int]], _ out: [Int]) -> Int8Form { .float }

  /// The attribute words as stored in the file.
  public var words: [UInt32] {
    var copy = self
    var c = AttributeCoder(encoding: ())
    copy.code(&c)
    return c.words
  }

  public static var wordCount: Int { Self().words.count }
  public var op: Op { Self.op }

  /// Decodes `words` (exactly `wordCount` of them, as the reader checked).
  public init(words: [UInt32]) {
    self.init()
    var c = AttributeCoder(decoding: words)
    code(&c)
  }

  func isEqual(to other: any OpAttributes) -> Bool { (other as? Self) == self }
}

/// One input, no attribute words.
public protocol UnaryWithoutAttributes: OpAttributes {}
extension UnaryWithoutAttributes {
  public static var inputs: [String] { ["x"] }
  public mutating func code(_ c: inout AttributeCoder) {}
}

/// Element-wise float op without attributes: f32 in and out, one shape.
public protocol FloatElementwiseOp: UnaryWithoutAttributes {}
extension FloatElementwiseOp {
  public func problem(_ ins: [TensorInfo], _ out: TensorInfo) -> String? {
    guard ins[0].dtype == .f32, out.dtype == .f32 else { return "\(Self.op) stays float: input and output f32" }
    return OperandRules.sameShape(ins[0], out)
  }
}

/// Reads or writes attribute fields in order: each struct lists its fields once.
/// Integers are i32 in the file, floats f32, booleans an i32 0 or 1.
public struct AttributeCoder {
  public private(set) var words: [UInt32]
  private var position = 0
  private let decoding: Bool

  init(decoding words: [UInt32]) { self.words = words; decoding = true }
  init(encoding: Void) { words = []; decoding = false }

  public mutating func int(_ v: inout Int) {
    if decoding { v = Int(Int32(bitPattern: next())) } else { words.append(UInt32(bitPattern: Int32(truncatingIfNeeded: v))) }
  }

  public mutating func float(_ v: inout Float) {
    if decoding { v = Float(bitPattern: next()) } else { words.append(v.bitPattern) }
  }

  public mutating func bool(_ v: inout Bool) {
    var i = v ? 1 : 0
    int(&i)
    v = i != 0
  }

  private mutating func next() -> UInt32 {
    defer { position += 1 }
    return position < words.count ? words[position] : 0
  }
}

// MARK: fields shared by several ops

/// The window of CONV2D, DECONV2D and MAXPOOL over an NHWC input.
public struct Window2D: Sendable, Equatable {
  public var kernelH = 1, kernelW = 1, strideH = 1, strideW = 1
  public var padTop = 0, padLeft = 0, padBottom = 0, padRight = 0

  public init() {}
  public init(kernel: (Int, Int), stride: (Int, Int), pads: (top: Int, left: Int, bottom: Int, right: Int)) {
    (kernelH, kernelW) = kernel
    (strideH, strideW) = stride
    (padTop, padLeft, padBottom, padRight) = pads
  }
  /// Square kernel and stride, the same pad on every side.
  public init(kernel: Int, stride: Int, pad: Int) {
    self.init(kernel: (kernel, kernel), stride: (stride, stride), pads: (pad, pad, pad, pad))
  }

  mutating func code(_ c: inout AttributeCoder) {
    c.int(&kernelH); c.int(&kernelW); c.int(&strideH); c.int(&strideW)
    c.int(&padTop); c.int(&padLeft); c.int(&padBottom); c.int(&padRight)
  }

  /// 1x1, stride 1, no padding: the input rows are the GEMM's rows as they are.
  public var isPointwise: Bool {
    kernelH == 1 && kernelW == 1 && strideH == 1 && strideW == 1 && [padTop, padLeft, padBottom, padRight].allSatisfy { $0 == 0 }
  }

  /// Output rows and columns of a sliding window (floor).
  public func slidingOutput(height: Int, width: Int) -> (Int, Int) {
    ((height + padTop + padBottom - kernelH) / strideH + 1, (width + padLeft + padRight - kernelW) / strideW + 1)
  }

  /// Output rows and columns of a transposed convolution.
  public func transposedOutput(height: Int, width: Int) -> (Int, Int) {
    ((height - 1) * strideH + kernelH - padTop - padBottom, (width - 1) * strideW + kernelW - padLeft - padRight)
  }

  /// Kernel 1..15, stride 1..8.
  func rangeProblem() -> String? {
    (1...15).contains(kernelH) && (1...15).contains(kernelW) && (1...8).contains(strideH) && (1...8).contains(strideW)
      ? nil : "kernel \(kernelH)x\(kernelW) or stride \(strideH)x\(strideW) out of range"
  }
}

/// A fused clamp [min, max] in real units (ReLU: 0..+inf, ReLU6: 0..6, none: -inf..+inf).
public struct ActivationClamp: Sendable, Equatable {
  public var min = -Float.infinity, max = Float.infinity

  public init() {}
  public init(_ min: Float, _ max: Float) { self.min = min; self.max = max }
  public static let none = ActivationClamp()
  public static let relu = ActivationClamp(0, .infinity)

  mutating func code(_ c: inout AttributeCoder) { c.float(&min); c.float(&max) }

  func problem() -> String? {
    !min.isNaN && !max.isNaN && min <= max ? nil : "activation clamp [\(min), \(max)] is empty or NaN"
  }

  /// The int8 range of this clamp on a tensor quantized with (scale, zeroPoint).
  public func quantized(scale: Float, zeroPoint: Int32) -> (Int8, Int8) {
    func q(_ v: Float) -> Int8 {
      if v == -.infinity { return -128 }
      if v == .infinity { return 127 }
      let r = Swift.max(-1000, Swift.min(1000, (v / scale).rounded(.toNearestOrEven)))
      return Int8(Swift.max(-128, Swift.min(127, Int32(r) + zeroPoint)))
    }
    return (q(min), q(max))
  }
}

/// Operand rules several ops share.
enum OperandRules {
  static func quantizedI8(_ t: TensorInfo) -> Bool {
    if case .perTensor = t.quantization, t.dtype == .i8 { return true }
    return false
  }

  static func perChannel(_ t: TensorInfo, axis: Int) -> Bool {
    if case .perChannel(let a, _) = t.quantization, a == axis, t.dtype == .i8 { return true }
    return false
  }

  static func sameShape(_ a: TensorInfo, _ b: TensorInfo) -> String? {
    a.shape == b.shape ? nil : "'\(a.name)' \(a.shape) and '\(b.name)' \(b.shape) differ in shape"
  }

  static func constant(_ t: TensorInfo) -> String? { t.role == .constant ? nil : "'\(t.name)' must be a constant" }

  /// Data movement: the output keeps the input's dtype and quantization.
  static func sameEncoding(_ x: TensorInfo, _ y: TensorInfo) -> Bool {
    x.dtype == y.dtype && x.quantization == y.quantization
  }

  /// CONV2D and DECONV2D: rank-4 operands with batch 1, constant weight and bias [Cout],
  /// the window in range, each pad below the larger kernel side.
  static func convolution(_ window: Window2D, _ ins: [TensorInfo], _ out: TensorInfo) -> String? {
    let (x, w, b) = (ins[0], ins[1], ins[2])
    guard x.shape.count == 4, w.shape.count == 4, out.shape.count == 4, x.shape[0] == 1 else {
      return "input, weight and output must be rank 4 (NHWC, OHWI) with batch 1"
    }
    if let p = constant(w) ?? constant(b) ?? window.rangeProblem() { return p }
    let pads = [window.padTop, window.padLeft, window.padBottom, window.padRight]
    guard pads.allSatisfy({ $0 >= 0 && $0 < max(window.kernelH, window.kernelW) }) else { return "padding out of range" }
    return b.shape == [out.shape[3]] ? nil : "bias shape \(b.shape) is not [\(out.shape[3])]"
  }

  /// int8 in -> int8 or f32 out with i8 per-channel weights and i32 bias, or all f32.
  static func weightedTypes(x: TensorInfo, w: TensorInfo, bias: TensorInfo, y: TensorInfo, weightAxis: Int) -> String? {
    if x.dtype == .f32 {
      return w.dtype == .f32 && bias.dtype == .f32 && y.dtype == .f32
        ? nil : "a float input needs f32 weight, bias and output"
    }
    guard quantizedI8(x) else { return "input '\(x.name)' must be f32 or per-tensor quantized i8" }
    guard perChannel(w, axis: weightAxis) else { return "weight '\(w.name)' must be i8 quantized per channel on axis \(weightAxis)" }
    guard bias.dtype == .i32, bias.quantization == .none else { return "bias '\(bias.name)' must be unquantized i32" }
    guard y.dtype == .f32 || quantizedI8(y) else { return "output '\(y.name)' must be f32 or per-tensor quantized i8" }
    return nil
  }
}

// MARK: nodes

extension NodeInfo {
  /// The node's attributes as its op's struct (the reader guarantees the type).
  public func attributes<A: OpAttributes>(as type: A.Type) -> A {
    guard let a = attributes as? A else { preconditionFailure("node '\(name)' is \(op), not \(A.op)") }
    return a
  }
}
