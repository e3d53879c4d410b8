import ArgumentParser
import LOTR

struct InfoCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "info",
    abstract: "Show a model file's metadata, ops, tensors, MACs and checksum status."
  )

  @Argument(help: "The .lotr model file.")
  var model: String

  @Flag(help: "Print only JSON: the metadata and every node in run order (op, int8, MACs, operand shapes and dtypes, attributes), for tools such as bench/arm_cost_model.py.")
  var json = false

  func run() throws {
    let file = try ModelFile.open(path: model)
    let network = try Network(model: file, kernels: KernelPath.named("ref"))
    if json {
      print(layerListingJSON(file, network))
      return
    }
    let m = file.metadata
    print("model      \(m.name)  (format 1.\(file.versionMinor), \(file.byteCount) bytes, all checksums OK)")
    print("landmarks  \(m.landmarkCount) (\(m.landmarkScheme))" + (m.outerEyes.map { ", outer eyes \($0[0]), \($0[1])" } ?? ""))
    print("input      \(m.input.width)x\(m.input.height) \(m.input.color), (x/255 - mean) / std, mean \(m.normalization.mean), std \(m.normalization.std)")
    print("crop       \(m.crop.rule), side = \(m.crop.scale) x box side, offset_y \(m.crop.offsetY)")
    print("output     \(m.output.coordinates), \(m.output.pixelConvention) convention")
    print("data       \(m.trainingData)")
    print("licence    \(m.licence)")
    if let source = m.source { print("source     " + source.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ", ")) }
    if let q = m.quantization { print("quantized  " + q.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ", ")) }

    var opCounts: [String: (count: Int, int8: Int, macs: Int)] = [:]
    var totalMACs = 0, int8MACs = 0
    for (i, step) in network.steps.enumerated() {
      let macs = network.stepMACs[i]
      var entry = opCounts["\(step.op)", default: (0, 0, 0)]
      entry.count += 1
      entry.int8 += step.int8 ? 1 : 0
      entry.macs += macs
      opCounts["\(step.op)"] = entry
      totalMACs += macs
      if step.int8 { int8MACs += macs }
    }
    print("")
    print(pad("op", 12) + pad("nodes", 7) + pad("int8", 6) + "MACs")
    for (op, e) in opCounts.sorted(by: { $0.value.macs > $1.value.macs }) {
      print(pad(op, 12) + pad("\(e.count)", 7) + pad("\(e.int8)", 6) + "\(fixed(Double(e.macs) / 1e6, 2)) M")
    }
    let weights = file.tensors.filter { $0.role == .constant }
    let weightBytes = weights.reduce(0) { $0 + $1.byteCount }
    print("")
    print("total      \(fixed(Double(totalMACs) / 1e6, 1)) M MACs, int8 share \(totalMACs > 0 ? fixed(100 * Double(int8MACs) / Double(totalMACs), 1) : "0") %")
    print("tensors    \(file.tensors.count) (\(weights.count) constants, \(fixed(Double(weightBytes) / 1024, 1)) KiB)")
    print("arena      \(fixed(Double(network.arenaBytes) / 1024, 1)) KiB (\(fixed(Double(network.unsharedBytes) / 1024, 1)) KiB without reuse)")
  }
}

/// The machine-readable layer listing of `lotr info --json`: one object per node, in the
/// order the network runs them (steps[i] is nodes[i]).
func layerListingJSON(_ file: ModelFile, _ network: Network) -> String {
  func tensor(_ id: Int) -> String {
    let t = file.tensors[id]
    return "{\"name\":\(jsonString(t.name)),\"shape\":[\(t.shape.map(String.init).joined(separator: ","))],"
      + "\"dtype\":\(jsonString("\(t.dtype)")),\"constant\":\(t.role == .constant)}"
  }
  let m = file.metadata
  var out = "{\"model\":\(jsonString(m.name)),\"format_minor\":\(file.versionMinor),"
  out += "\"input\":{\"width\":\(m.input.width),\"height\":\(m.input.height),\"channels\":\(m.input.channels),\"color\":\(jsonString(m.input.color))},"
  out += "\"total_macs\":\(network.stepMACs.reduce(0, +)),\"nodes\":["
  for (i, node) in file.nodes.enumerated() {
    if i > 0 { out += "," }
    out += "{\"index\":\(i),\"name\":\(jsonString(node.name)),\"op\":\(jsonString("\(node.op)")),"
    out += "\"int8\":\(network.steps[i].int8),\"macs\":\(network.stepMACs[i]),"
    out += "\"inputs\":[\(node.inputs.map(tensor).joined(separator: ","))],"
    out += "\"outputs\":[\(node.outputs.map(tensor).joined(separator: ","))],"
    out += "\"attributes\":\(reflectedJSON(node.attributes))}"
  }
  return out + "]}"
}

/// An attribute struct as JSON through reflection, so every op's fields appear without a
/// per-op list: numbers, booleans, arrays, nested structs as objects, enum cases as
/// strings; a non-finite float (an unbounded clamp) as null.
func reflectedJSON(_ value: Any) -> String {
  switch value {
  case let v as Bool: return v ? "true" : "false"
  case let v as Int: return String(v)
  case let v as Float: return v.isFinite ? "\(v)" : "null"
  case let v as Double: return v.isFinite ? "\(v)" : "null"
  case let v as String: return jsonString(v)
  default:
    let mirror = Mirror(reflecting: value)
    switch mirror.displayStyle {
    case .collection?, .set?:
      return "[" + mirror.children.map { reflectedJSON($0.value) }.joined(separator: ",") + "]"
    case .struct?, .class?:
      return "{" + mirror.children.map { jsonString($0.label ?? "_") + ":" + reflectedJSON($0.value) }.joined(separator: ",") + "}"
    default:
      return jsonString("\(value)")
    }
  }
}
