#if canImport(Glibc)
import Glibc
#endif
import LOTR
import CV4L2

/// What to ask a V4L2 camera for.
public struct CameraConfiguration: Sendable, Equatable {
  /// A node (/dev/video0) or a stable /dev/v4l/by-id link.
  public var device: String
  public var width: Int
  public var height: Int
  /// Frames per second to request with VIDIOC_S_PARM; nil keeps the driver's.
  public var fps: Double?
  /// Capture formats in order of preference (FourCCs: "YUYV", "GREY", "MJPG", "NV12",
  /// "YU12", "RGB3"). Empty = the default order for `output`.
  public var formats: [String]
  public var output: PixelFormat
  /// mmap buffers to request (at least 4 are asked for; the driver may grant more).
  public var bufferCount: Int
  /// Reopen after an unplug, with back-off from `reconnectDelay` up to `maxReconnectDelay`.
  public var reconnect: Bool
  public var reconnectDelay: Double
  public var maxReconnectDelay: Double

  public init(device: String, width: Int = 640, height: Int = 480, fps: Double? = 30, formats: [String] = [],
              output: PixelFormat = .rgb8, bufferCount: Int = 4, reconnect: Bool = true,
              reconnectDelay: Double = 0.1, maxReconnectDelay: Double = 2) {
    self.device = device
    self.width = width
    self.height = height
    self.fps = fps
    self.formats = formats
    self.output = output
    self.bufferCount = bufferCount
    self.reconnect = reconnect
    self.reconnectDelay = reconnectDelay
    self.maxReconnectDelay = maxReconnectDelay
  }

  /// The default preference: raw formats first (no decode cost), GREY first for gray
  /// output, MJPEG before libv4l2's emulated RGB24 (MJPEG decodes with libjpeg-turbo).
  public var formatPreference: [String] {
    if !formats.isEmpty { return formats }
    return output == .gray8 ? ["GREY", "YUYV", "NV12", "YU12", "MJPG", "JPEG", "RGB3"]
                            : ["YUYV", "NV12", "YU12", "MJPG", "JPEG", "GREY", "RGB3"]
  }
}

/// What the driver applied after negotiation.
public struct CameraNegotiation: Sendable, Equatable, CustomStringConvertible {
  public var fourcc: String
  public var width: Int, height: Int
  public var bytesPerLine: Int
  /// Seconds per frame the driver applied (VIDIOC_S_PARM read back), if it reports one.
  public var frameInterval: (numerator: UInt32, denominator: UInt32)?
  public var buffers: Int
  public var emulated: Bool
  public var fps: Double? { frameInterval.flatMap { $0.numerator > 0 ? Double($0.denominator) / Double($0.numerator) : nil } }

  public var description: String {
    "\(fourcc)\(emulated ? " (libv4l2 conversion)" : "") \(width)x\(height)" + (fps.map { " @ \(formatRate($0)) fps" } ?? "")
      + ", \(buffers) buffers"
  }

  public static func == (a: Self, b: Self) -> Bool {
    a.fourcc == b.fourcc && a.width == b.width && a.height == b.height && a.bytesPerLine == b.bytesPerLine
      && a.frameInterval?.numerator == b.frameInterval?.numerator
      && a.frameInterval?.denominator == b.frameInterval?.denominator && a.buffers == b.buffers && a.emulated == b.emulated
  }
}

/// A V4L2 camera through libv4l2: negotiated format/size/rate, mmap streaming, poll with a
/// timeout, sequence gaps counted as drops, every buffer re-queued, and on unplug a full
/// teardown followed by reopen attempts with back-off (reported as events).
public final class V4L2Camera: FrameSource {
  public let configuration: CameraConfiguration
  public private(set) var negotiation: CameraNegotiation?
  public private(set) var droppedFrames: UInt64 = 0
  /// Times the camera came back after a disconnect.
  public private(set) var reconnects = 0

  private var fd: Int32 = -1
  private var buffers: [(start: UnsafeMutableRawPointer, length: Int)] = []
  private var layout: CameraPixelLayout = .jpeg
  private var lastDriverSequence: UInt32?
  private var nextSequence: UInt64 = 0
  private var lastTimestamp: Int64 = .min
  private var closed = false
  private var disconnectedSince: Int64?
  private var nextAttempt: Int64 = 0
  private var delay: Double

