/// An integer rectangle in frame pixels (a detector window).
public struct PixelRect: Sendable, Equatable, Hashable, CustomStringConvertible {
  public var x: Int, y: Int, width: Int, height: Int
  public init(x: Int, y: Int, width: Int, height: Int) { self.x = x; self.y = y; self.width = width; self.height = height }
  public var description: String { "\(x),\(y),\(width),\(height)" }
}

/// OpenCV's groupRectangles: windows are clustered (union-find over the "similar"
/// relation: every edge within eps x the mean of the smaller width and height), each
/// cluster averaged; clusters with `minNeighbors` or fewer members are dropped, as are
/// clusters inside a stronger one. Returns the rectangles with their member counts.
public func groupRectangles(_ rects: [PixelRect], minNeighbors: Int, eps: Double = 0.2) -> [(rect: PixelRect, neighbors: Int)] {
  if minNeighbors <= 0 { return rects.map { ($0, 1) } }
  let n = rects.count
  var parent = Array(0..<n)
  func find(_ i: Int) -> Int {
    var i = i
    while parent[i] != i { parent[i] = parent[parent[i]]; i = parent[i] }
    return i
  }
  func similar(_ a: PixelRect, _ b: PixelRect) -> Bool {
    let delta = eps * Double(min(a.width, b.width) + min(a.height, b.height)) * 0.5
    return Double(abs(a.x - b.x)) <= delta && Double(abs(a.y - b.y)) <= delta &&
      Double(abs(a.x + a.width - b.x - b.width)) <= delta && Double(abs(a.y + a.height - b.y - b.height)) <= delta
  }
  for i in 0..<n {
    for j in (i + 1)..<max(n, i + 1) where similar(rects[i], rects[j]) {
      let (a, b) = (find(i), find(j))
      if a != b { parent[a] = b }
    }
  }
  // Label clusters in order of first appearance (deterministic output order).
  var label = [Int: Int]()
  var sums: [(x: Int, y: Int, w: Int, h: Int, n: Int)] = []
  for i in 0..<n {
    let root = find(i)
    let k = label[root] ?? { label[root] = sums.count; sums.append((0, 0, 0, 0, 0)); return sums.count - 1 }()
    sums[k].x += rects[i].x; sums[k].y += rects[i].y; sums[k].w += rects[i].width; sums[k].h += rects[i].height; sums[k].n += 1
  }
  // OpenCV's saturate_cast<int>(float) rounds to nearest, ties to even.
  func avg(_ v: Int, _ n: Int) -> Int { Int((Float(v) * (1 / Float(n))).rounded(.toNearestOrEven)) }
  let clusters = sums.map { (rect: PixelRect(x: avg($0.x, $0.n), y: avg($0.y, $0.n), width: avg($0.w, $0.n), height: avg($0.h, $0.n)), n: $0.n) }
  var out: [(rect: PixelRect, neighbors: Int)] = []
  for (i, c) in clusters.enumerated() where c.n > minNeighbors {
    let r1 = c.rect
    let inside = clusters.enumerated().contains { j, d in
      guard j != i, d.n > minNeighbors else { return false }
      let r2 = d.rect
      let dx = Int((Double(r2.width) * eps).rounded(.toNearestOrEven)), dy = Int((Double(r2.height) * eps).rounded(.toNearestOrEven))
      return r1.x >= r2.x - dx && r1.y >= r2.y - dy && r1.x + r1.width <= r2.x + r2.width + dx &&
        r1.y + r1.height <= r2.y + r2.height + dy && (d.n > max(3, c.n) || c.n < 3)
    }
    if !inside { out.append((r1, c.n)) }
  }
  return out
}
