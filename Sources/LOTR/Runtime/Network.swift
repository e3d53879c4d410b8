#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import CLOTRKernels
import COpenBLAS

/// Why a valid model file cannot run on this runtime (an op combination it lacks, a
/// requantization scale out of the kernels' range, ...).
public struct NetworkError: Error, CustomStringConvertible, Equatable {
  public var message: String
  public init(_ message: String) { self.message = message }
  public var description: String { message }
}

/// A .lotr graph prepared for one kernel path and thread count: weights packed for the
/// path, every activation placed in one arena, each node turned into a step that calls
/// the kernels. `run` allocates nothing.
///
/// int8 ops run on CLOTRKernels (requantization in integer fixed point, the same bits on
/// every ISA path and thread count); float ops (LayerNorm, Softmax, GELU, attention,
/// DECONV2D, and the whole graph of a float model) run on float kernels and OpenBLAS SGEMM.
/// MAXPOOL runs in either domain (NetworkDeconvPool.swift).
public final class Network: @unchecked Sendable {
  public let model: ModelFile
  public let kernels: KernelPath
  public let threads: Int
  /// Bytes of the activation arena.
  public var arenaBytes: Int { arena.count }
  /// Bytes the activations and scratch would take if none shared memory.
  public private(set) var unsharedBytes = 0
  /// Bytes of weights packed at load (int8 GEMM/depthwise layouts, dequantized attention).
  public internal(set) var packedBytes = 0
  /// Multiply-accumulates of one inference, per step.
  public private(set) var stepMACs: [Int] = []

  public struct Step {
    public var name: String
    public var op: Op
    public var int8: Bool
    let body: () -> Void
  }

  public private(set) var steps: [Step] = []

  let pool: ThreadPool?
  let arena: AlignedBuffer<UInt8>
  private var offsets: [Int] = []          // per tensor, -1 for constants
  var owned: [AnyObject] = []      // packed weights and other buffers the steps use
  private var scratchOffsets: [Int: Int] = [:] // node -> arena offset of its scratch

  public init(model: ModelFile, kernels: KernelPath, threads: Int = 1) throws {
    self.model = model
    self.kernels = kernels
    self.threads = max(1, threads)
    pool = self.threads > 1 ? try ThreadPool(threads: self.threads) : nil

    // Plan the arena: one slot per non-constant tensor, plus each node's scratch.
    let tensors = model.tensors
    var slots: [ArenaPlan.Slot] = []
    var slotOfTensor = [Int](repeating: -1, count: tensors.count)
    for (i, t) in tensors.enumerated() where t.role != .constant {
      slotOfTensor[i] = slots.count
      slots.append(.init(size: t.byteCount, first: t.role == .input ? -1 : Int.max, last: -1))
    }
    for (n, node) in model.nodes.enumerated() {
      for id in node.outputs where slotOfTensor[id] >= 0 { slots[slotOfTensor[id]].first = n }
      for id in node.inputs where slotOfTensor[id] >= 0 { slots[slotOfTensor[id]].last = max(slots[slotOfTensor[id]].last, n) }
    }
    for (i, t) in tensors.enumerated() where slotOfTensor[i] >= 0 {
      let s = slotOfTensor[i]
      if t.role == .output || t.role == .input { slots[s].last = model.nodes.count } // readable after run
      if slots[s].last < slots[s].first { slots[s].last = slots[s].first }
    }
    var scratchSlot: [Int: Int] = [:]
    for (n, node) in model.nodes.enumerated() {
      let bytes = try Self.scratchBytes(node, model)
      if bytes > 0 {
        scratchSlot[n] = slots.count
        slots.append(.init(size: bytes, first: n, last: n))
      }
    }
    let plan = ArenaPlan(slots)
    unsharedBytes = slots.reduce(0) { $0 + ($1.size + 63) / 64 * 64 }
    arena = AlignedBuffer<UInt8>(count: plan.size)
    offsets = slotOfTensor.map { $0 >= 0 ? plan.offsets[$0] : -1 }
    scratchOffsets = scratchSlot.mapValues { plan.offsets[$0] }

    for (n, node) in model.nodes.enumerated() {
      do {
        let body = try prepare(node, index: n)
        let int8 = node.inputs.contains { model.tensors[$0].dtype == .i8 }
        steps.append(Step(name: node.name, op: node.op, int8: int8, body: body))
        stepMACs.append(node.attributes.macs(node.inputs.map { model.tensors[$0].shape }, model.tensors[node.outputs[0]].shape))
      } catch let error as NetworkError {
        throw NetworkError("node \(n) '\(node.name)' (\(node.op)): \(error.message)")
      }
    }
    blasThreads = steps.contains(where: \.int8) ? 1 : Int32(self.threads)
  }

