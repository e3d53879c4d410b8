import XCTest
@testable import LOTRProtocol

final class ProtocolTests: XCTestCase {
  func parse(_ s: String, _ current: WatchSettings = WatchSettings()) throws -> Request {
    try Request.parse(Array(s.utf8), current: current)
  }

  func testRequests() throws {
    XCTAssertEqual(try parse("?POLL;"), .poll)
    XCTAssertEqual(try parse("  ?DEVICES;  \r"), .devices)
    XCTAssertEqual(try parse("?STATS;"), .stats)
    XCTAssertEqual(try parse("?VERSION;"), .version)
    XCTAssertEqual(try parse("?WATCH;"), .watch(nil))
    XCTAssertEqual(try parse("?WATCH={\"enable\":true,\"format\":\"binary\",\"rate\":5,\"pose\":false};"),
                   .watch(WatchSettings(enable: true, format: .binary, rate: 5, pose: false)))
    // Members left out keep their value.
    let current = WatchSettings(enable: true, format: .binary, rate: 2)
    XCTAssertEqual(try parse("?WATCH={\"rate\":0};", current), .watch(WatchSettings(enable: true, format: .binary, rate: 0)))
    XCTAssertEqual(try parse("?WATCH={\"class\":\"WATCH\",\"enable\":false};"), .watch(WatchSettings(enable: false)))
    // Every request line a client sends parses back to itself.
    for r in [Request.poll, .devices, .stats, .version, .watch(nil), .watch(WatchSettings(enable: true, format: .binary, rate: 2.5, pose: false))] {
      XCTAssertEqual(try parse(String(r.line.dropLast())), r)
    }
  }

  func testBadRequestsAreRejectedWithReasons() {
    let bad: [(String, String)] = [
      ("POLL;", "start with '?'"), ("?POLL", "end with ';'"), ("?poll;", "bad request name"), ("?FOO;", "unknown request FOO"),
      ("?WATCH={\"enable\":tru};", "bad JSON"), ("?WATCH={\"enable\":1};", "true or false"),
      ("?WATCH={\"format\":\"xml\"};", "json\" or \"binary"), ("?WATCH={\"rate\":-1};", "0...1000"),
      ("?WATCH={\"enabled\":true};", "unknown WATCH member"), ("?WATCH=[];", "JSON object"),
      ("?WATCH={\"a\":1,\"a\":2};", "duplicate"), ("?POLL={\"x\":1};", "takes no argument"),
      ("?WATCH={\"enable\":true,};", "bad JSON"), ("?WATCH={\"x\":[[[[1]]]]};", "deeper"),
      (String(repeating: "x", count: 5000), "longer than"),
    ]
    for (line, needle) in bad {
      XCTAssertThrowsError(try parse(line), line) { XCTAssertTrue("\($0)".contains(needle), "\(line): \($0)") }
    }
  }

  func testJSONParserIsStrictAndBounded() throws {
    XCTAssertEqual(try JSONParser.parse(Array("{\"a\":[1,-2.5e3,true,null,\"\\u00e9\\ud83d\\ude00\"]}".utf8), limits: .message),
                   .object([("a", .array([.integer(1), .number(-2500), .bool(true), .null, .string("é😀")]))]))
    for bad in ["", "{", "[1,]", "01", "1.", "+1", "\"\\x\"", "\"\u{1}\"", "{\"a\" 1}", "nul", "1 2", "\"\\ud800\"", "NaN", "1e999"] {
      XCTAssertThrowsError(try JSONParser.parse(Array(bad.utf8), limits: .message), bad)
    }
    XCTAssertThrowsError(try JSONParser.parse([0x22, 0xFF, 0x22], limits: .message), "invalid UTF-8")
    XCTAssertThrowsError(try JSONParser.parse(Array(String(repeating: "[", count: 100).utf8), limits: .message))
    // Random bytes never crash it and never take long.
    var state: UInt64 = 12345
    for _ in 0..<2000 {
      let n = Int(state % 64)
      let bytes: [UInt8] = (0..<n).map { _ in
        state = state &* 6364136223846793005 &+ 1442695040888963407
        return Array("{}[]\",:0123456789.eE+-truefalsnul \\u".utf8)[Int(state >> 59) % 36]
      }
      _ = try? JSONParser.parse(bytes, limits: .request)
      _ = try? Request.parse(Array("?WATCH=".utf8) + bytes + [59], current: WatchSettings())
    }
  }

