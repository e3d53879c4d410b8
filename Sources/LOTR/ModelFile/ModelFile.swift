#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Why a model file was refused. The message names the field and the rule it broke.
public struct ModelFileError: Error, CustomStringConvertible, Equatable {
  public var path: String?
  public var message: String

  public init(path: String? = nil, _ message: String) {
    self.path = path
    self.message = message
  }

  public var description: String { path.map { "\($0): \(message)" } ?? message }
}

/// One entry of the tensor table.
public struct TensorInfo: Sendable, Equatable {
  public var name: String
  public var dtype: DType
  public var shape: [Int]
  public var role: TensorRole
  public var quantization: Quantization
  /// Constants: byte range within the file (64-byte aligned). Empty otherwise.
  public var dataRange: Range<Int>

  public var elementCount: Int { shape.reduce(1, *) }
  public var byteCount: Int { elementCount * dtype.size }
}

/// One node of the graph; `attributes` is its op's OpSchema struct.
public struct NodeInfo: Sendable, Equatable {
  public var op: Op { attributes.op }
  public var name: String
  public var inputs: [Int]
  public var outputs: [Int]
  public var attributes: any OpAttributes

  public init(name: String, inputs: [Int], outputs: [Int], attributes: any OpAttributes) {
    self.name = name; self.inputs = inputs; self.outputs = outputs; self.attributes = attributes
  }

  public static func == (a: NodeInfo, b: NodeInfo) -> Bool {
    a.name == b.name && a.inputs == b.inputs && a.outputs == b.outputs && a.attributes.isEqual(to: b.attributes)
  }
}

/// A validated, read-only .lotr model (docs/FORMAT.md), held in memory.
/// Every field is checked on open; after that, tensors' data can be read without checks.
public final class ModelFile: @unchecked Sendable {
  public let metadata: ModelMetadata
  public let metadataJSON: String
  public let versionMinor: Int
  public let tensors: [TensorInfo]
  public let nodes: [NodeInfo]
  public let inputTensor: Int
  public let outputTensor: Int
  /// Size of the file in bytes.
  public let byteCount: Int

  private let storage: Storage

  private final class Storage {
    let base: UnsafeRawPointer
    let count: Int
    let release: () -> Void
    init(base: UnsafeRawPointer, count: Int, release: @escaping () -> Void) {
      self.base = base; self.count = count; self.release = release
    }
    deinit { release() }
    var buffer: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: base, count: count) }
  }

  /// Reads and validates the file at `path`. The executor works on this private copy, so
  /// the file can be replaced, truncated or rewritten in place while a model is running
  /// (docs/FORMAT.md, "Reading a file"); a FIFO or device at the path is refused, not read.
  public static func open(path: String) throws -> ModelFile {
    let memory: UnsafeMutableRawBufferPointer
    do {
      memory = try RegularFile.readAligned(path, limit: ModelFormat.maxFileSize, alignment: ModelFormat.alignment)
    } catch let error as FileReadError {
      throw ModelFileError(path: path, error.message)
    }
    let storage = Storage(base: UnsafeRawPointer(memory.baseAddress!), count: memory.count) { memory.deallocate() }
    do {
      return try ModelFile(storage: storage)
    } catch var error as ModelFileError {
      error.path = path
      throw error
    }
  }

  /// Validates a model held in memory (tests, fuzzing, the quantizer's self-check).
  public convenience init(bytes: [UInt8]) throws {
    let count = bytes.count
    let memory = UnsafeMutableRawPointer.allocate(byteCount: max(count, 1), alignment: ModelFormat.alignment)
    bytes.withUnsafeBytes { memory.copyMemory(from: $0.baseAddress!, byteCount: count) }
    try self.init(storage: Storage(base: UnsafeRawPointer(memory), count: count) { memory.deallocate() })
  }

  /// The bytes of a constant tensor.
  public func data(_ tensor: Int) -> UnsafeRawBufferPointer {
    let range = tensors[tensor].dataRange
    return UnsafeRawBufferPointer(rebasing: storage.buffer[range])
  }

  /// Per-channel scales of a tensor, or its single scale repeated.
  public func scales(_ tensor: Int) -> [Float] {
    switch tensors[tensor].quantization {
    case .none: return []
    case .perTensor(let scale, _): return [scale]
    case .perChannel(_, let scalesTensor):
      return Array(data(scalesTensor).bindMemory(to: Float.self))
    }
  }

  private init(storage: Storage) throws {
    self.storage = storage
    let parsed = try Parser(storage.buffer).parse()
    metadata = parsed.metadata
    metadataJSON = parsed.metadataJSON
    versionMinor = parsed.versionMinor
    tensors = parsed.tensors
    nodes = parsed.nodes
    inputTensor = parsed.input
    outputTensor = parsed.output
    byteCount = storage.count
  }
}
