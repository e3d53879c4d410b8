import CLOTRKernels
import CLOTRKernelTester
import Glibc
import LOTR
import XCTest

@testable import LOTRCapture

final class CaptureTests: XCTestCase {
  private var scratch = ""

  override func setUp() {
    scratch = "/tmp/lotr-capture-tests-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
    mkdir(scratch, 0o755)
  }

  override func tearDown() {
    for name in directoryEntries(scratch) ?? [] { unlink(scratch + "/" + name) }
    rmdir(scratch)
  }

  private func gradient(_ w: Int, _ h: Int, shift: Int) -> RGBImage {
    var px = [UInt8](repeating: 0, count: w * h * 3)
    for y in 0..<h { for x in 0..<w {
      px[(y * w + x) * 3] = UInt8((x * 4 + shift) & 255); px[(y * w + x) * 3 + 1] = UInt8((y * 4) & 255); px[(y * w + x) * 3 + 2] = 128
    } }
    return RGBImage(width: w, height: h, pixels: px)
  }

  private func meanAbsDiff(_ a: [UInt8], _ b: [UInt8]) -> Double {
    zip(a, b).reduce(0.0) { $0 + abs(Double($1.0) - Double($1.1)) } / Double(max(1, a.count))
  }

  // MARK: clips

  func testClipRoundTrip() throws {
    let path = scratch + "/round.lclip"
    let writer = try ClipWriter(path: path, header: ClipHeader(width: 64, height: 48, rateNumerator: 30))
    var images: [RGBImage] = []
    for i in 0..<5 {
      let image = gradient(64, 48, shift: i * 10)
      images.append(image)
      // sequence 3 is skipped: one frame "dropped" while recording
      let seq = UInt64(i < 3 ? i : i + 1)
      try writer.append(Frame(sequence: seq, timestampNs: 1_000_000_000 + Int64(seq) * 33_333_333, width: 64, height: 48,
                              format: .rgb8, pixels: image.pixels))
    }
    // a frame that already is a JPEG is stored byte for byte
    let jpeg = try writer.encodeJPEG(images[0], quality: 90)
    try writer.append(jpeg: jpeg, timestampNs: 1_000_000_000 + 7 * 33_333_333, sequence: 7)
    try writer.close()

    let reader = try ClipReader(path: path)
    XCTAssertEqual(reader.header, ClipHeader(width: 64, height: 48, rateNumerator: 30))
    var records: [ClipRecord] = []
    while let r = try reader.next() { records.append(r) }
    XCTAssertFalse(reader.truncated)
    XCTAssertEqual(records.count, 6)
    XCTAssertEqual(records.map(\.sequence), [0, 1, 2, 4, 5, 7])
    XCTAssertEqual(records[0].timestampNs, 0)
    XCTAssertEqual(records[3].timestampNs, 4 * 33_333_333)
    XCTAssertEqual(records[5].jpeg, jpeg)

    let source = try ClipSource(path: path, output: .rgb8, loop: false)
    var frames: [Frame] = []
    while case .frame(let f) = try source.next(timeout: 1) { frames.append(f) }
    XCTAssertEqual(frames.count, 6)
    XCTAssertEqual(source.droppedFrames, 2)  // gaps 2->4 and 5->7
    for (f, image) in zip(frames, images) {
      XCTAssertEqual(f.width, 64)
      XCTAssertLessThan(meanAbsDiff(f.pixels, image.pixels), 4, "JPEG round trip stays close")
    }
    XCTAssertTrue(zip(frames, frames.dropFirst()).allSatisfy { $1.timestampNs > $0.timestampNs })
    if case .ended = try source.next(timeout: 0) {} else { XCTFail("a non-looping clip ends") }

    // looping: timestamps keep increasing across the wrap; gray output
    let looping = try ClipSource(path: path, output: .gray8, loop: true)
    var last = Int64.min
    for _ in 0..<14 {
      guard case .frame(let f) = try looping.next(timeout: 1) else { return XCTFail("looping clip stopped") }
      XCTAssertEqual(f.format, .gray8)
      XCTAssertEqual(f.pixels.count, 64 * 48)
      XCTAssertGreaterThan(f.timestampNs, last)
      last = f.timestampNs
    }
  }

