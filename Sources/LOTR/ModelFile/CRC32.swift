/// CRC-32 (IEEE 802.3, reflected, as zlib's crc32), slicing-by-8 so a 5 MB model checks
/// in a few milliseconds.
public enum CRC32 {
  static let tables: [[UInt32]] = {
    var tables = [[UInt32]](repeating: [UInt32](repeating: 0, count: 256), count: 8)
    for i in 0..<256 {
      var c = UInt32(i)
      for _ in 0..<8 { c = (c & 1) != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
      tables[0][i] = c
    }
    for i in 0..<256 {
      for t in 1..<8 { tables[t][i] = (tables[t - 1][i] >> 8) ^ tables[0][Int(tables[t - 1][i] & 0xFF)] }
    }
    return tables
  }()

  public static func checksum(_ bytes: UnsafeRawBufferPointer, initial: UInt32 = 0) -> UInt32 {
    var crc = ~initial
    let count = bytes.count
    guard count > 0, let base = bytes.baseAddress else { return initial }
    let t = tables
    return t[0].withUnsafeBufferPointer { t0 in
      t[1].withUnsafeBufferPointer { t1 in
        t[2].withUnsafeBufferPointer { t2 in
          t[3].withUnsafeBufferPointer { t3 in
            t[4].withUnsafeBufferPointer { t4 in
              t[5].withUnsafeBufferPointer { t5 in
                t[6].withUnsafeBufferPointer { t6 in
                  t[7].withUnsafeBufferPointer { t7 in
                    var i = 0
                    while i + 8 <= count {
                      let lo = base.loadUnaligned(fromByteOffset: i, as: UInt32.self).littleEndian ^ crc
                      let hi = base.loadUnaligned(fromByteOffset: i + 4, as: UInt32.self).littleEndian
                      crc = t7[Int(lo & 0xFF)] ^ t6[Int((lo >> 8) & 0xFF)] ^ t5[Int((lo >> 16) & 0xFF)]
                        ^ t4[Int(lo >> 24)] ^ t3[Int(hi & 0xFF)] ^ t2[Int((hi >> 8) & 0xFF)]
                        ^ t1[Int((hi >> 16) & 0xFF)] ^ t0[Int(hi >> 24)]
                      i += 8
                    }
                    while i < count {
                      crc = t0[Int((crc ^ UInt32(base.load(fromByteOffset: i, as: UInt8.self))) & 0xFF)] ^ (crc >> 8)
                      i += 1
                    }
                    return ~crc
                  }
                }
              }
            }
          }
        }
      }
    }
  }

  public static func checksum(_ bytes: [UInt8]) -> UInt32 {
    bytes.withUnsafeBytes { checksum($0) }
  }
}
