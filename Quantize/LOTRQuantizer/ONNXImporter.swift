#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import LOTR

/// ONNX (as training/ exports LOTR: opset 17, NCHW, BN folded or not; or any
/// torch.onnx.export of a landmark model, opsets 13 to 18) to a float .lotr
/// graph in the format's op set, NHWC. Three passes:
/// 1. `GraphAnalysis`: static shapes, and constant folding of everything that depends only
///    on initializers (shape arithmetic, the decoder's constant first queries, ...);
/// 2. `PatternMatcher`: multi-head attention, decomposed LayerNorm and exact GELU, on the
///    original graph;
/// 3. `Emitter`: ops in ONNX order, with BatchNorm folded into convs, Relu/Clip fused into
///    the op before them, MatMul + Add as LINEAR, layouts resolved (NCHW -> NHWC, tokens);
///    what no pattern covered runs on the float fallback (MUL, BATCH_MATMUL, TANH, ...).
/// Every ONNX node ends up in exactly one .lotr node, a folded constant, or an error.
public enum ONNXImporter {
  public static let toolVersion = "0.1"

  /// Imports the model at `path`. Errors name the node, the op and what is supported.
  /// `overrides`: metadata from the command line, for a model without (all of) lotr-edge's
  /// metadata_props.
  public static func importModel(path: String, metadata overrides: MetadataOverrides = .init()) throws -> ImportedGraph {
    let model = try ONNXModel.load(path: path)
    let bytes = FileManager.default.contents(atPath: path) ?? Data()
    var source = [
      "file": path.split(separator: "/").last.map(String.init) ?? path,
      "sha256": SHA256.hex(bytes),
      "tool": "lotr-quantize",
      "tool_version": toolVersion,
      "onnx_opset": String(model.opset),
    ]
    if !model.proto.producerName.isEmpty { source["onnx_producer"] = model.proto.producerName }
    return try importModel(model, overrides: overrides, source: source)
  }

  /// Imports serialized ONNX bytes (tests); `name` stands in for the path in messages.
  public static func importModel(bytes: [UInt8], name: String = "model.onnx", metadata overrides: MetadataOverrides = .init()) throws -> ImportedGraph {
    let model = try ONNXModel.decode(Data(bytes), path: name)
    return try importModel(model, overrides: overrides, source: ["file": name, "sha256": SHA256.hex(bytes), "tool": "lotr-quantize", "tool_version": toolVersion])
  }

  static func importModel(_ model: ONNXModel, overrides: MetadataOverrides, source: [String: String]) throws -> ImportedGraph {
    do {
      let analysis = try GraphAnalysis(model: model)
      let input = analysis.shapes[analysis.inputName]!
      let output = analysis.shapes[analysis.outputName]!
      let metadata: ModelMetadata
      if model.metadata["task"] == ModelMetadata.Task.faceDetection.rawValue {
        metadata = try MetadataMapping.detectorMetadata(from: model.metadata, inputHeight: input[2], inputWidth: input[3], source: source)
        guard output == metadata.outputShape else {
          throw ImportError("graph output '\(analysis.outputName)' is \(output); the metadata's anchors and keypoints make \(metadata.outputShape)")
        }
      } else {
        guard output.count == 3, output[0] == 1, output[2] == 2 else {
          throw ImportError("graph output '\(analysis.outputName)' is \(output); a LOTR model outputs [1, N, 2]")
        }
        metadata = try MetadataMapping.metadata(from: model.metadata, overrides: overrides, inputHeight: input[2], inputWidth: input[3],
                                                landmarks: output[1], source: source)
      }
      var emitter = try Emitter(analysis: analysis, metadata: metadata)
      return try emitter.run()
    } catch let e as ImportError {
      throw ImportError("\(model.path): \(e.message)")
    }
  }
}
