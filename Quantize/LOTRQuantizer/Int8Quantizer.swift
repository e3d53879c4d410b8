import CLOTRKernels
import LOTR

/// Rewrites a float graph as int8 (the rules of docs/QUANTIZATION.md): convolutions, linears and residual
/// adds in int8 (weights symmetric per output channel in [-127, 127], activations per
/// tensor, int32 biases); layout ops and MAXPOOL follow their input (int8 in, same
/// quantization out); LayerNorm, Softmax, GELU, attention and DECONV2D stay float; QUANTIZE and
/// DEQUANTIZE go where the two domains meet. A linear whose consumers are all float writes
/// float straight from its int32 accumulators (no DEQUANTIZE).
public enum Int8Quantizer {
  public struct Options: Sendable {
    public var method: RangeMethod = .minMax
    /// Nodes (by .lotr node name) to keep in float: mixed precision.
    public var keepFloat: Set<String> = []
    public init(method: RangeMethod = .minMax, keepFloat: Set<String> = []) {
      self.method = method
      self.keepFloat = keepFloat
    }
  }

  /// One quantized layer, for the report.
  public struct Layer: Sendable {
    public var node: String
    public var op: Op
    public var inputScale: Float
    public var outputScale: Float?  // nil: float output
    public var weightScaleRange: ClosedRange<Float>
    public var macs: Int
  }

  public struct Result {
    public var builder: ModelBuilder
    public var layers: [Layer]
    public var int8MACs: Int
    public var floatMACs: Int
    /// Output scales raised so no channel's requantization scale reaches 0.5.
    public var raisedScales: [String]
  }

  struct QParams: Equatable {
    var scale: Float
    var zeroPoint: Int32
  }

  static func qparams(_ range: (Float, Float)) -> QParams {
    var (lo, hi) = range
    if hi - lo < 1e-6 { hi = lo + 1e-6 }
    let scale = (hi - lo) / 255
    let zp = Int32(max(-128, min(127, (-128 - lo / scale).rounded(.toNearestOrEven))))
    return QParams(scale: scale, zeroPoint: zp)
  }

  /// Per-output-channel symmetric int8 weights along `axis`, scales max|w|/127.
  static func quantizeWeights(_ w: [Float], shape: [Int], axis: Int) -> (values: [Int8], scales: [Float]) {
    let channels = shape[axis]
    let inner = shape[(axis + 1)...].reduce(1, *)
    var maxAbs = [Float](repeating: 0, count: channels)
    for (i, v) in w.enumerated() { let c = (i / inner) % channels; maxAbs[c] = max(maxAbs[c], abs(v)) }
    let smallest = maxAbs.filter { $0 > 0 }.min() ?? 1
    let scales = maxAbs.map { ($0 > 0 ? $0 : smallest) / 127 }
    let values = w.enumerated().map { i, v -> Int8 in
      let c = (i / inner) % channels
      return Int8(max(-127, min(127, (v / scales[c]).rounded(.toNearestOrEven))))
    }
    return (values, scales)
  }

