import CLOTRSystem
import Foundation
import LOTRClient
import XCTest

/// lotrd against clients and inputs that misbehave: each case is bounded in time and in
/// count, over a UNIX socket in a temp dir. (The longer soak is scripts/soak-lotrd.sh.)
final class HostileInputTests: LotrdTestCase {

  func daemon(_ extra: [String], executable: String? = nil, prefix: [String] = []) throws -> Daemon {
    try Daemon(prefix + ["--model", model, "--socket", socket, "--detector", "none", "--log-level", "debug"] + extra,
               socket: socket, dir: dir, executable: executable)
  }

  /// CPU seconds (user + system) lotrd spends over `seconds` of wall time.
  func cpu(of d: Daemon, over seconds: Double) -> Double {
    func ticks() -> Double {
      guard let stat = try? String(contentsOfFile: "/proc/\(d.process.processIdentifier)/stat", encoding: .utf8),
            let close = stat.lastIndex(of: ")") else { return 0 }
      let fields = stat[stat.index(after: close)...].split(separator: " ")
      return (Double(fields[11]) ?? 0) + (Double(fields[12]) ?? 0) // utime, stime (fields 14, 15)
    }
    let hz = Double(sysconf(Int32(_SC_CLK_TCK)))
    let before = ticks()
    usleep(UInt32(seconds * 1e6))
    return (ticks() - before) / hz
  }

  /// A request/response round trip works for a newcomer: the server is not locked out.
  func assertServes(file: StaticString = #filePath, line: UInt = #line) throws {
    let c = try RawClient(socket)
    guard case .version? = try c.next() else { return XCTFail("no VERSION for a new client", file: file, line: line) }
    c.send("?STATS;\n")
    XCTAssertNotNil(try c.next("STATS"), "no STATS for a new client", file: file, line: line)
    c.close()
  }

  // 1. Watchers that go away while no frames flow (an absent camera) must free their slots,
  //    and the socket loop must not spin on their hang-ups.
  func testDeadWatchersFreeTheirSlotsWhenNoFramesFlow() throws {
    let d = try daemon(["--source", "/dev/video-lotr-absent", "--max-clients", "4"])
    defer { d.stop() }
    for _ in 0..<12 {
      let w = try RawClient(socket)
      w.send("?WATCH={\"enable\":true};\n")
      XCTAssertNotNil(try w.next("DEVICES"))
      w.close()
    }
    usleep(300_000)
    try assertServes()
    let used = cpu(of: d, over: 1.0)
    XCTAssertLessThan(used, 0.2, "lotrd used \(used) CPU s in 1 s with its watchers gone")
    XCTAssertTrue(d.process.isRunning)
  }

  // 1. Connections that send nothing cannot hold every slot: at the limit the longest-silent
  //    non-watcher gives way, and --request-timeout closes them anyway. Watchers may stay silent.
  func testSilentConnectionsCannotLockOthersOut() throws {
    let d = try daemon(["--source", "synthetic", "--width", "160", "--height", "120", "--fps", "10",
                        "--max-clients", "3", "--request-timeout", "3"])
    defer { d.stop() }
    usleep(200_000) // the start-up probe's slot is freed
    let watcher = try RawClient(socket)
    watcher.send("?WATCH={\"enable\":true};\n")
    let silent = try (0..<2).map { _ in try RawClient(socket) }
    for s in silent { XCTAssertNotNil(try s.next("VERSION")) }
    usleep(1_200_000)
    try assertServes() // one silent connection was evicted for it
    guard case .error(let why)? = try silent[0].next("ERROR", timeout: 2) else { return XCTFail("evicted client told why") }
    XCTAssertTrue(why.contains("idle"), why)
    // The other is closed by the request timeout; the watcher, silent too, keeps streaming.
    guard case .error(let timeout)? = try silent[1].next("ERROR", timeout: 5) else { return XCTFail("timed-out client told why: \(d.log)") }
    XCTAssertTrue(timeout.contains("no request"), timeout)
    XCTAssertEqual(try watcher.landmarks(count: 5, timeout: 5).count, 5)
  }

  // 2. At the descriptor limit accept(2) fails: no busy loop, no log flood, and service
  //    resumes once descriptors are free.
  func testDescriptorExhaustionBacksOff() throws {
    guard FileManager.default.isExecutableFile(atPath: "/usr/bin/prlimit") else { throw XCTSkip("no prlimit") }
    let d = try daemon(["--source", "synthetic", "--width", "160", "--height", "120", "--fps", "5", "--max-clients", "200"],
                       executable: "/usr/bin/prlimit", prefix: ["--nofile=40", Harness.lotrd])
    defer { d.stop() }
    var held: [RawClient] = []
    for _ in 0..<60 { if let c = try? RawClient(socket) { held.append(c) } }
    usleep(500_000)
    let used = cpu(of: d, over: 1.5)
    XCTAssertLessThan(used, 0.3, "lotrd used \(used) CPU s in 1.5 s at its descriptor limit")
    let lines = d.log.components(separatedBy: "\n").filter { $0.contains("accept:") }.count
    XCTAssertLessThanOrEqual(lines, 3, "accept failures logged \(lines) times")
    held.forEach { $0.close() }
    held.removeAll()
    usleep(1_500_000)
    try assertServes()
  }

