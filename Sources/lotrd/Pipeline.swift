#if canImport(Glibc)
import Glibc
#endif
import CLOTRSystem
import LOTR
import LOTRCapture
import LOTRProtocol
import LOTRVision

/// A published result, encoded as JSON with pose once on the inference thread; the socket
/// loop encodes the other forms when a client asks for them (`Encodings`).
struct Published: Sendable {
  let message: LandmarksMessage
  let json: [UInt8]
  let inferSeconds: Double
  let queueSeconds: Double
  let captureSeconds: Double
  /// When the frame was captured (monotonic ns; the message carries it as the wire's UInt64).
  let captureNs: Int64
  let doneNs: Int64

  init(message: LandmarksMessage, captureNs: Int64, inferSeconds: Double, queueSeconds: Double, captureSeconds: Double) {
    self.message = message
    json = message.jsonLine(pose: true)
    self.captureNs = captureNs
    self.inferSeconds = inferSeconds; self.queueSeconds = queueSeconds; self.captureSeconds = captureSeconds
    doneNs = monotonicNanoseconds()
  }
}

/// One result's wire forms, each encoded the first time a client wants it.
struct Encodings {
  let result: Published
  private var jsonNoPose: [UInt8]?, binary: [UInt8]?, binaryNoPose: [UInt8]?

  init(_ result: Published) { self.result = result }

  mutating func bytes(_ s: WatchSettings) -> [UInt8] {
    func cached(_ slot: inout [UInt8]?, _ make: () -> [UInt8]) -> [UInt8] {
      if let b = slot { return b }
      let b = make()
      slot = b
      return b
    }
    switch (s.format, s.pose) {
    case (.json, true): return result.json
    case (.json, false): return cached(&jsonNoPose) { result.message.jsonLine(pose: false) }
    case (.binary, true): return cached(&binary) { BinaryFrame.encode(result.message, pose: true) }
    case (.binary, false): return cached(&binaryNoPose) { BinaryFrame.encode(result.message, pose: false) }
    }
  }
}

enum Outgoing: Sendable {
  case result(Published)
  case device(DeviceMessage)
}

/// A captured frame on its way to inference.
struct CapturedFrame: Sendable {
  var frame: Frame
  /// Capture time: the driver's stamp for cameras and pipes, the read's start for files.
  var monoNs: Int64
  var wallNs: Int64
  /// Seconds the source spent producing it (decode, conversion).
  var captureSeconds: Double
  /// When it was put in the slot.
  var deliveredNs: Int64
}

/// What the capture, inference and socket threads share.
struct PipelineState {
  var wanted = false
  var wantedChangedNs = monotonicNanoseconds()
  var stopping = false
  /// The newest frame not yet taken by inference.
  var slot: CapturedFrame?
  var outbox: [Outgoing] = []
  var pendingModel: LandmarkModel?
  var pendingSource: SourceSpec?
  var modelInfo: ModelInfo
  var config: Config
  var deviceState: DeviceMessage
  var captureDropped: UInt64 = 0
  var badFrames: UInt64 = 0
  var framesCaptured: UInt64 = 0
  var captureBeat = monotonicNanoseconds()
  var inferBeat = monotonicNanoseconds()
  var mainBeat = monotonicNanoseconds()
  var threadsDone = 0
  var inferBusy = false
}

extension ModelInfo {
  init(_ model: LandmarkModel) {
    let m = model.metadata
    self.init(name: m.name, landmarks: m.landmarkCount, scheme: m.landmarkScheme)
  }
}

/// Capture → locate → int8 LOTR. Two threads: capture writes the newest frame into a
/// one-frame slot (overwriting an unconsumed one: newest wins, the drop is counted), and
/// inference takes from the slot, so inference never blocks capture. Results and device
/// events go to the outbox and the socket loop is woken through an eventfd.
final class Pipeline {
  let shared: Locked<PipelineState>
  let wakeFD: Int32
  private let firstModel: LandmarkModel
  private var threads: [SystemThread] = []

