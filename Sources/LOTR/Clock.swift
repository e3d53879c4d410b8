#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// CLOCK_MONOTONIC now, in nanoseconds: the one clock for capture timestamps, deadlines and
/// latencies (V4L2 drivers stamp buffers on it too).
public func monotonicNanoseconds() -> Int64 {
  var ts = timespec()
  clock_gettime(CLOCK_MONOTONIC, &ts)
  return Int64(ts.tv_sec) &* 1_000_000_000 &+ Int64(ts.tv_nsec)
}

/// Seconds from `start` to `end` (monotonic nanoseconds), never negative and never trapping:
/// device timestamps may lie ahead of now (vivid stamps up to a frame period early) or be garbage.
public func seconds(from start: Int64, to end: Int64) -> Double {
  Double(max(0, end &- start)) / 1e9
}

/// Seconds from monotonic `start` to now; 0 when `start` lies ahead of now.
public func seconds(since start: Int64) -> Double { seconds(from: start, to: monotonicNanoseconds()) }
