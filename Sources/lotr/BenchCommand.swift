import ArgumentParser
import LOTR
import LOTREval
#if canImport(Glibc)
import Glibc
#endif

struct BenchCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "bench",
    abstract: "Time a model (landmarks or face detector): per-op table, median latency, load time and peak memory.",
    discussion: "Not a test: timings on a shared machine drift; compare runs made side by side."
  )

  @Option(help: "The .lotr model file.")
  var model: String

  @Option(help: "Inference threads.")
  var threads = 1

  @Option(help: "Timed inferences (the median is reported).")
  var runs = 50

  @Option(help: "Kernel path (default: the best this CPU supports, or LOTR_KERNELS).")
  var kernels: String?

  @Flag(help: "Only the summary line (for scripts).")
  var quiet = false

  func validate() throws {
    guard runs >= 1 else { throw ValidationError("--runs must be at least 1") }
    guard (1...64).contains(threads) else { throw ValidationError("--threads must be in 1...64") }
  }

  func run() throws {
    let path = try kernels.map { try KernelPath.named($0) } ?? KernelPath.default()
    var start = KernelBenchmark.now()
    let file = try ModelFile.open(path: model)
    // A mid-grey frame: timing does not depend on content. A landmark model runs on a face
    // box in the middle (crop warp + network + points); a detector on the whole frame
    // letterboxed (warp + network; the decoding is a few microseconds).
    let image = RGBImage(width: 640, height: 480, fill: (128, 128, 128))
    let network: Network
    let infer: () -> Void
    if file.metadata.kind == .faceDetection {
      network = try Network(model: file, kernels: path, threads: threads)
      let input = ModelInput(network)
      let frame = CropGeometry.transform(box: FaceBox(x: 0, y: 0, width: 640, height: 480), crop: file.metadata.crop)
      infer = { input.fill(from: PixelImage(image), transform: frame); network.run() }
    } else {
      start = KernelBenchmark.now()
      let landmarkModel = try LandmarkModel(path: model, kernels: path, threads: threads)
      network = landmarkModel.network
      let box = FaceBox(x: 240, y: 160, width: 160, height: 160)
      infer = { _ = landmarkModel.landmarks(in: image, box: box) }
    }
    let loadMs = (KernelBenchmark.now() - start) * 1000
    let m = file.metadata
    infer()

    var latencies: [Double] = []
    for _ in 0..<runs {
      let t0 = KernelBenchmark.now()
      infer()
      latencies.append(KernelBenchmark.now() - t0)
    }
    var stepTimes: [Double] = []
    for _ in 0..<runs { network.run(times: &stepTimes) }
    latencies.sort()
    let median = latencies[latencies.count / 2]
    var usage = rusage()
    getrusage(Int32(RUSAGE_SELF.rawValue), &usage)
    let peakMB = Double(usage.ru_maxrss) / 1024
    let macs = network.stepMACs.reduce(0, +)

    if !quiet {
      var byOp: [String: (seconds: Double, macs: Int, count: Int)] = [:]
      for (i, step) in network.steps.enumerated() {
        let key = "\(step.op)\(step.int8 ? " i8" : " f32")"
        var e = byOp[key, default: (0, 0, 0)]
        e.seconds += stepTimes[i] / Double(runs)
        e.macs += network.stepMACs[i]
        e.count += 1
        byOp[key] = e
      }
      let total = byOp.values.reduce(0) { $0 + $1.seconds }
      print("\(m.name): \(network.steps.count) ops, \(fixed(Double(macs) / 1e6, 1)) M MACs, kernels \(path.name), \(threads) thread(s), \(runs) runs")
      print(pad("op", 16) + pad("nodes", 7) + pad("ms", 9) + pad("share", 8) + "GMAC/s")
      for (op, e) in byOp.sorted(by: { $0.value.seconds > $1.value.seconds }) {
        let rate = e.seconds > 0 && e.macs > 0 ? fixed(Double(e.macs) / e.seconds / 1e9, 2) : "-"
        print(pad(op, 16) + pad("\(e.count)", 7) + pad(fixed(e.seconds * 1000, 3), 9) + pad(fixed(100 * e.seconds / total, 1) + "%", 8) + rate)
      }
      print("")
    }
    print("latency median \(fixed(median * 1000, 3)) ms (p10 \(fixed(latencies[latencies.count / 10] * 1000, 3)), "
      + "p90 \(fixed(latencies[latencies.count * 9 / 10] * 1000, 3))), load \(fixed(loadMs, 1)) ms, "
      + "peak RSS \(fixed(peakMB, 1)) MB, arena \(fixed(Double(network.arenaBytes) / 1024, 1)) KiB, "
      + "\(fixed(Double(macs) / median / 1e9, 2)) GMAC/s")
  }
}
