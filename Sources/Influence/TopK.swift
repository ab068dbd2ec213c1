import HeapModule

/// The k highest-scoring items seen so far, kept in a min-heap: O(log k) per item and O(k)
/// memory however many items stream past.
public struct TopK: Sendable {
    public struct Item: Comparable, Sendable {
        public let score: Double
        public let index: Int
        // Ties keep the earlier item (lower index ranks higher).
        public static func < (a: Item, b: Item) -> Bool { a.score != b.score ? a.score < b.score : a.index > b.index }
    }

    public let k: Int
    private var heap = Heap<Item>()

    public init(k: Int) {
        precondition(k > 0)
        self.k = k
    }

    public mutating func insert(score: Double, index: Int) {
        let item = Item(score: score, index: index)
        if heap.count < k {
            heap.insert(item)
        } else if let smallest = heap.min, smallest < item {
            _ = heap.replaceMin(with: item)
        }
    }

    /// The kept items, best first.
    public var sorted: [Item] { heap.unordered.sorted(by: >) }
}
