// lotr-v4l2-check --lotrd-client SOCKET: the daemon end to end against vivid (issue 7's
// VM test). A raw-socket client of a running `lotrd --source /dev/video0` (docs/PROTOCOL.md,
// JSON lines): ?WATCH, LANDMARKS arrive, then vivid's Disconnect control (the same code
// path as the unplug check in main.swift) must reach the client as DEVICE lost; once the
// driver is removed and reloaded (--unload/--reload), DEVICE recovered must follow and
// LANDMARKS resume with increasing seq. Ends with "N passed, N failed".
#if canImport(Glibc)
import Glibc
#endif
import LOTR
import CV4L2
import LOTRCapture

/// A line-oriented client over a UNIX stream socket.
final class LineSocket {
  let fd: Int32
  private var pending: [UInt8] = []
  private(set) var atEOF = false

  init?(path: String) {
    let s = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
    guard s >= 0 else { return nil }
    var addr = sockaddr_un()
    addr.sun_family = sa_family_t(AF_UNIX)
    let bytes = Array(path.utf8)
    let fits = withUnsafeMutableBytes(of: &addr.sun_path) { raw -> Bool in
      guard bytes.count < raw.count else { return false }
      raw.copyBytes(from: bytes)
      raw[bytes.count] = 0
      return true
    }
    let r = fits ? withUnsafePointer(to: &addr) {
      $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(s, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
    } : -1
    guard r == 0 else { _ = Glibc.close(s); return nil }
    fd = s
  }

  deinit { _ = Glibc.close(fd) }

  func send(_ text: String) -> Bool {
    let bytes = Array(text.utf8)
    return bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) } == bytes.count
  }

  /// The next line (without "\n"); nil on timeout or end of stream (`atEOF`).
  func readLine(timeout: Double) -> String? {
    let deadline = monotonicNanoseconds() + Int64(timeout * 1e9)
    while true {
      if let nl = pending.firstIndex(of: UInt8(ascii: "\n")) {
        let line = String(decoding: pending[..<nl], as: UTF8.self)
        pending.removeSubrange(...nl)
        return line
      }
      if atEOF { return nil }
      let left = deadline - monotonicNanoseconds()
      if left <= 0 { return nil }
      var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
      let r = poll(&p, 1, Int32(max(1, min(left / 1_000_000, 1000))))
      if r < 0 && errno != EINTR { atEOF = true; return nil }
      if r <= 0 { continue }
      var chunk = [UInt8](repeating: 0, count: 65536)
      let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
      if n <= 0 {
        if n < 0 && (errno == EINTR || errno == EAGAIN) { continue }
        atEOF = true
        continue
      }
      pending.append(contentsOf: chunk[..<n])
    }
  }
}

/// A top-level member of a compact JSON line (as lotrd writes them: `"name":value`), as text;
/// strings without their quotes. Enough for class, event, state, seq, device, width, height.
func jsonMember(_ line: String, _ name: String) -> String? {
  let text = Array(line.utf8), key = Array("\"\(name)\":".utf8)
  guard text.count >= key.count else { return nil }
  var i = 0
  while i + key.count <= text.count && !text[i..<(i + key.count)].elementsEqual(key) { i += 1 }
  guard i + key.count <= text.count else { return nil }
  var start = i + key.count, end = start
  if start < text.count && text[start] == UInt8(ascii: "\"") {
    start += 1
    end = start
    while end < text.count && text[end] != UInt8(ascii: "\"") { end += 1 }
  } else {
    let stops: [UInt8] = [UInt8(ascii: ","), UInt8(ascii: "}"), UInt8(ascii: "]")]
    while end < text.count && !stops.contains(text[end]) { end += 1 }
  }
  return String(decoding: text[start..<min(end, text.count)], as: UTF8.self)
}

func jsonClass(_ line: String) -> String? {
  guard line.hasPrefix("{\"class\":\"") else { return nil }
  return jsonMember(line, "class")
}

@MainActor func finish() -> Never {
  print("\(passed) passed, \(failed) failed" + (skipped > 0 ? ", \(skipped) skipped" : ""))
  exit(failed == 0 ? 0 : 1)
}