  init(config: Config, model: LandmarkModel, source: SourceSpec, wakeFD: Int32) {
    self.wakeFD = wakeFD
    firstModel = model
    shared = Locked(PipelineState(
      pendingSource: source, modelInfo: ModelInfo(model), config: config,
      deviceState: DeviceMessage(path: source.path, driver: source.driver, state: "closed", fps: config.fps)))
  }

  var modelInfo: ModelInfo { shared.withLock { $0.modelInfo } }
  var deviceState: DeviceMessage { shared.withLock { $0.deviceState } }

  func start() {
    let shared = shared, wakeFD = wakeFD, model = firstModel
    threads.append(SystemThread {
      var loop = CaptureLoop(shared: shared, wakeFD: wakeFD)
      loop.run()
      Pipeline.finish(shared)
    })
    threads.append(SystemThread { InferenceLoop(shared: shared, wakeFD: wakeFD).run(model); Pipeline.finish(shared) })
  }

  private static func finish(_ shared: Locked<PipelineState>) {
    shared.withLock { $0.threadsDone += 1 }
    shared.broadcast()
  }

  /// Asks both threads to stop and waits up to `timeout`; true when both ended (joined).
  func stop(timeout: Double) -> Bool {
    shared.withLock { $0.stopping = true }
    shared.broadcast()
    let count = threads.count
    let done = shared.wait(while: { $0.threadsDone < count }, timeout: timeout) { $0.threadsDone == count }
    if done { threads.forEach { $0.join() } }
    return done
  }

  func setWanted(_ w: Bool) {
    let changed = shared.withLock { s in
      guard w != s.wanted else { return false }
      s.wanted = w
      s.wantedChangedNs = monotonicNanoseconds()
      return true
    }
    if changed { shared.broadcast() }
  }

  func takeOutbox() -> [Outgoing] {
    shared.withLock { s in let o = s.outbox; s.outbox.removeAll(keepingCapacity: true); return o }
  }

  func apply(config c: Config, model m: LandmarkModel?, source: SourceSpec?) {
    shared.withLock { s in
      s.config = c
      if let m { s.pendingModel = m; s.modelInfo = ModelInfo(m) }
      if let source { s.pendingSource = source }
    }
    shared.broadcast()
  }

  func beat() { shared.withLock { $0.mainBeat = monotonicNanoseconds() } }

  static func post(_ o: Outgoing, to shared: Locked<PipelineState>, wakeFD: Int32) {
    shared.withLock { $0.outbox.append(o) }
    lotr_sys_eventfd_signal(wakeFD)
  }
}

/// The capture thread: opens the source when someone watches, closes it when nobody has for
/// --idle-timeout, reopens it every second after a loss, paces files at --fps.
private struct CaptureLoop {
  let shared: Locked<PipelineState>
  let wakeFD: Int32
  var spec = SourceSpec.synthetic(width: 1, height: 1) // replaced by the pending one at once
  var source: FrameSource?
  var lost = false, ended = false
  var nextDue: Int64 = 0
  var lastAttempt: Int64 = 0
  /// Bad frames of the sources closed already.
  var badBefore: UInt64 = 0
  var lastError = ""
  var reportedBad = Set<String>()

  init(shared: Locked<PipelineState>, wakeFD: Int32) { self.shared = shared; self.wakeFD = wakeFD }

  func event(_ e: DeviceMessage.Event, state: String, message: String? = nil, size: (Int, Int)? = nil) {
    let d = shared.withLock { s -> DeviceMessage in
      s.deviceState.state = state
      s.deviceState.path = spec.path
      s.deviceState.driver = spec.driver
      s.deviceState.fps = s.config.fps
      if let size { s.deviceState.width = size.0; s.deviceState.height = size.1 }
      var d = s.deviceState
      d.event = e
      d.message = message
      return d
    }
    Log.write(e == .lost || e == .error ? .warning : .info, "device \(d.path): \(e.rawValue)\(message.map { ": " + $0 } ?? "")")
    Pipeline.post(.device(d), to: shared, wakeFD: wakeFD)
  }

