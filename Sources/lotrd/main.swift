#if canImport(Glibc)
import Glibc
#endif
import CLOTRSystem
import LOTR
import LOTRProtocol

// lotrd: capture → locate → int8 LOTR → UNIX socket. See `lotrd --help` and docs/PROTOCOL.md.

func fail(_ message: String, code: Int32) -> Never {
  Log.error(message)
  exit(code)
}

let arguments = Array(CommandLine.arguments.dropFirst())
let config: Config
let action: Config.Action
do {
  (config, action) = try Config.load(arguments: arguments, environment: processEnvironment())
} catch {
  fail("invalid configuration: \(error)", code: 2)
}
switch action {
case .help: print(Config.helpText(), terminator: ""); exit(0)
case .version: print("lotrd \(LOTRProto.release) (protocol \(LOTRProto.major).\(LOTRProto.minor))"); exit(0)
default: break
}
Log.level = config.logLevel

// SIGPIPE ignored; SIGTERM/SIGINT/SIGHUP delivered to the socket loop through a self-pipe.
let signalFD = lotr_sys_signal_pipe_setup()
guard signalFD >= 0 else { fail("signal pipe: \(errnoText())", code: 1) }

let model: LandmarkModel
let source: SourceSpec
do {
  model = try loadAndValidateModel(config)
  source = try SourceSpec(config)
  let finding = FaceFinding(config)
  _ = try finding.tracker(model: model, threads: 1)  // refuse a missing or broken detector now
  Log.info("face finding: \(finding == .none ? "fixed box (\(config.box == nil ? "whole frame" : "--box"))" : finding.description)")
  if finding == .none && config.detector == "auto" {
    Log.notice("no face detector found (blazeface-short.lotr beside --model, or --detector-model): landmarks from the fixed box")
  }
} catch {
  fail("invalid configuration: \(error)", code: 2)
}
var groupID: Int = -1
if !config.group.isEmpty {
  groupID = lotr_sys_group_id(config.group)
  if groupID < 0 { fail("invalid configuration: unknown group '\(config.group)'", code: 2) }
}
if action == .check {
  // A camera is opened (and closed) too: a missing or busy device fails the check.
  do { try source.open().source.close() } catch { fail("invalid configuration: source \(config.source): \(error)", code: 2) }
  print("configuration OK: model \(model.metadata.name) (\(model.metadata.landmarkCount) points), source \(source.driver) \(source.path)")
  exit(0)
}

// The socket: inherited (LISTEN_FDS) or bound here.
var listenFD: Int32 = -1
var ownsFile = false
var socketPath = config.socket
let inherited = lotr_sys_listen_fds(1)
if inherited > 0 {
  var path = [CChar](repeating: 0, count: 128)
  guard inherited == 1, lotr_sys_is_unix_listener(3, &path, path.count) == 1 else {
    fail("socket activation: expected exactly one listening AF_UNIX stream socket, got \(inherited) fds", code: 2)
  }
  listenFD = 3
  _ = lotr_sys_set_nonblocking(3, 1)
  socketPath = String(decoding: path.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
  Log.info("serving inherited socket \(socketPath)")
} else {
  var err = [CChar](repeating: 0, count: 512)
  listenFD = lotr_sys_unix_listen(config.socket, config.socketMode, groupID, 64, &err, err.count)
  if listenFD < 0 { fail(String(decoding: err.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self), code: errno == EADDRINUSE ? 3 : 1) }
  ownsFile = true
  Log.info("serving \(config.socket) (mode 0\(String(config.socketMode, radix: 8))\(config.group.isEmpty ? "" : ", group " + config.group))")
}

let wakeFD = lotr_sys_eventfd()
guard wakeFD >= 0 else { fail("eventfd: \(errnoText())", code: 1) }
let pipeline = Pipeline(config: config, model: model, source: source, wakeFD: wakeFD)
let server = Server(config: config, arguments: arguments, listenFD: listenFD, ownsSocketFile: ownsFile,
                    socketPath: socketPath, pipeline: pipeline, signalFD: signalFD)
pipeline.start()
Log.notice("ready: model \(model.metadata.name) (\(model.metadata.landmarkCount) points, loaded in \(fixed(model.loadSeconds * 1000, 1)) ms), source \(source.driver) \(source.path), \(config.threads) inference thread(s)")
_ = lotr_sys_notify("READY=1\nSTATUS=waiting for clients\nMAINPID=\(getpid())")
server.run()
server.shutdown()
if !pipeline.stop(timeout: 0.7) { Log.warning("pipeline did not stop within 0.7 s; exiting anyway") }
Log.notice("stopped")
exit(0)
