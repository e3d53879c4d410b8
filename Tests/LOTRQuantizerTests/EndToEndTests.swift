import CLOTRKernels
import Foundation
import LOTR
import LOTREval
import XCTest

@testable import LOTRQuantizer

/// The runtime against PyTorch (training/'s reference dumps of lotr-tiny) and the whole
/// ONNX -> calibrate -> int8 -> run path.
final class EndToEndTests: XCTestCase {
  let tiny = fixtures.appendingPathComponent("reference/lotr-tiny")
  let images = ["afw_2288136183_1", "lfpw_image_0337"]

  struct Dump {
    var image: String
    var landmarks: [Point]  // continuous source coordinates
    var matrix: [Float]     // the crop's 2x3
  }

  func manifest() throws -> [Dump] {
    let json = try JSONSerialization.jsonObject(with: Data(contentsOf: tiny.appendingPathComponent("manifest.json"))) as! [String: Any]
    return (json["images"] as! [[String: Any]]).map { entry in
      let pts = (entry["landmarks_source"] as! [[Double]]).map { Point(x: Float($0[0]), y: Float($0[1])) }
      let m = ((entry["crop"] as! [String: Any])["matrix"] as! [[Double]]).flatMap { $0.map(Float.init) }
      return Dump(image: (entry["image"] as! String).replacingOccurrences(of: ".jpg", with: ""), landmarks: pts, matrix: m)
    }
  }

  func testCropWarpMatchesPyTorchInput() throws {
    for dump in try manifest() {
      let image = try RGBImage(contentsOf: tiny.appendingPathComponent(dump.image + ".jpg").path)
      let expected = nchwToNHWC(try readFloats(tiny.appendingPathComponent(dump.image + ".input.bin").path), c: 3, h: 64, w: 64)
      var got = [Float](repeating: 0, count: 64 * 64 * 3)
      let mean: [Float] = [0.485, 0.456, 0.406], std: [Float] = [0.229, 0.224, 0.225]
      PixelImage(image).withCImage {
        lotr_image_warp_normalize_f32(nil, nil, $0, dump.matrix, &got, 64, 64, mean, std.map { 1 / $0 })
      }
      let worst = zip(got, expected).map { abs($0 - $1) }.max()!
      // One 8-bit level after normalisation is 1/255/0.224 = 0.0175: allow a JPEG decoder's
      // off-by-one on a few pixels, but the geometry must agree far better than a pixel shift.
      XCTAssertLessThan(worst, 0.02, "\(dump.image): warp differs from torch grid_sample by \(worst)")
      let mean_abs = zip(got, expected).map { abs($0 - $1) }.reduce(0, +) / Float(got.count)
      XCTAssertLessThan(mean_abs, 1e-3, "\(dump.image): mean difference \(mean_abs)")
      // The crop rule reproduces the dump's matrix from the landmarks.
      let box = FaceBox(bounding: dump.landmarks)!
      let a = CropGeometry.transform(box: box, crop: .init(rule: "landmark-box-square", scale: 1.3))
      for i in 0..<6 { XCTAssertEqual(a[i], dump.matrix[i], accuracy: 1e-3) }
    }
  }

  func testRuntimeFloatPathMatchesPyTorchStages() throws {
    let graph = try ONNXImporter.importModel(path: fixtures.appendingPathComponent("reference/lotr-tiny.onnx").path)
    let model = try ModelFile(bytes: try graph.modelBuilder().serialize())
    let encoder = model.tensors.firstIndex { $0.name == "/encoder/layers.0/norm2/LayerNormalization_output_0" }!
    for threads in [1, 2] {
      let network = try Network(model: model, kernels: try KernelPath.default(), threads: threads)
      for image in images {
        let x = nchwToNHWC(try readFloats(tiny.appendingPathComponent("\(image).input.bin").path), c: 3, h: 64, w: 64)
        network.inputPointer.assumingMemoryBound(to: Float.self).update(from: x, count: x.count)
        var encoderOutput: [Float] = []
        network.run { step in if model.nodes[step].outputs.contains(encoder) { encoderOutput = network.floats(of: encoder) } }
        let expected = try readFloats(tiny.appendingPathComponent("\(image).landmarks.bin").path)
        let worst = zip(network.output, expected).map { abs($0 - $1) }.max()!
        XCTAssertLessThan(worst, 1e-4, "\(image), \(threads) threads: landmarks differ from PyTorch by \(worst)")
        let enc = try readFloats(tiny.appendingPathComponent("\(image).encoder.0.bin").path)
        let encWorst = zip(encoderOutput, enc).map { abs($0 - $1) }.max()!
        XCTAssertLessThan(encWorst, 1e-4, "\(image): encoder.0 differs from PyTorch by \(encWorst)")
      }
    }
  }

  func testQuantizedTinyModelEndToEnd() throws {
    let graph = try ONNXImporter.importModel(path: fixtures.appendingPathComponent("reference/lotr-tiny.onnx").path)
    let faces = try manifest().map { dump in
      FaceSet.Face(path: dump.image, image: try RGBImage(contentsOf: tiny.appendingPathComponent(dump.image + ".jpg").path),
                          box: FaceBox(bounding: dump.landmarks)!, landmarks: dump.landmarks)
    }
    let set = FaceSet(faces: faces)
    let outcome = try QuantizationRun.run(graph, calibration: set, validation: nil, settings: .init(kernels: try KernelPath.default()))
    let model = try ModelFile(bytes: try outcome.builder.serialize())
    XCTAssertGreaterThan(outcome.quantization.int8MACs, outcome.quantization.floatMACs, "most MACs run int8")
    let agreement = try XCTUnwrap(outcome.calibration?.agreementNME)
    XCTAssertLessThan(agreement, 0.02, "int8 moves the points by \(agreement) NME")
    XCTAssertTrue(outcome.report.contains { $0.contains("int8 vs float NME") })

    // int8 activations before the first float op are bit-identical on every path and thread count.
    let firstFloat = model.nodes.firstIndex { node in node.inputs.allSatisfy { model.tensors[$0].dtype == .f32 } && node.op != .quantize }!
    let int8Tensors = model.nodes[..<firstFloat].flatMap(\.outputs).filter { model.tensors[$0].dtype == .i8 }
    XCTAssertGreaterThan(int8Tensors.count, 5)
    let x = nchwToNHWC(try readFloats(tiny.appendingPathComponent("\(images[0]).input.bin").path), c: 3, h: 64, w: 64)
    var reference: [Int: [Int8]]? = nil
    var referenceOutput: [Float] = []
    for path in KernelPath.supported() {
      for threads in [1, 3] {
        let network = try Network(model: model, kernels: path, threads: threads)
        network.inputPointer.assumingMemoryBound(to: Float.self).update(from: x, count: x.count)
        var seen: [Int: [Int8]] = [:]
        network.run { step in
          for t in model.nodes[step].outputs where int8Tensors.contains(t) { seen[t] = Array(network.bytes(of: t).bindMemory(to: Int8.self)) }
        }
        if let reference {
          for t in int8Tensors { XCTAssertEqual(seen[t], reference[t], "\(path.name)/\(threads): '\(model.tensors[t].name)' differs") }
          let worst = zip(network.output, referenceOutput).map { abs($0 - $1) }.max()!
          XCTAssertLessThan(worst, 0.01, "\(path.name)/\(threads): output differs by \(worst)")
        } else {
          reference = seen
          referenceOutput = Array(network.output)
        }
      }
    }
  }
}
