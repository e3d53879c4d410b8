/// A parsed JSON value. The parser is strict (RFC 8259, no trailing commas, no comments,
/// no duplicate keys, valid UTF-8) and bounded: input length, nesting depth, member and
/// element counts and string lengths all have limits, so a hostile peer costs at most
/// O(limit) work and memory.
public enum JSONValue: Sendable, Equatable {
  case null
  case bool(Bool)
  case number(Double)
  /// A number written without fraction or exponent that fits Int64, kept exact
  /// (nanosecond timestamps exceed a Double's 53 bits).
  case integer(Int64)
  case string(String)
  case array([JSONValue])
  case object([(String, JSONValue)])

  public static func == (a: JSONValue, b: JSONValue) -> Bool {
    switch (a, b) {
    case (.null, .null): return true
    case let (.bool(x), .bool(y)): return x == y
    case let (.number(x), .number(y)): return x == y
    case let (.integer(x), .integer(y)): return x == y
    case let (.string(x), .string(y)): return x == y
    case let (.array(x), .array(y)): return x == y
    case let (.object(x), .object(y)): return x.count == y.count && zip(x, y).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 }
    default: return false
    }
  }

  public subscript(key: String) -> JSONValue? {
    if case .object(let members) = self { return members.first { $0.0 == key }?.1 }
    return nil
  }

  public var double: Double? {
    switch self {
    case .number(let v): return v
    case .integer(let i): return Double(i)
    default: return nil
    }
  }
  public var int: Int? {
    if case .integer(let i) = self { return Int(i) }
    if case .number(let v) = self, v == v.rounded(), abs(v) < 9.0e18 { return Int(v) }
    return nil
  }
  public var string: String? { if case .string(let v) = self { return v }; return nil }
  public var bool: Bool? { if case .bool(let v) = self { return v }; return nil }
  public var array: [JSONValue]? { if case .array(let v) = self { return v }; return nil }
  public var members: [(String, JSONValue)]? { if case .object(let v) = self { return v }; return nil }
}

public struct JSONLimits: Sendable {
  public var maxBytes: Int
  public var maxDepth: Int
  public var maxMembers: Int
  public var maxElements: Int
  public var maxString: Int

  public init(maxBytes: Int, maxDepth: Int, maxMembers: Int, maxElements: Int, maxString: Int) {
    self.maxBytes = maxBytes; self.maxDepth = maxDepth; self.maxMembers = maxMembers
    self.maxElements = maxElements; self.maxString = maxString
  }

  /// For client requests: small and flat.
  public static let request = JSONLimits(maxBytes: 4096, maxDepth: 3, maxMembers: 32, maxElements: 64, maxString: 256)
  /// For server messages read by clients (LANDMARKS with thousands of points).
  public static let message = JSONLimits(maxBytes: 1 << 22, maxDepth: 8, maxMembers: 256, maxElements: 65536, maxString: 4096)
}

public struct JSONError: Error, Sendable, Equatable, CustomStringConvertible {
  public var message: String
  public var offset: Int
  public var description: String { "\(message) at byte \(offset)" }
}

public struct JSONParser {
  public static func parse<C: Collection>(_ input: C, limits: JSONLimits = .request) throws -> JSONValue
  where C.Element == UInt8 {
    guard input.count <= limits.maxBytes else {
      throw JSONError(message: "JSON longer than \(limits.maxBytes) bytes", offset: limits.maxBytes)
    }
    var p = JSONParser(bytes: Array(input), limits: limits)
    p.skipSpace()
    let v = try p.value(depth: 0)
    p.skipSpace()
    guard p.i == p.bytes.count else { throw p.fail("trailing characters after the JSON value") }
    return v
  }

  private let bytes: [UInt8]
  private let limits: JSONLimits
  private var i = 0

  private init(bytes: [UInt8], limits: JSONLimits) { self.bytes = bytes; self.limits = limits }

  private func fail(_ message: String) -> JSONError { JSONError(message: message, offset: i) }

  private mutating func skipSpace() {
    while i < bytes.count, bytes[i] == 0x20 || bytes[i] == 0x09 || bytes[i] == 0x0A || bytes[i] == 0x0D { i += 1 }
  }

  private mutating func expect(_ word: StaticString) throws {
    let w = word.withUTF8Buffer { Array($0) }
    guard i + w.count <= bytes.count, Array(bytes[i..<(i + w.count)]) == w else { throw fail("invalid literal") }
    i += w.count
  }

  private mutating func value(depth: Int) throws -> JSONValue {
    guard i < bytes.count else { throw fail("unexpected end of JSON") }
    switch bytes[i] {
    case UInt8(ascii: "{"): return try object(depth: depth + 1)
    case UInt8(ascii: "["): return try array(depth: depth + 1)
    case UInt8(ascii: "\""): return .string(try string())
    case UInt8(ascii: "t"): try expect("true"); return .bool(true)
    case UInt8(ascii: "f"): try expect("false"); return .bool(false)
    case UInt8(ascii: "n"): try expect("null"); return .null
    case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return try number()
    default: throw fail("unexpected character")
    }
  }

