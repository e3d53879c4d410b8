import ArgumentParser
import LOTR
import LOTREval
import LOTRVision
#if canImport(Glibc)
import Glibc
#endif

extension VisionCommand {
  /// Does LANDMARKS' score predict correct landmarks? AUROC over perturbed crops; --fit
  /// refits the score's logistic model on the faces outside the list.
  struct Score: ParsableCommand {
    static let configuration = CommandConfiguration(
      commandName: "score",
      abstract: "AUROC of the landmark confidence for 'NME below 8 %' on perturbed crops (--fit: refit it).",
      discussion: """
        Each face is cropped from its ground-truth rolled box perturbed 13 ways: as is, with every \
        face filled (no face at all), shifted right and up by 0.15/0.3/0.5 of the box, scaled by \
        0.6/1.5/2.2, rolled by 25/50 degrees. The landmark model runs on each crop; a crop is \
        correct when its NME (inter-ocular) is below 8 %. Without --fit: the faces in the list \
        (validation), AUROC of the detector's score alone, of the keypoint agreement alone and \
        of LANDMARKS' score. With --fit: the faces NOT in the list, and the fitted coefficients \
        printed as Swift for LandmarkConfidence.fitted.
        """)
    @Option(help: ArgumentHelp("Folder of faces (300-W layout).", valueName: "folder")) var data: String
    @Option(help: "The landmark model.") var model = "models/lotr-m-68.lotr"
    @Option(help: "The detector.") var detectorModel = "models/blazeface-short.lotr"
    @Option(help: "Validation faces, one image name per line.") var validationList = "training/splits/300w-val.txt"
    @Flag(help: "Fit the score's model on the faces outside the list and print it.") var fit = false

    static let perturbations = ["as is", "face filled", "shift right 0.15", "shift up 0.15", "shift right 0.3", "shift up 0.3",
                                "shift right 0.5", "shift up 0.5", "scale 0.6", "scale 1.5", "scale 2.2", "roll 25", "roll 50"]

    struct Sample { var kind: Int; var correct: Bool; var check: AnchorDecoding.Candidate?; var features: LandmarkConfidence.Features }

    func run() throws {
      let set = try FaceDataset(directory: data)
      let list = try FaceSet.readNameList(validationList)
      let lm = try LandmarkModel(path: model)
      let detector = try CNNFaceDetector(path: detectorModel)
      let faces = set.faces.filter { list.contains($0.image) != fit }
      var samples: [Sample] = []
      let progress = ProgressLine()
      for (n, f) in faces.enumerated() {
        progress.show("faces", n, faces.count)
        let image = try RGBImage(contentsOf: set.imagePath(f))
        for (kind, (im, crop)) in Self.crops(image, f.points).enumerated() {
          let points = lm.landmarks(in: im, box: crop.box, roll: crop.roll)
          let correct = kind != 1 && LandmarkError.nme(points, f.points) < 0.08
          let check = detector.check(PixelImage(im), crop: crop, cropScale: lm.metadata.crop.scale)
          samples.append(Sample(kind: kind, correct: correct, check: check,
                                features: .init(landmarks: points, crop: crop, check: check, mapping: detector.mapping)))
        }
      }
      progress.show("faces", faces.count, faces.count)
      let correct = samples.filter(\.correct).count
      print("\(samples.count) crops of \(faces.count) \(fit ? "fitting" : "validation") faces, \(correct) correct (NME < 8 %), \(samples.count - correct) not")
      if fit {
        let m = LandmarkConfidence.fit(samples.map { ($0.features, $0.correct) })
        print("AUROC on the fitting crops: \(fixed(Self.auroc(samples.map { m.probability($0.features) }, samples.map(\.correct)), 4))")
        print("  public static let fitted = Model(")
        print("    weights: [\(m.weights.map { fixed($0, 4) }.joined(separator: ", "))],")
        print("    bias: \(fixed(m.bias, 4)))")
        return
      }
      let labels = samples.map(\.correct)
      let scores = samples.map { LandmarkConfidence.fitted.probability($0.features) }
      print("AUROC detector score on the crop: \(fixed(Self.auroc(samples.map { $0.check?.score ?? 0 }, labels), 4))")
      print("AUROC keypoint agreement alone: \(fixed(Self.auroc(samples.map { $0.check == nil ? -2 : -$0.features.values[1] }, labels), 4))")
      print("AUROC LANDMARKS score (LandmarkConfidence.fitted): \(fixed(Self.auroc(scores, labels), 4))")
      print("per perturbation: correct share, mean score")
      for (k, name) in Self.perturbations.enumerated() {
        let idx = samples.indices.filter { samples[$0].kind == k }
        let share = Double(idx.filter { samples[$0].correct }.count) / Double(max(idx.count, 1))
        print("  \(name): \(fixed(share * 100, 1)) %, \(fixed(idx.map { Double(scores[$0]) }.reduce(0, +) / Double(max(idx.count, 1)), 3))")
      }
      for threshold: Float in [0.1, 0.3, 0.5, 0.7] {
        let kept = samples.indices.filter { scores[$0] >= threshold }
        let right = kept.filter { samples[$0].correct }.count
        print("score >= \(threshold): keeps \(fixed(Double(right) * 100 / Double(max(correct, 1)), 1)) % of the correct, "
              + "\(fixed(Double(kept.count - right) * 100 / Double(max(samples.count - correct, 1)), 1)) % of the wrong")
      }
    }

