import ArgumentParser
import LOTR
import LOTREval

struct BenchKernelsCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "bench-kernels",
    abstract: "Time the int8 kernels on LOTR-M's shapes against OpenBLAS SGEMM.",
    discussion: """
      Runs every GEMM and depthwise shape of a LOTR-M forward pass (input 192x192, \
      MobileNetV2-0.75 backbone, D=128, 2+2 layers, 68 queries) with the chosen kernel \
      path, and the same GEMMs through OpenBLAS cblas_sgemm, in one process. Prints the \
      median time of one call, GOP/s and the int8/fp32 throughput ratio per thread count \
      (1 thread: the two alternate sample by sample; more: each in its own block, since \
      OpenBLAS's spinning workers would take the cores of the int8 threads), then the crop \
      warps per camera frame. Timings on a shared machine drift: compare ratios, and run \
      more --runs when noisy.
      """
  )

  @Option(help: "Comma-separated thread counts.")
  var threads: String = "1,2"

  @Option(help: "Timed samples per shape (the median is reported).")
  var runs: Int = 7

  @Option(help: "Kernel path (default: the best this CPU supports, or LOTR_KERNELS).")
  var kernels: String?

  @Flag(help: "Print a Markdown table (for docs/PERFORMANCE.md).")
  var markdown = false

  func validate() throws {
    guard runs >= 1 else { throw ValidationError("--runs must be at least 1") }
    guard !threadCounts.isEmpty, threadCounts.allSatisfy({ $0 >= 1 && $0 <= 64 }) else {
      throw ValidationError("--threads takes counts between 1 and 64, e.g. 1,2")
    }
  }

  var threadCounts: [Int] { threads.split(separator: ",").compactMap { Int($0.filter { $0 != " " }) } }

  func run() throws {
    let path = try kernels.map { try KernelPath.named($0) } ?? KernelPath.default()
    let bench = KernelBenchmark(kernels: path, runs: runs)
    let shapes = LOTRMShapes()
    print("kernel path \(path.name); median of \(runs) samples; LOTR-M at \(shapes.inputSize)x\(shapes.inputSize)")
    var totals: [Int: (int8: Double, sgemm: Double, dw: Double)] = [:]
    if markdown {
      print("| shape (MxNxK) | layer | calls | threads | int8 ms | int8 GOP/s | sgemm ms | sgemm GOP/s | int8/sgemm |")
      print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    } else {
      print(pad("shape", 16) + pad("layer", 26) + pad("calls", 6) + pad("thr", 4) + pad("int8 ms", 10)
        + pad("GOP/s", 8) + pad("sgemm ms", 10) + pad("GOP/s", 8) + "ratio")
    }
    for t in threadCounts {
      let pool = t > 1 ? try ThreadPool(threads: t) : nil
      var total = (int8: 0.0, sgemm: 0.0, dw: 0.0)
      for shape in shapes.gemms() {
        let row = bench.gemm(shape, threads: t, pool: pool)
        total.int8 += row.int8Seconds * Double(row.count)
        total.sgemm += (row.sgemmSeconds ?? 0) * Double(row.count)
        emit(row)
      }
      for shape in shapes.depthwise() {
        let row = bench.depthwise(shape, threads: t, pool: pool)
        total.dw += row.int8Seconds * Double(row.count)
        emit(row)
      }
      totals[t] = total
    }
    print("")
    for t in threadCounts {
      guard let total = totals[t] else { continue }
      print("threads \(t): all GEMMs int8 \(ms(total.int8)) ms vs sgemm \(ms(total.sgemm)) ms "
        + "(ratio \(fixed(total.sgemm / total.int8, 2))x); depthwise \(ms(total.dw)) ms")
    }
    if let one = totals[1], let two = totals[2] {
      print("1 -> 2 threads: int8 GEMMs \(fixed(one.int8 / two.int8, 2))x, depthwise \(fixed(one.dw / two.dw, 2))x")
    }
    print("")
    print("crops per 640x480 frame (one 160x160 landmark crop, two 128x128 detector squares, 1 thread, "
      + "\(bench.kernels.name) path):")
    for layout in [PixelLayout.yuyv, .nv12, .i420, .gray8] {
      let t = bench.frameCrops(layout: layout)
      print("  \(pad(layout.rawValue, 6)) via full-frame RGB8 \(ms(t.converted)) ms, straight from the camera's bytes "
        + "\(ms(t.direct)) ms (\(fixed(t.converted / t.direct, 2))x faster; scalar reference \(ms(t.directReference)) ms)")
    }
  }

  func emit(_ row: KernelBenchmark.Row) {
    let sgemmMs = row.sgemmSeconds.map { ms($0) } ?? "-"
    let sgemmGOPS = row.sgemmGOPS.map { fixed($0, 1) } ?? "-"
    let ratio = row.ratio.map { fixed($0, 2) + "x" } ?? "-"
    if markdown {
      print("| \(row.shape) | \(row.label) | \(row.count) | \(row.threads) | \(ms(row.int8Seconds)) | "
        + "\(fixed(row.int8GOPS, 1)) | \(sgemmMs) | \(sgemmGOPS) | \(ratio) |")
    } else {
      print(pad(row.shape, 16) + pad(row.label, 26) + pad("\(row.count)", 6) + pad("\(row.threads)", 4)
        + pad(ms(row.int8Seconds), 10) + pad(fixed(row.int8GOPS, 1), 8) + pad(sgemmMs, 10) + pad(sgemmGOPS, 8) + ratio)
    }
  }
}

func ms(_ seconds: Double) -> String { fixed(seconds * 1000, 3) }

func pad(_ text: String, _ width: Int) -> String {
  text.count >= width ? text + " " : text + String(repeating: " ", count: width - text.count)
}
