import LOTR

/// A still image or a folder of JPEG/PNG images (sorted by name) as frames, looping by
/// default. Timestamps advance by 1/fps per frame from the monotonic clock at open; with
/// `realtime` the source also waits so frames come at that rate. An image that does not
/// decode is skipped (counted in badFrames); a whole pass of them is an error.
public final class ImageSource: FrameSource {
  public let paths: [String]
  public let output: PixelFormat
  public let fps: Double
  public let loop: Bool
  public let realtime: Bool
  public private(set) var droppedFrames: UInt64 = 0
  public private(set) var badFrames: UInt64 = 0
  public private(set) var lastBadFrame: String?
  private var badRun = 0
  private var index = 0
  private var produced: UInt64 = 0
  private let start: Int64
  private var closed = false
  private var cache: [Int: (pixels: [UInt8], width: Int, height: Int)] = [:]

  /// `path` is an image file or a folder of them.
  public init(path: String, output: PixelFormat = .rgb8, fps: Double = 30, loop: Bool = true, realtime: Bool = false) throws {
    if isDirectory(path) {
      let names = (directoryEntries(path) ?? []).filter {
        let l = $0.lowercased()
        return l.hasSuffix(".jpg") || l.hasSuffix(".jpeg") || l.hasSuffix(".png")
      }
      guard !names.isEmpty else { throw CaptureError.badFile(path, detail: "no .jpg, .jpeg or .png images in the folder") }
      paths = names.map { path + "/" + $0 }
    } else {
      guard canonicalPath(path) != nil else { throw CaptureError.badFile(path, detail: "no such file or folder") }
      paths = [path]
    }
    self.output = output
    self.fps = fps > 0 ? fps : 30
    self.loop = loop
    self.realtime = realtime
    self.start = monotonicNanoseconds()
  }

  public var description: String { paths.count == 1 ? paths[0] : "\(paths.count) images (\(paths[0]) ...)" }

  public func close() { closed = true; cache = [:] }

  public func next(timeout: Double) throws -> FrameSourceResult {
    if closed { return .ended }
    let ts = start + Int64((Double(produced) / fps * 1e9).rounded())
    if realtime {
      let wait = Double(ts - monotonicNanoseconds()) / 1e9
      if wait > timeout { sleepSeconds(timeout); return .timedOut }
      sleepSeconds(wait)
    }
    while true {
      if index >= paths.count {
        guard loop else { return .ended }
        index = 0
      }
      let i = index
      index += 1
      let image: (pixels: [UInt8], width: Int, height: Int)
      if let cached = cache[i] {
        image = cached
      } else {
        do { image = try decode(i) } catch {
          droppedFrames += 1
          badFrames += 1
          lastBadFrame = "\(error)"
          badRun += 1
          if badRun >= paths.count { throw paths.count == 1 ? error : noneDecodes }
          continue
        }
        if paths.count == 1 { cache[i] = image }  // a still image: decode once
      }
      badRun = 0
      let frame = Frame(sequence: produced, timestampNs: ts, width: image.width, height: image.height, format: output.decodedLayout,
                        pixels: image.pixels)
      produced += 1
      return .frame(frame)
    }
  }

  /// The size of the first image that decodes (images are decoded again when played).
  public func firstFrameSize() throws -> (width: Int, height: Int) {
    for i in paths.indices { if let image = try? decode(i) { return (image.width, image.height) } }
    throw noneDecodes
  }

  private var noneDecodes: CaptureError {
    CaptureError.badFile(paths.count == 1 ? paths[0] : description, detail: "none of its \(paths.count) images decodes")
  }

  private func decode(_ i: Int) throws -> (pixels: [UInt8], width: Int, height: Int) {
    let rgb: RGBImage
    do { rgb = try RGBImage(contentsOf: paths[i]) } catch { throw CaptureError.badFile(paths[i], detail: "\(error)") }
    return (PixelConversion.fromRGB(rgb.pixels, width: rgb.width, height: rgb.height, output: output), rgb.width, rgb.height)
  }
}
