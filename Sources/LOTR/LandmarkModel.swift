#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import CLOTRKernels

/// A point in continuous frame coordinates: pixel column x spans [x, x + 1), so the
/// centre of the top-left pixel is (0.5, 0.5).
public struct Point: Sendable, Equatable, Codable {
  public var x: Float
  public var y: Float
  public init(x: Float, y: Float) { self.x = x; self.y = y }
}

/// An axis-aligned face box in frame coordinates, in the model's box convention (the
/// landmark bounding box; a detector's box is mapped to it first).
public struct FaceBox: Sendable, Equatable, Codable {
  public var x: Float, y: Float, width: Float, height: Float
  public init(x: Float, y: Float, width: Float, height: Float) {
    self.x = x; self.y = y; self.width = width; self.height = height
  }

  /// The bounding box of a set of points.
  public init?(bounding points: [Point]) {
    guard let minX = points.map(\.x).min(), let maxX = points.map(\.x).max(),
          let minY = points.map(\.y).min(), let maxY = points.map(\.y).max() else { return nil }
    self.init(x: minX, y: minY, width: maxX - minX, height: maxY - minY)
  }
}

/// A loaded model and everything to go from a frame and a face box to landmarks:
/// the crop warp of the model's crop rule (C), the network, and the mapping back.
public final class LandmarkModel: @unchecked Sendable {
  public let file: ModelFile
  public let network: Network
  public var metadata: ModelMetadata { file.metadata }
  /// Seconds spent mapping and validating the file, and packing weights.
  public let loadSeconds: Double

  private let input: ModelInput

  public init(path: String, kernels: KernelPath? = nil, threads: Int = 1) throws {
    let clock = ContinuousClock()
    let start = clock.now
    file = try ModelFile.open(path: path)
    guard file.metadata.kind == .landmarks else {
      throw ModelFileError(path: path, "'\(file.metadata.name)' is a \(file.metadata.kind.rawValue) model, not a landmark model (use it as the face detector: --detector-model)")
    }
    network = try Network(model: file, kernels: kernels ?? KernelPath.default(), threads: threads)
    input = ModelInput(network)
    let elapsed = (clock.now - start).components
    loadSeconds = Double(elapsed.seconds) + Double(elapsed.attoseconds) * 1e-18
  }

  /// The 2x3 map from crop coordinates (u - 0.5, v - 0.5, 1) to frame coordinates.
  public func cropTransform(for box: FaceBox, roll: Float = 0) -> [Float] {
    CropGeometry.transform(box: box, crop: metadata.crop, roll: roll)
  }

  /// Landmarks of the face in `box`, in frame coordinates.
  public func landmarks(in image: PixelImage, box: FaceBox, roll: Float = 0) -> [Point] {
    let a = cropTransform(for: box, roll: roll)
    input.fill(from: image, transform: a)
    network.run()
    return CropGeometry.mapBack(network.output, a)
  }

  public func landmarks(in image: RGBImage, box: FaceBox, roll: Float = 0) -> [Point] {
    landmarks(in: PixelImage(image), box: box, roll: roll)
  }
}

/// A network's input made from a frame region: the crop warp and normalisation of META,
/// then quantization when the graph input is int8. One per network (holds the staging).
public final class ModelInput: @unchecked Sendable {
  let network: Network
  private let mean: [Float]
  private let invStd: [Float]
  private let staging: AlignedBuffer<Float>? // f32 staging when the graph input is int8

  public init(_ network: Network) {
    self.network = network
    let m = network.model.metadata
    mean = m.normalization.mean
    invStd = m.normalization.std.map { 1 / $0 }
    staging = network.model.tensors[network.model.inputTensor].dtype == .f32 ? nil
      : AlignedBuffer<Float>(count: m.input.width * m.input.height * 3)
  }

  /// Warps the region that the 2x3 `transform` (crop (u - 0.5, v - 0.5, 1) to frame) maps
  /// into the network's input, straight from the frame's own pixel layout.
  public func fill(from image: PixelImage, transform a: [Float]) {
    let m = network.model.metadata
    let (w, h) = (m.input.width, m.input.height)
    let input = network.inputPointer
    let target = staging?.pointer ?? input.assumingMemoryBound(to: Float.self)
    image.withCImage {
      lotr_image_warp_normalize_f32(network.kernels.table, network.pool?.pointer, $0, a, target, UInt32(w), UInt32(h),
                                    mean, invStd)
    }
    if let staging, case .perTensor(let scale, let zp) = network.model.tensors[network.model.inputTensor].quantization {
      lotr_qs8_quantize(network.kernels.table, w * h * 3, staging.pointer, input.assumingMemoryBound(to: Int8.self), scale, zp)
    }
  }
}
