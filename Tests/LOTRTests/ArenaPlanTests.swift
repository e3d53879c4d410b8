@testable import LOTR
import XCTest

final class ArenaPlanTests: XCTestCase {
  func testLiveSlotsNeverOverlapAndDeadOnesShare() {
    var r = TestRandom(state: 5)
    for _ in 0..<200 {
      let slots = (0..<Int(2 + r.next() % 30)).map { _ -> ArenaPlan.Slot in
        let first = Int(r.next() % 20) - 1
        return ArenaPlan.Slot(size: Int(1 + r.next() % 5000), first: first, last: first + Int(r.next() % 6))
      }
      let plan = ArenaPlan(slots)
      for i in slots.indices {
        XCTAssertEqual(plan.offsets[i] % 64, 0)
        XCTAssertLessThanOrEqual(plan.offsets[i] + slots[i].size, plan.size)
        for j in slots.indices where j > i {
          let live = slots[i].first <= slots[j].last && slots[j].first <= slots[i].last
          let disjoint = plan.offsets[i] + slots[i].size <= plan.offsets[j] || plan.offsets[j] + slots[j].size <= plan.offsets[i]
          if live { XCTAssertTrue(disjoint, "slots \(i) and \(j) are live together but overlap") }
        }
      }
    }
    // A chain a -> b -> c: a and c never live together, so they share.
    let chain = ArenaPlan([.init(size: 1000, first: 0, last: 1), .init(size: 1000, first: 1, last: 2), .init(size: 1000, first: 2, last: 3)])
    XCTAssertEqual(chain.size, 2 * 1024)
  }
}
