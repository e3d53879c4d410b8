import LOTR

/// Landmark accuracy of a model on faces with ground truth, and agreement between two
/// models (int8 against its float original), in the paper's NME.
public enum Evaluation {
  /// Each face's landmarks in frame coordinates.
  public static func predict(_ model: ModelFile, inputs: [(input: [Float], transform: [Float])], kernels: KernelPath,
                             threads: Int = 1) throws -> [[Point]] {
    let network = try Network(model: model, kernels: kernels, threads: threads)
    let input = network.inputPointer.assumingMemoryBound(to: Float.self)
    return inputs.map { sample in
      input.update(from: sample.input, count: sample.input.count)
      network.run()
      return CropGeometry.mapBack(network.output, sample.transform)
    }
  }

  public struct Summary: Sendable {
    public var faces: Int
    /// Mean NME of the first model against ground truth (nil without ground truth).
    public var referenceNME: Float?
    /// Mean NME of the second model against ground truth.
    public var candidateNME: Float?
    /// Mean NME of the second model against the first (how far quantization moved the points).
    public var agreementNME: Float
  }

  public static func compare(reference: [[Point]], candidate: [[Point]], truth: [[Point]?]) -> Summary {
    var sumRef: Float = 0, sumCand: Float = 0, sumAgree: Float = 0
    var withTruth = 0
    for i in reference.indices {
      sumAgree += LandmarkError.nme(candidate[i], reference[i])
      if let t = truth[i] {
        sumRef += LandmarkError.nme(reference[i], t)
        sumCand += LandmarkError.nme(candidate[i], t)
        withTruth += 1
      }
    }
    let n = Float(max(reference.count, 1))
    return Summary(faces: reference.count,
                   referenceNME: withTruth > 0 ? sumRef / Float(withTruth) : nil,
                   candidateNME: withTruth > 0 ? sumCand / Float(withTruth) : nil,
                   agreementNME: sumAgree / n)
  }

  /// The paper's summary of per-face NMEs: area under the cumulative error distribution up
  /// to `threshold` (normalised to 1) and the share of faces above it.
  public static func aucAndFailureRate(_ nmes: [Float], threshold: Float) -> (auc: Float, failureRate: Float) {
    guard !nmes.isEmpty else { return (0, 0) }
    let sorted = nmes.sorted()
    let steps = 1000
    var area: Float = 0
    var below = 0
    for i in 0...steps {
      let x = threshold * Float(i) / Float(steps)
      while below < sorted.count && sorted[below] <= x { below += 1 }
      let ced = Float(below) / Float(sorted.count)
      area += (i == 0 || i == steps ? 0.5 : 1) * ced
    }
    let auc = area / Float(steps)
    let failures = sorted.filter { $0 > threshold }.count
    return (auc, Float(failures) / Float(sorted.count))
  }
}
