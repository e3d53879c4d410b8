import ArgumentParser
import LOTR

struct InfoCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "info",
    abstract: "Show a model file's metadata, ops, tensors, MACs and checksum status."
  )

  @Argument(help: "The .lotr model file.")
  var model: String

  func run() throws {
    let file = try ModelFile.open(path: model)
    let network = try Network(model: file, kernels: KernelPath.named("ref"))
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
