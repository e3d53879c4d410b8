#if canImport(Glibc)
import Glibc
#endif
import LOTR
import LOTRCapture

/// What --source names, validated when made; each `open` gives a fresh LOTRCapture source
/// (lotrd reopens after a loss, at a watcher's return after eof, and to rewind).
enum SourceSpec: Sendable, Equatable {
  case camera(path: String, width: Int, height: Int, fps: Double)
  case pipe(path: String, codec: PipeStreamSource.Codec, width: Int, height: Int)
  case images(folder: String, loop: Bool)
  case clip(path: String, loop: Bool)
  case synthetic(width: Int, height: Int)

  /// The source for a --source spec, validated (exists, has frames) without opening it.
  init(_ config: Config) throws {
    let spec = config.source
    if spec == "synthetic" { self = .synthetic(width: config.width, height: config.height); return }
    if spec.hasPrefix("/dev/") {
      // Not opened here (lazy): a camera that is absent at start is reported as DEVICE
      // error/lost to watchers and retried, as after an unplug.
      self = .camera(path: spec, width: config.width, height: config.height, fps: config.fps)
      return
    }
    for codec in [PipeStreamSource.Codec.yuv420, .mjpeg] where spec.hasPrefix(codec.rawValue + ":") {
      self = .pipe(path: String(spec.dropFirst(codec.rawValue.count + 1)), codec: codec, width: config.width, height: config.height)
      return
    }
    if fileExists(spec, directory: true) {
      _ = try ImageSource(path: spec, loop: false) // a folder with no frames is a configuration error
      self = .images(folder: spec, loop: config.loop)
      return
    }
    if fileExists(spec, directory: false) {
      _ = try ClipReader(path: spec) // validate the header now: a bad file is a configuration error
      self = .clip(path: spec, loop: config.loop)
      return
    }
    throw DaemonError("source \(spec) is not a device, a clip (.lclip), a folder of frames, yuv420:FIFO, mjpeg:FIFO, or 'synthetic'")
  }

  var path: String {
    switch self {
    case .camera(let path, _, _, _), .pipe(let path, _, _, _), .clip(let path, _): return path
    case .images(let folder, _): return folder
    case .synthetic: return "synthetic"
    }
  }

  var driver: String {
    switch self {
    case .camera: return "v4l2"
    case .pipe(_, let codec, _, _): return "pipe-\(codec.rawValue)"
    case .images: return "images"
    case .clip: return "clip"
    case .synthetic: return "synthetic"
    }
  }

  /// Files and generated frames are paced by lotrd at --fps and stamped when read; cameras
  /// and pipes pace themselves and stamp their frames.
  var pacedByDaemon: Bool {
    switch self {
    case .camera, .pipe: return false
    case .images, .clip, .synthetic: return true
    }
  }

  /// How long `next` may block: about a frame time.
  var readTimeout: Double {
    switch self {
    case .camera: return 0.25
    case .pipe: return 0.5
    case .images, .clip, .synthetic: return 1
    }
  }

  /// Opens the source; a thrown error means the device is absent or unusable.
  func open() throws -> (source: FrameSource, width: Int, height: Int) {
    switch self {
    case .camera(let path, let width, let height, let fps):
      // The camera's own YUYV / NV12 / I420 / GREY bytes: the crops are warped from them.
      let c = try V4L2Camera(CameraConfiguration(device: path, width: width, height: height, fps: fps > 0 ? fps : nil,
                                                 formats: [], output: .camera))
      Log.info("camera \(c.description)")
      return (c, c.negotiation?.width ?? width, c.negotiation?.height ?? height)
    case .pipe(let path, let codec, let width, let height):
      return (try PipeStreamSource(path: path, codec: codec, width: width, height: height, output: .camera), width, height)
    case .images(let folder, let loop):
      let s = try ImageSource(path: folder, output: .rgb8, loop: loop, realtime: false)
      let size = try s.firstFrameSize()
      return (s, size.width, size.height)
    case .clip(let path, let loop):
      let s = try ClipSource(path: path, output: .rgb8, loop: loop, realtime: false)
      return (s, s.header.width, s.header.height)
    case .synthetic(let width, let height):
      return (SyntheticSource(width: width, height: height), width, height)
    }
  }
}

/// A generated pattern: a bright disc moving over a gradient, for tests and figures.
final class SyntheticSource: FrameSource {
  let width: Int, height: Int
  var description: String { "synthetic \(width)x\(height)" }
  var droppedFrames: UInt64 { 0 }
  private var count: UInt64 = 0
  private let base: [UInt8]

  init(width: Int, height: Int) {
    self.width = width; self.height = height
    var base = [UInt8](repeating: 0, count: width * height * 3)
    for y in 0..<height {
      for x in 0..<width {
        let i = (y * width + x) * 3
        base[i] = UInt8(x * 255 / max(width - 1, 1)); base[i + 1] = UInt8(y * 255 / max(height - 1, 1)); base[i + 2] = 96
      }
    }
    self.base = base
  }

  func next(timeout: Double) throws -> FrameSourceResult {
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
    return .frame(Frame(sequence: count - 1, timestampNs: monotonicNanoseconds(), width: width, height: height, format: .rgb8,
                        pixels: pixels))
  }

  func close() {}
}
