#if canImport(Glibc)
import Glibc
#endif
import CLOTRSystem

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
  nonisolated(unsafe) static var level = LogLevel.info
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

/// A mutex + condition variable (CLOCK_MONOTONIC waits).
final class Monitor: @unchecked Sendable {
  private let m = lotr_sys_monitor_create()!
  deinit { lotr_sys_monitor_destroy(m) }
  func lock() { lotr_sys_monitor_lock(m) }
  func unlock() { lotr_sys_monitor_unlock(m) }
  /// Waits at most `seconds` (lock held); true when signalled.
  @discardableResult func wait(_ seconds: Double) -> Bool { lotr_sys_monitor_wait(m, UInt64(max(seconds, 1e-6) * 1e9)) != 0 }
  func broadcast() { lotr_sys_monitor_broadcast(m) }
  func withLock<T>(_ body: () throws -> T) rethrows -> T { lock(); defer { unlock() }; return try body() }
}

/// A joinable thread running a closure.
final class SystemThread {
  private final class Box { let body: () -> Void; init(_ b: @escaping () -> Void) { body = b } }
  private var handle: UInt64 = 0

  init(_ body: @escaping () -> Void) {
    let box = Unmanaged.passRetained(Box(body)).toOpaque()
    let r = lotr_sys_thread_start({ arg in
      Unmanaged<Box>.fromOpaque(arg!).takeRetainedValue().body()
      return nil
    }, box, &handle)
    precondition(r == 0, "cannot start a thread")
  }

  func join() { lotr_sys_thread_join(handle) }
}

@inline(__always) func monotonicNs() -> UInt64 { lotr_sys_monotonic_ns() }
/// Seconds from monotonic `ns` to now; 0 when `ns` lies ahead of now (drivers such as vivid
/// stamp frames up to a frame period in the future).
@inline(__always) func seconds(since ns: UInt64) -> Double { seconds(from: ns, to: monotonicNs()) }

/// Seconds from `start` to `end` (monotonic nanoseconds), never negative and never trapping.
@inline(__always) func seconds(from start: UInt64, to end: UInt64) -> Double {
  Double(max(0, Int64(bitPattern: end &- start))) / 1e9
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

func listDirectory(_ path: String) -> [String]? {
  guard let dir = opendir(path) else { return nil }
  defer { closedir(dir) }
  var names: [String] = []
  while let entry = readdir(dir) {
    let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
      String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
    }
    if name != "." && name != ".." { names.append(name) }
  }
  return names.sorted()
}

struct DaemonError: Error, CustomStringConvertible {
  var description: String
  init(_ d: String) { description = d }
}

func errnoText() -> String { String(cString: strerror(errno)) }
