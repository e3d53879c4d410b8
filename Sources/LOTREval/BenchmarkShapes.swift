/// The GEMM and depthwise shapes of a LOTR-M forward pass, derived from its
/// configuration (MobileNetV2 inverted residuals at stride 32, a 1x1 projection to
/// `modelDim`, `layers` encoder and decoder layers over `tokens` and `queries`, and the
/// two-hidden-layer MLP head). The kernel benchmark runs these; once a model file is
/// loaded the runtime reports its own graph's shapes instead.
public struct LOTRMShapes: Sendable {
  public var inputSize = 192
  public var widthMultiplier = 0.75
  public var modelDim = 128
  public var ffnDim = 512
  public var layers = 2
  public var queries = 68
  public var headHidden = 512

  public init() {}

  /// An int8 GEMM C[m][n] = A[m][k] * W[n][k]^T, and how often the forward pass runs it.
  public struct GEMM: Sendable, Hashable {
    public var label: String
    public var m: Int, n: Int, k: Int
    public var count: Int
    public var macs: Int { m * n * k * count }
  }

  /// A 3x3 depthwise convolution over an h x w x channels input.
  public struct Depthwise: Sendable, Hashable {
    public var label: String
    public var height: Int, width: Int, channels: Int, stride: Int
    public var count: Int
    public var outputHeight: Int { (height + 2 - 3) / stride + 1 }
    public var macs: Int { outputHeight * ((width + 2 - 3) / stride + 1) * channels * 9 * count }
  }

  /// torchvision's `_make_divisible`: round to a multiple of 8, never below 90 %.
  public static func divisibleForTesting(_ value: Double) -> Int { divisible(value) }

  static func divisible(_ value: Double, by divisor: Int = 8) -> Int {
    var rounded = max(divisor, (Int(value + Double(divisor) / 2) / divisor) * divisor)
    if Double(rounded) < 0.9 * value { rounded += divisor }
    return rounded
  }

  /// MobileNetV2's (expansion t, channels c, repeats n, stride s) table.
  static let invertedResiduals: [(t: Int, c: Int, n: Int, s: Int)] = [
    (1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1),
  ]

  public var backboneChannels: Int { Self.divisible(320 * widthMultiplier) }
  public var tokens: Int { (inputSize / 32) * (inputSize / 32) }

  /// Shapes in execution order, identical ones merged with a count.
  public func gemms() -> [GEMM] {
    var list: [GEMM] = []
    func add(_ label: String, _ m: Int, _ n: Int, _ k: Int) {
      if let i = list.firstIndex(where: { $0.m == m && $0.n == n && $0.k == k }) {
        list[i].count += 1
      } else {
        list.append(GEMM(label: label, m: m, n: n, k: k, count: 1))
      }
    }
    var size = inputSize / 2
    var channels = Self.divisible(32 * widthMultiplier)
    add("stem 3x3 s2 (im2col)", size * size, channels, 27)
    for (t, c, n, s) in Self.invertedResiduals {
      let out = Self.divisible(Double(c) * widthMultiplier)
      for repeatIndex in 0..<n {
        let stride = repeatIndex == 0 ? s : 1
        let hidden = channels * t
        if t != 1 { add("expand 1x1 @\(size)", size * size, hidden, channels) }
        size /= stride
        add("project 1x1 @\(size)", size * size, out, hidden)
        channels = out
      }
    }
    let d = modelDim
    add("proj 1x1 to D", tokens, d, channels)
    for _ in 0..<layers {
      add("enc q,k,v", tokens, 3 * d, d)
      add("enc out", tokens, d, d)
      add("enc ffn1", tokens, ffnDim, d)
      add("enc ffn2", tokens, d, ffnDim)
    }
    for _ in 0..<layers {
      add("dec self q,k,v", queries, 3 * d, d)
      add("dec self out / cross q", queries, d, d)
      add("dec cross k,v", tokens, 2 * d, d)
      add("dec self out / cross q", queries, d, d)
      add("dec cross out", queries, d, d)
      add("dec ffn1", queries, ffnDim, d)
      add("dec ffn2", queries, d, ffnDim)
    }
    add("head fc1", queries, headHidden, d)
    add("head fc2", queries, headHidden, headHidden)
    add("head fc3", queries, 2, headHidden)
    return list
  }

  public func depthwise() -> [Depthwise] {
    var list: [Depthwise] = []
    var size = inputSize / 2
    var channels = Self.divisible(32 * widthMultiplier)
    for (t, c, n, s) in Self.invertedResiduals {
      let out = Self.divisible(Double(c) * widthMultiplier)
      for repeatIndex in 0..<n {
        let stride = repeatIndex == 0 ? s : 1
        let hidden = channels * t
        if let i = list.firstIndex(where: { $0.height == size && $0.channels == hidden && $0.stride == stride }) {
          list[i].count += 1
        } else {
          list.append(Depthwise(label: "dw 3x3 s\(stride) @\(size)", height: size, width: size, channels: hidden,
                                stride: stride, count: 1))
        }
        size /= stride
        channels = out
      }
    }
    return list
  }
}
