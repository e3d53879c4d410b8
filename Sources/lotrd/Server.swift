#if canImport(Glibc)
import Glibc
#endif
import CLOTRSystem
import LOTR
import LOTRProtocol

/// One connected client: a non-blocking socket, a bounded output queue, its settings.
final class Client {
  struct Out { var bytes: [UInt8]; var isResult: Bool }
  let fd: Int32
  let id: Int
  let pid: Int32, uid: UInt32, gid: UInt32
  var watch = WatchSettings()
  var splitter = LineSplitter()
  var queue: [Out] = []
  var offset = 0 // bytes of queue[0] already sent
  var queuedBytes = 0
  var queuedResults = 0
  var dropped: UInt64 = 0
  var unreported: UInt64 = 0
  var lastProgressNs = monotonicNanoseconds()
  var lastResultNs: Int64 = 0
  /// Connection time, then the time of each complete request line.
  var lastRequestNs = monotonicNanoseconds()
  var readClosed = false
  var badRequests = 0
  var closeAfterFlush = false

  init(fd: Int32, id: Int, pid: Int32, uid: UInt32, gid: UInt32) {
    self.fd = fd; self.id = id; self.pid = pid; self.uid = uid; self.gid = gid
  }

  var watching: Bool { watch.enable }

  func enqueue(_ bytes: [UInt8], isResult: Bool = false) {
    if queue.isEmpty { lastProgressNs = monotonicNanoseconds() }
    queue.append(Out(bytes: bytes, isResult: isResult))
    queuedBytes += bytes.count
    if isResult { queuedResults += 1 }
  }

  func enqueue(_ m: Message) {
    enqueue(watch.enable && watch.format == .binary ? BinaryFrame.encode(m) : m.jsonLine())
  }

  /// Queues a result, dropping the oldest unsent one when `limit` are queued already.
  func enqueueResult(_ bytes: [UInt8], limit: Int) {
    var droppedNow = false
    if queuedResults >= limit, let i = queue.indices.first(where: { queue[$0].isResult && ($0 > 0 || offset == 0) }) {
      queuedBytes -= queue[i].bytes.count
      queue.remove(at: i)
      queuedResults -= 1
      dropped += 1
      unreported += 1
      droppedNow = true
    }
    if unreported > 0 && !droppedNow {
      // Room again: tell the client what it lost before the next result.
      enqueue(.dropped(count: unreported, total: dropped))
      unreported = 0
    }
    enqueue(bytes, isResult: true)
  }

  /// Writes what the socket takes. false when the peer is gone.
  func flush() -> Bool {
    while let first = queue.first {
      let n = first.bytes.withUnsafeBytes { raw in
        lotr_sys_send(fd, raw.baseAddress! + offset, raw.count - offset, 1)
      }
      if n < 0 {
        if errno == EAGAIN || errno == EWOULDBLOCK { return true }
        return false
      }
      lastProgressNs = monotonicNanoseconds()
      offset += n
      if offset == first.bytes.count {
        queue.removeFirst()
        queuedBytes -= first.bytes.count
        if first.isResult { queuedResults -= 1 }
        offset = 0
      }
    }
    return true
  }
}

private let pollIn = Int32(LOTR_POLLIN), pollOut = Int32(LOTR_POLLOUT), pollHup = Int32(LOTR_POLLHUP)
private let pollErr = Int32(LOTR_POLLERR | LOTR_POLLNVAL)

/// The socket loop: one thread, poll(2) over the listening socket, the clients, a
/// signalfd and the pipeline's eventfd. Nothing here blocks on a client.
final class Server {
  var config: Config
  let listenFD: Int32
  let ownsSocketFile: Bool
  let socketPath: String
  let socketInode: UInt64
  let pipeline: Pipeline
  let signalFD: Int32
  let startNs = monotonicNanoseconds()
  var configArguments: [String]
  var clients: [Client] = []
  var nextID = 1
  var last: Published?
  var stopRequested = false
  var latency = (capture: Samples(), queue: Samples(), infer: Samples(), publish: Samples(), total: Samples())
  var publishTimes = Samples(capacity: 64)
  var published: UInt64 = 0
  var clientDropped: UInt64 = 0
  var lastStatus = ""
  var lastStatusNs: Int64 = 0
  /// After accept(2) fails for want of descriptors (EMFILE, ENFILE, ENOBUFS), the listening
  /// socket is left out of poll until then: no busy loop, and one log line per pause.
  var acceptPausedUntilNs: Int64 = 0
  var acceptFailures = 0

