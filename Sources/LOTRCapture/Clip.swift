#if canImport(Glibc)
import Glibc
#endif
import CImageIO
import LOTR

/// The LOTR clip format (docs/CLIP.md): MJPEG frames with timestamps in a minimal
/// little-endian container.
public enum ClipFormat {
  public static let magic: [UInt8] = Array("LOTRCLIP".utf8)
  public static let frameMagic: [UInt8] = Array("FRAM".utf8)
  public static let headerSize = 32
  public static let frameHeaderSize = 24
  public static let versionMajor: UInt16 = 1
  public static let versionMinor: UInt16 = 0
  public static let fileExtension = "lclip"
  /// The largest frame payload a reader accepts (a corrupt length fails fast).
  public static let maxFrameBytes = 64 << 20
}

/// The header of a clip.
public struct ClipHeader: Sendable, Equatable {
  public var width: Int
  public var height: Int
  /// The nominal frame rate as frames per `rateDenominator` seconds (e.g. 30/1, 30000/1001).
  public var rateNumerator: UInt32
  public var rateDenominator: UInt32
  public var fps: Double { rateDenominator == 0 ? 0 : Double(rateNumerator) / Double(rateDenominator) }

  public init(width: Int, height: Int, rateNumerator: UInt32, rateDenominator: UInt32 = 1) {
    self.width = width
    self.height = height
    self.rateNumerator = rateNumerator
    self.rateDenominator = rateDenominator
  }
}

/// One stored frame: the JPEG and its timing.
public struct ClipRecord: Sendable, Equatable {
  /// Nanoseconds since the clip's first frame.
  public var timestampNs: Int64
  /// The source's sequence number (gaps = frames dropped while recording).
  public var sequence: UInt64
  public var jpeg: [UInt8]
}

private func le<T: FixedWidthInteger>(_ v: T) -> [UInt8] { withUnsafeBytes(of: v.littleEndian) { Array($0) } }
private func readLE<T: FixedWidthInteger>(_ b: [UInt8], _ at: Int, _: T.Type) -> T {
  var v: T = 0
  for i in 0..<MemoryLayout<T>.size { v |= T(truncatingIfNeeded: b[at + i]) << (8 * i) }
  return v
}

/// Writes a clip. Frames must all have the header's size.
public final class ClipWriter {
  public let path: String
  public let header: ClipHeader
  public private(set) var frameCount = 0
  private var file: UnsafeMutablePointer<FILE>?
  private var firstTimestamp: Int64?
  private let scratch: String

  public init(path: String, header: ClipHeader) throws {
    guard header.width > 0, header.height > 0, header.rateNumerator > 0, header.rateDenominator > 0 else {
      throw CaptureError.badFile(path, detail: "a clip needs a size and a frame rate")
    }
    guard let f = fopen(path, "wb") else { throw CaptureError.system(path, operation: "fopen", errno: errno) }
    self.path = path
    self.header = header
    self.file = f
    self.scratch = "/tmp/lotr-clip-\(getpid())-\(UInt(bitPattern: Int(bitPattern: f))).jpg"
    var bytes = ClipFormat.magic
    bytes += le(ClipFormat.versionMajor) + le(ClipFormat.versionMinor)
    bytes += le(UInt32(header.width)) + le(UInt32(header.height))
    bytes += le(header.rateNumerator) + le(header.rateDenominator)
    bytes += Array("MJPG".utf8)
    try write(bytes)
  }

  deinit { try? close() }

  private func write(_ bytes: [UInt8]) throws {
    guard let file else { throw CaptureError.badFile(path, detail: "the clip is closed") }
    if fwrite(bytes, 1, bytes.count, file) != bytes.count { throw CaptureError.system(path, operation: "fwrite", errno: errno) }
  }

  /// Appends a JPEG as it is (e.g. an MJPEG camera frame). `timestampNs` is any monotonic
  /// clock; the clip stores it relative to the first frame.
  public func append(jpeg: [UInt8], timestampNs: Int64, sequence: UInt64) throws {
    let first = firstTimestamp ?? timestampNs
    firstTimestamp = first
    var bytes = ClipFormat.frameMagic
    bytes += le(UInt32(jpeg.count)) + le(timestampNs - first) + le(sequence)
    try write(bytes + jpeg)
    frameCount += 1
  }

