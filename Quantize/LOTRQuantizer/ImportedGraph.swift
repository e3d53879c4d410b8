import LOTR

/// A float .lotr graph as the importer builds it, before it becomes bytes: tensors with
/// their float data, nodes in execution order, and for each node the ONNX nodes it came
/// from. Calibration and int8 quantisation rewrite this (dtypes, scales) and then call
/// `modelBuilder()`.
public struct ImportedGraph: Sendable {
  public struct Tensor: Sendable {
    public var name: String
    /// The .lotr shape (NHWC feature maps, OHWI conv weights, [N, K] linear weights).
    public var shape: [Int]
    public var role: TensorRole
    /// Constants only: row-major in the .lotr layout.
    public var data: [Float]?
    /// The ONNX value this tensor holds (activations), possibly in another layout.
    public var onnxValue: String?
  }

  public struct Node: Sendable {
    public var op: Op { attributes.op }
    public var name: String
    public var inputs: [Int]
    public var outputs: [Int]
    /// The op's OpSchema struct.
    public var attributes: any OpAttributes
    /// The ONNX nodes merged into this one (a conv with its BN and ReLU6, a whole attention).
    public var onnxNodes: [String]
  }

  public var metadata: ModelMetadata
  public var tensors: [Tensor] = []
  public var nodes: [Node] = []
  /// Notes for the report: folded BatchNorms, removed dead nodes, assumptions made.
  public var notes: [String] = []

  public var inputTensor: Int? { tensors.firstIndex { $0.role == .input } }
  public var outputTensor: Int? { tensors.firstIndex { $0.role == .output } }

  mutating func addTensor(_ name: String, _ shape: [Int], role: TensorRole = .activation, data: [Float]? = nil,
                          onnxValue: String? = nil) -> Int {
    tensors.append(Tensor(name: name, shape: shape, role: role, data: data, onnxValue: onnxValue))
    return tensors.count - 1
  }

  mutating func addNode(_ attributes: any OpAttributes, _ name: String, inputs: [Int], outputs: [Int], onnxNodes: [String]) {
    nodes.append(Node(name: name, inputs: inputs, outputs: outputs, attributes: attributes, onnxNodes: onnxNodes))
  }

  /// Drops nodes whose outputs never reach the graph output and tensors nobody uses;
  /// returns how many nodes went.
  mutating func removeDeadCode() -> Int {
    guard let output = outputTensor else { return 0 }
    var needed = Set([output])
    var keep = [Bool](repeating: false, count: nodes.count)
    for i in stride(from: nodes.count - 1, through: 0, by: -1) where nodes[i].outputs.contains(where: needed.contains) {
      keep[i] = true
      needed.formUnion(nodes[i].inputs)
    }
    let removed = keep.filter { !$0 }.count
    nodes = nodes.indices.filter { keep[$0] }.map { nodes[$0] }
    var used = Set(nodes.flatMap { $0.inputs + $0.outputs })
    if let input = inputTensor { used.insert(input) }
    var remap = [Int](repeating: -1, count: tensors.count)
    var kept: [Tensor] = []
    for (i, t) in tensors.enumerated() where used.contains(i) {
      remap[i] = kept.count
      kept.append(t)
    }
    tensors = kept
    for i in nodes.indices {
      nodes[i].inputs = nodes[i].inputs.map { remap[$0] }
      nodes[i].outputs = nodes[i].outputs.map { remap[$0] }
    }
    return removed
  }

  /// The float model as a builder (all tensors f32); `serialize()` on it validates.
  public func modelBuilder() -> ModelBuilder {
    var b = ModelBuilder(metadata: metadata)
    for t in tensors {
      b.addTensor(t.name, .f32, t.shape, role: t.role, data: t.data.map { ModelBuilder.bytes($0) })
    }
    for n in nodes { b.addNode(n.attributes, n.name, inputs: n.inputs, outputs: n.outputs) }
    return b
  }

  /// Multiply-accumulates per inference of each node (in node order).
  public func nodeMACs() -> [Int] {
    nodes.map { n in n.attributes.macs(n.inputs.map { tensors[$0].shape }, tensors[n.outputs[0]].shape) }
  }

  /// Multiply-accumulates per inference, by op (for the report).
  public func macs() -> [Op: Int] {
    zip(nodes, nodeMACs()).reduce(into: [:]) { $0[$1.0.op, default: 0] += $1.1 }
  }
}
