/// The vocabulary of the .lotr format (docs/FORMAT.md): magic, versions, dtypes, roles,
/// quantization kinds and the op table with each op's arity and attribute size.
public enum ModelFormat {
  public static let magic: [UInt8] = [0x4C, 0x4F, 0x54, 0x52, 0x4D, 0x44, 0x4C, 0x1A] // "LOTRMDL\x1a"
  public static let versionMajor: UInt16 = 1
  /// The highest minor this runtime reads and writes (1.1 added MAXPOOL, 1.2 PAD, 1.3 the face-detection task in META,
  /// 1.4 MUL, BATCH_MATMUL, TANH and META outer_eyes). A writer stamps
  /// the lowest minor that holds its ops (`Op.sinceMinor`), so 1.0 files stay 1.0.
  public static let versionMinor: UInt16 = 4
  public static let headerSize = 64
  public static let sectionEntrySize = 32
  public static let tensorRecordSize = 64
  public static let tableHeaderSize = 64 // u32 count + padding, for TENS and NODE
  public static let alignment = 64
  public static let maxSections = 64
  /// Largest file a reader loads (it is copied into memory whole; LOTR-M is 3.5 MB).
  public static let maxFileSize = 256 << 20
  public static let maxTensors = 65_536
  public static let maxNodes = 65_536
  public static let maxAttributeBytes = 256
  public static let maxRank = 4

  public enum SectionKind: String, CaseIterable, Sendable {
    case meta = "META", strings = "STRS", tensors = "TENS", nodes = "NODE", data = "DATA"

    var fourCC: UInt32 {
      let b = Array(rawValue.utf8)
      return UInt32(b[0]) | UInt32(b[1]) << 8 | UInt32(b[2]) << 16 | UInt32(b[3]) << 24
    }

    init?(fourCC: UInt32) {
      let bytes = (0..<4).map { UInt8((fourCC >> (8 * UInt32($0))) & 0xFF) }
      guard let text = String(validating: bytes, as: UTF8.self), let kind = SectionKind(rawValue: text) else {
        return nil
      }
      self = kind
    }
  }
}

public enum DType: UInt8, Sendable, CustomStringConvertible {
  case f32 = 0, i8 = 1, i32 = 2

  public var size: Int {
    switch self {
    case .f32, .i32: return 4
    case .i8: return 1
    }
  }

  public var description: String {
    switch self {
    case .f32: return "f32"
    case .i8: return "i8"
    case .i32: return "i32"
    }
  }
}

public enum TensorRole: UInt8, Sendable {
  case activation = 0, constant = 1, input = 2, output = 3
}

/// How a tensor's integers map to reals.
public enum Quantization: Sendable, Equatable {
  case none
  case perTensor(scale: Float, zeroPoint: Int32)
  /// Symmetric (zero point 0) per channel along `axis`; scales live in tensor `scalesTensor`.
  case perChannel(axis: Int, scalesTensor: Int)
}

/// The op set of format version 1.4: the id on disk and the name; each op's attributes,
/// arity and rules are its entry in OpSchema (OpSchemaEntries.swift).
public enum Op: UInt16, CaseIterable, Sendable, CustomStringConvertible {
  case conv2d = 1, deconv2d, add, linear, matmul, layerNorm, softmax, gelu, relu, sigmoid, clamp, attention,
    reshape, transpose, concat, quantize, dequantize
  /// Format 1.1.
  case maxPool = 18
  /// Format 1.2.
  case pad = 19
  /// Format 1.4: the float ops of the importer's fallback for graphs no pattern covers.
  case mul = 20, batchMatMul, tanh

  public var description: String {
    switch self {
    case .conv2d: return "CONV2D"
    case .deconv2d: return "DECONV2D"
    case .add: return "ADD"
    case .linear: return "LINEAR"
    case .matmul: return "MATMUL"
    case .layerNorm: return "LAYERNORM"
    case .softmax: return "SOFTMAX"
    case .gelu: return "GELU"
    case .relu: return "RELU"
    case .sigmoid: return "SIGMOID"
    case .clamp: return "CLAMP"
    case .attention: return "ATTENTION"
    case .reshape: return "RESHAPE"
    case .transpose: return "TRANSPOSE"
    case .concat: return "CONCAT"
    case .quantize: return "QUANTIZE"
    case .dequantize: return "DEQUANTIZE"
    case .maxPool: return "MAXPOOL"
    case .pad: return "PAD"
    case .mul: return "MUL"
    case .batchMatMul: return "BATCH_MATMUL"
    case .tanh: return "TANH"
    }
  }
}
