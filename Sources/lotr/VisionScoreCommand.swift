import ArgumentParser
import LOTR
import LOTREval
import LOTRVision
#if canImport(Glibc)
import Glibc
#endif

extension VisionCommand {
  /// Does LANDMARKS' score predict correct landmarks? AUROC over perturbed crops.
  struct Score: ParsableCommand {
    static let configuration = CommandConfiguration(
      commandName: "score",
      abstract: "AUROC of the landmark confidence for 'NME below 8 %' on perturbed crops of the validation faces.",
      discussion: """
        Each validation photo is cropped from its ground-truth rolled box perturbed: none, \
        shifted by 0.15/0.3/0.5 of the box, scaled by 0.6/1.5/2.2, rotated by 25/50 degrees, and \
        once with every face filled (no face at all). The landmark model runs on each crop; \
        a crop is correct when its NME (inter-ocular) is below 8 %. AUROC of each candidate \
        score against that label.
        """)
    @Option(help: ArgumentHelp("Folder of faces (300-W layout).", valueName: "folder")) var data: String
    @Option(help: "The landmark model.") var model = "models/lotr-m-68.lotr"
    @Option(help: "The detector.") var detectorModel = "models/blazeface-short.lotr"
    @Option(help: "Faces, one image name per line.") var validationList = "training/splits/300w-val.txt"

    func run() throws {
      let set = try FaceDataset(directory: data)
      let only = try FaceSet.readNameList(validationList)
      let lm = try LandmarkModel(path: model)
      let detector = try CNNFaceDetector(path: detectorModel)
      var samples: [(correct: Bool, detector: Float, combined: Float)] = []
      var raw: [([Point], AnchorDecoding.Candidate?)] = []
      for f in set.faces where only.contains(f.image) {
        let image = try RGBImage(contentsOf: set.imagePath(f))
        guard let t = AlignedBox(landmarks: f.points) else { continue }
        var filled = image
        let b = FaceBox(bounding: f.points)!
        let half = 0.9 * max(b.width, b.height)
        for y in max(0, Int(b.y + b.height / 2 - half))..<min(image.height, Int(b.y + b.height / 2 + half)) {
          for x in max(0, Int(b.x + b.width / 2 - half))..<min(image.width, Int(b.x + b.width / 2 + half)) {
            for c in 0..<3 { filled.pixels[(y * image.width + x) * 3 + c] = 128 }
          }
        }
        let s = max(t.box.width, t.box.height)
        var crops: [(RGBImage, AlignedBox)] = [(image, t), (filled, t)]
        for d: Float in [0.15, 0.3, 0.5] {
          var u = t; u.box.x += d * s; crops.append((image, u))
          var v = t; v.box.y -= d * s; crops.append((image, v))
        }
        for k: Float in [0.6, 1.5, 2.2] {
          var u = t
          let (cx, cy) = (t.box.x + t.box.width / 2, t.box.y + t.box.height / 2)
          u.box = FaceBox(x: cx - k * t.box.width / 2, y: cy - k * t.box.height / 2, width: k * t.box.width, height: k * t.box.height)
          crops.append((image, u))
        }
        for r: Float in [25, 50] { var u = t; u.roll += r * .pi / 180; crops.append((image, u)) }
        for (k, (im, crop)) in crops.enumerated() {
          let points = lm.landmarks(in: im, box: crop.box, roll: crop.roll)
          let correct = k != 1 && LandmarkError.nme(points, f.points) < 0.08
          let check = detector.check(im, crop: crop, cropScale: lm.metadata.crop.scale)
          samples.append((correct, check?.score ?? 0, LandmarkConfidence.score(landmarks: points, check: check)))
          raw.append((points, check))
        }
      }
      func auroc(_ score: (Int) -> Float) -> Double {
        let pos = samples.indices.filter { samples[$0].correct }, neg = samples.indices.filter { !samples[$0].correct }
        var wins = 0.0
        for p in pos { for n in neg { let (a, b) = (score(p), score(n)); wins += a > b ? 1 : a == b ? 0.5 : 0 } }
        return wins / Double(max(pos.count * neg.count, 1))
      }
      let correct = samples.filter(\.correct).count
      print("\(samples.count) crops of \(samples.count / 13) validation faces, \(correct) correct (NME < 8 %), \(samples.count - correct) not")
      print("AUROC detector score on the crop: \(fixed(auroc { samples[$0].detector }, 4))")
      print("AUROC detector score x keypoint agreement (LANDMARKS score, sigma \(LandmarkConfidence.sigma) IOD): \(fixed(auroc { samples[$0].combined }, 4))")
      for sigma: Float in [0.06, 0.09, 0.18] {
        let alt = raw.map { LandmarkConfidence.score(landmarks: $0.0, check: $0.1, sigma: sigma) }
        print("  with sigma \(sigma): \(fixed(auroc { alt[$0] }, 4))")
      }
      for threshold: Float in [0.2, 0.3, 0.5] {
        let kept = samples.filter { $0.combined >= threshold }
        print("score >= \(threshold): keeps \(fixed(Double(kept.filter(\.correct).count) * 100 / Double(max(correct, 1)), 1)) % of the correct, "
              + "\(fixed(Double(kept.filter { !$0.correct }.count) * 100 / Double(max(samples.count - correct, 1)), 1)) % of the wrong")
      }
    }
  }
}
