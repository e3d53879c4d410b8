import CLOTRSystem
import Foundation
import LOTR
import LOTRProtocol
import XCTest

// Test plumbing: a tiny 68-point model, the lotrd binary under a temp dir, raw clients.

/// A test case with a temp dir, the test model in it and a socket path, removed afterwards.
class LotrdTestCase: XCTestCase {
  var dir = ""
  var model = ""
  var socket: String { dir + "/lotrd.sock" }

  override func setUpWithError() throws {
    dir = try Harness.tempDir()
    model = dir + "/test.lotr"
    try Harness.makeModel(at: model)
  }

  override func tearDownWithError() throws { try? FileManager.default.removeItem(atPath: dir) }
}

enum Harness {
  static let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
  static let fixtures = repo.appendingPathComponent("Tests/Fixtures/lotrd")

  /// The built lotrd next to the test bundle (.build/<config>/lotrd).
  static var lotrd: String {
    var dir = Bundle.main.bundleURL
    for _ in 0..<4 {
      let candidate = dir.appendingPathComponent("lotrd").path
      if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
      dir = dir.deletingLastPathComponent()
    }
    for b in [Bundle.main] + Bundle.allBundles {
      let c = b.bundleURL.deletingLastPathComponent().appendingPathComponent("lotrd").path
      if FileManager.default.isExecutableFile(atPath: c) { return c }
    }
    return "lotrd"
  }

  /// A temp dir short enough for sun_path.
  static func tempDir() throws -> String {
    var template = Array("/tmp/lotrd-test-XXXXXX".utf8CString)
    guard let p = mkdtemp(&template) else { throw NSError(domain: "mkdtemp", code: Int(errno)) }
    return String(cString: p)
  }

  /// A 68-point model: 8x8 input, one linear layer with small seeded weights around a mean
  /// face (bias), so the points depend on the pixels (a replay exercises the whole path).
  static func makeModel(at path: String, name: String = "lotrd-test-68", seed: UInt64 = 7) throws {
    let meanFace = try Data(contentsOf: repo.appendingPathComponent("Tests/Fixtures/reference/lotr-tiny/afw_2288136183_1.landmarks.bin"))
    let bias: [Float] = meanFace.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
    precondition(bias.count == 136)
    let n = 68, size = 8, inputs = size * size * 3
    var state = seed
    let weights: [Float] = (0..<(2 * n * inputs)).map { _ in
      state = state &* 6364136223846793005 &+ 1442695040888963407
      return (Float(state >> 40) / Float(1 << 24) - 0.5) * 0.004
    }
    let m = ModelMetadata(name: name, landmarkCount: n, landmarkScheme: "ibug-68", mirrorPermutation: Array(0..<n),
                          input: .init(width: size, height: size), normalization: .init(mean: [0.5, 0.5, 0.5], std: [0.25, 0.25, 0.25]),
                          crop: .init(rule: "landmark-box-square", scale: 1.3), output: .init(pixelConvention: "corner"),
                          trainingData: "synthetic", licence: "MIT")
    var b = ModelBuilder(metadata: m)
    let input = b.addTensor("input", .f32, [1, size, size, 3], role: .input)
    let flat = b.addTensor("flat", .f32, [1, inputs])
    b.addNode(OpSchema.Reshape(), "flatten", inputs: [input], outputs: [flat])
    let y = b.addTensor("y", .f32, [1, 2 * n])
    b.addNode(OpSchema.Linear(clamp: ActivationClamp(0, 1)), "head", inputs: [flat, b.addTensor("w", .f32, [2 * n, inputs], role: .constant, data: ModelBuilder.bytes(weights)),
                                        b.addTensor("b", .f32, [2 * n], role: .constant, data: ModelBuilder.bytes(bias))],
              outputs: [y])
    b.addNode(OpSchema.Reshape(), "points", inputs: [y], outputs: [b.addTensor("landmarks", .f32, [1, n, 2], role: .output)])
    try b.write(to: path)
  }
}

/// A running lotrd.
final class Daemon {
  let process = Process()
  let logPath: String
  let socket: String

