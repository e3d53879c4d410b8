import ArgumentParser
import LOTR
import LOTREval
import LOTRVision
#if canImport(Glibc)
import Glibc
#endif

extension VisionCommand {
  /// The figures of docs/VISION.md for the CNN detector (BlazeFace, int8).
  struct CNN: ParsableCommand {
    static let configuration = CommandConfiguration(
      commandName: "cnn",
      abstract: "Measure the CNN face detector: box mapping fit, detection rates, false positives, time, landmark NME from its crops.",
      discussion: """
        The mapping from the detector's box and eye line to the landmark model's rolled crop is \
        fitted on the faces not in --validation-list and every rate is measured on those in it. \
        Detection: a face counts as found when a detection's mapped box has IoU > 0.5 with the \
        ground-truth landmark box. Desk frames: each validation photo placed in a 640x480 frame \
        (textured background, sensor noise) with its face box 80, 120, 180 or 240 pixels wide. \
        Face-free: the validation photos with every annotated face (its landmark box grown 1.8x) \
        filled with the photo's mean colour, and the bare background frame.
        """)
    @Option(help: ArgumentHelp("Folder of faces (300-W layout: landmarks.csv, images/).", valueName: "folder"))
    var data: String
    @Option(help: ArgumentHelp("The detector .lotr.", valueName: "model.lotr"))
    var detectorModel = "models/blazeface-short.lotr"
    @Option(help: ArgumentHelp("Faces to measure on, one image name per line; the rest fit the mapping.", valueName: "file"))
    var validationList = "training/splits/300w-val.txt"
    @Option(help: ArgumentHelp("A landmark model: also report NME from the detector's crops.", valueName: "model.lotr"))
    var model: String?
    @Option(help: "Timed runs per 640x480 frame (median reported).") var runs = 30

