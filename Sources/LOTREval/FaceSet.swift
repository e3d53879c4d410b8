#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import CLOTRKernels
import LOTR

/// Why a face folder could not be loaded.
public struct FaceSetError: Error, CustomStringConvertible, Equatable {
  public var message: String
  public init(_ message: String) { self.message = message }
  public var description: String { message }
}

/// Face images for calibration, validation and evaluation: a folder of JPEG/PNG files, with optional
/// ground truth in the folder's `landmarks.csv` (read by `FaceDataset`) or face boxes in
/// `boxes.csv` (`image,x,y,width,height`). Without either, the whole image is the box.
public struct FaceSet: Sendable {
  public struct Face: Sendable {
    public var path: String
    public var image: RGBImage
    public var box: FaceBox
    /// Ground truth in continuous frame coordinates (pixel x spans [x, x+1)), when known.
    public var landmarks: [Point]?

    public init(path: String, image: RGBImage, box: FaceBox, landmarks: [Point]?) {
      self.path = path; self.image = image; self.box = box; self.landmarks = landmarks
    }
  }

  public var faces: [Face]

  public init(faces: [Face]) { self.faces = faces }

  /// Loads up to `limit` faces (only those named in `only`, when given) (sorted by file name, so runs are repeatable; images may sit
  /// in the folder or in its images/ subfolder, as in the 300-W set), decoding
  /// each image; `progress` is called after each.
  public static func load(folder: String, limit: Int = .max, only: Set<String>? = nil,
                          progress: ((Int, Int) -> Void)? = nil) throws -> FaceSet {
    var isDirectory = stat()
    guard stat(folder, &isDirectory) == 0 else { throw FaceSetError("face folder \(folder): \(String(cString: strerror(errno)))") }
    guard (isDirectory.st_mode & S_IFMT) == S_IFDIR else { throw FaceSetError("face folder \(folder) is not a folder") }
    var landmarks: [String: [Point]] = [:]
    if let text = try readTextIfPresent(folder + "/landmarks.csv") {
      for face in try FaceDataset(directory: folder, landmarksCSV: text).faces { landmarks[face.image] = face.points }
    }
    var boxes: [String: FaceBox] = [:]
    if let text = try readTextIfPresent(folder + "/boxes.csv") {
      for (lineNumber, line) in text.split(whereSeparator: \.isNewline).enumerated() {
        let fields = line.split(separator: ",").map { String($0).filter { $0 != " " && $0 != "\r" } }
        if lineNumber == 0 && Float(fields.last ?? "") == nil { continue } // header
        guard fields.count == 5, let x = Float(fields[1]), let y = Float(fields[2]), let w = Float(fields[3]), let h = Float(fields[4]), w > 0, h > 0 else {
          throw FaceSetError("\(folder)/boxes.csv line \(lineNumber + 1): expected image,x,y,width,height")
        }
        boxes[fields[0]] = FaceBox(x: x, y: y, width: w, height: h)
      }
    }
    // The 300-W layout keeps the pictures in images/ beside landmarks.csv.
    var imageFolder = folder
    var names = try listImages(folder)
    if names.isEmpty, let nested = try? listImages(folder + "/images"), !nested.isEmpty {
      imageFolder = folder + "/images"
      names = nested
    }
    if let only { names = names.filter(only.contains) }
    names = Array(names.prefix(limit))
    guard !names.isEmpty else { throw FaceSetError("face folder \(folder) has no .jpg, .jpeg or .png images") }
    var faces: [Face] = []
    for (i, name) in names.enumerated() {
      let path = imageFolder + "/" + name
      let image: RGBImage
      do { image = try RGBImage(contentsOf: path) } catch { throw FaceSetError("image \(error)") }
      let truth = landmarks[name]
      let box = boxes[name] ?? truth.flatMap { FaceBox(bounding: $0) }
        ?? FaceBox(x: 0, y: 0, width: Float(image.width), height: Float(image.height))
      faces.append(Face(path: path, image: image, box: box, landmarks: truth))
      progress?(i + 1, names.count)
    }
    return FaceSet(faces: faces)
  }

