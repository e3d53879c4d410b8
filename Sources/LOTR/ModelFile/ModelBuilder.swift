#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Builds a .lotr file (docs/FORMAT.md): add tensors and nodes in execution order, then
/// `serialize()` (which validates its own output with the reader) or `write(to:)`, which
/// never leaves a partial file behind.
public struct ModelBuilder {
  /// Quantization as the builder takes it: per-channel scales are given inline and
  /// stored as a companion tensor named "<name>.scales".
  public enum TensorQuantization {
    case none
    case perTensor(scale: Float, zeroPoint: Int32)
    case perChannel(axis: Int, scales: [Float])
  }

  struct PendingTensor {
    var name: String, dtype: DType, shape: [Int], role: TensorRole
    var quant: UInt8, zeroPoint: Int32, scale: Float, axis: Int, scalesTensor: Int
    var data: [UInt8]?
  }

  struct PendingNode {
    var name: String, inputs: [Int], outputs: [Int], attributes: any OpAttributes
  }

  public var metadata: ModelMetadata
  var tensors: [PendingTensor] = []
  var nodes: [PendingNode] = []

  public init(metadata: ModelMetadata) { self.metadata = metadata }

  public var tensorCount: Int { tensors.count }

  /// Adds a tensor and returns its id. `data` (raw little-endian bytes) only for constants.
  @discardableResult
  public mutating func addTensor(_ name: String, _ dtype: DType, _ shape: [Int], role: TensorRole = .activation,
                                 quantization: TensorQuantization = .none, data: [UInt8]? = nil) -> Int {
    var t = PendingTensor(name: name, dtype: dtype, shape: shape, role: role, quant: 0, zeroPoint: 0, scale: 0,
                          axis: 0, scalesTensor: 0, data: data)
    switch quantization {
    case .none: break
    case .perTensor(let scale, let zeroPoint):
      t.quant = 1; t.scale = scale; t.zeroPoint = zeroPoint
    case .perChannel(let axis, let scales):
      let scalesID = addTensor(name + ".scales", .f32, [scales.count], role: .constant, data: Self.bytes(scales))
      t.quant = 2; t.axis = axis; t.scalesTensor = scalesID
    }
    tensors.append(t)
    return tensors.count - 1
  }

  /// A node of the op whose OpSchema struct `attributes` is.
  public mutating func addNode(_ attributes: any OpAttributes, _ name: String, inputs: [Int], outputs: [Int]) {
    nodes.append(PendingNode(name: name, inputs: inputs, outputs: outputs, attributes: attributes))
  }

  public static func bytes<T: BitwiseCopyable>(_ values: [T]) -> [UInt8] {
    values.withUnsafeBytes { Array($0) } // every target we build for is little-endian
  }

  /// The file's bytes, checked by parsing them back.
  public func serialize() throws -> [UInt8] {
    let bytes = try layout()
    _ = try ModelFile(bytes: bytes)
    return bytes
  }

  /// Writes atomically: a temporary file beside `path`, fsync, rename. On any error the
  /// temporary file is removed and an existing file at `path` is untouched.
  public func write(to path: String) throws {
    let bytes = try serialize()
    let temporary = path + ".tmp-\(getpid())"
    let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
    guard fd >= 0 else { throw ModelFileError(path: path, "cannot create: \(String(cString: strerror(errno)))") }
    var failure: String? = nil
    bytes.withUnsafeBytes { buffer in
      var written = 0
      while written < buffer.count {
        let n = Glibc.write(fd, buffer.baseAddress! + written, buffer.count - written)
        if n < 0 {
          if errno == EINTR { continue }
          failure = "cannot write: \(String(cString: strerror(errno)))"
          return
        }
        written += n
      }
    }
    if failure == nil, fsync(fd) != 0 { failure = "cannot sync: \(String(cString: strerror(errno)))" }
    if close(fd) != 0, failure == nil { failure = "cannot close: \(String(cString: strerror(errno)))" }
    if failure == nil, rename(temporary, path) != 0 { failure = "cannot rename into place: \(String(cString: strerror(errno)))" }
    if let failure {
      unlink(temporary)
      throw ModelFileError(path: path, failure)
    }
  }

  // MARK: layout

