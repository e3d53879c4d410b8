#if canImport(Glibc)
import Glibc
#endif
import LOTR
import LOTRProtocol

/// lotrd's settings. Sources, later ones winning: built-in defaults, the config file
/// (--config or LOTRD_CONFIG), the environment (LOTRD_<NAME>, e.g. from systemd's
/// EnvironmentFile=), then command-line flags.
struct Config: Equatable, Sendable {
  var source = "/dev/video0"
  var model = Config.installedModel
  var socket = LOTRProto.defaultSocket
  var group = ""
  var socketMode: UInt32 = 0o660
  var threads = 1
  var width = 640
  var height = 480
  var fps = 30.0
  var loop = true
  var box: Box? = nil
  var detector = "auto"
  var detectorModel = ""
  var focal = 0.0
  var idleTimeout = 10.0
  var maxClients = 32
  var queueFrames = 4
  var stallTimeout = 5.0
  var requestTimeout = 30.0
  var sendBuffer = 65536
  var logLevel = LogLevel.info
  var configFile = ""

  struct Option: Sendable {
    let name: String
    let metavar: String
    let help: String
    let apply: @Sendable (inout Config, String) throws -> Void
    let show: @Sendable (Config) -> String
    var env: String { "LOTRD_" + name.uppercased().replacingOccurrences("-", "_") }
  }

