import CLOTRKernels

/// Errors from choosing or using the C kernel library.
public enum KernelError: Error, CustomStringConvertible, Equatable {
  /// `LOTR_KERNELS` names a path that is unknown, or that this build or CPU lacks.
  case noUsablePath(String)
  /// A kernel path name that is not one of `KernelPath.allNames`.
  case unknownPath(String)
  /// The path exists but this CPU (or build) does not support it.
  case unsupportedPath(String)
  case threadPoolUnavailable(threads: Int)

  public var description: String {
    switch self {
    case .noUsablePath(let why): return "no usable kernel path: \(why)"
    case .unknownPath(let name):
      return "unknown kernel path '\(name)' (expected one of \(KernelPath.allNames.joined(separator: ", ")))"
    case .unsupportedPath(let name): return "kernel path '\(name)' is not supported by this CPU or build"
    case .threadPoolUnavailable(let threads): return "cannot start a pool of \(threads) threads"
    }
  }
}

/// One ISA path of the kernel library (ref, neon, neondot, armv7, avx2, avxvnni).
///
/// The default path is chosen once per process from the CPU's features, or forced with
/// the `LOTR_KERNELS` environment variable.
public struct KernelPath: @unchecked Sendable, Equatable {
  /// The C table; immutable and process-lifetime.
  public let table: OpaquePointer

  public static let allNames = (0..<Int(LOTR_ISA_COUNT.rawValue)).map {
    String(cString: lotr_isa_name(lotr_isa(rawValue: UInt32($0))))
  }

  /// The process-wide default path.
  public static func `default`() throws -> KernelPath {
    var error: UnsafePointer<CChar>? = nil
    guard let table = lotr_kernels_default(&error) else {
      throw KernelError.noUsablePath(error.map { String(cString: $0) } ?? "unknown reason")
    }
    return KernelPath(table: table)
  }

  /// A path by name, if this CPU supports it.
  public static func named(_ name: String) throws -> KernelPath {
    var isa = LOTR_ISA_REF
    guard lotr_isa_from_name(name, &isa) == 0 else { throw KernelError.unknownPath(name) }
    guard let table = lotr_kernels_for(isa) else { throw KernelError.unsupportedPath(name) }
    return KernelPath(table: table)
  }

  /// Every path this CPU supports, the scalar reference first.
  public static func supported() -> [KernelPath] {
    (0..<LOTR_ISA_COUNT.rawValue).compactMap { raw in
      lotr_kernels_for(lotr_isa(rawValue: raw)).map { KernelPath(table: $0) }
    }
  }

  public var name: String { String(cString: lotr_isa_name(lotr_kernels_isa(table))) }
}

/// A persistent pool of kernel threads (the caller counts as one of them).
public final class ThreadPool: @unchecked Sendable {
  public let pointer: OpaquePointer
  public let threads: Int

  public init(threads: Int) throws {
    guard threads >= 1, let pool = lotr_threadpool_create(threads) else {
      throw KernelError.threadPoolUnavailable(threads: threads)
    }
    self.pointer = pool
    self.threads = threads
  }

  deinit { lotr_threadpool_destroy(pointer) }
}
