import ArgumentParser
import LOTR
import LOTREval

struct EvalCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "eval",
    abstract: "Landmark accuracy of a model on faces with ground truth, as in the paper.",
    discussion: """
      Crops each face by the model's crop rule from its ground-truth landmark box (\
      landmarks.csv in the 300-W format, images beside it or in images/), runs the model and \
      reports NME normalised by the inter-ocular (outer eye corner) distance, AUC and failure \
      rate at 0.08 and 0.10.
      """
  )

  @Option(help: "The .lotr model file.")
  var model: String

  @Option(help: "Folder with landmarks.csv and the images.")
  var data: String

  @Option(help: "A file naming the images to use, one per line (e.g. training/splits/300w-val.txt).")
  var list: String?

  @Option(help: "Inference threads.")
  var threads = 1

  @Flag(help: "One JSON object instead of text.")
  var json = false

  @Flag(name: .shortAndLong, help: "No progress line on stderr (shown only on a terminal anyway).")
  var quiet = false

  func run() throws {
    let only = try list.map { path in
      do { return try FaceSet.readNameList(path) } catch { throw ValidationError("--list: \(error)") }
    }
    let progress = ProgressLine(enabled: !quiet)
    let set = try FaceSet.load(folder: data, only: only) { progress.show("loading faces", $0, $1) }
    let faces = set.faces.filter { $0.landmarks != nil }
    guard !faces.isEmpty else { throw ValidationError("no faces with ground truth in \(data) (landmarks.csv)") }
    let landmarkModel = try LandmarkModel(path: model, threads: threads)
    guard faces[0].landmarks!.count == landmarkModel.metadata.landmarkCount else {
      throw ValidationError("the data has \(faces[0].landmarks!.count) points per face, the model \(landmarkModel.metadata.landmarkCount)")
    }
    let nmes = faces.enumerated().map { i, face in
      defer { progress.show("evaluating", i + 1, faces.count) }
      return LandmarkError.nme(landmarkModel.landmarks(in: face.image, box: face.box), face.landmarks!,
                               eyes: landmarkModel.metadata.outerEyeCorners)
    }
    let mean = nmes.reduce(0, +) / Float(nmes.count)
    let (auc08, fr08) = Evaluation.aucAndFailureRate(nmes, threshold: 0.08)
    let (auc10, fr10) = Evaluation.aucAndFailureRate(nmes, threshold: 0.10)
    if json {
      print("{\"model\":\(jsonString(model)),\"faces\":\(nmes.count),\"nme\":\(fixed(mean, 6)),\"auc08\":\(fixed(auc08, 6)),"
        + "\"fr08\":\(fixed(fr08, 6)),\"auc10\":\(fixed(auc10, 6)),\"fr10\":\(fixed(fr10, 6))}")
    } else {
      print("\(nmes.count) faces: NME (inter-ocular) \(fixed(mean * 100, 2)) %, AUC@0.08 \(fixed(auc08 * 100, 2)) %, "
        + "FR@0.08 \(fixed(fr08 * 100, 2)) %, AUC@0.10 \(fixed(auc10 * 100, 2)) %, FR@0.10 \(fixed(fr10 * 100, 2)) %")
    }
  }
}