  func testClipTruncatedAndBadFiles() throws {
    let path = scratch + "/cut.lclip"
    let writer = try ClipWriter(path: path, header: ClipHeader(width: 16, height: 16, rateNumerator: 25))
    for i in 0..<2 { try writer.append(Frame(sequence: UInt64(i), timestampNs: Int64(i) * 40_000_000, width: 16, height: 16, format: .rgb8, pixels: gradient(16, 16, shift: i).pixels)) }
    try writer.close()
    truncate(path, off_t(try fileSize(path) - 10))
    let reader = try ClipReader(path: path)
    XCTAssertNotNil(try reader.next())
    XCTAssertNil(try reader.next())
    XCTAssertTrue(reader.truncated)

    let bad = scratch + "/bad.lclip"
    let f = fopen(bad, "wb")!
    fputs("not a clip at all, longer than thirty-two bytes", f)
    fclose(f)
    XCTAssertThrowsError(try ClipReader(path: bad)) { XCTAssertTrue("\($0)".contains("not a LOTR clip")) }
    XCTAssertThrowsError(try ClipReader(path: scratch + "/missing.lclip"))
  }

  /// A clip written byte by byte (docs/CLIP.md), so a test can put anything in its fields.
  private func rawClip(_ path: String, width: UInt32 = 16, height: UInt32 = 16, records: [(ts: Int64, seq: UInt64, jpeg: [UInt8])]) {
    func le<T: FixedWidthInteger>(_ v: T) -> [UInt8] { withUnsafeBytes(of: v.littleEndian) { Array($0) } }
    var bytes = Array("LOTRCLIP".utf8) + le(UInt16(1)) + le(UInt16(0)) + le(width) + le(height) + le(UInt32(30)) + le(UInt32(1))
    bytes += Array("MJPG".utf8)
    for r in records { bytes += Array("FRAM".utf8) + le(UInt32(r.jpeg.count)) + le(r.ts) + le(r.seq) + r.jpeg }
    let f = fopen(path, "wb")!
    XCTAssertEqual(fwrite(bytes, 1, bytes.count, f), bytes.count)
    fclose(f)
  }

  /// Hostile headers and records: refused or tolerated, never a crash or a spin.
  func testHostileClipHeadersAndRecords() throws {
    let path = scratch + "/hostile.lclip"
    for (w, h) in [(0, 16), (16, 0), (16385, 16), (UInt32.max, UInt32.max)] as [(UInt32, UInt32)] {
      rawClip(path, width: w, height: h, records: [])
      XCTAssertThrowsError(try ClipReader(path: path)) { XCTAssertTrue("\($0)".contains("bad frame size"), "\($0)") }
    }
    let fifo = scratch + "/fifo.lclip"
    XCTAssertEqual(mkfifo(fifo, 0o600), 0)
    XCTAssertThrowsError(try ClipReader(path: fifo)) { XCTAssertTrue("\($0)".contains("not a regular file"), "\($0)") }

    // Timestamps at the ends of Int64 and sequence numbers that wrap or jump: played, with
    // increasing timestamps, across loops.
    let writer = try ClipWriter(path: scratch + "/one.lclip", header: ClipHeader(width: 16, height: 16, rateNumerator: 30))
    let jpeg = try writer.encodeJPEG(gradient(16, 16, shift: 0), quality: 80)
    try writer.close()
    rawClip(path, records: [(0, UInt64.max, jpeg), (Int64.max, 0, jpeg), (Int64.min, UInt64.max - 1, jpeg),
                            (Int64.max - 1, 1 << 63, jpeg), (-1, 3, jpeg)])
    let source = try ClipSource(path: path, output: .gray8, loop: true)
    var last = Int64.min
    for _ in 0..<12 {
      guard case .frame(let f) = try source.next(timeout: 1) else { return XCTFail("hostile clip stopped") }
      XCTAssertGreaterThan(f.timestampNs, last)
      last = f.timestampNs
    }
    XCTAssertLessThan(source.droppedFrames, 1 << 22, "implausible sequence gaps count nothing")

    // No frame decodes: an error after one pass (looping or not), not endless empty reads.
    rawClip(path, records: (0..<3).map { (Int64($0) * 33_000_000, UInt64($0), Array("garbage".utf8)) })
    for loop in [false, true] {
      let bad = try ClipSource(path: path, output: .rgb8, loop: loop)
      var thrown: Error?
      for _ in 0..<10 where thrown == nil { do { _ = try bad.next(timeout: 0) } catch { thrown = error } }
      XCTAssertTrue(thrown.map { "\($0)".contains("none of the clip's 3 frames decodes") } ?? false, "\(String(describing: thrown))")
    }
  }

