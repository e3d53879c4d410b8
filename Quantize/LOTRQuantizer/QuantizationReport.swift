import LOTR
import LOTREval

/// The int8 half of lotr-quantize: calibrate a float graph on faces, quantize it, and
/// measure what quantization cost in landmark error. Text report lines come back with the
/// model so the CLI and tests share one path.
public enum QuantizationRun {
  public struct Settings: Sendable {
    public var options = Int8Quantizer.Options()
    /// Per-layer sensitivity: NME gained by keeping each int8 layer float alone.
    public var sensitivity = false
    public var kernels: KernelPath
    public init(kernels: KernelPath) { self.kernels = kernels }
  }

  public struct Outcome {
    public var builder: ModelBuilder
    public var quantization: Int8Quantizer.Result
    /// Landmark models: NME of int8 against float (and ground truth) per set.
    public var calibration: Evaluation.Summary?
    public var validation: Evaluation.Summary?
    /// Face detectors: decoded detections of int8 against float.
    public var detectorAgreement: DetectorAgreement?
    public var report: [String]
  }

  public static func run(_ imported: ImportedGraph, calibration: FaceSet, validation: FaceSet?,
                         settings: Settings, progress: ((String, Int, Int) -> Void)? = nil) throws -> Outcome {
    guard !calibration.faces.isEmpty else { throw ImportError("the calibration set is empty") }
    var graph = imported
    let equalized = ChannelEqualization.apply(&graph)
    if equalized > 0 { graph.notes.append("\(equalized) depthwise -> convolution pairs equalized per channel") }
    if graph.metadata.kind == .faceDetection {
      return try runDetector(graph, calibration: calibration, validation: validation, settings: settings, progress: progress)
    }
    let calibrationInputs = calibration.inputs(for: graph.metadata)
    let stats = try Calibrator.collect(graph, inputs: calibrationInputs.map(\.input), kernels: settings.kernels) {
      progress?("calibrating", $0, $1)
    }
    let result = try Int8Quantizer.quantize(graph, statistics: stats, options: settings.options)
    let int8Bytes = try result.builder.serialize()
    let int8Model = try ModelFile(bytes: int8Bytes)
    let floatModel = try ModelFile(bytes: try graph.modelBuilder().serialize())

    func evaluate(_ set: FaceSet, _ inputs: [(input: [Float], transform: [Float])]) throws -> Evaluation.Summary {
      let reference = try Evaluation.predict(floatModel, inputs: inputs, kernels: settings.kernels)
      let candidate = try Evaluation.predict(int8Model, inputs: inputs, kernels: settings.kernels)
      // Ground truth of another scheme (a 68-point landmarks.csv for a 98-point model) only crops.
      let n = graph.metadata.landmarkCount
      return Evaluation.compare(reference: reference, candidate: candidate, truth: set.faces.map { $0.landmarks?.count == n ? $0.landmarks : nil })
    }
    let onCalibration = try evaluate(calibration, calibrationInputs)
    let validationInputs = validation?.inputs(for: graph.metadata)
    let onValidation = try validation.map { try evaluate($0, validationInputs!) }

    var report: [String] = []
    let total = max(result.int8MACs + result.floatMACs, 1)
    report.append("MACs: \(result.int8MACs) int8 + \(result.floatMACs) float (\(percent(result.int8MACs, total)) int8); "
      + "calibrated on \(stats.images) faces, ranges by \(settings.options.method)")
    report.append("file: \(int8Bytes.count) bytes int8 (float model: \(try graph.modelBuilder().serialize().count) bytes)")
    if let note = graph.notes.last(where: { $0.hasSuffix("equalized per channel") }) { report.append(note) }
    if !result.raisedScales.isEmpty {
      report.append("output scale raised to keep requantization below 0.5: " + result.raisedScales.joined(separator: ", "))
    }
    report.append("")
    report += layerTable(result.layers)
    report.append("")
    func describe(_ name: String, _ s: Evaluation.Summary) -> String {
      var line = "\(name) (\(s.faces) faces): int8 vs float NME \(pct(s.agreementNME))"
      if let f = s.referenceNME, let q = s.candidateNME { line += "; against ground truth: float \(pct(f)), int8 \(pct(q))" }
      return line
    }
    report.append(describe("calibration set", onCalibration))
    if let v = onValidation { report.append(describe("validation set", v)) }

    if settings.sensitivity {
      // Which layers hurt most if left int8: NME (int8 vs float) with only that layer kept float.
      let subset = Array((validationInputs ?? calibrationInputs).prefix(32))
      let reference = try Evaluation.predict(floatModel, inputs: subset, kernels: settings.kernels)
      let baseline = Evaluation.compare(reference: reference, candidate: try Evaluation.predict(int8Model, inputs: subset, kernels: settings.kernels),
                                        truth: subset.map { _ in nil }).agreementNME
      var gains: [(String, Float)] = []
      for (i, layer) in result.layers.enumerated() {
        var options = settings.options
        options.keepFloat.insert(layer.node)
        let variant = try ModelFile(bytes: try Int8Quantizer.quantize(graph, statistics: stats, options: options).builder.serialize())
        let nme = Evaluation.compare(reference: reference, candidate: try Evaluation.predict(variant, inputs: subset, kernels: settings.kernels),
                                     truth: subset.map { _ in nil }).agreementNME
        gains.append((layer.node, baseline - nme))
        progress?("sensitivity", i + 1, result.layers.count)
      }
      report.append("")
      report.append("sensitivity on \(subset.count) faces (int8-vs-float NME \(pct(baseline)) with every layer int8); NME saved by keeping one layer float:")
      for (name, gain) in gains.sorted(by: { $0.1 > $1.1 }).prefix(10) { report.append("  " + pad(name, 34) + pct(gain)) }
    }
    return Outcome(builder: result.builder, quantization: result, calibration: onCalibration, validation: onValidation,
                   detectorAgreement: nil, report: report)
  }

