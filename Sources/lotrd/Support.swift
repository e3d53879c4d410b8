#if canImport(Glibc)
import Glibc
#endif
import CLOTRSystem
import LOTR

/// Log levels as syslog priorities; under journald (JOURNAL_STREAM set) lines carry the
/// `<N>` prefix journald turns into the priority, otherwise `lotrd: level: `.
enum LogLevel: Int, Comparable {
  case error = 3, warning = 4, notice = 5, info = 6, debug = 7
  static func < (a: LogLevel, b: LogLevel) -> Bool { a.rawValue < b.rawValue }
  init?(name: String) {
    switch name.lowercased() {
    case "error", "err": self = .error
    case "warning", "warn": self = .warning
    case "notice": self = .notice
    case "info": self = .info
    case "debug": self = .debug
    default: return nil
    }
  }
  var name: String {
    switch self {
    case .error: return "error"
    case .warning: return "warning"
    case .notice: return "notice"
    case .info: return "info"
    case .debug: return "debug"
    }
  }
}

enum Log {
  private static let threshold = Locked(LogLevel.info)
  static var level: LogLevel {
    get { threshold.withLock { $0 } }
    set { threshold.withLock { $0 = newValue } }
  }
  static let journal = getenv("JOURNAL_STREAM") != nil

  static func write(_ l: LogLevel, _ message: @autoclosure () -> String) {
    guard l <= level else { return }
    let line = (journal ? "<\(l.rawValue)>" : "lotrd: \(l.name): ") + message() + "\n"
    var bytes = Array(line.utf8)
    _ = lotr_sys_write(2, &bytes, bytes.count) // one write per line: lines from threads do not interleave
  }
  static func error(_ m: @autoclosure () -> String) { write(.error, m()) }
  static func warning(_ m: @autoclosure () -> String) { write(.warning, m()) }
  static func notice(_ m: @autoclosure () -> String) { write(.notice, m()) }
  static func info(_ m: @autoclosure () -> String) { write(.info, m()) }
  static func debug(_ m: @autoclosure () -> String) { write(.debug, m()) }
}

/// State shared between threads, read and written only under its mutex; waits are on a
/// condition variable (CLOCK_MONOTONIC).
///
/// @unchecked Sendable: every access to `state` happens between lock and unlock of the one
/// mutex, so threads never touch it at once; values handed over through it (a frame, a
/// model) are not kept by the thread that puts them in.
final class Locked<State>: @unchecked Sendable {
  private let m = lotr_sys_monitor_create()!
  private var state: State

  init(_ state: State) { self.state = state }
  deinit { lotr_sys_monitor_destroy(m) }

  func withLock<R>(_ body: (inout State) throws -> R) rethrows -> R {
    lotr_sys_monitor_lock(m)
    defer { lotr_sys_monitor_unlock(m) }
    return try body(&state)
  }

  /// Under the lock, waits while `condition` holds, at most `timeout` seconds (a broadcast
  /// re-checks it), then runs `body`.
  func wait<R>(while condition: (State) -> Bool, timeout: Double, then body: (inout State) throws -> R) rethrows -> R {
    lotr_sys_monitor_lock(m)
    defer { lotr_sys_monitor_unlock(m) }
    let deadline = monotonicNanoseconds() + Int64(max(0, timeout) * 1e9)
    while condition(state) {
      let left = deadline - monotonicNanoseconds()
      if left <= 0 { break }
      _ = lotr_sys_monitor_wait(m, UInt64(left))
    }
    return try body(&state)
  }

  /// Wakes every `wait` to re-check its condition.
  func broadcast() { lotr_sys_monitor_broadcast(m) }
}

/// A joinable thread running a closure.
final class SystemThread {
  private final class Box { let body: @Sendable () -> Void; init(_ b: @escaping @Sendable () -> Void) { body = b } }
  private var handle: UInt64 = 0

  init(_ body: @escaping @Sendable () -> Void) {
    let box = Unmanaged.passRetained(Box(body)).toOpaque()
    let r = lotr_sys_thread_start({ arg in
      Unmanaged<Box>.fromOpaque(arg!).takeRetainedValue().body()
      return nil
    }, box, &handle)
    precondition(r == 0, "cannot start a thread")
  }

  func join() { lotr_sys_thread_join(handle) }
}

/// A fixed-size ring of recent samples with percentiles.
struct Samples {
  private var values: [Double]
  private var next = 0
  private(set) var count = 0
  init(capacity: Int = 256) { values = [Double](repeating: 0, count: capacity) }
  mutating func add(_ v: Double) {
    values[next] = v
    next = (next + 1) % values.count
    count = min(count + 1, values.count)
  }
  func percentile(_ p: Double) -> Double {
    guard count > 0 else { return 0 }
    let sorted = values[0..<count].sorted()
    return sorted[min(count - 1, Int((p * Double(count - 1)).rounded()))]
  }
}

func fileExists(_ path: String, directory: Bool? = nil) -> Bool {
  var st = stat()
  guard stat(path, &st) == 0 else { return false }
  guard let directory else { return true }
  return ((st.st_mode & S_IFMT) == S_IFDIR) == directory
}

struct DaemonError: Error, CustomStringConvertible {
  var description: String
  init(_ d: String) { description = d }
}

func errnoText() -> String { String(cString: strerror(errno)) }