  private func fileSize(_ path: String) throws -> Int {
    var st = stat()
    guard stat(path, &st) == 0 else { throw CaptureError.badFile(path, detail: "stat") }
    return Int(st.st_size)
  }

  func testSampleClipAndLandmarks() throws {
    let root = URLPath.packageRoot
    let clip = root + "/samples/face-clip.lclip"
    let source = try ClipSource(path: clip, output: .rgb8, loop: false)
    XCTAssertEqual(source.header.width, 640)
    XCTAssertEqual(source.header.height, 480)
    XCTAssertEqual(source.header.fps, 30)
    var count = 0
    while case .frame(let f) = try source.next(timeout: 1) {
      XCTAssertEqual(f.pixels.count, 640 * 480 * 3)
      count += 1
    }
    let csv = try String(decoding: readAll(root + "/samples/face-clip.landmarks.csv"), as: UTF8.self)
    let rows = csv.split(whereSeparator: \.isNewline).dropFirst()
    XCTAssertEqual(rows.count, count)
    XCTAssertEqual(rows.first?.split(separator: ",").count, 2 + 68 * 2)
  }

  private func readAll(_ path: String) throws -> [UInt8] {
    guard let f = fopen(path, "rb") else { throw CaptureError.badFile(path, detail: "open") }
    defer { fclose(f) }
    var out: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 65536)
    while true { let n = fread(&chunk, 1, chunk.count, f); out += chunk[0..<n]; if n < chunk.count { break } }
    return out
  }

  // MARK: images

  func testFolderSourceLoopsInNameOrder() throws {
    try gradient(20, 10, shift: 0).write(to: scratch + "/b.png")
    try gradient(30, 12, shift: 50).write(to: scratch + "/a.png")
    let f = fopen(scratch + "/notes.txt", "w")!; fclose(f)
    let source = try ImageSource(path: scratch, output: .rgb8, fps: 10, loop: true)
    XCTAssertEqual(source.paths.map { String($0.split(separator: "/").last!) }, ["a.png", "b.png"])
    var sizes: [Int] = []
    var stamps: [Int64] = []
    for _ in 0..<5 {
      guard case .frame(let frame) = try source.next(timeout: 1) else { return XCTFail("no frame") }
      sizes.append(frame.width)
      stamps.append(frame.timestampNs)
    }
    XCTAssertEqual(sizes, [30, 20, 30, 20, 30])
    XCTAssertEqual(stamps[1] - stamps[0], 100_000_000)  // 1/fps apart
    let once = try ImageSource(path: scratch, output: .gray8, loop: false)
    guard case .frame(let g) = try once.next(timeout: 1) else { return XCTFail("no frame") }
    XCTAssertEqual(g.pixels.count, 30 * 12)
    _ = try once.next(timeout: 1)
    if case .ended = try once.next(timeout: 1) {} else { XCTFail("a non-looping folder ends") }
    XCTAssertThrowsError(try ImageSource(path: scratch + "/nothing-here"))
  }

  func testFolderSourceSkipsImagesThatDoNotDecode() throws {
    try gradient(20, 10, shift: 0).write(to: scratch + "/a.png")
    let f = fopen(scratch + "/b.png", "w")!; fputs("not an image", f); fclose(f)
    try gradient(30, 12, shift: 50).write(to: scratch + "/c.png")
    let source = try ImageSource(path: scratch, loop: false)
    XCTAssertEqual(try source.firstFrameSize().width, 20)
    var widths: [Int] = []
    while case .frame(let frame) = try source.next(timeout: 1) { widths.append(frame.width) }
    XCTAssertEqual(widths, [20, 30])
    XCTAssertEqual(source.badFrames, 1)
    XCTAssertTrue(source.lastBadFrame?.contains("b.png") ?? false, "\(source.lastBadFrame ?? "nil")")
    for name in ["a.png", "c.png"] { unlink(scratch + "/" + name) }
    let bad = try ImageSource(path: scratch)
    XCTAssertThrowsError(try bad.firstFrameSize())
    XCTAssertThrowsError(try bad.next(timeout: 1), "a folder where nothing decodes is an error, not an endless skip")
  }

  // MARK: V4L2 error paths and enumeration (no camera on this machine)

  func testNoSuchDevice() {
    XCTAssertThrowsError(try V4L2Camera(CameraConfiguration(device: "/dev/video99"))) { error in
      XCTAssertEqual(error as? CaptureError, .noSuchDevice("/dev/video99"))
      XCTAssertTrue("\(error)".contains("no such device"))
    }
  }

  func testNotACaptureDevice() {
    XCTAssertThrowsError(try V4L2Camera(CameraConfiguration(device: "/dev/null"))) { error in
      guard case .notACaptureDevice(let path, _) = error as? CaptureError else { return XCTFail("\(error)") }
      XCTAssertEqual(path, "/dev/null")
      XCTAssertTrue("\(error)".contains("not a capture device"))
    }
    // a regular file is not a device either
    XCTAssertThrowsError(try V4L2Camera(CameraConfiguration(device: "/etc/hostname"))) { error in
      guard case .notACaptureDevice = error as? CaptureError else { return XCTFail("\(error)") }
    }
  }

  func testErrorTextsGuideTheUser() {
    XCTAssertTrue(CaptureError.permissionDenied("/dev/video0").description.contains("video' group"))
    XCTAssertTrue(CaptureError.busy("/dev/video0").description.contains("busy"))
    XCTAssertTrue(CaptureError.noUsableFormat("/dev/video0", offered: ["H264"]).description.contains("H264"))
    XCTAssertEqual(V4L2Device.mapOpenError("/x", EACCES), .permissionDenied("/x"))
    XCTAssertEqual(V4L2Device.mapOpenError("/x", EBUSY), .busy("/x"))
    XCTAssertEqual(V4L2Device.mapOpenError("/x", ENOENT), .noSuchDevice("/x"))
  }

  func testEnumerationWithNoDevices() {
    XCTAssertTrue(V4L2Devices.list(devDirectory: scratch, byIdDirectory: scratch + "/v4l/by-id").isEmpty)
    // a file named like a node is reported with its error, not taken for a camera
    let f = fopen(scratch + "/video7", "w")!; fclose(f)
    let found = V4L2Devices.list(devDirectory: scratch, byIdDirectory: scratch + "/none")
    XCTAssertEqual(found.count, 1)
    XCTAssertFalse(found[0].isCapture)
    XCTAssertNotNil(found[0].error)
  }

  func testNegotiationHelpers() {
    XCTAssertTrue(V4L2Camera.rational(1.0 / 30) == (1, 30))
    XCTAssertTrue(V4L2Camera.rational(1001.0 / 30000) == (1001, 30000))
    let sizes = [(320, 180), (640, 480), (1280, 720)].map {
      V4L2FrameSize(kind: .discrete, width: $0.0, height: $0.1, minWidth: $0.0, minHeight: $0.1, stepWidth: 0, stepHeight: 0, intervals: [])
    }
    XCTAssertTrue(V4L2Camera.nearestSize(sizes, width: 600, height: 400) == (640, 480))
    XCTAssertTrue(V4L2Camera.nearestSize([], width: 600, height: 400) == (600, 400))
    XCTAssertEqual(fourccString(fourccCode("YUYV")!), "YUYV")
    XCTAssertEqual(fourccString(fourccCode("Y16")!), "Y16")
  }

  // MARK: pixel kernels

  /// The C suite (Tests/KernelTester/test_pixels.c) on ref and this CPU's path, bit-exact.
  func testPixelKernelsBitExactPerISA() {
    let summary = lotr_kernel_tests_run("pixels", nil, nil)
    XCTAssertGreaterThan(summary.passed, 0)
    XCTAssertEqual(summary.failed, 0, "replay with LOTR_TEST_SEED=\(summary.seed)")
  }

  /// The Swift conversion path: YUYV with padded rows and an odd width, as a camera delivers.
  func testConversionOfPaddedOddWidthYUYV() {
    let (w, h, bpl) = (5, 3, 16)
    var raw = [UInt8](repeating: 0, count: bpl * h)
    for r in 0..<h { for pair in 0..<3 { raw[r * bpl + pair * 4 + 0] = 235; raw[r * bpl + pair * 4 + 1] = 128; raw[r * bpl + pair * 4 + 2] = 16; raw[r * bpl + pair * 4 + 3] = 128 } }
    let out = raw.withUnsafeBytes { PixelConversion.convert($0, layout: .yuyv(bytesPerLine: bpl), width: w, height: h, output: .gray8) }
    XCTAssertEqual(out?.pixels, [UInt8]([255, 0, 255, 0, 255, 255, 0, 255, 0, 255, 255, 0, 255, 0, 255]))
    let short = raw.prefix(20).map { $0 }
    XCTAssertNil(short.withUnsafeBytes { PixelConversion.convert($0, layout: .yuyv(bytesPerLine: bpl), width: w, height: h, output: .rgb8) })
  }

  /// `.camera` output keeps YUYV / NV12 / I420 / GREY as they are (padded rows packed), and
  /// the crop warp straight from those bytes equals, bit for bit, the warp of the frame
  /// converted to RGB8: lotrd never converts a whole frame just to crop it.
  func testCameraPixelsWarpExactlyLikeTheirRGBConversion() {
    let (w, h) = (37, 23)   // odd: a partial chroma pair on the last column and row
    var rng = SystemRandomNumberGenerator()
    let cases: [(CameraPixelLayout, PixelLayout, Int)] = [
      (.yuyv(bytesPerLine: 88), .yuyv, 88 * h), (.grey(bytesPerLine: 40), .gray8, 40 * h),
      (.nv12(bytesPerLine: 40), .nv12, 40 * h + 40 * 12), (.yuv420(bytesPerLine: 40), .i420, 40 * h + 20 * 12 * 2),
    ]
    // Whole frame, a rolled crop partly outside it, a magnified one between pixel centres.
    let transforms: [[Float]] = [[37, 0, 18.5, 0, 23, 11.5], [20, -9, 6, 9, 20, 4], [4.3, 0.7, 20.2, -0.7, 4.3, 12.9]]
    let mean: [Float] = [0.485, 0.456, 0.406], invStd: [Float] = [4.37, 4.46, 4.44]
    for (camera, layout, bytes) in cases {
      let raw = (0..<bytes).map { _ in UInt8.random(in: 0...255, using: &rng) }
      guard let direct = raw.withUnsafeBytes({ PixelConversion.convert($0, layout: camera, width: w, height: h, output: .camera) }),
            let rgb = raw.withUnsafeBytes({ PixelConversion.convert($0, layout: camera, width: w, height: h, output: .rgb8) }) else {
        return XCTFail("\(layout): conversion failed")
      }
      XCTAssertEqual(direct.layout, layout)
      XCTAssertEqual(rgb.layout, .rgb8)
      let image = PixelImage(width: w, height: h, layout: direct.layout, pixels: direct.pixels)
      XCTAssertEqual(image.rgbImage.pixels, rgb.pixels, "\(layout): packed planes convert like the padded buffer")
      let rgbImage = PixelImage(width: w, height: h, layout: .rgb8, pixels: rgb.pixels)
      for a in transforms {
        var fromCamera = [Float](repeating: 0, count: 16 * 12 * 3), fromRGB = fromCamera
        image.withCImage { lotr_image_warp_normalize_f32(nil, nil, $0, a, &fromCamera, 16, 12, mean, invStd) }
        rgbImage.withCImage { lotr_image_warp_normalize_f32(nil, nil, $0, a, &fromRGB, 16, 12, mean, invStd) }
        let first = fromCamera.indices.first { fromCamera[$0] != fromRGB[$0] }
        XCTAssertNil(first, "\(layout) warped by \(a): first difference at element \(first ?? -1)")
      }
    }
  }
}

enum URLPath {
  /// The package root, from this file's path (Tests/LOTRCaptureTests/CaptureTests.swift).
  static var packageRoot: String {
    var parts = #filePath.split(separator: "/", omittingEmptySubsequences: false)
    parts.removeLast(3)
    return parts.joined(separator: "/")
  }
}