  // 7. A bad frame (garbage, or a FIFO named like a frame) in a folder source is skipped and
  //    later frames still play; it does not restart the folder.
  func testBadFramesInAFolderAreSkipped() throws {
    let frames = dir + "/frames"
    try FileManager.default.copyItem(atPath: Harness.fixtures.appendingPathComponent("clip").path, toPath: frames)
    let good = try FileManager.default.contentsOfDirectory(atPath: frames).count
    try Data("not an image".utf8).write(to: URL(fileURLWithPath: frames + "/frame-03a.png"))
    XCTAssertEqual(mkfifo(frames + "/frame-05a.jpg", 0o600), 0)
    let d = try daemon(["--source", frames, "--fps", "0", "--loop", "no"])
    defer { d.stop() }
    let c = try RawClient(socket)
    c.send("?WATCH={\"enable\":true};\n")
    let results = try c.landmarks(count: good, timeout: 20)
    XCTAssertEqual(results.count, good, d.log)
    guard case .device(let end)? = try c.next("DEVICE", timeout: 5) else { return XCTFail("no eof: \(d.log)") }
    XCTAssertEqual(end.event, .eof, "\(end)")
    XCTAssertTrue(d.log.contains("frame skipped"), d.log)
    c.send("?STATS;\n")
    guard case .stats(let st)? = try c.next("STATS") else { return XCTFail("no STATS") }
    XCTAssertEqual(st.badFrames, 2, "the garbage file and the FIFO")
  }

  // 7b. In a looping folder, bad frames are counted in STATS while it plays, each logged once.
  func testBadFramesInALoopingFolderAreCountedWhilePlaying() throws {
    let frames = dir + "/frames"
    try FileManager.default.copyItem(atPath: Harness.fixtures.appendingPathComponent("clip").path, toPath: frames)
    let good = try FileManager.default.contentsOfDirectory(atPath: frames).count
    try Data("not an image".utf8).write(to: URL(fileURLWithPath: frames + "/frame-03a.png"))
    let d = try daemon(["--source", frames, "--fps", "0", "--loop", "yes"])
    defer { d.stop() }
    let c = try RawClient(socket)
    c.send("?WATCH={\"enable\":true};\n")
    XCTAssertEqual(try c.landmarks(count: 2 * good + 1, timeout: 20).count, 2 * good + 1, d.log)
    c.send("?STATS;\n")
    guard case .stats(let st)? = try c.next("STATS") else { return XCTFail("no STATS") }
    XCTAssertGreaterThanOrEqual(st.badFrames, 2, "one per pass")
    XCTAssertEqual(d.log.components(separatedBy: "frame skipped").count - 1, 1, d.log)
  }

  // 4. A model path that is a FIFO is refused at once (--check, start-up, and SIGHUP reload,
  //    after which SIGTERM still stops the daemon).
  func testFIFOModelIsRefusedNotWaitedOn() throws {
    let fifo = dir + "/fifo.lotr"
    XCTAssertEqual(mkfifo(fifo, 0o600), 0)
    let check = Process()
    check.executableURL = URL(fileURLWithPath: Harness.lotrd)
    check.arguments = ["--check", "--model", fifo, "--socket", socket, "--source", "synthetic"]
    check.standardError = FileHandle.nullDevice
    check.standardOutput = FileHandle.nullDevice
    try check.run()
    let deadline = Date().addingTimeInterval(5)
    while check.isRunning && Date() < deadline { usleep(10_000) }
    XCTAssertFalse(check.isRunning, "lotrd --check hangs on a FIFO model")
    if check.isRunning { check.terminate() } else { XCTAssertNotEqual(check.terminationStatus, 0) }

    let config = dir + "/lotrd.conf"
    try "model = \(model)\n".write(toFile: config, atomically: true, encoding: .utf8)
    let d = try Daemon(["--config", config, "--socket", socket, "--source", "synthetic", "--detector", "none",
                        "--width", "160", "--height", "120"], socket: socket, dir: dir)
    try "model = \(fifo)\n".write(toFile: config, atomically: true, encoding: .utf8)
    kill(d.process.processIdentifier, SIGHUP)
    usleep(500_000)
    try assertServes()
    let (status, took) = d.stop()
    XCTAssertEqual(status, 0)
    XCTAssertLessThan(took, 2)
    XCTAssertTrue(d.log.contains("not a regular file"), d.log)
  }
}
