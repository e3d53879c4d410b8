#if canImport(Glibc)
import Glibc
#endif
import CLOTRSystem
@_exported import LOTRProtocol

/// A client of lotrd: connects to its UNIX socket, reads the VERSION greeting, sends
/// requests and decodes what comes back (JSON lines or binary frames alike).
///
/// ```swift
/// let client = try LOTRClient(path: "/run/lotrd/lotrd.sock")
/// for try await result in client.landmarks() {
///   print(result.seq, result.faces.first?.points.count ?? 0)
/// }
/// ```
public final class LOTRClient: @unchecked Sendable {
  /// The socket a client uses when told none: $LOTRD_SOCKET; else `lotrd.sock` in
  /// `directory` (a lotrd started by hand); else the socket there of the camera units
  /// (`/run/lotrd/<camera>.sock`): the only one, or video0's when there are several.
  public static func defaultSocket(directory: String = "/run/lotrd",
                                   environment: [String: String] = processEnvironment()) -> String {
    if let s = environment["LOTRD_SOCKET"], !s.isEmpty { return s }
    let standalone = directory + "/lotrd.sock"
    var st = stat()
    if lstat(standalone, &st) == 0 { return standalone }
    var sockets: [String] = []
    if let dir = opendir(directory) {
      while let entry = readdir(dir) {
        let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        if name.hasSuffix(".sock") { sockets.append(name) }
      }
      closedir(dir)
    }
    sockets.sort()
    if sockets.count == 1 { return directory + "/" + sockets[0] }
    if sockets.contains("video0.sock") { return directory + "/video0.sock" }
    return sockets.first.map { directory + "/" + $0 } ?? standalone
  }

  /// The server's greeting.
  public let version: VersionMessage
  private let fd: Int32
  private var stream = MessageStream()
  private var closed = false
  private var buffer = [UInt8](repeating: 0, count: 65536)

  /// Connects and waits (at most `timeout` seconds) for VERSION; refuses another major.
  public init(path: String = LOTRClient.defaultSocket(), timeout: Double = 5) throws {
    var err = [CChar](repeating: 0, count: 256)
    fd = lotr_sys_unix_connect(path, &err, err.count)
    guard fd >= 0 else { throw ProtocolError(String(decoding: err.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)) }
    var greeting: VersionMessage?
    do {
      if case .version(let v)? = try Self.read(fd: fd, stream: &stream, buffer: &buffer, timeout: timeout) { greeting = v }
    } catch {
      _ = lotr_sys_close(fd)
      throw error
    }
    guard let greeting else {
      _ = lotr_sys_close(fd)
      throw ProtocolError("\(path): no VERSION from the server")
    }
    guard greeting.protoMajor == LOTRProto.major else {
      _ = lotr_sys_close(fd)
      throw ProtocolError("\(path) speaks protocol \(greeting.protoMajor).\(greeting.protoMinor); this client speaks \(LOTRProto.major).x")
    }
    version = greeting
  }

  deinit { close() }

  public func close() {
    guard !closed else { return }
    closed = true
    _ = lotr_sys_close(fd)
  }

  /// Sends one request.
  public func send(_ request: Request) throws {
    let bytes = Array(request.line.utf8)
    var sent = 0
    while sent < bytes.count {
      let n = bytes.withUnsafeBytes { lotr_sys_send(fd, $0.baseAddress! + sent, $0.count - sent, 0) }
      guard n > 0 else { throw ProtocolError("send: \(String(cString: strerror(errno)))") }
      sent += n
    }
  }

  /// The next message; nil at end of stream or after `timeout` seconds (nil = wait forever).
  public func next(timeout: Double? = nil) throws -> Message? {
    try Self.read(fd: fd, stream: &stream, buffer: &buffer, timeout: timeout)
  }

  /// Sends `request` and returns the first reply of class `replyClass`, skipping others.
  public func ask(_ request: Request, replyClass: String, timeout: Double = 5) throws -> Message {
    try send(request)
    let deadline = lotr_sys_monotonic_ns() + Int64(timeout * 1e9)
    while lotr_sys_monotonic_ns() < deadline {
      guard let m = try next(timeout: Double(deadline &- lotr_sys_monotonic_ns()) / 1e9) else { break }
      if m.className == replyClass { return m }
      if case .error(let text) = m { throw ProtocolError("server: \(text)") }
    }
    throw ProtocolError("no \(replyClass) reply within \(timeout) s")
  }

  /// Every message after `?WATCH`, as an async sequence. Reading happens on a thread of
  /// its own (not the cooperative pool); ending the iteration closes the connection.
  public func messages(watch: WatchSettings = WatchSettings(enable: true)) -> AsyncThrowingStream<Message, Error> {
    AsyncThrowingStream { continuation in
      do { try send(.watch(watch)) } catch { continuation.finish(throwing: error); return }
      let reader = ReaderThread { [self] in
        do {
          while let m = try next() {
            if case .terminated = continuation.yield(m) { break }
          }
          continuation.finish()
        } catch {
          continuation.finish(throwing: error)
        }
      }
      continuation.onTermination = { [fd] _ in _ = shutdown(fd, Int32(SHUT_RDWR)) }
      reader.start()
    }
  }

  /// Just the LANDMARKS results.
  public func landmarks(watch: WatchSettings = WatchSettings(enable: true)) -> AsyncThrowingCompactMapSequence<AsyncThrowingStream<Message, Error>, LandmarksMessage> {
    messages(watch: watch).compactMap { if case .landmarks(let l) = $0 { return l }; return nil }
  }

  private static func read(fd: Int32, stream: inout MessageStream, buffer: inout [UInt8], timeout: Double?) throws -> Message? {
    let deadline = timeout.map { lotr_sys_monotonic_ns() + Int64(max(0, $0) * 1e9) }
    while true {
      if let m = try stream.next() { return m }
      var ms: Int32 = -1
      if let deadline {
        let now = lotr_sys_monotonic_ns()
        if now >= deadline { return nil }
        ms = Int32(min(Double(Int32.max), max(1, Double(deadline - now) / 1e6)))
      }
      var fds: [Int32] = [fd]
      var events: [Int16] = [Int16(LOTR_POLLIN)]
      var revents: [Int16] = [0]
      let r = lotr_sys_poll(&fds, &events, &revents, 1, ms)
      if r < 0 { throw ProtocolError("poll: \(String(cString: strerror(errno)))") }
      if r == 0 { continue }
      let n = buffer.withUnsafeMutableBytes { lotr_sys_recv(fd, $0.baseAddress, $0.count, 0) }
      if n == 0 { return nil }
      if n < 0 {
        if errno == EAGAIN { continue }
        if errno == ECONNRESET || errno == EBADF { return nil }
        throw ProtocolError("recv: \(String(cString: strerror(errno)))")
      }
      stream.push(buffer[0..<n])
    }
  }
}

/// A detached pthread for blocking reads.
private final class ReaderThread: @unchecked Sendable {
  let body: () -> Void
  init(_ body: @escaping () -> Void) { self.body = body }
  func start() {
    let arg = Unmanaged.passRetained(self).toOpaque()
    var handle: UInt64 = 0
    _ = lotr_sys_thread_start({ p in
      let t = Unmanaged<ReaderThread>.fromOpaque(p!).takeRetainedValue()
      t.body()
      return nil
    }, arg, &handle)
    _ = pthread_detach(pthread_t(handle))
  }
}