  /// Appends a frame: its JPEG when it came with one of the clip's size, else the pixels
  /// encoded with libjpeg-turbo at `quality`.
  public func append(_ frame: Frame, quality: Int = 85) throws {
    guard frame.width == header.width, frame.height == header.height else {
      throw CaptureError.badFile(path, detail: "frame \(frame.width)x\(frame.height) does not match the clip's \(header.width)x\(header.height)")
    }
    if let jpeg = frame.encoded, jpeg.count > 2, jpeg[0] == 0xFF, jpeg[1] == 0xD8 {
      try append(jpeg: jpeg, timestampNs: frame.timestampNs, sequence: frame.sequence)
    } else {
      try append(jpeg: encodeJPEG(frame.rgbImage, quality: quality), timestampNs: frame.timestampNs, sequence: frame.sequence)
    }
  }

  /// JPEG bytes of an image (libjpeg-turbo through CImageIO, via a scratch file).
  public func encodeJPEG(_ image: RGBImage, quality: Int) throws -> [UInt8] {
    var error = [CChar](repeating: 0, count: Int(LOTR_IMAGE_ERROR_SIZE))
    guard lotr_image_write_jpeg(scratch, image.pixels, UInt32(image.width), UInt32(image.height), Int32(quality), &error) == 0 else {
      throw CaptureError.badFile(path, detail: "JPEG encoding failed: " + String(decoding: error.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
    }
    defer { unlink(scratch) }
    guard let f = fopen(scratch, "rb") else { throw CaptureError.system(scratch, operation: "fopen", errno: errno) }
    defer { fclose(f) }
    var out: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 65536)
    while true {
      let n = fread(&chunk, 1, chunk.count, f)
      if n > 0 { out += chunk[0..<n] }
      if n < chunk.count { break }
    }
    return out
  }

  public func close() throws {
    guard let f = file else { return }
    file = nil
    if fclose(f) != 0 { throw CaptureError.system(path, operation: "fclose", errno: errno) }
  }
}

/// Reads a clip's records in order.
public final class ClipReader {
  public let path: String
  public let header: ClipHeader
  /// Set when the file ended inside a record (a recording that was cut off).
  public private(set) var truncated = false
  private var file: UnsafeMutablePointer<FILE>?

  public init(path: String) throws {
    // Non-blocking open and a regular-file check: a FIFO at the path is refused, not waited on.
    let fd = Glibc.open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
    guard fd >= 0 else {
      throw errno == ENOENT ? CaptureError.badFile(path, detail: "no such file") : CaptureError.system(path, operation: "open", errno: errno)
    }
    var st = stat()
    guard fstat(fd, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG, let f = fdopen(fd, "rb") else {
      Glibc.close(fd)
      throw CaptureError.badFile(path, detail: "not a regular file")
    }
    self.path = path
    // `file` is set only once the header is valid: on a throw after `header` is set, deinit
    // runs, and it must not close what the failing path closed already.
    var h = [UInt8](repeating: 0, count: ClipFormat.headerSize)
    guard fread(&h, 1, h.count, f) == h.count, Array(h[0..<8]) == ClipFormat.magic else {
      fclose(f)
      throw CaptureError.badFile(path, detail: "not a LOTR clip (no LOTRCLIP header)")
    }
    let major = readLE(h, 8, UInt16.self)
    guard major == ClipFormat.versionMajor else {
      fclose(f)
      throw CaptureError.badFile(path, detail: "clip version \(major).x, this reader knows \(ClipFormat.versionMajor).x")
    }
    guard Array(h[28..<32]) == Array("MJPG".utf8) else {
      fclose(f)
      throw CaptureError.badFile(path, detail: "unknown codec in the clip header")
    }
    header = ClipHeader(width: Int(readLE(h, 12, UInt32.self)), height: Int(readLE(h, 16, UInt32.self)),
                        rateNumerator: readLE(h, 20, UInt32.self), rateDenominator: readLE(h, 24, UInt32.self))
    guard header.width > 0, header.height > 0, header.width <= 16384, header.height <= 16384 else {
      fclose(f)
      throw CaptureError.badFile(path, detail: "bad frame size \(header.width)x\(header.height) in the clip header")
    }
    file = f
  }

  deinit { if let file { fclose(file) } }

  /// The next record, or nil at the end (also at a cut-off last record: see `truncated`).
  public func next() throws -> ClipRecord? {
    guard let file else { return nil }
    var h = [UInt8](repeating: 0, count: ClipFormat.frameHeaderSize)
    let got = fread(&h, 1, h.count, file)
    if got == 0 { return nil }
    if got < h.count { truncated = true; return nil }
    guard Array(h[0..<4]) == ClipFormat.frameMagic else {
      throw CaptureError.badFile(path, detail: "corrupt clip: no FRAM record at offset \(ftell(file) - h.count)")
    }
    let size = Int(readLE(h, 4, UInt32.self))
    guard size <= ClipFormat.maxFrameBytes else { throw CaptureError.badFile(path, detail: "corrupt clip: frame of \(size) bytes") }
    var jpeg = [UInt8](repeating: 0, count: size)
    if fread(&jpeg, 1, size, file) < size { truncated = true; return nil }
    return ClipRecord(timestampNs: readLE(h, 8, Int64.self), sequence: readLE(h, 16, UInt64.self), jpeg: jpeg)
  }

  /// Back to the first frame.
  public func rewind() {
    if let file { fseek(file, ClipFormat.headerSize, SEEK_SET) }
    truncated = false
  }

  public func close() {
    if let file { fclose(file) }
    file = nil
  }
}

/// A recorded clip as a frame source: decoded frames with their recorded spacing, looping
/// by default. Timestamps are the monotonic clock at open plus the recorded offsets (plus
/// one clip length per loop). With `realtime` the source waits so frames come at the
/// recorded pace; otherwise as fast as they decode.
public final class ClipSource: FrameSource {
  public let reader: ClipReader
  public let output: PixelFormat
  public let loop: Bool
  public let realtime: Bool
  /// Lost while recording (sequence gaps) or unreadable now (records that do not decode).
  public private(set) var droppedFrames: UInt64 = 0
  /// Records that do not decode (also counted in droppedFrames).
  public private(set) var badFrames: UInt64 = 0
  public private(set) var lastBadFrame: String?
  private let start: Int64
  private var loopOffset: Int64 = 0
  private var lastRecordTs: Int64 = 0
  private var lastSequence: UInt64?
  private var produced: UInt64 = 0
  private var recordsThisPass = 0
  private var goodThisPass = 0
  private var closed = false