  /// Opens and starts streaming; throws ``CaptureError`` with the reason when it cannot.
  public init(_ configuration: CameraConfiguration) throws {
    self.configuration = configuration
    self.delay = configuration.reconnectDelay
    try start()
  }

  deinit { teardown() }

  public var description: String {
    "\(configuration.device) " + (negotiation.map(\.description) ?? "(not streaming)")
  }

  /// Whether the device is currently open and streaming (false while it is unplugged).
  public var isStreaming: Bool { fd >= 0 }

  public func close() {
    teardown()
    closed = true
  }

  // MARK: open, negotiate, stream

  private func start() throws {
    let path = configuration.device
    let fd = try V4L2Device.open(path)
    self.fd = fd
    do {
      try negotiate(path)
    } catch {
      teardown()
      throw error
    }
  }

  private func fail(_ operation: String, _ code: Int32) -> CaptureError {
    let path = configuration.device
    switch code {
    case EBUSY: return .busy(path)
    case ENODEV, ENXIO: return .noSuchDevice(path)
    case EACCES, EPERM: return .permissionDenied(path)
    default: return .system(path, operation: operation, errno: code)
    }
  }

  private func negotiate(_ path: String) throws {
    var caps = lotr_v4l2_caps()
    let q = lotr_v4l2_query_caps(fd, &caps)
    if q == -ENOTTY || q == -EINVAL { throw CaptureError.notACaptureDevice(path, detail: "it does not answer VIDIOC_QUERYCAP: not a V4L2 device") }
    if q < 0 { throw fail("VIDIOC_QUERYCAP", -q) }
    if caps.device_caps & LOTR_V4L2_CAP_VIDEO_CAPTURE == 0 {
      let detail = caps.device_caps & LOTR_V4L2_CAP_VIDEO_CAPTURE_MPLANE != 0
        ? "multi-planar capture only, which lotr does not support"
        : "\(tupleText(caps.card)) (\(tupleText(caps.driver))) has no video capture"
      throw CaptureError.notACaptureDevice(path, detail: detail)
    }
    if caps.device_caps & LOTR_V4L2_CAP_STREAMING == 0 {
      throw CaptureError.notACaptureDevice(path, detail: "no streaming I/O (mmap)")
    }

    let offered = V4L2Devices.formats(fd: fd)
    var chosen: (V4L2FormatInfo, lotr_v4l2_format)?
    for name in configuration.formatPreference {
      guard let code = fourccCode(name), let info = offered.first(where: { $0.fourcc == code }) else { continue }
      let (w, h) = Self.nearestSize(info.sizes, width: configuration.width, height: configuration.height)
      var applied = lotr_v4l2_format()
      let r = lotr_v4l2_set_format(fd, code, UInt32(w), UInt32(h), &applied)
      if r == -EBUSY { throw CaptureError.busy(path) }
      if r < 0 { continue }
      if applied.fourcc == code && applied.width > 0 && applied.height > 0 { chosen = (info, applied); break }
    }
    guard let (info, format) = chosen else {
      throw CaptureError.noUsableFormat(path, offered: offered.map(\.name))
    }
    let bpl = Int(format.bytes_per_line)
    switch fourccString(format.fourcc) {
    case "YUYV": layout = .yuyv(bytesPerLine: bpl)
    case "GREY": layout = .grey(bytesPerLine: bpl)
    case "NV12": layout = .nv12(bytesPerLine: bpl)
    case "YU12": layout = .yuv420(bytesPerLine: bpl)
    case "RGB3": layout = .rgb24(bytesPerLine: bpl)
    default: layout = .jpeg
    }

    var interval: (UInt32, UInt32)?
    var n: UInt32 = 0, d: UInt32 = 0
    if let fps = configuration.fps, fps > 0 {
      let (num, den) = Self.rational(1 / fps)
      let r = lotr_v4l2_set_frame_interval(fd, num, den, &n, &d)
      if r == 0 { interval = (n, d) } else if r == -EBUSY { throw CaptureError.busy(path) }
    }
    if interval == nil, lotr_v4l2_get_frame_interval(fd, &n, &d) >= 0, n > 0, d > 0 { interval = (n, d) }

    var granted: UInt32 = 0
    let r = lotr_v4l2_request_buffers(fd, UInt32(max(4, configuration.bufferCount)), &granted)
    if r < 0 { throw fail("VIDIOC_REQBUFS", -r) }
    if granted < 2 { throw CaptureError.system(path, operation: "VIDIOC_REQBUFS (granted \(granted) buffers)", errno: ENOMEM) }
    for i in 0..<granted {
      var start: UnsafeMutableRawPointer?
      var length = 0
      let m = lotr_v4l2_map_buffer(fd, i, &start, &length)
      if m < 0 { throw fail("mmap", -m) }
      buffers.append((start!, length))
    }
    for i in 0..<granted {
      let q = lotr_v4l2_queue_buffer(fd, i)
      if q < 0 { throw fail("VIDIOC_QBUF", -q) }
    }
    let s = lotr_v4l2_stream_on(fd)
    if s < 0 { throw fail("VIDIOC_STREAMON", -s) }
    negotiation = CameraNegotiation(fourcc: fourccString(format.fourcc), width: Int(format.width),
                                    height: Int(format.height), bytesPerLine: bpl,
                                    frameInterval: interval.map { (numerator: $0.0, denominator: $0.1) },
                                    buffers: Int(granted), emulated: info.emulated)
    lastDriverSequence = nil
  }

