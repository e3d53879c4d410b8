import ArgumentParser
import LOTR
import LOTRVision
#if canImport(Glibc)
import Glibc
#endif

struct RunCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "run",
    abstract: "Find landmarks in images.",
    discussion: """
      Warps each image's face box by the model's crop rule, runs the model and prints the \
      landmarks in image pixel coordinates (continuous: pixel x spans [x, x+1)). Without \
      --box, the whole image is the face box; with --detect, every face the detector finds \
      (the int8 BlazeFace of --detector-model), each \
      cropped with the roll of its eye line.
      """
  )

  @Option(help: "The .lotr model file.")
  var model: String

  @Option(help: "Face box x,y,width,height in pixels (the model's box convention: the landmark bounding box).")
  var box: String?

  @Flag(help: "Find the faces with the detector (landmarks for each) instead of --box.")
  var detect = false

  @Option(help: ArgumentHelp("Face detector for --detect (default: blazeface-short.lotr beside --model).", valueName: "model.lotr"))
  var detectorModel: String?

  @Flag(help: "One JSON object per face and line: {\"image\", \"box\", \"roll\", \"score\", \"points\"} (score: LANDMARKS' confidence that the points are right, with the CNN detector only).")
  var json = false

  @Option(help: "Write an annotated picture: a file for one image, a folder for several.")
  var draw: String?

  @Option(help: "Inference threads.")
  var threads = 1

  @Argument(help: "JPEG or PNG images.")
  var images: [String]

  func validate() throws {
    guard !images.isEmpty else { throw ValidationError("give at least one image") }
    guard (1...64).contains(threads) else { throw ValidationError("--threads must be in 1...64") }
    if let box { _ = try parseBox(box) }
    if detect && box != nil { throw ValidationError("--detect and --box exclude each other") }
    if !detect && detectorModel != nil { throw ValidationError("--detector-model goes with --detect") }
  }

  func run() throws {
    let landmarkModel = try LandmarkModel(path: model, threads: threads)
    let fixedBox = try box.map(parseBox)
    let cnnDetector = detect
      ? try CNNFaceDetector(path: detectorModel ?? CNNFaceDetector.shippedModel(besideLandmarkModel: model), threads: threads) : nil
    var failures = 0
    for path in images {
      let image: RGBImage
      do {
        image = try RGBImage(contentsOf: path)
      } catch {
        printError("lotr run: \(error)")
        failures += 1
        continue
      }
      let crops: [AlignedBox]
      if let cnnDetector {
        crops = cnnDetector.detect(in: PixelImage(image)).map(\.crop)
      } else {
        crops = [AlignedBox(box: fixedBox ?? FaceBox(x: 0, y: 0, width: Float(image.width), height: Float(image.height)), roll: 0)]
      }
      if detect && crops.isEmpty {
        if json { printError("\(path): no face found") } else { print("\(path): no face found") }
      }
      var results: [(FaceBox, [Point])] = []
      for crop in crops {
        let faceBox = crop.box
        let points = landmarkModel.landmarks(in: image, box: faceBox, roll: crop.roll)
        // As lotrd's LANDMARKS score (docs/VISION.md): one more detector pass over the crop.
        let score = cnnDetector.map { d in
          LandmarkConfidence.score(landmarks: points, crop: crop, check: d.check(PixelImage(image), crop: crop, cropScale: landmarkModel.metadata.crop.scale),
                                   mapping: d.mapping)
        }
        results.append((faceBox, points))
        let degrees = crop.roll * 180 / .pi
        if json {
          let pts = points.map { "[\(fixed($0.x, 2)),\(fixed($0.y, 2))]" }.joined(separator: ",")
          print("{\"image\":\(jsonString(path)),\"box\":[\(fixed(faceBox.x, 2)),\(fixed(faceBox.y, 2)),\(fixed(faceBox.width, 2)),\(fixed(faceBox.height, 2))],"
            + "\"roll\":\(fixed(degrees, 2)),\"score\":\(score.map { fixed($0, 4) } ?? "null"),\"points\":[\(pts)]}")
        } else {
          print("\(path): \(points.count) points, box \(fixed(faceBox.x, 1)),\(fixed(faceBox.y, 1)),\(fixed(faceBox.width, 1)),\(fixed(faceBox.height, 1))"
            + (crop.roll != 0 ? ", roll \(fixed(degrees, 1)) deg" : "") + (score.map { ", score \(fixed($0, 3))" } ?? ""))
          for (i, p) in points.enumerated() { print("  \(i): \(fixed(p.x, 2)) \(fixed(p.y, 2))") }
        }
      }
      if let draw {
        var annotated = image
        let radius = max(1.5, Float(min(image.width, image.height)) / 200)
        for (faceBox, points) in results {
          annotated.rectangle(x: faceBox.x, y: faceBox.y, width: faceBox.width, height: faceBox.height, color: (0, 200, 255))
          for p in points { annotated.dot(p.x, p.y, radius: radius, color: (255, 40, 40)) }
        }
        let target = images.count == 1 ? draw : draw + "/" + (path.split(separator: "/").last.map(String.init) ?? "out") + ".png"
        try annotated.write(to: target)
      }
    }
    if failures > 0 { throw ExitCode(1) }
  }
}

func parseBox(_ text: String) throws -> FaceBox {
  let parts = text.split(separator: ",").map { Float($0.filter { $0 != " " }) }
  guard parts.count == 4, let x = parts[0], let y = parts[1], let w = parts[2], let h = parts[3],
        [x, y, w, h].allSatisfy(\.isFinite), w > 0, h > 0 else {
    throw ValidationError("--box takes x,y,width,height with a positive width and height, e.g. 80,90,160,170")
  }
  return FaceBox(x: x, y: y, width: w, height: h)
}

func jsonString(_ s: String) -> String {
  var out = "\""
  for scalar in s.unicodeScalars {
    switch scalar {
    case "\"": out += "\\\""
    case "\\": out += "\\\\"
    case "\n": out += "\\n"
    case "\r": out += "\\r"
    case "\t": out += "\\t"
    default:
      if scalar.value < 0x20 {
        let hex = String(scalar.value, radix: 16)
        out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
      } else {
        out.unicodeScalars.append(scalar)
      }
    }
  }
  return out + "\""
}

func printError(_ message: String) {
  var line = message + "\n"
  line.withUTF8 { buffer in _ = write(2, buffer.baseAddress, buffer.count) }
}