  init(config: Config, arguments: [String], listenFD: Int32, ownsSocketFile: Bool, socketPath: String, pipeline: Pipeline,
       signalFD: Int32) {
    self.config = config
    configArguments = arguments
    self.listenFD = listenFD
    self.ownsSocketFile = ownsSocketFile
    self.socketPath = socketPath
    var st = stat()
    socketInode = ownsSocketFile && lstat(socketPath, &st) == 0 ? UInt64(st.st_ino) : 0
    self.pipeline = pipeline
    self.signalFD = signalFD
  }

  var watchers: Int { clients.reduce(0) { $0 + ($1.watching ? 1 : 0) } }

  func run() {
    var fds: [Int32] = [], events: [Int16] = [], revents: [Int16] = []
    while !stopRequested {
      fds.removeAll(keepingCapacity: true); events.removeAll(keepingCapacity: true)
      fds.append(signalFD); events.append(Int16(pollIn))
      fds.append(pipeline.wakeFD); events.append(Int16(pollIn))
      fds.append(listenFD); events.append(Int16(monotonicNanoseconds() >= acceptPausedUntilNs ? pollIn : 0))
      for c in clients {
        var e: Int32 = 0
        // A client with a lot queued is not read until it catches up (bounded memory).
        if !c.readClosed && c.queuedBytes < 1 << 20 { e |= pollIn }
        if !c.queue.isEmpty { e |= pollOut }
        fds.append(c.fd); events.append(Int16(e))
      }
      revents = [Int16](repeating: 0, count: fds.count)
      _ = lotr_sys_poll(fds, events, &revents, Int32(fds.count), 100)
      pipeline.beat()

      if revents[0] != 0 { handleSignals() }
      if revents[1] != 0 { lotr_sys_eventfd_drain(pipeline.wakeFD); drainPipeline(); finishReload() }
      // Clients before accepting, so that departures free their slots first.
      let polled = clients
      for (k, c) in polled.enumerated() where fds.count > 3 + k && fds[3 + k] == c.fd {
        let r = Int32(revents[3 + k])
        // POLLHUP on a UNIX stream socket: the peer closed both directions (a half-close
        // for writing only is POLLIN with EOF), so nobody will read what is sent. Dropped
        // even when no frames flow, since no failed write would ever find it.
        if r & pollHup != 0 {
          readRequests(c)
          drop(c, "hung up")
          continue
        }
        if r & pollIn != 0 { readRequests(c) } else if r & pollErr != 0 { drop(c, "socket error"); continue }
        if r & pollOut != 0, clients.contains(where: { $0 === c }), !c.flush() { drop(c, "write failed: \(errnoText())") }
      }
      if revents[2] != 0 { acceptClients() }
      housekeeping()
    }
  }

  // MARK: clients

  func acceptClients() {
    for _ in 0..<64 {
      let fd = lotr_sys_accept(listenFD)
      if fd < 0 {
        let e = errno
        if e == EAGAIN || e == EWOULDBLOCK || e == EINTR || e == ECONNABORTED { return }
        acceptFailures += 1
        if acceptFailures == 1 || e != EMFILE && e != ENFILE && e != ENOBUFS && e != ENOMEM {
          Log.warning("accept: \(String(cString: strerror(e))); not accepting for 1 s")
        }
        acceptPausedUntilNs = monotonicNanoseconds() + 1_000_000_000
        return
      }
      if acceptFailures > 1 { Log.notice("accepting again (\(acceptFailures) accept failures in the pause)") }
      acceptFailures = 0
      var pid: Int32 = 0, uid: UInt32 = 0, gid: UInt32 = 0
      _ = lotr_sys_peercred(fd, &pid, &uid, &gid)
      if clients.count >= config.maxClients, let idle = longestIdleNonWatcher() {
        // Full: a connection that watches nothing and has been silent for a second gives
        // way, so silent connections cannot lock out `lotr status` and the like.
        Log.warning("client \(idle.id) (pid \(idle.pid) uid \(idle.uid)) closed: idle, and \(config.maxClients) clients already")
        idle.enqueue(.error("closed: idle while the server is full (\(config.maxClients) clients)"))
        _ = idle.flush()
        drop(idle, "evicted while idle")
      }
      if clients.count >= config.maxClients {
        Log.warning("refusing client pid \(pid) uid \(uid): \(config.maxClients) clients already")
        let msg = Message.error("too many clients (\(config.maxClients))").jsonLine()
        _ = msg.withUnsafeBytes { lotr_sys_send(fd, $0.baseAddress, $0.count, 1) }
        _ = lotr_sys_close(fd)
        continue
      }
      _ = lotr_sys_set_sndbuf(fd, Int32(config.sendBuffer))
      let c = Client(fd: fd, id: nextID, pid: pid, uid: uid, gid: gid)
      nextID += 1
      clients.append(c)
      Log.info("client \(c.id) connected: pid \(pid) uid \(uid) gid \(gid)")
      c.enqueue(.version(VersionMessage(model: pipeline.modelInfo)))
      _ = c.flush()
    }
  }

