#if canImport(Glibc)
import Glibc
#endif
import CLOTRSystem
import LOTR
import LOTRCapture

/// One captured frame and when it was taken.
struct Frame {
  var image: RGBImage
  var index: UInt64
  /// Capture time (CLOCK_MONOTONIC / CLOCK_REALTIME ns): when the source began producing it.
  var monoNs: UInt64
  var wallNs: Int64
  /// Seconds the source spent producing it (decode, conversion).
  var captureSeconds: Double
}

/// What one read of a source gave.
enum SourceRead {
  case frame(Frame)
  /// A finite source has no more frames.
  case ended
  /// Nothing yet (a camera between frames, or still away after a loss).
  case idle
  /// The device went away / came back; the source keeps trying by itself.
  case lost(String)
  case recovered(String)
}

/// What lotrd reads frames from (`DaemonSource` to keep clear of LOTRCapture's
/// `FrameSource`, which the camera and clip adapters wrap). `read` blocks for at most
/// about a frame time. A thrown error means the device is gone; lotrd closes it and
/// reopens it every second (DEVICE lost, then recovered).
protocol DaemonSource: AnyObject {
  var driver: String { get }
  var path: String { get }
  /// Files and generated frames are paced by lotrd at --fps; cameras pace themselves.
  var pacedByDaemon: Bool { get }
  /// Frames skipped so far because they could not be read or decoded (STATS bad_frames).
  var badFrames: UInt64 { get }
  func open() throws -> (width: Int, height: Int)
  func read() throws -> SourceRead
  func rewind()
  func close()
}

extension DaemonSource {
  var badFrames: UInt64 { 0 }
}

enum FrameSources {
  /// The source for a --source spec, validated (exists, has frames) without opening it.
  static func make(_ config: Config) throws -> DaemonSource {
    let spec = config.source
    if spec == "synthetic" { return SyntheticSource(width: config.width, height: config.height) }
    if spec.hasPrefix("/dev/") {
      // Not opened here (lazy): a camera that is absent at start is reported as DEVICE
      // error/lost to watchers and retried, as after an unplug.
      return CameraSource(config: config)
    }
    for codec in [PipeStreamSource.Codec.yuv420, .mjpeg] where spec.hasPrefix(codec.rawValue + ":") {
      return PipeSource(path: String(spec.dropFirst(codec.rawValue.count + 1)), codec: codec,
                        width: config.width, height: config.height)
    }
    if fileExists(spec, directory: true) { return try ImageFolderSource(directory: spec) }
    if fileExists(spec, directory: false) {
      _ = try ClipReader(path: spec) // validate the header now: a bad file is a configuration error
      return ClipFileSource(path: spec, loop: config.loop)
    }
    throw DaemonError("source \(spec) is not a device, a clip (.lclip), a folder of frames, yuv420:FIFO, mjpeg:FIFO, or 'synthetic'")
  }
}

/// A folder of JPEG/PNG frames, played in name order; each decoded when read.
final class ImageFolderSource: DaemonSource {
  let path: String
  let files: [String]
  var driver: String { "images" }
  var pacedByDaemon: Bool { true }
  private var next = 0
  private var count: UInt64 = 0

  init(directory: String) throws {
    path = directory
    guard let names = listDirectory(directory) else { throw DaemonError("cannot list \(directory): \(errnoText())") }
    files = names.filter {
      let l = $0.lowercased()
      return l.hasSuffix(".jpg") || l.hasSuffix(".jpeg") || l.hasSuffix(".png")
    }.map { directory + "/" + $0 }
    guard !files.isEmpty else { throw DaemonError("\(directory) holds no .jpg or .png frames") }
  }

  /// Frames skipped because they did not decode (each file is logged once).
  private(set) var badFrames: UInt64 = 0
  private var reported = Set<Int>()
  /// Bad files in a row: a whole pass of them means the folder has nothing left to play.
  private var badRun = 0

  func open() throws -> (width: Int, height: Int) {
    next = 0
    badRun = 0
    for i in files.indices { if let image = decode(i) { return (image.width, image.height) } }
    throw DaemonError("\(path): none of its \(files.count) frames decodes")
  }

