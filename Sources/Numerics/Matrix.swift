/// The scalar types the BLAS and LAPACK wrappers accept.
public protocol BLASScalar: BinaryFloatingPoint, Sendable {}
extension Float: BLASScalar {}
extension Double: BLASScalar {}

/// A dense, row-major matrix that owns its storage.
///
/// A class rather than a copy-on-write struct: numerical code writes into matrices in place
/// (BLAS outputs, gradient buffers), and a reference type makes that explicit and free of
/// hidden copies. Storage is 64-byte aligned and zero-initialised.
public final class Matrix<Element: BLASScalar>: @unchecked Sendable {
    public let rows: Int
    public let cols: Int
    /// Row-major storage: element (r, c) is at `storage[r * cols + c]`.
    public let storage: UnsafeMutablePointer<Element>

    public var count: Int { rows * cols }
    public var shape: (rows: Int, cols: Int) { (rows, cols) }
    /// Keeps borrowed storage alive (a memory-mapped file); nil when the matrix owns it.
    private let owner: AnyObject?

    /// A zero matrix.
    public init(rows: Int, cols: Int) {
        precondition(rows >= 0 && cols >= 0, "matrix dimensions must be non-negative")
        self.rows = rows
        self.cols = cols
        let raw = UnsafeMutableRawPointer.allocate(
            byteCount: max(1, rows * cols) * MemoryLayout<Element>.stride, alignment: 64)
        storage = raw.bindMemory(to: Element.self, capacity: max(1, rows * cols))
        storage.initialize(repeating: 0, count: max(1, rows * cols))
        owner = nil
    }

    /// A read-only view of storage that `owner` keeps alive (a tensor in a memory-mapped file):
    /// no copy, and no page is read until used. Writing through it is not allowed.
    public init(rows: Int, cols: Int, borrowing values: UnsafePointer<Element>, owner: AnyObject) {
        precondition(rows >= 0 && cols >= 0, "matrix dimensions must be non-negative")
        self.rows = rows
        self.cols = cols
        storage = UnsafeMutablePointer(mutating: values)
        self.owner = owner
    }

    /// A matrix filled from row-major `values`.
    public convenience init(rows: Int, cols: Int, values: [Element]) {
        precondition(values.count == rows * cols, "expected \(rows * cols) values, got \(values.count)")
        self.init(rows: rows, cols: cols)
        values.withUnsafeBufferPointer { storage.update(from: $0.baseAddress!, count: values.count) }
    }

    /// A matrix whose element (r, c) is `element(r, c)`.
    public convenience init(rows: Int, cols: Int, _ element: (Int, Int) -> Element) {
        self.init(rows: rows, cols: cols)
        for r in 0..<rows {
            for c in 0..<cols { storage[r * cols + c] = element(r, c) }
        }
    }

    deinit { if owner == nil { UnsafeMutableRawPointer(storage).deallocate() } }

    @inlinable
    public subscript(row: Int, col: Int) -> Element {
        get { storage[row * cols + col] }
        set { storage[row * cols + col] = newValue }
    }

    /// The elements as a row-major array (a copy).
    public var values: [Element] { Array(UnsafeBufferPointer(start: storage, count: count)) }

    public var buffer: UnsafeMutableBufferPointer<Element> {
        UnsafeMutableBufferPointer(start: storage, count: count)
    }

    /// A deep copy.
    public func copy() -> Matrix {
        let m = Matrix(rows: rows, cols: cols)
        m.storage.update(from: storage, count: count)
        return m
    }

    /// The transpose, as a new matrix.
    public func transposed() -> Matrix {
        Matrix(rows: cols, cols: rows) { r, c in self.storage[c * self.cols + r] }
    }

    public func fill(_ value: Element) { storage.update(repeating: value, count: count) }
}

extension Matrix where Element == Float {
    /// A Float64 copy.
    public func toDouble() -> Matrix<Double> {
        let m = Matrix<Double>(rows: rows, cols: cols)
        for i in 0..<count { m.storage[i] = Double(storage[i]) }
        return m
    }
}

extension Matrix where Element == Double {
    /// A Float32 copy (rounded to nearest).
    public func toFloat() -> Matrix<Float> {
        let m = Matrix<Float>(rows: rows, cols: cols)
        for i in 0..<count { m.storage[i] = Float(storage[i]) }
        return m
    }
}