  func testWriterEscapesAndFormats() throws {
    var w = JSONWriter()
    w.beginObject()
    w.key("s"); w.string("a\"b\\c\n\u{1}é")
    w.key("f"); w.float(-1.005, decimals: 2)
    w.key("g"); w.float(Float.nan)
    w.key("i"); w.int(-42)
    w.key("u"); w.int(UInt64.max)
    w.key("z"); w.float(-0.001, decimals: 2)
    w.key("a"); w.beginArray(); w.float(3.14159, decimals: 3); w.bool(true); w.null(); w.endArray()
    w.endObject()
    let text = String(decoding: w.bytes, as: UTF8.self)
    XCTAssertEqual(text, "{\"s\":\"a\\\"b\\\\c\\n\\u0001é\",\"f\":-1.00,\"g\":null,\"i\":-42,\"u\":18446744073709551615,\"z\":0.00,\"a\":[3.142,true,null]}")
    XCTAssertNoThrow(try JSONParser.parse(w.bytes, limits: .message))
  }

  func sample() -> LandmarksMessage {
    LandmarksMessage(seq: 7, device: "/dev/video0", monoNs: 123_456_789_012, wallNs: 1_700_000_000_123_456_789, width: 640, height: 480,
                     faces: [Face(id: 3, score: 0.9, box: Box(x: 10, y: 20, width: 100, height: 120),
                                  pose: HeadPose(yaw: 5, pitch: -3, roll: 1.5), eyes: EyeOpenness(right: 0.25, left: 0.125),
                                  points: (0..<136).map { Float($0) * 1.25 }),
                             Face(id: 4, score: 0.5, box: Box(x: 1, y: 2, width: 3, height: 4), pose: nil, points: (0..<136).map { Float($0) })])
  }

  func testLandmarksRoundTripThroughJSONAndBinary() throws {
    let m = sample()
    guard case .landmarks(let fromJSON) = try Message.decode(line: m.jsonLine().dropLast()) else { return XCTFail() }
    XCTAssertEqual(fromJSON, m)
    let frame = BinaryFrame.encode(m)
    XCTAssertEqual(frame.count, 8 + 36 + 2 * (36 + 8 * 68 + 8))
    XCTAssertEqual(Array(frame[0..<8]), [UInt8(truncatingIfNeeded: frame.count - 8), UInt8((frame.count - 8) >> 8), 0, 0, 1, 1, 0, 0])
    guard case .landmarks(let fromBinary) = try BinaryFrame.decode(kind: frame[4], payload: Array(frame[8...]), device: m.device) else {
      return XCTFail()
    }
    XCTAssertEqual(fromBinary, m)
    XCTAssertThrowsError(try BinaryFrame.decode(kind: 1, payload: Array(frame[8..<100])))
  }

