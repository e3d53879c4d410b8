/// A box in frame pixels: top-left corner and size.
public struct Box: Sendable, Equatable {
  public var x: Float, y: Float, width: Float, height: Float
  public init(x: Float, y: Float, width: Float, height: Float) { self.x = x; self.y = y; self.width = width; self.height = height }
}

/// Head pose in degrees, estimated from the landmarks: yaw (+ = the face turns to the
/// image's right), pitch (+ = looks down), roll (+ = clockwise in the image).
public struct HeadPose: Sendable, Equatable {
  public var yaw: Float, pitch: Float, roll: Float
  public init(yaw: Float, pitch: Float, roll: Float) { self.yaw = yaw; self.pitch = pitch; self.roll = roll }
}

/// Eye openness: the eye aspect ratio (Soukupová and Čech 2016) of each eye's 6 points,
/// (|p2 - p6| + |p3 - p5|) / (2 |p1 - p4|): about 0.3 open, below 0.2 closed. `right` is
/// the subject's right eye (iBUG points 36-41, on the image's left), `left` points 42-47.
/// Protocol 1.1.
public struct EyeOpenness: Sendable, Equatable {
  public var right: Float, left: Float
  public init(right: Float, left: Float) { self.right = right; self.left = left }
}

public struct Face: Sendable, Equatable {
  /// Stable while the face is tracked; a new id after it is lost.
  public var id: UInt32
  /// Detection/tracking confidence in [0, 1] (1 when the box is fixed by configuration).
  public var score: Float
  public var box: Box
  public var pose: HeadPose?
  /// 68-point models only (protocol 1.1); nil from a 1.0 server.
  public var eyes: EyeOpenness?
  /// x0, y0, x1, y1, ... in frame pixels (continuous: pixel x spans [x, x+1)).
  public var points: [Float]

  public init(id: UInt32, score: Float, box: Box, pose: HeadPose?, eyes: EyeOpenness? = nil, points: [Float]) {
    self.id = id; self.score = score; self.box = box; self.pose = pose; self.eyes = eyes; self.points = points
  }
}

public struct LandmarksMessage: Sendable, Equatable {
  public var seq: UInt64
  public var device: String
  /// Frame capture time on CLOCK_MONOTONIC and CLOCK_REALTIME, nanoseconds.
  public var monoNs: UInt64
  public var wallNs: Int64
  public var width: Int
  public var height: Int
  public var faces: [Face]

  public init(seq: UInt64, device: String, monoNs: UInt64, wallNs: Int64, width: Int, height: Int, faces: [Face]) {
    self.seq = seq; self.device = device; self.monoNs = monoNs; self.wallNs = wallNs
    self.width = width; self.height = height; self.faces = faces
  }
}

public struct ModelInfo: Sendable, Equatable {
  public var name: String, landmarks: Int, scheme: String
  public init(name: String, landmarks: Int, scheme: String) { self.name = name; self.landmarks = landmarks; self.scheme = scheme }
}

public struct VersionMessage: Sendable, Equatable {
  public var release: String
  public var protoMajor: Int
  public var protoMinor: Int
  public var model: ModelInfo?
  public init(release: String = LOTRProto.release, protoMajor: Int = LOTRProto.major, protoMinor: Int = LOTRProto.minor,
              model: ModelInfo?) {
    self.release = release; self.protoMajor = protoMajor; self.protoMinor = protoMinor; self.model = model
  }
}

/// A device's state, in DEVICES replies, and an event about it (`event` set) when it changes.
public struct DeviceMessage: Sendable, Equatable {
  public enum Event: String, Sendable { case opened, closed, lost, recovered, eof, error }
  public var path: String
  public var driver: String
  public var state: String // "open", "closed", "lost", "eof"
  public var event: Event?
  public var message: String?
  public var width: Int
  public var height: Int
  public var fps: Double

  public init(path: String, driver: String, state: String, event: Event? = nil, message: String? = nil,
              width: Int = 0, height: Int = 0, fps: Double = 0) {
    self.path = path; self.driver = driver; self.state = state; self.event = event; self.message = message
    self.width = width; self.height = height; self.fps = fps
  }
}