  /// A face detector: calibrated on whole frames (each image letterboxed into the input),
  /// checked by decoding both models' detections (validation images if given, else the
  /// calibration ones).
  static func runDetector(_ graph: ImportedGraph, calibration: FaceSet, validation: FaceSet?,
                          settings: Settings, progress: ((String, Int, Int) -> Void)?) throws -> Outcome {
    let calibrationInputs = calibration.inputs(for: graph.metadata)
    let stats = try Calibrator.collect(graph, inputs: calibrationInputs.map(\.input), kernels: settings.kernels) {
      progress?("calibrating", $0, $1)
    }
    let result = try Int8Quantizer.quantize(graph, statistics: stats, options: settings.options)
    let int8Bytes = try result.builder.serialize()
    let floatBytes = try graph.modelBuilder().serialize()
    let checkSet = validation ?? calibration
    let agreement = try DetectorAgreement.measure(reference: try ModelFile(bytes: floatBytes), candidate: try ModelFile(bytes: int8Bytes),
                                                  inputs: checkSet.inputs(for: graph.metadata).map(\.input), kernels: settings.kernels)
    var report: [String] = []
    let total = max(result.int8MACs + result.floatMACs, 1)
    report.append("MACs: \(result.int8MACs) int8 + \(result.floatMACs) float (\(percent(result.int8MACs, total)) int8); "
      + "calibrated on \(stats.images) frames, ranges by \(settings.options.method)")
    report.append("file: \(int8Bytes.count) bytes int8 (float model: \(floatBytes.count) bytes)")
    if let note = graph.notes.last(where: { $0.hasSuffix("equalized per channel") }) { report.append(note) }
    let kept = result.layers.isEmpty ? [] : graph.nodes.filter { n in !result.layers.contains { $0.node == n.name } && n.op == .conv2d }.map(\.name)
    if !kept.isEmpty { report.append("float convolutions (they write the output's boxes and scores): " + kept.joined(separator: ", ")) }
    report.append("")
    report += layerTable(result.layers)
    report.append("")
    report.append("\(validation == nil ? "calibration" : "validation") frames (\(agreement.frames)): " + agreement.summary)
    return Outcome(builder: result.builder, quantization: result, calibration: nil, validation: nil,
                   detectorAgreement: agreement, report: report)
  }

  /// One line per int8 layer: its scales and MACs.
  static func layerTable(_ layers: [Int8Quantizer.Layer]) -> [String] {
    [pad("int8 layer", 34) + pad("op", 8) + pad("s_in", 11) + pad("s_out", 11) + pad("s_w min..max", 22) + "MACs"]
      + layers.map { l in
        pad(l.node, 34) + pad("\(l.op)", 8) + pad(sci(l.inputScale), 11) + pad(l.outputScale.map(sci) ?? "f32", 11)
          + pad(sci(l.weightScaleRange.lowerBound) + ".." + sci(l.weightScaleRange.upperBound), 22) + "\(l.macs)"
      }
  }

  static func percent(_ a: Int, _ b: Int) -> String { fixed(100 * Double(a) / Double(b), 1) + " %" }
  static func pct(_ nme: Float) -> String { fixed(Double(nme) * 100, 3) + " %" }
  static func sci(_ v: Float) -> String {
    guard v > 0, v.isFinite else { return "\(v)" }
    var e = 0
    var m = Double(v)
    while m < 1 { m *= 10; e -= 1 }
    while m >= 10 { m /= 10; e += 1 }
    return fixed(m, 3) + "e" + String(e)
  }
  static func pad(_ s: String, _ w: Int) -> String { s.count >= w ? s + " " : s + String(repeating: " ", count: w - s.count) }
}
