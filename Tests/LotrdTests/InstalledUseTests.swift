import CLOTRSystem
import Foundation
import LOTR
import LOTRClient
import XCTest

/// What a user of an installed lotr-edge meets first: default paths, --version, --check
/// against the real device, and `lotr watch` when the device cannot be used.
final class InstalledUseTests: LotrdTestCase {
  var lotr: String { URL(fileURLWithPath: Harness.lotrd).deletingLastPathComponent().appendingPathComponent("lotr").path }

  /// Runs a command to its end (at most `timeout` s); its status and stdout+stderr.
  func run(_ executable: String, _ args: [String], timeout: Double = 15) throws -> (status: Int32, output: String, seconds: Double) {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: executable)
    p.arguments = args
    p.environment = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("LOTRD_") }
    let log = dir + "/run-\(UUID().uuidString.prefix(8)).log"
    _ = FileManager.default.createFile(atPath: log, contents: nil)
    p.standardOutput = FileHandle(forWritingAtPath: log)
    p.standardError = FileHandle(forWritingAtPath: log)
    let start = Date()
    try p.run()
    while p.isRunning && Date().timeIntervalSince(start) < timeout { usleep(10_000) }
    if p.isRunning { p.terminate(); p.waitUntilExit() }
    return (p.terminationStatus, (try? String(contentsOfFile: log, encoding: .utf8)) ?? "", Date().timeIntervalSince(start))
  }

  func testCheckOpensTheCamera() throws {
    let r = try run(Harness.lotrd, ["--check", "--model", model, "--socket", socket, "--source", "/dev/video-lotr-absent"])
    XCTAssertEqual(r.status, 2, r.output)
    XCTAssertTrue(r.output.contains("/dev/video-lotr-absent"), r.output)
    XCTAssertFalse(r.output.contains("configuration OK"), r.output)
  }

  /// PREFIX/bin/lotrd finds PREFIX/share/lotr/models/lotr-m-68.lotr with no --model.
  func testDefaultModelIsFoundBesideTheBinary() throws {
    let prefix = dir + "/prefix"
    try FileManager.default.createDirectory(atPath: prefix + "/bin", withIntermediateDirectories: true)
    try FileManager.default.createDirectory(atPath: prefix + "/share/lotr/models", withIntermediateDirectories: true)
    try FileManager.default.copyItem(atPath: Harness.lotrd, toPath: prefix + "/bin/lotrd")
    try FileManager.default.copyItem(atPath: model, toPath: prefix + "/share/lotr/models/lotr-m-68.lotr")
    let help = try run(prefix + "/bin/lotrd", ["--help"])
    XCTAssertTrue(help.output.contains(prefix + "/share/lotr/models/lotr-m-68.lotr"), help.output)
    let r = try run(prefix + "/bin/lotrd", ["--check", "--socket", socket, "--source", "synthetic"])
    XCTAssertEqual(r.status, 0, r.output)
    XCTAssertTrue(r.output.contains("configuration OK: model lotrd-test-68"), r.output)
  }

  func testVersionFlags() throws {
    let v = try run(lotr, ["--version"])
    XCTAssertEqual(v.status, 0, v.output)
    XCTAssertTrue(v.output.hasPrefix("lotr \(LOTRProto.release) (protocol \(LOTRProto.major)."), v.output)
    let d = try run(Harness.lotrd, ["--version"])
    XCTAssertTrue(d.output.hasPrefix("lotrd \(LOTRProto.release)"), d.output)
  }

  /// A device that cannot be used ends `lotr watch` with its error, not with a timeout.
  func testWatchStopsOnADeviceError() throws {
    let d = try Daemon(["--model", model, "--socket", socket, "--source", "/dev/video-lotr-absent", "--detector", "none"],
                       socket: socket, dir: dir)
    defer { d.stop() }
    let r = try run(lotr, ["watch", "--socket", socket, "--timeout", "20"], timeout: 25)
    XCTAssertNotEqual(r.status, 0, r.output)
    XCTAssertLessThan(r.seconds, 10, "ended by the DEVICE error, not by --timeout: \(r.output)")
    XCTAssertTrue(r.output.contains("device /dev/video-lotr-absent"), r.output)
  }

  /// Clients find the socket of lotrd alone (lotrd.sock) or of the camera units (<camera>.sock).
  func testClientsFindTheUnitsSocket() throws {
    let run = dir + "/run"
    try FileManager.default.createDirectory(atPath: run, withIntermediateDirectories: true)
    func found(_ env: [String: String] = [:]) -> String { LOTRClient.defaultSocket(directory: run, environment: env) }
    XCTAssertEqual(found(), run + "/lotrd.sock", "nothing there: the standalone default")
    FileManager.default.createFile(atPath: run + "/video2.sock", contents: nil)
    XCTAssertEqual(found(), run + "/video2.sock", "the only camera")
    FileManager.default.createFile(atPath: run + "/video0.sock", contents: nil)
    XCTAssertEqual(found(), run + "/video0.sock", "several: video0")
    FileManager.default.createFile(atPath: run + "/lotrd.sock", contents: nil)
    XCTAssertEqual(found(), run + "/lotrd.sock", "a standalone lotrd")
    XCTAssertEqual(found(["LOTRD_SOCKET": "/elsewhere.sock"]), "/elsewhere.sock")
  }

  /// The Pi Camera Module route: rpicam-vid writing I420 or MJPEG into a FIFO that lotrd
  /// reads (`--source yuv420:FIFO` / `mjpeg:FIFO`). Here a thread plays rpicam-vid.
  func testCameraToolStreamOverAFIFO() throws {
    let (w, h) = (64, 48)
    let jpegPath = dir + "/frame.jpg"
    var image = RGBImage(width: w, height: h, fill: (120, 110, 100))
    image.dot(32, 24, radius: 10, color: (230, 200, 180))
    try image.write(to: jpegPath, quality: 90)
    let jpeg = Array(try Data(contentsOf: URL(fileURLWithPath: jpegPath)))
    let i420 = [UInt8](repeating: 128, count: w * h * 3 / 2)
    for (codec, frame) in [("yuv420", i420), ("mjpeg", jpeg)] {
      let fifo = dir + "/picam-\(codec).fifo"
      XCTAssertEqual(mkfifo(fifo, 0o600), 0)
      let d = try Daemon(["--model", model, "--socket", socket, "--source", "\(codec):\(fifo)", "--width", "\(w)", "--height", "\(h)",
                          "--detector", "none"], socket: socket, dir: dir)
      let c = try RawClient(socket)
      c.send("?WATCH={\"enable\":true};\n")
      let writer = Thread {
        let fd = open(fifo, O_WRONLY) // blocks until lotrd opens its end
        guard fd >= 0 else { return }
        for _ in 0..<30 {
          // Split each frame in two writes: frames need not arrive in one piece.
          let half = frame.count / 2
          _ = frame[0..<half].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
          _ = frame[half...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
          usleep(20_000)
        }
        close(fd)
      }
      writer.start()
      let got = try c.landmarks(count: 10, timeout: 10)
      XCTAssertEqual(got.count, 10, "\(codec): \(d.log)")
      XCTAssertEqual(got.first?.width, w)
      guard case .device(let lost)? = try c.next("DEVICE", timeout: 10) else { return XCTFail("\(codec): no DEVICE lost: \(d.log)") }
      XCTAssertEqual(lost.event, .lost, "\(lost)")
      XCTAssertTrue(lost.message?.contains("closed") ?? false, "\(lost)")
      d.stop()
      c.close()
      unlink(socket)
    }
  }
}
