#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import SwiftProtobuf
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// An ONNX model as read from disk: the decoded protobuf plus what the importer needs from
/// it (opset, initializers, metadata).
struct ONNXModel {
  let proto: Onnx_ModelProto
  let path: String
  /// The default-domain ("" / "ai.onnx") opset.
  let opset: Int
  var graph: Onnx_GraphProto { proto.graph }

  /// Reads and decodes `path`; a missing file, a file that is not an ONNX model, or a model
  /// with external data gets an error that says so.
  static func load(path: String) throws -> ONNXModel {
    var st = stat()
    guard stat(path, &st) == 0 else { throw ImportError("\(path): \(String(cString: strerror(errno)))") }
    guard (st.st_mode & S_IFMT) == S_IFREG else { throw ImportError("\(path): not a regular file (a directory?), not an ONNX model file") }
    guard let data = FileManager.default.contents(atPath: path) else { throw ImportError("\(path): cannot read") }
    return try decode(data, path: path)
  }

  static func decode(_ data: Data, path: String) throws -> ONNXModel {
    let notONNX = "\(path): not an ONNX model file"
    guard !data.isEmpty else { throw ImportError("\(notONNX) (it is empty)") }
    let proto: Onnx_ModelProto
    do {
      var options = BinaryDecodingOptions()
      options.messageDepthLimit = 64
      proto = try Onnx_ModelProto(serializedBytes: data, options: options)
    } catch {
      throw ImportError("\(notONNX) (protobuf decoding failed: \(error))")
    }
    // Protobuf decoding is permissive (unknown fields are skipped), so check that what
    // came out looks like a model.
    guard proto.irVersion > 0, proto.hasGraph, !proto.graph.node.isEmpty else {
      throw ImportError("\(notONNX) (no IR version or no graph nodes)")
    }
    guard let opset = proto.opsetImport.first(where: { $0.domain.isEmpty || $0.domain == "ai.onnx" })?.version else {
      throw ImportError("\(path): the model imports no default-domain (ai.onnx) opset")
    }
    guard opset >= 11 else {
      throw ImportError("\(path): opset \(opset) is too old; export with opset 13..21 (training/ uses 17)")
    }
    return ONNXModel(proto: proto, path: path, opset: Int(opset))
  }

  var metadata: [String: String] {
    Dictionary(proto.metadataProps.map { ($0.key, $0.value) }, uniquingKeysWith: { _, last in last })
  }
}

// MARK: tensors

enum ONNXDataType: Int32 {
  case float = 1, uint8 = 2, int8 = 3, uint16 = 4, int16 = 5, int32 = 6, int64 = 7, string = 8, bool = 9,
    float16 = 10, double = 11, uint32 = 12, uint64 = 13
}

extension ConstTensor {
  /// Decodes an ONNX TensorProto (float, double, and the integer types; raw or typed data).
  init(_ t: Onnx_TensorProto, what: String) throws {
    if t.dataLocation == .external || !t.externalData.isEmpty {
      throw ImportError("\(what): tensor '\(t.name)' uses external data; save the model as one file (onnx.save with save_as_external_data=False)")
    }
    let shape = t.dims.map { Int($0) }
    guard shape.allSatisfy({ $0 >= 0 }) else { throw ImportError("\(what): tensor '\(t.name)' has a negative dimension") }
    let count = shape.reduce(1, *)
    guard let type = ONNXDataType(rawValue: t.dataType) else {
      throw ImportError("\(what): tensor '\(t.name)' has data type \(t.dataType), supported: float, double, int8/16/32/64, uint8, bool")
    }
    func raw<T: BitwiseCopyable>(_: T.Type) throws -> [T] {
      guard t.rawData.count == count * MemoryLayout<T>.size else {
        throw ImportError("\(what): tensor '\(t.name)' has \(t.rawData.count) bytes of data, shape \(shape) needs \(count * MemoryLayout<T>.size)")
      }
      return t.rawData.withUnsafeBytes { buffer in (0..<count).map { buffer.loadUnaligned(fromByteOffset: $0 * MemoryLayout<T>.size, as: T.self) } }
    }
    func check(_ n: Int) throws {
      guard n == count else { throw ImportError("\(what): tensor '\(t.name)' has \(n) values, shape \(shape) needs \(count)") }
    }
    switch type {
    case .float:
      let v = t.hasRawData ? try raw(Float.self) : t.floatData
      try check(v.count)
      self.init(shape: shape, floats: v)
    case .double:
      let v = t.hasRawData ? try raw(Double.self) : t.doubleData
      try check(v.count)
      self.init(shape: shape, floats: v.map { Float($0) })
    case .int64:
      let v = t.hasRawData ? try raw(Int64.self) : t.int64Data
      try check(v.count)
      self.init(shape: shape, ints: v)
    case .int32, .int16, .int8, .uint8, .uint16, .bool:
      let v: [Int64]
      if t.hasRawData {
        switch type {
        case .int32: v = try raw(Int32.self).map { Int64($0) }
        case .int16: v = try raw(Int16.self).map { Int64($0) }
        case .int8: v = try raw(Int8.self).map { Int64($0) }
        case .uint16: v = try raw(UInt16.self).map { Int64($0) }
        default: v = try raw(UInt8.self).map { Int64($0) }
        }
      } else {
        v = t.int32Data.map { Int64($0) }
      }
      try check(v.count)
      self.init(shape: shape, ints: v)
    case .uint32, .uint64:
      let v = t.hasRawData ? (type == .uint32 ? try raw(UInt32.self).map { Int64($0) } : try raw(UInt64.self).map { Int64(truncatingIfNeeded: $0) })
        : t.uint64Data.map { Int64(truncatingIfNeeded: $0) }
      try check(v.count)
      self.init(shape: shape, ints: v)
    case .string, .float16:
      throw ImportError("\(what): tensor '\(t.name)' is \(type); supported: float, double, integer and bool tensors")
    }
  }
}

// MARK: attributes

extension Onnx_NodeProto {
  func attribute(_ name: String) -> Onnx_AttributeProto? { attribute.first { $0.name == name } }

  func int(_ name: String) -> Int? {
    guard let a = attribute(name), a.type == .int || a.hasI else { return nil }
    return Int(a.i)
  }

  func int(_ name: String, default d: Int) -> Int { int(name) ?? d }

  func float(_ name: String) -> Float? {
    guard let a = attribute(name), a.type == .float || a.hasF else { return nil }
    return a.f
  }

  func ints(_ name: String) -> [Int]? {
    guard let a = attribute(name), a.type == .ints || !a.ints.isEmpty else { return nil }
    return a.ints.map { Int($0) }
  }

  func string(_ name: String) -> String? {
    guard let a = attribute(name), a.type == .string || a.hasS else { return nil }
    return String(decoding: a.s, as: UTF8.self)
  }

  func tensor(_ name: String) -> Onnx_TensorProto? {
    guard let a = attribute(name), a.type == .tensor || a.hasT else { return nil }
    return a.t
  }

  /// Inputs with the trailing empty names (ONNX's "optional input not given") removed.
  var presentInputs: [String] {
    var v = input
    while let last = v.last, last.isEmpty { v.removeLast() }
    return v
  }
}
