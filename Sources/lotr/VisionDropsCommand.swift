import ArgumentParser
import LOTR
import LOTRCapture
import LOTREval
import LOTRVision

extension VisionCommand {
  /// Tracking through frame drops: the daemon's tracker (CNN detector, landmark model,
  /// score-driven re-detection) on the sample clip with frames skipped at random.
  struct Drops: ParsableCommand {
    static let configuration = CommandConfiguration(
      commandName: "drops",
      abstract: "Tracking on the sample clip with frames dropped at random: id changes and gross errors.",
      discussion: """
        The clip is played forwards and backwards (no jump at the wrap) for --seconds at its \
        own rate; each frame is skipped with probability --drop (seeded), as a busy CPU skips \
        camera frames, and the tracker (as lotrd runs it: CNN detector, re-detection every 10 \
        frames, on implausible landmarks and on a low score) sees the rest. Per result against \
        the clip's ground truth: NME (inter-ocular), gross error (NME above 10 %), face id changes. \
        Each drop rate in --rates is run on the same schedule of frames.
        """)
    @Option(help: "The landmark model.") var model = "models/lotr-m-68.lotr"
    @Option(help: "The detector.") var detectorModel = "models/blazeface-short.lotr"
    @Option(help: "A .lclip clip.") var clip = "samples/face-clip.lclip"
    @Option(help: "Its ground truth (frame,timestamp_ns,x0,y0,...).") var truth = "samples/face-clip.landmarks.csv"
    @Option(help: "Comma-separated shares of frames to drop.") var rates = "0,0.3,0.5"
    @Option(help: "Seconds of playback per rate.") var seconds = 60.0
    @Option(help: "Seed of the drop schedule.") var seed: UInt64 = 1

    func run() throws {
      let points = try ClipTruth.read(truth)
      let source = try ClipSource(path: clip, output: .rgb8, loop: false)
      let fps = source.header.fps
      var frames: [RGBImage] = []
      while case .frame(let f) = try source.next(timeout: 1) {
        frames.append(RGBImage(width: f.width, height: f.height, pixels: f.pixels))
      }
      guard frames.count == points.count, frames.count > 1 else {
        throw ValidationError("\(clip) has \(frames.count) frames, \(truth) \(points.count): they must match")
      }
      let shares = try rates.split(separator: ",").map { s -> Double in
        guard let v = Double(s), v >= 0, v < 1 else { throw ValidationError("--rates: '\(s)' is not a share in [0, 1)") }
        return v
      }
      let lm = try LandmarkModel(path: model)
      let detector = try CNNFaceDetector(path: detectorModel)
      let total = Int(seconds * fps)
      // Ping-pong: 0, 1, ..., n-1, n-2, ..., 1, 0, 1, ...
      let period = 2 * (frames.count - 1)
      let index = (0..<total).map { t -> Int in let k = t % period; return k < frames.count ? k : period - k }
      print("clip \(clip): \(frames.count) frames \(frames[0].width)x\(frames[0].height) at \(fixed(fps, 1)) fps, played forwards and backwards for \(fixed(seconds, 0)) s; \(model)")
      print("| frames dropped | results | id changes | per minute | gross errors (NME > 10 %) | NME mean | no face | detector runs | re-detections on a low score |")
      print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
      for share in shares {
        var rng = SplitRNG(seed: seed)
        let tracker = FaceTracker(detector: detector, model: lm)
        var results = 0, idChanges = 0, gross = 0, missing = 0, nmeSum: Float = 0
        var lastID: Int?
        for t in 0..<total {
          if rng.uniform() < Float(share) { continue }
          let truth = points[index[t]]
          let faces = tracker.update(PixelImage(frames[index[t]]), timestamp: Double(t) / fps)
          guard let tb = FaceBox(bounding: truth),
                let face = faces.max(by: { iou($0.crop.boundingBox, tb) < iou($1.crop.boundingBox, tb) }) else {
            missing += 1; continue
          }
          results += 1
          let e = LandmarkError.nme(face.rawPoints, truth)
          nmeSum += e
          if e > 0.10 { gross += 1 }
          if let lastID, lastID != face.id { idChanges += 1 }
          lastID = face.id
        }
        let minutes = seconds / 60
        print("| \(fixed(share * 100, 0)) % | \(results) | \(idChanges) | \(fixed(Double(idChanges) / minutes, 1)) | "
              + "\(gross) (\(fixed(Double(gross) * 100 / Double(max(results, 1)), 2)) %) | \(fixed(nmeSum * 100 / Float(max(results, 1)), 2)) % | "
              + "\(missing) | \(tracker.detectorRuns) | \(tracker.lowScoreEvents) |")
      }
    }
  }
}
