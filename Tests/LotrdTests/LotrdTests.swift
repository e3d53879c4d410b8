import CLOTRSystem
import Foundation
import LOTRClient
import XCTest

/// lotrd end to end: the binary, a real socket under a temp dir, the test model.
final class LotrdTests: LotrdTestCase {

  func synthetic(fps: Int = 30, _ extra: [String] = []) -> [String] {
    ["--model", model, "--socket", socket, "--source", "synthetic", "--width", "160", "--height", "120", "--fps", "\(fps)",
     "--log-level", "debug", "--detector", "none"] + extra
  }

  func watch(_ c: RawClient, format: String = "json") throws {
    c.send("?WATCH={\"enable\":true,\"format\":\"\(format)\"};\n")
  }

  // gpsfake style: the committed clip replayed in lockstep against committed golden output.
  func testReplayedClipMatchesGoldenOutput() throws {
    let clip = Harness.fixtures.appendingPathComponent("clip").path
    let d = try Daemon(["--model", model, "--socket", socket, "--source", clip, "--fps", "0", "--loop", "no", "--detector", "none"], socket: socket, dir: dir)
    defer { d.stop() }
    let c = try RawClient(socket)
    guard case .version(let v)? = try c.next() else { return XCTFail("no VERSION first") }
    XCTAssertEqual(v.protoMajor, LOTRProto.major)
    XCTAssertEqual(v.model?.landmarks, 68)
    try watch(c)
    var got: [LandmarksMessage] = []
    var sawEOF = false
    while let m = try c.next(timeout: 20) {
      if case .landmarks(var l) = m { l.monoNs = 0; l.wallNs = 0; l.device = "clip"; got.append(l) }
      if case .device(let dev) = m, dev.event == .eof { sawEOF = true; break }
    }
    XCTAssertTrue(sawEOF, "DEVICE eof after the last frame")
    XCTAssertEqual(got.count, 12, "every frame of the clip, none dropped in lockstep")
    let golden = Harness.fixtures.appendingPathComponent("golden.jsonl")
    if ProcessInfo.processInfo.environment["LOTRD_REGENERATE_GOLDEN"] == "1" {
      try Data(got.flatMap { $0.jsonLine() }).write(to: golden)
      print("wrote \(golden.path)")
      return
    }
    let lines = try String(contentsOf: golden, encoding: .utf8).split(separator: "\n")
    let expected = try lines.map { line -> LandmarksMessage in
      guard case .landmarks(let l) = try Message.decode(line: Array(line.utf8)) else { throw NSError(domain: "golden", code: 1) }
      return l
    }
    XCTAssertEqual(expected.count, got.count)
    var worst: Float = 0
    for (e, g) in zip(expected, got) {
      XCTAssertEqual(e.seq, g.seq); XCTAssertEqual(e.width, g.width); XCTAssertEqual(e.height, g.height)
      XCTAssertEqual(e.faces.count, g.faces.count)
      for (ef, gf) in zip(e.faces, g.faces) {
        XCTAssertEqual(ef.points.count, gf.points.count)
        for (a, b) in zip(ef.points, gf.points) { worst = max(worst, abs(a - b)) }
        // Protocol 1.1: eye openness, the aspect ratio of each eye's six points, recomputed here.
        func ear(_ first: Int) -> Float {
          func d(_ i: Int, _ j: Int) -> Float {
            let (p, q) = (2 * (first + i), 2 * (first + j))
            return ((gf.points[p] - gf.points[q]) * (gf.points[p] - gf.points[q])
              + (gf.points[p + 1] - gf.points[q + 1]) * (gf.points[p + 1] - gf.points[q + 1])).squareRoot()
          }
          return (d(1, 5) + d(2, 4)) / (2 * d(0, 3))
        }
        let eyes = try XCTUnwrap(gf.eyes, "a 68-point face carries eyes")
        XCTAssertEqual(eyes.right, ear(36), accuracy: 3e-3, "JSON: eyes to 3 decimals, points to 2")
        XCTAssertEqual(eyes.left, ear(42), accuracy: 3e-3)
        XCTAssertEqual(ef.eyes?.right ?? .nan, eyes.right, accuracy: 2e-3, "golden eyes")
      }
    }
    XCTAssertLessThanOrEqual(worst, 0.05, "largest landmark difference from golden, pixels")
  }