  // MARK: running

  /// OpenBLAS threads: an int8 model only runs small float matrices (attention over 36-68
  /// tokens) through OpenBLAS, where extra threads cost more than they give and its
  /// workers busy-wait between calls; a float model uses all `threads`.
  private(set) var blasThreads: Int32 = 1

  /// The graph input, f32 or i8 as the model says, laid out [1, H, W, 3].
  public var inputPointer: UnsafeMutableRawPointer { pointer(model.inputTensor) }

  /// The landmarks of the last run, [N, 2] in the model's output coordinates.
  public var output: UnsafeBufferPointer<Float> {
    UnsafeBufferPointer(start: pointer(model.outputTensor).assumingMemoryBound(to: Float.self),
                        count: model.tensors[model.outputTensor].elementCount)
  }

  /// Runs every step on the input already in `inputPointer`.
  public func run() {
    openblas_set_num_threads(blasThreads)
    for step in steps { step.body() }
  }

  /// Runs like `run()`, calling `observe(i)` right after step i, while its outputs are
  /// still in the arena (later steps may reuse their bytes). For calibration and debugging.
  public func run(observe: (Int) -> Void) {
    openblas_set_num_threads(blasThreads)
    for (i, step) in steps.enumerated() {
      step.body()
      observe(i)
    }
  }

  /// Runs like `run()`, adding each step's seconds to `times` (count = steps.count).
  public func run(times: inout [Double]) {
    openblas_set_num_threads(blasThreads)
    if times.count != steps.count { times = [Double](repeating: 0, count: steps.count) }
    var ts = timespec()
    for (i, step) in steps.enumerated() {
      clock_gettime(CLOCK_MONOTONIC, &ts)
      let start = Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
      step.body()
      clock_gettime(CLOCK_MONOTONIC, &ts)
      times[i] += Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9 - start
    }
  }

  /// A tensor's current bytes: an activation's after `run`, or a constant's.
  public func bytes(of tensor: Int) -> UnsafeRawBufferPointer {
    let t = model.tensors[tensor]
    if t.role == .constant { return model.data(tensor) }
    return UnsafeRawBufferPointer(start: arena.raw + offsets[tensor], count: t.byteCount)
  }

  /// An activation's values as float (dequantized when int8), after `run`.
  public func floats(of tensor: Int) -> [Float] {
    let t = model.tensors[tensor]
    let raw = bytes(of: tensor)
    switch (t.dtype, t.quantization) {
    case (.f32, _): return Array(raw.bindMemory(to: Float.self))
    case (.i8, .perTensor(let scale, let zp)): return raw.bindMemory(to: Int8.self).map { Float(Int32($0) - zp) * scale }
    case (.i32, _): return raw.bindMemory(to: Int32.self).map { Float($0) }
    default: return raw.bindMemory(to: Int8.self).map { Float($0) }
    }
  }

  func pointer(_ tensor: Int) -> UnsafeMutableRawPointer {
    if offsets[tensor] >= 0 { return arena.raw + offsets[tensor] }
    return UnsafeMutableRawPointer(mutating: model.data(tensor).baseAddress!)
  }

