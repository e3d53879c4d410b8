import Foundation
import LOTR
import LOTREval
import XCTest

final class FaceSetTests: XCTestCase {
  func testLoadsThe300WLayoutWithCRLFAndRejectsBadInput() throws {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("calib-\(UUID().uuidString)")
    let images = dir.appendingPathComponent("images")
    try FileManager.default.createDirectory(at: images, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: dir) }
    XCTAssertThrowsError(try FaceSet.load(folder: dir.path)) { XCTAssertTrue("\($0)".contains("no .jpg"), "\($0)") }
    XCTAssertThrowsError(try FaceSet.load(folder: dir.path + "/missing")) { XCTAssertTrue("\($0)".contains("face folder"), "\($0)") }
    try RGBImage(width: 40, height: 30, fill: (90, 90, 90)).write(to: images.appendingPathComponent("a.png").path)
    try RGBImage(width: 40, height: 30, fill: (20, 20, 20)).write(to: images.appendingPathComponent("b.png").path)
    // 300-W's file: CRLF line ends, 0-based pixel-centre coordinates.
    let csv = "image,subset,x0,y0,x1,y1\r\na.png,test,9.5,4.5,29.5,24.5\r\n"
    try csv.write(to: dir.appendingPathComponent("landmarks.csv"), atomically: true, encoding: .utf8)
    let set = try FaceSet.load(folder: dir.path)
    XCTAssertEqual(set.faces.count, 2)
    XCTAssertEqual(set.faces[0].landmarks, [Point(x: 10, y: 5), Point(x: 30, y: 25)], "shifted by +0.5 to continuous coordinates")
    XCTAssertEqual(set.faces[0].box, FaceBox(x: 10, y: 5, width: 20, height: 20))
    XCTAssertNil(set.faces[1].landmarks)
    XCTAssertEqual(set.faces[1].box, FaceBox(x: 0, y: 0, width: 40, height: 30), "no ground truth: the whole image")
    try "not an image".write(to: images.appendingPathComponent("c.jpg"), atomically: true, encoding: .utf8)
    XCTAssertThrowsError(try FaceSet.load(folder: dir.path)) { XCTAssertTrue("\($0)".contains("c.jpg"), "\($0)") }
    try "image,subset,x0\r\na.png,test,oops\r\n".write(to: dir.appendingPathComponent("landmarks.csv"), atomically: true, encoding: .utf8)
    XCTAssertThrowsError(try FaceSet.load(folder: dir.path)) { XCTAssertTrue("\($0)".contains("landmarks.csv line 2"), "\($0)") }
  }
}

final class FaceDatasetTests: XCTestCase {
  func testReadsTheCommittedFacesInFileOrderAndRejectsBadRows() throws {
    let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
      .appendingPathComponent("Fixtures/vision").path
    let set = try FaceDataset(directory: folder)
    XCTAssertEqual(set.faces.count, 4)
    XCTAssertTrue(set.faces.allSatisfy { $0.points.count == 68 })
    XCTAssertEqual(set.imagePath(set.faces[0]), folder + "/images/" + set.faces[0].image)
    XCTAssertNoThrow(try RGBImage(contentsOf: set.imagePath(set.faces[0])))
    // FaceSet reads the same file through FaceDataset: the same points for the same image.
    let loaded = try FaceSet.load(folder: folder)
    let byPath = Dictionary(uniqueKeysWithValues: loaded.faces.map { ($0.path, $0.landmarks) })
    for face in set.faces { XCTAssertEqual(byPath[set.imagePath(face)] ?? nil, face.points, face.image) }

    let parsed = try FaceDataset(directory: "d", landmarksCSV: "image,subset,x0,y0\nb.jpg,test,1,2\na.jpg,test,3, 4\r\n")
    XCTAssertEqual(parsed.faces.map(\.image), ["b.jpg", "a.jpg"], "file order, not sorted")
    XCTAssertEqual(parsed.faces[1].points, [Point(x: 3.5, y: 4.5)])
    XCTAssertThrowsError(try FaceDataset(directory: "d", landmarksCSV: "h\na.jpg,test,1\n")) {
      XCTAssertEqual("\($0)", "d/landmarks.csv line 2: expected image,subset,x0,y0,...")
    }
    XCTAssertThrowsError(try FaceDataset(directory: "d", landmarksCSV: "h\na.jpg,test,1,x\n")) {
      XCTAssertEqual("\($0)", "d/landmarks.csv line 2: a coordinate is not a number")
    }
    XCTAssertThrowsError(try FaceDataset(directory: folder + "/none")) { XCTAssertTrue("\($0)".contains("cannot open"), "\($0)") }
  }

  func testReadsANameList() throws {
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("list-\(UUID().uuidString).txt").path
    defer { try? FileManager.default.removeItem(atPath: path) }
    try "a.jpg\r\n\n b.jpg \n".write(toFile: path, atomically: true, encoding: .utf8)
    XCTAssertEqual(try FaceSet.readNameList(path), ["a.jpg", "b.jpg"])
    XCTAssertThrowsError(try FaceSet.readNameList(path + ".missing")) { XCTAssertTrue("\($0)".hasPrefix("image list "), "\($0)") }
  }
}