  private mutating func object(depth: Int) throws -> JSONValue {
    guard depth <= limits.maxDepth else { throw fail("JSON nested deeper than \(limits.maxDepth)") }
    i += 1
    var members: [(String, JSONValue)] = []
    skipSpace()
    if i < bytes.count, bytes[i] == UInt8(ascii: "}") { i += 1; return .object(members) }
    while true {
      skipSpace()
      guard i < bytes.count, bytes[i] == UInt8(ascii: "\"") else { throw fail("expected a member name") }
      let k = try string()
      guard !members.contains(where: { $0.0 == k }) else { throw fail("duplicate member \"\(k)\"") }
      skipSpace()
      guard i < bytes.count, bytes[i] == UInt8(ascii: ":") else { throw fail("expected ':'") }
      i += 1
      skipSpace()
      members.append((k, try value(depth: depth)))
      guard members.count <= limits.maxMembers else { throw fail("more than \(limits.maxMembers) members") }
      skipSpace()
      guard i < bytes.count else { throw fail("unterminated object") }
      if bytes[i] == UInt8(ascii: ",") { i += 1; continue }
      if bytes[i] == UInt8(ascii: "}") { i += 1; return .object(members) }
      throw fail("expected ',' or '}'")
    }
  }

  private mutating func array(depth: Int) throws -> JSONValue {
    guard depth <= limits.maxDepth else { throw fail("JSON nested deeper than \(limits.maxDepth)") }
    i += 1
    var elements: [JSONValue] = []
    skipSpace()
    if i < bytes.count, bytes[i] == UInt8(ascii: "]") { i += 1; return .array(elements) }
    while true {
      skipSpace()
      elements.append(try value(depth: depth))
      guard elements.count <= limits.maxElements else { throw fail("more than \(limits.maxElements) elements") }
      skipSpace()
      guard i < bytes.count else { throw fail("unterminated array") }
      if bytes[i] == UInt8(ascii: ",") { i += 1; continue }
      if bytes[i] == UInt8(ascii: "]") { i += 1; return .array(elements) }
      throw fail("expected ',' or ']'")
    }
  }

  private mutating func hex4() throws -> UInt32 {
    guard i + 4 <= bytes.count else { throw fail("short \\u escape") }
    var v: UInt32 = 0
    for _ in 0..<4 {
      let c = bytes[i]
      let d: UInt32
      switch c {
      case UInt8(ascii: "0")...UInt8(ascii: "9"): d = UInt32(c - UInt8(ascii: "0"))
      case UInt8(ascii: "a")...UInt8(ascii: "f"): d = UInt32(c - UInt8(ascii: "a") + 10)
      case UInt8(ascii: "A")...UInt8(ascii: "F"): d = UInt32(c - UInt8(ascii: "A") + 10)
      default: throw fail("bad \\u escape")
      }
      v = v << 4 | d
      i += 1
    }
    return v
  }

  private mutating func string() throws -> String {
    i += 1
    var out: [UInt8] = []
    while true {
      guard i < bytes.count else { throw fail("unterminated string") }
      guard out.count <= limits.maxString else { throw fail("string longer than \(limits.maxString) bytes") }
      let c = bytes[i]
      if c == UInt8(ascii: "\"") { i += 1; break }
      if c < 0x20 { throw fail("control character in string") }
      if c != UInt8(ascii: "\\") { out.append(c); i += 1; continue }
      i += 1
      guard i < bytes.count else { throw fail("unterminated escape") }
      let e = bytes[i]
      i += 1
      switch e {
      case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): out.append(e)
      case UInt8(ascii: "b"): out.append(0x08)
      case UInt8(ascii: "f"): out.append(0x0C)
      case UInt8(ascii: "n"): out.append(0x0A)
      case UInt8(ascii: "r"): out.append(0x0D)
      case UInt8(ascii: "t"): out.append(0x09)
      case UInt8(ascii: "u"):
        var scalar = try hex4()
        if (0xD800..<0xDC00).contains(scalar) {
          guard i + 1 < bytes.count, bytes[i] == UInt8(ascii: "\\"), bytes[i + 1] == UInt8(ascii: "u") else {
            throw fail("unpaired surrogate")
          }
          i += 2
          let low = try hex4()
          guard (0xDC00..<0xE000).contains(low) else { throw fail("unpaired surrogate") }
          scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
        } else if (0xDC00..<0xE000).contains(scalar) {
          throw fail("unpaired surrogate")
        }
        guard let u = Unicode.Scalar(scalar) else { throw fail("bad \\u escape") }
        out.append(contentsOf: Array(String(Character(u)).utf8))
      default: throw fail("bad escape")
      }
    }
    guard let s = String(validating: out, as: UTF8.self) else { throw fail("string is not valid UTF-8") }
    return s
  }

  private mutating func number() throws -> JSONValue {
    let start = i
    var integral = true
    if bytes[i] == UInt8(ascii: "-") { i += 1 }
    func digits(_ p: inout JSONParser) -> Int {
      let s = p.i
      while p.i < p.bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(p.bytes[p.i]) { p.i += 1 }
      return p.i - s
    }
    guard i < bytes.count else { throw fail("bad number") }
    if bytes[i] == UInt8(ascii: "0") { i += 1 } else if digits(&self) == 0 { throw fail("bad number") }
    if i < bytes.count, bytes[i] == UInt8(ascii: ".") {
      i += 1
      integral = false
      guard digits(&self) > 0 else { throw fail("bad number") }
    }
    if i < bytes.count, bytes[i] == UInt8(ascii: "e") || bytes[i] == UInt8(ascii: "E") {
      i += 1
      integral = false
      if i < bytes.count, bytes[i] == UInt8(ascii: "+") || bytes[i] == UInt8(ascii: "-") { i += 1 }
      guard digits(&self) > 0 else { throw fail("bad number") }
    }
    let text = String(decoding: bytes[start..<min(i, start + 65)], as: UTF8.self)
    if integral, let exact = Int64(text) { return .integer(exact) }
    guard i - start <= 64, let v = Double(text), v.isFinite else { throw fail("bad number") }
    return .number(v)
  }
}
