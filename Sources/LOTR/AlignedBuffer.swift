/// A 64-byte-aligned, zero-initialised heap buffer of `count` elements of a trivial type,
/// for kernel operands (packed weights, activations) whose lifetime the owner controls.
public final class AlignedBuffer<Element: BitwiseCopyable>: @unchecked Sendable {
  public let count: Int
  public let pointer: UnsafeMutablePointer<Element>

  public init(count: Int) {
    self.count = count
    let bytes = max(64, (count * MemoryLayout<Element>.stride + 63) / 64 * 64)
    let raw = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 64)
    raw.initializeMemory(as: UInt8.self, repeating: 0, count: bytes)
    pointer = raw.bindMemory(to: Element.self, capacity: count)
  }

  public var raw: UnsafeMutableRawPointer { UnsafeMutableRawPointer(pointer) }

  public subscript(index: Int) -> Element {
    get { pointer[index] }
    set { pointer[index] = newValue }
  }

  deinit { UnsafeMutableRawPointer(pointer).deallocate() }
}