public struct StageLatency: Sendable, Equatable {
  public var name: String, p50: Double, p99: Double
  public init(name: String, p50: Double, p99: Double) { self.name = name; self.p50 = p50; self.p99 = p99 }
}

public struct StatsMessage: Sendable, Equatable {
  public var fps: Double
  public var frames: UInt64
  public var captureDropped: UInt64
  /// Source frames skipped because they could not be read or decoded.
  public var badFrames: UInt64
  public var clientDropped: UInt64
  public var clients: Int
  public var watchers: Int
  /// Milliseconds per stage over the recent frames: capture, queue, infer, publish, total.
  public var latencyMs: [StageLatency]
  public var youDropped: UInt64
  public var youQueued: Int
  public var rssKB: Int
  public var cpuSeconds: Double
  public var uptime: Double

  public init(fps: Double = 0, frames: UInt64 = 0, captureDropped: UInt64 = 0, badFrames: UInt64 = 0, clientDropped: UInt64 = 0, clients: Int = 0,
              watchers: Int = 0, latencyMs: [StageLatency] = [], youDropped: UInt64 = 0, youQueued: Int = 0,
              rssKB: Int = 0, cpuSeconds: Double = 0, uptime: Double = 0) {
    self.fps = fps; self.frames = frames; self.captureDropped = captureDropped; self.badFrames = badFrames; self.clientDropped = clientDropped
    self.clients = clients; self.watchers = watchers; self.latencyMs = latencyMs; self.youDropped = youDropped
    self.youQueued = youQueued; self.rssKB = rssKB; self.cpuSeconds = cpuSeconds; self.uptime = uptime
  }
}

/// Everything the server sends.
public enum Message: Sendable, Equatable {
  case version(VersionMessage)
  case watch(WatchSettings)
  case landmarks(LandmarksMessage)
  case device(DeviceMessage)
  case devices([DeviceMessage])
  case stats(StatsMessage)
  case poll(active: Int, landmarks: [LandmarksMessage])
  /// This client lost `count` results because it read too slowly (`total` since connect).
  case dropped(count: UInt64, total: UInt64)
  case error(String)
  /// A class this client does not know (a newer minor version): ignore it.
  case unknown(String, JSONValue)

  public var className: String {
    switch self {
    case .version: return "VERSION"
    case .watch: return "WATCH"
    case .landmarks: return "LANDMARKS"
    case .device: return "DEVICE"
    case .devices: return "DEVICES"
    case .stats: return "STATS"
    case .poll: return "POLL"
    case .dropped: return "DROPPED"
    case .error: return "ERROR"
    case .unknown(let c, _): return c
    }
  }
}

// MARK: JSON encoding (the server's hot path uses `LandmarksMessage.writeJSON`)

extension LandmarksMessage {
  /// One JSON object; points with `decimals` decimals (2 = 1/100 pixel).
  public func writeJSON(_ w: inout JSONWriter, decimals: Int = 2, pose: Bool = true) {
    w.beginObject()
    w.key("class"); w.string("LANDMARKS")
    w.key("seq"); w.int(seq)
    w.key("device"); w.string(device)
    w.key("mono_ns"); w.int(monoNs)
    w.key("wall_ns"); w.int(wallNs)
    w.key("width"); w.int(width)
    w.key("height"); w.int(height)
    w.key("faces"); w.beginArray()
    for f in faces {
      w.beginObject()
      w.key("id"); w.int(f.id)
      w.key("score"); w.float(f.score, decimals: 3)
      w.key("box"); w.beginArray()
      w.float(f.box.x, decimals: decimals); w.float(f.box.y, decimals: decimals)
      w.float(f.box.width, decimals: decimals); w.float(f.box.height, decimals: decimals)
      w.endArray()
      if pose, let p = f.pose {
        w.key("pose"); w.beginObject()
        w.key("yaw"); w.float(p.yaw, decimals: 1)
        w.key("pitch"); w.float(p.pitch, decimals: 1)
        w.key("roll"); w.float(p.roll, decimals: 1)
        w.endObject()
      }
      if let e = f.eyes {
        w.key("eyes"); w.beginObject()
        w.key("right"); w.float(e.right, decimals: 3)
        w.key("left"); w.float(e.left, decimals: 3)
        w.endObject()
      }
      w.key("points"); w.beginArray()
      var i = 0
      while i + 1 < f.points.count {
        w.beginArray(); w.float(f.points[i], decimals: decimals); w.float(f.points[i + 1], decimals: decimals); w.endArray()
        i += 2
      }
      w.endArray()
      w.endObject()
    }
    w.endArray()
    w.endObject()
  }

