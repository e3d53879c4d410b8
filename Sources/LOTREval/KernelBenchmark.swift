#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import CLOTRKernels
import COpenBLAS
import LOTR

/// Times the int8 GEMM and depthwise kernels on LOTR-M's shapes against OpenBLAS
/// `cblas_sgemm` on the same shapes, in one process so both see the same machine state.
/// Not a test: timings on a shared machine drift, so compare the ratios.
public struct KernelBenchmark {
  public struct Row: Sendable {
    public var label: String
    public var shape: String
    public var threads: Int
    public var count: Int
    public var macs: Int           // one call
    public var int8Seconds: Double // median of one call
    public var sgemmSeconds: Double? // median of one call; nil for non-GEMM rows
    public var int8GOPS: Double { 2 * Double(macs) / int8Seconds / 1e9 }
    public var sgemmGOPS: Double? { sgemmSeconds.map { 2 * Double(macs) / $0 / 1e9 } }
    /// Throughput of int8 over OpenBLAS fp32 (> 1: int8 is faster).
    public var ratio: Double? { sgemmSeconds.map { $0 / int8Seconds } }
  }

  public var kernels: KernelPath
  public var runs: Int
  /// Each timed sample repeats the call until it lasts at least this long.
  public var minimumSampleSeconds = 0.005

  public init(kernels: KernelPath, runs: Int) {
    self.kernels = kernels
    self.runs = max(1, runs)
  }

