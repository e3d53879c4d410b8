/// Per-op dtype and shape rules of format 1.1 (docs/FORMAT.md, "Ops"). The executor relies
/// on them: a node that passes needs no further checks at run time.
enum GraphRules {
  static func problem(_ node: NodeInfo, _ tensors: [TensorInfo]) -> String? {
    let ins = node.inputs.map { tensors[$0] }
    let out = tensors[node.outputs[0]]
    func quantizedI8(_ t: TensorInfo) -> Bool {
      if case .perTensor = t.quantization, t.dtype == .i8 { return true }
      return false
    }
    func perChannel(_ t: TensorInfo, axis: Int) -> Bool {
      if case .perChannel(let a, _) = t.quantization, a == axis, t.dtype == .i8 { return true }
      return false
    }
    func sameShape(_ a: TensorInfo, _ b: TensorInfo) -> String? {
      a.shape == b.shape ? nil : "'\(a.name)' \(a.shape) and '\(b.name)' \(b.shape) differ in shape"
    }
    /// int8 in -> int8 or f32 out with i8 per-channel weights and i32 bias, or all f32.
    func weightedTypes(x: TensorInfo, w: TensorInfo, bias: TensorInfo, y: TensorInfo, weightAxis: Int) -> String? {
      if x.dtype == .f32 {
        return w.dtype == .f32 && bias.dtype == .f32 && y.dtype == .f32
          ? nil : "a float input needs f32 weight, bias and output"
      }
      guard quantizedI8(x) else { return "input '\(x.name)' must be f32 or per-tensor quantized i8" }
      guard perChannel(w, axis: weightAxis) else { return "weight '\(w.name)' must be i8 quantized per channel on axis \(weightAxis)" }
      guard bias.dtype == .i32, bias.quantization == .none else { return "bias '\(bias.name)' must be unquantized i32" }
      guard y.dtype == .f32 || quantizedI8(y) else { return "output '\(y.name)' must be f32 or per-tensor quantized i8" }
      return nil
    }
    func constant(_ t: TensorInfo) -> String? { t.role == .constant ? nil : "'\(t.name)' must be a constant" }

    switch node.op {
    case .conv2d, .deconv2d:
      let (x, w, b) = (ins[0], ins[1], ins[2])
      guard x.shape.count == 4, w.shape.count == 4, out.shape.count == 4, x.shape[0] == 1 else {
        return "input, weight and output must be rank 4 (NHWC, OHWI) with batch 1"
      }
      if let p = constant(w) ?? constant(b) { return p }
      let a = (0..<node.attributes.count).map { node.int($0) }
      let (kh, kw, sh, sw) = (Int(a[0]), Int(a[1]), Int(a[2]), Int(a[3]))
      let (pt, pl, pb, pr) = (Int(a[4]), Int(a[5]), Int(a[6]), Int(a[7]))
      guard (1...15).contains(kh), (1...15).contains(kw), (1...8).contains(sh), (1...8).contains(sw) else {
        return "kernel \(kh)x\(kw) or stride \(sh)x\(sw) out of range"
      }
      guard [pt, pl, pb, pr].allSatisfy({ $0 >= 0 && $0 < max(kh, kw) }) else { return "padding out of range" }
      let cin = x.shape[3], cout = out.shape[3]
      let groups = node.op == .conv2d ? Int(a[8]) : 1
      guard groups >= 1, cin % groups == 0, cout % groups == 0 else { return "groups \(groups) does not divide the channels" }
      guard w.shape == [cout, kh, kw, cin / groups] || (groups == cin && w.shape == [1, kh, kw, cout] && cout == cin) else {
        return "weight shape \(w.shape) does not match kernel \(kh)x\(kw), \(cin) -> \(cout) channels, groups \(groups)"
      }
      guard b.shape == [cout] else { return "bias shape \(b.shape) is not [\(cout)]" }
      let oh: Int, ow: Int
      if node.op == .conv2d {
        oh = (x.shape[1] + pt + pb - kh) / sh + 1
        ow = (x.shape[2] + pl + pr - kw) / sw + 1
      } else {
        oh = (x.shape[1] - 1) * sh + kh - pt - pb
        ow = (x.shape[2] - 1) * sw + kw - pl - pr
      }
      guard oh >= 1, ow >= 1, out.shape == [1, oh, ow, cout] else { return "output shape \(out.shape) should be [1, \(oh), \(ow), \(cout)]" }
      let axis = (groups == cin && w.shape[0] == 1 && cin > 1) ? 3 : 0
      if let p = weightedTypes(x: x, w: w, bias: b, y: out, weightAxis: axis) { return p }
      return floatPair(node, at: node.op == .conv2d ? 9 : 8)

    case .linear:
      let (x, w, b) = (ins[0], ins[1], ins[2])
      if let p = constant(w) ?? constant(b) { return p }
      guard w.shape.count == 2, let k = x.shape.last, w.shape[1] == k, b.shape == [w.shape[0]] else {
        return "weight \(w.shape) and bias \(b.shape) do not fit input \(x.shape) (weight is [N, K], bias [N])"
      }
      guard out.shape == Array(x.shape.dropLast()) + [w.shape[0]] else { return "output shape \(out.shape) is wrong" }
      if let p = weightedTypes(x: x, w: w, bias: b, y: out, weightAxis: 0) { return p }
      return floatPair(node, at: 0)

    case .add:
      if let p = sameShape(ins[0], ins[1]) ?? sameShape(ins[0], out) { return p }
      let floats = [ins[0], ins[1], out].allSatisfy { $0.dtype == .f32 }
      let ints = [ins[0], ins[1], out].allSatisfy(quantizedI8)
      guard floats || ints else { return "inputs and output must be all f32 or all quantized i8" }
      return floatPair(node, at: 0)

    case .matmul:
      let (a, b) = (ins[0], ins[1])
      guard [a, b, out].allSatisfy({ $0.dtype == .f32 && $0.shape.count == 2 }) else { return "operands must be f32 matrices" }
      let n = node.int(0) != 0 ? b.shape[0] : b.shape[1]
      let kb = node.int(0) != 0 ? b.shape[1] : b.shape[0]
      guard a.shape[1] == kb, out.shape == [a.shape[0], n] else { return "shapes \(a.shape) x \(b.shape) -> \(out.shape) do not agree" }
      return node.float(1).isFinite ? nil : "alpha is not finite"

    case .layerNorm:
      let (x, g, b) = (ins[0], ins[1], ins[2])
      guard [x, g, b, out].allSatisfy({ $0.dtype == .f32 }) else { return "LayerNorm stays float: all operands f32" }
      if let p = constant(g) ?? constant(b) ?? sameShape(x, out) { return p }
      guard let c = x.shape.last, g.shape == [c], b.shape == [c] else { return "gamma and beta must be [\(x.shape.last ?? 0)]" }
      let eps = node.float(0)
      return eps.isFinite && eps > 0 ? nil : "epsilon \(eps) is not finite and positive"

    case .softmax, .gelu, .sigmoid:
      guard ins[0].dtype == .f32, out.dtype == .f32 else { return "\(node.op) stays float: input and output f32" }
      return sameShape(ins[0], out)

    case .relu:
      guard ins[0].dtype == out.dtype, ins[0].dtype != .i32 else { return "input and output dtypes differ" }
      return sameShape(ins[0], out)

    case .clamp:
      guard ins[0].dtype == out.dtype, ins[0].quantization == out.quantization, ins[0].dtype != .i32 else {
        return "input and output must share dtype and quantization"
      }
      if let p = sameShape(ins[0], out) { return p }
      let (lo, hi) = (node.float(0), node.float(1))
      return !lo.isNaN && !hi.isNaN && lo <= hi ? nil : "clamp [\(lo), \(hi)] is empty or NaN"

    case .attention:
      let (q, k, v) = (ins[0], ins[1], ins[2])
      guard [q, k, v, out].allSatisfy({ $0.dtype == .f32 && $0.shape.count == 2 }) else {
        return "query, key, value and output must be f32 [tokens, D]"
      }
      let d = q.shape[1]
      guard k.shape[1] == d, v.shape == k.shape, out.shape == q.shape else { return "query \(q.shape), key \(k.shape), value \(v.shape) do not agree" }
      for i in stride(from: 3, to: 11, by: 2) {
        let (w, b) = (ins[i], ins[i + 1])
        if let p = constant(w) ?? constant(b) { return p }
        guard w.shape == [d, d], b.shape == [d], b.dtype == .f32, w.dtype == .f32 || perChannel(w, axis: 0) else {
          return "projection '\(w.name)' must be [\(d), \(d)] (f32 or i8 per channel) with f32 bias [\(d)]"
        }
      }
      let heads = Int(node.int(0))
      return heads >= 1 && d % heads == 0 ? nil : "\(heads) heads do not divide D = \(d)"

    case .reshape:
      guard ins[0].dtype == out.dtype, ins[0].quantization == out.quantization else { return "reshape keeps dtype and quantization" }
      return ins[0].elementCount == out.elementCount ? nil : "reshape changes the element count"

    case .transpose:
      let x = ins[0]
      let perm = (0..<4).map { Int(node.int($0)) }.prefix(x.shape.count)
      guard Set(perm) == Set(0..<x.shape.count), (x.shape.count..<4).allSatisfy({ node.int($0) == Int32($0) }) else {
        return "perm \(Array(perm)) is not a permutation of the \(x.shape.count) axes"
      }
      guard x.dtype == out.dtype, x.quantization == out.quantization, out.shape == perm.map({ x.shape[$0] }) else {
        return "output \(out.shape) is not the permuted input"
      }
      return nil

    case .concat:
      let (a, b) = (ins[0], ins[1])
      let axis = Int(node.int(0))
      guard a.dtype == b.dtype, a.dtype == out.dtype, a.quantization == b.quantization, a.quantization == out.quantization else {
        return "concat operands must share dtype and quantization"
      }
      guard axis >= 0, axis < a.shape.count, a.shape.count == b.shape.count else { return "axis \(axis) is out of range" }
      var expected = a.shape
      expected[axis] += b.shape[axis]
      for i in a.shape.indices where i != axis && a.shape[i] != b.shape[i] { return "shapes \(a.shape) and \(b.shape) differ off the axis" }
      return out.shape == expected ? nil : "output \(out.shape) should be \(expected)"

    case .maxPool:
      let x = ins[0]
      guard x.shape.count == 4, out.shape.count == 4, x.shape[0] == 1 else { return "input and output must be rank 4 (NHWC) with batch 1" }
      let a = (0..<8).map { Int(node.int($0)) }
      let (kh, kw, sh, sw) = (a[0], a[1], a[2], a[3])
      let (pt, pl, pb, pr) = (a[4], a[5], a[6], a[7])
      guard (1...15).contains(kh), (1...15).contains(kw), (1...8).contains(sh), (1...8).contains(sw) else {
        return "kernel \(kh)x\(kw) or stride \(sh)x\(sw) out of range"
      }
      // Padding smaller than the kernel: every window holds at least one real element.
      guard [pt, pb].allSatisfy({ $0 >= 0 && $0 < kh }), [pl, pr].allSatisfy({ $0 >= 0 && $0 < kw }) else {
        return "padding out of range (each pad must be below the kernel size)"
      }
      let oh = (x.shape[1] + pt + pb - kh) / sh + 1, ow = (x.shape[2] + pl + pr - kw) / sw + 1
      guard x.shape[1] + pt + pb >= kh, x.shape[2] + pl + pr >= kw, out.shape == [1, oh, ow, x.shape[3]] else {
        return "output shape \(out.shape) should be [1, \(oh), \(ow), \(x.shape[3])]"
      }
      guard x.dtype == out.dtype, x.quantization == out.quantization, x.dtype == .f32 || quantizedI8(x) else {
        return "MAXPOOL takes f32, or per-tensor quantized i8 with the output's quantization identical to the input's"
      }
      return nil

    case .quantize:
      guard ins[0].dtype == .f32, quantizedI8(out) else { return "QUANTIZE takes f32 to per-tensor quantized i8" }
      return sameShape(ins[0], out)

    case .dequantize:
      guard quantizedI8(ins[0]), out.dtype == .f32 else { return "DEQUANTIZE takes per-tensor quantized i8 to f32" }
      return sameShape(ins[0], out)
    }
  }

  /// A fused clamp [min, max] in real units: not NaN, min <= max.
  static func floatPair(_ node: NodeInfo, at i: Int) -> String? {
    let (lo, hi) = (node.float(i), node.float(i + 1))
    return !lo.isNaN && !hi.isNaN && lo <= hi ? nil : "activation clamp [\(lo), \(hi)] is empty or NaN"
  }
}