  /// The next frame that decodes; a bad one is skipped, not a reason to start over.
  func read() throws -> SourceRead {
    while next < files.count {
      let mono = monotonicNs(), wall = lotr_sys_realtime_ns()
      let i = next
      next += 1
      guard let image = decode(i) else {
        badRun += 1
        if badRun >= files.count { throw DaemonError("\(path): none of its \(files.count) frames decodes") }
        continue
      }
      badRun = 0
      count += 1
      return .frame(Frame(image: image, index: count, monoNs: mono, wallNs: wall, captureSeconds: seconds(since: mono)))
    }
    return .ended
  }

  private func decode(_ i: Int) -> RGBImage? {
    do { return try RGBImage(contentsOf: files[i]) } catch {
      badFrames += 1
      if reported.insert(i).inserted { Log.warning("frame skipped: \(error)") }
      return nil
    }
  }

  func rewind() { next = 0 }
  func close() {}
}

/// A generated pattern: a bright disc moving over a gradient, for tests and figures.
final class SyntheticSource: DaemonSource {
  let width: Int, height: Int
  var driver: String { "synthetic" }
  var path: String { "synthetic" }
  var pacedByDaemon: Bool { true }
  private var count: UInt64 = 0
  private var base: [UInt8]

  init(width: Int, height: Int) {
    self.width = width; self.height = height
    base = [UInt8](repeating: 0, count: width * height * 3)
    for y in 0..<height {
      for x in 0..<width {
        let i = (y * width + x) * 3
        base[i] = UInt8(x * 255 / max(width - 1, 1)); base[i + 1] = UInt8(y * 255 / max(height - 1, 1)); base[i + 2] = 96
      }
    }
  }

  func open() throws -> (width: Int, height: Int) { (width, height) }

  func read() throws -> SourceRead {
    let mono = monotonicNs(), wall = lotr_sys_realtime_ns()
    count += 1
    var pixels = base
    let t = Float(count) * 0.05
    let cx = Float(width) * (0.5 + 0.25 * sinf(t)), cy = Float(height) * (0.5 + 0.2 * cosf(t * 0.7))
    let r = Float(min(width, height)) * 0.2
    let (x0, x1) = (max(0, Int(cx - r)), min(width - 1, Int(cx + r)))
    let (y0, y1) = (max(0, Int(cy - r)), min(height - 1, Int(cy + r)))
    if x0 <= x1 && y0 <= y1 {
      for y in y0...y1 {
        for x in x0...x1 where (Float(x) - cx) * (Float(x) - cx) + (Float(y) - cy) * (Float(y) - cy) <= r * r {
          let i = (y * width + x) * 3
          pixels[i] = 240; pixels[i + 1] = 200; pixels[i + 2] = 180
        }
      }
    }
    return .frame(Frame(image: RGBImage(width: width, height: height, pixels: pixels), index: count, monoNs: mono, wallNs: wall,
                        captureSeconds: seconds(since: mono)))
  }

  func rewind() {}
  func close() {}
}

/// A V4L2 camera through LOTRCapture's `V4L2Camera` (format negotiation, mmap, YUYV/MJPEG
/// conversion, reconnect with back-off after an unplug).
final class CameraSource: DaemonSource {
  let config: Config
  var driver: String { "v4l2" }
  var path: String { config.source }
  var pacedByDaemon: Bool { false }
  private var camera: V4L2Camera?
  private var count: UInt64 = 0

  init(config: Config) { self.config = config }

  func open() throws -> (width: Int, height: Int) {
    let c = try V4L2Camera(CameraConfiguration(device: config.source, width: config.width, height: config.height,
                                               fps: config.fps > 0 ? config.fps : nil))
    camera = c
    Log.info("camera \(c.description)")
    return (c.negotiation?.width ?? config.width, c.negotiation?.height ?? config.height)
  }