  public static func now() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
  }

  /// Median over `runs` samples of the time of one call of each body. The bodies' samples
  /// alternate (A B A B ...) so both see the same machine state on a shared machine.
  func medianSeconds(_ bodies: [() -> Void]) -> [Double] {
    let iterations = bodies.map { body -> Int in
      body() // warm caches and the pool
      var iterations = 1
      while true {
        let start = Self.now()
        for _ in 0..<iterations { body() }
        if Self.now() - start >= minimumSampleSeconds || iterations >= 1 << 20 { return iterations }
        iterations *= 2
      }
    }
    var samples = [[Double]](repeating: [], count: bodies.count)
    for _ in 0..<runs {
      for (i, body) in bodies.enumerated() {
        let start = Self.now()
        for _ in 0..<iterations[i] { body() }
        samples[i].append((Self.now() - start) / Double(iterations[i]))
      }
    }
    return samples.map { $0.sorted()[$0.count / 2] }
  }

  func medianSeconds(_ body: @escaping () -> Void) -> Double { medianSeconds([body])[0] }

  public func gemm(_ shape: LOTRMShapes.GEMM, threads: Int, pool: ThreadPool?) -> Row {
    let (m, n, k) = (shape.m, shape.n, shape.k)
    var seed: UInt32 = 0x1234_5678
    func next() -> UInt32 {
      seed ^= seed << 13; seed ^= seed >> 17; seed ^= seed << 5
      return seed
    }
    let a = AlignedBuffer<Int8>(count: m * k)
    let w = AlignedBuffer<Int8>(count: n * k)
    for i in 0..<a.count { a[i] = Int8(truncatingIfNeeded: Int(next() % 256) - 128) }
    for i in 0..<w.count { w[i] = Int8(truncatingIfNeeded: Int(next() % 255) - 127) }
    let bias = AlignedBuffer<Int32>(count: n)
    let multiplier = AlignedBuffer<Int32>(count: n)
    let shift = AlignedBuffer<Int32>(count: n)
    for j in 0..<n {
      bias[j] = Int32(Int(next() % 2001) - 1000)
      _ = lotr_requant_from_scale(1.0 / Double(k * 400), multiplier.pointer + j, shift.pointer + j)
    }
    let packed = AlignedBuffer<UInt8>(count: lotr_qs8_gemm_packed_size(kernels.table, n, k))
    lotr_qs8_gemm_pack(kernels.table, n, k, w.pointer, bias.pointer, -3, packed.raw)
    let c = AlignedBuffer<Int8>(count: m * n)
    var requant = lotr_qs8_requant(multiplier: multiplier.pointer, shift: shift.pointer, output_zero_point: 0,
                                   output_min: -128, output_max: 127)
    let int8: () -> Void = {
      lotr_qs8_gemm(kernels.table, pool?.pointer, m, n, k, a.pointer, k, packed.raw, c.pointer, n, &requant)
    }

    let af = AlignedBuffer<Float>(count: m * k)
    let wf = AlignedBuffer<Float>(count: n * k)
    let cf = AlignedBuffer<Float>(count: m * n)
    for i in 0..<af.count { af[i] = Float(a[i]) * 0.01 }
    for i in 0..<wf.count { wf[i] = Float(w[i]) * 0.01 }
    openblas_set_num_threads(Int32(threads))
    let sgemm: () -> Void = {
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(m), Int32(n), Int32(k), 1, af.pointer, Int32(k),
                  wf.pointer, Int32(k), 0, cf.pointer, Int32(n))
    }
    // One thread: int8 and sgemm alternate sample by sample. More: OpenBLAS's workers spin
    // for about 0.1 s after each call (its THREAD_TIMEOUT, 2^28 cycles), long enough to take
    // the cores from the int8 pool's threads for every sample after an sgemm one (measured
    // 8x slower, the reverse 2x), so there each is timed in its own block, the int8 one first
    // and after a pause that lets OpenBLAS's workers sleep.
    let times: [Double]
    if threads == 1 {
      times = medianSeconds([int8, sgemm])
    } else {
      usleep(200_000)
      let int8Seconds = medianSeconds(int8)
      times = [int8Seconds, medianSeconds(sgemm)]
    }
    return Row(label: shape.label, shape: "\(m)x\(n)x\(k)", threads: threads, count: shape.count,
               macs: m * n * k, int8Seconds: times[0], sgemmSeconds: times[1])
  }

  public func depthwise(_ shape: LOTRMShapes.Depthwise, threads: Int, pool: ThreadPool?) -> Row {
    let channels = shape.channels
    var g = lotr_conv_geometry()
    g.input_height = UInt32(shape.height); g.input_width = UInt32(shape.width)
    g.input_channels = UInt32(channels); g.output_channels = UInt32(channels)
    g.kernel_height = 3; g.kernel_width = 3
    g.stride_height = UInt32(shape.stride); g.stride_width = UInt32(shape.stride)
    // PyTorch's MobileNetV2 pads 1 on every side at both strides.
    g.pad_top = 1; g.pad_left = 1; g.pad_bottom = 1; g.pad_right = 1
    let oh = Int(lotr_conv_output_height(&g)), ow = Int(lotr_conv_output_width(&g))
    let input = AlignedBuffer<Int8>(count: shape.height * shape.width * channels)
    for i in 0..<input.count { input[i] = Int8(truncatingIfNeeded: i &* 7919 % 251 - 125) }
    let weights = AlignedBuffer<Int8>(count: 9 * channels)
    for i in 0..<weights.count { weights[i] = Int8(truncatingIfNeeded: i &* 31 % 201 - 100) }
    let multiplier = AlignedBuffer<Int32>(count: channels)
    let shift = AlignedBuffer<Int32>(count: channels)
    for j in 0..<channels { _ = lotr_requant_from_scale(1.0 / 4000, multiplier.pointer + j, shift.pointer + j) }
    let packed = AlignedBuffer<UInt8>(count: lotr_qs8_dwconv3x3_packed_size(kernels.table, channels))
    lotr_qs8_dwconv3x3_pack(kernels.table, channels, weights.pointer, nil, 5, packed.raw)
    let output = AlignedBuffer<Int8>(count: oh * ow * channels)
    var requant = lotr_qs8_requant(multiplier: multiplier.pointer, shift: shift.pointer, output_zero_point: -2,
                                   output_min: -128, output_max: 127)
    let seconds = medianSeconds {
      lotr_qs8_dwconv3x3(kernels.table, pool?.pointer, &g, input.pointer, 5, packed.raw, output.pointer, &requant)
    }
    return Row(label: shape.label, shape: "\(shape.height)x\(shape.width)x\(channels) s\(shape.stride)",
               threads: threads, count: shape.count, macs: oh * ow * channels * 9, int8Seconds: seconds,
               sgemmSeconds: nil)
  }

  /// What lotrd's crops cost per camera frame, `layout` at `width` x `height`: the landmark
  /// crop (`crop` square) and the detector's two squares (`detector` square), warped after
  /// converting the whole frame to RGB8, against warped straight from the camera's bytes
  /// on this path and on the scalar reference. Median seconds per frame, interleaved.
  public func frameCrops(layout: PixelLayout, width: Int = 640, height: Int = 480, crop: Int = 160,
                         detector: Int = 128) -> (converted: Double, direct: Double, directReference: Double) {
    var state: UInt32 = 12345
    let bytes = (0..<layout.byteCount(width: width, height: height)).map { _ -> UInt8 in
      state = state &* 1_664_525 &+ 1_013_904_223
      return UInt8(truncatingIfNeeded: state >> 24)
    }
    let frame = PixelImage(width: width, height: height, layout: layout, pixels: bytes)
    let (w, h) = (Float(width), Float(height))
    // A rolled face crop of a third of the frame; the two detector squares of the shorter side.
    let faceCrop: [Float] = [0.32 * h, -0.06 * h, 0.45 * w, 0.06 * h, 0.32 * h, 0.5 * h]
    let squares: [[Float]] = [[h, 0, h / 2, 0, h, h / 2], [h, 0, w - h / 2, 0, h, h / 2]]
    let mean: [Float] = [0.5, 0.5, 0.5], invStd: [Float] = [2, 2, 2]
    var cropInput = [Float](repeating: 0, count: crop * crop * 3)
    var detectorInput = [Float](repeating: 0, count: detector * detector * 3)
    let reference = lotr_kernels_for(LOTR_ISA_REF)
    func warps(_ image: PixelImage, _ table: OpaquePointer?) {
      image.withCImage { im in
        lotr_image_warp_normalize_f32(table, nil, im, faceCrop, &cropInput, UInt32(crop), UInt32(crop), mean, invStd)
        for a in squares {
          lotr_image_warp_normalize_f32(table, nil, im, a, &detectorInput, UInt32(detector), UInt32(detector), mean, invStd)
        }
      }
    }
    let times = medianSeconds([{ warps(PixelImage(frame.rgbImage), kernels.table) }, { warps(frame, kernels.table) },
                               { warps(frame, reference) }])
    return (times[0], times[1], times[2])
  }
}