  /// The offered size closest to the request (by width and height difference); the
  /// request itself for stepwise sizes (the driver rounds it) or when none are listed.
  static func nearestSize(_ sizes: [V4L2FrameSize], width: Int, height: Int) -> (Int, Int) {
    let discrete = sizes.filter { $0.kind == .discrete }
    guard !discrete.isEmpty else { return (width, height) }
    let best = discrete.min { a, b in
      abs(a.width - width) + abs(a.height - height) < abs(b.width - width) + abs(b.height - height)
    }!
    return (best.width, best.height)
  }

  /// A fraction for `seconds` (e.g. 1/30, 1001/30000).
  static func rational(_ seconds: Double) -> (UInt32, UInt32) {
    for den: UInt32 in [1, 2, 4, 5, 10, 15, 24, 25, 30, 50, 60, 100, 120, 1000] {
      let num = (seconds * Double(den)).rounded()
      if num >= 1, abs(num / Double(den) - seconds) < 1e-9 * max(1, seconds) { return (UInt32(num), den) }
    }
    let fps = 1 / seconds
    if abs(fps * 1.001 - (fps * 1.001).rounded()) < 1e-6 { return (1001, UInt32((fps * 1001).rounded())) }
    return (1000, UInt32((1000 / seconds).rounded()))
  }

  /// Stops streaming, unmaps and closes: nothing of the device is held afterwards (so the
  /// driver can be unloaded).
  private func teardown() {
    guard fd >= 0 else { return }
    _ = lotr_v4l2_stream_off(fd)
    for b in buffers { _ = lotr_v4l2_unmap_buffer(b.start, b.length) }
    buffers = []
    var ignored: UInt32 = 0
    _ = lotr_v4l2_request_buffers(fd, 0, &ignored)
    _ = lotr_v4l2_close(fd)
    fd = -1
  }

  // MARK: frames

