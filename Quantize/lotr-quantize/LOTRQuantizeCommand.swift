import ArgumentParser
#if canImport(Glibc)
import Glibc
#endif
import LOTR
import LOTREval
import LOTRQuantizer

/// lotr-quantize: a trained LOTR (ONNX, from training/) in, a .lotr model file out.
@main
struct LOTRQuantizeCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "lotr-quantize",
    abstract: "Turn a trained LOTR ONNX model into a .lotr model file for the lotr-edge runtime.",
    discussion: """
      A face detector (metadata task = face-detection, as training/lotr_train/blazeface.py \
      writes it) is calibrated on the whole images of --calibration, letterboxed, and \
      checked by decoding both models' faces.

      The ONNX model is the one training/ exports (opset 17, input 1x3xHxW, output 1xNx2, \
      metadata_props with landmark_count, mirror_permutation, crop_rule, input_size, mean, std, \
      coordinate_convention, training_data and licence). BatchNorm is folded into convolutions, \
      ReLU/ReLU6 fused, multi-head attention and LayerNorm recognised, and the graph laid out \
      NHWC; anything that cannot be mapped is an error naming the ONNX node.

      --float writes the float model. Without it the model is calibrated on the faces of \
      --calibration and quantised to int8 (per-channel weights, per-tensor activations; \
      docs/QUANTIZATION.md), then checked against the float model. The output is \
      written atomically: on any error no file (and no partial file) is left at --output.

      Examples:
        lotr-quantize --onnx models/lotr-m-68.onnx --calibration calib/ --output models/lotr-m-68.lotr
        lotr-quantize --onnx models/lotr-m-68.onnx --float -o lotr-m-68-f32.lotr
      """)

  @Option(name: .long, help: ArgumentHelp("The trained model (ONNX, from training/).", valueName: "model.onnx"))
  var onnx: String

  @Option(name: .shortAndLong, help: ArgumentHelp("Where to write the .lotr model file.", valueName: "model.lotr"))
  var output: String

  @Flag(name: .long, help: "Write the float model (no calibration, no int8).")
  var float = false

  @Option(name: .long, help: ArgumentHelp("""
    Calibration faces for the int8 model: a folder of JPEG/PNG images, with landmarks.csv \
    (300-W format) or boxes.csv (image,x,y,width,height) for the face boxes; without them \
    the whole image is the box.
    """, valueName: "folder"))
  var calibration: String?

  @Option(name: .long, help: ArgumentHelp("Only these calibration images: a file of names, one per line (e.g. training/splits/300w-calib.txt).", valueName: "file"))
  var calibrationList: String?

  @Option(name: .long, help: ArgumentHelp("At most this many calibration images (sorted by name).", valueName: "n"))
  var limit: Int = 300

  @Option(name: .long, help: ArgumentHelp("Faces with landmarks.csv to measure NME on (float vs int8 vs ground truth).", valueName: "folder"))
  var validation: String?

  @Option(name: .long, help: ArgumentHelp("Only these validation images: a file of names, one per line (e.g. training/splits/300w-val.txt).", valueName: "file"))
  var validationList: String?

  @Flag(name: .shortAndLong, help: "No progress lines on stderr (they are shown only on a terminal anyway).")
  var quiet = false

  @Option(name: .long, help: "Activation ranges: minmax, or percentile (with --percentile). Default: minmax for landmark models, percentile for face detectors (heavy-tailed activations).")
  var method: String?

  @Option(name: .long, help: "Percentile for --method percentile.")
  var percentile: Double = 99.99

  @Option(name: .long, help: ArgumentHelp("Keep this layer (a .lotr node name, see the report) in float; repeatable.", valueName: "node"))
  var keepFloat: [String] = []

  @Flag(name: .long, help: "Also measure, per int8 layer, how much NME keeping it float would save.")
  var sensitivity = false

  @Flag(name: .shortAndLong, help: "Print every mapping note (folded BatchNorms, recognised patterns).")
  var verbose = false

  func validate() throws {
    if float && (calibration != nil || validation != nil || sensitivity || !keepFloat.isEmpty) {
      throw ValidationError("--float writes the float model; --calibration, --validation, --sensitivity and --keep-float are for int8")
    }
    if !float && calibration == nil {
      throw ValidationError("the int8 model needs --calibration <folder of face images> (or --float for the float model)")
    }
    guard method == nil || ["minmax", "percentile"].contains(method!) else { throw ValidationError("--method is minmax or percentile") }
    guard percentile > 50, percentile <= 100 else { throw ValidationError("--percentile must be in (50, 100]") }
    guard limit >= 1 else { throw ValidationError("--limit must be at least 1") }
  }

  func run() throws {
    let graph = try ONNXImporter.importModel(path: onnx)
    let counts = graph.nodes.reduce(into: [Op: Int]()) { $0[$1.op, default: 0] += 1 }
    let macs = graph.macs()
    let weights = graph.tensors.compactMap { $0.data?.count }.reduce(0, +)
    let m = graph.metadata
    let what = m.kind == .faceDetection
      ? "face detector, \(m.outputShape[1]) anchors, \(m.landmarkCount) keypoints" : "\(m.landmarkCount) landmarks"
    print("imported \(onnx): '\(m.name)', \(what), input \(m.input.width)x\(m.input.height)")
    print("  \(graph.nodes.count) nodes: " + counts.sorted { $0.key.rawValue < $1.key.rawValue }.map { "\($0.key) \($0.value)" }.joined(separator: ", "))
    print("  \(weights) weights (\(weights * 4 / 1024) KiB f32), \(macs.values.reduce(0, +)) MACs per face")
    if verbose { for note in graph.notes { print("  " + note) } }
    if float {
      try graph.modelBuilder().write(to: output)
      print("wrote \(output) (float)")
      return
    }

    let progress = ProgressLine(enabled: !quiet)
    func names(_ path: String, _ flag: String) throws -> Set<String> {
      do { return try FaceSet.readNameList(path) } catch { throw CommandError("\(flag): \(error)") }
    }
    let only = try calibrationList.map { try names($0, "--calibration-list") }
    let calibrationSet = try FaceSet.load(folder: calibration!, limit: limit, only: only) { progress.show("loading calibration faces", $0, $1) }
    let validationOnly = try validationList.map { try names($0, "--validation-list") }
    let validationSet = try validation.map { folder in
      try FaceSet.load(folder: folder, only: validationOnly) { progress.show("loading validation faces", $0, $1) }
    }
    var settings = QuantizationRun.Settings(kernels: try KernelPath.default())
    let ranges = method ?? (graph.metadata.kind == .faceDetection ? "percentile" : "minmax")
    settings.options = Int8Quantizer.Options(method: ranges == "minmax" ? .minMax : .percentile(percentile),
                                             keepFloat: Set(keepFloat))
    settings.sensitivity = sensitivity
    let known = Set(graph.nodes.map(\.name))
    if let unknown = keepFloat.first(where: { !known.contains($0) }) {
      throw CommandError("--keep-float '\(unknown)' is not a node of this model (see the layer names in the report or `lotr info`)")
    }
    let outcome = try QuantizationRun.run(graph, calibration: calibrationSet, validation: validationSet, settings: settings) {
      progress.show($0, $1, $2)
    }
    try outcome.builder.write(to: output)
    for line in outcome.report { print(line) }
    print("wrote \(output) (int8)")
  }
}

struct CommandError: Error, CustomStringConvertible {
  var description: String
  init(_ description: String) { self.description = description }
}
