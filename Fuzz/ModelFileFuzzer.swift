// libFuzzer entry point for the .lotr reader: every input must be parsed or rejected with
// a ModelFileError, never crash, hang or read out of bounds. Built and run by
// scripts/fuzz-model-file.sh (swiftc -sanitize=fuzzer,address over Sources/LOTR/ModelFile).
//
// Each input is tried twice: as is, and with every checksum recomputed, so that mutations
// reach the semantic checks behind the CRCs (random bytes almost never pass a CRC-32).

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzModelFile(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
  let bytes = Array(UnsafeBufferPointer(start: data, count: size))
  walk(bytes)
  walk(resealed(bytes))
  return 0
}

func walk(_ bytes: [UInt8]) {
  guard let model = try? ModelFile(bytes: bytes) else { return }
  // Whatever passed validation must be safe to walk.
  for (i, t) in model.tensors.enumerated() where t.role == .constant { _ = model.data(i).count }
  for i in model.tensors.indices { _ = model.scales(i) }
}

func le(_ b: [UInt8], _ at: Int, _ n: Int) -> Int { (0..<n).reversed().reduce(0) { $0 << 8 | Int(b[at + $1]) } }

func put32(_ b: inout [UInt8], _ at: Int, _ v: UInt32) { for i in 0..<4 { b[at + i] = UInt8((v >> (8 * UInt32(i))) & 0xFF) } }

func resealed(_ input: [UInt8]) -> [UInt8] {
  var b = input
  guard b.count >= 64 else { return b }
  let sections = min(le(b, 24, 4), 64)
  guard 64 + 32 * sections <= b.count else { return b }
  for s in 0..<sections {
    let e = 64 + 32 * s
    let (offset, size) = (le(b, e + 8, 7), le(b, e + 16, 7))
    guard offset <= b.count, size <= b.count - offset else { continue }
    put32(&b, e + 4, CRC32.checksum(Array(b[offset..<(offset + size)])))
  }
  put32(&b, 40, CRC32.checksum(Array(b[64..<(64 + 32 * sections)])))
  put32(&b, 60, CRC32.checksum(Array(b[0..<60])))
  return b
}
