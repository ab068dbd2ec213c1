import CBLAS

/// Thin, typed wrappers over OpenBLAS for row-major data.
///
/// Every matrix product in the project goes through here. The raw-pointer forms exist for hot
/// loops that work on views into larger buffers (a layer's slice of a parameter block, one
/// head of an attention tensor); the `Matrix` forms check shapes and are for everything else.
public enum BLAS {
    /// Use one BLAS thread. On this machine two vCPUs behave like one core, and a second
    /// OpenBLAS thread only adds contention (../shared/NOTES-numerics.md).
    public static func useSingleThread() { openblas_set_num_threads(1) }

    /// Every process that uses these wrappers starts on one BLAS thread (the library's default,
    /// not only the tools'): threaded OpenBLAS rounds by thread count, and concurrent callers
    /// (tests running in parallel, parallel eigendecompositions) must not share its thread pool.
    /// Touched by each wrapper; a later `setThreadCount` still wins.
    @usableFromInline static let oneThreadByDefault: Void = openblas_set_num_threads(1)

    /// Use `count` BLAS threads for the products that follow. Results then depend on the count:
    /// OpenBLAS splits a product's output among threads, but its edge kernels sum in another
    /// order than its full tiles, so which elements fall on a tile edge (and their last bits)
    /// changes with the split (measured: sgemm 40×320×32 and 300×411×257 differ between 1 and 2
    /// threads). The tools therefore keep one BLAS thread (`--threads` is coarse-grained work).
    public static func setThreadCount(_ count: Int) { openblas_set_num_threads(Int32(max(1, count))) }

    /// The BLAS threads in use.
    public static var threadCount: Int { Int(openblas_get_num_threads()) }

    /// Runs `body` on one BLAS thread (LAPACK's eigensolvers also split inner sums among
    /// threads), restoring the count after.
    public static func singleThreaded<T>(_ body: () throws -> T) rethrows -> T {
        oneThreadByDefault
        let saved = threadCount
        guard saved > 1 else { return try body() }
        setThreadCount(1)
        defer { setThreadCount(saved) }
        return try body()
    }
}

/// Whether a GEMM operand is used as stored or transposed.
public enum Transpose: Sendable {
    case none, transposed
    var cblas: CBLAS_TRANSPOSE { self == .none ? CblasNoTrans : CblasTrans }
}

/// Scalars with BLAS level-3 routines.
public protocol BLASGEMMScalar: BLASScalar {
    /// C = alpha · op(A) · op(B) + beta · C, all row-major; op(A) is m×k, op(B) is k×n.
    static func gemm(
        _ transA: Transpose, _ transB: Transpose, m: Int, n: Int, k: Int,
        alpha: Self, a: UnsafePointer<Self>, lda: Int, b: UnsafePointer<Self>, ldb: Int,
        beta: Self, c: UnsafeMutablePointer<Self>, ldc: Int)
    /// Upper triangle of C = alpha · op(A)ᵀop(A) + beta · C where op(A) is k×n (`trans` = .transposed
    /// means C = alpha · Aᵀ A with A stored k×n). Half the cost of the equivalent GEMM.
    static func syrk(
        _ trans: Transpose, n: Int, k: Int, alpha: Self, a: UnsafePointer<Self>, lda: Int,
        beta: Self, c: UnsafeMutablePointer<Self>, ldc: Int)
}

extension Float: BLASGEMMScalar {
    public static func gemm(
        _ transA: Transpose, _ transB: Transpose, m: Int, n: Int, k: Int,
        alpha: Float, a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
        beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        guard m > 0, n > 0 else { return }
        BLAS.oneThreadByDefault
        cblas_sgemm(
            CblasRowMajor, transA.cblas, transB.cblas, Int32(m), Int32(n), Int32(k),
            alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
    }

    public static func syrk(
        _ trans: Transpose, n: Int, k: Int, alpha: Float, a: UnsafePointer<Float>, lda: Int,
        beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        guard n > 0 else { return }
        BLAS.oneThreadByDefault
        cblas_ssyrk(
            CblasRowMajor, CblasUpper, trans.cblas, Int32(n), Int32(k), alpha, a, Int32(lda),
            beta, c, Int32(ldc))
    }
}

extension Double: BLASGEMMScalar {
    public static func gemm(
        _ transA: Transpose, _ transB: Transpose, m: Int, n: Int, k: Int,
        alpha: Double, a: UnsafePointer<Double>, lda: Int, b: UnsafePointer<Double>, ldb: Int,
        beta: Double, c: UnsafeMutablePointer<Double>, ldc: Int
    ) {
        guard m > 0, n > 0 else { return }
        BLAS.oneThreadByDefault
        cblas_dgemm(
            CblasRowMajor, transA.cblas, transB.cblas, Int32(m), Int32(n), Int32(k),
            alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
    }

    public static func syrk(
        _ trans: Transpose, n: Int, k: Int, alpha: Double, a: UnsafePointer<Double>, lda: Int,
        beta: Double, c: UnsafeMutablePointer<Double>, ldc: Int
    ) {
        guard n > 0 else { return }
        BLAS.oneThreadByDefault
        cblas_dsyrk(
            CblasRowMajor, CblasUpper, trans.cblas, Int32(n), Int32(k), alpha, a, Int32(lda),
            beta, c, Int32(ldc))
    }
}

extension Matrix where Element: BLASGEMMScalar {
    /// `self = alpha · op(a) · op(b) + beta · self`.
    public func multiply(
        _ a: Matrix, _ b: Matrix, transposeA transA: Transpose = .none,
        transposeB transB: Transpose = .none, alpha: Element = 1, beta: Element = 0
    ) {
        let (m, k) = transA == .none ? (a.rows, a.cols) : (a.cols, a.rows)
        let (kb, n) = transB == .none ? (b.rows, b.cols) : (b.cols, b.rows)
        precondition(k == kb, "inner dimensions differ: \(k) vs \(kb)")
        precondition(rows == m && cols == n, "output is \(rows)×\(cols), product is \(m)×\(n)")
        Element.gemm(
            transA, transB, m: m, n: n, k: k, alpha: alpha, a: a.storage, lda: a.cols,
            b: b.storage, ldb: b.cols, beta: beta, c: storage, ldc: cols)
    }

    /// A new matrix `op(a) · op(b)`.
    public static func product(
        _ a: Matrix, _ b: Matrix, transposeA transA: Transpose = .none,
        transposeB transB: Transpose = .none
    ) -> Matrix {
        let m = transA == .none ? a.rows : a.cols
        let n = transB == .none ? b.cols : b.rows
        let c = Matrix(rows: m, cols: n)
        c.multiply(a, b, transposeA: transA, transposeB: transB)
        return c
    }

    /// Copies the upper triangle into the lower one (after `syrk`, which writes only one).
    public func symmetrizeFromUpper() {
        precondition(rows == cols, "not square")
        for r in 0..<rows {
            for c in 0..<r { storage[r * cols + c] = storage[c * cols + r] }
        }
    }
}