  // Unplug and replug, with a folder standing in for the camera: DEVICE lost, then
  // recovered, and the stream resumes (the VM test does the same with a real V4L2 device).
  func testSourceLossAndRecoveryReachWatchersAsDeviceEvents() throws {
    let frames = dir + "/frames", away = dir + "/away"
    try FileManager.default.copyItem(atPath: Harness.fixtures.appendingPathComponent("clip").path, toPath: frames)
    let d = try Daemon(["--model", model, "--socket", socket, "--source", frames, "--fps", "30", "--detector", "none"],
                       socket: socket, dir: dir)
    defer { d.stop() }
    let c = try RawClient(socket)
    try watch(c)
    XCTAssertEqual(try c.landmarks(count: 3).count, 3)
    try FileManager.default.moveItem(atPath: frames, toPath: away) // unplug
    guard case .device(let lost)? = try c.next("DEVICE", timeout: 5) else { return XCTFail("DEVICE lost: \(d.log)") }
    XCTAssertEqual(lost.event, .lost); XCTAssertEqual(lost.state, "lost")
    try FileManager.default.moveItem(atPath: away, toPath: frames) // replug
    guard case .device(let back)? = try c.next("DEVICE", timeout: 5) else { return XCTFail("DEVICE recovered: \(d.log)") }
    XCTAssertEqual(back.event, .recovered); XCTAssertEqual(back.state, "open")
    XCTAssertEqual(try c.landmarks(count: 3).count, 3, "the stream resumes")
  }

  func testTwentyConcurrentClientsAllReceiveTheStream() throws {
    let d = try Daemon(synthetic(fps: 30), socket: socket, dir: dir)
    defer { d.stop() }
    let clients = try (0..<20).map { _ in try RawClient(socket) }
    for (i, c) in clients.enumerated() { try watch(c, format: i % 2 == 0 ? "json" : "binary") }
    var seqs: [[UInt64]] = []
    for c in clients { seqs.append(try c.landmarks(count: 10, timeout: 10).map(\.seq)) }
    for (i, s) in seqs.enumerated() {
      XCTAssertEqual(s.count, 10, "client \(i) got \(s.count) results")
      XCTAssertEqual(s, s.sorted(), "in order")
    }
    let status = try RawClient(socket)
    status.send("?STATS;\n")
    guard case .stats(let st)? = try status.next("STATS") else { return XCTFail("no STATS") }
    XCTAssertEqual(st.clients, 21)
    XCTAssertEqual(st.watchers, 20)
  }

  func testAClientThatNeverReadsIsDisconnectedAndDoesNotSlowTheStream() throws {
    let fps = 40.0
    let d = try Daemon(synthetic(fps: 40, ["--stall-timeout", "1", "--send-buffer", "4096", "--queue", "2"]), socket: socket, dir: dir)
    defer { d.stop() }
    let good = try RawClient(socket)
    try watch(good)
    _ = try good.landmarks(count: 5)
    func rate(_ n: Int) throws -> Double {
      let got = try good.landmarks(count: n, timeout: 6)
      return Double(got.count - 1) / (Double(got.last!.monoNs - got.first!.monoNs) / 1e9)
    }
    let before = try rate(Int(fps * 1.5))
    let lazy = try RawClient(socket)
    try watch(lazy) // and never read
    let start = Date()
    let with = try rate(Int(fps * 3))
    print("results/s to a reading client: \(before) alone, \(with) beside a stalled one")
    XCTAssertGreaterThan(with, min(before, fps) * 0.85, "frame rate with a stalled client: \(with), before \(before)")
    XCTAssertLessThan(Date().timeIntervalSince(start), 5)
    let deadline = Date().addingTimeInterval(5)
    while !d.log.contains("stalled") && Date() < deadline { usleep(50_000) }
    XCTAssertTrue(d.log.contains("read nothing for"), "the stalled client is disconnected: \(d.log.suffix(2000))")
    let status = try RawClient(socket)
    status.send("?STATS;\n")
    guard case .stats(let st)? = try status.next("STATS") else { return XCTFail("no STATS") }
    XCTAssertEqual(st.clients, 2, "good + status")
    XCTAssertGreaterThan(st.clientDropped, 0, "the stalled client's losses are counted")
  }

