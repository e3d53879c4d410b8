/// A small XML reader, enough for OpenCV's FileStorage XML (cascades): elements,
/// attributes, text; comments, the prolog and processing instructions skipped; the five
/// predefined entities and numeric character references decoded. No namespaces, DTDs or
/// CDATA sections (OpenCV does not write them). Keeps Foundation out of the daemon.
public final class XMLElement {
  public let name: String
  public var attributes: [String: String] = [:]
  public var children: [XMLElement] = []
  /// The element's own text (not its children's), concatenated.
  public var text: String = ""

  init(name: String) { self.name = name }

  /// The first child called `name`.
  public func child(_ name: String) -> XMLElement? { children.first { $0.name == name } }

  /// Follows a path of child names.
  public func path(_ names: String...) -> XMLElement? {
    var node: XMLElement? = self
    for n in names { node = node?.child(n) }
    return node
  }

  /// Whitespace-separated numbers of this element's text.
  public func numbers() -> [Double] {
    text.split(whereSeparator: \.isWhitespace).compactMap { Double($0) }
  }

  public var trimmedText: String {
    String(text.drop(while: \.isWhitespace).reversed().drop(while: \.isWhitespace).reversed())
  }
}

public struct XMLError: Error, CustomStringConvertible {
  public var message: String
  public var line: Int
  public var description: String { "XML line \(line): \(message)" }
}

public enum XMLReader {
  /// Parses a document and returns its root element.
  public static func parse(_ bytes: [UInt8]) throws -> XMLElement {
    var parser = Parser(bytes: bytes)
    return try parser.document()
  }

  public static func parse(_ text: String) throws -> XMLElement { try parse(Array(text.utf8)) }

  private struct Parser {
    let bytes: [UInt8]
    var i = 0

    init(bytes: [UInt8]) { self.bytes = bytes }

    func error(_ message: String) -> XMLError {
      XMLError(message: message, line: 1 + bytes[..<min(i, bytes.count)].lazy.filter { $0 == 10 }.count)
    }

    func starts(with s: String) -> Bool {
      let u = Array(s.utf8)
      guard i + u.count <= bytes.count else { return false }
      for k in 0..<u.count where bytes[i + k] != u[k] { return false }
      return true
    }

    mutating func skip(past s: String) throws {
      let u = Array(s.utf8)
      while i + u.count <= bytes.count {
        if starts(with: s) { i += u.count; return }
        i += 1
      }
      throw error("unterminated construct, expected \(s)")
    }

    static func isSpace(_ b: UInt8) -> Bool { b == 32 || b == 9 || b == 10 || b == 13 }
    static func isNameByte(_ b: UInt8) -> Bool {
      !(isSpace(b) || b == UInt8(ascii: "/") || b == UInt8(ascii: ">") || b == UInt8(ascii: "=") || b == UInt8(ascii: "<"))
    }

    mutating func skipSpace() { while i < bytes.count, Self.isSpace(bytes[i]) { i += 1 } }

    mutating func name() throws -> String {
      let start = i
      while i < bytes.count, Self.isNameByte(bytes[i]) { i += 1 }
      guard i > start else { throw error("expected a name") }
      return String(decoding: bytes[start..<i], as: UTF8.self)
    }

    /// Skips comments, processing instructions and <!DOCTYPE ...> at the current position.
    mutating func skipMisc() throws -> Bool {
      if starts(with: "<!--") { try skip(past: "-->"); return true }
      if starts(with: "<?") { try skip(past: "?>"); return true }
      if starts(with: "<!") { try skip(past: ">"); return true }
      return false
    }

    mutating func document() throws -> XMLElement {
      while true {
        skipSpace()
        guard i < bytes.count else { throw error("no root element") }
        if try skipMisc() { continue }
        guard bytes[i] == UInt8(ascii: "<") else { throw error("text before the root element") }
        return try element()
      }
    }

    mutating func element() throws -> XMLElement {
      i += 1 // "<"
      let node = XMLElement(name: try name())
      while true {
        skipSpace()
        guard i < bytes.count else { throw error("unterminated tag <\(node.name)>") }
        if starts(with: "/>") { i += 2; return node }
        if bytes[i] == UInt8(ascii: ">") { i += 1; break }
        let key = try name()
        skipSpace()
        guard i < bytes.count, bytes[i] == UInt8(ascii: "=") else { throw error("attribute \(key) without a value") }
        i += 1
        skipSpace()
        guard i < bytes.count, bytes[i] == UInt8(ascii: "\"") || bytes[i] == UInt8(ascii: "'") else {
          throw error("attribute \(key): expected a quoted value")
        }
        let quote = bytes[i]
        i += 1
        let start = i
        while i < bytes.count, bytes[i] != quote { i += 1 }
        guard i < bytes.count else { throw error("unterminated attribute \(key)") }
        node.attributes[key] = try decode(bytes[start..<i])
        i += 1
      }
      // Content.
      var text: [UInt8] = []
      while true {
        guard i < bytes.count else { throw error("<\(node.name)> is not closed") }
        if bytes[i] != UInt8(ascii: "<") {
          let start = i
          while i < bytes.count, bytes[i] != UInt8(ascii: "<") { i += 1 }
          text += bytes[start..<i]
          continue
        }
        if try skipMisc() { continue }
        if starts(with: "</") {
          i += 2
          let closing = try name()
          guard closing == node.name else { throw error("</\(closing)> closes <\(node.name)>") }
          skipSpace()
          guard i < bytes.count, bytes[i] == UInt8(ascii: ">") else { throw error("malformed </\(closing)>") }
          i += 1
          node.text = try decode(text[...])
          return node
        }
        node.children.append(try element())
      }
    }

    func decode(_ raw: ArraySlice<UInt8>) throws -> String {
      guard raw.contains(UInt8(ascii: "&")) else { return String(decoding: raw, as: UTF8.self) }
      var out = ""
      var k = raw.startIndex
      while k < raw.endIndex {
        if raw[k] == UInt8(ascii: "&"), let semi = raw[k...].firstIndex(of: UInt8(ascii: ";")) {
          let entity = String(decoding: raw[(k + 1)..<semi], as: UTF8.self)
          switch entity {
          case "lt": out += "<"
          case "gt": out += ">"
          case "amp": out += "&"
          case "quot": out += "\""
          case "apos": out += "'"
          default:
            let code = entity.hasPrefix("#x") ? UInt32(entity.dropFirst(2), radix: 16)
              : entity.hasPrefix("#") ? UInt32(entity.dropFirst(), radix: 10) : nil
            guard let code, let scalar = Unicode.Scalar(code) else { throw error("unknown entity &\(entity);") }
            out.unicodeScalars.append(scalar)
          }
          k = semi + 1
        } else {
          let next = raw[k...].firstIndex(of: UInt8(ascii: "&")) ?? raw.endIndex
          out += String(decoding: raw[k..<(next == k ? k + 1 : next)], as: UTF8.self)
          k = next == k ? k + 1 : next
        }
      }
      return out
    }
  }
}
