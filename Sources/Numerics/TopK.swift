import HeapModule

/// The k highest-scoring items seen so far, kept in a min-heap: O(log k) per item and O(k)
/// memory however many items stream past.
public struct TopK: Sendable {
    public struct Item: Comparable, Sendable {
        public let score: Double
        public let index: Int
        /// Whatever the caller keeps with an item (per-module contributions); not compared.
        public let details: [Double]?
        // Ties keep the earlier item (lower index ranks higher).
        public static func < (a: Item, b: Item) -> Bool { a.score != b.score ? a.score < b.score : a.index > b.index }
    }

    public let k: Int
    private var heap = Heap<Item>()

    public init(k: Int) {
        precondition(k > 0)
        self.k = k
    }

    /// Offers an item; `details` is evaluated only if the item is kept, so a caller pays for
    /// its payload k times per eviction, not once per item.
    public mutating func insert(score: Double, index: Int, details: @autoclosure () -> [Double]? = nil) {
        let probe = Item(score: score, index: index, details: nil)
        if heap.count < k {
            heap.insert(Item(score: score, index: index, details: details()))
        } else if let smallest = heap.min, smallest < probe {
            _ = heap.replaceMin(with: Item(score: score, index: index, details: details()))
        }
    }

    /// Items currently kept.
    public var count: Int { heap.count }

    /// The kept items, best first.
    public var sorted: [Item] { heap.unordered.sorted(by: >) }
}
