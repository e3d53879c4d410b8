/// The binary mode (docs/PROTOCOL.md, "Binary mode"). Every message is a frame:
///
///     u32 payload_length | u8 kind | u8 proto_major | u16 reserved (0) | payload
///
/// all little-endian. kind 1 = LANDMARKS record, kind 2 = any other message as one JSON
/// object (no newline). A LANDMARKS record:
///
///     u64 seq | u64 mono_ns | i64 wall_ns | u16 width | u16 height | u16 faces |
///     u16 points | u16 face_bytes | u16 reserved | faces x face_bytes
///
/// and each face: u32 id | f32 score | f32 box[4] | f32 yaw, pitch, roll (NaN when no
/// pose) | f32 xy[2 * points] | (1.1) f32 eye openness right, left (NaN when none).
/// Readers use payload_length and face_bytes to skip bytes a later minor version appends;
/// they never assume the sizes (a 1.0 server's faces end after the points).
public enum BinaryFrame {
  public static let headerBytes = 8
  public static let landmarksHeaderBytes = 36
  public static let kindLandmarks: UInt8 = 1
  public static let kindJSON: UInt8 = 2
  /// Readers refuse larger frames.
  public static let maxPayload = 1 << 24

  /// A face record: 36 bytes, the points, 8 bytes of eye openness (1.1).
  public static func faceBytes(points: Int) -> Int { 44 + 8 * points }
  /// The shortest face record a reader accepts (protocol 1.0: no eyes).
  static func minimumFaceBytes(points: Int) -> Int { 36 + 8 * points }

  public static func frame(kind: UInt8, payload: [UInt8]) -> [UInt8] {
    var out: [UInt8] = []
    out.reserveCapacity(headerBytes + payload.count)
    appendLE(&out, UInt32(payload.count))
    out.append(kind)
    out.append(UInt8(LOTRProto.major))
    appendLE(&out, UInt16(0))
    out.append(contentsOf: payload)
    return out
  }

  /// Any message as a binary frame (LANDMARKS as a record, others as JSON).
  public static func encode(_ message: Message, pose: Bool = true) -> [UInt8] {
    if case .landmarks(let l) = message { return encode(l, pose: pose) }
    var w = JSONWriter()
    message.writeJSON(&w)
    return frame(kind: kindJSON, payload: w.bytes)
  }

  public static func encode(_ l: LandmarksMessage, pose: Bool = true) -> [UInt8] {
    let points = l.faces.first.map { $0.points.count / 2 } ?? 0
    let fb = faceBytes(points: points)
    var p: [UInt8] = []
    p.reserveCapacity(landmarksHeaderBytes + l.faces.count * fb)
    appendLE(&p, l.seq)
    appendLE(&p, l.monoNs)
    appendLE(&p, UInt64(bitPattern: l.wallNs))
    appendLE(&p, UInt16(clamping: l.width))
    appendLE(&p, UInt16(clamping: l.height))
    appendLE(&p, UInt16(clamping: l.faces.count))
    appendLE(&p, UInt16(clamping: points))
    appendLE(&p, UInt16(clamping: fb))
    appendLE(&p, UInt16(0))
    for f in l.faces.prefix(Int(UInt16.max)) {
      appendLE(&p, f.id)
      appendLE(&p, f.score.bitPattern)
      for v in [f.box.x, f.box.y, f.box.width, f.box.height] { appendLE(&p, v.bitPattern) }
      let pose = pose ? f.pose : nil
      for v in [pose?.yaw ?? .nan, pose?.pitch ?? .nan, pose?.roll ?? .nan] { appendLE(&p, v.bitPattern) }
      for i in 0..<(2 * points) { appendLE(&p, (i < f.points.count ? f.points[i] : .nan).bitPattern) }
      for v in [f.eyes?.right ?? .nan, f.eyes?.left ?? .nan] { appendLE(&p, v.bitPattern) }
    }
    return frame(kind: kindLandmarks, payload: p)
  }

