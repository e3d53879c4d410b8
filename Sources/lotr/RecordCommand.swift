import ArgumentParser
import LOTR
import LOTRCapture

struct RecordCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "record",
    abstract: "Record a clip (.lclip, docs/CLIP.md) from a V4L2 camera or from a folder of images.",
    discussion: """
      lotr record --device /dev/video0 -n 300 --size 640x480 --fps 30 clip.lclip
      lotr record --images FOLDER --fps 30 clip.lclip
      MJPEG cameras' frames are stored as they arrive; raw formats are encoded with libjpeg-turbo.
      """
  )

  @Option(help: "The camera (/dev/videoN or a /dev/v4l/by-id link).")
  var device: String?

  @Option(help: "Record from an image file or a folder of JPEG/PNG images (each used once, sorted by name).")
  var images: String?

  @Option(name: .short, help: "Frames to record (default: 300 from a camera, every image of a folder).")
  var n: Int?

  @Option(help: "Frame size WxH (camera: requested; images: each is resized to it; default 640x480 / the first image's).")
  var size: String?

  @Option(help: "Frames per second (camera: requested with VIDIOC_S_PARM; images: the clip's rate).")
  var fps: Double = 30

  @Option(help: "Camera format FourCC to prefer (YUYV, MJPG, GREY, NV12, YU12).")
  var format: String?

  @Option(help: "JPEG quality for frames that need encoding.")
  var quality: Int = 85

  @Argument(help: "The clip to write (.lclip).")
  var output: String

  func validate() throws {
    if (device == nil) == (images == nil) { throw ValidationError("give either --device or --images") }
    if let size, parseSize(size) == nil { throw ValidationError("--size must look like 640x480") }
    if fps <= 0 || fps > 1000 { throw ValidationError("--fps must be in (0, 1000]") }
    if let n, n <= 0 { throw ValidationError("-n must be positive") }
  }

  func run() throws {
    if let images { try recordImages(images) } else if let device { try recordCamera(device) }
  }

  private func recordCamera(_ device: String) throws {
    let (w, h) = size.flatMap(parseSize) ?? (640, 480)
    let count = n ?? 300
    let camera = try V4L2Camera(CameraConfiguration(device: device, width: w, height: h, fps: fps,
                                                    formats: format.map { [$0] } ?? [], output: .rgb8))
    defer { camera.close() }
    let got = camera.negotiation!
    print("camera  \(camera.description)")
    let rate = got.fps ?? fps
    let writer = try ClipWriter(path: output, header: clipHeader(width: got.width, height: got.height, fps: rate))
    var recorded = 0
    var timeouts = 0
    while recorded < count {
      switch try camera.next(timeout: 2) {
      case .frame(let frame):
        if frame.width != got.width || frame.height != got.height { continue }
        try writer.append(frame, quality: quality)
        recorded += 1
        timeouts = 0
      case .timedOut:
        timeouts += 1
        if timeouts >= 5 { throw RecordError(description: "no frame from \(device) for 10 s") }
      case .event(let event): print("camera  \(event)")
      case .ended: break
      }
    }
    try writer.close()
    print("wrote   \(output): \(recorded) frames \(got.width)x\(got.height), \(camera.droppedFrames) dropped while recording")
  }

  private func recordImages(_ folder: String) throws {
    let source = try ImageSource(path: folder, output: .rgb8, fps: fps, loop: n != nil)
    let count = n ?? source.paths.count
    var writer: ClipWriter?
    var target = size.flatMap(parseSize)
    var recorded = 0
    while recorded < count, case .frame(let frame) = try source.next(timeout: 1) {
      if target == nil { target = (frame.width, frame.height) }
      let (w, h) = target!
      if writer == nil { writer = try ClipWriter(path: output, header: clipHeader(width: w, height: h, fps: fps)) }
      var f = frame
      if frame.width != w || frame.height != h {
        let resized = resizeBilinear(frame.rgbImage, width: w, height: h)
        f = Frame(sequence: frame.sequence, timestampNs: frame.timestampNs, width: w, height: h, format: .rgb8, pixels: resized.pixels)
      }
      try writer!.append(f, quality: quality)
      recorded += 1
    }
    try writer?.close()
    print("wrote   \(output): \(recorded) frames \(target.map { "\($0.0)x\($0.1)" } ?? "") @ \(fps) fps from \(source.description)")
  }

  private func clipHeader(width: Int, height: Int, fps: Double) -> ClipHeader {
    let rounded = fps.rounded()
    if abs(fps - rounded) < 1e-6 { return ClipHeader(width: width, height: height, rateNumerator: UInt32(rounded)) }
    return ClipHeader(width: width, height: height, rateNumerator: UInt32((fps * 1000).rounded()), rateDenominator: 1000)
  }
}

func parseSize(_ text: String) -> (Int, Int)? {
  let parts = text.lowercased().split(separator: "x")
  guard parts.count == 2, let w = Int(parts[0]), let h = Int(parts[1]), w > 0, h > 0, w <= 16384, h <= 16384 else { return nil }
  return (w, h)
}

struct RecordError: Error, CustomStringConvertible {
  var description: String
}
