import ArgumentParser
import LOTR
import LOTREval
import LOTRVision
#if canImport(Glibc)
import Glibc
#endif

/// The measurements behind docs/VISION.md: detection rate and the detector-box mapping on
/// the 300-W faces, detector time, tracking vs detecting every frame, smoothing.
struct VisionCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "vision",
    abstract: "Measure the face detector, the box mapping, tracking and smoothing (docs/VISION.md).",
    subcommands: [CNN.self, Score.self, Drops.self, Track.self, Jitter.self, Plausibility.self]
  )
}

struct VisionData: ParsableArguments {
  @Option(help: ArgumentHelp(
    "Folder of faces: landmarks.csv and images/ in the 300-W layout (e.g. the 300-W training set).", valueName: "folder"))
  var data: String?
  @Option(help: "The face detector.")
  var detectorModel = "models/blazeface-short.lotr"

  /// The faces of `--data`; a usage error when it is not given.
  func dataset() throws -> FaceDataset {
    guard let data else {
      throw ValidationError("--data <folder> is required: a folder with landmarks.csv and images/ in the 300-W layout")
    }
    return try FaceDataset(directory: data)
  }

  func detector() throws -> CNNFaceDetector { try CNNFaceDetector(path: detectorModel) }
}

func median(_ v: [Double]) -> Double {
  let s = v.sorted()
  return s.isEmpty ? .nan : s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
}

func percentile(_ v: [Float], _ p: Double) -> Float {
  let s = v.sorted()
  guard !s.isEmpty else { return .nan }
  return s[min(s.count - 1, max(0, Int((Double(s.count - 1) * p).rounded())))]
}

extension VisionCommand {
  struct Track: ParsableCommand {
    static let configuration = CommandConfiguration(
      commandName: "track",
      abstract: "Tracking vs detecting every frame on a synthetic moving-face clip.",
      discussion: """
        Without --model, landmarks come from a ground-truth stand-in (truth + noise; a mean face \
        filling the crop when the face centre is outside the crop's central 80 %), so the figures \
        are crop quality (centre error / crop side, scale error, roll error against the crop from \
        the true landmarks) and detector runs; with --model, NME too.
        """)
    @OptionGroup var options: VisionData
    @Option(help: "A .lotr model (else the ground-truth stand-in).") var model: String?
    @Option(help: "Re-detect every K frames when tracking.") var interval = 10
    @Option(help: "Clip length in frames.") var frames = 180
    @Option(help: "Index of the 300-W face to animate.") var face = 0

