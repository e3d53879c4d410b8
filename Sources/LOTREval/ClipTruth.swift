import LOTR

/// A clip's ground-truth landmarks (samples/face-clip.landmarks.csv, written by
/// samples/make_face_clip.py): a header line, then per frame
/// `frame,timestamp_ns,x0,y0,...,x(N-1),y(N-1)` in frame pixels.
public enum ClipTruth {
  /// The points of each frame, indexed by the frame column (0-based, consecutive).
  public static func read(_ path: String) throws -> [[Point]] {
    var frames: [[Point]] = []
    for (n, line) in try FaceSet.readText(path).split(whereSeparator: \.isNewline).dropFirst().enumerated() {
      let v = line.split(separator: ",").map { Float(String($0).filter { !$0.isWhitespace }) }
      guard v.count >= 4, v.count % 2 == 0, v.allSatisfy({ $0 != nil }), Int(v[0]!) == n else {
        throw FaceSetError("\(path): line \(n + 2) is not 'frame,timestamp_ns,x0,y0,...' for frame \(n)")
      }
      frames.append(stride(from: 2, to: v.count, by: 2).map { Point(x: v[$0]!, y: v[$0 + 1]!) })
    }
    guard let count = frames.first?.count, frames.allSatisfy({ $0.count == count }) else {
      throw FaceSetError("\(path): no frames, or frames with different point counts")
    }
    return frames
  }
}
