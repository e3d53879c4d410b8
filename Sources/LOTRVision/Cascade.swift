import CLOTRVision
import LOTR

/// A boosted Haar or LBP cascade from OpenCV's XML, evaluated in C (CLOTRVision).
///
/// Reads both formats in Debian's opencv-data: the current one (`<cascade
/// type_id="opencv-cascade-classifier">`, written by opencv_traincascade; every face
/// cascade there) and the old Haar one (`type_id="opencv-haar-classifier"`, `<size>`,
/// `<trees>`). Tilted Haar features and tree-structured stage graphs are not supported
/// (no face cascade uses them) and are refused with a clear error.
public final class Cascade: @unchecked Sendable {
  public enum Kind: String, Sendable { case haar = "HAAR", lbp = "LBP" }

  public let kind: Kind
  public let windowWidth: Int
  public let windowHeight: Int
  public let stageCount: Int
  public let featureCount: Int
  /// Where it was loaded from (for messages and the box mapping's lookup).
  public let source: String
  let handle: OpaquePointer

  /// Debian's opencv-data cascades (`apt install opencv-data`).
  public static let systemDirectory = "/usr/share/opencv4"
  public static let defaultHaarPath = systemDirectory + "/haarcascades/haarcascade_frontalface_default.xml"
  public static let defaultLBPPath = systemDirectory + "/lbpcascades/lbpcascade_frontalface_improved.xml"

  /// OpenCV subtracts this from every stage threshold when reading a cascade.
  static let thresholdEpsilon: Float = 1e-5