  public func jsonLine(decimals: Int = 2, pose: Bool = true) -> [UInt8] {
    var w = JSONWriter(capacity: 256 + faces.reduce(0) { $0 + $1.points.count * 9 })
    writeJSON(&w, decimals: decimals, pose: pose)
    w.newline()
    return w.bytes
  }
}

extension DeviceMessage {
  func writeJSON(_ w: inout JSONWriter) {
    w.beginObject()
    w.key("class"); w.string("DEVICE")
    w.key("path"); w.string(path)
    w.key("driver"); w.string(driver)
    w.key("state"); w.string(state)
    if let event { w.key("event"); w.string(event.rawValue) }
    if let message { w.key("message"); w.string(message) }
    w.key("width"); w.int(width)
    w.key("height"); w.int(height)
    w.key("fps"); w.float(fps, decimals: 2)
    w.endObject()
  }
}

extension Message {
  /// The message as one JSON line, newline included.
  public func jsonLine() -> [UInt8] {
    if case .landmarks(let l) = self { return l.jsonLine() }
    var w = JSONWriter()
    writeJSON(&w)
    w.newline()
    return w.bytes
  }

  public func writeJSON(_ w: inout JSONWriter) {
    switch self {
    case .landmarks(let l): l.writeJSON(&w)
    case .device(let d): d.writeJSON(&w)
    case .version(let v):
      w.beginObject()
      w.key("class"); w.string("VERSION")
      w.key("release"); w.string(v.release)
      w.key("proto_major"); w.int(v.protoMajor)
      w.key("proto_minor"); w.int(v.protoMinor)
      if let m = v.model {
        w.key("model"); w.beginObject()
        w.key("name"); w.string(m.name)
        w.key("landmarks"); w.int(m.landmarks)
        w.key("scheme"); w.string(m.scheme)
        w.endObject()
      }
      w.endObject()
    case .watch(let s):
      w.beginObject()
      w.key("class"); w.string("WATCH")
      w.key("enable"); w.bool(s.enable)
      w.key("format"); w.string(s.format.rawValue)
      w.key("rate"); w.float(s.rate, decimals: 3)
      w.key("pose"); w.bool(s.pose)
      w.endObject()
    case .devices(let list):
      w.beginObject()
      w.key("class"); w.string("DEVICES")
      w.key("devices"); w.beginArray()
      for d in list { d.writeJSON(&w) }
      w.endArray()
      w.endObject()
    case .stats(let s):
      w.beginObject()
      w.key("class"); w.string("STATS")
      w.key("fps"); w.float(s.fps, decimals: 2)
      w.key("frames"); w.int(s.frames)
      w.key("capture_dropped"); w.int(s.captureDropped)
      w.key("bad_frames"); w.int(s.badFrames)
      w.key("client_dropped"); w.int(s.clientDropped)
      w.key("clients"); w.int(s.clients)
      w.key("watchers"); w.int(s.watchers)
      w.key("latency_ms"); w.beginObject()
      for stage in s.latencyMs {
        w.key(stage.name); w.beginObject()
        w.key("p50"); w.float(stage.p50, decimals: 3)
        w.key("p99"); w.float(stage.p99, decimals: 3)
        w.endObject()
      }
      w.endObject()
      w.key("you"); w.beginObject()
      w.key("dropped"); w.int(s.youDropped)
      w.key("queued"); w.int(s.youQueued)
      w.endObject()
      w.key("rss_kb"); w.int(s.rssKB)
      w.key("cpu_s"); w.float(s.cpuSeconds, decimals: 3)
      w.key("uptime_s"); w.float(s.uptime, decimals: 3)
      w.endObject()
    case .poll(let active, let list):
      w.beginObject()
      w.key("class"); w.string("POLL")
      w.key("active"); w.int(active)
      w.key("landmarks"); w.beginArray()
      for l in list { l.writeJSON(&w) }
      w.endArray()
      w.endObject()
    case .dropped(let count, let total):
      w.beginObject()
      w.key("class"); w.string("DROPPED")
      w.key("count"); w.int(count)
      w.key("total"); w.int(total)
      w.endObject()
    case .error(let message):
      w.beginObject()
      w.key("class"); w.string("ERROR")
      w.key("message"); w.string(message)
      w.endObject()
    case .unknown(_, let value):
      w.raw(Array(JSONValue.render(value).utf8))
    }
  }
}

