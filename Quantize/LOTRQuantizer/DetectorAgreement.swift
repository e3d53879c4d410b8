#if canImport(Glibc)
import Glibc
#endif
import LOTR
import LOTRVision

/// How far int8 moved a face detector's results: both models run on the same frames, each
/// output decoded and suppressed as the runtime does (AnchorDecoding, min score 0.5, IoU
/// 0.3); every reference face is matched to the candidate face of highest IoU.
public struct DetectorAgreement: Sendable {
  public var frames = 0
  public var referenceFaces = 0
  public var candidateFaces = 0
  /// Reference faces with a candidate face of IoU > 0.5.
  public var matched = 0
  /// Over the matched: mean IoU, mean keypoint distance (fraction of the input side),
  /// mean |score difference|.
  public var meanIoU: Float = 0
  public var meanKeypointError: Float = 0
  public var meanScoreDifference: Float = 0

  public var summary: String {
    "faces float \(referenceFaces), int8 \(candidateFaces), matched (IoU > 0.5) \(matched); "
      + "over the matched: IoU \(fixed(meanIoU, 3)), keypoints \(fixed(Double(meanKeypointError) * 100, 2)) % of the input side, "
      + "|score difference| \(fixed(meanScoreDifference, 4))"
  }

  static func faces(_ network: Network, _ input: [Float], _ centres: [Point]) -> [AnchorDecoding.Candidate] {
    let m = network.model.metadata
    network.inputPointer.assumingMemoryBound(to: Float.self).update(from: input, count: input.count)
    network.run()
    let found = AnchorDecoding.decode(network.output, centres: centres, keypoints: m.landmarkCount, inputWidth: m.input.width,
                                      inputHeight: m.input.height, scoreClip: m.anchors!.scoreClip, minScore: 0.5)
    return AnchorDecoding.weightedNMS(found, iou: 0.3)
  }

  /// `inputs`: normalised NHWC f32 detector inputs (FaceSet.inputs(for:)).
  public static func measure(reference: ModelFile, candidate: ModelFile, inputs: [[Float]], kernels: KernelPath) throws -> DetectorAgreement {
    let m = reference.metadata
    guard let anchors = m.anchors, candidate.tensors[candidate.inputTensor].dtype == .f32,
          reference.tensors[reference.inputTensor].dtype == .f32 else {
      throw ImportError("detector agreement needs two face-detection models with f32 inputs")
    }
    let centres = AnchorDecoding.centres(anchors, width: m.input.width, height: m.input.height)
    let (a, b) = (try Network(model: reference, kernels: kernels), try Network(model: candidate, kernels: kernels))
    var out = DetectorAgreement()
    var sumIoU: Float = 0, sumKeypoints: Float = 0, sumScore: Float = 0
    for input in inputs {
      let (ref, cand) = (faces(a, input, centres), faces(b, input, centres))
      out.frames += 1
      out.referenceFaces += ref.count
      out.candidateFaces += cand.count
      for r in ref {
        guard let best = cand.max(by: { iou($0.box, r.box) < iou($1.box, r.box) }), iou(best.box, r.box) > 0.5 else { continue }
        out.matched += 1
        sumIoU += iou(best.box, r.box)
        let d = zip(r.keypoints, best.keypoints).reduce(Float(0)) { $0 + hypotf($1.0.x - $1.1.x, $1.0.y - $1.1.y) }
        sumKeypoints += d / Float(max(r.keypoints.count, 1))
        sumScore += abs(r.score - best.score)
      }
    }
    if out.matched > 0 {
      let n = Float(out.matched)
      (out.meanIoU, out.meanKeypointError, out.meanScoreDifference) = (sumIoU / n, sumKeypoints / n, sumScore / n)
    }
    return out
  }
}