  public func next(timeout: Double) throws -> FrameSourceResult {
    if closed { return .ended }
    let deadline = monotonicNanoseconds() + Int64(max(0, timeout) * 1e9)
    if fd < 0 {
      guard let event = try reconnect(until: deadline) else { return .timedOut }
      return .event(event)
    }
    while true {
      let left = deadline - monotonicNanoseconds()
      var revents: Int16 = 0
      let p = lotr_v4l2_poll(fd, Int32(clamping: max(0, (left + 999_999) / 1_000_000)), &revents)
      if p < 0 { return .event(disconnect("poll: \(errnoText(-p))")) }
      if p == 0 { return .timedOut }
      if revents & (LOTR_POLLERR | LOTR_POLLHUP | LOTR_POLLNVAL) != 0 && revents & LOTR_POLLIN == 0 {
        return .event(disconnect(revents & LOTR_POLLHUP != 0 ? "device hung up (POLLHUP)" : "device error (POLLERR)"))
      }
      var buffer = lotr_v4l2_buffer()
      let r = lotr_v4l2_dequeue_buffer(fd, &buffer)
      if r == -EAGAIN {
        if monotonicNanoseconds() >= deadline { return .timedOut }
        continue
      }
      if r == -ENODEV || r == -EIO || r == -EPIPE { return .event(disconnect("VIDIOC_DQBUF: \(errnoText(-r))")) }
      if r < 0 { throw CaptureError.system(configuration.device, operation: "VIDIOC_DQBUF", errno: -r) }
      if let frame = take(buffer) { return .frame(frame) }
      if monotonicNanoseconds() >= deadline { return .timedOut }
    }
  }

  /// Converts a dequeued buffer and re-queues it (always). nil for a corrupt buffer
  /// (counted as dropped).
  private func take(_ buffer: lotr_v4l2_buffer) -> Frame? {
    defer { _ = lotr_v4l2_queue_buffer(fd, buffer.index) }
    let now = monotonicNanoseconds()
    var gap: UInt64 = 0
    if let last = lastDriverSequence, buffer.sequence > last &+ 1 { gap = UInt64(buffer.sequence &- last &- 1) }
    lastDriverSequence = buffer.sequence
    droppedFrames += gap
    nextSequence += gap
    guard Int(buffer.index) < buffers.count, let negotiation, buffer.flags & LOTR_V4L2_BUF_FLAG_ERROR == 0,
          buffer.bytes_used > 0 else {
      droppedFrames += 1
      nextSequence += 1
      return nil
    }
    let b = buffers[Int(buffer.index)]
    let raw = UnsafeRawBufferPointer(start: b.start, count: min(Int(buffer.bytes_used), b.length))
    guard let converted = PixelConversion.convert(raw, layout: layout, width: negotiation.width, height: negotiation.height,
                                                  output: configuration.output) else {
      droppedFrames += 1
      nextSequence += 1
      return nil
    }
    var ts = buffer.flags & LOTR_V4L2_BUF_FLAG_TIMESTAMP_MONOTONIC != 0 && buffer.timestamp_ns > 0 ? buffer.timestamp_ns : now
    if ts <= lastTimestamp { ts = lastTimestamp + 1 }
    lastTimestamp = ts
    let frame = Frame(sequence: nextSequence, timestampNs: ts, width: converted.width, height: converted.height,
                      format: converted.layout, pixels: converted.pixels, encoded: converted.encoded)
    nextSequence += 1
    return frame
  }

  private func disconnect(_ reason: String) -> CaptureEvent {
    teardown()
    disconnectedSince = monotonicNanoseconds()
    delay = configuration.reconnectDelay
    nextAttempt = disconnectedSince! + Int64(delay * 1e9)
    return .disconnected(reason: reason)
  }

  /// Reopen attempts until `deadline`, spaced by the back-off. Returns the event on success.
  private func reconnect(until deadline: Int64) throws -> CaptureEvent? {
    guard configuration.reconnect else { return nil }
    while true {
      let now = monotonicNanoseconds()
      if nextAttempt > now {
        if nextAttempt > deadline { sleepSeconds(Double(deadline - now) / 1e9); return nil }
        sleepSeconds(Double(nextAttempt - now) / 1e9)
      }
      do {
        try start()
        reconnects += 1
        disconnectedSince = nil
        delay = configuration.reconnectDelay
        return .reconnected(description: description)
      } catch {
        delay = min(configuration.maxReconnectDelay, delay * 2)
        nextAttempt = monotonicNanoseconds() + Int64(delay * 1e9)
        if nextAttempt > deadline {
          let now = monotonicNanoseconds()
          if deadline > now { sleepSeconds(Double(deadline - now) / 1e9) }
          return nil
        }
      }
    }
  }
}