  /// The non-watching client silent for longest, if that is over a second.
  func longestIdleNonWatcher() -> Client? {
    let now = monotonicNanoseconds()
    return clients.filter { !$0.watching && now &- $0.lastRequestNs > 1_000_000_000 }.min { $0.lastRequestNs < $1.lastRequestNs }
  }

  func drop(_ c: Client, _ why: String) {
    guard let i = clients.firstIndex(where: { $0 === c }) else { return }
    clients.remove(at: i)
    _ = lotr_sys_close(c.fd)
    Log.info("client \(c.id) disconnected: \(why) (dropped \(c.dropped) results)")
    pipeline.setWanted(watchers > 0)
  }

  func readRequests(_ c: Client) {
    var buf = [UInt8](repeating: 0, count: 4096)
    // At most 16 KiB per client per round, so one chatty client cannot starve the loop.
    for _ in 0..<4 {
      let n = buf.withUnsafeMutableBytes { lotr_sys_recv(c.fd, $0.baseAddress, $0.count, 1) }
      if n < 0 {
        if errno == EAGAIN || errno == EWOULDBLOCK { break }
        drop(c, "read failed: \(errnoText())")
        return
      }
      if n == 0 {
        // Half-closed: a watcher keeps its stream (`echo '?WATCH=...;' | nc -U` works);
        // anyone else is closed once its replies are out.
        c.readClosed = true
        if !c.watching { c.closeAfterFlush = true }
        break
      }
      for item in c.splitter.push(buf[0..<n]) {
        switch item {
        case .tooLong:
          reject(c, "request longer than \(LOTRProto.maxRequestLine) bytes")
        case .line(let line):
          if line.allSatisfy({ $0 == 0x20 || $0 == 0x09 || $0 == 0x0D }) { continue }
          c.lastRequestNs = monotonicNanoseconds()
          do {
            handle(c, try Request.parse(line, current: c.watch))
          } catch {
            reject(c, "\(error)")
          }
        }
        if !clients.contains(where: { $0 === c }) { return }
      }
    }
    if !c.flush() { drop(c, "write failed: \(errnoText())"); return }
    if c.closeAfterFlush && c.queue.isEmpty { drop(c, "closed by peer") }
  }

  func reject(_ c: Client, _ message: String) {
    c.badRequests += 1
    Log.debug("client \(c.id): bad request: \(message)")
    c.enqueue(.error(message))
    if c.badRequests > 64 {
      c.enqueue(.error("too many bad requests; closing"))
      _ = c.flush()
      drop(c, "too many bad requests")
    }
  }

  func handle(_ c: Client, _ request: Request) {
    switch request {
    case .version:
      c.enqueue(.version(VersionMessage(model: pipeline.modelInfo)))
    case .watch(nil):
      c.enqueue(.watch(c.watch))
    case .watch(let s?):
      if s.enable && !c.watch.enable { c.enqueue(.devices([pipeline.deviceState])) }
      // The reply goes out in the format in effect before this request; what follows, in the new one.
      c.enqueue(.watch(s))
      c.watch = s
      if !s.enable && c.readClosed { c.closeAfterFlush = true }
      pipeline.setWanted(watchers > 0)
      Log.debug("client \(c.id): watch enable=\(s.enable) format=\(s.format.rawValue) rate=\(s.rate)")
    case .poll:
      let device = pipeline.deviceState
      let fresh = last.map { seconds(since: $0.captureNs) < 5 } ?? false
      c.enqueue(.poll(active: device.state == "open" ? 1 : 0, landmarks: fresh ? [last!.message] : []))
    case .devices:
      c.enqueue(.devices([pipeline.deviceState]))
    case .stats:
      c.enqueue(.stats(stats(for: c)))
    }
  }