extension JSONValue {
  /// Compact rendering (used for pass-through of unknown classes and pretty printing).
  public static func render(_ v: JSONValue, indent: String? = nil, level: Int = 0) -> String {
    let nl = indent == nil ? "" : "\n"
    let pad = { (n: Int) in String(repeating: indent ?? "", count: n) }
    let sep = indent == nil ? ":" : ": "
    switch v {
    case .null: return "null"
    case .bool(let b): return b ? "true" : "false"
    case .integer(let i): return String(i)
    case .number(let d):
      if d == d.rounded(), abs(d) < 1e15 { return String(Int64(d)) }
      return "\(d)"
    case .string(let s):
      var w = JSONWriter(); w.string(s); return String(decoding: w.bytes, as: UTF8.self)
    case .array(let a):
      if a.isEmpty { return "[]" }
      // Short numeric arrays (points, boxes) stay on one line when pretty.
      if a.allSatisfy({ if case .number = $0 { return true }; return false }) {
        return "[" + a.map { render($0) }.joined(separator: indent == nil ? "," : ", ") + "]"
      }
      return "[" + nl + a.map { pad(level + 1) + render($0, indent: indent, level: level + 1) }
        .joined(separator: "," + nl) + nl + pad(level) + "]"
    case .object(let m):
      if m.isEmpty { return "{}" }
      return "{" + nl + m.map { k, val in
        var w = JSONWriter(); w.string(k)
        return pad(level + 1) + String(decoding: w.bytes, as: UTF8.self) + sep + render(val, indent: indent, level: level + 1)
      }.joined(separator: "," + nl) + nl + pad(level) + "}"
    }
  }
}

// MARK: JSON decoding (clients)

public struct ProtocolError: Error, Sendable, CustomStringConvertible {
  public var message: String
  public init(_ message: String) { self.message = message }
  public var description: String { message }
}

extension Message {
  /// Decodes one JSON line from the server. Unknown classes decode to `.unknown`;
  /// unknown members are ignored (minor versions may add them).
  public static func decode<C: Collection>(line: C) throws -> Message where C.Element == UInt8 {
    let v: JSONValue
    do { v = try JSONParser.parse(line, limits: .message) } catch { throw ProtocolError("bad JSON from server: \(error)") }
    return try decode(v)
  }