  func scratch(_ node: Int) -> UnsafeMutableRawPointer { arena.raw + scratchOffsets[node]! }

  // MARK: preparing steps

  static func scratchBytes(_ node: NodeInfo, _ model: ModelFile) throws -> Int {
    let t = model.tensors
    switch node.op {
    case .conv2d:
      let x = t[node.inputs[0]], y = t[node.outputs[0]]
      let conv = node.attributes(as: OpSchema.Conv2D.self)
      if conv.groups != 1 { return 0 }
      if x.dtype == .i8 {
        var g = Self.geometry(conv.window, x: x, y: y)
        return lotr_qs8_conv2d_scratch_size(&g)
      }
      let rows = y.shape[1] * y.shape[2], k = conv.window.kernelH * conv.window.kernelW * x.shape[3]
      return conv.window.isPointwise ? 0 : rows * k * 4
    case .deconv2d:
      return t[node.inputs[0]].dtype == .f32 ? deconvScratchBytes(node, model) : 0
    case .attention:
      let q = t[node.inputs[0]], k = t[node.inputs[1]]
      return attentionScratch(lq: q.shape[0], lk: k.shape[0], d: q.shape[1],
                              heads: node.attributes(as: OpSchema.Attention.self).heads,
                              int8: attentionRunsInt8(model)).bytes
    default:
      return 0
    }
  }

  static func geometry(_ w: Window2D, x: TensorInfo, y: TensorInfo) -> lotr_conv_geometry {
    var g = lotr_conv_geometry()
    g.input_height = UInt32(x.shape[1]); g.input_width = UInt32(x.shape[2])
    g.input_channels = UInt32(x.shape[3]); g.output_channels = UInt32(y.shape[3])
    g.kernel_height = UInt32(w.kernelH); g.kernel_width = UInt32(w.kernelW)
    g.stride_height = UInt32(w.strideH); g.stride_width = UInt32(w.strideW)
    g.pad_top = UInt32(w.padTop); g.pad_left = UInt32(w.padLeft)
    g.pad_bottom = UInt32(w.padBottom); g.pad_right = UInt32(w.padRight)
    return g
  }

  func perTensor(_ id: Int) throws -> (scale: Float, zeroPoint: Int32) {
    guard case .perTensor(let s, let z) = model.tensors[id].quantization else {
      throw NetworkError("tensor '\(model.tensors[id].name)' needs per-tensor quantization")
    }
    return (s, z)
  }

  /// Per-channel requantization multipliers and shifts for scale in*w[c]/out.
  func requantization(input: Float, weights: [Float], output: Float) throws -> (AlignedBuffer<Int32>, AlignedBuffer<Int32>) {
    let n = weights.count
    let m = AlignedBuffer<Int32>(count: n), s = AlignedBuffer<Int32>(count: n)
    for c in 0..<n {
      let scale = Double(input) * Double(weights[c]) / Double(output)
      guard lotr_requant_from_scale(scale, m.pointer + c, s.pointer + c) == 0 else {
        throw NetworkError("channel \(c): requantization scale \(scale) is outside [2^-33, 0.5); re-quantize the model with a wider output scale")
      }
    }
    owned.append(m); owned.append(s)
    return (m, s)
  }

