import LOTR

/// What a ``FrameSource`` is asked to deliver: packed RGB8, 8-bit gray, or the camera's own
/// bytes (`camera`: YUYV, NV12, I420 or GREY as the device sends them, rows packed, for a
/// consumer that warps its crops straight from them, like lotrd; JPEG and RGB24 decode to RGB8).
public enum PixelFormat: String, Sendable, CaseIterable {
  case rgb8
  case gray8
  case camera
}

/// One captured, decoded frame.
public struct Frame: Sendable {
  /// Increases by one per frame the source produced, plus one per frame it dropped: a gap
  /// of k means k frames were lost before this one.
  public var sequence: UInt64
  /// CLOCK_MONOTONIC nanoseconds: the driver's timestamp for cameras, the playback
  /// clock for files. Strictly increasing within a source.
  public var timestampNs: Int64
  public var width: Int
  public var height: Int
  public var format: PixelLayout
  /// `format.byteCount(width:height:)` bytes, rows packed.
  public var pixels: [UInt8]
  /// The JPEG as the camera or clip delivered it, when there was one (lets a recorder
  /// store MJPEG frames without re-encoding).
  public var encoded: [UInt8]?

  public init(sequence: UInt64, timestampNs: Int64, width: Int, height: Int, format: PixelLayout,
              pixels: [UInt8], encoded: [UInt8]? = nil) {
    precondition(pixels.count == format.byteCount(width: width, height: height), "frame pixel count does not match its size")
    self.sequence = sequence
    self.timestampNs = timestampNs
    self.width = width
    self.height = height
    self.format = format
    self.pixels = pixels
    self.encoded = encoded
  }

  /// The frame's pixels as they are (no copy), for the crop warps.
  public var image: PixelImage { PixelImage(width: width, height: height, layout: format, pixels: pixels) }

  /// The frame as an ``RGBImage`` (converted; gray is replicated into three channels).
  public var rgbImage: RGBImage { image.rgbImage }
}

/// Something that happened to a source between frames.
public enum CaptureEvent: Sendable, Equatable, CustomStringConvertible {
  /// The device went away (unplugged, driver removed, I/O error); the source tore
  /// everything down and will try to reopen it with back-off on the next calls.
  case disconnected(reason: String)
  /// The device is back and streaming again with this configuration.
  case reconnected(description: String)

  public var description: String {
    switch self {
    case .disconnected(let reason): return "disconnected: \(reason)"
    case .reconnected(let description): return "reconnected: \(description)"
    }
  }
}

/// What ``FrameSource/next(timeout:)`` returns.
public enum FrameSourceResult: Sendable {
  case frame(Frame)
  /// No frame within the timeout (also while a lost camera is still away).
  case timedOut
  /// A finite source (a clip or image list that does not loop) has no more frames.
  case ended
  case event(CaptureEvent)
}

/// A stream of frames: a V4L2 camera, a still image or folder of images, or a recorded clip.
/// Not thread-safe: one consumer calls `next` in a loop.
public protocol FrameSource: AnyObject {
  /// What the source reads, for logs (e.g. "/dev/video0 YUYV 640x480 @ 30 fps").
  var description: String { get }
  /// Frames lost so far (sequence gaps, corrupt buffers).
  var droppedFrames: UInt64 { get }
  /// Frames skipped so far because they could not be read or decoded (also in droppedFrames).
  var badFrames: UInt64 { get }
  /// Why the latest of those was skipped.
  var lastBadFrame: String? { get }
  /// Waits at most `timeout` seconds for the next frame.
  func next(timeout: Double) throws -> FrameSourceResult
  /// Releases the device or file. Further `next` calls return `.ended`.
  func close()
}

extension FrameSource {
  public var badFrames: UInt64 { 0 }
  public var lastBadFrame: String? { nil }
}

/// Why a source could not be opened or read.
public enum CaptureError: Error, Equatable, CustomStringConvertible {
  case noSuchDevice(String)
  case busy(String)
  case permissionDenied(String)
  case notACaptureDevice(String, detail: String)
  case noUsableFormat(String, offered: [String])
  case system(String, operation: String, errno: Int32)
  case badFile(String, detail: String)

  public var description: String {
    switch self {
    case .noSuchDevice(let path): return "\(path): no such device"
    case .busy(let path): return "\(path): device busy (another program is using the camera)"
    case .permissionDenied(let path):
      return "\(path): permission denied (add the user to the 'video' group: sudo usermod -aG video $USER, then log in again)"
    case .notACaptureDevice(let path, let detail): return "\(path): not a capture device (\(detail))"
    case .noUsableFormat(let path, let offered):
      return "\(path): no usable format (need YUYV, GREY, MJPEG, NV12, YUV420 or RGB24; the device offers \(offered.isEmpty ? "none" : offered.joined(separator: ", ")))"
    case .system(let path, let operation, let errno): return "\(path): \(operation) failed: \(errnoText(errno)) (errno \(errno))"
    case .badFile(let path, let detail): return "\(path): \(detail)"
    }
  }
}