  func testASlowClientLosesResultsAndIsToldSo() throws {
    let d = try Daemon(synthetic(fps: 60, ["--send-buffer", "4096", "--queue", "2"]), socket: socket, dir: dir)
    defer { d.stop() }
    let c = try RawClient(socket)
    try watch(c)
    XCTAssertEqual(try c.landmarks(count: 2).count, 2)
    usleep(800_000) // fall behind: ~48 results while the socket holds only a few
    var dropped: UInt64 = 0
    var seqs: [UInt64] = []
    let deadline = Date().addingTimeInterval(5)
    while dropped == 0, Date() < deadline, let m = try c.next(timeout: 2) {
      if case .dropped(let count, let total) = m { dropped = count; XCTAssertEqual(count, total) }
      if case .landmarks(let l) = m { seqs.append(l.seq) }
    }
    XCTAssertGreaterThan(dropped, 10, "DROPPED reports the lost results")
    c.send("?STATS;\n")
    guard case .stats(let st)? = try c.next("STATS") else { return XCTFail("STATS") }
    XCTAssertGreaterThanOrEqual(st.youDropped, dropped)
    XCTAssertEqual(st.captureDropped, 0, "the camera side lost nothing")
    XCTAssertTrue(d.process.isRunning)
  }

  func testMalformedRequestsLeaveTheDaemonServingOthers() throws {
    let d = try Daemon(synthetic(fps: 30), socket: socket, dir: dir)
    defer { d.stop() }
    let good = try RawClient(socket)
    try watch(good)
    XCTAssertEqual(try good.landmarks(count: 3).count, 3)
    var rng = SystemRandomNumberGenerator()
    let seed = UInt64.random(in: 0...UInt64.max, using: &rng)
    print("fuzz seed \(seed)")
    var state = seed
    func rand() -> UInt64 { state = state &* 6364136223846793005 &+ 1442695040888963407; return state >> 33 }
    let cases: [[UInt8]] = [
      Array("?WATCH={\"enable\":tru};\n".utf8), Array("?FOO;\n".utf8), Array("WATCH;\n".utf8), Array("?WATCH={\"x\":1};\n".utf8),
      Array("?WATCH={\"enable\":true,\"enable\":false};\n".utf8), Array("?WATCH=[1,2];\n".utf8), Array("?POLL={};extra\n".utf8),
      Array("?WATCH={\"rate\":1e999};\n".utf8), Array(String(repeating: "[", count: 3000).utf8) + [10],
      [UInt8](repeating: 0x41, count: 10_000) + [10], [0xFF, 0xFE, 0x00, 0x0A], Array("?WATCH={\"format\":\"\u{1}\"};\n".utf8),
    ]
    for (i, bytes) in cases.enumerated() {
      let c = try RawClient(socket)
      c.send(bytes)
      XCTAssertNotNil(try c.next("ERROR", timeout: 3), "case \(i) answered with ERROR")
      c.close()
    }
    for _ in 0..<20 {
      let c = try RawClient(socket)
      c.send((0..<Int(rand() % 6000)).map { _ in UInt8(truncatingIfNeeded: rand()) })
      if rand() % 2 == 0 { _ = lotr_sys_shutdown_write(c.fd) }
      c.close()
    }
    // Half-closed after a request: the reply still arrives, then the server closes.
    let half = try RawClient(socket)
    half.send("?POLL;\n")
    _ = lotr_sys_shutdown_write(half.fd)
    XCTAssertNotNil(try half.next("POLL", timeout: 3))
    XCTAssertNil(try half.next(timeout: 3)); XCTAssertTrue(half.eof)
    // A half-closed watcher keeps streaming (echo '?WATCH=...' | nc -U).
    let hw = try RawClient(socket)
    try watch(hw)
    _ = lotr_sys_shutdown_write(hw.fd)
    XCTAssertEqual(try hw.landmarks(count: 3).count, 3)
    // Others were never disturbed.
    XCTAssertEqual(try good.landmarks(count: 10, timeout: 5).count, 10)
    let fresh = try RawClient(socket)
    guard case .version? = try fresh.next() else { return XCTFail("new clients still welcome") }
    XCTAssertTrue(d.process.isRunning)
  }

