#if canImport(Glibc)
import Glibc
#endif
import LOTR

/// Frames from a byte stream on a FIFO (or stdin-like pipe): what Raspberry Pi OS's camera
/// tools write for a CSI Camera Module, e.g.
///   rpicam-vid -t 0 -n --codec yuv420 --width 640 --height 480 -o /run/lotrd/picam.fifo
///   rpicam-vid -t 0 -n --codec mjpeg  --width 640 --height 480 -o /run/lotrd/picam.fifo
/// - `.yuv420`: planar I420 frames of exactly width x height (Y, then U and V at half
///   size), back to back with no header. Width and height must be what the writer uses.
/// - `.mjpeg`: JPEGs back to back; a frame is SOI (FF D8) to EOI (FF D9).
///
/// The FIFO is opened non-blocking (no writer yet is not a hang) and read with poll, so
/// `next(timeout:)` returns within its timeout. When the writer goes away the source
/// reports `.disconnected` and reopens; bytes of a frame cut off are dropped. The
/// buffer holds at most one frame (YUV) or `maxJPEGBytes` (MJPEG): a stream with no
/// frame boundary cannot grow memory.
public final class PipeStreamSource: FrameSource {
  public enum Codec: String, Sendable { case yuv420, mjpeg }

  public let path: String
  public let codec: Codec
  public let width: Int, height: Int
  public let output: PixelFormat
  public private(set) var droppedFrames: UInt64 = 0
  public static let maxJPEGBytes = 8 << 20

  private var fd: Int32 = -1
  private var buffer: [UInt8] = []
  private var produced: UInt64 = 0
  private var closed = false
  private var writerSeen = false
  private var announceReconnect = false

  public var description: String { "\(path) (\(codec.rawValue) \(width)x\(height) stream)" }
  var frameBytes: Int { width * height + 2 * ((width + 1) / 2) * ((height + 1) / 2) }

  public init(path: String, codec: Codec, width: Int, height: Int, output: PixelFormat = .rgb8) throws {
    guard (1...8192).contains(width), (1...8192).contains(height) else {
      throw CaptureError.badFile(path, detail: "frame size \(width)x\(height) is not in 1...8192")
    }
    self.path = path; self.codec = codec; self.width = width; self.height = height; self.output = output
    try reopen()
  }

  private func reopen() throws {
    if fd >= 0 { Glibc.close(fd) }
    fd = Glibc.open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
    guard fd >= 0 else {
      throw errno == ENOENT ? CaptureError.badFile(path, detail: "no such FIFO (mkfifo it, or start the writer)")
        : CaptureError.system(path, operation: "open", errno: errno)
    }
    var st = stat()
    guard fstat(fd, &st) == 0, (st.st_mode & S_IFMT) == S_IFIFO || (st.st_mode & S_IFMT) == S_IFREG else {
      Glibc.close(fd); fd = -1
      throw CaptureError.badFile(path, detail: "not a FIFO or a file")
    }
    buffer.removeAll(keepingCapacity: true)
    writerSeen = false
  }

  public func close() {
    closed = true
    if fd >= 0 { Glibc.close(fd); fd = -1 }
  }

  public func next(timeout: Double) throws -> FrameSourceResult {
    if closed { return .ended }
    let deadline = monotonicNanoseconds() + Int64(max(0, timeout) * 1e9)
    while true {
      if let frame = takeFrame() { return .frame(frame) }
      let left = deadline - monotonicNanoseconds()
      if left <= 0 { return .timedOut }
      var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
      if poll(&pfd, 1, Int32(min(left / 1_000_000 + 1, 1000))) <= 0 { continue }
      var chunk = [UInt8](repeating: 0, count: 1 << 16)
      let n = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
      if n > 0 {
        writerSeen = true
        buffer += chunk[0..<n]
        if announceReconnect {
          announceReconnect = false
          return .event(.reconnected(description: description))
        }
        continue
      }
      if n < 0 && (errno == EAGAIN || errno == EINTR) { continue }
      // EOF: the writer closed (POLLHUP). A FIFO with no writer yet also reads 0: wait for one.
      if !writerSeen {
        // Until a writer opens the FIFO, poll reports POLLHUP at once; sleep instead of spinning.
        usleep(UInt32(min(left, 50_000_000) / 1000))
        continue
      }
      if !buffer.isEmpty { droppedFrames += 1 }
      try reopen()
      announceReconnect = true
      return .event(.disconnected(reason: "the writer of \(path) closed it"))
    }
  }

  /// A complete frame from the front of the buffer, converted; nil when more bytes are needed.
  private func takeFrame() -> Frame? {
    switch codec {
    case .yuv420:
      let size = frameBytes
      while buffer.count >= size {
        let converted = buffer.withUnsafeBytes { raw in
          PixelConversion.convert(UnsafeRawBufferPointer(rebasing: raw[0..<size]), layout: .yuv420(bytesPerLine: width),
                                  width: width, height: height, output: output)
        }
        buffer.removeFirst(size)
        if let c = converted { return makeFrame(c.pixels, layout: c.layout, encoded: nil) }
        droppedFrames += 1
      }
      return nil
    case .mjpeg:
      while true {
        guard let soi = find([0xFF, 0xD8], from: 0) else {
          buffer.removeAll(keepingCapacity: true) // no frame start anywhere: nothing to keep
          return nil
        }
        if soi > 0 { buffer.removeFirst(soi) }
        guard let eoi = find([0xFF, 0xD9], from: 2) else {
          if buffer.count > Self.maxJPEGBytes { buffer.removeAll(keepingCapacity: true); droppedFrames += 1 }
          return nil
        }
        let jpeg = Array(buffer[0..<(eoi + 2)])
        buffer.removeFirst(eoi + 2)
        if let decoded = PixelConversion.decodeJPEG(jpeg, output: output), decoded.width == width, decoded.height == height {
          return makeFrame(decoded.pixels, layout: output.decodedLayout, encoded: jpeg)
        }
        droppedFrames += 1
      }
    }
  }

  private func find(_ marker: [UInt8], from start: Int) -> Int? {
    guard buffer.count >= start + 2 else { return nil }
    var i = start
    while i + 1 < buffer.count {
      if buffer[i] == marker[0] && buffer[i + 1] == marker[1] { return i }
      i += 1
    }
    return nil
  }

  private func makeFrame(_ pixels: [UInt8], layout: PixelLayout, encoded: [UInt8]?) -> Frame {
    defer { produced += 1 }
    return Frame(sequence: produced, timestampNs: monotonicNanoseconds(), width: width, height: height, format: layout,
                 pixels: pixels, encoded: encoded)
  }
}