    func run() throws {
      let set = try FaceDataset(directory: data)
      let only = try FaceSet.readNameList(validationList)
      let detector = try CNNFaceDetector(path: detectorModel)
      detector.mapping = .identity
      let images = try set.faces.map { try RGBImage(contentsOf: set.imagePath($0)) }
      let truth = set.faces.map { AlignedBox(landmarks: $0.points)! }
      let isVal = set.faces.map { only.contains($0.image) }
      print("detector \(detectorModel) (\(detector.network.steps.filter(\.int8).count) int8 steps of \(detector.network.steps.count)), "
            + "\(set.faces.count) faces: \(isVal.filter { $0 }.count) validation, \(isVal.filter { !$0 }.count) fit the mapping")

      // 1. Candidates on the photos; fit the mapping on the non-validation faces.
      let found = images.map { detector.candidates(in: PixelImage($0)) }
      var mapping = DetectorBoxMapping.identity
      for _ in 0..<4 {
        var pairs: [(AnchorDecoding.Candidate, AlignedBox)] = []
        for i in set.faces.indices where !isVal[i] {
          if let best = found[i].max(by: { iou(mapping.alignedBox(for: $0).box, truth[i].box) < iou(mapping.alignedBox(for: $1).box, truth[i].box) }),
             iou(mapping.alignedBox(for: best).box, truth[i].box) > 0.3 {
            pairs.append((best, truth[i]))
          }
        }
        mapping = DetectorBoxMapping.fit(candidates: pairs)
      }
      print("mapping fitted: widthScale \(fixed(mapping.widthScale, 4)) heightScale \(fixed(mapping.heightScale, 4)) centerX \(fixed(mapping.centerX, 4)) centerY \(fixed(mapping.centerY, 4))")
      func rate(_ lists: [[AnchorDecoding.Candidate]], _ truths: [AlignedBox]) -> (found: Double, iou: Float, roll: Float) {
        var hit = 0
        var ious: [Float] = [], rolls: [Float] = []
        for (cands, t) in zip(lists, truths) {
          let best = cands.map { (iou(mapping.alignedBox(for: $0).box, t.box), $0) }.max { $0.0 < $1.0 }
          ious.append(best?.0 ?? 0)
          if let best, best.0 > 0.5 {
            hit += 1
            rolls.append(abs(mapping.alignedBox(for: best.1).roll - t.roll) * 180 / .pi)
          }
        }
        return (Double(hit) / Double(max(truths.count, 1)), percentile(ious, 0.5), rolls.isEmpty ? .nan : rolls.reduce(0, +) / Float(rolls.count))
      }
      let val = set.faces.indices.filter { isVal[$0] }
      let photos = rate(val.map { found[$0] }, val.map { truth[$0] })
      print("validation photos (\(val.count), 320x320): found \(fixed(photos.found * 100, 1)) %, median IoU \(fixed(photos.iou, 3)), mean roll error \(fixed(photos.roll, 2)) deg")

      // 2. Desk frames: the photo placed at four face sizes.
      var rng = SplitRNG(seed: 2026)
      var deskFrames: [(RGBImage, AlignedBox, [Point])] = []
      for size: Float in [80, 120, 180, 240] {
        var lists: [[AnchorDecoding.Candidate]] = [], truths: [AlignedBox] = []
        for i in val {
          let clip = SyntheticClip(sources: [(images[i], set.faces[i].points)], frameCount: 1)
          let scale = size / truth[i].box.width
          let margin = 0.6 * size
          let pose = SyntheticClip.Pose(cx: margin + rng.uniform() * (640 - 2 * margin), cy: margin + rng.uniform() * (480 - 2 * margin), scale: scale, roll: 0)
          let frame = clip.render(poses: [pose], seed: UInt64(i))
          let points = clip.truth(face: 0, pose: pose)
          let t = AlignedBox(landmarks: points)!
          lists.append(detector.candidates(in: PixelImage(frame))); truths.append(t)
          if size == 120 { deskFrames.append((frame, t, points)) }
        }
        let r = rate(lists, truths)
        print("desk frames 640x480, face box \(Int(size)) px: found \(fixed(r.found * 100, 1)) %, median IoU \(fixed(r.iou, 3))")
      }

      // 3. Face-free images.
      var falsePositives = 0
      for i in val {
        var im = images[i]
        var mean = [0.0, 0.0, 0.0]
        for (k, v) in im.pixels.enumerated() { mean[k % 3] += Double(v) }
        let fill = mean.map { UInt8($0 / Double(im.width * im.height)) }
        for f in set.faces where f.image == set.faces[i].image {
          let b = FaceBox(bounding: f.points)!
          let (cx, cy, half) = (b.x + b.width / 2, b.y + b.height / 2, 0.9 * max(b.width, b.height))
          for y in max(0, Int(cy - half))..<min(im.height, Int(cy + half)) {
            for x in max(0, Int(cx - half))..<min(im.width, Int(cx + half)) {
              for c in 0..<3 { im.pixels[(y * im.width + x) * 3 + c] = fill[c] }
            }
          }
        }
        falsePositives += detector.candidates(in: PixelImage(im)).count
      }
      let far = SyntheticClip.Pose(cx: -10_000, cy: -10_000, scale: 1, roll: 0)
      let bare = SyntheticClip(sources: [(images[0], set.faces[0].points)], frameCount: 1).render(poses: [far], seed: 1)
      print("face-free: \(falsePositives) detections in \(val.count) photos with their faces filled (\(fixed(Double(falsePositives) / Double(val.count), 3)) per image), "
            + "\(detector.candidates(in: PixelImage(bare)).count) on the bare background frame")

      // 4. Time per 640x480 frame, 1 thread (letterbox warp + network + decoding + NMS).
      // A frame with a face takes one pass; a face-free one the whole search (whole frame, 2x2, 3x3 tiles).
      for (name, frame) in [("with a face", deskFrames.first?.0 ?? bare), ("face-free (the full search)", bare)] {
        var times: [Double] = []
        for _ in 0..<(runs + 3) {
          let t0 = KernelBenchmark.now()
          _ = detector.detect(in: PixelImage(frame))
          times.append(KernelBenchmark.now() - t0)
        }
        times.removeFirst(3)
        print("time per 640x480 frame \(name), 1 thread, kernels \(detector.network.kernels.name): median \(fixed(median(times) * 1000, 3)) ms "
              + "(min \(fixed(times.min()! * 1000, 3))), \(runs) runs, \(detector.network.stepMACs.reduce(0, +)) MACs per pass")
      }

      // 5. Landmarks from the detector's crops.
      guard let model else { return }
      let lm = try LandmarkModel(path: model)
      var fromTruth: [Float] = [], fromDetector: [Float] = [], missed = 0
      for (frame, t, points) in deskFrames {
        let ideal = lm.landmarks(in: frame, box: FaceBox(bounding: points)!)
        fromTruth.append(LandmarkError.nme(ideal, points))
        let c = detector.candidates(in: PixelImage(frame)).max { iou(mapping.alignedBox(for: $0).box, t.box) < iou(mapping.alignedBox(for: $1).box, t.box) }
        guard let c, iou(mapping.alignedBox(for: c).box, t.box) > 0.3 else { missed += 1; continue }
        let a = mapping.alignedBox(for: c)
        fromDetector.append(LandmarkError.nme(lm.landmarks(in: frame, box: a.box, roll: a.roll), points))
      }
      func mean(_ v: [Float]) -> Float { v.isEmpty ? .nan : v.reduce(0, +) / Float(v.count) }
      func failures(_ v: [Float]) -> Float { Float(v.filter { $0 > 0.08 }.count) / Float(max(v.count, 1)) }
      print("landmarks \(model) on the 120 px desk frames: NME from the ground-truth box \(fixed(mean(fromTruth) * 100, 2)) % (FR@0.08 \(fixed(failures(fromTruth) * 100, 1)) %), "
            + "from the detector's rolled crop \(fixed(mean(fromDetector) * 100, 2)) % (FR@0.08 \(fixed(failures(fromDetector) * 100, 1)) %), \(missed) not found")
    }
  }
}
