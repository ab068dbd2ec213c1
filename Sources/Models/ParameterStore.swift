import Foundation
import Numerics

/// All of a model's parameters in one contiguous Float32 layout, with named views (llm.c's
/// layout). Gradients, optimizer moments and parameter differences use the same layout, so
/// "every parameter" is one flat loop and "one parameter" is an offset.
///
/// A model loaded for reading (fit, score, trace) may keep some matrices in their stored
/// 16-bit precision (`StoredPrecision`): those live in `halfValues` and are widened to Float32
/// just before each matrix product (`readFloats`), halving their memory. Their ranges of the
/// Float32 layout are never written, and the Float32 storage is mapped lazily by the kernel, so
/// those ranges take no memory; `pointer(_:)` refuses them.
public final class ParameterStore: @unchecked Sendable {
    /// How a parameter is held in memory.
    public enum StoredPrecision: String, Sendable {
        case float32, bfloat16, float16
    }

    public struct Entry: Sendable {
        public let name: String
        public let shape: [Int]
        /// Offset in the Float32 layout (of this store's `values` and of any store `makeZeroedLike` gives).
        public let offset: Int
        public let precision: StoredPrecision
        /// Offset in `halfValues` when 16-bit.
        public let halfOffset: Int
        public var count: Int { shape.reduce(1, *) }
        public var isFloat32: Bool { precision == .float32 }
    }

    public let entries: [Entry]
    private let index: [String: Int]
    /// Total number of scalars of the Float32 layout.
    public let count: Int
    public let values: UnsafeMutablePointer<Float>
    /// The 16-bit parameters' bits (bfloat16 or IEEE half), or nil when every parameter is Float32.
    public let halfValues: UnsafeMutablePointer<UInt16>?
    private let halfCount: Int

    /// Floats a tensor of `count` elements occupies: every tensor is 16-float aligned so that
    /// each view starts on a cache line.
    public static func paddedCount(_ count: Int) -> Int { (count + 15) / 16 * 16 }

    /// Floats a store of this layout holds (what `init(layout:)` allocates).
    public static func count(of layout: [(name: String, shape: [Int])]) -> Int {
        layout.reduce(0) { $0 + paddedCount($1.shape.reduce(1, *)) }
    }

    /// A zero-filled store for parameters with these names and shapes, in this order; the
    /// parameters named in `reducedPrecision` are held in that 16-bit precision.
    public init(layout: [(name: String, shape: [Int])], reducedPrecision: [String: StoredPrecision] = [:]) {
        var offset = 0, halfOffset = 0
        var entries: [Entry] = []
        var index: [String: Int] = [:]
        for (name, shape) in layout {
            precondition(index[name] == nil, "parameter \(name) listed twice")
            index[name] = entries.count
            let precision = reducedPrecision[name] ?? .float32
            let count = shape.reduce(1, *)
            entries.append(Entry(name: name, shape: shape, offset: offset, precision: precision,
                                 halfOffset: precision == .float32 ? -1 : halfOffset))
            offset += Self.paddedCount(count)
            if precision != .float32 { halfOffset += Self.paddedCount(count) }
        }
        self.entries = entries
        self.index = index
        count = offset
        halfCount = halfOffset
        values = Self.mapZeroed(max(1, offset) * 4).bindMemory(to: Float.self, capacity: max(1, offset))
        halfValues = halfOffset == 0 ? nil : Self.mapZeroed(halfOffset * 2).bindMemory(to: UInt16.self, capacity: halfOffset)
    }

    /// Zero-filled memory straight from the kernel: pages take memory only once written, so the
    /// Float32 ranges of 16-bit parameters (and never-touched gradients) cost nothing.
    private static func mapZeroed(_ bytes: Int) -> UnsafeMutableRawPointer {
        guard let p = mmap(nil, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0), p != MAP_FAILED else {
            fatalError("cannot map \(bytes) bytes for parameters: \(String(cString: strerror(errno)))")
        }
        return p
    }

    /// A zero-filled Float32 store with the same layout (for gradients or optimizer state).
    public func makeZeroedLike() -> ParameterStore {
        ParameterStore(layout: entries.map { ($0.name, $0.shape) })
    }

    deinit {
        munmap(UnsafeMutableRawPointer(values), max(1, count) * 4)
        if let halfValues { munmap(UnsafeMutableRawPointer(halfValues), halfCount * 2) }
    }

    public func entry(_ name: String) -> Entry? { index[name].map { entries[$0] } }

    /// Whether every parameter is held as Float32 (as training needs).
    public var isAllFloat32: Bool { halfValues == nil }

    /// Bytes the parameters occupy: 4 per Float32 scalar, 2 per 16-bit one.
    public var residentBytes: Int {
        entries.reduce(0) { $0 + Self.paddedCount($1.count) * ($1.isFloat32 ? 4 : 2) }
    }

    /// The storage of Float32 parameter `name`; the name must be in the layout.
    public func pointer(_ name: String) -> UnsafeMutablePointer<Float> {
        guard let i = index[name] else { preconditionFailure("no parameter named \(name)") }
        precondition(entries[i].isFloat32, "parameter \(name) is held as \(entries[i].precision.rawValue); read it with readFloats")
        return values + entries[i].offset
    }

    /// Writes `values` (Float32, exactly representable in the entry's precision when it is 16-bit)
    /// into the entry.
    public func store(_ source: UnsafePointer<Float>, into entry: Entry) {
        switch entry.precision {
        case .float32: (values + entry.offset).update(from: source, count: entry.count)
        case .bfloat16: HalfPrecision.narrowToBFloat16(source, halfValues! + entry.halfOffset, count: entry.count)
        case .float16: HalfPrecision.narrowToFloat16(source, halfValues! + entry.halfOffset, count: entry.count)
        }
    }

    /// Elements `range` of the entry (row-major) as Float32 into `destination`.
    public func readFloats(_ entry: Entry, range: Range<Int>? = nil, into destination: UnsafeMutablePointer<Float>) {
        let range = range ?? 0..<entry.count
        switch entry.precision {
        case .float32: destination.update(from: values + entry.offset + range.lowerBound, count: range.count)
        case .bfloat16: HalfPrecision.widenBFloat16(halfValues! + entry.halfOffset + range.lowerBound, destination, count: range.count)
        case .float16: HalfPrecision.widenFloat16(halfValues! + entry.halfOffset + range.lowerBound, destination, count: range.count)
        }
    }

    /// Element `i` of the entry as Float32.
    public func value(_ entry: Entry, at i: Int) -> Float {
        var x: Float = 0
        readFloats(entry, range: i..<(i + 1), into: &x)
        return x
    }

    public func zero() { values.update(repeating: 0, count: count) }
}