    func run() throws {
      let set = try options.dataset()
      let f = set.faces[face]
      let clip = SyntheticClip(sources: [(try RGBImage(contentsOf: set.imagePath(f)), f.points)], frameCount: frames)
      let detector = try options.detector()
      let lm = try model.map { try LandmarkModel(path: $0) }
      let crop = lm?.metadata.crop ?? ModelMetadata.Crop(rule: "landmark-box", scale: 1.3)
      var proxy = GroundTruthLandmarker()
      var frameIndex = 0
      func landmarks(_ image: PixelImage, _ box: FaceBox, _ roll: Float) -> [Point] {
        if let lm { return lm.landmarks(in: image, box: box, roll: roll) }
        return proxy.landmarks(truth: clip.truth(face: 0, frame: frameIndex), box: box, roll: roll, crop: crop)
      }
      struct Stats { var nme: [Float] = []; var centre: [Float] = []; var scale: [Float] = []; var roll: [Float] = []; var missed = 0; var time = 0.0; var detections = 0 }
      func record(_ s: inout Stats, points: [Point]?, used: AlignedBox?, truth: [Point]) {
        guard let points, let used, let ideal = AlignedBox(landmarks: truth) else { s.missed += 1; return }
        s.nme.append(LandmarkError.nme(points, truth))
        let side = max(ideal.box.width, ideal.box.height)
        s.centre.append(hypotf(used.box.x + used.box.width / 2 - ideal.box.x - ideal.box.width / 2,
                               used.box.y + used.box.height / 2 - ideal.box.y - ideal.box.height / 2) / side)
        s.scale.append(abs(logf(max(used.box.width, used.box.height) / side)))
        s.roll.append(abs(used.roll - ideal.roll) * 180 / .pi)
      }
      var every = Stats(), tracked = Stats()
      var options = FaceTracker.Options()
      options.redetectInterval = interval
      options.smoothing = nil
      let tracker = FaceTracker(options: options, detect: { detector.detect(in: $0).map(\.crop) }, landmarker: landmarks)
      for n in 0..<frames {
        frameIndex = n
        let image = PixelImage(clip.render(frame: n))
        let truth = clip.truth(face: 0, frame: n)
        let tb = FaceBox(bounding: truth)!
        // Detect every frame: the detection whose crop best overlaps the truth.
        let t0 = KernelBenchmark.now()
        let dets = detector.detect(in: image).map(\.crop)
        let best = dets.max { iou($0.boundingBox, tb) < iou($1.boundingBox, tb) }.flatMap { iou($0.boundingBox, tb) > 0.3 ? $0 : nil }
        let p = best.map { landmarks(image, $0.box, $0.roll) }
        every.time += KernelBenchmark.now() - t0
        every.detections += 1
        record(&every, points: p, used: best, truth: truth)
        let t1 = KernelBenchmark.now()
        let faces = tracker.update(image, timestamp: Double(n) / clip.fps)
        tracked.time += KernelBenchmark.now() - t1
        let mine = faces.max { iou($0.crop.boundingBox, tb) < iou($1.crop.boundingBox, tb) }
        record(&tracked, points: mine?.rawPoints, used: mine?.crop, truth: truth)
      }
      tracked.detections = tracker.detectorRuns
      print("clip: \(frames) frames 640x480, face \(f.image), landmarks from \(model ?? "the ground-truth stand-in (noise 0.02 IOD)")")
      for (name, s) in [("detect every frame", every), ("track, re-detect every \(interval)", tracked)] {
        func mean(_ v: [Float]) -> Float { v.isEmpty ? .nan : v.reduce(0, +) / Float(v.count) }
        print("\(name): NME \(fixed(mean(s.nme) * 100, 2)) %, crop centre error \(fixed(mean(s.centre) * 100, 2)) % of side (p95 \(fixed(percentile(s.centre, 0.95) * 100, 2))), " +
              "|log scale| \(fixed(mean(s.scale), 3)), roll error \(fixed(mean(s.roll), 2)) deg (p95 \(fixed(percentile(s.roll, 0.95), 2))), " +
              "frames without landmarks \(s.missed), detector runs \(s.detections), \(fixed(Float(s.time * 1000 / Double(frames)), 2)) ms/frame")
      }
      print("tracker: lost events \(tracker.lostEvents)")
    }
  }

  struct Jitter: ParsableCommand {
    static let configuration = CommandConfiguration(
      commandName: "jitter",
      abstract: "Landmark jitter and lag with and without One Euro smoothing on the synthetic clip.",
      discussion: """
        Jitter: RMS deviation of each point from its own mean over the still frames, in % of the \
        inter-ocular distance. Lag error: mean distance to the truth over the moving frames (NME %). \
        Without --model the stand-in adds independent noise per frame (--noise x IOD).
        """)
    @OptionGroup var options: VisionData
    @Option(help: "A .lotr model (else the ground-truth stand-in).") var model: String?
    @Option(help: "Stand-in noise, fraction of the inter-ocular distance.") var noise: Float = 0.02
    @Option(help: "Clip length in frames.") var frames = 180

