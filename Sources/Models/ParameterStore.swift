import Numerics

/// All of a model's parameters in one contiguous Float32 allocation, with named views
/// (llm.c's layout). Gradients, optimizer moments and parameter differences use the same
/// layout, so "every parameter" is one flat loop and "one parameter" is an offset.
public final class ParameterStore: @unchecked Sendable {
    public struct Entry: Sendable {
        public let name: String
        public let shape: [Int]
        public let offset: Int
        public var count: Int { shape.reduce(1, *) }
    }

    public let entries: [Entry]
    private let index: [String: Int]
    /// Total number of scalars.
    public let count: Int
    public let values: UnsafeMutablePointer<Float>

    /// Floats a tensor of `count` elements occupies: every tensor is 16-float aligned so that
    /// each view starts on a cache line.
    public static func paddedCount(_ count: Int) -> Int { (count + 15) / 16 * 16 }

    /// Floats a store of this layout holds (what `init(layout:)` allocates).
    public static func count(of layout: [(name: String, shape: [Int])]) -> Int {
        layout.reduce(0) { $0 + paddedCount($1.shape.reduce(1, *)) }
    }

    /// A zero-filled store for parameters with these names and shapes, in this order.
    public init(layout: [(name: String, shape: [Int])]) {
        var offset = 0
        var entries: [Entry] = []
        var index: [String: Int] = [:]
        for (name, shape) in layout {
            precondition(index[name] == nil, "parameter \(name) listed twice")
            index[name] = entries.count
            entries.append(Entry(name: name, shape: shape, offset: offset))
            offset += Self.paddedCount(shape.reduce(1, *))
        }
        self.entries = entries
        self.index = index
        count = offset
        let raw = UnsafeMutableRawPointer.allocate(byteCount: max(1, offset) * 4, alignment: 64)
        values = raw.bindMemory(to: Float.self, capacity: max(1, offset))
        values.initialize(repeating: 0, count: max(1, offset))
    }

    /// A zero-filled store with the same layout (for gradients or optimizer state).
    public func makeZeroedLike() -> ParameterStore {
        ParameterStore(layout: entries.map { ($0.name, $0.shape) })
    }

    deinit { UnsafeMutableRawPointer(values).deallocate() }

    public func entry(_ name: String) -> Entry? { index[name].map { entries[$0] } }

    /// The storage of parameter `name`; the name must be in the layout.
    public func pointer(_ name: String) -> UnsafeMutablePointer<Float> {
        guard let i = index[name] else { preconditionFailure("no parameter named \(name)") }
        return values + entries[i].offset
    }

    public func zero() { values.update(repeating: 0, count: count) }
}