    /// The 13 crops of one face, in `perturbations` order: (image, crop).
    static func crops(_ image: RGBImage, _ truth: [Point]) -> [(RGBImage, AlignedBox)] {
      guard let t = AlignedBox(landmarks: truth), let b = FaceBox(bounding: truth) else { return [] }
      var filled = image
      let half = 0.9 * max(b.width, b.height)
      for y in max(0, Int(b.y + b.height / 2 - half))..<max(0, min(image.height, Int(b.y + b.height / 2 + half))) {
        for x in max(0, Int(b.x + b.width / 2 - half))..<max(0, min(image.width, Int(b.x + b.width / 2 + half))) {
          for c in 0..<3 { filled.pixels[(y * image.width + x) * 3 + c] = 128 }
        }
      }
      let s = max(t.box.width, t.box.height)
      var out: [(RGBImage, AlignedBox)] = [(image, t), (filled, t)]
      for d: Float in [0.15, 0.3, 0.5] {
        var u = t; u.box.x += d * s; out.append((image, u))
        var v = t; v.box.y -= d * s; out.append((image, v))
      }
      for k: Float in [0.6, 1.5, 2.2] {
        var u = t
        let (cx, cy) = (t.box.x + t.box.width / 2, t.box.y + t.box.height / 2)
        u.box = FaceBox(x: cx - k * t.box.width / 2, y: cy - k * t.box.height / 2, width: k * t.box.width, height: k * t.box.height)
        out.append((image, u))
      }
      for r: Float in [25, 50] { var u = t; u.roll += r * .pi / 180; out.append((image, u)) }
      return out
    }

    /// Probability that a random correct sample scores above a random wrong one (ties 1/2).
    static func auroc(_ score: [Float], _ correct: [Bool]) -> Double {
      let order = score.indices.sorted { score[$0] < score[$1] }
      var rankSum = 0.0, i = 0
      while i < order.count {
        var j = i
        while j + 1 < order.count && score[order[j + 1]] == score[order[i]] { j += 1 }
        let rank = Double(i + j) / 2 + 1
        for k in i...j where correct[order[k]] { rankSum += rank }
        i = j + 1
      }
      let pos = Double(correct.filter { $0 }.count), neg = Double(correct.count) - pos
      return pos > 0 && neg > 0 ? (rankSum - pos * (pos + 1) / 2) / (pos * neg) : .nan
    }
  }
}
