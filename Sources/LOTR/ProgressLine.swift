#if canImport(Glibc)
import Glibc
#endif

/// A one-line progress bar with the time left on stderr (only when stderr is a terminal,
/// and not with --quiet), so a pipe or a log file gets the report alone.
public final class ProgressLine {
  public let enabled: Bool
  var last = ""
  var stage = ""
  var stageStart = 0.0

  public init(enabled: Bool = true) { self.enabled = enabled && isatty(2) != 0 }

  public func show(_ what: String, _ done: Int, _ total: Int) {
    guard enabled else { return }
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    let now = Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    if what != stage { stage = what; stageStart = now }
    let width = 30
    let filled = total > 0 ? width * min(done, total) / total : width
    var eta = ""
    if done > 0 && done < total {
      let left = Int(((now - stageStart) / Double(done) * Double(total - done)).rounded())
      eta = left >= 60 ? ", \(left / 60) min \(left % 60) s left" : ", \(left) s left"
    }
    let line = "\r\(what) [\(String(repeating: "#", count: filled))\(String(repeating: ".", count: width - filled))] \(done)/\(total)\(eta)\u{1B}[K"
    if line == last { return }
    last = line
    var text = line + (done == total ? "\n" : "")
    text.withUTF8 { _ = write(2, $0.baseAddress, $0.count) }
  }
}

