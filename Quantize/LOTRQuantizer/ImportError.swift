/// Why an ONNX model could not be turned into a .lotr graph. The message names the file,
/// the node, its op, and what is supported, so that nothing is dropped without a word.
public struct ImportError: Error, CustomStringConvertible, Equatable {
  public var message: String

  public init(_ message: String) { self.message = message }

  /// An error about one ONNX node: `node '<name>' (<op>): <problem>`.
  static func node(_ node: Onnx_NodeProto, _ problem: String) -> ImportError {
    ImportError("node '\(node.displayName)' (\(node.opType)): \(problem)")
  }

  public var description: String { message }
}

extension Onnx_NodeProto {
  /// The node's name, or its first output when the exporter left the name empty.
  var displayName: String { name.isEmpty ? (output.first.map { "→\($0)" } ?? opType) : name }
}
