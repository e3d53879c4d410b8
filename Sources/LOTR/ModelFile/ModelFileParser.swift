/// Validates a .lotr image in the order docs/FORMAT.md gives, stopping at the first fault.
/// Every read goes through `u8/u16/u32/u64(at:)`, which check bounds, so a hostile file
/// can only produce an error.
struct Parser {
  struct Result {
    var metadata: ModelMetadata
    var metadataJSON: String
    var versionMinor: Int
    var tensors: [TensorInfo]
    var nodes: [NodeInfo]
    var input: Int
    var output: Int
  }

  let bytes: UnsafeRawBufferPointer

  init(_ bytes: UnsafeRawBufferPointer) { self.bytes = bytes }

  func fail(_ message: String) -> ModelFileError { ModelFileError(message) }

  func u8(_ at: Int) throws -> UInt8 {
    guard at >= 0, at < bytes.count else { throw fail("read past the end at byte \(at)") }
    return bytes[at]
  }

  func u16(_ at: Int) throws -> UInt16 {
    guard at >= 0, at + 2 <= bytes.count else { throw fail("read past the end at byte \(at)") }
    return UInt16(littleEndian: bytes.loadUnaligned(fromByteOffset: at, as: UInt16.self))
  }

  func u32(_ at: Int) throws -> UInt32 {
    guard at >= 0, at + 4 <= bytes.count else { throw fail("read past the end at byte \(at)") }
    return UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: at, as: UInt32.self))
  }

  func u64(_ at: Int) throws -> UInt64 {
    guard at >= 0, at + 8 <= bytes.count else { throw fail("read past the end at byte \(at)") }
    return UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: at, as: UInt64.self))
  }

  func crc(_ range: Range<Int>) -> UInt32 { CRC32.checksum(UnsafeRawBufferPointer(rebasing: bytes[range])) }

  func parse() throws -> Result {
    // Header.
    guard bytes.count >= ModelFormat.headerSize else {
      throw fail("file is \(bytes.count) bytes, shorter than the 64-byte header")
    }
    guard Array(bytes[0..<8]) == ModelFormat.magic else {
      // An ONNX file is a protobuf ModelProto: ir_version first (tag 0x08, a small varint),
      // then a length-delimited field (producer_name, ..., graph).
      if bytes[0] == 0x08, (3...20).contains(bytes[1]), [0x12, 0x1A, 0x22, 0x2A, 0x3A, 0x42].contains(bytes[2]) {
        throw fail("not a .lotr model file (bad magic): this looks like an ONNX model; convert it with lotr-quantize --onnx FILE --output FILE.lotr")
      }
      throw fail("not a .lotr model file (bad magic)")
    }
    let major = try u16(8), minor = try u16(10)
    guard major == ModelFormat.versionMajor else {
      throw fail("format version \(major).\(minor) is not supported (this runtime reads \(ModelFormat.versionMajor).x)")
    }
    guard try u32(12) == UInt32(ModelFormat.headerSize) else { throw fail("header size \(try u32(12)) is not 64") }
    guard crc(0..<60) == (try u32(60)) else { throw fail("header checksum mismatch (corrupted header)") }
    guard bytes[44..<60].allSatisfy({ $0 == 0 }) else { throw fail("header: reserved bytes 44..59 are not zero") }
    let fileSize = try u64(16)
    guard fileSize == UInt64(bytes.count) else {
      throw fail(fileSize > UInt64(bytes.count)
        ? "file is truncated: \(bytes.count) bytes, header says \(fileSize)"
        : "file has \(UInt64(bytes.count) - fileSize) unexpected trailing bytes (header says \(fileSize))")
    }
    let sectionCount = Int(try u32(24))
    guard (ModelFormat.SectionKind.allCases.count...ModelFormat.maxSections).contains(sectionCount) else {
      throw fail("section count \(sectionCount) is not in 5...\(ModelFormat.maxSections)")
    }
    guard try u32(28) == 0 else { throw fail("unknown header flags \(try u32(28))") }
    guard try u64(32) == UInt64(ModelFormat.headerSize) else { throw fail("section table is not at offset 64") }
    let tableEnd = ModelFormat.headerSize + sectionCount * ModelFormat.sectionEntrySize
    guard tableEnd <= bytes.count else { throw fail("section table runs past the end of the file") }
    guard crc(ModelFormat.headerSize..<tableEnd) == (try u32(40)) else {
      throw fail("section table checksum mismatch (corrupted section table)")
    }

    // Sections.
    var sections: [ModelFormat.SectionKind: Range<Int>] = [:]
    var occupied: [Range<Int>] = []
    for i in 0..<sectionCount {
      let entry = ModelFormat.headerSize + i * ModelFormat.sectionEntrySize
      let offset = try u64(entry + 8), size = try u64(entry + 16)
      guard try u64(entry + 24) == 0 else { throw fail("section \(i): reserved field is not zero") }
      guard offset % UInt64(ModelFormat.alignment) == 0 else { throw fail("section \(i) offset \(offset) is not 64-byte aligned") }
      guard offset >= UInt64(tableEnd), size <= UInt64(bytes.count), offset <= UInt64(bytes.count) - size else {
        throw fail("section \(i) (offset \(offset), size \(size)) lies outside the file")
      }
      let range = Int(offset)..<Int(offset + size)
      if let other = occupied.first(where: { $0.overlaps(range) }) {
        throw fail("section \(i) (\(range)) overlaps another section (\(other))")
      }
      occupied.append(range)
      guard crc(range) == (try u32(entry + 4)) else {
        let name = ModelFormat.SectionKind(fourCC: try u32(entry)).map { $0.rawValue } ?? "#\(i)"
        throw fail("section \(name) checksum mismatch (corrupted data)")
      }
      guard let kind = ModelFormat.SectionKind(fourCC: try u32(entry)) else { continue } // a later minor's kind
      guard sections[kind] == nil else { throw fail("section \(kind.rawValue) appears twice") }
      sections[kind] = range
    }
    for kind in ModelFormat.SectionKind.allCases where sections[kind] == nil {
      throw fail("section \(kind.rawValue) is missing")
    }

    // META.
    let metaRange = sections[.meta]!
    let metaBytes = UnsafeRawBufferPointer(rebasing: bytes[metaRange])
    guard let metadataJSON = String(validating: metaBytes, as: UTF8.self) else { throw fail("META is not valid UTF-8") }
    let metadata: ModelMetadata
    do {
      metadata = try ModelMetadata.decode(metaBytes)
    } catch {
      throw fail("META is not the expected JSON: \(error)")
    }
    if let problem = metadata.problem() { throw fail("META: \(problem)") }
    if metadata.kind == .faceDetection && minor < 3 {
      throw fail("META: task face-detection is a format 1.3 key but the file says \(major).\(minor)")
    }

    // STRS.
    let strings = sections[.strings]!
    guard !strings.isEmpty, bytes[strings.lowerBound] == 0, bytes[strings.upperBound - 1] == 0 else {
      throw fail("STRS must start and end with a NUL")
    }
    func string(_ id: UInt32, _ what: String) throws -> String {
      guard Int(id) < strings.count else { throw fail("\(what): string id \(id) is outside STRS") }
      let start = strings.lowerBound + Int(id)
      var end = start
      while bytes[end] != 0 { end += 1 } // STRS ends with a NUL, so this stops inside it
      guard let text = String(validating: UnsafeRawBufferPointer(rebasing: bytes[start..<end]), as: UTF8.self) else {
        throw fail("\(what): string \(id) is not valid UTF-8")
      }
      return text
    }

    // TENS.
    let tens = sections[.tensors]!
    let data = sections[.data]!
    guard tens.count >= ModelFormat.tableHeaderSize else { throw fail("TENS is shorter than its 64-byte header") }
    let tensorCount = Int(try u32(tens.lowerBound))
    guard tensorCount >= 2, tensorCount <= ModelFormat.maxTensors else {
      throw fail("tensor count \(tensorCount) is not in 2...\(ModelFormat.maxTensors)")
    }
    guard tens.count == ModelFormat.tableHeaderSize + tensorCount * ModelFormat.tensorRecordSize else {
      throw fail("TENS is \(tens.count) bytes, expected \(ModelFormat.tableHeaderSize + tensorCount * ModelFormat.tensorRecordSize) for \(tensorCount) tensors")
    }
    var tensors: [TensorInfo] = []
    var names = Set<String>()
    var perChannelChecks: [(tensor: Int, axis: Int, scales: Int)] = []
    for t in 0..<tensorCount {
      let r = tens.lowerBound + ModelFormat.tableHeaderSize + t * ModelFormat.tensorRecordSize
      let what = "tensor \(t)"
      let name = try string(try u32(r), what)
      guard !name.isEmpty else { throw fail("\(what) has an empty name") }
      guard names.insert(name).inserted else { throw fail("tensor name '\(name)' is used twice") }
      let label = "tensor \(t) '\(name)'"
      guard let dtype = DType(rawValue: try u8(r + 4)) else { throw fail("\(label): unknown dtype \(try u8(r + 4))") }
      let rank = Int(try u8(r + 5))
      guard rank <= ModelFormat.maxRank else { throw fail("\(label): rank \(rank) is over 4") }
      guard let role = TensorRole(rawValue: try u8(r + 6)) else { throw fail("\(label): unknown role \(try u8(r + 6))") }
      var shape: [Int] = []
      var elements = 1
      for d in 0..<ModelFormat.maxRank {
        let dim = Int(try u32(r + 8 + 4 * d))
        if d < rank {
          guard dim >= 1 else { throw fail("\(label): dimension \(d) is 0") }
          elements = elements.multipliedReportingOverflow(by: dim).partialValue
          guard elements < Int(Int32.max), dim < Int(Int32.max) else { throw fail("\(label): over 2^31 elements") }
          shape.append(dim)
        } else {
          guard dim == 0 else { throw fail("\(label): dimension \(d) past rank \(rank) is not 0") }
        }
      }
      let zeroPoint = Int32(bitPattern: try u32(r + 24))
      let scale = Float(bitPattern: try u32(r + 28))
      let axis = Int(try u32(r + 32)), scalesTensor = Int(try u32(r + 36))
      let quantization: Quantization
      switch try u8(r + 7) {
      case 0:
        guard zeroPoint == 0, scale == 0 else { throw fail("\(label): unquantized but has a scale or zero point") }
        quantization = .none
      case 1:
        guard dtype != .f32 else { throw fail("\(label): f32 tensors are not quantized") }
        guard scale.isFinite, scale > 0 else { throw fail("\(label): scale \(scale) is not finite and positive") }
        if dtype == .i8 {
          guard (-128...127).contains(zeroPoint) else { throw fail("\(label): zero point \(zeroPoint) is not in [-128, 127]") }
        }
        quantization = .perTensor(scale: scale, zeroPoint: zeroPoint)
      case 2:
        guard dtype == .i8 else { throw fail("\(label): per-channel quantization needs i8") }
        guard zeroPoint == 0 else { throw fail("\(label): per-channel weights are symmetric (zero point must be 0)") }
        guard axis < rank else { throw fail("\(label): channel axis \(axis) is not below rank \(rank)") }
        guard scalesTensor < tensorCount, scalesTensor != t else { throw fail("\(label): scales tensor id \(scalesTensor) is invalid") }
        perChannelChecks.append((t, axis, scalesTensor))
        quantization = .perChannel(axis: axis, scalesTensor: scalesTensor)
      case let q:
        throw fail("\(label): unknown quantization kind \(q)")
      }
      let dataOffset = try u64(r + 40), dataSize = try u64(r + 48)
      var dataRange = 0..<0
      if role == .constant {
        guard dataOffset % UInt64(ModelFormat.alignment) == 0 else { throw fail("\(label): data offset \(dataOffset) is not 64-byte aligned") }
        guard dataSize == UInt64(elements * dtype.size) else {
          throw fail("\(label): data size \(dataSize) does not match shape \(shape) of \(dtype) (\(elements * dtype.size) bytes)")
        }
        guard dataOffset <= UInt64(data.count), dataSize <= UInt64(data.count) - dataOffset else {
          throw fail("\(label): data (offset \(dataOffset), size \(dataSize)) lies outside DATA")
        }
        dataRange = (data.lowerBound + Int(dataOffset))..<(data.lowerBound + Int(dataOffset + dataSize))
      } else {
        guard dataOffset == 0, dataSize == 0 else { throw fail("\(label): only constants have data") }
      }
      guard try u64(r + 56) == 0 else { throw fail("\(label): reserved field is not zero") }
      tensors.append(TensorInfo(name: name, dtype: dtype, shape: shape, role: role, quantization: quantization,
                                dataRange: dataRange))
    }
    for check in perChannelChecks {
      let scales = tensors[check.scales]
      let channels = tensors[check.tensor].shape[check.axis]
      guard scales.role == .constant, scales.dtype == .f32, scales.shape == [channels] else {
        throw fail("tensor '\(tensors[check.tensor].name)': scales tensor '\(scales.name)' must be a constant f32 [\(channels)]")
      }
      let values = UnsafeRawBufferPointer(rebasing: bytes[scales.dataRange])
      for i in 0..<channels {
        let s = values.loadUnaligned(fromByteOffset: 4 * i, as: Float.self)
        guard s.isFinite, s > 0 else { throw fail("tensor '\(tensors[check.tensor].name)': channel \(i) scale \(s) is not finite and positive") }
      }
    }
    let inputs = tensors.indices.filter { tensors[$0].role == .input }
    let outputs = tensors.indices.filter { tensors[$0].role == .output }
    guard inputs.count == 1 else { throw fail("the graph needs exactly one input tensor, found \(inputs.count)") }
    guard outputs.count == 1 else { throw fail("the graph needs exactly one output tensor, found \(outputs.count)") }
    let input = inputs[0], output = outputs[0]
    let m = metadata
    guard tensors[input].shape == [1, m.input.height, m.input.width, m.input.channels],
          tensors[input].dtype != .i32 else {
      throw fail("input tensor '\(tensors[input].name)' is \(tensors[input].dtype) \(tensors[input].shape), META says [1, \(m.input.height), \(m.input.width), \(m.input.channels)]")
    }
    guard tensors[output].shape == m.outputShape, tensors[output].dtype == .f32 else {
      throw fail("output tensor '\(tensors[output].name)' is \(tensors[output].dtype) \(tensors[output].shape), expected f32 \(m.outputShape)")
    }

    // NODE.
    let nodeSection = sections[.nodes]!
    guard nodeSection.count >= ModelFormat.tableHeaderSize else { throw fail("NODE is shorter than its 64-byte header") }
    let nodeCount = Int(try u32(nodeSection.lowerBound))
    guard nodeCount >= 1, nodeCount <= ModelFormat.maxNodes else { throw fail("node count \(nodeCount) is not in 1...\(ModelFormat.maxNodes)") }
    var defined = tensors.map { $0.role == .constant || $0.role == .input }
    var nodes: [NodeInfo] = []
    var cursor = nodeSection.lowerBound + ModelFormat.tableHeaderSize
    for n in 0..<nodeCount {
      guard cursor + 16 <= nodeSection.upperBound else { throw fail("node \(n) runs past the end of NODE") }
      let rawOp = try u16(cursor)
      guard let op = Op(rawValue: rawOp) else {
        throw fail("node \(n): op \(rawOp) is unknown to this runtime (format \(major).\(minor), runtime reads up to \(ModelFormat.versionMajor).\(ModelFormat.versionMinor))")
      }
      let inCount = Int(try u8(cursor + 2)), outCount = Int(try u8(cursor + 3))
      let name = try string(try u32(cursor + 4), "node \(n)")
      let label = "node \(n) '\(name)' (\(op))"
      guard op.sinceMinor <= minor else {
        throw fail("\(label): \(op) is a format 1.\(op.sinceMinor) op but the file says \(major).\(minor)")
      }
      let attrBytes = Int(try u32(cursor + 8))
      guard try u32(cursor + 12) == 0 else { throw fail("\(label): reserved field is not zero") }
      guard inCount == op.inputCount, outCount == op.outputCount else {
        throw fail("\(label): has \(inCount) inputs and \(outCount) outputs, \(op) takes \(op.inputCount) and \(op.outputCount)")
      }
      guard attrBytes == op.attributeWords * 4 else {
        throw fail("\(label): attributes are \(attrBytes) bytes, \(op) has \(op.attributeWords * 4)")
      }
      let recordSize = 16 + 4 * (inCount + outCount) + attrBytes
      guard cursor + recordSize <= nodeSection.upperBound else { throw fail("\(label) runs past the end of NODE") }
      var ids: [Int] = []
      for i in 0..<(inCount + outCount) {
        let id = Int(try u32(cursor + 16 + 4 * i))
        guard id < tensorCount else { throw fail("\(label): tensor id \(id) is out of range (\(tensorCount) tensors)") }
        ids.append(id)
      }
      let nodeInputs = Array(ids[0..<inCount]), nodeOutputs = Array(ids[inCount...])
      for id in nodeInputs where !defined[id] {
        throw fail("\(label): input '\(tensors[id].name)' is used before any node writes it")
      }
      for id in nodeOutputs {
        let role = tensors[id].role
        guard role == .activation || role == .output else { throw fail("\(label): writes \(role) tensor '\(tensors[id].name)'") }
        guard !defined[id] else { throw fail("\(label): tensor '\(tensors[id].name)' is written twice") }
        defined[id] = true
      }
      var words: [UInt32] = []
      for w in 0..<op.attributeWords { words.append(try u32(cursor + 16 + 4 * (inCount + outCount) + 4 * w)) }
      let node = NodeInfo(name: name, inputs: nodeInputs, outputs: nodeOutputs, attributes: op.decodeAttributes(words))
      if let problem = node.attributes.problem(nodeInputs.map { tensors[$0] }, tensors[nodeOutputs[0]]) {
        throw fail("\(label): \(problem)")
      }
      nodes.append(node)
      cursor += recordSize
    }
    guard cursor == nodeSection.upperBound else { throw fail("NODE has \(nodeSection.upperBound - cursor) bytes after its last node") }
    for (id, tensor) in tensors.enumerated() where tensor.role == .activation || tensor.role == .output {
      guard defined[id] else { throw fail("tensor '\(tensor.name)' is never written") }
    }
    return Result(metadata: metadata, metadataJSON: metadataJSON, versionMinor: Int(minor), tensors: tensors,
                  nodes: nodes, input: input, output: output)
  }
}
