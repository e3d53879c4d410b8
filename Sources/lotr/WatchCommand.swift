import ArgumentParser
import LOTRClient
#if canImport(Glibc)
import Glibc
#endif

/// `lotr watch`: print lotrd's stream, like gpspipe.
struct WatchCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "watch",
    abstract: "Print the landmark stream of a running lotrd (one JSON object per line).",
    discussion: """
      Connects to lotrd's socket, asks for the stream (?WATCH) and prints every message as it \
      arrives: VERSION, DEVICE events, LANDMARKS. With --binary the stream travels in the \
      binary mode and is printed as JSON after decoding (a check of both encodings).
      """
  )

  @Option(help: "lotrd's socket.")
  var socket = ProcessEnvironment.socket

  @Option(name: [.customShort("n"), .long], help: "Stop after this many LANDMARKS results (0 = never).")
  var count = 0

  @Flag(help: "Indented JSON.")
  var pretty = false

  @Flag(help: "Ask for the binary mode.")
  var binary = false

  @Option(help: "Most results per second (0 = all).")
  var rate = 0.0

  @Option(help: "Give up when nothing arrives for this many seconds (0 = wait forever).")
  var timeout = 0.0

  func validate() throws {
    guard count >= 0 else { throw ValidationError("-n must be 0 or more") }
    guard rate >= 0 && rate <= 1000 else { throw ValidationError("--rate must be in 0...1000") }
  }

  func run() throws {
    let client = try LOTRClient(path: socket)
    emit(.version(client.version))
    try client.send(.watch(WatchSettings(enable: true, format: binary ? .binary : .json, rate: rate)))
    var seen = 0
    while let m = try client.next(timeout: timeout > 0 ? timeout : nil) {
      emit(m)
      switch m {
      case .landmarks:
        seen += 1
        if count > 0 && seen >= count { return }
      case .device(let d) where d.event == .error:
        // The device cannot be used as configured (absent, busy, wrong format): lotrd keeps
        // retrying, but a watch that waits for it would only wait.
        throw WatchError(description: "device \(d.path): \(d.message ?? "error")")
      case .device(let d) where d.event == .eof:
        if count > 0 && seen < count { throw WatchError(description: "\(d.path) ended after \(seen) of \(count) results") }
        return
      default: break
      }
    }
    if timeout > 0 && (count == 0 || seen < count) { throw WatchError(description: "nothing from lotrd for \(timeout) s") }
  }

  func emit(_ m: Message) {
    var w = JSONWriter()
    m.writeJSON(&w)
    if pretty, let v = try? JSONParser.parse(w.bytes, limits: .message) {
      print(JSONValue.render(v, indent: "  "))
    } else {
      print(String(decoding: w.bytes, as: UTF8.self))
    }
    fflush(nil) // all streams: stdout without touching the global
  }
}

/// `lotr status`: what lotrd is doing.
struct StatusCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "status",
    abstract: "Show a running lotrd's version, model, device and statistics."
  )

  @Option(help: "lotrd's socket.")
  var socket = ProcessEnvironment.socket

  @Flag(help: "Print the raw VERSION, DEVICES and STATS objects.")
  var json = false

  func run() throws {
    let client = try LOTRClient(path: socket)
    let devices = try client.ask(.devices, replyClass: "DEVICES")
    let stats = try client.ask(.stats, replyClass: "STATS")
    if json {
      for m in [Message.version(client.version), devices, stats] { print(String(decoding: m.jsonLine().dropLast(), as: UTF8.self)) }
      return
    }
    let v = client.version
    print("lotrd \(v.release), protocol \(v.protoMajor).\(v.protoMinor) at \(socket)")
    if let m = v.model { print("model   \(m.name): \(m.landmarks) points (\(m.scheme))") }
    if case .devices(let list) = devices {
      for d in list {
        print("device  \(d.path) [\(d.driver)] \(d.state)" + (d.width > 0 ? " \(d.width)x\(d.height)" : "") + " @ \(format(d.fps, 1)) fps")
      }
    }
    if case .stats(let s) = stats {
      print("stream  \(format(s.fps, 1)) fps, \(s.frames) frames, \(s.captureDropped) dropped at capture, \(s.badFrames) bad, \(s.clientDropped) dropped for slow clients")
      print("clients \(s.clients) connected, \(s.watchers) watching")
      for stage in s.latencyMs { print("  \(stage.name.padding(8)) p50 \(format(stage.p50, 2)) ms   p99 \(format(stage.p99, 2)) ms") }
      print("process peak RSS \(s.rssKB / 1024) MiB, CPU \(format(s.cpuSeconds, 1)) s over \(format(s.uptime, 0)) s")
    }
  }
}

struct WatchError: Error, CustomStringConvertible { var description: String }

enum ProcessEnvironment {
  /// $LOTRD_SOCKET, else the socket lotrd or its units serve (LOTRClient.defaultSocket).
  static var socket: String { LOTRClient.defaultSocket() }
}

private func format(_ v: Double, _ decimals: Int) -> String {
  guard v.isFinite else { return "-" }
  var p = 1.0
  for _ in 0..<decimals { p *= 10 }
  let n = Int((abs(v) * p).rounded())
  var frac = String(n % Int(p))
  while frac.count < decimals { frac = "0" + frac }
  return (v < 0 && n != 0 ? "-" : "") + String(n / Int(p)) + (decimals > 0 ? "." + frac : "")
}

private extension String {
  func padding(_ n: Int) -> String { count >= n ? self : self + String(repeating: " ", count: n - count) }
}
