#if canImport(Glibc)
import Glibc
#endif
import CLOTRSystem
import CMosquitto

/// The broker connection: libmosquitto's client on its own network thread (CMosquitto).
/// Publishing from the bridge's thread only queues, so a slow or absent broker never
/// holds up reading lotrd.
final class Broker {
  private var client: OpaquePointer?
  private let lock = lotr_sys_monitor_create()!
  private var isConnected = false
  private var connects = 0
  private let endpoint: String

  static let online = "online", offline = "offline"

  init(settings s: Settings, password: String?) throws {
    endpoint = "\(s.broker):\(s.port)"
    var err = [CChar](repeating: 0, count: 256)
    let statusTopic = s.topicBase + "/status"
    let started: OpaquePointer? = withCStrings([s.broker, s.clientID, s.username, password ?? "", s.tlsCAFile, s.tlsCADir,
                                               s.tlsCertFile, s.tlsKeyFile, statusTopic, Self.offline, Self.online]) { c in
      var o = lotr_mqtt_options()
      o.host = c[0]; o.port = Int32(s.port); o.keepalive_s = Int32(s.keepalive); o.client_id = c[1]
      o.username = c[2]; o.password = password == nil ? nil : c[3]
      o.tls_ca_file = c[4]; o.tls_ca_dir = c[5]; o.tls_cert_file = c[6]; o.tls_key_file = c[7]
      o.status_topic = c[8]; o.will_payload = c[9]; o.birth_payload = c[10]; o.status_qos = 1
      return lotr_mqtt_start(&o, { context, event, code, message in
        Unmanaged<Broker>.fromOpaque(context!).takeUnretainedValue().report(event: event, code: code,
                                                                            message: String(cString: message!))
      }, Unmanaged.passUnretained(self).toOpaque(), &err, err.count)
    }
    guard let started else { throw SettingsError(String(cString: err)) }
    client = started
  }

  private var lastFailure = "" // network thread only: each distinct failure is logged once

  /// Called on the network thread.
  private func report(event: Int32, code: Int32, message: String) {
    let event = Int(event)
    lotr_sys_monitor_lock(lock)
    let was = isConnected
    if event == LOTR_MQTT_CONNECTED && code == 0 { isConnected = true; connects += 1 }
    if event == LOTR_MQTT_DISCONNECTED { isConnected = false }
    lotr_sys_monitor_unlock(lock)
    switch event {
    case LOTR_MQTT_CONNECTED where code == 0:
      log("connected to the broker at \(endpoint)")
      lastFailure = ""
    case LOTR_MQTT_DISCONNECTED where was:
      log("lost the broker at \(endpoint) (\(message)); reconnecting")
    case LOTR_MQTT_CONNECTED, LOTR_MQTT_CONNECT_FAILED:
      let text = event == LOTR_MQTT_CONNECTED ? "refused the connection: \(message)" : "unreachable: \(message)"
      if text != lastFailure { log("broker \(endpoint) \(text); retrying"); lastFailure = text }
    default:
      break
    }
  }

  var connected: Bool {
    lotr_sys_monitor_lock(lock); defer { lotr_sys_monitor_unlock(lock) }
    return isConnected
  }

  var connectCount: Int {
    lotr_sys_monitor_lock(lock); defer { lotr_sys_monitor_unlock(lock) }
    return connects
  }

  /// Messages still waiting to be written to (QoS 0) or acknowledged by (QoS 1) the broker.
  var unwritten: Int { client.map { Int(lotr_mqtt_unwritten($0)) } ?? 0 }

  /// True when queued; false when not connected (the message is dropped).
  @discardableResult
  func publish(_ topic: String, _ payload: [UInt8], qos: Int32, retain: Bool) -> Bool {
    guard let client else { return false }
    return payload.withUnsafeBytes { p in
      lotr_mqtt_publish(client, topic, p.baseAddress, Int32(p.count), qos, retain ? 1 : 0) == 0
    }
  }

  /// Publishes the offline status (when connected), disconnects cleanly, stops the thread.
  func stop() {
    guard let c = client else { return }
    client = nil
    lotr_mqtt_stop(c, Self.offline, 2000)
  }
}

/// Calls `body` with C copies of `strings` (valid during the call only).
private func withCStrings<R>(_ strings: [String], _ body: ([UnsafePointer<CChar>]) -> R) -> R {
  let copies = strings.map { strdup($0)! }
  defer { copies.forEach { free($0) } }
  return body(copies.map { UnsafePointer($0) })
}

func log(_ text: String) {
  fputs("lotr-mqtt: \(text)\n", stderr)
}