  func prepare(_ node: NodeInfo, index n: Int) throws -> () -> Void {
    let t = model.tensors
    let k = kernels.table
    let poolPointer = pool?.pointer
    switch node.op {
    case .quantize:
      let (scale, zp) = try perTensor(node.outputs[0])
      let x = pointer(node.inputs[0]).assumingMemoryBound(to: Float.self)
      let y = pointer(node.outputs[0]).assumingMemoryBound(to: Int8.self)
      let count = t[node.inputs[0]].elementCount
      return { lotr_qs8_quantize(k, count, x, y, scale, zp) }

    case .dequantize:
      let (scale, zp) = try perTensor(node.inputs[0])
      let x = pointer(node.inputs[0]).assumingMemoryBound(to: Int8.self)
      let y = pointer(node.outputs[0]).assumingMemoryBound(to: Float.self)
      let count = t[node.inputs[0]].elementCount
      return { lotr_qs8_dequantize(k, count, x, y, scale, zp) }

    case .conv2d:
      return try prepareConv(node, index: n)

    case .linear:
      return try prepareLinear(node)

    case .add:
      let (a, b, y) = (node.inputs[0], node.inputs[1], node.outputs[0])
      let count = t[y].elementCount
      if t[y].dtype == .i8 {
        let (sa, za) = try perTensor(a), (sb, zb) = try perTensor(b), (sy, zy) = try perTensor(y)
        let clamp = node.attributes(as: OpSchema.Add.self).clamp
        let (lo, hi) = clamp.quantized(scale: sy, zeroPoint: zy)
        var params = lotr_qs8_add_params()
        guard lotr_qs8_add_params_init(sa, za, sb, zb, sy, zy, lo, hi, &params) == 0 else {
          throw NetworkError("input/output scale ratio is not representable (\(sa)/\(sy), \(sb)/\(sy))")
        }
        let pa = pointer(a).assumingMemoryBound(to: Int8.self), pb = pointer(b).assumingMemoryBound(to: Int8.self)
        let py = pointer(y).assumingMemoryBound(to: Int8.self)
        return { lotr_qs8_add(k, poolPointer, count, pa, pb, py, &params) }
      }
      let pa = pointer(a).assumingMemoryBound(to: Float.self), pb = pointer(b).assumingMemoryBound(to: Float.self)
      let py = pointer(y).assumingMemoryBound(to: Float.self)
      let clamp = node.attributes(as: OpSchema.Add.self).clamp
      let (lo, hi) = (clamp.min, clamp.max)
      return {
        for i in 0..<count { py[i] = min(max(pa[i] + pb[i], lo), hi) }
      }

    case .matmul:
      let (a, b, y) = (t[node.inputs[0]], t[node.inputs[1]], t[node.outputs[0]])
      let mm = node.attributes(as: OpSchema.MatMul.self)
      let (transposed, alpha) = (mm.transposeB, mm.alpha)
      let (m, kk, nn) = (a.shape[0], a.shape[1], y.shape[1])
      let pa = pointer(node.inputs[0]).assumingMemoryBound(to: Float.self)
      let pb = pointer(node.inputs[1]).assumingMemoryBound(to: Float.self)
      let py = pointer(node.outputs[0]).assumingMemoryBound(to: Float.self)
      let ldb = Int32(b.shape[1])
      return {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, transposed ? CblasTrans : CblasNoTrans, Int32(m), Int32(nn), Int32(kk),
                    alpha, pa, Int32(kk), pb, ldb, 0, py, Int32(nn))
      }

    case .layerNorm:
      let x = t[node.inputs[0]]
      let cols = x.shape.last!, rows = x.elementCount / cols
      let px = pointer(node.inputs[0]).assumingMemoryBound(to: Float.self)
      let pg = pointer(node.inputs[1]).assumingMemoryBound(to: Float.self)
      let pb = pointer(node.inputs[2]).assumingMemoryBound(to: Float.self)
      let py = pointer(node.outputs[0]).assumingMemoryBound(to: Float.self)
      let eps = node.attributes(as: OpSchema.LayerNorm.self).epsilon
      return { lotr_f32_layernorm(k, rows, cols, px, pg, pb, eps, py) }

    case .softmax:
      let x = t[node.inputs[0]]
      let cols = x.shape.last!, rows = x.elementCount / cols
      let px = pointer(node.inputs[0]).assumingMemoryBound(to: Float.self)
      let py = pointer(node.outputs[0]).assumingMemoryBound(to: Float.self)
      return { lotr_f32_softmax(k, rows, cols, px, py) }

    case .gelu, .sigmoid:
      let count = t[node.inputs[0]].elementCount
      let px = pointer(node.inputs[0]).assumingMemoryBound(to: Float.self)
      let py = pointer(node.outputs[0]).assumingMemoryBound(to: Float.self)
      if node.op == .gelu { return { lotr_f32_gelu(k, count, px, py) } }
      return { for i in 0..<count { py[i] = 1 / (1 + expf(-px[i])) } }

    case .relu, .clamp:
      let x = t[node.inputs[0]]
      let count = x.elementCount
      let range = node.op == .relu ? ActivationClamp.relu : node.attributes(as: OpSchema.Clamp.self).range
      let (lo, hi) = (range.min, range.max)
      if x.dtype == .f32 {
        let px = pointer(node.inputs[0]).assumingMemoryBound(to: Float.self)
        let py = pointer(node.outputs[0]).assumingMemoryBound(to: Float.self)
        if node.op == .relu { return { lotr_f32_relu(k, count, px, py) } }
        return { for i in 0..<count { py[i] = min(max(px[i], lo), hi) } }
      }
      let (scale, zp) = try perTensor(node.inputs[0])
      let (qlo, qhi) = range.quantized(scale: scale, zeroPoint: zp)
      let px = pointer(node.inputs[0]).assumingMemoryBound(to: Int8.self)
      let py = pointer(node.outputs[0]).assumingMemoryBound(to: Int8.self)
      return { for i in 0..<count { py[i] = min(max(px[i], qlo), qhi) } }

    case .attention:
      return try prepareAttention(node, index: n)

    case .reshape:
      let bytes = t[node.inputs[0]].byteCount
      let px = pointer(node.inputs[0]), py = pointer(node.outputs[0])
      return { py.copyMemory(from: px, byteCount: bytes) }

    case .transpose:
      return prepareTranspose(node)

    case .concat:
      return prepareConcat(node)

    case .deconv2d:
      return try prepareDeconv(node, index: n)

    case .maxPool:
      return prepareMaxPool(node)

    case .pad:
      return try preparePad(node)

    case .mul:
      let count = t[node.outputs[0]].elementCount
      let pa = pointer(node.inputs[0]).assumingMemoryBound(to: Float.self)
      let pb = pointer(node.inputs[1]).assumingMemoryBound(to: Float.self)
      let py = pointer(node.outputs[0]).assumingMemoryBound(to: Float.self)
      return { for i in 0..<count { py[i] = pa[i] * pb[i] } }

    case .batchMatMul:
      let (a, y) = (t[node.inputs[0]], t[node.outputs[0]])
      let mm = node.attributes(as: OpSchema.BatchMatMul.self)
      let (batch, m, kk, nn) = (a.shape[0], a.shape[1], a.shape[2], y.shape[2])
      let ldb = Int32(t[node.inputs[1]].shape[2])
      let pa = pointer(node.inputs[0]).assumingMemoryBound(to: Float.self)
      let pb = pointer(node.inputs[1]).assumingMemoryBound(to: Float.self)
      let py = pointer(node.outputs[0]).assumingMemoryBound(to: Float.self)
      return {
        for i in 0..<batch {
          cblas_sgemm(CblasRowMajor, CblasNoTrans, mm.transposeB ? CblasTrans : CblasNoTrans, Int32(m), Int32(nn), Int32(kk),
                      mm.alpha, pa + i * m * kk, Int32(kk), pb + i * kk * nn, ldb, 0, py + i * m * nn, Int32(nn))
        }
      }

    case .tanh:
      let count = t[node.inputs[0]].elementCount
      let px = pointer(node.inputs[0]).assumingMemoryBound(to: Float.self)
      let py = pointer(node.outputs[0]).assumingMemoryBound(to: Float.self)
      return { for i in 0..<count { py[i] = tanhf(px[i]) } }
    }
  }
}