  func stats(for c: Client?) -> StatsMessage {
    let (captureDropped, badFrames, frames) = pipeline.shared.withLock { ($0.captureDropped, $0.badFrames, $0.framesCaptured) }
    func stage(_ name: String, _ s: Samples) -> StageLatency {
      StageLatency(name: name, p50: s.percentile(0.5) * 1000, p99: s.percentile(0.99) * 1000)
    }
    return StatsMessage(
      fps: fps(), frames: frames, captureDropped: captureDropped, badFrames: badFrames, clientDropped: clientDropped, clients: clients.count,
      watchers: watchers,
      latencyMs: [stage("capture", latency.capture), stage("queue", latency.queue), stage("infer", latency.infer),
                  stage("publish", latency.publish), stage("total", latency.total)],
      youDropped: c?.dropped ?? 0, youQueued: c?.queuedResults ?? 0, rssKB: lotr_sys_peak_rss_kb(),
      cpuSeconds: lotr_sys_cpu_seconds(), uptime: seconds(since: startNs))
  }

  /// Results per second over the recent ones (0 when the last is older than 2 s).
  func fps() -> Double {
    guard let lastNs = last?.doneNs, seconds(since: lastNs) < 2 else { return 0 }
    return recentRate
  }
  var recentTimes: [Int64] = []
  var recentRate: Double {
    guard recentTimes.count >= 2 else { return 0 }
    return Double(recentTimes.count - 1) / (Double(recentTimes.last! - recentTimes.first!) / 1e9)
  }

  // MARK: pipeline output

  func drainPipeline() {
    for item in pipeline.takeOutbox() {
      switch item {
      case .device(let d):
        for c in clients where c.watching { c.enqueue(.device(d)) }
      case .result(let r):
        last = r
        var encodings = Encodings(r)
        published += 1
        let now = monotonicNanoseconds()
        recentTimes.append(now)
        if recentTimes.count > 60 { recentTimes.removeFirst(recentTimes.count - 60) }
        for c in clients where c.watching {
          if c.watch.rate > 0 && Double(now &- c.lastResultNs) < 1e9 / c.watch.rate { continue }
          c.lastResultNs = now
          let before = c.dropped
          c.enqueueResult(encodings.bytes(c.watch), limit: config.queueFrames)
          clientDropped += c.dropped - before
        }
        for c in clients where !c.queue.isEmpty {
          if !c.flush() { drop(c, "write failed: \(errnoText())") }
        }
        let end = monotonicNanoseconds()
        latency.capture.add(r.captureSeconds)
        latency.queue.add(r.queueSeconds)
        latency.infer.add(r.inferSeconds)
        latency.publish.add(seconds(from: r.doneNs, to: end))
        latency.total.add(seconds(from: r.captureNs, to: end))
      }
    }
    for c in clients where c.closeAfterFlush && c.queue.isEmpty { drop(c, "closed by peer") }
  }

  // MARK: housekeeping, signals, reload

  func housekeeping() {
    let now = monotonicNanoseconds()
    for c in clients where !c.watching && Double(now &- c.lastRequestNs) / 1e9 > config.requestTimeout {
      Log.info("client \(c.id) (pid \(c.pid)) sent no request for \(fixed(config.requestTimeout, 1)) s and watches nothing; closing")
      c.enqueue(.error("closed: no request for \(fixed(config.requestTimeout, 1)) s"))
      _ = c.flush()
      drop(c, "idle")
    }
    for c in clients where !c.queue.isEmpty && Double(now &- c.lastProgressNs) / 1e9 > config.stallTimeout {
      Log.warning("client \(c.id) (pid \(c.pid)) read nothing for \(fixed(config.stallTimeout, 1)) s; disconnecting")
      drop(c, "stalled")
    }
    if now &- lastStatusNs > 1_000_000_000 {
      lastStatusNs = now
      let status = "STATUS=\(fixed(fps(), 1)) fps, \(clients.count) clients (\(watchers) watching), \(published) results"
      if status != lastStatus { lastStatus = status; _ = lotr_sys_notify(status) }
    }
  }

  func handleSignals() {
    while true {
      let sig = lotr_sys_signal_pipe_read(signalFD)
      if sig == 0 { return }
      switch sig {
      case SIGTERM, SIGINT:
        Log.notice("signal \(sig): stopping")
        stopRequested = true
      case SIGHUP:
        reload()
      default: break
      }
    }
  }

