#if canImport(Glibc)
import Glibc
#endif
import CV4L2

/// A frame interval the driver offers for one format and size.
public enum V4L2FrameInterval: Sendable, Equatable, CustomStringConvertible {
  /// `numerator/denominator` seconds per frame.
  case discrete(numerator: UInt32, denominator: UInt32)
  /// Any interval between `min` and `max` (seconds per frame, as fractions).
  case range(minNumerator: UInt32, minDenominator: UInt32, maxNumerator: UInt32, maxDenominator: UInt32)

  public var description: String {
    func fps(_ n: UInt32, _ d: UInt32) -> String { n == 0 ? "?" : formatRate(Double(d) / Double(n)) }
    switch self {
    case .discrete(let n, let d): return fps(n, d)
    case .range(let n0, let d0, let n1, let d1): return "\(fps(n1, d1))-\(fps(n0, d0))"
    }
  }
}

func formatRate(_ fps: Double) -> String {
  let rounded = (fps * 100).rounded() / 100
  return rounded == rounded.rounded() ? "\(Int(rounded))" : "\(rounded)"
}

/// A frame size the driver offers for one format.
public struct V4L2FrameSize: Sendable, Equatable, CustomStringConvertible {
  public enum Kind: Sendable, Equatable { case discrete, stepwise }
  public var kind: Kind
  /// The size (discrete), or the largest (stepwise).
  public var width: Int, height: Int
  public var minWidth: Int, minHeight: Int, stepWidth: Int, stepHeight: Int
  /// Frame rates offered at this size (for stepwise sizes, at the largest).
  public var intervals: [V4L2FrameInterval]

  public var description: String {
    kind == .discrete ? "\(width)x\(height)" : "\(minWidth)x\(minHeight)-\(width)x\(height) step \(stepWidth)x\(stepHeight)"
  }
}

/// A capture format the device (or libv4l2's conversion) offers.
public struct V4L2FormatInfo: Sendable, Equatable {
  public var fourcc: UInt32
  public var name: String { fourccString(fourcc) }
  public var description: String
  /// Produced by libv4l2's conversion rather than the hardware.
  public var emulated: Bool
  public var compressed: Bool
  public var sizes: [V4L2FrameSize]
}

/// One /dev/video* node and what it can do.
public struct V4L2DeviceInfo: Sendable {
  public var path: String
  /// /dev/v4l/by-id links that point at this node (stable names across reboots).
  public var byIdNames: [String]
  public var driver = "", card = "", busInfo = ""
  public var deviceCaps: UInt32 = 0
  public var isCapture: Bool { deviceCaps & (LOTR_V4L2_CAP_VIDEO_CAPTURE | LOTR_V4L2_CAP_VIDEO_CAPTURE_MPLANE) != 0 }
  public var canStream: Bool { deviceCaps & LOTR_V4L2_CAP_STREAMING != 0 }
  public var formats: [V4L2FormatInfo] = []
  /// Why the node could not be queried (permission, busy...), if it could not.
  public var error: CaptureError?
}

/// Finds and describes V4L2 devices.
public enum V4L2Devices {
  /// The video nodes under `devDirectory` (/dev/video*, sorted by number), each queried.
  /// `byIdDirectory` maps stable names to nodes. An empty array when there are none.
  public static func list(devDirectory: String = "/dev", byIdDirectory: String = "/dev/v4l/by-id") -> [V4L2DeviceInfo] {
    let names = (directoryEntries(devDirectory) ?? []).filter {
      $0.hasPrefix("video") && !$0.dropFirst(5).isEmpty && $0.dropFirst(5).allSatisfy(\.isNumber)
    }.sorted { Int($0.dropFirst(5))! < Int($1.dropFirst(5))! }
    var links: [String: [String]] = [:]
    for link in directoryEntries(byIdDirectory) ?? [] {
      let full = byIdDirectory + "/" + link
      if let target = canonicalPath(full) { links[target, default: []].append(full) }
    }
    return names.map { name in
      let path = devDirectory + "/" + name
      return describe(path: path, byIdNames: links[canonicalPath(path) ?? path] ?? [])
    }
  }