  public convenience init(contentsOf path: String) throws {
    let bytes: [UInt8]
    do { bytes = try RegularFile.read(path, limit: 1 << 26) } catch {
      let why = (error as? FileReadError)?.message ?? "\(error)"
      throw CascadeError(path: path, message: "\(why)\(path.hasPrefix(Cascade.systemDirectory) ? " (install Debian's opencv-data: scripts/setup.sh system)" : "")")
    }
    try self.init(xml: bytes, source: path)
  }

  public init(xml: [UInt8], source: String = "<memory>") throws {
    let root: XMLElement
    do { root = try XMLReader.parse(xml) } catch { throw CascadeError(path: source, message: "\(error)") }
    guard let top = root.name == "opencv_storage" ? root.children.first : root else {
      throw CascadeError(path: source, message: "empty opencv_storage")
    }
    var flat: Flat
    do {
      if top.attributes["type_id"] == "opencv-haar-classifier" || top.child("size") != nil {
        flat = try Flat(oldFormat: top)
      } else {
        flat = try Flat(newFormat: top)
      }
    } catch let e as CascadeError {
      throw CascadeError(path: source, message: e.message)
    }
    for s in flat.stages.indices { flat.stages[s].threshold -= Cascade.thresholdEpsilon }
    var message = [CChar](repeating: 0, count: 256)
    let created: OpaquePointer? = flat.stages.withUnsafeBufferPointer { stages in
      flat.weakRoot.withUnsafeBufferPointer { roots in
        flat.weakLeaf.withUnsafeBufferPointer { leafStarts in
          flat.nodes.withUnsafeBufferPointer { nodes in
            flat.leaves.withUnsafeBufferPointer { leaves in
              flat.subsets.withUnsafeBufferPointer { subsets in
                flat.rects.withUnsafeBufferPointer { rects in
                  var desc = lotr_cascade_desc(
                    kind: flat.kind == .haar ? Int32(LOTR_CASCADE_HAAR) : Int32(LOTR_CASCADE_LBP),
                    window_w: Int32(flat.width), window_h: Int32(flat.height),
                    stage_count: Int32(stages.count), stages: stages.baseAddress,
                    weak_count: Int32(roots.count), weak_root: roots.baseAddress, weak_leaf: leafStarts.baseAddress,
                    node_count: Int32(nodes.count), nodes: nodes.baseAddress,
                    leaf_count: Int32(leaves.count), leaves: leaves.baseAddress,
                    subsets: flat.kind == .lbp ? subsets.baseAddress : nil,
                    feature_count: Int32(flat.featureCount), rects: rects.baseAddress)
                  return lotr_cascade_create(&desc, &message, message.count)
                }
              }
            }
          }
        }
      }
    }
    guard let created else {
      throw CascadeError(path: source, message: String(decoding: message.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
    }
    handle = created
    kind = flat.kind
    windowWidth = flat.width
    windowHeight = flat.height
    stageCount = flat.stages.count
    featureCount = flat.featureCount
    self.source = source
  }

  deinit { lotr_cascade_free(handle) }

  /// Runs every stage on one window of an integral image pair (`IntegralImage`); 1 when
  /// all pass, else minus the index of the first stage that rejects.
  public func run(on integral: IntegralImage, x: Int, y: Int) -> Int {
    precondition(x >= 0 && y >= 0 && x + windowWidth <= integral.width && y + windowHeight <= integral.height,
                 "window outside the image")
    return integral.sum.withUnsafeBufferPointer { s in
      integral.squares.withUnsafeBufferPointer { q in
        Int(lotr_cascade_run_window(handle, s.baseAddress, q.baseAddress, integral.width + 1, Int32(x), Int32(y)))
      }
    }
  }

  /// One feature's raw value on a window (Haar: weighted sum before normalisation; LBP: the code).
  public func featureValue(_ feature: Int, on integral: IntegralImage, x: Int, y: Int) -> Double {
    integral.sum.withUnsafeBufferPointer { s in
      lotr_cascade_feature_value(handle, Int32(feature), s.baseAddress, integral.width + 1, Int32(x), Int32(y))
    }
  }
}

public struct CascadeError: Error, CustomStringConvertible {
  public var path: String
  public var message: String
  init(path: String = "", message: String) { self.path = path; self.message = message }
  public var description: String { path.isEmpty ? message : "\(path): \(message)" }
}

/// The cascade as the flat arrays of `lotr_cascade_desc`.
private struct Flat {
  var kind: Cascade.Kind = .haar
  var width = 0, height = 0
  var stages: [lotr_cascade_stage] = []
  var weakRoot: [Int32] = [], weakLeaf: [Int32] = []
  var nodes: [lotr_cascade_node] = []
  var leaves: [Float] = []
  var subsets: [Int32] = []
  var rects: [lotr_cascade_rect] = []
  var featureCount = 0

  static func fail(_ m: String) -> CascadeError { CascadeError(message: m) }

  static func int(_ e: XMLElement?, _ what: String) throws -> Int {
    guard let e, let v = Int(e.trimmedText) else { throw fail("missing or bad <\(what)>") }
    return v
  }

  /// opencv_traincascade's format.
  init(newFormat c: XMLElement) throws {
    guard c.child("stageType").map({ $0.trimmedText }) ?? "BOOST" == "BOOST" else {
      throw Flat.fail("stageType \(c.child("stageType")!.trimmedText) is not supported (BOOST only)")
    }
    let feature = c.child("featureType")?.trimmedText ?? ""
    guard let k = Cascade.Kind(rawValue: feature) else {
      throw Flat.fail("featureType '\(feature)' is not supported (HAAR or LBP)")
    }
    kind = k
    width = try Flat.int(c.child("width"), "width")
    height = try Flat.int(c.child("height"), "height")
    let maxCat = c.path("featureParams", "maxCatCount").flatMap { Int($0.trimmedText) } ?? 0
    let subsetWords = maxCat > 0 ? (maxCat + 31) / 32 : 0
    if kind == .lbp && subsetWords != 8 { throw Flat.fail("LBP cascade with maxCatCount \(maxCat), expected 256") }
    if kind == .haar && subsetWords != 0 { throw Flat.fail("categorical Haar cascade (maxCatCount \(maxCat)) is not supported") }
    let nodeWidth = 3 + (subsetWords > 0 ? subsetWords : 1)
    guard let stageList = c.child("stages")?.children, !stageList.isEmpty else { throw Flat.fail("no <stages>") }
    for (si, stage) in stageList.enumerated() {
      guard let t = Float(stage.child("stageThreshold")?.trimmedText ?? "") else { throw Flat.fail("stage \(si): no stageThreshold") }
      let weak = stage.child("weakClassifiers")?.children ?? []
      guard !weak.isEmpty else { throw Flat.fail("stage \(si): no weak classifiers") }
      stages.append(lotr_cascade_stage(first_weak: Int32(weakRoot.count), weak_count: Int32(weak.count), threshold: t))
      for (wi, w) in weak.enumerated() {
        guard let nodeValues = w.child("internalNodes")?.numbers(), let leafValues = w.child("leafValues")?.numbers(),
              !nodeValues.isEmpty, nodeValues.count % nodeWidth == 0, !leafValues.isEmpty else {
          throw Flat.fail("stage \(si) weak classifier \(wi): malformed internalNodes/leafValues")
        }
        weakRoot.append(Int32(nodes.count))
        weakLeaf.append(Int32(leaves.count))
        for n in stride(from: 0, to: nodeValues.count, by: nodeWidth) {
          let threshold: Float = subsetWords > 0 ? 0 : Float(nodeValues[n + 3])
          nodes.append(lotr_cascade_node(left: Int32(nodeValues[n]), right: Int32(nodeValues[n + 1]),
                                         feature: Int32(nodeValues[n + 2]), threshold: threshold))
          if subsetWords > 0 {
            subsets += (0..<subsetWords).map { Int32(truncatingIfNeeded: Int64(nodeValues[n + 3 + $0])) }
          }
        }
        leaves += leafValues.map { Float($0) }
      }
    }
    guard let features = c.child("features")?.children, !features.isEmpty else { throw Flat.fail("no <features>") }
    featureCount = features.count
    for (fi, f) in features.enumerated() {
      switch kind {
      case .haar:
        if let tilted = f.child("tilted"), tilted.trimmedText != "0" {
          throw Flat.fail("feature \(fi) is a tilted Haar feature: not supported")
        }
        rects += try Flat.haarRects(f.child("rects"), fi)
      case .lbp:
        let v = f.child("rect")?.numbers() ?? []
        guard v.count == 4 else { throw Flat.fail("feature \(fi): malformed LBP <rect>") }
        rects.append(lotr_cascade_rect(x: Int32(v[0]), y: Int32(v[1]), w: Int32(v[2]), h: Int32(v[3]), weight: 0))
      }
    }
  }

  static func haarRects(_ e: XMLElement?, _ fi: Int) throws -> [lotr_cascade_rect] {
    let list = e?.children ?? []
    guard (1...3).contains(list.count) else { throw fail("feature \(fi): \(list.count) rects, expected 1 to 3") }
    var out: [lotr_cascade_rect] = try list.map { r in
      let v = r.numbers()
      guard v.count == 5 else { throw fail("feature \(fi): malformed rect '\(r.trimmedText)'") }
      return lotr_cascade_rect(x: Int32(v[0]), y: Int32(v[1]), w: Int32(v[2]), h: Int32(v[3]), weight: Float(v[4]))
    }
    while out.count < 3 { out.append(lotr_cascade_rect(x: 0, y: 0, w: 0, h: 0, weight: 0)) }
    return out
  }

  /// The old Haar format (haartraining): each tree node carries its feature inline.
  init(oldFormat c: XMLElement) throws {
    kind = .haar
    let size = c.child("size")?.numbers() ?? []
    guard size.count == 2 else { throw Flat.fail("old-format cascade without <size>W H</size>") }
    width = Int(size[0]); height = Int(size[1])
    guard let stageList = c.child("stages")?.children, !stageList.isEmpty else { throw Flat.fail("no <stages>") }
    for (si, stage) in stageList.enumerated() {
      if let parent = stage.child("parent"), let p = Int(parent.trimmedText), p != si - 1,
         !(p == -1 && si == 0) {
        throw Flat.fail("stage \(si): tree-structured stage graphs are not supported")
      }
      guard let t = Float(stage.child("stage_threshold")?.trimmedText ?? "") else { throw Flat.fail("stage \(si): no stage_threshold") }
      let trees = stage.child("trees")?.children ?? []
      guard !trees.isEmpty else { throw Flat.fail("stage \(si): no trees") }
      stages.append(lotr_cascade_stage(first_weak: Int32(weakRoot.count), weak_count: Int32(trees.count), threshold: t))
      for (ti, tree) in trees.enumerated() {
        weakRoot.append(Int32(nodes.count))
        weakLeaf.append(Int32(leaves.count))
        var leafCount: Int32 = 0
        for (ni, node) in tree.children.enumerated() {
          guard let feature = node.child("feature"), let thr = Float(node.child("threshold")?.trimmedText ?? "") else {
            throw Flat.fail("stage \(si) tree \(ti) node \(ni): no feature or threshold")
          }
          if let tilted = feature.child("tilted"), tilted.trimmedText != "0" {
            throw Flat.fail("stage \(si) tree \(ti): tilted Haar features are not supported")
          }
          rects += try Flat.haarRects(feature.child("rects"), featureCount)
          func child(_ side: String) throws -> Int32 {
            if let v = node.child(side + "_val"), let f = Float(v.trimmedText) {
              leaves.append(f); leafCount += 1
              return -(leafCount - 1)
            }
            if let n = node.child(side + "_node"), let k = Int32(n.trimmedText) { return k }
            throw Flat.fail("stage \(si) tree \(ti) node \(ni): no \(side)_val or \(side)_node")
          }
          let left = try child("left"), right = try child("right")
          nodes.append(lotr_cascade_node(left: left, right: right, feature: Int32(featureCount), threshold: thr))
          featureCount += 1
        }
      }
    }
  }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