  struct Writer {
    var bytes: [UInt8] = []
    mutating func u8(_ v: UInt8) { bytes.append(v) }
    mutating func u16(_ v: UInt16) { withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) } }
    mutating func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) } }
    mutating func u64(_ v: UInt64) { withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) } }
    mutating func pad(to alignment: Int) { while bytes.count % alignment != 0 { bytes.append(0) } }
  }

  func layout() throws -> [UInt8] {
    // STRS: offset 0 is the empty string.
    var strings: [UInt8] = [0]
    var stringIDs: [String: UInt32] = ["": 0]
    func intern(_ s: String) -> UInt32 {
      if let id = stringIDs[s] { return id }
      let id = UInt32(strings.count)
      strings.append(contentsOf: Array(s.utf8))
      strings.append(0)
      stringIDs[s] = id
      return id
    }

    // DATA: each constant 64-byte aligned.
    var data = Writer()
    var dataOffsets: [Int] = []
    for t in tensors {
      if let d = t.data {
        data.pad(to: ModelFormat.alignment)
        dataOffsets.append(data.bytes.count)
        data.bytes.append(contentsOf: d)
      } else {
        dataOffsets.append(0)
      }
    }

    var tens = Writer()
    tens.u32(UInt32(tensors.count))
    tens.pad(to: ModelFormat.tableHeaderSize)
    for (i, t) in tensors.enumerated() {
      tens.u32(intern(t.name))
      tens.u8(t.dtype.rawValue)
      tens.u8(UInt8(clamping: t.shape.count))
      tens.u8(t.role.rawValue)
      tens.u8(t.quant)
      for d in 0..<ModelFormat.maxRank { tens.u32(d < t.shape.count ? UInt32(clamping: t.shape[d]) : 0) }
      tens.u32(UInt32(bitPattern: t.zeroPoint))
      tens.u32(t.scale.bitPattern)
      tens.u32(UInt32(t.axis))
      tens.u32(UInt32(t.scalesTensor))
      tens.u64(t.data == nil ? 0 : UInt64(dataOffsets[i]))
      tens.u64(UInt64(t.data?.count ?? 0))
      tens.u64(0)
    }

    var node = Writer()
    node.u32(UInt32(nodes.count))
    node.pad(to: ModelFormat.tableHeaderSize)
    for n in nodes {
      let words = n.attributes.words
      node.u16(n.attributes.op.rawValue)
      node.u8(UInt8(clamping: n.inputs.count))
      node.u8(UInt8(clamping: n.outputs.count))
      node.u32(intern(n.name))
      node.u32(UInt32(words.count * 4))
      node.u32(0)
      for id in n.inputs + n.outputs { node.u32(UInt32(id)) }
      for w in words { node.u32(w) }
    }

    let meta = try metadata.encoded()
    let sections: [(ModelFormat.SectionKind, [UInt8])] = [
      (.meta, meta), (.strings, strings), (.tensors, tens.bytes), (.nodes, node.bytes), (.data, data.bytes),
    ]
    var file = Writer()
    let tableSize = sections.count * ModelFormat.sectionEntrySize
    var offset = (ModelFormat.headerSize + tableSize + 63) / 64 * 64
    var table = Writer()
    var body = Writer()
    body.bytes = [UInt8](repeating: 0, count: offset)
    for (kind, bytes) in sections {
      table.u32(kind.fourCC)
      table.u32(CRC32.checksum(bytes))
      table.u64(UInt64(offset))
      table.u64(UInt64(bytes.count))
      table.u64(0)
      body.bytes.append(contentsOf: bytes)
      body.pad(to: ModelFormat.alignment)
      offset = body.bytes.count
    }
    let fileSize = body.bytes.count
    file.bytes = ModelFormat.magic
    file.u16(ModelFormat.versionMajor)
    // The lowest minor that holds these ops and META keys (1.3: a face detector's task and
    // anchors; 1.4: outer_eyes).
    let metaMinor: UInt16 = metadata.outerEyes != nil ? 4 : metadata.kind == .faceDetection ? 3 : 0
    file.u16(max(metaMinor, nodes.map { $0.attributes.op.sinceMinor }.max() ?? 0))
    file.u32(UInt32(ModelFormat.headerSize))
    file.u64(UInt64(fileSize))
    file.u32(UInt32(sections.count))
    file.u32(0)
    file.u64(UInt64(ModelFormat.headerSize))
    file.u32(CRC32.checksum(table.bytes))
    file.bytes.append(contentsOf: [UInt8](repeating: 0, count: 16))
    file.u32(CRC32.checksum(file.bytes))
    var out = body.bytes
    out.replaceSubrange(0..<ModelFormat.headerSize, with: file.bytes)
    out.replaceSubrange(ModelFormat.headerSize..<(ModelFormat.headerSize + tableSize), with: table.bytes)
    return out
  }
}