    func run() throws {
      let set = try options.dataset()
      let f = set.faces[0]
      let clip = SyntheticClip(sources: [(try RGBImage(contentsOf: set.imagePath(f)), f.points)], frameCount: frames)
      let detector = try options.detector()
      let lm = try model.map { try LandmarkModel(path: $0) }
      let crop = lm?.metadata.crop ?? ModelMetadata.Crop(rule: "landmark-box", scale: 1.3)
      // One tracked run (raw landmarks), then each filter replayed on the same raw sequence.
      var proxy = GroundTruthLandmarker(noise: noise)
      var n = 0
      var opts = FaceTracker.Options()
      opts.smoothing = nil
      let tracker = FaceTracker(options: opts, detect: { detector.detect(in: $0).map(\.crop) }, landmarker: { image, box, roll in
        lm?.landmarks(in: image, box: box, roll: roll) ?? proxy.landmarks(truth: clip.truth(face: 0, frame: n), box: box, roll: roll, crop: crop)
      })
      var raw: [[Point]?] = []
      for k in 0..<frames {
        n = k
        raw.append(tracker.update(PixelImage(clip.render(frame: k)), timestamp: Double(k) / clip.fps).first?.rawPoints)
      }
      let still = Array(5..<28) + Array((frames - 28)..<(frames - 2))
      let moving = Array(35..<(frames - 35))
      let settings: [(String, OneEuroFilter.Parameters?)] = [
        ("off", nil),
        ("minCutoff 0.5 beta 5", .init(minCutoff: 0.5, beta: 5)),
        ("minCutoff 1 beta 10", .init(minCutoff: 1, beta: 10)),
        ("minCutoff 1 beta 0", .init(minCutoff: 1, beta: 0)),
        ("minCutoff 2 beta 20", .init(minCutoff: 2, beta: 20)),
        ("minCutoff 4 beta 40 (default)", .landmarks),
      ]
      print("clip \(frames) frames, landmarks from \(model ?? "the stand-in, noise \(noise) IOD"); frames with landmarks \(raw.compactMap { $0 }.count)")
      for (name, p) in settings {
        var smoother = p.map { LandmarkSmoother($0) }
        var out: [[Point]?] = []
        for (k, pts) in raw.enumerated() {
          guard let pts else { smoother?.reset(); out.append(nil); continue }
          let size = AlignedBox(landmarks: pts).map { max($0.box.width, $0.box.height) } ?? 100
          out.append(smoother == nil ? pts : smoother!.smooth(pts, at: Double(k) / clip.fps, faceSize: size))
        }
        // Jitter on the still segments, against each segment's own mean (the pose is the same in both).
        var sq: Float = 0, count = 0
        for segment in [Array(5..<28), Array((frames - 28)..<(frames - 2))] {
          let have = segment.compactMap { out[$0] }
          guard let first = have.first else { continue }
          let iod = LandmarkError.normaliser(clip.truth(face: 0, frame: segment[0]))
          for i in first.indices {
            let mx = have.reduce(0) { $0 + $1[i].x } / Float(have.count), my = have.reduce(0) { $0 + $1[i].y } / Float(have.count)
            for h in have { sq += ((h[i].x - mx) * (h[i].x - mx) + (h[i].y - my) * (h[i].y - my)) / (iod * iod); count += 1 }
          }
        }
        _ = still
        let movingNME = moving.compactMap { k in out[k].map { LandmarkError.nme($0, clip.truth(face: 0, frame: k)) } }
        let stillNME = (Array(5..<28) + Array((frames - 28)..<(frames - 2))).compactMap { k in out[k].map { LandmarkError.nme($0, clip.truth(face: 0, frame: k)) } }
        func mean(_ v: [Float]) -> Float { v.isEmpty ? .nan : v.reduce(0, +) / Float(v.count) }
        print("smoothing \(name): jitter (still) \(fixed((sq / Float(max(count, 1))).squareRoot() * 100, 3)) % IOD, " +
              "NME still \(fixed(mean(stillNME) * 100, 3)) %, NME moving \(fixed(mean(movingNME) * 100, 3)) %")
      }
    }
  }

