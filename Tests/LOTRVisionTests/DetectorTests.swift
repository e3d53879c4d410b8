import CLOTRVision
import LOTR
import LOTREval
@testable import LOTRVision
import XCTest

/// Fixtures under Tests/Fixtures/vision (see its README).
let visionFixtures: String = {
  var parts = #filePath.split(separator: "/", omittingEmptySubsequences: false)
  parts.removeLast(2)
  return parts.joined(separator: "/") + "/Fixtures/vision"
}()

func fixtureCascade(_ name: String) throws -> Cascade { try Cascade(contentsOf: visionFixtures + "/" + name) }

/// A gray image from a function of (x, y).
func grayImage(_ w: Int, _ h: Int, _ f: (Int, Int) -> UInt8) -> GrayImage {
  var px = [UInt8](repeating: 0, count: w * h)
  for y in 0..<h { for x in 0..<w { px[y * w + x] = f(x, y) } }
  return GrayImage(width: w, height: h, pixels: px)
}

final class IntegralImageTests: XCTestCase {
  func testIntegralMatchesNaiveSums() {
    var rng = SplitRNG(seed: 1)
    for (w, h) in [(1, 1), (7, 3), (33, 17), (64, 48)] {
      let img = grayImage(w, h) { _, _ in UInt8(rng.next() & 0xFF) }
      let ii = IntegralImage(img)
      for y in 0...h {
        for x in 0...w {
          var s = 0, q = 0
          for yy in 0..<y { for xx in 0..<x { let v = Int(img.pixels[yy * w + xx]); s += v; q += v * v } }
          XCTAssertEqual(Int(ii.sum[y * (w + 1) + x]), s, "sum at \(x),\(y) of \(w)x\(h)")
          XCTAssertEqual(Int(ii.squares[y * (w + 1) + x]), q, "sqsum at \(x),\(y) of \(w)x\(h)")
        }
      }
      // Rectangle sums.
      for _ in 0..<50 {
        let x = Int(rng.next() % UInt64(w)), y = Int(rng.next() % UInt64(h))
        let rw = 1 + Int(rng.next() % UInt64(w - x)), rh = 1 + Int(rng.next() % UInt64(h - y))
        var s = 0
        for yy in y..<(y + rh) { for xx in x..<(x + rw) { s += Int(img.pixels[yy * w + xx]) } }
        XCTAssertEqual(ii.sum(x: x, y: y, width: rw, height: rh), s)
      }
    }
  }

  func testGrayAndResize() {
    let rgb = RGBImage(width: 2, height: 1, pixels: [255, 0, 0, 10, 200, 30])
    let g = GrayImage(rgb)
    XCTAssertEqual(g.pixels[0], 76) // 0.299 * 255
    let luma: Double = 0.299 * 10 + 0.587 * 200 + 0.114 * 30
    XCTAssertEqual(Int(g.pixels[1]), Int(luma.rounded()))
    // Constant images stay constant; a 2x downscale of a 2x2 checker averages it.
    let c = grayImage(40, 30) { _, _ in 123 }.resized(width: 17, height: 9)
    XCTAssertTrue(c.pixels.allSatisfy { $0 == 123 })
    let checker = grayImage(4, 4) { x, y in (x + y) % 2 == 0 ? 200 : 100 }.resized(width: 2, height: 2)
    XCTAssertEqual(checker.pixels, [150, 150, 150, 150])
  }
}

final class CascadeTests: XCTestCase {
  /// Left 0..<edge bright (200), right dark (50).
  func edgeImage(_ w: Int, _ h: Int, edge: Int) -> GrayImage { grayImage(w, h) { x, _ in x < edge ? 200 : 50 } }

  func testHandMadeHaarCascadeResponse() throws {
    for file in ["haar_edge.xml", "haar_edge_old.xml"] {
      let c = try fixtureCascade(file)
      XCTAssertEqual(c.kind, .haar)
      XCTAssertEqual(c.windowWidth, 24)
      XCTAssertEqual(c.stageCount, 1)
      let ii = IntegralImage(edgeImage(48, 24, edge: 24))
      // Feature value at x = 12: 2 x left half (12x24 of 200) - whole window.
      let expected: Double = 2 * (12 * 24 * 200) - (12 * 24 * 200 + 12 * 24 * 50)
      XCTAssertEqual(c.featureValue(0, on: ii, x: 12, y: 0), expected, file)
      // Passes exactly where the edge lies inside the window (uniform windows score 0 < 0.01).
      for x in 0...24 {
        XCTAssertEqual(c.run(on: ii, x: x, y: 0), (1...23).contains(x) ? 1 : 0, "\(file) window at x = \(x)")
      }
      // A dark-left edge never passes.
      let flipped = IntegralImage(grayImage(48, 24) { x, _ in x < 24 ? 50 : 200 })
      for x in 0...24 { XCTAssertLessThanOrEqual(c.run(on: flipped, x: x, y: 0), 0) }
    }
  }

