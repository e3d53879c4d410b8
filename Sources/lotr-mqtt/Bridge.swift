#if canImport(Glibc)
import Glibc
#endif
import CLOTRSystem
import LOTRClient

/// lotrd -> broker: one thread reads lotrd's stream (a watcher like any other) and queues
/// each message for the broker; it reconnects to lotrd on its own, libmosquitto to the
/// broker. Nothing here waits for the broker, so lotrd only ever sees a fast reader.
final class Bridge {
  private let settings: Settings
  private let broker: Broker
  private let signals: Int32
  private let topics: (landmarks: String, device: String, stats: String)
  private let started = lotr_sys_monotonic_ns()

  // Counters, published in STATS (docs/MQTT.md).
  private var landmarksPublished: UInt64 = 0
  private var droppedByLotrd: UInt64 = 0    // DROPPED from lotrd: we read too slowly
  private var droppedNoBroker: UInt64 = 0   // not connected to the broker
  private var droppedBacklog: UInt64 = 0    // more than max-unwritten waiting for the broker
  private var lotrdConnects = 0
  private var lotrdConnected = false
  private var lastDevice: DeviceMessage?
  private var brokerConnectsSeen = 0

  init(settings: Settings, broker: Broker, signals: Int32) {
    self.settings = settings
    self.broker = broker
    self.signals = signals
    let base = settings.topicBase
    topics = (base + "/landmarks", base + "/device", base + "/stats")
  }

  /// Runs until SIGTERM or SIGINT.
  func run() {
    var retryDelay = 0.5
    var lastError = ""
    var nextStats = settings.statsInterval > 0 ? now() + settings.statsInterval : .infinity
    while !stopRequested() {
      let client: LOTRClient
      do {
        client = try LOTRClient(path: settings.socket, timeout: 15)
      } catch {
        let text = "\(error)"
        if text != lastError { log("lotrd \(settings.socket): \(text); retrying"); lastError = text }
        let until = now() + retryDelay
        while now() < until, !stopRequested() {
          if now() >= nextStats { publishStats(nil); nextStats += settings.statsInterval }
          lotr_sys_sleep_ns(50_000_000)
        }
        retryDelay = min(retryDelay * 2, 2) // a local socket: cheap to try
        continue
      }
      log("connected to lotrd \(settings.socket) (\(client.version.release), model \(client.version.model?.name ?? "?"))")
      lastError = ""
      retryDelay = 0.5
      lotrdConnects += 1
      lotrdConnected = true
      stream(client, nextStats: &nextStats)
      lotrdConnected = false
      client.close()
      if !stopRequested() {
        log("lotrd \(settings.socket) went away; reconnecting")
        publishStats(nil) // tell the subscribers at once
      }
    }
  }

  private func stream(_ client: LOTRClient, nextStats: inout Double) {
    do {
      try client.send(.watch(WatchSettings(enable: true, format: .json, rate: settings.rate, pose: true)))
      while !stopRequested() {
        if now() >= nextStats {
          try client.send(.stats) // published with the reply
          nextStats = max(nextStats + settings.statsInterval, now())
        }
        if broker.connectCount != brokerConnectsSeen, broker.connected {
          // A new broker connection (a restarted broker may have lost the retained state).
          brokerConnectsSeen = broker.connectCount
          if let d = lastDevice { publishDevice(d) }
        }
        let timeout = max(0.001, min(0.25, nextStats - now()))
        let asked = now()
        guard let message = try client.next(timeout: timeout) else {
          // nil is also a timeout: lotrd is gone only when that came early (end of
          // stream). At the deadline it is ambiguous, and the next call tells.
          if now() - asked < timeout { return }
          continue
        }
        handle(message)
      }
    } catch {
      log("lotrd \(settings.socket): \(error)")
    }
  }

  private func handle(_ message: Message) {
    switch message {
    case .landmarks(let l):
      if broker.unwritten >= settings.maxUnwritten { droppedBacklog += 1; return }
      var line = l.jsonLine()
      line.removeLast() // the newline
      if broker.publish(topics.landmarks, line, qos: 0, retain: false) { landmarksPublished += 1 } else { droppedNoBroker += 1 }
    case .device(let d):
      publishDevice(d)
    case .devices(let list):
      list.forEach(publishDevice)
    case .stats(let s):
      publishStats(s)
    case .dropped(let count, _):
      droppedByLotrd += count
    case .error(let text):
      log("lotrd says: \(text)")
    case .version, .watch, .poll, .unknown:
      break
    }
  }

  /// The device's state, retained so a new subscriber sees it; `event` set on a change.
  private func publishDevice(_ d: DeviceMessage) {
    lastDevice = d
    var line = Message.device(d).jsonLine()
    line.removeLast()
    broker.publish(topics.device, line, qos: 1, retain: true)
  }

  /// {"class":"STATS","lotrd":<lotrd's STATS reply, null while unreachable>,"bridge":{...}}, retained.
  private func publishStats(_ lotrdStats: StatsMessage?) {
    var w = JSONWriter()
    w.beginObject()
    w.key("class"); w.string("STATS")
    w.key("lotrd")
    if let s = lotrdStats { Message.stats(s).writeJSON(&w) } else { w.null() }
    w.key("bridge"); w.beginObject()
    w.key("lotrd_connected"); w.bool(lotrdConnected)
    w.key("broker_connected"); w.bool(broker.connected)
    w.key("lotrd_connects"); w.int(lotrdConnects)
    w.key("broker_connects"); w.int(broker.connectCount)
    w.key("landmarks_published"); w.int(landmarksPublished)
    w.key("dropped"); w.beginObject()
    w.key("lotrd"); w.int(droppedByLotrd)
    w.key("no_broker"); w.int(droppedNoBroker)
    w.key("backlog"); w.int(droppedBacklog)
    w.endObject()
    w.key("unwritten"); w.int(broker.unwritten)
    w.key("rss_kb"); w.int(peakRSSKB())
    w.key("cpu_s"); w.float(lotr_sys_cpu_seconds(), decimals: 3)
    w.key("uptime_s"); w.float(now() - Double(started) / 1e9, decimals: 3)
    w.endObject()
    w.endObject()
    broker.publish(topics.stats, w.bytes, qos: 0, retain: true)
  }

  private var stopping = false
  private func stopRequested() -> Bool {
    var sig = lotr_sys_signal_pipe_read(signals)
    while sig != 0 {
      if sig == SIGTERM || sig == SIGINT { stopping = true } // SIGHUP: nothing to reload
      sig = lotr_sys_signal_pipe_read(signals)
    }
    return stopping
  }
}

/// This process's peak resident set (VmHWM). Not getrusage's ru_maxrss: that one keeps
/// the peak of the process that forked us across exec (a big parent inflates it).
private func peakRSSKB() -> Int {
  if let f = fopen("/proc/self/status", "r") {
    defer { fclose(f) }
    var line = [CChar](repeating: 0, count: 256)
    while fgets(&line, Int32(line.count), f) != nil {
      let text = String(cString: line)
      if text.hasPrefix("VmHWM:") { return Int(text.dropFirst(6).split(whereSeparator: { $0 == " " || $0 == "\t" }).first ?? "") ?? 0 }
    }
  }
  return lotr_sys_peak_rss_kb()
}

/// Seconds on CLOCK_MONOTONIC.
private func now() -> Double { Double(lotr_sys_monotonic_ns()) / 1e9 }
