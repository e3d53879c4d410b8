import Foundation
import LOTR
import LOTREval
import XCTest

@testable import LOTRQuantizer

/// The shipped model: the committed int8 .lotr against the float graph imported from the
/// committed ONNX, on real faces that are not in its validation split's statistics
/// (Tests/Fixtures/vision: four 300-W faces with ground truth).
final class ShippedModelTests: XCTestCase {
  let onnx = repositoryRoot.appendingPathComponent("models/lotr-m-68.onnx").path
  let int8 = repositoryRoot.appendingPathComponent("models/lotr-m-68.lotr").path

  /// The bound issue 4 states: int8 NME within 0.15 points (of inter-ocular NME) of float.
  let bound: Float = 0.0015

  func testInt8StaysWithinTheStatedNMEBoundOfFloat() throws {
    guard FileManager.default.fileExists(atPath: onnx), FileManager.default.fileExists(atPath: int8) else {
      throw XCTSkip("models/lotr-m-68.onnx and .lotr are not there yet")
    }
    let faces = try FaceSet.load(folder: fixtures.appendingPathComponent("vision").path)
    XCTAssertEqual(faces.faces.count, 4)
    let graph = try ONNXImporter.importModel(path: onnx)
    let floatModel = try ModelFile(bytes: try graph.modelBuilder().serialize())
    let int8Model = try ModelFile.open(path: int8)
    XCTAssertEqual(int8Model.metadata.name, floatModel.metadata.name)
    let inputs = faces.inputs(for: int8Model.metadata)
    let kernels = try KernelPath.default()
    let reference = try Evaluation.predict(floatModel, inputs: inputs, kernels: kernels)
    let candidate = try Evaluation.predict(int8Model, inputs: inputs, kernels: kernels)
    let summary = Evaluation.compare(reference: reference, candidate: candidate, truth: faces.faces.map(\.landmarks))
    let (f, q) = (summary.referenceNME!, summary.candidateNME!)
    print("shipped model on \(summary.faces) faces: float NME \(f * 100) %, int8 \(q * 100) %, int8 vs float \(summary.agreementNME * 100) %")
    XCTAssertLessThan(abs(q - f), bound, "int8 NME \(q) vs float \(f)")
    XCTAssertLessThan(f, 0.2, "the shipped model finds the landmarks (NME \(f))")
    // The int8 model is bit-identical on the ref path and this CPU's path up to its first float op.
    let refPoints = try Evaluation.predict(int8Model, inputs: inputs, kernels: try KernelPath.named("ref"))
    for (a, b) in zip(refPoints.joined(), candidate.joined()) {
      XCTAssertEqual(a.x, b.x, accuracy: 0.5)
      XCTAssertEqual(a.y, b.y, accuracy: 0.5)
    }
  }
}