  /// Queries one node: capabilities, formats, sizes and frame intervals.
  public static func describe(path: String, byIdNames: [String] = []) -> V4L2DeviceInfo {
    var info = V4L2DeviceInfo(path: path, byIdNames: byIdNames)
    let fd: Int32
    do { fd = try V4L2Device.open(path) } catch let e as CaptureError { info.error = e; return info } catch { return info }
    defer { _ = lotr_v4l2_close(fd) }
    var caps = lotr_v4l2_caps()
    guard lotr_v4l2_query_caps(fd, &caps) == 0 else {
      info.error = .notACaptureDevice(path, detail: "VIDIOC_QUERYCAP failed")
      return info
    }
    info.driver = tupleText(caps.driver)
    info.card = tupleText(caps.card)
    info.busInfo = tupleText(caps.bus_info)
    info.deviceCaps = caps.device_caps
    if info.isCapture { info.formats = formats(fd: fd) }
    return info
  }

  /// The single-planar capture formats of an open node.
  static func formats(fd: Int32) -> [V4L2FormatInfo] {
    var result: [V4L2FormatInfo] = []
    var index: UInt32 = 0
    var desc = lotr_v4l2_fmtdesc()
    while index < 256, lotr_v4l2_enum_format(fd, index, &desc) == 0 {
      result.append(V4L2FormatInfo(fourcc: desc.fourcc, description: tupleText(desc.description),
                                   emulated: desc.flags & LOTR_V4L2_FMT_FLAG_EMULATED != 0,
                                   compressed: desc.flags & LOTR_V4L2_FMT_FLAG_COMPRESSED != 0,
                                   sizes: sizes(fd: fd, fourcc: desc.fourcc)))
      index += 1
    }
    return result
  }

  static func sizes(fd: Int32, fourcc: UInt32) -> [V4L2FrameSize] {
    var result: [V4L2FrameSize] = []
    var index: UInt32 = 0
    var s = lotr_v4l2_framesize()
    while index < 256, lotr_v4l2_enum_framesize(fd, fourcc, index, &s) == 0 {
      if s.type == 1 {
        result.append(V4L2FrameSize(kind: .discrete, width: Int(s.width), height: Int(s.height), minWidth: Int(s.width),
                                    minHeight: Int(s.height), stepWidth: 0, stepHeight: 0,
                                    intervals: intervals(fd: fd, fourcc: fourcc, width: s.width, height: s.height)))
      } else {
        result.append(V4L2FrameSize(kind: .stepwise, width: Int(s.max_width), height: Int(s.max_height),
                                    minWidth: Int(s.min_width), minHeight: Int(s.min_height),
                                    stepWidth: Int(s.step_width), stepHeight: Int(s.step_height),
                                    intervals: intervals(fd: fd, fourcc: fourcc, width: s.max_width, height: s.max_height)))
        break
      }
      index += 1
    }
    return result
  }

  static func intervals(fd: Int32, fourcc: UInt32, width: UInt32, height: UInt32) -> [V4L2FrameInterval] {
    var result: [V4L2FrameInterval] = []
    var index: UInt32 = 0
    var i = lotr_v4l2_frameinterval()
    while index < 256, lotr_v4l2_enum_frameinterval(fd, fourcc, width, height, index, &i) == 0 {
      if i.type == 1 {
        result.append(.discrete(numerator: i.numerator, denominator: i.denominator))
      } else {
        result.append(.range(minNumerator: i.min_numerator, minDenominator: i.min_denominator,
                             maxNumerator: i.max_numerator, maxDenominator: i.max_denominator))
        break
      }
      index += 1
    }
    return result
  }
}

/// Opening a node with errors a person can act on.
enum V4L2Device {
  static func open(_ path: String) throws -> Int32 {
    let kind = lotr_v4l2_is_char_device(path)
    if kind < 0 { throw mapOpenError(path, -kind) }
    if kind == 0 { throw CaptureError.notACaptureDevice(path, detail: "not a character device") }
    let fd = lotr_v4l2_open(path)
    if fd < 0 { throw mapOpenError(path, -fd) }
    return fd
  }

  static func mapOpenError(_ path: String, _ code: Int32) -> CaptureError {
    switch code {
    case ENOENT, ENODEV, ENXIO: return .noSuchDevice(path)
    case EBUSY: return .busy(path)
    case EACCES, EPERM: return .permissionDenied(path)
    // libv4l2's v4l2_open fails this way when the node does not answer VIDIOC_QUERYCAP.
    case ENOTTY, EINVAL: return .notACaptureDevice(path, detail: "it does not answer VIDIOC_QUERYCAP: not a V4L2 device")
    default: return .system(path, operation: "open", errno: code)
    }
  }
}