  /// A protocol 1.0 server's record (faces end after the points) still reads, without eyes;
  /// a longer face record (a later minor) reads, its extra bytes skipped.
  func testBinaryFaceRecordsOfOtherMinorsRead() throws {
    let m = sample()
    var payload = Array(BinaryFrame.encode(m)[8...])
    let (header, face) = (BinaryFrame.landmarksHeaderBytes, BinaryFrame.faceBytes(points: 68))
    func faceBytesField(_ p: inout [UInt8], _ v: Int) { p[32] = UInt8(v & 0xff); p[33] = UInt8(v >> 8) }
    var old = Array(payload[0..<header])
    for k in 0..<2 { old += payload[(header + k * face)..<(header + k * face + face - 8)] }
    faceBytesField(&old, face - 8)
    guard case .landmarks(let fromOld) = try BinaryFrame.decode(kind: 1, payload: old, device: m.device) else { return XCTFail() }
    var expected = m
    for k in expected.faces.indices { expected.faces[k].eyes = nil }
    XCTAssertEqual(fromOld, expected)
    var newer = Array(payload[0..<header])
    for k in 0..<2 { newer += payload[(header + k * face)..<(header + (k + 1) * face)] + [1, 2, 3, 4] }
    faceBytesField(&newer, face + 4)
    guard case .landmarks(let fromNewer) = try BinaryFrame.decode(kind: 1, payload: newer, device: m.device) else { return XCTFail() }
    XCTAssertEqual(fromNewer, m)
    faceBytesField(&payload, 36 + 8 * 68 - 4)
    XCTAssertThrowsError(try BinaryFrame.decode(kind: 1, payload: payload), "a face record shorter than 1.0's")
  }

  func testEveryMessageRoundTrips() throws {
    let messages: [Message] = [
      .version(VersionMessage(model: ModelInfo(name: "m", landmarks: 68, scheme: "ibug-68"))),
      .version(VersionMessage(model: nil)),
      .watch(WatchSettings(enable: true, format: .binary, rate: 10, pose: false)),
      .device(DeviceMessage(path: "/dev/video0", driver: "v4l2", state: "lost", event: .lost, message: "unplugged", width: 640, height: 480, fps: 30)),
      .devices([DeviceMessage(path: "synthetic", driver: "synthetic", state: "closed")]),
      .stats(StatsMessage(fps: 29.5, frames: 100, captureDropped: 2, badFrames: 5, clientDropped: 3, clients: 4, watchers: 2,
                          latencyMs: [StageLatency(name: "infer", p50: 4.5, p99: 9.25)], youDropped: 1, youQueued: 2, rssKB: 20000,
                          cpuSeconds: 1.5, uptime: 10)),
      .poll(active: 1, landmarks: [sample()]),
      .dropped(count: 3, total: 9),
      .error("bad \"thing\""),
    ]
    for m in messages {
      XCTAssertEqual(try Message.decode(line: m.jsonLine().dropLast()), m, m.className)
      let frame = BinaryFrame.encode(m)
      XCTAssertEqual(try BinaryFrame.decode(kind: frame[4], payload: Array(frame[8...])), m, m.className)
    }
    guard case .unknown(let cls, _) = try Message.decode(line: Array("{\"class\":\"FUTURE\",\"x\":1}".utf8)) else { return XCTFail() }
    XCTAssertEqual(cls, "FUTURE")
  }

  func testStreamSwitchesToBinaryAfterTheWatchReply() throws {
    var s = MessageStream()
    var bytes = Message.version(VersionMessage(model: nil)).jsonLine()
    bytes += Message.watch(WatchSettings(enable: true, format: .binary)).jsonLine()
    bytes += BinaryFrame.encode(sample())
    bytes += BinaryFrame.encode(.watch(WatchSettings(enable: true, format: .json)))
    bytes += Message.error("x").jsonLine()
    // Byte by byte: framing must not depend on read boundaries.
    var classes: [String] = []
    for b in bytes {
      s.push([b])
      while let m = try s.next() { classes.append(m.className) }
    }
    XCTAssertEqual(classes, ["VERSION", "WATCH", "LANDMARKS", "WATCH", "ERROR"])
  }

  func testLineSplitterCapsLines() {
    var s = LineSplitter(limit: 8)
    XCTAssertEqual(s.push(Array("?POLL;\n?ST".utf8)), [.line(Array("?POLL;".utf8))])
    XCTAssertEqual(s.push(Array("ATS;\n".utf8)), [.line(Array("?STATS;".utf8))])
    XCTAssertEqual(s.push([UInt8](repeating: 65, count: 20)), [.tooLong])
    XCTAssertLessThan(s.pendingBytes, 8)
    XCTAssertEqual(s.push(Array("AAA\n?POLL;\n".utf8)), [.line(Array("?POLL;".utf8))], "the rest of the long line is discarded")
  }
}