  func testHandMadeLBPCascadeCodes() throws {
    let c = try fixtureCascade("lbp_center.xml")
    XCTAssertEqual(c.kind, .lbp)
    // Cells are 8x8: (cx, cy) in 0..<3.
    func cells(_ value: (Int, Int) -> UInt8) -> IntegralImage { IntegralImage(grayImage(24, 24) { x, y in value(x / 8, y / 8) }) }
    XCTAssertEqual(c.featureValue(0, on: cells { _, _ in 90 }, x: 0, y: 0), 255)
    XCTAssertEqual(c.featureValue(0, on: cells { cx, cy in cx == 1 && cy == 1 ? 200 : 10 }, x: 0, y: 0), 0)
    // Bit order: clockwise from the top-left cell (128), top (64), top-right (32), right (16),
    // bottom-right (8), bottom (4), bottom-left (2), left (1).
    let order = [(0, 0, 128), (1, 0, 64), (2, 0, 32), (2, 1, 16), (2, 2, 8), (1, 2, 4), (0, 2, 2), (0, 1, 1)]
    for (bx, by, bit) in order {
      let ii = cells { cx, cy in cx == 1 && cy == 1 ? 100 : (cx == bx && cy == by ? 150 : 10) }
      XCTAssertEqual(c.featureValue(0, on: ii, x: 0, y: 0), Double(bit), "cell \(bx),\(by)")
    }
    XCTAssertEqual(c.run(on: cells { _, _ in 90 }, x: 0, y: 0), 1)
    XCTAssertEqual(c.run(on: cells { cx, cy in cx == 1 && cy == 1 ? 200 : 10 }, x: 0, y: 0), 0)
  }

  func testMultiScaleRawWindowsContainTheEdge() throws {
    let detector = FaceDetector(cascade: try fixtureCascade("haar_edge.xml"), options: .init(scaleFactor: 1.2, minNeighbors: 0, minSize: 24))
    let windows = detector.rawWindows(edgeImage(120, 60, edge: 50))
    XCTAssertFalse(windows.isEmpty)
    XCTAssertTrue(windows.contains { $0.width > 24 }, "several scales")
    for r in windows {
      XCTAssertLessThan(r.x, 50 + 2, "\(r)") // rounding of x * factor
      XCTAssertGreaterThan(r.x + r.width, 50 - 2, "\(r)")
    }
  }

  func testMalformedCascadesAreRefused() {
    XCTAssertThrowsError(try Cascade(xml: Array("<opencv_storage><cascade><featureType>HOG</featureType></cascade></opencv_storage>".utf8)))
    XCTAssertThrowsError(try Cascade(xml: Array("<opencv_storage><cascade>".utf8)))
    // A feature index out of range.
    let bad = """
      <opencv_storage><cascade><featureType>HAAR</featureType><height>24</height><width>24</width>
      <stages><_><stageThreshold>0</stageThreshold><weakClassifiers><_><internalNodes>0 -1 5 0.1</internalNodes>
      <leafValues>-1 1</leafValues></_></weakClassifiers></_></stages>
      <features><_><rects><_>0 0 24 24 -1.</_><_>0 0 12 24 2.</_></rects></_></features></cascade></opencv_storage>
      """
    XCTAssertThrowsError(try Cascade(xml: Array(bad.utf8))) { XCTAssertTrue("\($0)".contains("feature 5")) }
    XCTAssertThrowsError(try Cascade(contentsOf: "/nonexistent/cascade.xml"))
  }

  func testXMLReader() throws {
    let root = try XMLReader.parse("<?xml version=\"1.0\"?>\r\n<!-- c --><a k='v'>x &lt; 1<b>2 3\r\n4</b><c/></a>")
    XCTAssertEqual(root.name, "a")
    XCTAssertEqual(root.attributes["k"], "v")
    XCTAssertEqual(root.text, "x < 1")
    XCTAssertEqual(root.child("b")?.numbers(), [2, 3, 4])
    XCTAssertNotNil(root.child("c"))
    XCTAssertThrowsError(try XMLReader.parse("<a><b></a>"))
  }
}