  /// The text of a file, or nil when there is no file at `path` (any other failure throws).
  static func readTextIfPresent(_ path: String) throws -> String? {
    guard access(path, F_OK) == 0 else { return nil }
    return try readText(path)
  }

  static func readText(_ path: String) throws -> String {
    do { return String(decoding: try RegularFile.read(path, limit: 1 << 28), as: UTF8.self) } catch { throw FaceSetError("\(error)") }
  }

  /// The image names in a list file (`--list`, `--calibration-list`: one per line, as in
  /// training/splits), blanks and spaces dropped.
  public static func readNameList(_ path: String) throws -> Set<String> {
    let text: String
    do { text = try readText(path) } catch { throw FaceSetError("image list \(error)") }
    return Set(text.split(whereSeparator: \.isNewline).map { String($0).filter { !$0.isWhitespace } }.filter { !$0.isEmpty })
  }

  static func listImages(_ folder: String) throws -> [String] {
    guard let dir = opendir(folder) else { throw FaceSetError("cannot list \(folder): \(String(cString: strerror(errno)))") }
    defer { closedir(dir) }
    var names: [String] = []
    while let entry = readdir(dir) {
      let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
        String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
      }
      let lower = name.lowercased()
      if lower.hasSuffix(".jpg") || lower.hasSuffix(".jpeg") || lower.hasSuffix(".png") { names.append(name) }
    }
    return names.sorted()
  }

  /// The model input (NHWC f32, normalised) for each face by the model's crop rule, and
  /// the crop transforms to map predictions back.
  public func inputs(for metadata: ModelMetadata) -> [(input: [Float], transform: [Float])] {
    let (w, h) = (metadata.input.width, metadata.input.height)
    let mean = metadata.normalization.mean, invStd = metadata.normalization.std.map { 1 / $0 }
    return faces.map { face in
      // A face detector sees the whole frame, letterboxed (its crop rule, scale 1).
      let box = metadata.kind == .faceDetection
        ? FaceBox(x: 0, y: 0, width: Float(face.image.width), height: Float(face.image.height)) : face.box
      let a = CropGeometry.transform(box: box, crop: metadata.crop)
      var input = [Float](repeating: 0, count: w * h * 3)
      PixelImage(face.image).withCImage { lotr_image_warp_normalize_f32(nil, nil, $0, a, &input, UInt32(w), UInt32(h), mean, invStd) }
      return (input, a)
    }
  }
}


/// The faces named in a folder's `landmarks.csv`, in file order, without decoding the
/// images: the one parser of that file. The format is the 300-W training set's,
/// `image,subset,x0,y0,x1,y1,...` with a header line and 0-based pixel-centre coordinates;
/// points come back in continuous frame coordinates (+0.5). Images lie in `images/`.
public struct FaceDataset: Sendable {
  public struct Face: Sendable {
    public var image: String
    public var points: [Point]
  }
  public let directory: String
  public let faces: [Face]

  /// Reads `directory/landmarks.csv`.
  public init(directory: String) throws {
    try self.init(directory: directory, landmarksCSV: try FaceSet.readText(directory + "/landmarks.csv"))
  }

  /// Parses `text` as the `landmarks.csv` of `directory` (which names it in errors).
  public init(directory: String, landmarksCSV text: String) throws {
    self.directory = directory
    var faces: [Face] = []
    for (n, line) in text.split(whereSeparator: \.isNewline).enumerated().dropFirst() {
      let fields = line.split(separator: ",", omittingEmptySubsequences: false)
      guard fields.count >= 4, fields.count % 2 == 0 else {
        throw FaceSetError("\(directory)/landmarks.csv line \(n + 1): expected image,subset,x0,y0,...")
      }
      let values = fields[2...].compactMap { Float($0.filter { !$0.isWhitespace }) }
      guard values.count == fields.count - 2 else {
        throw FaceSetError("\(directory)/landmarks.csv line \(n + 1): a coordinate is not a number")
      }
      let points = stride(from: 0, to: values.count, by: 2).map { Point(x: values[$0] + 0.5, y: values[$0 + 1] + 0.5) }
      faces.append(Face(image: String(fields[0]).filter { !$0.isWhitespace }, points: points))
    }
    self.faces = faces
  }

  public func imagePath(_ face: Face) -> String { directory + "/images/" + face.image }
}