  public static func quantize(_ graph: ImportedGraph, statistics: CalibrationStatistics, options: Options = Options()) throws -> Result {
    let tensors = graph.tensors
    var producer = [Int](repeating: -1, count: tensors.count)
    var consumers = [[Int]](repeating: [], count: tensors.count)
    for (n, node) in graph.nodes.enumerated() {
      for t in node.outputs { producer[t] = n }
      for t in node.inputs { consumers[t].append(n) }
    }
    let output = graph.outputTensor!

    // 1. Which nodes run int8.
    var int8 = [Bool](repeating: false, count: graph.nodes.count)
    func int8Available(_ t: Int) -> Bool { producer[t] >= 0 && int8[producer[t]] }
    let forms = graph.nodes.map { node in node.attributes.int8Form(node.inputs.map { tensors[$0].shape }, tensors[node.outputs[0]].shape) }
    // A face detector's output layers (those writing the graph output through layout ops
    // only) stay float: box offsets in input pixels and score logits need more than 256
    // levels over their range (BlazeFace's heads: 1.4 of 31 M MACs).
    var outputWriters = Set<Int>()
    if graph.metadata.kind == .faceDetection {
      var frontier = [output]
      while let t = frontier.popLast() {
        let n = producer[t]
        guard n >= 0, !outputWriters.contains(n) else { continue }
        outputWriters.insert(n)
        if forms[n] == .sharesInputQuantization || graph.nodes[n].op == .concat { frontier += graph.nodes[n].inputs.filter { tensors[$0].role != .constant } }
      }
    }
    for (n, node) in graph.nodes.enumerated() where !options.keepFloat.contains(node.name) && !outputWriters.contains(n) {
      let form = forms[n]
      switch (form, node.op) {
      case (.float, _):
        int8[n] = false
      case (.requantized, .add):
        int8[n] = int8Available(node.inputs[0]) && int8Available(node.inputs[1])
      case (.requantized, _): // weighted: CONV2D, LINEAR (their weights quantized here)
        int8[n] = node.inputs.dropFirst().allSatisfy { tensors[$0].role == .constant }
      case (.sharesInputQuantization, _):
        int8[n] = int8Available(node.inputs[0]) && node.outputs[0] != output
      }
    }
    // 2. Which int8 nodes write float: linears whose consumers all run float (and the
    // graph output's producer).
    var floatOutput = [Bool](repeating: false, count: graph.nodes.count)
    for (n, node) in graph.nodes.enumerated() where int8[n] {
      let y = node.outputs[0]
      let allFloat = consumers[y].allSatisfy { !int8[$0] }
      if node.op == .linear && (allFloat || y == output) { floatOutput[n] = true }
      if y == output && node.op != .linear { int8[n] = false } // reshape etc. to the output run float
    }

    // 3. Quantization of every int8 activation (layout ops share their input's).
    var q: [Int: QParams] = [:]
    var raised: [String] = []
    // q: the int8 tensors of the new graph; a float tensor quantized on entry to an int8
    // op keeps its float identity and gets a ".q8" copy (quantizedCopy).
    func params(_ t: Int) -> QParams { q[t] ?? qparams(statistics.range(t, options.method)) }
    var copyParams: [Int: QParams] = [:]

    var b = ModelBuilder(metadata: graph.metadata)
    var newID: [Int: Int] = [:]            // graph tensor -> builder tensor (in its own domain)
    var quantizedCopy: [Int: Int] = [:]    // float tensor -> its QUANTIZE output
    var floatCopy: [Int: Int] = [:]        // int8 tensor -> its DEQUANTIZE output
    var layers: [Layer] = []
    var int8MACs = 0, floatMACs = 0
    let macsByNode = graph.nodeMACs()

    func floatTensor(_ t: Int) -> Int {
      if let id = newID[t] {
        if q[t] != nil { // int8 tensor read by a float op
          if let f = floatCopy[t] { return f }
          let f = b.addTensor(tensors[t].name + ".f32", .f32, tensors[t].shape)
          b.addNode(OpSchema.Dequantize(), tensors[t].name + ".dequantize", inputs: [id], outputs: [f])
          floatCopy[t] = f
          return f
        }
        return id
      }
      // a float constant
      let c = tensors[t]
      let id = b.addTensor(c.name, .f32, c.shape, role: .constant, data: ModelBuilder.bytes(c.data!))
      newID[t] = id
      return id
    }

    func int8Tensor(_ t: Int) -> (Int, QParams) {
      if let p = q[t], let id = newID[t] { return (id, p) }
      if let id = quantizedCopy[t] { return (id, copyParams[t]!) }
      let p = params(t) // statistics of the float tensor
      copyParams[t] = p
      let source = floatTensor(t)
      let id = b.addTensor(tensors[t].name + ".q8", .i8, tensors[t].shape,
                           quantization: .perTensor(scale: p.scale, zeroPoint: p.zeroPoint))
      b.addNode(OpSchema.Quantize(), tensors[t].name + ".quantize", inputs: [source], outputs: [id])
      quantizedCopy[t] = id
      return (id, p)
    }

    // The graph input first (id order does not matter to the format, only dataflow).
    if let input = graph.inputTensor {
      newID[input] = b.addTensor(tensors[input].name, .f32, tensors[input].shape, role: .input)
    }

    for (n, node) in graph.nodes.enumerated() {
      let y = node.outputs[0]
      let yRole: TensorRole = y == output ? .output : .activation
      let macs = macsByNode[n]
      if !int8[n] {
        floatMACs += macs
        let inputs = node.inputs.map(floatTensor)
        let id = b.addTensor(tensors[y].name, .f32, tensors[y].shape, role: yRole)
        newID[y] = id
        b.addNode(node.attributes, node.name, inputs: inputs, outputs: [id])
        continue
      }
      int8MACs += macs
      switch node.op {
      case _ where forms[n] == .sharesInputQuantization: // data movement, max (commutes with the quantization), zero padding
        let (x, p) = int8Tensor(node.inputs[0])
        q[y] = p
        let id = b.addTensor(tensors[y].name, .i8, tensors[y].shape, quantization: .perTensor(scale: p.scale, zeroPoint: p.zeroPoint))
        newID[y] = id
        b.addNode(node.attributes, node.name, inputs: [x], outputs: [id])

      case .add:
        let (a, _) = int8Tensor(node.inputs[0])
        let (c, _) = int8Tensor(node.inputs[1])
        let p = params(y)
        q[y] = p
        let id = b.addTensor(tensors[y].name, .i8, tensors[y].shape, quantization: .perTensor(scale: p.scale, zeroPoint: p.zeroPoint))
        newID[y] = id
        b.addNode(node.attributes, node.name, inputs: [a, c], outputs: [id])

      case .conv2d, .linear:
        let (x, px) = int8Tensor(node.inputs[0])
        let w = tensors[node.inputs[1]], bias = tensors[node.inputs[2]]
        let axis = (node.attributes as? OpSchema.Conv2D)?
          .weightAxis(inputChannels: tensors[node.inputs[0]].shape.last!, outputChannels: tensors[y].shape.last!) ?? 0
        let (wq, ws) = quantizeWeights(w.data!, shape: w.shape, axis: axis)
        // Biases in the accumulator's units; the ratio to the output scale below 0.5.
        let accScales = ws.map { px.scale * $0 }
        let biasQ = zip(bias.data!, accScales).map { v, s in Int32(clamping: Int64((Double(v) / Double(s)).rounded())) }
        let wid = b.addTensor(w.name, .i8, w.shape, role: .constant, quantization: .perChannel(axis: axis, scales: ws),
                              data: ModelBuilder.bytes(wq))
        let bid = b.addTensor(bias.name, .i32, bias.shape, role: .constant, data: ModelBuilder.bytes(biasQ))
        var outScale: Float? = nil
        let id: Int
        if floatOutput[n] {
          id = b.addTensor(tensors[y].name, .f32, tensors[y].shape, role: yRole)
        } else {
          var p = params(y)
          let needed = (accScales.max() ?? 0) / 0.4999
          if p.scale < needed {
            let (lo, hi) = statistics.range(y, options.method)
            let centre = (lo + hi) / 2
            p.scale = needed
            p.zeroPoint = Int32(max(-128, min(127, (-centre / needed).rounded())))
            raised.append(node.name)
          }
          q[y] = p
          outScale = p.scale
          id = b.addTensor(tensors[y].name, .i8, tensors[y].shape, quantization: .perTensor(scale: p.scale, zeroPoint: p.zeroPoint))
        }
        newID[y] = id
        b.addNode(node.attributes, node.name, inputs: [x, wid, bid], outputs: [id])
        layers.append(Layer(node: node.name, op: node.op, inputScale: px.scale, outputScale: outScale,
                            weightScaleRange: (ws.min() ?? 0)...(ws.max() ?? 0), macs: macs))

      default:
        throw ImportError("internal: node '\(node.name)' (\(node.op)) was marked int8 but has no int8 form")
      }
    }
    return Result(builder: b, layers: layers, int8MACs: int8MACs, floatMACs: floatMACs, raisedScales: raised)
  }

}
