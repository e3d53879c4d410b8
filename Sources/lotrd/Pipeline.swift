#if canImport(Glibc)
import Glibc
#endif
import CLOTRSystem
import LOTR
import LOTRProtocol
import LOTRVision

/// A published result: encoded once on the inference thread, shared by every client.
final class Published {
  let message: LandmarksMessage
  let json: [UInt8]
  private(set) lazy var jsonNoPose: [UInt8] = message.jsonLine(pose: false)
  private(set) lazy var binary: [UInt8] = BinaryFrame.encode(message, pose: true)
  private(set) lazy var binaryNoPose: [UInt8] = BinaryFrame.encode(message, pose: false)
  let inferSeconds: Double
  let queueSeconds: Double
  let captureSeconds: Double
  let doneNs: UInt64

  init(message: LandmarksMessage, inferSeconds: Double, queueSeconds: Double, captureSeconds: Double) {
    self.message = message
    json = message.jsonLine(pose: true)
    self.inferSeconds = inferSeconds; self.queueSeconds = queueSeconds; self.captureSeconds = captureSeconds
    doneNs = monotonicNs()
  }

  func bytes(_ s: WatchSettings) -> [UInt8] {
    switch (s.format, s.pose) {
    case (.json, true): return json
    case (.json, false): return jsonNoPose
    case (.binary, true): return binary
    case (.binary, false): return binaryNoPose
    }
  }
}

enum Outgoing {
  case result(Published)
  case device(DeviceMessage)
}

/// Capture → locate → int8 LOTR. Two threads: capture writes the newest frame into a
/// one-frame slot (overwriting an unconsumed one: newest wins, the drop is counted), and
/// inference takes from the slot, so inference never blocks capture. Results and device
/// events go to the outbox and the socket loop is woken through an eventfd.
final class Pipeline: @unchecked Sendable {
  let monitor = Monitor()
  let wakeFD: Int32

  // Shared state, guarded by `monitor`.
  private var wanted = false
  private var wantedChangedNs = monotonicNs()
  private var stopping = false
  private var slot: (Frame, UInt64)? // frame and when it was delivered
  private var outbox: [Outgoing] = []
  private var pendingModel: LandmarkModel?
  private var pendingSource: DaemonSource?
  private(set) var config: Config
  private(set) var deviceState: DeviceMessage
  private(set) var captureDropped: UInt64 = 0
  private(set) var badFrames: UInt64 = 0
  private(set) var framesCaptured: UInt64 = 0
  private var captureBeat = monotonicNs()
  private var inferBeat = monotonicNs()
  private var threadsDone = 0
  private var inferBusy = false
  var mainBeat = monotonicNs() // written by the socket loop (under the lock)

  private var model: LandmarkModel // inference thread only (swapped under the lock)
  private var source: DaemonSource // capture thread only
  private var threads: [SystemThread] = []
  private let watchdogUsec = lotr_sys_watchdog_usec()
  private var seq: UInt64 = 0

  init(config: Config, model: LandmarkModel, source: DaemonSource, wakeFD: Int32) {
    self.config = config
    self.model = model
    self.source = source
    self.wakeFD = wakeFD
    deviceState = DeviceMessage(path: source.path, driver: source.driver, state: "closed", fps: config.fps)
  }

  var modelInfo: ModelInfo {
    monitor.withLock {
      let m = (pendingModel ?? model).metadata
      return ModelInfo(name: m.name, landmarks: m.landmarkCount, scheme: m.landmarkScheme)
    }
  }

  func start() {
    threads.append(SystemThread { [self] in captureLoop(); finish() })
    threads.append(SystemThread { [self] in inferenceLoop(); finish() })
  }

  private func finish() { monitor.withLock { threadsDone += 1; monitor.broadcast() } }

  /// Asks both threads to stop and waits up to `timeout`; true when both ended (joined).
  func stop(timeout: Double) -> Bool {
    monitor.lock()
    stopping = true
    monitor.broadcast()
    let deadline = monotonicNs() + UInt64(timeout * 1e9)
    while threadsDone < threads.count && monotonicNs() < deadline { monitor.wait(Double(deadline - monotonicNs()) / 1e9) }
    let done = threadsDone == threads.count
    monitor.unlock()
    if done { threads.forEach { $0.join() } }
    return done
  }

  func setWanted(_ w: Bool) {
    monitor.withLock {
      if w != wanted { wanted = w; wantedChangedNs = monotonicNs(); monitor.broadcast() }
    }
  }

  func takeOutbox() -> [Outgoing] {
    monitor.withLock { let o = outbox; outbox.removeAll(keepingCapacity: true); return o }
  }

  func apply(config c: Config, model m: LandmarkModel?, source s: DaemonSource?) {
    monitor.withLock {
      config = c
      if let m { pendingModel = m }
      if let s { pendingSource = s }
      monitor.broadcast()
    }
  }

  private func post(_ o: Outgoing) {
    monitor.withLock { outbox.append(o) }
    lotr_sys_eventfd_signal(wakeFD)
  }

  // MARK: capture thread