  /// What a reload thread prepared, for the socket loop to apply.
  struct PreparedReload: Sendable {
    var config: Config
    var model: LandmarkModel
    var source: SourceSpec?
  }
  var reloadThread: SystemThread?
  /// Set by the reload thread when it is done: what it prepared (nil inside: nothing to apply).
  let reloadOutcome = Locked<PreparedReload??>(nil)

  /// SIGHUP: re-reads the settings (same flags, the config file again) and reloads the
  /// model; a model that fails to load or to run keeps the old one in service. The reading,
  /// validating and test run happen on a thread of their own, so a slow disk or a large
  /// model never stalls the socket loop; the socket loop swaps the result in.
  func reload() {
    guard reloadThread == nil else {
      Log.warning("SIGHUP: a reload is already in progress; ignored")
      return
    }
    Log.notice("SIGHUP: reloading configuration and model")
    _ = lotr_sys_notify("RELOADING=1")
    let arguments = configArguments, current = config, env = processEnvironment(), wake = pipeline.wakeFD
    let currentModel = pipeline.modelInfo.name
    reloadThread = SystemThread { [reloadOutcome] in
      let prepared = Server.prepareReload(arguments: arguments, environment: env, current: current, currentModel: currentModel)
      reloadOutcome.withLock { $0 = .some(prepared) }
      lotr_sys_eventfd_signal(wake)
    }
  }

  /// Runs on the reload thread: the new settings, model and (if it changed) source, or nil.
  static func prepareReload(arguments: [String], environment: [String: String], current: Config,
                            currentModel: String) -> PreparedReload? {
    let newConfig: Config
    do {
      (newConfig, _) = try Config.load(arguments: arguments, environment: environment)
    } catch {
      Log.error("reload: invalid configuration, keeping the old one: \(error)")
      return nil
    }
    if newConfig.socket != current.socket || newConfig.group != current.group || newConfig.socketMode != current.socketMode {
      Log.warning("reload: socket settings change only on restart")
    }
    let model: LandmarkModel
    do {
      model = try loadAndValidateModel(newConfig)
    } catch {
      Log.error("reload: \(error); keeping model \(currentModel)")
      return nil
    }
    var source: SourceSpec? = nil
    if newConfig.source != current.source || newConfig.width != current.width || newConfig.height != current.height {
      do { source = try SourceSpec(newConfig) } catch {
        Log.error("reload: \(error); keeping the old source")
      }
    }
    return PreparedReload(config: newConfig, model: model, source: source)
  }

  /// On the socket loop, after the reload thread signalled: apply what it prepared.
  func finishReload() {
    guard let thread = reloadThread else { return }
    guard let prepared = reloadOutcome.withLock({ o in defer { o = nil }; return o }) else { return }
    thread.join()
    reloadThread = nil
    defer { _ = lotr_sys_notify("READY=1") }
    guard let prepared else { return }
    Log.level = prepared.config.logLevel
    config = prepared.config
    pipeline.apply(config: prepared.config, model: prepared.model, source: prepared.source)
    let info = ModelInfo(prepared.model)
    for c in clients { c.enqueue(.version(VersionMessage(model: info))); _ = c.flush() }
    Log.notice("reload: model \(info.name) (\(info.landmarks) points), \(prepared.config.threads) threads")
  }

  func shutdown() {
    reloadThread?.join() // bounded: a regular file is read and the model run once
    _ = lotr_sys_notify("STOPPING=1")
    for c in clients { _ = c.flush(); _ = lotr_sys_close(c.fd) }
    clients.removeAll()
    _ = lotr_sys_close(listenFD)
    if ownsSocketFile {
      // Remove the file only if it is still ours (not a successor's).
      var st = stat()
      if lstat(socketPath, &st) == 0 && UInt64(st.st_ino) == socketInode { unlink(socketPath) }
    }
  }
}

/// Loads a model and runs it once on a blank frame: it must give landmark_count finite
/// points. Used at start-up and before a reload swaps a model in.
func loadAndValidateModel(_ c: Config) throws -> LandmarkModel {
  let model: LandmarkModel
  do { model = try LandmarkModel(path: c.model, threads: c.threads) } catch { throw DaemonError("model \(c.model): \(error)") }
  let image = RGBImage(width: 64, height: 64, fill: (128, 128, 128))
  let points = model.landmarks(in: image, box: FaceBox(x: 16, y: 16, width: 32, height: 32))
  guard points.count == model.metadata.landmarkCount, points.allSatisfy({ $0.x.isFinite && $0.y.isFinite }) else {
    throw DaemonError("model \(c.model): a test run gave \(points.count) points or non-finite values")
  }
  return model
}
