import ArgumentParser
import LOTR
import LOTRQuantizer

/// lotr-quantize: a trained LOTR (ONNX, from training/) in, a .lotr model file out.
@main
struct LOTRQuantizeCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "lotr-quantize",
    abstract: "Turn a trained LOTR ONNX model into a .lotr model file for the lotr-edge runtime.",
    discussion: """
      The ONNX model is the one training/ exports (opset 17, input 1x3xHxW, output 1xNx2, \
      metadata_props with landmark_count, mirror_permutation, crop_rule, input_size, mean, std, \
      coordinate_convention, training_data and licence). BatchNorm is folded into convolutions, \
      ReLU/ReLU6 fused, multi-head attention and LayerNorm recognised, and the graph laid out \
      NHWC; anything that cannot be mapped is an error naming the ONNX node.

      --float writes the float model. Without it the model is to be calibrated and quantised \
      to int8 (per-channel weights, per-tensor activations; not available yet). The output is \
      written atomically: on any error no file (and no partial file) is left at --output.

      Example:
        lotr-quantize --onnx lotr-m-68.onnx --float -o lotr-m-68-f32.lotr
      """)

  @Option(name: .long, help: ArgumentHelp("The trained model (ONNX, from training/).", valueName: "model.onnx"))
  var onnx: String

  @Option(name: .shortAndLong, help: ArgumentHelp("Where to write the .lotr model file.", valueName: "model.lotr"))
  var output: String

  @Flag(name: .long, help: "Write the float model (no calibration, no int8).")
  var float = false

  @Option(name: .long, help: ArgumentHelp("Calibration images (a folder of JPEG/PNG faces) for the int8 model.", valueName: "folder"))
  var calibration: String?

  @Flag(name: .shortAndLong, help: "Print every mapping note (folded BatchNorms, recognised patterns).")
  var verbose = false

  func run() throws {
    if !float {
      throw CommandError("int8 quantisation is not available yet: it needs the runtime's executor to calibrate; use --float for the float model")
    }
    let graph = try ONNXImporter.importModel(path: onnx)
    try graph.modelBuilder().write(to: output)
    let counts = graph.nodes.reduce(into: [Op: Int]()) { $0[$1.op, default: 0] += 1 }
    let macs = graph.macs()
    let weights = graph.tensors.compactMap { $0.data?.count }.reduce(0, +)
    print("wrote \(output): float model '\(graph.metadata.name)', \(graph.metadata.landmarkCount) landmarks, input \(graph.metadata.input.width)x\(graph.metadata.input.height)")
    print("  \(graph.nodes.count) nodes: " + counts.sorted { $0.key.rawValue < $1.key.rawValue }.map { "\($0.key) \($0.value)" }.joined(separator: ", "))
    print("  \(weights) weights (\(weights * 4 / 1024) KiB f32), \(macs.values.reduce(0, +)) MACs per face")
    if verbose { for note in graph.notes { print("  " + note) } }
  }
}

struct CommandError: Error, CustomStringConvertible {
  var description: String
  init(_ description: String) { self.description = description }
}