  public static func decode(_ v: JSONValue) throws -> Message {
    guard let cls = v["class"]?.string else { throw ProtocolError("message has no class") }
    switch cls {
    case "VERSION":
      let model = v["model"].map {
        ModelInfo(name: $0["name"]?.string ?? "", landmarks: $0["landmarks"]?.int ?? 0, scheme: $0["scheme"]?.string ?? "")
      }
      return .version(VersionMessage(release: v["release"]?.string ?? "", protoMajor: v["proto_major"]?.int ?? 0,
                                     protoMinor: v["proto_minor"]?.int ?? 0, model: model))
    case "WATCH":
      return .watch(WatchSettings(enable: v["enable"]?.bool ?? false,
                                  format: v["format"]?.string.flatMap(WatchSettings.Format.init(rawValue:)) ?? .json,
                                  rate: v["rate"]?.double ?? 0, pose: v["pose"]?.bool ?? true))
    case "LANDMARKS": return .landmarks(try landmarks(v))
    case "DEVICE": return .device(device(v))
    case "DEVICES": return .devices((v["devices"]?.array ?? []).map(device))
    case "STATS":
      let stages = (v["latency_ms"]?.members ?? []).map {
        StageLatency(name: $0.0, p50: $0.1["p50"]?.double ?? 0, p99: $0.1["p99"]?.double ?? 0)
      }
      return .stats(StatsMessage(fps: v["fps"]?.double ?? 0, frames: UInt64(max(0, v["frames"]?.int ?? 0)),
                                 captureDropped: UInt64(max(0, v["capture_dropped"]?.int ?? 0)),
                                 badFrames: UInt64(max(0, v["bad_frames"]?.int ?? 0)),
                                 clientDropped: UInt64(max(0, v["client_dropped"]?.int ?? 0)),
                                 clients: v["clients"]?.int ?? 0, watchers: v["watchers"]?.int ?? 0, latencyMs: stages,
                                 youDropped: UInt64(max(0, v["you"]?["dropped"]?.int ?? 0)),
                                 youQueued: v["you"]?["queued"]?.int ?? 0, rssKB: v["rss_kb"]?.int ?? 0,
                                 cpuSeconds: v["cpu_s"]?.double ?? 0, uptime: v["uptime_s"]?.double ?? 0))
    case "POLL":
      return .poll(active: v["active"]?.int ?? 0, landmarks: try (v["landmarks"]?.array ?? []).map(landmarks))
    case "DROPPED":
      return .dropped(count: UInt64(max(0, v["count"]?.int ?? 0)), total: UInt64(max(0, v["total"]?.int ?? 0)))
    case "ERROR": return .error(v["message"]?.string ?? "")
    default: return .unknown(cls, v)
    }
  }

  private static func device(_ v: JSONValue) -> DeviceMessage {
    DeviceMessage(path: v["path"]?.string ?? "", driver: v["driver"]?.string ?? "", state: v["state"]?.string ?? "",
                  event: v["event"]?.string.flatMap(DeviceMessage.Event.init(rawValue:)), message: v["message"]?.string,
                  width: v["width"]?.int ?? 0, height: v["height"]?.int ?? 0, fps: v["fps"]?.double ?? 0)
  }

  private static func landmarks(_ v: JSONValue) throws -> LandmarksMessage {
    func f(_ j: JSONValue?) -> Float { j?.double.map(Float.init) ?? .nan }
    let faces = try (v["faces"]?.array ?? []).map { face -> Face in
      let b = face["box"]?.array ?? []
      guard b.count == 4 else { throw ProtocolError("LANDMARKS face box needs 4 numbers") }
      var points: [Float] = []
      for p in face["points"]?.array ?? [] {
        guard let xy = p.array, xy.count == 2 else { throw ProtocolError("LANDMARKS point needs 2 numbers") }
        points.append(f(xy[0])); points.append(f(xy[1]))
      }
      let pose = face["pose"].map { HeadPose(yaw: f($0["yaw"]), pitch: f($0["pitch"]), roll: f($0["roll"])) }
      let eyes = face["eyes"].map { EyeOpenness(right: f($0["right"]), left: f($0["left"])) }
      return Face(id: UInt32(clamping: face["id"]?.int ?? 0), score: f(face["score"]),
                  box: Box(x: f(b[0]), y: f(b[1]), width: f(b[2]), height: f(b[3])), pose: pose, eyes: eyes, points: points)
    }
    return LandmarksMessage(seq: UInt64(max(0, v["seq"]?.int ?? 0)), device: v["device"]?.string ?? "",
                            monoNs: UInt64(max(0, v["mono_ns"]?.int ?? 0)), wallNs: Int64(v["wall_ns"]?.int ?? 0),
                            width: v["width"]?.int ?? 0, height: v["height"]?.int ?? 0, faces: faces)
  }
}