  private func captureLoop() {
    var open = false, lost = false, ended = false
    var nextDue: UInt64 = 0
    var lastAttempt: UInt64 = 0
    var badBase: UInt64 = 0 // bad frames of the sources replaced by a reload
    var lastError = ""

    func event(_ e: DeviceMessage.Event, state: String, message: String? = nil, size: (Int, Int)? = nil) {
      let d = monitor.withLock { () -> DeviceMessage in
        deviceState.state = state
        deviceState.path = source.path
        deviceState.driver = source.driver
        deviceState.fps = config.fps
        if let size { deviceState.width = size.0; deviceState.height = size.1 }
        var d = deviceState
        d.event = e
        d.message = message
        return d
      }
      Log.write(e == .lost || e == .error ? .warning : .info,
                "device \(d.path): \(e.rawValue)\(message.map { ": " + $0 } ?? "")")
      post(.device(d))
    }

    while true {
      monitor.lock()
      captureBeat = monotonicNs()
      if stopping { monitor.unlock(); break }
      let wanted = self.wanted, wantedChanged = wantedChangedNs, c = config
      let newSource = pendingSource
      pendingSource = nil
      monitor.unlock()

      if let newSource {
        if open { source.close(); open = false; event(.closed, state: "closed", message: "source changed") }
        badBase = monitor.withLock { badFrames }
        source = newSource
        lost = false; ended = false
      }
      if !wanted {
        if ended { ended = false; source.rewind() }
        if open && seconds(since: wantedChanged) >= c.idleTimeout {
          source.close()
          open = false
          event(.closed, state: "closed", message: "no watchers for \(fixed(c.idleTimeout, 1)) s")
        }
        monitor.withLock { _ = monitor.wait(0.1) }
        continue
      }
      if ended { monitor.withLock { _ = monitor.wait(0.1) }; continue }
      if !open {
        let now = monotonicNs()
        if lost && now - lastAttempt < 1_000_000_000 { monitor.withLock { _ = monitor.wait(0.1) }; continue }
        lastAttempt = now
        do {
          let size = try source.open()
          open = true
          nextDue = monotonicNs()
          event(lost ? .recovered : .opened, state: "open", size: size)
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
      if source.pacedByDaemon && c.fps > 0 {
        let now = monotonicNs()
        if nextDue > now {
          monitor.withLock { if !stopping { _ = monitor.wait(Double(nextDue - now) / 1e9) } }
          if monotonicNs() < nextDue { continue } // woken early: re-check state
        }
        let period = UInt64(1e9 / c.fps)
        nextDue = max(nextDue + period, monotonicNs() - period)
      }
      let read: SourceRead
      defer { let bad = badBase + source.badFrames; monitor.withLock { badFrames = bad } }
      do {
        read = try source.read()
      } catch {
        source.close()
        open = false
        lost = true
        lastAttempt = monotonicNs()
        lastError = "\(error)"
        event(.lost, state: "lost", message: lastError)
        continue
      }
      let frame: Frame
      switch read {
      case .frame(let f): frame = f
      case .idle: continue
      case .lost(let why): event(.lost, state: "lost", message: why); continue
      case .recovered(let what): event(.recovered, state: "open", message: what); continue
      case .ended:
        if c.loop && source.pacedByDaemon { source.rewind(); continue }
        source.close()
        open = false
        ended = true
        // The last frame's result goes out before the eof event.
        monitor.withLock {
          let deadline = monotonicNs() + 2_000_000_000
          while (slot != nil || inferBusy) && !stopping && monotonicNs() < deadline { monitor.wait(0.05) }
        }
        event(.eof, state: "eof", message: "end of \(source.path)")
        continue
      }
      monitor.lock()
      framesCaptured += 1
      if slot != nil { captureDropped += 1 }
      slot = (frame, monotonicNs())
      monitor.broadcast()
      if c.fps == 0 && source.pacedByDaemon {
        // Lockstep replay: hand over the next frame only once this one is taken.
        while slot != nil && !stopping { monitor.wait(0.2); captureBeat = monotonicNs() }
      }
      monitor.unlock()
    }
    if open { source.close() }
  }

  // MARK: inference thread

  private func inferenceLoop() {
    var lastPing: UInt64 = 0
    var tracker: FaceTracker?
    var trackerKey = ""
    while true {
      monitor.lock()
      if slot == nil && pendingModel == nil && !stopping { monitor.wait(0.1) }
      inferBeat = monotonicNs()
      if stopping { monitor.unlock(); break }
      if let m = pendingModel { model = m; pendingModel = nil; trackerKey = ""; Log.notice("model \(m.metadata.name) in use") }
      let taken = slot
      slot = nil
      inferBusy = taken != nil
      if taken != nil { monitor.broadcast() }
      let c = config
      let now = monotonicNs()
      // The watchdog is fed only while every loop is alive: a stuck capture, inference or
      // socket loop stops the pings and systemd restarts us.
      let healthy = watchdogUsec > 0 && [captureBeat, inferBeat, mainBeat].allSatisfy { now &- $0 < watchdogUsec * 1000 }
      monitor.unlock()
      if healthy && now - lastPing >= watchdogUsec * 500 {
        lastPing = now
        _ = lotr_sys_notify("WATCHDOG=1")
      }
      guard let (frame, deliveredNs) = taken else { continue }
      let start = monotonicNs()
      let image = frame.image
      // A tracker per (detector, cascade) setting; rebuilt after a model swap.
      let key = c.detector + "|" + c.cascade
      if key != trackerKey {
        trackerKey = key
        tracker = nil
        do {
          if let detector = try makeDetector(c) { tracker = FaceTracker(detector: detector, model: model) }
        } catch {
          Log.error("face detector: \(error); using the fixed box")
        }
      }
      var faces: [Face] = []
      if let tracker {
        for t in tracker.update(image, timestamp: Double(frame.monoNs) / 1e9) {
          let flat = t.points.flatMap { [$0.x, $0.y] }
          let b = t.crop.box
          faces.append(Face(id: UInt32(truncatingIfNeeded: t.id), score: t.source == .detected ? 1 : 0.9,
                            box: Box(x: b.x, y: b.y, width: b.width, height: b.height),
                            pose: HeadPoseEstimator.estimate(flat), points: flat))
        }
      } else {
        let box = c.box.map { FaceBox(x: $0.x, y: $0.y, width: $0.width, height: $0.height) }
          ?? FaceBox(x: 0, y: 0, width: Float(image.width), height: Float(image.height))
        let points = model.landmarks(in: image, box: box)
        var flat: [Float] = []
        flat.reserveCapacity(points.count * 2)
        for p in points { flat.append(p.x); flat.append(p.y) }
        faces.append(Face(id: 1, score: 1, box: Box(x: box.x, y: box.y, width: box.width, height: box.height),
                          pose: HeadPoseEstimator.estimate(flat), points: flat))
      }
      let inferSeconds = seconds(since: start)
      seq += 1
      let message = LandmarksMessage(seq: seq, device: source.path, monoNs: frame.monoNs, wallNs: frame.wallNs,
                                     width: image.width, height: image.height, faces: faces)
      let result = Published(message: message, inferSeconds: inferSeconds, queueSeconds: Double(start &- deliveredNs) / 1e9,
                             captureSeconds: frame.captureSeconds)
      monitor.withLock { outbox.append(.result(result)); inferBusy = false; monitor.broadcast() }
      lotr_sys_eventfd_signal(wakeFD)
    }
  }
}

/// Coarse head pose from 68 iBUG landmarks (eyes, nose tip): roll from the eye line, yaw
/// from the nose tip's offset from the eye midpoint across the face, pitch from the nose
/// tip's height between the eyes and the mouth. Degrees; nil for other schemes.
enum HeadPoseEstimator {
  static func estimate(_ p: [Float]) -> HeadPose? {
    guard p.count == 136 else { return nil }
    func pt(_ i: Int) -> (Float, Float) { (p[2 * i], p[2 * i + 1]) }
    func mean(_ r: ClosedRange<Int>) -> (Float, Float) {
      var (x, y) = (Float(0), Float(0))
      for i in r { x += p[2 * i]; y += p[2 * i + 1] }
      return (x / Float(r.count), y / Float(r.count))
    }
    let l = mean(36...41), r = mean(42...47), mouth = mean(48...67), nose = pt(30)
    let (dx, dy) = (r.0 - l.0, r.1 - l.1)
    let iod = (dx * dx + dy * dy).squareRoot()
    guard iod > 1e-3, iod.isFinite else { return nil }
    let roll = atan2f(dy, dx)
    let (c, s) = (cosf(-roll), sinf(-roll))
    func rotate(_ q: (Float, Float)) -> (Float, Float) {
      let (x, y) = (q.0 - (l.0 + r.0) / 2, q.1 - (l.1 + r.1) / 2)
      return (c * x - s * y, s * x + c * y)
    }
    let n = rotate(nose), m = rotate(mouth)
    let yaw = asinf(max(-1, min(1, n.0 / (0.8 * iod))))
    let ratio = m.1 > 1e-3 ? n.1 / m.1 : 0.6
    let pitch = asinf(max(-1, min(1, (0.6 - ratio) * 2.5)))
    let deg = Float(180) / .pi
    return HeadPose(yaw: yaw * deg, pitch: pitch * deg, roll: roll * deg)
  }
}

/// The face detector --detector asks for; nil for none (fixed box). auto falls back to none
/// when OpenCV's cascade is not installed.
func makeDetector(_ c: Config) throws -> FaceDetector? {
  switch c.detector {
  case "none": return nil
  case "auto":
    let path = c.cascade.isEmpty ? Cascade.defaultHaarPath : c.cascade
    return fileExists(path) ? try FaceDetector(cascadePath: path) : nil
  case "lbp": return try FaceDetector(cascadePath: c.cascade.isEmpty ? Cascade.defaultLBPPath : c.cascade)
  default: return try FaceDetector(cascadePath: c.cascade.isEmpty ? Cascade.defaultHaarPath : c.cascade)
  }
}