  public init(path: String, output: PixelFormat = .rgb8, loop: Bool = true, realtime: Bool = false) throws {
    reader = try ClipReader(path: path)
    self.output = output
    self.loop = loop
    self.realtime = realtime
    start = monotonicNanoseconds()
  }

  public var header: ClipHeader { reader.header }
  public var description: String { "\(reader.path) (\(header.width)x\(header.height) @ \(formatRate(header.fps)) fps clip)" }

  public func close() { reader.close(); closed = true }

  public func next(timeout: Double) throws -> FrameSourceResult {
    if closed { return .ended }
    var record = try reader.next()
    if record == nil {
      // A pass that held records but not one decodable frame would replay nothing forever.
      if recordsThisPass > 0 && goodThisPass == 0 {
        throw CaptureError.badFile(reader.path, detail: "none of the clip's \(recordsThisPass) frames decodes")
      }
      guard loop, produced > 0 else { return .ended }
      loopOffset = loopOffset &+ lastRecordTs &+ interval
      lastSequence = nil
      lastRecordTs = 0
      recordsThisPass = 0
      goodThisPass = 0
      reader.rewind()
      record = try reader.next()
      guard record != nil else { return .ended }
    }
    let r = record!
    recordsThisPass += 1
    // Recorded offsets are trusted only while they move forward by under an hour; anything
    // else (negative, backwards, near the ends of Int64) becomes one frame interval.
    let offset = r.timestampNs >= lastRecordTs && r.timestampNs - lastRecordTs <= 3_600_000_000_000
      ? r.timestampNs : lastRecordTs + interval
    lastRecordTs = offset
    // A gap in the recorder's sequence counts the frames it lost; an implausible gap (a
    // corrupt or restarted counter) counts nothing.
    if let last = lastSequence, r.sequence > last, r.sequence - last - 1 <= 1 << 20 { droppedFrames += r.sequence - last - 1 }
    lastSequence = r.sequence
    let ts = start &+ loopOffset &+ offset
    if realtime {
      let wait = Double(ts &- monotonicNanoseconds()) / 1e9
      if wait > timeout { sleepSeconds(timeout) } else { sleepSeconds(wait) }
    }
    guard let decoded = PixelConversion.decodeJPEG(r.jpeg, output: output) else {
      droppedFrames += 1
      badFrames += 1
      lastBadFrame = "\(reader.path): record \(recordsThisPass) of the pass does not decode"
      return .timedOut
    }
    goodThisPass += 1
    let frame = Frame(sequence: produced, timestampNs: ts, width: decoded.width, height: decoded.height, format: output.decodedLayout,
                      pixels: decoded.pixels, encoded: r.jpeg)
    produced += 1
    return .frame(frame)
  }

  /// The recorded frame interval (30 fps when the header has no usable rate).
  private var interval: Int64 {
    let fps = header.fps
    return fps.isFinite && fps >= 0.01 && fps <= 10_000 ? Int64(1e9 / fps) : 33_333_333
  }
}
