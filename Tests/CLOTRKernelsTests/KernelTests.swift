import CLOTRKernelTester
import CLOTRKernels
import XCTest

/// Runs the C kernel suites (Tests/KernelTester) on every path this CPU supports
/// (ref, avx2 and, where the CPU has AVX-VNNI, avxvnni here; neon/neondot/armv7 run under
/// qemu from `make test`).
final class KernelTests: XCTestCase {
  private func run(_ suite: String, file: StaticString = #filePath, line: UInt = #line) {
    let summary = lotr_kernel_tests_run(suite, nil, nil)
    XCTAssertGreaterThan(summary.passed, 0, "suite \(suite) ran no case", file: file, line: line)
    XCTAssertEqual(summary.failed, 0, "suite \(suite): \(summary.failed) failed, replay with LOTR_TEST_SEED=\(summary.seed)",
                   file: file, line: line)
  }

  func testThreadPool() { run("threadpool") }
  func testRequantization() { run("requant") }
  func testGEMM() { run("gemm") }
  func testConvolution() { run("conv") }
  func testElementwise() { run("elementwise") }
  func testFloatOps() { run("float") }

  func testDefaultPathIsChosenAndNamed() {
    var error: UnsafePointer<CChar>? = nil
    let kernels = lotr_kernels_default(&error)
    XCTAssertNotNil(kernels, error.map { String(cString: $0) } ?? "no path")
    if let kernels {
      let name = String(cString: lotr_isa_name(lotr_kernels_isa(kernels)))
      XCTAssertTrue(["ref", "avx2", "avxvnni", "neon", "neondot", "armv7"].contains(name))
    }
  }
}
