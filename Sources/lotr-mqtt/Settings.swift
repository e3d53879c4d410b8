#if canImport(Glibc)
import Glibc
#endif
import LOTRProtocol

/// lotr-mqtt's settings: built-in defaults, then the environment (LOTR_MQTT_<NAME>, e.g.
/// from systemd's EnvironmentFile=), then `--name value` flags.
struct Settings {
  var socket = "/run/lotrd/video0.sock"
  var camera = "" // empty: the socket's name without .sock
  var host = ""   // empty: this machine's host name
  var topicPrefix = "lotr"
  var broker = "localhost"
  var port = 1883
  var clientID = "" // empty: lotr-mqtt-<host>-<camera>
  var keepalive = 30
  var username = ""
  var passwordFile = ""
  var tlsCAFile = "", tlsCADir = "", tlsCertFile = "", tlsKeyFile = ""
  var rate = 0.0
  var statsInterval = 10.0
  var maxUnwritten = 64

  /// `<prefix>/<host>/<camera>`: every topic of this bridge starts so.
  var topicBase: String { "\(topicPrefix)/\(host)/\(camera)" }

  struct Option {
    let name: String, metavar: String, help: String
    let apply: (inout Settings, String) throws -> Void
    var env: String { "LOTR_MQTT_" + String(name.uppercased().map { $0 == "-" ? "_" : $0 }) }
  }

  static let options: [Option] = [
    Option(name: "socket", metavar: "PATH", help: "lotrd's socket.", apply: { s, v in
      guard v.hasPrefix("/"), v.utf8.count < 108 else { throw SettingsError("must be an absolute path under 108 bytes") }
      s.socket = v
    }),
    Option(name: "camera", metavar: "NAME", help: "Topic level for the camera (default: the socket's name, video0).",
           apply: { s, v in s.camera = try topicLevel(v) }),
    Option(name: "host", metavar: "NAME", help: "Topic level for this board (default: its host name).",
           apply: { s, v in s.host = try topicLevel(v) }),
    Option(name: "topic-prefix", metavar: "TOPIC", help: "First topic levels (default lotr; may hold '/').",
           apply: { s, v in
             guard !v.isEmpty, !v.hasPrefix("/"), !v.hasSuffix("/"), !v.contains("+"), !v.contains("#") else {
               throw SettingsError("must be non-empty, without + or #, and not start or end with /")
             }
             s.topicPrefix = v
           }),
    Option(name: "broker", metavar: "HOST", help: "The MQTT broker's host name or address.",
           apply: { s, v in guard !v.isEmpty else { throw SettingsError("is empty") }; s.broker = v }),
    Option(name: "port", metavar: "PORT", help: "The broker's port (1883; usually 8883 with TLS).",
           apply: { s, v in s.port = try int(v, 1...65535) }),
    Option(name: "client-id", metavar: "ID", help: "MQTT client id (default lotr-mqtt-<host>-<camera>).",
           apply: { s, v in guard v.utf8.count <= 23 * 8 else { throw SettingsError("is too long") }; s.clientID = v }),
    Option(name: "keepalive", metavar: "SECONDS", help: "MQTT keepalive; the broker sends the will after 1.5x this of silence.",
           apply: { s, v in s.keepalive = try int(v, 5...3600) }),
    Option(name: "username", metavar: "NAME", help: "MQTT user name (default: anonymous).",
           apply: { s, v in s.username = v }),
    Option(name: "password-file", metavar: "FILE", help: "File holding the MQTT password (first line).",
           apply: { s, v in s.passwordFile = v }),
    Option(name: "tls-ca-file", metavar: "FILE", help: "TLS on: CA certificates (PEM) to check the broker with.",
           apply: { s, v in s.tlsCAFile = v }),
    Option(name: "tls-ca-dir", metavar: "DIR", help: "TLS on: a CA directory instead (e.g. /etc/ssl/certs).",
           apply: { s, v in s.tlsCADir = v }),
    Option(name: "tls-cert-file", metavar: "FILE", help: "TLS client certificate (PEM), with --tls-key-file.",
           apply: { s, v in s.tlsCertFile = v }),
    Option(name: "tls-key-file", metavar: "FILE", help: "TLS client key (PEM, unencrypted).",
           apply: { s, v in s.tlsKeyFile = v }),
    Option(name: "rate", metavar: "PER_SECOND", help: "At most this many LANDMARKS per second (0 = every result); lotrd thins the stream.",
           apply: { s, v in s.rate = try double(v, 0...1000) }),
    Option(name: "stats-interval", metavar: "SECONDS", help: "Publish STATS this often (0 = never).",
           apply: { s, v in s.statsInterval = try double(v, 0...86400) }),
    Option(name: "max-unwritten", metavar: "N", help: "Drop LANDMARKS (counted) while this many messages wait for a slow broker.",
           apply: { s, v in s.maxUnwritten = try int(v, 1...100_000) }),
  ]

