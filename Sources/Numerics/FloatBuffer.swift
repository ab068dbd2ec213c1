/// A growable, 64-byte-aligned Float32 scratch buffer. Activations live in these so that a
/// model reuses its memory from batch to batch and hot loops never allocate.
public final class FloatBuffer {
    public private(set) var capacity = 0
    public private(set) var pointer: UnsafeMutablePointer<Float>

    public init(capacity: Int = 0) {
        pointer = FloatBuffer.allocate(max(1, capacity))
        self.capacity = max(1, capacity)
    }

    deinit { UnsafeMutableRawPointer(pointer).deallocate() }

    /// Makes room for `count` floats; the contents are not kept when it grows.
    public func reserve(_ count: Int) {
        guard count > capacity else { return }
        UnsafeMutableRawPointer(pointer).deallocate()
        // Grow by at least half again so that slowly growing batches reallocate rarely.
        capacity = max(count, capacity + capacity / 2)
        pointer = FloatBuffer.allocate(capacity)
    }

    private static func allocate(_ count: Int) -> UnsafeMutablePointer<Float> {
        let p = UnsafeMutableRawPointer.allocate(byteCount: count * 4, alignment: 64).bindMemory(to: Float.self, capacity: count)
        p.initialize(repeating: 0, count: count)
        return p
    }
}
