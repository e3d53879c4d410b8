#if canImport(Glibc)
import Glibc
#endif
import CLOTRSystem
import CMosquitto
import LOTRProtocol

// lotr-mqtt: lotrd's stream to an MQTT broker (docs/MQTT.md). Exit status 2: bad settings.
let arguments = Array(CommandLine.arguments.dropFirst())
if arguments.contains("--help") || arguments.contains("-h") {
  print(Settings.usage, terminator: "")
  exit(0)
}
if arguments.contains("--version") {
  var v = [CChar](repeating: 0, count: 32)
  lotr_mqtt_library_version(&v, v.count)
  print("lotr-mqtt \(LOTRProto.release) (protocol \(LOTRProto.major).\(LOTRProto.minor), libmosquitto \(String(cString: v)))")
  exit(0)
}

let signals = lotr_sys_signal_pipe_setup()
guard signals >= 0 else { fputs("lotr-mqtt: signal setup failed\n", stderr); exit(1) }
let settings: Settings
let broker: Broker
do {
  settings = try Settings.parse(arguments: arguments, environment: processEnvironment())
  broker = try Broker(settings: settings, password: try settings.password())
} catch {
  fputs("lotr-mqtt: \(error)\n", stderr)
  exit(2)
}
log("\(settings.socket) -> mqtt://\(settings.broker):\(settings.port) as \(settings.topicBase)/{landmarks,device,stats,status}")
Bridge(settings: settings, broker: broker, signals: signals).run()
broker.stop()
log("stopped")