  func testClientLimit() throws {
    let d = try Daemon(synthetic(fps: 10, ["--max-clients", "2"]), socket: socket, dir: dir)
    defer { d.stop() }
    usleep(200_000) // the start-up probe's slot is freed
    let a = try RawClient(socket), b = try RawClient(socket)
    XCTAssertNotNil(try a.next("VERSION")); XCTAssertNotNil(try b.next("VERSION"))
    let c = try RawClient(socket)
    guard case .error(let text)? = try c.next() else { return XCTFail("third client refused with ERROR") }
    XCTAssertTrue(text.contains("too many clients"))
  }

  func testSocketActivation() throws {
    let activate = "/usr/bin/systemd-socket-activate"
    guard FileManager.default.isExecutableFile(atPath: activate) else { throw XCTSkip("no systemd-socket-activate") }
    let d = try Daemon(["-l", socket, Harness.lotrd, "--model", model, "--socket", dir + "/unused.sock", "--source", "synthetic", "--detector", "none",
                        "--width", "160", "--height", "120"], socket: socket, dir: dir, executable: activate, waitForSocket: false)
    defer { d.stop() }
    var c: RawClient?
    for _ in 0..<200 where c == nil { c = try? RawClient(socket); if c == nil { usleep(20_000) } }
    guard let c else { return XCTFail("no socket from systemd-socket-activate: \(d.log)") }
    guard case .version? = try c.next(timeout: 15) else { return XCTFail("no VERSION over the inherited socket: \(d.log)") }
    try watch(c)
    XCTAssertEqual(try c.landmarks(count: 3).count, 3)
    XCTAssertTrue(d.log.contains("serving inherited socket"), d.log)
    XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/unused.sock"))
  }

