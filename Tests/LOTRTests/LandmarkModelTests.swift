import CLOTRKernels
import Foundation
import LOTR
import XCTest

final class LandmarkModelTests: XCTestCase {
  var directory: URL!

  override func setUpWithError() throws {
    directory = FileManager.default.temporaryDirectory.appendingPathComponent("lotr-lm-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
  }

  override func tearDownWithError() throws { try? FileManager.default.removeItem(at: directory) }

  /// A model whose landmarks are constant crop positions (zero weights, bias = uv), so the
  /// whole crop geometry (warp, crop rule, mapping back) can be checked exactly.
  func constantModel(_ uv: [Float], size: Int = 16, scale: Float = 1.3) throws -> String {
    let n = uv.count / 2
    var m = metadata(width: size, height: size, landmarks: n)
    m.crop = .init(rule: "landmark-box-square", scale: scale)
    var b = ModelBuilder(metadata: m)
    let input = b.addTensor("input", .f32, [1, size, size, 3], role: .input)
    let flat = b.addTensor("flat", .f32, [1, size * size * 3])
    b.addNode(OpSchema.Reshape(), "flatten", inputs: [input], outputs: [flat])
    let y = b.addTensor("y", .f32, [1, 2 * n])
    b.addNode(OpSchema.Linear(), "head", inputs: [flat, b.addTensor("w", .f32, [2 * n, size * size * 3], role: .constant,
                                                          data: ModelBuilder.bytes([Float](repeating: 0, count: 2 * n * size * size * 3))),
                                        b.addTensor("b", .f32, [2 * n], role: .constant, data: ModelBuilder.bytes(uv))],
              outputs: [y])
    b.addNode(OpSchema.Reshape(), "points", inputs: [y], outputs: [b.addTensor("landmarks", .f32, [1, n, 2], role: .output)])
    let path = directory.appendingPathComponent("constant.lotr").path
    try b.write(to: path)
    return path
  }

  func testLandmarksMapBackThroughTheCropRule() throws {
    // Crop centre, top-left corner and right-middle of the crop.
    let model = try LandmarkModel(path: try constantModel([0.5, 0.5, 0, 0, 1, 0.5], scale: 2))
    let image = RGBImage(width: 64, height: 48)
    let box = FaceBox(x: 10, y: 8, width: 20, height: 10) // centre (20, 13), crop side 2 x 20 = 40
    let p = model.landmarks(in: image, box: box)
    XCTAssertEqual(p.count, 3)
    XCTAssertEqual(p[0].x, 20, accuracy: 1e-4); XCTAssertEqual(p[0].y, 13, accuracy: 1e-4)
    XCTAssertEqual(p[1].x, 0, accuracy: 1e-4); XCTAssertEqual(p[1].y, -7, accuracy: 1e-4)
    XCTAssertEqual(p[2].x, 40, accuracy: 1e-4); XCTAssertEqual(p[2].y, 13, accuracy: 1e-4)
    // A quarter turn: the crop's right edge points down the frame.
    let turned = model.landmarks(in: image, box: box, roll: .pi / 2)
    XCTAssertEqual(turned[2].x, 20, accuracy: 1e-3); XCTAssertEqual(turned[2].y, 33, accuracy: 1e-3)
    XCTAssertLessThan(model.loadSeconds, 5)
  }

  /// The crop warp of a packed 4x2 RGB8 frame into a 4x2 crop.
  private func warp(_ src: [UInt8], _ affine: [Float], _ dst: inout [Float], _ mean: [Float], _ invStd: [Float]) {
    PixelImage(width: 4, height: 2, layout: .rgb8, pixels: src).withCImage {
      lotr_image_warp_normalize_f32(nil, nil, $0, affine, &dst, 4, 2, mean, invStd)
    }
  }

  func testWarpSamplesPixelCentresExactlyAndPadsWithBlack() {
    // A 4x2 frame; the identity crop of the whole frame reproduces it.
    let src: [UInt8] = (0..<24).map { UInt8($0 * 10) }
    var dst = [Float](repeating: -1, count: 24)
    let identity: [Float] = [4, 0, 2, 0, 2, 1] // 4 wide, 2 high, centred at (2, 1)
    warp(src, identity, &dst, [0, 0, 0], [1, 1, 1])
    for i in 0..<24 { XCTAssertEqual(dst[i], Float(src[i]) / 255, accuracy: 1e-6, "element \(i)") }
    // Shifted half a frame left: the left half reads outside, i.e. black, then normalised.
    let shifted: [Float] = [4, 0, 0, 0, 2, 1]
    warp(src, shifted, &dst, [0.5, 0.5, 0.5], [2, 2, 2])
    XCTAssertEqual(dst[0], -1, accuracy: 1e-6, "black normalised: (0 - 0.5) * 2")
    XCTAssertEqual(dst[9], (Float(src[3]) / 255 - 0.5) * 2, accuracy: 1e-6, "crop column 3 = frame column 1")
    // Halfway between two pixel centres: the mean.
    let half: [Float] = [4, 0, 2.5, 0, 2, 1]
    warp(src, half, &dst, [0, 0, 0], [1, 1, 1])
    XCTAssertEqual(dst[0], (Float(src[0]) + Float(src[3])) / 2 / 255, accuracy: 1e-6)
  }

  func testImageRoundTripAndErrors() throws {
    var image = RGBImage(width: 7, height: 5, fill: (10, 20, 30))
    image.dot(3.5, 2.5, radius: 1, color: (255, 0, 0))
    let png = directory.appendingPathComponent("a.png").path
    try image.write(to: png)
    XCTAssertEqual(try RGBImage(contentsOf: png), image, "PNG is lossless")
    let jpg = directory.appendingPathComponent("a.jpg").path
    try image.write(to: jpg, quality: 95)
    let back = try RGBImage(contentsOf: jpg)
    XCTAssertEqual(back.width, 7); XCTAssertEqual(back.height, 5)
    XCTAssertThrowsError(try RGBImage(contentsOf: directory.appendingPathComponent("missing.jpg").path)) {
      XCTAssertTrue("\($0)".contains("cannot open"), "\($0)")
    }
    XCTAssertThrowsError(try RGBImage(encoded: Array("not an image".utf8))) {
      XCTAssertTrue("\($0)".contains("not a JPEG or PNG"), "\($0)")
    }
    var truncated = Array(try Data(contentsOf: URL(fileURLWithPath: jpg)))
    truncated = Array(truncated.prefix(truncated.count / 3))
    // libjpeg pads a truncated stream with grey and warns; a corrupt header is an error.
    truncated[3] = 0x00
    XCTAssertThrowsError(try RGBImage(encoded: Array(truncated.prefix(40))))
  }

  /// Decompression bombs and files that are not files: refused before anything large is
  /// allocated or read.
  func testImageBombsAndNonFilesAreRefused() throws {
    let jpg = directory.appendingPathComponent("small.jpg").path
    try RGBImage(width: 16, height: 16, fill: (90, 90, 90)).write(to: jpg, quality: 90)
    var bytes = Array(try Data(contentsOf: URL(fileURLWithPath: jpg)))
    // Rewrite the SOF0 frame header (FF C0, length, precision, height, width) to 16384x16384.
    guard let sof = (0..<(bytes.count - 9)).first(where: { bytes[$0] == 0xFF && bytes[$0 + 1] == 0xC0 }) else {
      return XCTFail("no SOF0 marker")
    }
    bytes[sof + 5] = 0x40; bytes[sof + 6] = 0x00; bytes[sof + 7] = 0x40; bytes[sof + 8] = 0x00
    XCTAssertLessThan(bytes.count, 1024)
    XCTAssertThrowsError(try RGBImage(encoded: bytes)) {
      XCTAssertTrue("\($0)".contains("16384x16384 = 268435456 pixels, over the budget of 16777216"), "\($0)")
    }
    let bomb = directory.appendingPathComponent("bomb.jpg").path
    try Data(bytes).write(to: URL(fileURLWithPath: bomb))
    XCTAssertThrowsError(try RGBImage(contentsOf: bomb)) { XCTAssertTrue("\($0)".contains("over the budget"), "\($0)") }
    // The budget is the caller's to choose: 16x16 fits 256 pixels, not 255.
    XCTAssertNoThrow(try RGBImage(contentsOf: jpg, pixelBudget: 256))
    XCTAssertThrowsError(try RGBImage(contentsOf: jpg, pixelBudget: 255))
    XCTAssertThrowsError(try RGBImage(contentsOf: "/dev/zero")) {
      XCTAssertTrue("\($0)".contains("not a regular file (a character device)"), "\($0)")
    }
    let fifo = directory.appendingPathComponent("x.jpg").path
    XCTAssertEqual(mkfifo(fifo, 0o600), 0)
    XCTAssertThrowsError(try RGBImage(contentsOf: fifo)) { XCTAssertTrue("\($0)".contains("not a regular file (a FIFO)"), "\($0)") }
  }

  func testRejectsAModelItCannotOpen() {
    XCTAssertThrowsError(try LandmarkModel(path: directory.appendingPathComponent("none.lotr").path)) {
      XCTAssertTrue("\($0)".contains("cannot open"), "\($0)")
    }
  }
}