  mutating func close() {
    guard let s = source else { return }
    badBefore += s.badFrames
    s.close()
    source = nil
  }

  /// Sleeps up to `seconds`, waking early when the state changes.
  func idle(_ seconds: Double) {
    shared.wait(while: { !$0.stopping && $0.pendingSource == nil }, timeout: seconds) { _ in }
  }

  mutating func run() {
    while true {
      let (stopping, wanted, wantedChanged, c, newSpec) = shared.withLock { s in
        s.captureBeat = monotonicNanoseconds()
        defer { s.pendingSource = nil }
        return (s.stopping, s.wanted, s.wantedChangedNs, s.config, s.pendingSource)
      }
      if stopping { break }
      if let newSpec {
        if source != nil { close(); event(.closed, state: "closed", message: "source changed") }
        spec = newSpec
        lost = false; ended = false
      }
      if !wanted {
        ended = false // a watcher's return replays a finished file from the start
        if source != nil && seconds(since: wantedChanged) >= c.idleTimeout {
          close()
          event(.closed, state: "closed", message: "no watchers for \(fixed(c.idleTimeout, 1)) s")
        }
        shared.wait(while: { !$0.stopping && !$0.wanted && $0.pendingSource == nil }, timeout: 0.1) { _ in }
        continue
      }
      if ended { idle(0.1); continue }
      if source == nil {
        let now = monotonicNanoseconds()
        if lost && now - lastAttempt < 1_000_000_000 { idle(0.1); continue }
        lastAttempt = now
        do {
          let opened = try spec.open()
          source = opened.source
          nextDue = monotonicNanoseconds()
          event(lost ? .recovered : .opened, state: "open", size: (opened.width, opened.height))
          lost = false
          lastError = ""
        } catch {
          let text = "\(error)"
          if !lost || text != lastError { event(lost ? .lost : .error, state: "lost", message: text) }
          lost = true
          lastError = text
          continue
        }
      }
      // Pace files and generated frames at --fps (cameras pace themselves).
      if spec.pacedByDaemon && c.fps > 0 {
        let now = monotonicNanoseconds()
        if nextDue > now {
          shared.wait(while: { !$0.stopping && $0.wanted && $0.pendingSource == nil }, timeout: Double(nextDue - now) / 1e9) { _ in }
          if monotonicNanoseconds() < nextDue { continue } // woken early: re-check state
        }
        let period = Int64(1e9 / c.fps)
        nextDue = max(nextDue + period, monotonicNanoseconds() - period)
      }
      guard let frame = read(c) else { continue }
      shared.withLock { s in
        s.framesCaptured += 1
        if s.slot != nil { s.captureDropped += 1 }
        s.slot = frame
      }
      shared.broadcast()
      if c.fps == 0 && spec.pacedByDaemon {
        // Lockstep replay: hand over the next frame only once this one is taken.
        while !shared.wait(while: { $0.slot != nil && !$0.stopping }, timeout: 0.2, then: { s in
          s.captureBeat = monotonicNanoseconds()
          return s.slot == nil || s.stopping
        }) {}
      }
    }
    close()
  }

