import Foundation
import LOTR
import XCTest

/// A small but complete int8 graph: f32 input -> QUANTIZE -> int8 3x3/s2 conv -> RESHAPE
/// -> LINEAR (int8 in, f32 out) -> RESHAPE to [1, N, 2].
func makeTinyModel(landmarks n: Int = 5) -> ModelBuilder {
  let metadata = ModelMetadata(
    name: "tiny-test", landmarkCount: n, landmarkScheme: "test",
    mirrorPermutation: Array((0..<n).reversed()), input: .init(width: 8, height: 8),
    normalization: .init(mean: [0.5, 0.5, 0.5], std: [0.25, 0.25, 0.25]),
    crop: .init(rule: "landmark-box-square", scale: 1.4), output: .init(pixelConvention: "corner"),
    trainingData: "none (test fixture)", licence: "MIT")
  var b = ModelBuilder(metadata: metadata)
  let input = b.addTensor("input", .f32, [1, 8, 8, 3], role: .input)
  let q = b.addTensor("input.q", .i8, [1, 8, 8, 3], quantization: .perTensor(scale: 0.02, zeroPoint: -3))
  b.addNode(OpSchema.Quantize(), "quantize", inputs: [input], outputs: [q])
  let w = b.addTensor("conv.weight", .i8, [4, 3, 3, 3], role: .constant,
                      quantization: .perChannel(axis: 0, scales: [0.01, 0.02, 0.03, 0.04]),
                      data: (0..<108).map { UInt8(bitPattern: Int8(truncatingIfNeeded: $0 % 255 - 127)) })
  let bias = b.addTensor("conv.bias", .i32, [4], role: .constant, data: ModelBuilder.bytes([Int32(1), -2, 3, -4]))
  let y = b.addTensor("conv.out", .i8, [1, 4, 4, 4], quantization: .perTensor(scale: 0.05, zeroPoint: -128))
  b.addNode(OpSchema.Conv2D(Window2D(kernel: 3, stride: 2, pad: 1), clamp: .relu), "conv", inputs: [q, w, bias], outputs: [y])
  let flat = b.addTensor("flat", .i8, [1, 64], quantization: .perTensor(scale: 0.05, zeroPoint: -128))
  b.addNode(OpSchema.Reshape(), "flatten", inputs: [y], outputs: [flat])
  let fcw = b.addTensor("fc.weight", .i8, [2 * n, 64], role: .constant,
                        quantization: .perChannel(axis: 0, scales: [Float](repeating: 0.01, count: 2 * n)),
                        data: (0..<(128 * n)).map { UInt8(bitPattern: Int8(truncatingIfNeeded: ($0 * 7) % 255 - 127)) })
  let fcb = b.addTensor("fc.bias", .i32, [2 * n], role: .constant, data: ModelBuilder.bytes([Int32](repeating: 7, count: 2 * n)))
  let fc = b.addTensor("fc.out", .f32, [1, 2 * n])
  b.addNode(OpSchema.Linear(), "fc", inputs: [flat, fcw, fcb], outputs: [fc])
  let out = b.addTensor("landmarks", .f32, [1, n, 2], role: .output)
  b.addNode(OpSchema.Reshape(), "to_points", inputs: [fc], outputs: [out])
  return b
}