  struct Plausibility: ParsableCommand {
    static let configuration = CommandConfiguration(
      commandName: "plausibility",
      abstract: "False alarms and catches of the tracker's plausibility check.",
      discussion: """
        False alarms: consecutive frames of the moving synthetic clip for each of the first --faces \
        300-W faces, truth + noise (--noise IOD). Catches: the same frames with the landmarks replaced \
        by failure modes (another face's shape in the same box, shrunk x0.6, shifted by half the face, \
        scattered noise of 0.15 x the face size). Also the 300-W eye-distance / box-width percentiles.
        """)
    @OptionGroup var options: VisionData
    @Option(help: "Faces to animate.") var faces = 40
    @Option(help: "Noise, fraction of the inter-ocular distance.") var noise: Float = 0.03

    func run() throws {
      let set = try options.dataset()
      var ratios: [Float] = []
      for f in set.faces {
        guard let b = AlignedBox(landmarks: f.points) else { continue }
        ratios.append(hypotf(f.points[36].x - f.points[45].x, f.points[36].y - f.points[45].y) / b.box.width)
      }
      print("300-W outer-eye distance / aligned box width: p0.1 \(fixed(percentile(ratios, 0.001), 3)) p0.5 \(fixed(percentile(ratios, 0.005), 3)) " +
            "p50 \(fixed(percentile(ratios, 0.5), 3)) p99.5 \(fixed(percentile(ratios, 0.995), 3)) p99.9 \(fixed(percentile(ratios, 0.999), 3))")
      let check = PlausibilityCheck()
      var rng = SplitRNG(seed: 99)
      var trials = 0, falseAlarms = 0
      var caught = [String: Int](), tried = [String: Int]()
      for k in 0..<min(faces, set.faces.count) {
        let f = set.faces[k], other = set.faces[(k + 1) % set.faces.count]
        let clip = SyntheticClip(sources: [(RGBImage(width: 320, height: 320), f.points)], frameCount: 180)
        var prev: [Point]? = nil
        for n in 0..<180 {
          let truth = clip.truth(face: 0, frame: n)
          let iod = LandmarkError.normaliser(truth)
          let noisy = truth.map { Point(x: $0.x + noise * iod * rng.normal(), y: $0.y + noise * iod * rng.normal()) }
          if let prev {
            trials += 1
            if !check.check(noisy, previous: prev, frameWidth: 640, frameHeight: 480).isPlausible { falseAlarms += 1 }
            let tb = AlignedBox(landmarks: truth)!.box
            let size = max(tb.width, tb.height)
            let ob = FaceBox(bounding: other.points)!
            let swapped = other.points.map { Point(x: tb.x + ($0.x - ob.x) / ob.width * tb.width, y: tb.y + ($0.y - ob.y) / ob.height * tb.height) }
            let c = Point(x: tb.x + tb.width / 2, y: tb.y + tb.height / 2)
            let modes: [(String, [Point])] = [
              ("other face's shape", swapped),
              ("shrunk x0.6", noisy.map { Point(x: c.x + ($0.x - c.x) * 0.6, y: c.y + ($0.y - c.y) * 0.6) }),
              ("shifted half a face", noisy.map { Point(x: $0.x + size / 2, y: $0.y) }),
              ("scattered", truth.map { Point(x: $0.x + 0.15 * size * rng.normal(), y: $0.y + 0.15 * size * rng.normal()) }),
            ]
            for (name, pts) in modes {
              tried[name, default: 0] += 1
              if !check.check(pts, previous: prev, frameWidth: 640, frameHeight: 480).isPlausible { caught[name, default: 0] += 1 }
            }
          }
          prev = noisy
        }
      }
      print("false alarms on real motion (noise \(noise) IOD): \(falseAlarms)/\(trials) = \(fixed(Float(falseAlarms) * 100 / Float(max(trials, 1)), 3)) %")
      for (name, t) in tried.sorted(by: { $0.key < $1.key }) {
        print("caught '\(name)': \(caught[name] ?? 0)/\(t) = \(fixed(Float(caught[name] ?? 0) * 100 / Float(t), 1)) %")
      }
    }
  }
}