  /// The next frame, or nil after an event, a loss or the end (each handled here).
  mutating func read(_ c: Config) -> CapturedFrame? {
    guard let source else { return nil }
    let start = monotonicNanoseconds()
    let result: FrameSourceResult
    defer {
      let bad = badBefore + (self.source?.badFrames ?? 0)
      shared.withLock { $0.badFrames = bad }
      if let why = self.source?.lastBadFrame, reportedBad.insert(why).inserted { Log.warning("frame skipped: \(why)") }
    }
    do {
      result = try source.next(timeout: spec.readTimeout)
    } catch {
      close()
      lost = true
      lastAttempt = monotonicNanoseconds()
      lastError = "\(error)"
      event(.lost, state: "lost", message: lastError)
      return nil
    }
    switch result {
    case .frame(let f):
      let now = monotonicNanoseconds()
      // Cameras' frames carry the driver's CLOCK_MONOTONIC stamp: latency is measured from the sensor.
      let mono = !spec.pacedByDaemon && f.timestampNs > 0 ? f.timestampNs : start
      let wall = lotr_sys_realtime_ns() &- (now &- mono) // may be ahead of now
      var captureSeconds = seconds(from: start, to: now)
      if case .pipe = spec { captureSeconds = 0 } // the wait for the writer is not capture work
      return CapturedFrame(frame: f, monoNs: mono, wallNs: wall, captureSeconds: captureSeconds, deliveredNs: now)
    case .timedOut: return nil
    case .event(.disconnected(let why)): event(.lost, state: "lost", message: why); return nil
    case .event(.reconnected(let what)): event(.recovered, state: "open", message: what); return nil
    case .ended:
      close()
      if c.loop && spec.pacedByDaemon {
        if let reopened = try? spec.open() { self.source = reopened.source } // from the start, no DEVICE events
        return nil
      }
      ended = true
      // The last frame's result goes out before the eof event.
      shared.wait(while: { ($0.slot != nil || $0.inferBusy) && !$0.stopping }, timeout: 2) { _ in }
      event(.eof, state: "eof", message: "end of \(spec.path)")
      return nil
    }
  }
}

/// The inference thread: takes the slot's frame, finds faces, runs the model, posts the result.
private struct InferenceLoop {
  let shared: Locked<PipelineState>
  let wakeFD: Int32
  let watchdogUsec = Int64(lotr_sys_watchdog_usec())

  func run(_ first: LandmarkModel) {
    var model = first
    var lastPing: Int64 = 0
    var tracker: FaceTracker?
    var trackerKey = ""
    var seq: UInt64 = 0
    while true {
      let (stopping, newModel, taken, c, healthy) = shared.wait(
        while: { $0.slot == nil && $0.pendingModel == nil && !$0.stopping }, timeout: 0.1
      ) { s in
        let now = monotonicNanoseconds()
        s.inferBeat = now
        defer { s.pendingModel = nil; s.slot = nil }
        s.inferBusy = s.slot != nil && !s.stopping
        // The watchdog is fed only while every loop is alive: a stuck capture, inference or
        // socket loop stops the pings and systemd restarts us.
        let healthy = watchdogUsec > 0 && [s.captureBeat, s.inferBeat, s.mainBeat].allSatisfy { now &- $0 < watchdogUsec * 1000 }
        return (s.stopping, s.pendingModel, s.slot, s.config, healthy)
      }
      if stopping { break }
      if taken != nil { shared.broadcast() }
      if let newModel {
        model = newModel
        trackerKey = ""
        Log.notice("model \(newModel.metadata.name) in use")
      }
      let now = monotonicNanoseconds()
      if healthy && now - lastPing >= watchdogUsec * 500 {
        lastPing = now
        _ = lotr_sys_notify("WATCHDOG=1")
      }
      guard let taken else { continue }
      let start = monotonicNanoseconds()
      let image = taken.frame.image   // the camera's pixels: no full-frame RGB
      // A tracker per face-finding setting; rebuilt after a model swap.
      let key = [c.detector, c.detectorModel, c.model].joined(separator: "|")  // no file probe per frame
      if key != trackerKey {
        trackerKey = key
        tracker = nil
        do {
          tracker = try FaceFinding(c).tracker(model: model, threads: c.threads)
        } catch {
          Log.error("face detector: \(error); using the fixed box")
        }
      }
      var faces: [Face] = []
      if let tracker {
        for t in tracker.update(image, timestamp: Double(taken.monoNs) / 1e9) {
          let flat = t.points.flatMap { [$0.x, $0.y] }
          let b = t.crop.box
          faces.append(Face(id: UInt32(truncatingIfNeeded: t.id), score: t.score ?? (t.source == .detected ? 1 : 0.9),
                            box: Box(x: b.x, y: b.y, width: b.width, height: b.height),
                            pose: headPose(flat, image.width, image.height, focal: c.focal), eyes: eyeOpenness(flat), points: flat))
        }
      } else {
        let box = c.box.map { FaceBox(x: $0.x, y: $0.y, width: $0.width, height: $0.height) }
          ?? FaceBox(x: 0, y: 0, width: Float(image.width), height: Float(image.height))
        let points = model.landmarks(in: image, box: box)
        var flat: [Float] = []
        flat.reserveCapacity(points.count * 2)
        for p in points { flat.append(p.x); flat.append(p.y) }
        faces.append(Face(id: 1, score: 1, box: Box(x: box.x, y: box.y, width: box.width, height: box.height),
                          pose: headPose(flat, image.width, image.height, focal: c.focal), eyes: eyeOpenness(flat), points: flat))
      }
      let inferSeconds = seconds(since: start)
      seq += 1
      let device = shared.withLock { $0.deviceState.path }
      let message = LandmarksMessage(seq: seq, device: device, monoNs: UInt64(clamping: taken.monoNs), wallNs: taken.wallNs,
                                     width: image.width, height: image.height, faces: faces)
      let result = Published(message: message, captureNs: taken.monoNs, inferSeconds: inferSeconds,
                             queueSeconds: seconds(from: taken.deliveredNs, to: start), captureSeconds: taken.captureSeconds)
      shared.withLock { s in s.outbox.append(.result(result)); s.inferBusy = false }
      shared.broadcast()
      lotr_sys_eventfd_signal(wakeFD)
    }
  }
}

