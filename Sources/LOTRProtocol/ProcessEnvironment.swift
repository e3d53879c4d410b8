#if canImport(Glibc)
import Glibc
#endif

/// The process environment as a dictionary (later duplicates win): what lotrd, lotr-mqtt
/// and the clients read their LOTRD_* / LOTR_MQTT_* settings and the socket from.
public func processEnvironment() -> [String: String] {
  var out: [String: String] = [:]
  var p = environ
  while let entry = p.pointee {
    let s = String(cString: entry)
    if let eq = s.firstIndex(of: "=") { out[String(s[..<eq])] = String(s[s.index(after: eq)...]) }
    p += 1
  }
  return out
}