  /// Parses the environment and `arguments` (without the program name). Throws on any
  /// unknown flag or bad value; `--help` / `--version` are handled by the caller.
  static func parse(arguments: [String], environment: [String: String]) throws -> Settings {
    var s = Settings()
    for o in options {
      if let v = environment[o.env] {
        do { try o.apply(&s, v) } catch let e as SettingsError { throw SettingsError("\(o.env)=\(v): \(e.message)") }
      }
    }
    var i = 0
    while i < arguments.count {
      let arg = arguments[i]
      guard arg.hasPrefix("--") else { throw SettingsError("unexpected argument \(arg)") }
      var name = String(arg.dropFirst(2)), value: String?
      if let eq = name.firstIndex(of: "=") { value = String(name[name.index(after: eq)...]); name = String(name[..<eq]) }
      guard let o = options.first(where: { $0.name == name }) else { throw SettingsError("unknown option --\(name)") }
      if value == nil {
        i += 1
        guard i < arguments.count else { throw SettingsError("--\(name) needs a value") }
        value = arguments[i]
      }
      do { try o.apply(&s, value!) } catch let e as SettingsError { throw SettingsError("--\(name) \(value!): \(e.message)") }
      i += 1
    }
    if s.camera.isEmpty {
      var base = s.socket.split(separator: "/").last.map(String.init) ?? "lotrd"
      if base.hasSuffix(".sock") { base.removeLast(5) }
      s.camera = try topicLevel(base)
    }
    if s.host.isEmpty { s.host = try topicLevel(hostName()) }
    if s.clientID.isEmpty { s.clientID = "lotr-mqtt-\(s.host)-\(s.camera)" }
    return s
  }

  static var usage: String {
    var text = """
      usage: lotr-mqtt [--option value]...
      Publishes lotrd's landmarks, device events and statistics to an MQTT broker under
      <topic-prefix>/<host>/<camera>/{landmarks,device,stats,status} (docs/MQTT.md).
      Every option may also be set as LOTR_MQTT_<OPTION> in the environment.

      """
    for o in options {
      text += "  --\(o.name) \(o.metavar)".padding(34) + o.help + "\n"
    }
    return text + "  --help, --version\n"
  }

  /// The password from `passwordFile` (its first line), nil when none is configured.
  func password() throws -> String? {
    guard !passwordFile.isEmpty else { return nil }
    guard let f = fopen(passwordFile, "r") else {
      throw SettingsError("--password-file \(passwordFile): \(String(cString: strerror(errno)))")
    }
    defer { fclose(f) }
    var line = [CChar](repeating: 0, count: 4096)
    guard fgets(&line, Int32(line.count), f) != nil else { throw SettingsError("--password-file \(passwordFile) is empty") }
    var text = String(decoding: line.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    while text.hasSuffix("\n") || text.hasSuffix("\r") { text.removeLast() }
    return text
  }
}

struct SettingsError: Error, CustomStringConvertible {
  let message: String
  init(_ message: String) { self.message = message }
  var description: String { message }
}

/// One topic level: non-empty, no '/', '+', '#' or control characters.
private func topicLevel(_ v: String) throws -> String {
  guard !v.isEmpty, v.utf8.count <= 128, !v.unicodeScalars.contains(where: { "/+#".unicodeScalars.contains($0) || $0.value < 0x20 })
  else { throw SettingsError("must be one topic level: non-empty, without /, + or #") }
  return v
}

private func int(_ v: String, _ range: ClosedRange<Int>) throws -> Int {
  guard let n = Int(v), range.contains(n) else { throw SettingsError("must be an integer in \(range.lowerBound)...\(range.upperBound)") }
  return n
}

private func double(_ v: String, _ range: ClosedRange<Double>) throws -> Double {
  guard let d = Double(v), d.isFinite, range.contains(d) else {
    throw SettingsError("must be a number in \(range.lowerBound)...\(range.upperBound)")
  }
  return d
}

private func hostName() -> String {
  var buf = [CChar](repeating: 0, count: 256)
  guard gethostname(&buf, buf.count - 1) == 0 else { return "localhost" }
  // The short name: a dot is legal in a topic, but boards are known by their short names.
  let full = String(decoding: buf.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
  return full.split(separator: ".").first.map(String.init) ?? "localhost"
}

private extension String {
  func padding(_ width: Int) -> String { count >= width ? self + " " : self + String(repeating: " ", count: width - count) }
}