final class ModelFileTests: XCTestCase {
  /// A fresh directory under the temp dir; the caller removes it.
  private func scratchDirectory() throws -> URL {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("lotr-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    return dir
  }

  func testRoundTrip() throws {
    let bytes = try makeTinyModel().serialize()
    XCTAssertEqual(bytes.count % 64, 0)
    let model = try ModelFile(bytes: bytes)
    XCTAssertEqual(model.metadata.name, "tiny-test")
    XCTAssertEqual(model.metadata.landmarkCount, 5)
    XCTAssertEqual(model.nodes.map(\.op), [.quantize, .conv2d, .reshape, .linear, .reshape])
    XCTAssertEqual(model.tensors[model.inputTensor].shape, [1, 8, 8, 3])
    XCTAssertEqual(model.tensors[model.outputTensor].name, "landmarks")
    let w = model.tensors.firstIndex { $0.name == "conv.weight" }!
    XCTAssertEqual(model.scales(w), [0.01, 0.02, 0.03, 0.04])
    XCTAssertEqual(model.data(w).count, 108)
    XCTAssertEqual(model.data(w).baseAddress.map { Int(bitPattern: $0) % 64 }, 0, "constants are 64-byte aligned")
    let bias = model.tensors.firstIndex { $0.name == "conv.bias" }!
    XCTAssertEqual(Array(model.data(bias).bindMemory(to: Int32.self)), [1, -2, 3, -4])
    let conv = model.nodes[1].attributes(as: OpSchema.Conv2D.self)
    XCTAssertEqual(conv.window, Window2D(kernel: 3, stride: 2, pad: 1))
    XCTAssertEqual(conv.clamp, .relu)
  }

  func testWriteIsAtomicAndMapped() throws {
    let dir = try scratchDirectory()
    defer { try? FileManager.default.removeItem(at: dir) }
    let path = dir.appendingPathComponent("m.lotr").path
    try makeTinyModel().write(to: path)
    let model = try ModelFile.open(path: path)
    XCTAssertEqual(model.nodes.count, 5)
    XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir.path), ["m.lotr"], "no temporary left")
    // An invalid graph is refused before anything is written, and the old file survives.
    var broken = makeTinyModel()
    broken.addNode(OpSchema.ReLU(), "dangling", inputs: [0], outputs: [0])
    XCTAssertThrowsError(try broken.write(to: path))
    XCTAssertNoThrow(try ModelFile.open(path: path))
    XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir.path), ["m.lotr"])
    // A path that cannot be written names the reason.
    XCTAssertThrowsError(try makeTinyModel().write(to: dir.path + "/missing/m.lotr")) { error in
      XCTAssertTrue("\(error)".contains("cannot create"), "\(error)")
    }
  }

  func testOpenErrorsNameTheProblem() throws {
    XCTAssertThrowsError(try ModelFile.open(path: "/nonexistent/model.lotr")) { error in
      XCTAssertTrue("\(error)".contains("cannot open"), "\(error)")
    }
    XCTAssertThrowsError(try ModelFile.open(path: "/")) { error in
      XCTAssertTrue("\(error)".contains("not a regular file"), "\(error)")
    }
    // Neither waited on (a FIFO with no writer blocks a plain open) nor read (/dev/zero).
    let dir = try scratchDirectory()
    defer { try? FileManager.default.removeItem(at: dir) }
    let fifo = dir.appendingPathComponent("model.lotr").path
    XCTAssertEqual(mkfifo(fifo, 0o600), 0)
    XCTAssertThrowsError(try ModelFile.open(path: fifo)) { XCTAssertTrue("\($0)".contains("not a regular file (a FIFO)"), "\($0)") }
    XCTAssertThrowsError(try ModelFile.open(path: "/dev/zero")) {
      XCTAssertTrue("\($0)".contains("not a regular file (a character device)"), "\($0)")
    }
  }

  /// The running model is a private copy: truncating the file (SIGBUS under a mapping) or
  /// rewriting it in place changes nothing until it is opened again.
  func testFileChangesDoNotReachAnOpenModel() throws {
    let dir = try scratchDirectory()
    defer { try? FileManager.default.removeItem(at: dir) }
    let path = dir.appendingPathComponent("m.lotr").path
    try makeTinyModel().write(to: path)
    let model = try ModelFile.open(path: path)
    func constants() -> [[UInt8]] { model.tensors.indices.filter { model.tensors[$0].role == .constant }.map { Array(model.data($0)) } }
    let before = constants()
    XCTAssertEqual(truncate(path, 0), 0)
    XCTAssertEqual(constants(), before)
    let size = try makeTinyModel().serialize().count
    let fd = open(path, O_WRONLY)
    XCTAssertGreaterThanOrEqual(fd, 0)
    let noise = [UInt8](repeating: 0x5A, count: size)
    XCTAssertEqual(write(fd, noise, noise.count), noise.count)
    close(fd)
    XCTAssertEqual(constants(), before)
    XCTAssertThrowsError(try ModelFile.open(path: path)) { XCTAssertTrue("\($0)".contains("bad magic"), "\($0)") }
  }

  private func expectRejected(_ bytes: [UInt8], containing text: String, file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertThrowsError(try ModelFile(bytes: bytes), file: file, line: line) { error in
      XCTAssertTrue("\(error)".contains(text), "expected '\(text)' in: \(error)", file: file, line: line)
    }
  }

  /// Rewrites the header's and section table's checksums so a test reaches deeper checks.
  private func resealed(_ bytes: [UInt8]) -> [UInt8] {
    var b = bytes
    guard b.count >= 64 else { return b }
    let sections = Int(b[24])
    guard 64 + 32 * sections <= b.count else { return b }
    let table = Array(b[64..<(64 + 32 * sections)])
    let tableCRC = CRC32.checksum(table)
    withUnsafeBytes(of: tableCRC.littleEndian) { b.replaceSubrange(40..<44, with: $0) }
    let headerCRC = CRC32.checksum(Array(b[0..<60]))
    withUnsafeBytes(of: headerCRC.littleEndian) { b.replaceSubrange(60..<64, with: $0) }
    return b
  }

  func testSpecificCorruptions() throws {
    let good = try makeTinyModel().serialize()
    expectRejected([], containing: "shorter than the 64-byte header")
    expectRejected(Array(good.prefix(63)), containing: "shorter than the 64-byte header")
    var b = good; b[0] = UInt8(ascii: "X")
    expectRejected(b, containing: "bad magic")
    let onnx = try Data(contentsOf: URL(fileURLWithPath: #filePath).deletingLastPathComponent()
      .appendingPathComponent("../Fixtures/onnx/conv_bn.onnx").standardized)
    expectRejected(Array(onnx), containing: "this looks like an ONNX model; convert it with lotr-quantize")
    b = good; b[8] = 2
    expectRejected(b, containing: "format version 2.0 is not supported")
    b = good; b[20] ^= 1
    expectRejected(b, containing: "header checksum mismatch")
    expectRejected(Array(good.dropLast(64)), containing: "truncated")
    expectRejected(good + [0], containing: "trailing bytes")
    b = good; b[b.count - 70] ^= 0x40 // inside DATA
    expectRejected(b, containing: "section DATA checksum mismatch")
    b = good; b[64 + 8] = 1 // first section's offset, unaligned
    expectRejected(resealed(b), containing: "not 64-byte aligned")
    b = good; b[50] = 1 // reserved header bytes
    expectRejected(resealed(b), containing: "reserved bytes 44..59 are not zero")
    b = good; b[64 + 32 + 24] = 1 // second section entry's reserved field
    expectRejected(resealed(b), containing: "section 1: reserved field is not zero")
  }

  func testSemanticErrors() throws {
    var b = makeTinyModel()
    b.metadata.mirrorPermutation = [0, 0, 1, 2, 3]
    XCTAssertThrowsError(try b.serialize()) { XCTAssertTrue("\($0)".contains("not a permutation"), "\($0)") }

    b = makeTinyModel()
    b.metadata.landmarkCount = 6
    XCTAssertThrowsError(try b.serialize()) { XCTAssertTrue("\($0)".contains("mirror_permutation has 5 entries"), "\($0)") }

    b = makeTinyModel()
    b.addTensor("unused", .f32, [3])
    XCTAssertThrowsError(try b.serialize()) { XCTAssertTrue("\($0)".contains("'unused' is never written"), "\($0)") }

    b = makeTinyModel()
    let x = b.addTensor("late", .f32, [1, 4])
    let y = b.addTensor("late.out", .f32, [1, 4])
    b.addNode(OpSchema.Softmax(), "early", inputs: [y], outputs: [x])
    XCTAssertThrowsError(try b.serialize()) { XCTAssertTrue("\($0)".contains("used before any node writes it"), "\($0)") }

    b = makeTinyModel()
    let a = b.addTensor("bad.in", .f32, [4, 8])
    b.addNode(OpSchema.GELU(), "g0", inputs: [0], outputs: [a]) // shape mismatch: input is [1,8,8,3]
    XCTAssertThrowsError(try b.serialize()) { XCTAssertTrue("\($0)".contains("differ in shape"), "\($0)") }
  }

  /// Thousands of mutated and truncated files: every one is rejected or parsed, none crashes.
  func testFuzzMutationsAreRejectedCleanly() throws {
    let good = try makeTinyModel().serialize()
    var rng = SystemRandomNumberGenerator()
    let seed = UInt64.random(in: 0...UInt64.max, using: &rng)
    var state = ProcessInfo.processInfo.environment["LOTR_TEST_SEED"].flatMap(UInt64.init) ?? seed
    print("model fuzz seed \(state) (replay with LOTR_TEST_SEED=\(state))")
    func next() -> UInt64 {
      state &+= 0x9E37_79B9_7F4A_7C15
      var z = state
      z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
      z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
      return z ^ (z >> 31)
    }
    var rejected = 0, accepted = 0
    for i in 0..<4000 {
      var b = good
      switch i % 4 {
      case 0: b = Array(b.prefix(Int(next() % UInt64(b.count))))
      case 1:
        for _ in 0..<(1 + next() % 8) { b[Int(next() % UInt64(b.count))] ^= UInt8(truncatingIfNeeded: next() | 1) }
      case 2:
        // Mutations that keep the checksums valid reach the semantic checks.
        for _ in 0..<(1 + next() % 4) { b[Int(next() % 1024) % b.count] = UInt8(truncatingIfNeeded: next()) }
        b = resealed(b)
        b = resealedSections(b)
      default:
        let at = Int(next() % UInt64(b.count))
        b.insert(contentsOf: [UInt8](repeating: UInt8(truncatingIfNeeded: next()), count: Int(1 + next() % 9)), at: at)
      }
      if (try? ModelFile(bytes: b)) != nil { accepted += 1 } else { rejected += 1 }
    }
    XCTAssertGreaterThan(rejected, 3000)
    print("model fuzz: \(rejected) rejected, \(accepted) accepted (harmless mutations)")
  }

  /// Recomputes every section CRC (for sections that still lie inside the file), then the
  /// table and header checksums.
  private func resealedSections(_ bytes: [UInt8]) -> [UInt8] {
    var b = bytes
    guard b.count >= 64 else { return b }
    let sections = min(Int(b[24]), 64)
    for s in 0..<sections {
      let e = 64 + 32 * s
      guard e + 32 <= b.count else { break }
      let off = b[(e + 8)..<(e + 16)].reversed().reduce(0) { $0 << 8 | Int($1) }
      let size = b[(e + 16)..<(e + 24)].reversed().reduce(0) { $0 << 8 | Int($1) }
      guard off >= 0, size >= 0, off <= b.count, size <= b.count - off else { continue }
      let crc = CRC32.checksum(Array(b[off..<(off + size)]))
      withUnsafeBytes(of: crc.littleEndian) { b.replaceSubrange((e + 4)..<(e + 8), with: $0) }
    }
    return resealed(b)
  }

  func testCRC32MatchesZlib() {
    XCTAssertEqual(CRC32.checksum(Array("123456789".utf8)), 0xCBF4_3926)
    XCTAssertEqual(CRC32.checksum([]), 0)
    let long = (0..<1000).map { UInt8(truncatingIfNeeded: $0 * 31) }
    var bytewise: UInt32 = 0xFFFF_FFFF
    for byte in long {
      bytewise ^= UInt32(byte)
      for _ in 0..<8 { bytewise = (bytewise & 1) != 0 ? 0xEDB8_8320 ^ (bytewise >> 1) : bytewise >> 1 }
    }
    XCTAssertEqual(CRC32.checksum(long), ~bytewise)
  }
}
