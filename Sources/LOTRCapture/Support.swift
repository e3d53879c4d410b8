#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CV4L2

func errnoText(_ code: Int32) -> String { String(cString: strerror(code)) }

/// Sleeps for `seconds` (nanosleep, resumed after signals).
func sleepSeconds(_ seconds: Double) {
  guard seconds > 0 else { return }
  var request = timespec(tv_sec: Int(seconds), tv_nsec: Int((seconds - Double(Int(seconds))) * 1e9))
  var remaining = timespec()
  while nanosleep(&request, &remaining) != 0 && errno == EINTR { request = remaining }
}

/// A FourCC as text ("YUYV").
public func fourccString(_ code: UInt32) -> String {
  let bytes = (0..<4).map { UInt8((code >> (8 * $0)) & 0xff) }
  return String(decoding: bytes.map { $0 >= 32 && $0 < 127 ? $0 : UInt8(ascii: "?") }, as: UTF8.self)
    .trimmingTrailingSpaces()
}

/// The FourCC code of four characters.
public func fourccCode(_ text: String) -> UInt32? {
  let bytes = Array(text.utf8)
  guard (1...4).contains(bytes.count) else { return nil }
  let padded = bytes + [UInt8](repeating: 32, count: 4 - bytes.count)
  return padded.enumerated().reduce(0) { $0 | (UInt32($1.element) << (8 * UInt32($1.offset))) }
}

extension String {
  func trimmingTrailingSpaces() -> String {
    var s = Substring(self)
    while s.last == " " { s = s.dropLast() }
    return String(s)
  }
}

/// The NUL-terminated text of a fixed C char array (imported as a tuple).
func tupleText<T>(_ tuple: T) -> String {
  withUnsafeBytes(of: tuple) { raw in
    String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
  }
}

/// Entries of a directory, sorted, without "." and "..". nil when it cannot be read.
func directoryEntries(_ path: String) -> [String]? {
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

/// The canonical path (symlinks resolved), or nil.
func canonicalPath(_ path: String) -> String? {
  guard let resolved = realpath(path, nil) else { return nil }
  defer { free(resolved) }
  return String(cString: resolved)
}

func isDirectory(_ path: String) -> Bool {
  var st = stat()
  return stat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR
}
