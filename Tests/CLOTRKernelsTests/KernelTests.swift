import Foundation
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
  func testAttention() { run("attention") }
  func testCropWarp() { run("warp") }

  /// Names and ISAs round-trip; LOTR_KERNELS, when set, picks the default path; otherwise
  /// the default is the most specific path this CPU supports (dispatch.c's preference), and
  /// on x86-64 Linux that is not ref where /proc/cpuinfo lists avx2.
  func testDefaultPathIsTheMostSpecificSupportedOne() throws {
    var isa = LOTR_ISA_REF
    for raw in 0..<LOTR_ISA_COUNT.rawValue {
      let name = String(cString: lotr_isa_name(lotr_isa(rawValue: raw)))
      XCTAssertEqual(lotr_isa_from_name(name, &isa), 0, name)
      XCTAssertEqual(isa.rawValue, raw, name)
      if let table = lotr_kernels_for(lotr_isa(rawValue: raw)) { XCTAssertEqual(lotr_kernels_isa(table).rawValue, raw, name) }
    }
    XCTAssertEqual(String(cString: lotr_isa_name(LOTR_ISA_COUNT)), "unknown")
    XCTAssertEqual(lotr_isa_from_name("sse9", &isa), -1)
    XCTAssertNotNil(lotr_kernels_for(LOTR_ISA_REF), "ref is always supported")

    var error: UnsafePointer<CChar>? = nil
    let chosen = try XCTUnwrap(lotr_kernels_default(&error), error.map { String(cString: $0) } ?? "no path")
    if let forced = getenv("LOTR_KERNELS"), forced.pointee != 0 {
      XCTAssertEqual(lotr_isa_from_name(forced, &isa), 0)
      XCTAssertEqual(lotr_kernels_isa(chosen), isa, "LOTR_KERNELS=\(String(cString: forced))")
      return
    }
    let preference = [LOTR_ISA_NEONDOT, LOTR_ISA_NEON, LOTR_ISA_ARMV7, LOTR_ISA_AVXVNNI, LOTR_ISA_AVX2, LOTR_ISA_REF]
    let best = try XCTUnwrap(preference.first { lotr_kernels_for($0) != nil })
    XCTAssertEqual(String(cString: lotr_isa_name(lotr_kernels_isa(chosen))), String(cString: lotr_isa_name(best)))
    #if os(Linux) && arch(x86_64)
    if let cpuinfo = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
       cpuinfo.split(separator: "\n").contains(where: { $0.hasPrefix("flags") && $0.split(separator: " ").contains("avx2") }) {
      XCTAssertNotNil(lotr_kernels_for(LOTR_ISA_AVX2), "the CPU has avx2")
      XCTAssertNotEqual(lotr_kernels_isa(chosen), LOTR_ISA_REF, "an AVX2 CPU must not default to ref")
    }
    #elseif arch(arm64)
    XCTAssertNotNil(lotr_kernels_for(LOTR_ISA_NEON), "NEON (ASIMD) is part of every AArch64 CPU")
    XCTAssertNotEqual(lotr_kernels_isa(chosen), LOTR_ISA_REF)
    #endif
  }
}