  /// Decodes one payload of `kind`. `device` fills LANDMARKS' device (not on the wire).
  public static func decode(kind: UInt8, payload: [UInt8], device: String = "") throws -> Message {
    switch kind {
    case kindJSON: return try Message.decode(line: payload)
    case kindLandmarks:
      guard payload.count >= landmarksHeaderBytes else { throw ProtocolError("LANDMARKS record shorter than its header") }
      var r = Reader(bytes: payload)
      let seq = r.u64(), mono = r.u64(), wall = Int64(bitPattern: r.u64())
      let width = Int(r.u16()), height = Int(r.u16()), faces = Int(r.u16()), points = Int(r.u16())
      let fb = Int(r.u16())
      _ = r.u16()
      guard fb >= minimumFaceBytes(points: points), landmarksHeaderBytes + faces * fb <= payload.count else {
        throw ProtocolError("LANDMARKS record sizes do not add up")
      }
      var list: [Face] = []
      for k in 0..<faces {
        r.offset = landmarksHeaderBytes + k * fb
        let id = r.u32(), score = r.f32()
        let box = Box(x: r.f32(), y: r.f32(), width: r.f32(), height: r.f32())
        let (yaw, pitch, roll) = (r.f32(), r.f32(), r.f32())
        let pts = (0..<(2 * points)).map { _ in r.f32() }
        var eyes: EyeOpenness?
        if fb >= faceBytes(points: points) {
          let (right, left) = (r.f32(), r.f32())
          if !right.isNaN { eyes = EyeOpenness(right: right, left: left) }
        }
        list.append(Face(id: id, score: score, box: box, pose: yaw.isNaN ? nil : HeadPose(yaw: yaw, pitch: pitch, roll: roll),
                         eyes: eyes, points: pts))
      }
      return .landmarks(LandmarksMessage(seq: seq, device: device, monoNs: mono, wallNs: wall, width: width, height: height,
                                         faces: list))
    default:
      return .unknown("BINARY-\(kind)", .null)
    }
  }

  struct Reader {
    let bytes: [UInt8]
    var offset = 0
    mutating func u16() -> UInt16 { defer { offset += 2 }; return UInt16(bytes[offset]) | UInt16(bytes[offset + 1]) << 8 }
    mutating func u32() -> UInt32 {
      defer { offset += 4 }
      return (0..<4).reduce(UInt32(0)) { $0 | UInt32(bytes[offset + $1]) << (8 * UInt32($1)) }
    }
    mutating func u64() -> UInt64 {
      defer { offset += 8 }
      return (0..<8).reduce(UInt64(0)) { $0 | UInt64(bytes[offset + $1]) << (8 * UInt64($1)) }
    }
    mutating func f32() -> Float { Float(bitPattern: u32()) }
  }
}

@inline(__always)
func appendLE<T: FixedWidthInteger>(_ out: inout [UInt8], _ v: T) {
  var x = v.littleEndian
  withUnsafeBytes(of: &x) { out.append(contentsOf: $0) }
}

/// Reassembles a stream into messages: JSON lines, or binary frames after the client has
/// switched to binary. A WATCH reply is written in the format in effect before it; after
/// one with format binary the stream is binary (and JSON again after one with json).
public struct MessageStream: Sendable {
  public private(set) var binary = false
  private var buffer: [UInt8] = []
  private var start = 0
  public var device = ""

  public init() {}

  public mutating func push<C: Collection>(_ bytes: C) where C.Element == UInt8 {
    if start > 65536 && start > buffer.count / 2 { buffer.removeFirst(start); start = 0 }
    buffer.append(contentsOf: bytes)
  }

  /// The next complete message, nil when more bytes are needed.
  public mutating func next() throws -> Message? {
    if binary {
      guard buffer.count - start >= BinaryFrame.headerBytes else { return nil }
      var r = BinaryFrame.Reader(bytes: Array(buffer[start..<(start + BinaryFrame.headerBytes)]))
      let length = Int(r.u32())
      let kind = buffer[start + 4]
      guard length <= BinaryFrame.maxPayload else { throw ProtocolError("binary frame of \(length) bytes is too long") }
      guard buffer.count - start >= BinaryFrame.headerBytes + length else { return nil }
      let payload = Array(buffer[(start + BinaryFrame.headerBytes)..<(start + BinaryFrame.headerBytes + length)])
      start += BinaryFrame.headerBytes + length
      let m = try BinaryFrame.decode(kind: kind, payload: payload, device: device)
      noteSwitch(m)
      return m
    }
    guard let nl = buffer[start...].firstIndex(of: 0x0A) else {
      if buffer.count - start > JSONLimits.message.maxBytes { throw ProtocolError("line too long") }
      return nil
    }
    let line = buffer[start..<nl]
    start = nl + 1
    let m = try Message.decode(line: line)
    noteSwitch(m)
    return m
  }

  private mutating func noteSwitch(_ m: Message) {
    if case .watch(let s) = m { binary = s.enable && s.format == .binary }
    if case .devices(let list) = m, let d = list.first, device.isEmpty { device = d.path }
    if case .landmarks(let l) = m, device.isEmpty { device = l.device }
  }
}