  func read() throws -> SourceRead {
    guard let camera else { return .ended }
    let start = monotonicNs()
    switch try camera.next(timeout: 0.25) {
    case .frame(let f):
      count += 1
      // The driver's CLOCK_MONOTONIC timestamp: latency is measured from the sensor.
      let mono = f.timestampNs > 0 ? UInt64(f.timestampNs) : start
      let wall = lotr_sys_realtime_ns() - Int64(bitPattern: monotonicNs() &- mono) // may be ahead of now
      return .frame(Frame(image: f.rgbImage, index: count, monoNs: mono, wallNs: wall, captureSeconds: seconds(since: start)))
    case .timedOut: return .idle
    case .ended: return .ended
    case .event(.disconnected(let reason)): return .lost(reason)
    case .event(.reconnected(let description)): return .recovered(description)
    }
  }

  func rewind() {}
  func close() { camera?.close(); camera = nil }
}

/// A recorded clip (.lclip, docs/CLIP.md) through LOTRCapture's `ClipSource`, paced by
/// lotrd at --fps (0: lockstep with inference).
final class ClipFileSource: DaemonSource {
  let path: String
  let loop: Bool
  var driver: String { "clip" }
  var pacedByDaemon: Bool { true }
  private var clip: ClipSource?
  private var count: UInt64 = 0
  private var badBefore: UInt64 = 0 // bad frames of the ClipSources already replaced
  var badFrames: UInt64 { badBefore + (clip?.badFrames ?? 0) }

  init(path: String, loop: Bool) { self.path = path; self.loop = loop }

  func open() throws -> (width: Int, height: Int) {
    close()
    let c = try ClipSource(path: path, output: .rgb8, loop: loop, realtime: false)
    clip = c
    return (c.header.width, c.header.height)
  }

  func read() throws -> SourceRead {
    guard let clip else { return .ended }
    let mono = monotonicNs(), wall = lotr_sys_realtime_ns()
    switch try clip.next(timeout: 1) {
    case .frame(let f):
      count += 1
      return .frame(Frame(image: f.rgbImage, index: count, monoNs: mono, wallNs: wall, captureSeconds: seconds(since: mono)))
    case .timedOut: return .idle
    case .ended: return .ended
    case .event: return .idle
    }
  }

  func rewind() {
    close()
    clip = try? ClipSource(path: path, output: .rgb8, loop: loop, realtime: false)
  }

  func close() {
    badBefore += clip?.badFrames ?? 0
    clip?.close()
    clip = nil
  }
}

/// A camera tool's stream on a FIFO (`--source yuv420:PATH` or `mjpeg:PATH`, frames of
/// --width x --height): the Raspberry Pi Camera Module through rpicam-vid (docs/CAMERAS.md).
/// Paced by its writer; a writer that goes away is DEVICE lost until one opens it again.
final class PipeSource: DaemonSource {
  let path: String
  let codec: PipeStreamSource.Codec
  let width: Int, height: Int
  var driver: String { "pipe-\(codec.rawValue)" }
  var pacedByDaemon: Bool { false }
  private var stream: PipeStreamSource?
  private var count: UInt64 = 0

  init(path: String, codec: PipeStreamSource.Codec, width: Int, height: Int) {
    self.path = path; self.codec = codec; self.width = width; self.height = height
  }

  func open() throws -> (width: Int, height: Int) {
    stream = try PipeStreamSource(path: path, codec: codec, width: width, height: height, output: .rgb8)
    return (width, height)
  }

  func read() throws -> SourceRead {
    guard let stream else { return .ended }
    switch try stream.next(timeout: 0.5) {
    case .frame(let f):
      count += 1
      let mono = UInt64(f.timestampNs), wall = lotr_sys_realtime_ns()
      return .frame(Frame(image: f.rgbImage, index: count, monoNs: mono, wallNs: wall, captureSeconds: 0))
    case .timedOut: return .idle
    case .ended: return .ended
    case .event(.disconnected(let reason)): return .lost(reason)
    case .event(.reconnected(let description)): return .recovered(description)
    }
  }

  func rewind() {}
  func close() { stream?.close(); stream = nil }
}
