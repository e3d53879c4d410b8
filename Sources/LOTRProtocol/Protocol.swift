/// Protocol v1 of lotrd (docs/PROTOCOL.md): JSON lines with a `class`, requests in the
/// gpsd style (`?WATCH={...};`), and an optional length-prefixed little-endian binary mode.
public enum LOTRProto {
  /// Incompatible changes bump the major; additions (new classes, new members, bytes
  /// appended to a binary record) bump the minor. Clients check the major only.
  public static let major = 1
  /// 1.1: LANDMARKS faces carry `eyes` (eye openness), appended to binary face records.
  public static let minor = 1
  public static let release = "0.1.0"
  /// The longest request line the server accepts, newline included.
  public static let maxRequestLine = 4096
  /// The default socket of a lotrd started without --socket.
  public static let defaultSocket = "/run/lotrd/lotrd.sock"
}

/// What a client asks for with `?WATCH={...};`. Members left out keep their value.
public struct WatchSettings: Sendable, Equatable {
  public enum Format: String, Sendable { case json, binary }
  public var enable: Bool
  public var format: Format
  /// Most results per second sent to this client; 0 = every result.
  public var rate: Double
  /// Include head pose estimates (when the landmark scheme allows).
  public var pose: Bool

  public init(enable: Bool = false, format: Format = .json, rate: Double = 0, pose: Bool = true) {
    self.enable = enable; self.format = format; self.rate = rate; self.pose = pose
  }
}

/// A client request, parsed from one line.
public enum Request: Sendable, Equatable {
  case watch(WatchSettings?) // nil: report the current settings
  case poll
  case devices
  case stats
  case version

  /// Parses one request line (without its newline). Strict: `?NAME;` or `?NAME={json};`
  /// with optional surrounding spaces; names are upper case; unknown members of WATCH are
  /// an error, not ignored, so typos are caught.
  public static func parse<C: Collection>(_ line: C, current: WatchSettings) throws -> Request
  where C.Element == UInt8 {
    var bytes = Array(line)
    guard bytes.count < LOTRProto.maxRequestLine else { throw RequestError("request longer than \(LOTRProto.maxRequestLine) bytes") }
    while let last = bytes.last, last == 0x20 || last == 0x09 || last == 0x0D { bytes.removeLast() }
    var start = 0
    while start < bytes.count, bytes[start] == 0x20 || bytes[start] == 0x09 { start += 1 }
    bytes = Array(bytes[start...])
    guard bytes.first == UInt8(ascii: "?") else { throw RequestError("requests start with '?'") }
    guard bytes.last == UInt8(ascii: ";") else { throw RequestError("requests end with ';'") }
    let body = bytes[1..<(bytes.count - 1)]
    let nameEnd = body.firstIndex(of: UInt8(ascii: "=")) ?? body.endIndex
    let nameBytes = body[body.startIndex..<nameEnd]
    guard !nameBytes.isEmpty, nameBytes.count <= 16,
          nameBytes.allSatisfy({ (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains($0) }) else {
      throw RequestError("bad request name")
    }
    let name = String(decoding: nameBytes, as: UTF8.self)
    let argument: JSONValue?
    if nameEnd < body.endIndex {
      do {
        argument = try JSONParser.parse(body[(nameEnd + 1)...], limits: .request)
      } catch let e as JSONError {
        throw RequestError("bad JSON in \(name): \(e)")
      }
      guard argument?.members != nil else { throw RequestError("the argument of \(name) must be a JSON object") }
    } else {
      argument = nil
    }
    switch name {
    case "WATCH":
      guard let argument else { return .watch(nil) }
      return .watch(try watch(argument, current: current))
    case "POLL", "DEVICES", "STATS", "VERSION":
      if let argument, argument.members?.isEmpty == false { throw RequestError("\(name) takes no argument") }
      switch name {
      case "POLL": return .poll
      case "DEVICES": return .devices
      case "STATS": return .stats
      default: return .version
      }
    default:
      throw RequestError("unknown request \(name)")
    }
  }

  private static func watch(_ json: JSONValue, current: WatchSettings) throws -> WatchSettings {
    var s = current
    for (key, value) in json.members ?? [] {
      switch key {
      case "class":
        guard value.string == "WATCH" else { throw RequestError("WATCH class must be \"WATCH\"") }
      case "enable":
        guard let b = value.bool else { throw RequestError("WATCH enable must be true or false") }
        s.enable = b
      case "format":
        guard let f = value.string.flatMap(WatchSettings.Format.init(rawValue:)) else {
          throw RequestError("WATCH format must be \"json\" or \"binary\"")
        }
        s.format = f
      case "rate":
        guard let r = value.double, r >= 0, r <= 1000 else { throw RequestError("WATCH rate must be a number in 0...1000") }
        s.rate = r
      case "pose":
        guard let b = value.bool else { throw RequestError("WATCH pose must be true or false") }
        s.pose = b
      default:
        throw RequestError("unknown WATCH member \"\(key)\"")
      }
    }
    return s
  }

  /// The request as a line, newline included (what clients send).
  public var line: String {
    switch self {
    case .poll: return "?POLL;\n"
    case .devices: return "?DEVICES;\n"
    case .stats: return "?STATS;\n"
    case .version: return "?VERSION;\n"
    case .watch(nil): return "?WATCH;\n"
    case .watch(let s?):
      var w = JSONWriter()
      w.beginObject()
      w.key("enable"); w.bool(s.enable)
      w.key("format"); w.string(s.format.rawValue)
      if s.rate > 0 { w.key("rate"); w.float(s.rate, decimals: 3) }
      w.key("pose"); w.bool(s.pose)
      w.endObject()
      return "?WATCH=" + String(decoding: w.bytes, as: UTF8.self) + ";\n"
    }
  }
}

public struct RequestError: Error, Sendable, Equatable, CustomStringConvertible {
  public var message: String
  public init(_ message: String) { self.message = message }
  public var description: String { message }
}

/// Splits a byte stream into lines of at most `limit` bytes. A longer line is reported
/// once as `.tooLong` and its remainder is discarded up to the next newline, so the
/// buffer never grows past the limit.
public struct LineSplitter: Sendable {
  public enum Item: Sendable, Equatable { case line([UInt8]), tooLong }
  public let limit: Int
  private var buffer: [UInt8] = []
  private var discarding = false

  public init(limit: Int = LOTRProto.maxRequestLine) { self.limit = limit }

  public var pendingBytes: Int { buffer.count }

  public mutating func push<C: Collection>(_ bytes: C) -> [Item] where C.Element == UInt8 {
    var items: [Item] = []
    for b in bytes {
      if b == 0x0A {
        if discarding { discarding = false } else { items.append(.line(buffer)) }
        buffer.removeAll(keepingCapacity: true)
        continue
      }
      if discarding { continue }
      buffer.append(b)
      if buffer.count >= limit {
        items.append(.tooLong)
        buffer.removeAll(keepingCapacity: true)
        discarding = true
      }
    }
    return items
  }
}
