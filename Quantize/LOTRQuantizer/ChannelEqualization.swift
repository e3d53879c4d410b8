#if canImport(Glibc)
import Glibc
#endif
import LOTR

/// Cross-layer equalization (Nagel et al. 2019, "Data-Free Quantization Through Weight
/// Equalization and Bias Correction"), for the pairs where it is exact: a depthwise
/// convolution with no activation or a ReLU (both commute with a positive per-channel
/// scale) feeding one dense convolution alone. Channel c of the depthwise filter and bias
/// is divided by s_c and input channel c of the next convolution multiplied by it, with
/// s_c = sqrt(r1_c / r2_c) (r1, r2: the largest |weight| of the channel in each), so both
/// layers' per-channel weight ranges become sqrt(r1_c r2_c) and the depthwise output's
/// channels, quantized with one scale per tensor, come closer to one range. BlazeFace's
/// depthwise outputs span 60x their RMS without it (its TFLite file is float16 for that
/// reason); LOTR's depthwise layers end in ReLU6, which does not commute, and are left alone.
/// The float function is unchanged (to rounding).
enum ChannelEqualization {
  /// Rescales every eligible pair in place; returns how many.
  static func apply(_ g: inout ImportedGraph) -> Int {
    var consumers = [[Int]](repeating: [], count: g.tensors.count)
    for (n, node) in g.nodes.enumerated() { for t in node.inputs { consumers[t].append(n) } }
    var count = 0
    for (n, node) in g.nodes.enumerated() {
      guard let dw = node.attributes as? OpSchema.Conv2D, dw.clamp == .none || dw.clamp == .relu else { continue }
      let y = node.outputs[0]
      let c = g.tensors[y].shape.last!
      guard dw.isDepthwise(inputChannels: g.tensors[node.inputs[0]].shape.last!, outputChannels: c),
            g.tensors[y].role == .activation, consumers[y].count == 1 else { continue }
      let m = consumers[y][0]
      guard let next = g.nodes[m].attributes as? OpSchema.Conv2D, next.groups == 1, g.nodes[m].inputs[0] == y,
            let w1 = g.tensors[node.inputs[1]].data, let b1 = g.tensors[node.inputs[2]].data,
            let w2 = g.tensors[g.nodes[m].inputs[1]].data,
            consumers[node.inputs[1]].count == 1, consumers[node.inputs[2]].count == 1,
            consumers[g.nodes[m].inputs[1]].count == 1 else { continue }
      // Depthwise weight [1, KH, KW, C] and dense weight [Cout, KH, KW, C]: channel innermost.
      var r1 = [Float](repeating: 0, count: c), r2 = [Float](repeating: 0, count: c)
      for (i, v) in w1.enumerated() { r1[i % c] = max(r1[i % c], abs(v)) }
      for (i, v) in w2.enumerated() { r2[i % c] = max(r2[i % c], abs(v)) }
      let s = zip(r1, r2).map { a, b -> Float in a > 0 && b > 0 ? (a / b).squareRoot() : 1 }
      g.tensors[node.inputs[1]].data = w1.enumerated().map { $1 / s[$0 % c] }
      g.tensors[node.inputs[2]].data = b1.enumerated().map { $1 / s[$0] }
      g.tensors[g.nodes[m].inputs[1]].data = w2.enumerated().map { $1 * s[$0 % c] }
      count += 1
    }
    return count
  }
}
