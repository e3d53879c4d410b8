/// Places every activation of a graph in one buffer, sized at load from tensor lifetimes
/// (greedy by size, first fit among the slots whose lifetimes overlap), so inference
/// allocates nothing. A tensor lives from the step that writes it to the last step that
/// reads it, both inclusive: an op's inputs and outputs never share bytes.
struct ArenaPlan {
  struct Slot {
    var size: Int
    var first: Int  // step that writes it (-1: before the first step, e.g. the graph input)
    var last: Int   // last step that reads it
  }

  private(set) var offsets: [Int] = []
  private(set) var size = 0

  static let alignment = 64

  init(_ slots: [Slot]) {
    offsets = [Int](repeating: 0, count: slots.count)
    var placed: [(offset: Int, end: Int, slot: Int)] = []
    let order = slots.indices.sorted { (slots[$0].size, $1) > (slots[$1].size, $0) }
    for i in order {
      let s = slots[i]
      let bytes = max(Self.alignment, (s.size + Self.alignment - 1) / Self.alignment * Self.alignment)
      let live = placed
        .filter { p in slots[p.slot].first <= s.last && s.first <= slots[p.slot].last }
        .sorted { $0.offset < $1.offset }
      var offset = 0
      for p in live {
        if offset + bytes <= p.offset { break }
        offset = max(offset, p.end)
      }
      offsets[i] = offset
      placed.append((offset, offset + bytes, i))
      size = max(size, offset + bytes)
    }
  }
}
