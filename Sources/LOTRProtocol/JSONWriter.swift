/// An append-only JSON writer for the hot path: no reflection, no intermediate
/// dictionaries, fixed-point floats. The caller is responsible for structure (commas are
/// handled by `key`/`element` which track the first member of each open container).
public struct JSONWriter: Sendable {
  public private(set) var bytes: [UInt8]
  private var first: [Bool] = []

  public init(capacity: Int = 1024) {
    bytes = []
    bytes.reserveCapacity(capacity)
  }

  public mutating func beginObject() { separate(); bytes.append(UInt8(ascii: "{")); first.append(true) }
  public mutating func endObject() { bytes.append(UInt8(ascii: "}")); first.removeLast() }
  public mutating func beginArray() { separate(); bytes.append(UInt8(ascii: "[")); first.append(true) }
  public mutating func endArray() { bytes.append(UInt8(ascii: "]")); first.removeLast() }

  /// Writes `"name":`; the value call that follows does not add a comma.
  public mutating func key(_ name: StaticString) {
    separate()
    bytes.append(UInt8(ascii: "\""))
    name.withUTF8Buffer { bytes.append(contentsOf: $0) }
    bytes.append(UInt8(ascii: "\""))
    bytes.append(UInt8(ascii: ":"))
    pendingValue = true
  }

  public mutating func key(_ name: String) {
    separate()
    appendQuoted(name)
    bytes.append(UInt8(ascii: ":"))
    pendingValue = true
  }

  private var pendingValue = false

  private mutating func separate() {
    if pendingValue { pendingValue = false; return }
    guard !first.isEmpty else { return }
    if first[first.count - 1] { first[first.count - 1] = false } else { bytes.append(UInt8(ascii: ",")) }
  }

  public mutating func string(_ s: String) { separate(); appendQuoted(s) }
  public mutating func bool(_ b: Bool) { separate(); appendASCII(b ? "true" : "false") }
  public mutating func null() { separate(); appendASCII("null") }

  public mutating func int<T: BinaryInteger>(_ v: T) {
    separate()
    appendInteger(v)
  }

  /// A float with `decimals` fixed decimals (0...6), trailing zeros kept; non-finite → null.
  public mutating func float(_ v: Double, decimals: Int = 2) {
    separate()
    guard v.isFinite, abs(v) < 9e15 else { appendASCII("null"); return }
    let scale = Self.powers[min(max(decimals, 0), 6)]
    let scaled = (abs(v) * Double(scale)).rounded()
    guard scaled < 9e18 else { appendASCII("null"); return }
    let n = Int64(scaled)
    if v < 0 && n != 0 { bytes.append(UInt8(ascii: "-")) }
    appendInteger(n / scale)
    if decimals > 0 {
      bytes.append(UInt8(ascii: "."))
      var frac = n % scale
      var digits = [UInt8](repeating: UInt8(ascii: "0"), count: decimals)
      var i = decimals - 1
      while i >= 0 { digits[i] = UInt8(ascii: "0") + UInt8(frac % 10); frac /= 10; i -= 1 }
      bytes.append(contentsOf: digits)
    }
  }

  public mutating func float(_ v: Float, decimals: Int = 2) { float(Double(v), decimals: decimals) }

  /// Appends an already-encoded JSON value verbatim (e.g. a cached object).
  public mutating func raw(_ json: [UInt8]) { separate(); bytes.append(contentsOf: json) }

  public mutating func newline() { bytes.append(UInt8(ascii: "\n")) }

  private static let powers: [Int64] = [1, 10, 100, 1000, 10_000, 100_000, 1_000_000]

  private mutating func appendASCII(_ s: StaticString) { s.withUTF8Buffer { bytes.append(contentsOf: $0) } }

  private mutating func appendInteger<T: BinaryInteger>(_ v: T) {
    if v == 0 { bytes.append(UInt8(ascii: "0")); return }
    var magnitude = v.magnitude
    if v < 0 { bytes.append(UInt8(ascii: "-")) }
    var tmp: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8,
              UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8) =
      (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
    var count = 0
    withUnsafeMutableBytes(of: &tmp) { buf in
      while magnitude > 0 && count < 20 {
        buf[19 - count] = UInt8(ascii: "0") + UInt8(magnitude % 10)
        magnitude /= 10
        count += 1
      }
      bytes.append(contentsOf: buf[(20 - count)...])
    }
  }

  private mutating func appendQuoted(_ s: String) {
    bytes.append(UInt8(ascii: "\""))
    for b in s.utf8 {
      switch b {
      case UInt8(ascii: "\""): bytes.append(UInt8(ascii: "\\")); bytes.append(b)
      case UInt8(ascii: "\\"): bytes.append(UInt8(ascii: "\\")); bytes.append(b)
      case 0x0A: bytes.append(UInt8(ascii: "\\")); bytes.append(UInt8(ascii: "n"))
      case 0x0D: bytes.append(UInt8(ascii: "\\")); bytes.append(UInt8(ascii: "r"))
      case 0x09: bytes.append(UInt8(ascii: "\\")); bytes.append(UInt8(ascii: "t"))
      case 0..<0x20:
        let hex: [UInt8] = Array("0123456789abcdef".utf8)
        bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "u"), UInt8(ascii: "0"), UInt8(ascii: "0"),
                                  hex[Int(b >> 4)], hex[Int(b & 15)]])
      default: bytes.append(b)
      }
    }
    bytes.append(UInt8(ascii: "\""))
  }
}