@MainActor func runLotrdClientCheck(socketPath: String, device: String, unloadCommand: String, reloadCommand: String) -> Never {
  // 1. connect (lotrd may still be starting) and read VERSION
  var connected: LineSocket?
  let connectStart = monotonicNanoseconds()
  while connected == nil && monotonicNanoseconds() - connectStart < 30_000_000_000 {
    connected = LineSocket(path: socketPath)
    if connected == nil { usleep(100_000) }
  }
  guard let client = connected else {
    check(false, "lotrd: connect to \(socketPath) within 30 s")
    finish()
  }
  let version = client.readLine(timeout: 10) ?? ""
  var seqs: [Int] = []          // LANDMARKS seq, in arrival order
  var monos: [Int64] = []        // and their mono_ns (frame capture time)
  var deviceEvents: [String] = []
  func note(_ line: String) {
    switch jsonClass(line) {
    case "LANDMARKS":
      if let s = jsonMember(line, "seq").flatMap({ Int($0) }) {
        seqs.append(s)
        monos.append(jsonMember(line, "mono_ns").flatMap { Int64($0) } ?? -1)
      }
    case "DEVICE":
      let e = "\(jsonMember(line, "event") ?? "-")/\(jsonMember(line, "state") ?? "-")"
      deviceEvents.append(e)
      print("      DEVICE event \(e)" + (jsonMember(line, "message").map { ": \($0)" } ?? ""))
    case "ERROR":
      print("      ERROR from lotrd: \(line)")
    default: break
    }
  }
  /// Reads until `done(line)` or the timeout; every line goes through note().
  func until(_ timeout: Double, _ done: (String) -> Bool) -> String? {
    let deadline = monotonicNanoseconds() + Int64(timeout * 1e9)
    while monotonicNanoseconds() < deadline {
      guard let line = client.readLine(timeout: Double(deadline - monotonicNanoseconds()) / 1e9) else {
        if client.atEOF { return nil }
        continue
      }
      note(line)
      if done(line) { return line }
    }
    return nil
  }
  func isDevice(_ event: String) -> (String) -> Bool {
    { jsonClass($0) == "DEVICE" && jsonMember($0, "event") == event }
  }
  func landmarks(_ n: Int, timeout: Double) -> [String] {
    var got: [String] = []
    _ = until(timeout) { line in
      if jsonClass(line) == "LANDMARKS" { got.append(line) }
      return got.count >= n
    }
    return got
  }
  func increasing(_ s: [Int]) -> Bool { zip(s, s.dropFirst()).allSatisfy { $1 > $0 } }

  check(jsonClass(version) == "VERSION" && jsonMember(version, "proto_major") == "1",
        "lotrd: connected to \(socketPath), VERSION \(version.prefix(160))")

  // 2. watch: the camera opens, results flow
  check(client.send("?WATCH={\"enable\":true};\n"), "lotrd: ?WATCH={\"enable\":true}; sent")
  let opened = until(60, isDevice("opened"))
  check(opened != nil && jsonMember(opened!, "state") == "open",
        "lotrd: DEVICE opened/open (\(opened.flatMap { jsonMember($0, "width") } ?? "?")x\(opened.flatMap { jsonMember($0, "height") } ?? "?"))")
  let first = landmarks(5, timeout: 90)
  let firstSeqs = first.compactMap { jsonMember($0, "seq").flatMap { Int($0) } }
  check(first.count == 5, "lotrd: 5 LANDMARKS from \(device) (got \(first.count))")
  if let l = first.last {
    check(jsonMember(l, "device") == device && (Int(jsonMember(l, "width") ?? "") ?? 0) > 0 && l.contains("\"faces\":[{")
            && l.contains("\"points\":[["),
          "lotrd: LANDMARKS for \(jsonMember(l, "device") ?? "?") \(jsonMember(l, "width") ?? "?")x\(jsonMember(l, "height") ?? "?") with a face and points")
  }
  check(!firstSeqs.isEmpty && firstSeqs.count == first.count && increasing(firstSeqs), "lotrd: seq strictly increasing \(firstSeqs)")
  if first.isEmpty { finish() }

  // 3. unplug: vivid's Disconnect control, as in main.swift
  let refused = shell("\(unloadCommand) 2>/dev/null")
  check(refused != 0, "lotrd: rmmod while lotrd streams is refused (exit \(refused))")
  let fd = lotr_v4l2_open(device)
  let control = fd >= 0 ? lotr_v4l2_find_control(fd, "Disconnect") : -1
  guard control >= 0 else {
    if fd >= 0 { _ = lotr_v4l2_close(fd) }
    skip("lotrd unplug: vivid has no Disconnect control")
    finish()
  }
  let unplugNs = monotonicNanoseconds()
  let set = lotr_v4l2_set_control(fd, UInt32(control), 1)
  _ = lotr_v4l2_close(fd)
  check(set == 0, "lotrd unplug: vivid Disconnect control set")
  let lastBefore = seqs.last ?? -1
  let lost = until(20, isDevice("lost"))
  check(lost != nil && jsonMember(lost!, "state") == "lost",
        "lotrd unplug: the client got DEVICE lost/\(lost.flatMap { jsonMember($0, "state") } ?? "none")")

  // 4. driver removal once lotrd let go, then reload
  var removed = false, tries = 0
  while !removed && tries < 25 {
    tries += 1
    removed = shell("\(unloadCommand) 2>/dev/null") == 0
    if !removed { usleep(200_000) }
  }
  check(removed, "lotrd unplug: '\(unloadCommand)' succeeds once lotrd let go (attempt \(tries))")
  _ = until(1.5) { _ in false }
  // Results for frames already in inference may still come after DEVICE lost; none may be
  // for a frame captured after the unplug (vivid stamps up to a frame period ahead: 50 ms).
  let whileGone = monos[(seqs.firstIndex { $0 > lastBefore } ?? monos.count)...]
  check(whileGone.allSatisfy { $0 >= 0 && $0 < unplugNs + 50_000_000 },
        "lotrd unplug: no LANDMARKS for frames after the unplug (\(whileGone.count) result(s) came after it, "
          + "mono_ns - unplug: \(whileGone.map { ($0 - unplugNs) / 1_000_000 }) ms)")
  check(shell(reloadCommand) == 0, "lotrd replug: '\(reloadCommand)'")
  let recovered = until(30, isDevice("recovered"))
  check(recovered != nil && jsonMember(recovered!, "state") == "open",
        "lotrd replug: the client got DEVICE recovered/\(recovered.flatMap { jsonMember($0, "state") } ?? "none")")

  // 5. the stream resumes
  let after = landmarks(5, timeout: 60)
  let afterSeqs = after.compactMap { jsonMember($0, "seq").flatMap { Int($0) } }
  check(after.count == 5, "lotrd replug: LANDMARKS resume (\(after.count)/5)")
  check(!afterSeqs.isEmpty && increasing(afterSeqs) && afterSeqs[0] > lastBefore,
        "lotrd replug: seq keeps increasing across the unplug (\(lastBefore) before, then \(afterSeqs))")
  print("      device events seen: \(deviceEvents.joined(separator: ", "))")
  finish()
}