  init(_ arguments: [String], socket: String, dir: String, environment: [String: String] = [:], executable: String? = nil,
       waitForSocket: Bool = true) throws {
    self.socket = socket
    logPath = dir + "/lotrd-\(UUID().uuidString.prefix(8)).log"
    _ = FileManager.default.createFile(atPath: logPath, contents: nil)
    process.executableURL = URL(fileURLWithPath: executable ?? Harness.lotrd)
    process.arguments = arguments
    var env = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("LOTRD_") && $0.key != "NOTIFY_SOCKET" && !$0.key.hasPrefix("LISTEN_") }
    env.merge(environment) { $1 }
    process.environment = env
    process.standardError = FileHandle(forWritingAtPath: logPath)
    process.standardOutput = FileHandle(forWritingAtPath: logPath)
    try process.run()
    if waitForSocket {
      let deadline = Date().addingTimeInterval(20)
      while Date() < deadline {
        if let c = try? RawClient(socket) { c.close(); return }
        if !process.isRunning { break }
        usleep(20_000)
      }
      throw NSError(domain: "lotrd did not start: \(log)", code: 1)
    }
  }

  var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

  /// SIGTERM and wait; returns the exit status and the seconds it took.
  @discardableResult func stop(timeout: Double = 5) -> (Int32, Double) {
    guard process.isRunning else { return (process.terminationStatus, 0) }
    let start = Date()
    kill(process.processIdentifier, SIGTERM)
    while process.isRunning && Date().timeIntervalSince(start) < timeout { usleep(5_000) }
    if process.isRunning { kill(process.processIdentifier, SIGKILL); process.waitUntilExit() }
    return (process.terminationStatus, Date().timeIntervalSince(start))
  }

  deinit { if process.isRunning { kill(process.processIdentifier, SIGKILL) } }
}

/// A blocking client over the raw socket, with deadlines.
final class RawClient {
  let fd: Int32
  var stream = MessageStream()
  var closed = false

  init(_ path: String) throws {
    var err = [CChar](repeating: 0, count: 256)
    fd = lotr_sys_unix_connect(path, &err, err.count)
    guard fd >= 0 else { throw NSError(domain: String(decoding: err.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self), code: Int(errno)) }
  }

  func send(_ s: String) { send(Array(s.utf8)) }
  func send(_ bytes: [UInt8]) { _ = bytes.withUnsafeBytes { lotr_sys_send(fd, $0.baseAddress, $0.count, 0) } }
  func close() { if !closed { closed = true; _ = lotr_sys_close(fd) } }
  deinit { close() }

  /// Reads until a message arrives or `timeout` passes; nil at timeout or EOF (then `eof`).
  var eof = false
  func next(timeout: Double = 5) throws -> Message? {
    let deadline = lotr_sys_monotonic_ns() + Int64(timeout * 1e9)
    while true {
      if let m = try stream.next() { return m }
      let now = lotr_sys_monotonic_ns()
      guard now < deadline, !eof else { return nil }
      var rev: Int16 = 0
      let ms = Int32(max(1, (deadline - now) / 1_000_000))
      _ = [fd].withUnsafeBufferPointer { fds in [Int16(LOTR_POLLIN)].withUnsafeBufferPointer { ev in lotr_sys_poll(fds.baseAddress, ev.baseAddress, &rev, 1, ms) } }
      if rev == 0 { continue }
      var buf = [UInt8](repeating: 0, count: 65536)
      let n = buf.withUnsafeMutableBytes { lotr_sys_recv(fd, $0.baseAddress, $0.count, 1) }
      if n <= 0 { if n == 0 || (errno != EAGAIN && errno != EINTR) { eof = true } ; continue }
      stream.push(buf[0..<n])
    }
  }

  /// The next message of a class, skipping others.
  func next(_ cls: String, timeout: Double = 5) throws -> Message? {
    let deadline = Date().addingTimeInterval(timeout)
    while Date() < deadline {
      guard let m = try next(timeout: deadline.timeIntervalSinceNow) else { return nil }
      if m.className == cls { return m }
    }
    return nil
  }

  func landmarks(count: Int, timeout: Double = 10) throws -> [LandmarksMessage] {
    var out: [LandmarksMessage] = []
    let deadline = Date().addingTimeInterval(timeout)
    while out.count < count, Date() < deadline {
      guard let m = try next(timeout: deadline.timeIntervalSinceNow) else { break }
      if case .landmarks(let l) = m { out.append(l) }
    }
    return out
  }
}
