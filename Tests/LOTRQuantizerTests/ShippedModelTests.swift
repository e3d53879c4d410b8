import Foundation
import LOTR
import LOTREval
import XCTest

@testable import LOTRQuantizer

/// Each shipped model on real faces that are not in its validation split's statistics
/// (Tests/Fixtures/vision: four 300-W faces with ground truth): the committed int8 .lotr
/// against the float graph imported from the committed ONNX (NME bound), and its int8
/// stages on this CPU's optimized kernel paths against the ref path (bit-exact).
final class ShippedModelTests: XCTestCase {
  /// The shipped models (models/NAME.onnx and NAME.lotr): the default and the fast one.
  static let shipped = ["lotr-m-68", "lotr-s-68"]
  func onnx(_ name: String) -> String { repositoryRoot.appendingPathComponent("models/\(name).onnx").path }
  func int8(_ name: String) -> String { repositoryRoot.appendingPathComponent("models/\(name).lotr").path }

  /// The bound issue 4 states: int8 NME within 0.15 points (of inter-ocular NME) of float.
  let bound: Float = 0.0015

  func testInt8StaysWithinTheStatedNMEBoundOfFloat() throws {
    guard FileManager.default.fileExists(atPath: onnx("lotr-m-68")) else { throw XCTSkip("models/lotr-m-68.onnx is not there yet") }
    for name in Self.shipped where FileManager.default.fileExists(atPath: onnx(name)) {
      try checkInt8AgainstFloat(name)
    }
  }

  func checkInt8AgainstFloat(_ name: String) throws {
    let (onnx, int8) = (onnx(name), int8(name))
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
    print("\(name) on \(summary.faces) faces: float NME \(f * 100) %, int8 \(q * 100) %, int8 vs float \(summary.agreementNME * 100) %")
    XCTAssertLessThan(abs(q - f), bound, "\(name): int8 NME \(q) vs float \(f)")
    XCTAssertLessThan(f, 0.2, "\(name) finds the landmarks (NME \(f))")
  }

  /// The int8 part of the shipped model is bit-identical on this CPU's optimized kernel
  /// paths and on the scalar reference (`ref`, the specification): every int8 tensor that is
  /// computed from int8 tensors and the graph input only (the backbone, up to the first
  /// float op: attention, LayerNorm) is compared byte for byte on the four faces. The float
  /// tail (attention, LayerNorm) is not bit-exact across paths (float sums in a different
  /// order), so the landmarks themselves are only checked to within 0.2 % of the crop side
  /// (0.32 px of lotr-m-68's 160, 0.19 px of lotr-s-68's 96; measured: under 0.05 and 0.11 px).
  func testInt8StagesAreBitIdenticalOnOptimizedPathsAndRef() throws {
    guard FileManager.default.fileExists(atPath: int8("lotr-m-68")) else { throw XCTSkip("models/lotr-m-68.lotr is not there yet") }
    let optimized = KernelPath.supported().filter { $0.name != "ref" }
    guard !optimized.isEmpty else { throw XCTSkip("this CPU has only the ref path: nothing to compare it with") }
    for name in Self.shipped where FileManager.default.fileExists(atPath: int8(name)) {
      try checkBitIdentical(name, optimized)
    }
  }

  func checkBitIdentical(_ name: String, _ optimized: [KernelPath]) throws {
    let model = try ModelFile.open(path: int8(name))
    let inputs = try FaceSet.load(folder: fixtures.appendingPathComponent("vision").path).inputs(for: model.metadata)
    let exact = Self.int8OnlyTensors(model)
    XCTAssertGreaterThan(exact.count, 30, "\(name)'s int8 backbone")

    func run(_ path: KernelPath, _ input: [Float]) throws -> (tensors: [Int: [UInt8]], points: [Float]) {
      let network = try Network(model: model, kernels: path)
      network.inputPointer.assumingMemoryBound(to: Float.self).update(from: input, count: input.count)
      var tensors: [Int: [UInt8]] = [:]
      network.run { step in
        for t in model.nodes[step].outputs where exact.contains(t) { tensors[t] = Array(network.bytes(of: t)) }
      }
      return (tensors, Array(network.output))
    }
    for (face, sample) in inputs.enumerated() {
      let reference = try run(try KernelPath.named("ref"), sample.input)
      XCTAssertEqual(reference.tensors.count, exact.count)
      for path in optimized {
        let candidate = try run(path, sample.input)
        let differing = exact.sorted().filter { candidate.tensors[$0] != reference.tensors[$0] }
        XCTAssertTrue(differing.isEmpty, "\(name), face \(face), \(path.name) vs ref: int8 tensors differ: "
          + differing.prefix(5).map { model.tensors[$0].name }.joined(separator: ", "))
        let side = Float(model.metadata.input.width)
        let worst = zip(candidate.points, reference.points).map { abs($0 - $1) * side }.max() ?? .infinity
        XCTAssertLessThan(worst, 0.002 * side, "\(name), face \(face), \(path.name) vs ref: largest landmark difference, crop pixels")
      }
    }
  }

  /// The int8 tensors computed only from the graph input and other such tensors by nodes
  /// whose outputs are all int8: what the kernels' bit-exactness contract covers.
  static func int8OnlyTensors(_ model: ModelFile) -> Set<Int> {
    var exact: Set<Int> = [model.inputTensor]
    for node in model.nodes {
      let inputsExact = node.inputs.allSatisfy { exact.contains($0) || model.tensors[$0].role == .constant }
      if inputsExact && node.outputs.allSatisfy({ model.tensors[$0].dtype == .i8 }) { exact.formUnion(node.outputs) }
    }
    exact.remove(model.inputTensor)
    return exact
  }
}
