import LOTREval
import XCTest

final class ShapesTests: XCTestCase {
  func testMobileNetV2ChannelRounding() {
    // torchvision's _make_divisible at width 0.75
    XCTAssertEqual(LOTRMShapes.divisibleForTesting(32 * 0.75), 24)
    XCTAssertEqual(LOTRMShapes.divisibleForTesting(16 * 0.75), 16)
    XCTAssertEqual(LOTRMShapes.divisibleForTesting(24 * 0.75), 24)
    XCTAssertEqual(LOTRMShapes.divisibleForTesting(320 * 0.75), 240)
  }

  func testLOTRMShapesFollowTheArchitecture() {
    let shapes = LOTRMShapes()
    XCTAssertEqual(shapes.tokens, 36)
    let gemms = shapes.gemms()
    XCTAssertEqual(gemms.first?.m, 96 * 96, "stem output is 96x96")
    XCTAssertEqual(gemms.first?.k, 27, "stem im2col K = 3x3x3")
    XCTAssertTrue(gemms.contains { $0.m == 36 && $0.k == shapes.backboneChannels && $0.n == 128 }, "projection")
    XCTAssertTrue(gemms.contains { $0.m == 68 && $0.k == 512 && $0.n == 2 }, "head output")
    let depthwise = shapes.depthwise()
    XCTAssertEqual(depthwise.reduce(0) { $0 + $1.count }, 17, "MobileNetV2 has 17 inverted residual blocks")
    let macs = gemms.reduce(0) { $0 + $1.macs } + depthwise.reduce(0) { $0 + $1.macs }
    XCTAssertLessThan(macs, 250_000_000, "LOTR-M must fit the Pi budget")
    XCTAssertGreaterThan(macs, 100_000_000)
  }
}
