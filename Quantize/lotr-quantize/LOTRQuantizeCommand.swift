import ArgumentParser
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
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
      coordinate_convention, training_data and licence), or your own (any torch.onnx.export, \
      opset 13 to 18): then give what its metadata_props lack with the metadata options \
      (--mirror-permutation, --crop-scale, --normalization or --mean/--std at least; \
      docs/QUANTIZATION.md, "Your own model"). BatchNorm is folded into convolutions, \
      ReLU/ReLU6 fused, multi-head attention, LayerNorm and GELU recognised, the rest run as \
      plain float ops, and the graph laid out NHWC; anything that cannot be mapped is an \
      error naming the ONNX node.

      --float writes the float model. Without it the model is calibrated on the faces of \
      --calibration and quantised to int8 (per-channel weights, per-tensor activations; \
      docs/QUANTIZATION.md), then checked against the float model. The output is \
      written atomically: on any error no file (and no partial file) is left at --output.

      Examples:
        lotr-quantize --onnx models/lotr-m-68.onnx --calibration calib/ --output models/lotr-m-68.lotr
        lotr-quantize --onnx models/lotr-m-68.onnx --float -o lotr-m-68-f32.lotr
        lotr-quantize --onnx mine.onnx --mirror-permutation mirror98.json --crop-scale 1.3 \\
          --normalization imagenet --calibration calib/ -o mine.lotr
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

  @OptionGroup(title: "Metadata (for a model without lotr-edge's metadata_props; each replaces the ONNX key)")
  var metadata: MetadataOptions

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
    let graph = try ONNXImporter.importModel(path: onnx, metadata: try metadata.overrides())
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

/// The model's metadata from the command line; docs/QUANTIZATION.md, "Your own model", says
/// what each means. They fill `MetadataOverrides`, which MetadataMapping reads like the ONNX
/// metadata_props it stands for.
struct MetadataOptions: ParsableArguments {
  @Option(name: .long, help: ArgumentHelp("Points the model outputs (default: the output's N).", valueName: "n"))
  var landmarks: Int?

  @Option(name: .long, help: ArgumentHelp("The model input's size (default: the graph input's); must match it.", valueName: "WxH or S"))
  var inputSize: String?

  @Option(name: .long, help: ArgumentHelp("input = (pixel / 255 - mean) / std: " + MetadataOverrides.Normalization.allCases.map(\.rawValue).joined(separator: ", ") + ".", valueName: "name"))
  var normalization: String?

  @Option(name: .long, help: ArgumentHelp("Per-channel mean of pixel / 255, RGB (instead of --normalization).", valueName: "r,g,b"))
  var mean: String?

  @Option(name: .long, help: ArgumentHelp("Per-channel std of pixel / 255, RGB (with --mean).", valueName: "r,g,b"))
  var std: String?

  @Option(name: .long, help: ArgumentHelp("Crop side / face box side: the square crop around the landmark box the model was trained on.", valueName: "k"))
  var cropScale: Float?

  @Option(name: .long, help: ArgumentHelp("Crop centre moved down by this many box sides (default 0).", valueName: "dy"))
  var cropOffsetY: Float?

  @Option(name: .long, help: ArgumentHelp("Which point a mirrored face's point i is: a JSON list or whitespace/comma-separated integers, N of them.", valueName: "file"))
  var mirrorPermutation: String?

  @Option(name: .long, help: ArgumentHelp("The outer eye corners (inter-ocular distance, eye-line roll); known for 68, 98 and 106 points.", valueName: "i,j"))
  var outerEyes: String?

  @Option(name: .long, help: ArgumentHelp("The landmark scheme's name (default: ibug68, wflw98, jd106 by the count).", valueName: "name"))
  var scheme: String?

  @Option(name: .long, help: ArgumentHelp("The model's name in the file (default: the ONNX file name).", valueName: "name"))
  var name: String?

  @Option(name: .long, help: ArgumentHelp("Output pixel convention: corner (u = X / W, pixel j spans [j, j+1)) or center (default corner).", valueName: "convention"))
  var pixelConvention: String?

  @Option(name: .long, help: ArgumentHelp("What the model was trained on (default: not stated).", valueName: "text"))
  var trainingData: String?

  @Option(name: .long, help: ArgumentHelp("The model's licence (default: not stated).", valueName: "text"))
  var licence: String?

  func validate() throws {
    if normalization != nil && (mean != nil || std != nil) { throw ValidationError("--normalization names mean and std; give it or --mean/--std, not both") }
    if (mean == nil) != (std == nil) { throw ValidationError("--mean and --std go together") }
    if let n = normalization, MetadataOverrides.Normalization(rawValue: n) == nil {
      throw ValidationError("--normalization is one of " + MetadataOverrides.Normalization.allCases.map(\.rawValue).joined(separator: ", "))
    }
    if let p = pixelConvention, !["corner", "center"].contains(p) { throw ValidationError("--pixel-convention is corner or center") }
    if cropOffsetY != nil && cropScale == nil { throw ValidationError("--crop-offset-y needs --crop-scale") }
  }

  static func numbers<T>(_ text: String, _ flag: String, count: Int?, _ parse: (Substring) -> T?) throws -> [T] {
    let parts = text.split(whereSeparator: { ",[] \n\t\r".contains($0) })
    let values = parts.compactMap(parse)
    guard values.count == parts.count, count == nil || values.count == count else {
      throw ValidationError("\(flag): '\(text.prefix(60))' is not \(count.map { "\($0) " } ?? "")comma-separated numbers")
    }
    return values
  }

  func overrides() throws -> MetadataOverrides {
    var m = MetadataOverrides()
    m.name = name
    m.landmarks = landmarks
    m.scheme = scheme
    if let s = inputSize {
      let wh = try Self.numbers(s.lowercased().replacingOccurrences(of: "x", with: ","), "--input-size", count: nil) { Int($0) }
      guard (1...2).contains(wh.count) else { throw ValidationError("--input-size is W, or WxH") }
      m.inputWidth = wh[0]; m.inputHeight = wh.last
    }
    if let n = normalization.flatMap(MetadataOverrides.Normalization.init(rawValue:)) { m.mean = n.mean; m.std = n.std }
    if let t = mean { m.mean = try Self.numbers(t, "--mean", count: 3) { Float($0) } }
    if let t = std { m.std = try Self.numbers(t, "--std", count: 3) { Float($0) } }
    m.cropScale = cropScale
    m.cropOffsetY = cropOffsetY
    if let path = mirrorPermutation {
      guard let bytes = FileManager.default.contents(atPath: path) else { throw ValidationError("--mirror-permutation: cannot read \(path)") }
      m.mirrorPermutation = try Self.numbers(String(decoding: bytes, as: UTF8.self), "--mirror-permutation \(path)", count: nil) { Int($0) }
    }
    if let e = outerEyes { m.outerEyes = try Self.numbers(e, "--outer-eyes", count: 2) { Int($0) } }
    m.pixelConvention = pixelConvention
    m.trainingData = trainingData
    m.licence = licence
    return m
  }
}

struct CommandError: Error, CustomStringConvertible {
  var description: String
  init(_ description: String) { self.description = description }
}
