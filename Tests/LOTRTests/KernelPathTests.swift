import LOTR
import XCTest

final class KernelPathTests: XCTestCase {
  func testKernelPathsByName() throws {
    XCTAssertEqual(try KernelPath.named("ref").name, "ref")
    XCTAssertThrowsError(try KernelPath.named("sse9")) { error in
      XCTAssertEqual(error as? KernelError, .unknownPath("sse9"))
    }
    let supported = KernelPath.supported()
    XCTAssertEqual(supported.first?.name, "ref", "the scalar reference is always there, first")
    for name in KernelPath.allNames {
      if supported.contains(where: { $0.name == name }) {
        XCTAssertEqual(try KernelPath.named(name).name, name)
      } else {
        XCTAssertThrowsError(try KernelPath.named(name)) { XCTAssertEqual($0 as? KernelError, .unsupportedPath(name)) }
      }
    }
  }
}
