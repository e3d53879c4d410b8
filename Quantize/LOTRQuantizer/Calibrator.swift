import LOTR

/// How an activation's real range is chosen from what calibration saw.
public enum RangeMethod: Sendable, Equatable, CustomStringConvertible {
  /// The smallest and largest value seen.
  case minMax
  /// The given percentile of the values seen at each end (e.g. 99.99), which ignores rare
  /// outliers at the cost of clipping them.
  case percentile(Double)

  public var description: String {
    switch self {
    case .minMax: return "minmax"
    case .percentile(let p): return "percentile \(p)"
    }
  }
}

/// Value statistics of every activation of a float graph over a calibration set: exact
/// min/max, and a deterministic strided sample of each tensor (for percentiles).
public struct CalibrationStatistics: Sendable {
  public var minimum: [Float]
  public var maximum: [Float]
  var samples: [[Float]]
  public var images: Int

  /// At most this many values per tensor per image are kept for percentiles.
  static let samplesPerImage = 4096

  /// The real range [lo, hi] of tensor `t` by `method`, always containing 0 (int8 zero
  /// points must represent 0 exactly: padding and ReLU rely on it).
  public func range(_ t: Int, _ method: RangeMethod) -> (Float, Float) {
    var (lo, hi) = (minimum[t], maximum[t])
    if case .percentile(let p) = method, !samples[t].isEmpty {
      let sorted = samples[t].sorted()
      let q = max(0, min(1, p / 100))
      let top = sorted[min(sorted.count - 1, Int((Double(sorted.count - 1) * q).rounded()))]
      let bottom = sorted[max(0, Int((Double(sorted.count - 1) * (1 - q)).rounded()))]
      (lo, hi) = (max(lo, bottom), min(hi, top))
    }
    if !lo.isFinite || !hi.isFinite || lo > hi { (lo, hi) = (0, 0) }
    return (min(lo, 0), max(hi, 0))
  }
}

public enum Calibrator {
  /// Runs the float graph on each input (NHWC f32, already normalised) and records every
  /// activation's values. Deterministic: same inputs, same statistics.
  public static func collect(_ graph: ImportedGraph, inputs: [[Float]], kernels: KernelPath,
                             progress: ((Int, Int) -> Void)? = nil) throws -> CalibrationStatistics {
    let model = try ModelFile(bytes: try graph.modelBuilder().serialize())
    let network = try Network(model: model, kernels: kernels)
    // The built model has the graph's tensors in the same order (all f32, no extras).
    precondition(model.tensors.count == graph.tensors.count)
    var stats = CalibrationStatistics(minimum: [Float](repeating: .infinity, count: graph.tensors.count),
                                      maximum: [Float](repeating: -.infinity, count: graph.tensors.count),
                                      samples: [[Float]](repeating: [], count: graph.tensors.count), images: 0)
    func record(_ t: Int) {
      let values = network.bytes(of: t).bindMemory(to: Float.self)
      var lo = stats.minimum[t], hi = stats.maximum[t]
      for v in values where v.isFinite {
        lo = min(lo, v)
        hi = max(hi, v)
      }
      stats.minimum[t] = lo
      stats.maximum[t] = hi
      let step = max(1, values.count / CalibrationStatistics.samplesPerImage)
      stats.samples[t].append(contentsOf: stride(from: 0, to: values.count, by: step).map { values[$0] })
    }
    let input = network.inputPointer.assumingMemoryBound(to: Float.self)
    for (i, x) in inputs.enumerated() {
      precondition(x.count == model.tensors[model.inputTensor].elementCount, "calibration input has the wrong size")
      input.update(from: x, count: x.count)
      record(model.inputTensor)
      network.run { step in
        for t in model.nodes[step].outputs { record(t) }
      }
      stats.images += 1
      progress?(i + 1, inputs.count)
    }
    return stats
  }
}