/// Eye openness of a 68-point face (protocol 1.1), nil for other schemes.
func eyeOpenness(_ flat: [Float]) -> EyeOpenness? {
  EyeAspectRatio.ibug68(flat).map { EyeOpenness(right: $0.right, left: $0.left) }
}

/// LANDMARKS' head pose: LOTRVision's fit of the mean 3-D face (HeadPoseFitter) through a
/// pinhole camera with its principal point at the frame's centre and a focal length of
/// --focal, or the frame's larger side when that is 0 (docs/PROTOCOL.md). nil for other
/// point counts than 68, when the fit fails, and when its error says the points are no face.
func headPose(_ points: [Float], _ width: Int, _ height: Int, focal: Double) -> HeadPose? {
  guard points.count == 136 else { return nil }
  let camera = PinholeCamera(width: width, height: height, focal: focal > 0 ? Float(focal) : nil)
  guard let fit = HeadPoseFitter.fit(points, camera: camera), fit.rmsError <= maxPoseError else { return nil }
  return HeadPose(yaw: fit.yaw, pitch: fit.pitch, roll: fit.roll)
}

/// Real faces fit the mean face to 0.03-0.08 outer-eye distances (RMS), whatever the pose;
/// landmarks this far off are not a face (or the model failed), and no pose is sent.
let maxPoseError: Float = 0.3

/// The face finding --detector asks for, resolved to a file. auto: BlazeFace when its model
/// is found (--detector-model, else beside --model), else none.
enum FaceFinding: Equatable {
  case none
  case cnn(model: String)

  init(_ c: Config) {
    let cnnModel = c.detectorModel.isEmpty ? CNNFaceDetector.shippedModel(besideLandmarkModel: c.model) : c.detectorModel
    switch c.detector {
    case "none": self = .none
    case "blazeface": self = .cnn(model: cnnModel)
    default: self = fileExists(cnnModel) ? .cnn(model: cnnModel) : .none
    }
  }

  var description: String {
    switch self {
    case .none: return "fixed box"
    case .cnn(let path): return "CNN detector \(path) + tracking"
    }
  }

  /// A tracker over the detector (nil for none); the detector's files are loaded and checked.
  func tracker(model: LandmarkModel, threads: Int) throws -> FaceTracker? {
    switch self {
    case .none: return nil
    case .cnn(let path): return FaceTracker(detector: try CNNFaceDetector(path: path, threads: threads), model: model)
    }
  }
}