final class GroupingTests: XCTestCase {
  func testGroupRectanglesAveragesClustersAndDropsWeakOnes() {
    var rects: [PixelRect] = []
    for d in 0..<4 { rects.append(PixelRect(x: 100 + d, y: 50 + d, width: 40 + d, height: 40 + d)) } // 4 members
    rects += [PixelRect(x: 300, y: 300, width: 30, height: 30), PixelRect(x: 301, y: 300, width: 30, height: 30)] // 2 members
    rects.append(PixelRect(x: 10, y: 10, width: 20, height: 20)) // alone
    let g = groupRectangles(rects, minNeighbors: 2)
    XCTAssertEqual(g.count, 1)
    XCTAssertEqual(g[0].neighbors, 4)
    XCTAssertEqual(g[0].rect, PixelRect(x: 102, y: 52, width: 42, height: 42)) // 101.5 -> 102 (ties to even)
    XCTAssertEqual(groupRectangles(rects, minNeighbors: 1).count, 2)
    XCTAssertEqual(groupRectangles(rects, minNeighbors: 0).count, rects.count)
  }

  func testSmallClusterInsideAStrongerOneIsDropped() {
    var rects: [PixelRect] = []
    for _ in 0..<6 { rects.append(PixelRect(x: 100, y: 100, width: 100, height: 100)) }
    for _ in 0..<2 { rects.append(PixelRect(x: 130, y: 130, width: 30, height: 30)) }
    let g = groupRectangles(rects, minNeighbors: 1)
    XCTAssertEqual(g.map(\.rect), [PixelRect(x: 100, y: 100, width: 100, height: 100)])
  }
}

final class BoxMappingTests: XCTestCase {
  func testFitRecoversAKnownMapping() {
    let truth = DetectorBoxMapping(widthScale: 0.8, heightScale: 0.85, centerX: 0.02, centerY: 0.12)
    var rng = SplitRNG(seed: 3)
    let pairs = (0..<200).map { _ -> (PixelRect, FaceBox) in
      let r = PixelRect(x: Int(rng.next() % 200), y: Int(rng.next() % 200), width: 0, height: 0)
      let s = 40 + Int(rng.next() % 200)
      let rect = PixelRect(x: r.x, y: r.y, width: s, height: s)
      return (rect, truth.landmarkBox(for: rect))
    }
    let fit = DetectorBoxMapping.fit(pairs)
    XCTAssertEqual(fit.widthScale, 0.8, accuracy: 1e-4)
    XCTAssertEqual(fit.heightScale, 0.85, accuracy: 1e-4)
    XCTAssertEqual(fit.centerX, 0.02, accuracy: 1e-4)
    XCTAssertEqual(fit.centerY, 0.12, accuracy: 1e-4)
    let box = truth.landmarkBox(for: PixelRect(x: 10, y: 20, width: 100, height: 100))
    XCTAssertEqual(box.width, 80, accuracy: 1e-4)
    XCTAssertEqual(box.y + box.height / 2, 20 + 50 + 12, accuracy: 1e-4)
  }

  func testDetectsTheCommittedFacesWithTheFittedMapping() throws {
    guard access(Cascade.defaultHaarPath, R_OK) == 0 else {
      throw XCTSkip("\(Cascade.defaultHaarPath) is missing: install Debian's opencv-data (scripts/setup.sh system)")
    }
    let set = try FaceDataset(directory: visionFixtures)
    XCTAssertEqual(set.faces.count, 4)
    for path in [Cascade.defaultHaarPath, Cascade.defaultLBPPath] {
      let detector = try FaceDetector(cascadePath: path)
      for f in set.faces {
        let dets = detector.detect(in: try RGBImage(contentsOf: set.imagePath(f)))
        let truth = FaceBox(bounding: f.points)!
        let best = dets.map { iou($0.box, truth) }.max() ?? 0
        XCTAssertGreaterThan(best, 0.6, "\(path): \(f.image): best IoU \(best) of \(dets.map(\.rect))")
      }
    }
  }
}

#if canImport(Glibc)
import Glibc
#endif