  /// The shipped model where an install puts it beside this binary: PREFIX/bin/lotrd reads
  /// PREFIX/share/lotr/models/lotr-m-68.lotr, so /usr and /usr/local both work unconfigured.
  static let installedModel: String = {
    var buf = [CChar](repeating: 0, count: 4096)
    let n = readlink("/proc/self/exe", &buf, buf.count - 1)
    var prefix = "/usr/local"
    if n > 0 {
      let exe = String(decoding: buf[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
      var parts = exe.split(separator: "/").dropLast() // the binary's directory
      if parts.last == "bin" { parts = parts.dropLast(); prefix = "/" + parts.joined(separator: "/") }
    }
    return (prefix == "/" ? "" : prefix) + "/share/lotr/models/lotr-m-68.lotr"
  }()

  static let options: [Option] = [
    Option(name: "source", metavar: "SPEC", help: """
      Frames: a V4L2 device (/dev/video0), a clip (.lclip), a folder of JPEG/PNG frames \
      played in name order, `yuv420:FIFO` or `mjpeg:FIFO` (a camera tool's stream of \
      --width x --height frames, e.g. rpicam-vid for a Pi Camera Module), or `synthetic`.
      """, apply: { c, v in guard !v.isEmpty else { throw DaemonError("is empty") }; c.source = v }, show: { $0.source }),
    Option(name: "model", metavar: "FILE", help: "The int8 .lotr model.", apply: { c, v in c.model = v }, show: { $0.model }),
    Option(name: "socket", metavar: "PATH", help: "The UNIX socket to serve (ignored under socket activation).",
           apply: { c, v in
             guard v.hasPrefix("/"), v.utf8.count < 108 else { throw DaemonError("must be an absolute path under 108 bytes") }
             c.socket = v
           }, show: { $0.socket }),
    Option(name: "group", metavar: "NAME", help: "Group owning the socket (empty: the daemon's group).",
           apply: { c, v in c.group = v }, show: { $0.group }),
    Option(name: "socket-mode", metavar: "OCTAL", help: "Socket file mode.",
           apply: { c, v in
             guard let m = UInt32(v, radix: 8), m <= 0o777 else { throw DaemonError("must be an octal mode like 0660") }
             c.socketMode = m
           }, show: { "0" + String($0.socketMode, radix: 8) }),
    Option(name: "threads", metavar: "N", help: "Inference threads (1...16).",
           apply: { c, v in c.threads = try int(v, 1...16) }, show: { String($0.threads) }),
    Option(name: "width", metavar: "PIXELS", help: "Capture width asked of a camera (and of the synthetic source).",
           apply: { c, v in c.width = try int(v, 16...8192) }, show: { String($0.width) }),
    Option(name: "height", metavar: "PIXELS", help: "Capture height.",
           apply: { c, v in c.height = try int(v, 16...8192) }, show: { String($0.height) }),
    Option(name: "fps", metavar: "RATE", help: """
      Frame rate asked of a camera; the pace of file and synthetic sources. 0 plays files \
      in lockstep with inference (every frame processed, none dropped: for replay tests).
      """, apply: { c, v in c.fps = try double(v, 0...1000) }, show: { fixed($0.fps, 2) }),
    Option(name: "loop", metavar: "yes|no", help: "Loop a file source at its end (no: report DEVICE eof and stop).",
           apply: { c, v in c.loop = try bool(v) }, show: { $0.loop ? "yes" : "no" }),
    Option(name: "box", metavar: "X,Y,W,H", help: "Fixed face box in frame pixels (default: the whole frame).",
           apply: { c, v in
             let parts = v.split(separator: ",").map { Float(String($0).trimmingSpaces()) }
             guard parts.count == 4, parts.allSatisfy({ $0 != nil && $0!.isFinite }), parts[2]! > 0, parts[3]! > 0 else {
               throw DaemonError("must be x,y,width,height with a positive size")
             }
             c.box = Box(x: parts[0]!, y: parts[1]!, width: parts[2]!, height: parts[3]!)
           }, show: { c in c.box.map { "\($0.x),\($0.y),\($0.width),\($0.height)" } ?? "" }),
    Option(name: "detector", metavar: "KIND", help: """
      Face finding, then tracking from the landmarks (One Euro smoothed): blazeface (the \
      int8 CNN of --detector-model), none (the --box or the whole frame, no tracking), or \
      auto (blazeface when its model is found, else none).
      """, apply: { c, v in
        guard ["auto", "blazeface", "none"].contains(v) else { throw DaemonError("must be auto, blazeface or none") }
        c.detector = v
      }, show: { $0.detector }),
    Option(name: "detector-model", metavar: "FILE", help: "Face detector .lotr for --detector blazeface (default: blazeface-short.lotr beside --model).",
           apply: { c, v in c.detectorModel = v }, show: { $0.detectorModel }),
    Option(name: "focal", metavar: "PIXELS", help: """
      The camera's focal length in pixels at the capture size, for the head pose (0: the \
      frame's larger side, a 53-degree field of view across it; a calibrated value is better).
      """, apply: { c, v in c.focal = try double(v, 0...1e6) }, show: { fixed($0.focal, 1) }),
    Option(name: "idle-timeout", metavar: "SECONDS", help: "Close the source this long after the last watcher leaves.",
           apply: { c, v in c.idleTimeout = try double(v, 0...86400) }, show: { fixed($0.idleTimeout, 1) }),
    Option(name: "max-clients", metavar: "N", help: "Connections beyond this get an ERROR and are closed.",
           apply: { c, v in c.maxClients = try int(v, 1...1000) }, show: { String($0.maxClients) }),
    Option(name: "queue", metavar: "FRAMES", help: "Results queued per client; a slower client loses the oldest.",
           apply: { c, v in c.queueFrames = try int(v, 1...256) }, show: { String($0.queueFrames) }),
    Option(name: "stall-timeout", metavar: "SECONDS", help: "Disconnect a client that has read nothing for this long.",
           apply: { c, v in c.stallTimeout = try double(v, 0.05...3600) }, show: { fixed($0.stallTimeout, 2) }),
    Option(name: "request-timeout", metavar: "SECONDS", help: """
      Close a connection that watches nothing and has sent no request for this long (watchers \
      may stay silent). At --max-clients, one silent for over a second gives way to a newcomer.
      """, apply: { c, v in c.requestTimeout = try double(v, 1...86400) }, show: { fixed($0.requestTimeout, 1) }),
    Option(name: "send-buffer", metavar: "BYTES", help: "Kernel send buffer per client socket.",
           apply: { c, v in c.sendBuffer = try int(v, 4096...(16 << 20)) }, show: { String($0.sendBuffer) }),
    Option(name: "log-level", metavar: "LEVEL", help: "error, warning, notice, info or debug.",
           apply: { c, v in
             guard let l = LogLevel(name: v) else { throw DaemonError("must be error, warning, notice, info or debug") }
             c.logLevel = l
           }, show: { $0.logLevel.name }),
  ]

  enum Action { case run, help, version, check }

  /// Parses everything; throws a message naming the offending setting and where it came from.
  static func load(arguments: [String], environment env: [String: String]) throws -> (Config, Action) {
    var action = Action.run
    var flags: [(Option, String)] = []
    var configFile = env["LOTRD_CONFIG"] ?? ""
    var i = 0
    while i < arguments.count {
      let arg = arguments[i]
      i += 1
      switch arg {
      case "-h", "--help": action = .help; continue
      case "--version": action = .version; continue
      case "--check": action = .check; continue
      default: break
      }
      guard arg.hasPrefix("--") else { throw DaemonError("unexpected argument '\(arg)' (see --help)") }
      var name = String(arg.dropFirst(2))
      var value: String
      if let eq = name.firstIndex(of: "=") {
        value = String(name[name.index(after: eq)...])
        name = String(name[..<eq])
      } else {
        guard i < arguments.count else { throw DaemonError("--\(name) needs a value") }
        value = arguments[i]
        i += 1
      }
      if name == "config" { configFile = value; continue }
      guard let option = options.first(where: { $0.name == name }) else { throw DaemonError("unknown option --\(name) (see --help)") }
      flags.append((option, value))
    }
    if action == .help || action == .version { return (Config(), action) }

    var c = Config()
    c.configFile = configFile
    if !configFile.isEmpty {
      let text = String(decoding: try RegularFile.read(configFile, limit: 1 << 16), as: UTF8.self)
      for (n, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
        let line = String(raw).trimmingSpaces()
        if line.isEmpty || line.hasPrefix("#") { continue }
        guard let eq = line.firstIndex(of: "=") else { throw DaemonError("\(configFile):\(n + 1): expected name = value") }
        let key = String(line[..<eq]).trimmingSpaces()
        var value = String(line[line.index(after: eq)...]).trimmingSpaces()
        if value.count >= 2, value.hasPrefix("\""), value.hasSuffix("\"") { value = String(value.dropFirst().dropLast()) }
        guard let option = options.first(where: { $0.name == key }) else {
          throw DaemonError("\(configFile):\(n + 1): unknown setting '\(key)'")
        }
        do { try option.apply(&c, value) } catch { throw DaemonError("\(configFile):\(n + 1): \(key) = \(value): \(error)") }
      }
    }
    for option in options {
      guard let value = env[option.env] else { continue }
      do { try option.apply(&c, value) } catch { throw DaemonError("\(option.env)=\(value): \(error)") }
    }
    let known = Set(options.map(\.env) + ["LOTRD_CONFIG", "LOTRD_OPTS", "LOTRD_ARGS"])
    for key in env.keys.sorted() where key.hasPrefix("LOTRD_") && !known.contains(key) {
      throw DaemonError("unknown environment setting \(key)")
    }
    for (option, value) in flags {
      do { try option.apply(&c, value) } catch { throw DaemonError("--\(option.name) \(value): \(error)") }
    }
    return (c, action)
  }

  static func helpText() -> String {
    var s = """
      lotrd \(LOTRProto.release) (protocol \(LOTRProto.major).\(LOTRProto.minor)): streams face landmarks from one \
      camera to local clients over a UNIX socket (docs/PROTOCOL.md).

      usage: lotrd [--config FILE] [--OPTION VALUE | --OPTION=VALUE ...] [--check]

      Settings, later sources winning: defaults < config file (name = value lines, # comments) \
      < environment (LOTRD_NAME, e.g. from EnvironmentFile=/etc/default/lotrd) < flags.

        --config FILE            Read settings from FILE (env: LOTRD_CONFIG).
        --check                  Validate the settings and the model, then exit (0 = good).
        --help, --version

      """
    for o in options {
      let left = "  --\(o.name) \(o.metavar)"
      s += left.padding(to: 27) + o.help + "\n" + String(repeating: " ", count: 27)
        + "[env \(o.env); default \(o.show(Config()).isEmpty ? "none" : o.show(Config()))]\n"
    }
    s += """

      Socket activation: with LISTEN_FDS=1 (systemd, systemd-socket-activate) lotrd serves fd 3 \
      and leaves its file alone. Otherwise it binds --socket itself, replacing a stale socket \
      file and refusing one a live server answers on.
      systemd: Type=notify (READY=1, STATUS=, STOPPING=1) and WatchdogSec= (WATCHDOG=1 from the \
      pipeline, only while capture, inference and the socket loop are all alive).
      Signals: SIGTERM/SIGINT stop within a second and remove the socket file; SIGHUP re-reads \
      the config file and reloads the model, keeping the old one if the new one fails to load.

      Exit status: 0 stopped cleanly, 1 runtime failure, 2 invalid configuration or model, \
      3 the socket is served by another process.

      """
    return s
  }
}

extension String {
  func trimmingSpaces() -> String {
    let u = Array(utf8)
    var a = 0, b = u.count
    while a < b, u[a] == 0x20 || u[a] == 0x09 || u[a] == 0x0D { a += 1 }
    while b > a, u[b - 1] == 0x20 || u[b - 1] == 0x09 || u[b - 1] == 0x0D { b -= 1 }
    return String(decoding: u[a..<b], as: UTF8.self)
  }
  func replacingOccurrences(_ a: Character, _ b: Character) -> String { String(map { $0 == a ? b : $0 }) }
  func padding(to n: Int) -> String { count >= n ? self + " " : self + String(repeating: " ", count: n - count) }
}

private func int(_ v: String, _ range: ClosedRange<Int>) throws -> Int {
  guard let n = Int(v.trimmingSpaces()), range.contains(n) else { throw DaemonError("must be an integer in \(range.lowerBound)...\(range.upperBound)") }
  return n
}

private func double(_ v: String, _ range: ClosedRange<Double>) throws -> Double {
  guard let n = Double(v.trimmingSpaces()), n.isFinite, range.contains(n) else {
    throw DaemonError("must be a number in \(range.lowerBound)...\(range.upperBound)")
  }
  return n
}

private func bool(_ v: String) throws -> Bool {
  switch v.trimmingSpaces().lowercased() {
  case "yes", "true", "1", "on": return true
  case "no", "false", "0", "off": return false
  default: throw DaemonError("must be yes or no")
  }
}
