#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Why a file could not be read whole.
public struct FileReadError: Error, CustomStringConvertible, Equatable {
  public var path: String
  public var message: String
  public var description: String { "\(path): \(message)" }
}

/// The one way lotr-edge reads a whole input file (models, images, lotrd's config): a
/// private copy in memory, taken from a regular file only.
///
/// - `open` uses O_NONBLOCK, so a FIFO (or a device) at the path cannot block it; anything
///   that is not a regular file is then refused without a read.
/// - The size is checked against `limit` before anything is allocated, so `/dev/zero` or
///   a sparse 1 TB file costs nothing.
/// - The bytes are copied, not mapped: truncating or rewriting the file afterwards cannot
///   raise SIGBUS or change what the caller holds. A file that shrinks or grows while it
///   is read is refused.
public enum RegularFile {
  /// Reads the file into `alignment`-aligned memory that the caller owns (`deallocate()`).
  public static func readAligned(_ path: String, limit: Int, alignment: Int = 64) throws -> UnsafeMutableRawBufferPointer {
    let fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
    guard fd >= 0 else { throw FileReadError(path: path, message: "cannot open: \(String(cString: strerror(errno)))") }
    defer { close(fd) }
    var st = stat()
    guard fstat(fd, &st) == 0 else { throw FileReadError(path: path, message: "cannot stat: \(String(cString: strerror(errno)))") }
    guard (st.st_mode & S_IFMT) == S_IFREG else {
      throw FileReadError(path: path, message: "not a regular file (\(kindName(st.st_mode)))")
    }
    let size = Int(st.st_size)
    guard size <= limit else {
      throw FileReadError(path: path, message: "file is \(size) bytes, over the limit of \(limit) bytes")
    }
    let memory = UnsafeMutableRawBufferPointer.allocate(byteCount: max(size, 1), alignment: alignment)
    var done = 0
    while done < size {
      let n = pread(fd, memory.baseAddress! + done, size - done, off_t(done))
      if n < 0 && errno == EINTR { continue }
      guard n > 0 else {
        let reason = n < 0 ? "read error: \(String(cString: strerror(errno)))" : "file shrank while it was read"
        memory.deallocate()
        throw FileReadError(path: path, message: reason)
      }
      done += n
    }
    var probe: UInt8 = 0
    if pread(fd, &probe, 1, off_t(size)) > 0 {
      memory.deallocate()
      throw FileReadError(path: path, message: "file grew while it was read")
    }
    return UnsafeMutableRawBufferPointer(rebasing: memory[0..<size])
  }

  /// Reads the file into an array.
  public static func read(_ path: String, limit: Int) throws -> [UInt8] {
    let memory = try readAligned(path, limit: limit, alignment: 16)
    defer { memory.deallocate() }
    return Array(memory)
  }

  static func kindName(_ mode: mode_t) -> String {
    switch mode & S_IFMT {
    case S_IFIFO: return "a FIFO"
    case S_IFCHR: return "a character device"
    case S_IFBLK: return "a block device"
    case S_IFDIR: return "a directory"
    case S_IFSOCK: return "a socket"
    default: return "mode \(String(mode & S_IFMT, radix: 8))"
    }
  }
}