  func testNotifyReadyWatchdogStatusAndStopping() throws {
    let notifyPath = dir + "/notify.sock"
    let fd = Glibc.socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
    defer { close(fd) }
    var addr = sockaddr_un()
    addr.sun_family = sa_family_t(AF_UNIX)
    withUnsafeMutableBytes(of: &addr.sun_path) { raw in _ = notifyPath.utf8CString.withUnsafeBytes { raw.copyMemory(from: $0) } }
    let bound = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) } }
    XCTAssertEqual(bound, 0)
    var tv = timeval(tv_sec: 0, tv_usec: 200_000)
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
    let d = try Daemon(synthetic(fps: 10), socket: socket, dir: dir, environment: ["NOTIFY_SOCKET": notifyPath, "WATCHDOG_USEC": "300000"])
    var seen: [String] = []
    func collect(until: (String) -> Bool, timeout: Double) {
      let deadline = Date().addingTimeInterval(timeout)
      var buf = [UInt8](repeating: 0, count: 4096)
      while Date() < deadline {
        let n = recv(fd, &buf, buf.count, 0)
        if n > 0 {
          let s = String(decoding: buf[0..<n], as: UTF8.self)
          seen.append(s)
          if until(s) { return }
        }
      }
    }
    collect(until: { $0.contains("WATCHDOG=1") && seen.joined().contains("READY=1") }, timeout: 5)
    XCTAssertTrue(seen.contains { $0.contains("READY=1") }, "\(seen)")
    XCTAssertTrue(seen.contains { $0.contains("WATCHDOG=1") }, "\(seen)")
    collect(until: { $0.hasPrefix("STATUS=") && $0.contains("fps") }, timeout: 3)
    XCTAssertTrue(seen.contains { $0.hasPrefix("STATUS=") && $0.contains("fps") }, "\(seen)")
    d.stop()
    collect(until: { $0.contains("STOPPING=1") }, timeout: 2)
    XCTAssertTrue(seen.contains { $0.contains("STOPPING=1") }, "\(seen)")
  }

  func testSigtermStopsWithinASecondAndRemovesTheSocket() throws {
    let d = try Daemon(synthetic(fps: 30), socket: socket, dir: dir)
    let c = try RawClient(socket)
    try watch(c)
    XCTAssertEqual(try c.landmarks(count: 3).count, 3)
    let (status, took) = d.stop()
    XCTAssertEqual(status, 0, d.log)
    XCTAssertLessThan(took, 1.0)
    XCTAssertFalse(FileManager.default.fileExists(atPath: socket), "socket file removed")
    XCTAssertNil(try c.landmarks(count: 1, timeout: 1).first)
  }

  func testStaleSocketIsReplacedAndALiveOneIsNotStolen() throws {
    // A stale socket file: bound, then its owner went away.
    let fd = Glibc.socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
    var addr = sockaddr_un()
    addr.sun_family = sa_family_t(AF_UNIX)
    withUnsafeMutableBytes(of: &addr.sun_path) { raw in _ = socket.utf8CString.withUnsafeBytes { raw.copyMemory(from: $0) } }
    _ = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) } }
    close(fd)
    XCTAssertTrue(FileManager.default.fileExists(atPath: socket))
    let d = try Daemon(synthetic(fps: 10), socket: socket, dir: dir)
    defer { d.stop() }
    let second = try Daemon(synthetic(fps: 10), socket: socket, dir: dir, waitForSocket: false)
    second.process.waitUntilExit()
    XCTAssertEqual(second.process.terminationStatus, 3, second.log)
    XCTAssertTrue(second.log.contains("in use"), second.log)
    XCTAssertNotNil(try RawClient(socket).next("VERSION"), "the first one still serves")
    let file = dir + "/regular"
    FileManager.default.createFile(atPath: file, contents: Data("x".utf8))
    let third = try Daemon(synthetic(fps: 10) + ["--socket", file], socket: file, dir: dir, waitForSocket: false)
    third.process.waitUntilExit()
    XCTAssertNotEqual(third.process.terminationStatus, 0)
    XCTAssertTrue(third.log.contains("not a socket"), third.log)
  }

  func testInvalidConfigurationFailsBeforeStarting() throws {
    func run(_ args: [String], env: [String: String] = [:]) throws -> (Int32, String) {
      let d = try Daemon(args, socket: socket, dir: dir, environment: env, waitForSocket: false)
      d.process.waitUntilExit()
      return (d.process.terminationStatus, d.log)
    }
    for (args, env, needle) in [
      (synthetic() + ["--threads", "0"], [:], "--threads 0"),
      (synthetic() + ["--bogus", "1"], [:], "unknown option --bogus"),
      (synthetic(), ["LOTRD_FPS": "fast"], "LOTRD_FPS=fast"),
      (synthetic(), ["LOTRD_NOPE": "1"], "LOTRD_NOPE"),
      (["--model", dir + "/missing.lotr", "--socket", socket, "--source", "synthetic"], [:], "missing.lotr"),
      (["--model", model, "--socket", socket, "--source", dir + "/nothing"], [:], "nothing"),
    ] as [([String], [String: String], String)] {
      let (status, log) = try run(args, env: env)
      XCTAssertEqual(status, 2, "\(args) \(env): \(log)")
      XCTAssertTrue(log.contains(needle), "\(needle) in: \(log)")
      XCTAssertFalse(FileManager.default.fileExists(atPath: socket))
    }
    let conf = dir + "/lotrd.conf"
    try "# comment\nfps = 12\nwidth=64\nunknown = 3\n".write(toFile: conf, atomically: true, encoding: .utf8)
    let (status, log) = try run(synthetic() + ["--config", conf])
    XCTAssertEqual(status, 2); XCTAssertTrue(log.contains("lotrd.conf:4: unknown setting 'unknown'"), log)
    let (hs, help) = try run(["--help"])
    XCTAssertEqual(hs, 0)
    for option in ["--source", "--model", "--socket", "--group", "--threads", "--fps", "--idle-timeout", "--max-clients",
                   "--queue", "--stall-timeout", "--log-level", "--focal", "LOTRD_SOCKET", "SIGHUP", "LISTEN_FDS"] {
      XCTAssertTrue(help.contains(option), "--help documents \(option)")
    }
    let (cs, check) = try run(synthetic() + ["--check"])
    XCTAssertEqual(cs, 0, check); XCTAssertTrue(check.contains("configuration OK"))
  }

  func testSighupReloadsTheModelAndKeepsTheOldOneWhenTheNewOneIsBad() throws {
    let conf = dir + "/lotrd.conf"
    try "model = \(model)\n".write(toFile: conf, atomically: true, encoding: .utf8)
    let d = try Daemon(["--config", conf, "--socket", socket, "--source", "synthetic", "--width", "160", "--height", "120",
                        "--detector", "none"],
                       socket: socket, dir: dir)
    defer { d.stop() }
    let c = try RawClient(socket)
    XCTAssertNotNil(try c.next("VERSION"))
    try watch(c)
    XCTAssertEqual(try c.landmarks(count: 2).count, 2)
    // A broken model: the reload is refused and the stream goes on.
    let bad = dir + "/bad.lotr"
    try Data("not a model".utf8).write(to: URL(fileURLWithPath: bad))
    try "model = \(bad)\n".write(toFile: conf, atomically: true, encoding: .utf8)
    kill(d.process.processIdentifier, SIGHUP)
    XCTAssertEqual(try c.landmarks(count: 5).count, 5)
    XCTAssertTrue(d.log.contains("keeping model lotrd-test-68"), d.log)
    // A good new model: swapped in, VERSION sent again.
    let other = dir + "/other.lotr"
    try Harness.makeModel(at: other, name: "lotrd-test-other", seed: 9)
    try "model = \(other)\n".write(toFile: conf, atomically: true, encoding: .utf8)
    kill(d.process.processIdentifier, SIGHUP)
    guard case .version(let v)? = try c.next("VERSION") else { return XCTFail("VERSION after reload") }
    XCTAssertEqual(v.model?.name, "lotrd-test-other")
    XCTAssertEqual(try c.landmarks(count: 3).count, 3)
  }

  func testPollDevicesStatsAndBinaryMode() throws {
    let d = try Daemon(synthetic(fps: 30, ["--idle-timeout", "0.3"]), socket: socket, dir: dir)
    defer { d.stop() }
    let c = try RawClient(socket)
    _ = try c.next("VERSION")
    c.send("?DEVICES;\n")
    guard case .devices(let list)? = try c.next("DEVICES") else { return XCTFail("DEVICES") }
    XCTAssertEqual(list.first?.driver, "synthetic"); XCTAssertEqual(list.first?.state, "closed", "lazy: not open before a watcher")
    try watch(c, format: "binary")
    guard case .device(let opened)? = try c.next("DEVICE") else { return XCTFail("DEVICE opened") }
    XCTAssertEqual(opened.event, .opened)
    let results = try c.landmarks(count: 3)
    XCTAssertEqual(results.count, 3)
    XCTAssertEqual(results.first?.faces.first?.points.count, 136)
    XCTAssertNotNil(results.first?.faces.first?.pose)
    c.send("?POLL;\n")
    guard case .poll(let active, let last)? = try c.next("POLL") else { return XCTFail("POLL in binary mode") }
    XCTAssertEqual(active, 1); XCTAssertEqual(last.count, 1)
    c.send("?WATCH={\"enable\":false};\n")
    _ = try c.next("WATCH")
    guard case .stats? = try { c.send("?STATS;\n"); return try c.next("STATS") }() else { return XCTFail("STATS") }
    // Idle: the source closes after --idle-timeout.
    let deadline = Date().addingTimeInterval(3)
    var state = ""
    while Date() < deadline && state != "closed" {
      c.send("?DEVICES;\n")
      if case .devices(let l)? = try c.next("DEVICES") { state = l.first?.state ?? "" }
      usleep(100_000)
    }
    XCTAssertEqual(state, "closed")
  }
}

/// LOTRClient against the real daemon: the async sequence and the request helpers.
final class LOTRClientTests: XCTestCase {
  func testAsyncSequenceOfResults() async throws {
    let dir = try Harness.tempDir()
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let model = dir + "/m.lotr", socket = dir + "/s.sock"
    try Harness.makeModel(at: model)
    let d = try Daemon(["--model", model, "--socket", socket, "--source", "synthetic", "--width", "96", "--height", "72",
                        "--fps", "60", "--detector", "none"], socket: socket, dir: dir)
    defer { d.stop() }
    let client = try LOTRClient(path: socket)
    XCTAssertEqual(client.version.model?.landmarks, 68)
    guard case .stats(let s) = try client.ask(.stats, replyClass: "STATS") else { return XCTFail() }
    XCTAssertEqual(s.clients, 1)
    var seqs: [UInt64] = []
    for try await result in client.landmarks(watch: WatchSettings(enable: true, format: .binary)) {
      XCTAssertEqual(result.faces.first?.points.count, 136)
      seqs.append(result.seq)
      if seqs.count == 5 { break }
    }
    XCTAssertEqual(seqs, seqs.sorted())
    XCTAssertThrowsError(try LOTRClient(path: dir + "/none.sock"))
  }
}
