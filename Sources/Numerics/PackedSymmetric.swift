import CBLAS

/// The upper triangle of a symmetric n×n matrix stored row by row without the zeros below the
/// diagonal: row i holds columns i..<n, starting at `offset(row: i, size: n)`. Half the memory
/// of the full square, which matters for the Float64 covariance sums of large modules.
public enum PackedUpperTriangle {
    /// Entries of an n×n upper triangle: n(n+1)/2.
    public static func count(_ n: Int) -> Int { n * (n + 1) / 2 }

    /// Where row `i` (its diagonal entry) begins.
    @inline(__always)
    public static func offset(row i: Int, size n: Int) -> Int { i * n - i * (i - 1) / 2 }

    /// Adds the upper triangle of a row-major n×n Float32 matrix (e.g. an `syrk` result) into
    /// packed Float64 sums.
    public static func accumulate(_ square: UnsafePointer<Float>, into packed: UnsafeMutablePointer<Double>, size n: Int) {
        for i in 0..<n {
            let row = square + i * n + i, out = packed + offset(row: i, size: n)
            for j in 0..<(n - i) { out[j] += Double(row[j]) }
        }
    }

    /// Entry (i, j) of the symmetric matrix.
    public static func element(_ packed: UnsafePointer<Double>, _ i: Int, _ j: Int, size n: Int) -> Double {
        i <= j ? packed[offset(row: i, size: n) + j - i] : packed[offset(row: j, size: n) + i - j]
    }
}

extension SymmetricEigendecomposition where Element == Double {
    /// Eigendecomposes `scale` × the symmetric matrix whose upper triangle is `packed` with
    /// LAPACK's `dsyevd` in Float64, returning the eigenvalues (ascending) and the eigenvectors
    /// as the columns of a Float32 matrix. Memory: one n×n Float64 work matrix, dsyevd's
    /// 2n² workspace and the Float32 result (no further copies, for n up to ~10⁴).
    public static func decompose(packedUpper packed: UnsafePointer<Double>, size n: Int, scale: Double)
        throws -> (eigenvalues: [Double], eigenvectors: Matrix<Float>)
    {
        try BLAS.singleThreaded { try decomposeOnOneThread(packedUpper: packed, size: n, scale: scale) }
    }

    private static func decomposeOnOneThread(packedUpper packed: UnsafePointer<Double>, size n: Int, scale: Double)
        throws -> (eigenvalues: [Double], eigenvectors: Matrix<Float>)
    {
        for i in 0..<PackedUpperTriangle.count(n) where !packed[i].isFinite {
            throw LinearAlgebraError(description: "eigendecomposition input has a non-finite value (packed entry \(i))")
        }
        // Row-major upper triangle = column-major lower triangle ("L").
        let work = UnsafeMutablePointer<Double>.allocate(capacity: max(1, n * n))
        defer { work.deallocate() }
        for i in 0..<n {
            let row = packed + PackedUpperTriangle.offset(row: i, size: n)
            for j in i..<n { work[i * n + j] = row[j - i] * scale }
        }
        var values = [Double](repeating: 0, count: n)
        let lwork = 1 + 6 * n + 2 * n * n, liwork = 3 + 5 * n
        var info: Int32 = 0
        do {
            let workspace = UnsafeMutablePointer<Double>.allocate(capacity: lwork)
            defer { workspace.deallocate() }
            var iworkspace = [Int32](repeating: 0, count: liwork)
            info = LAPACKE_dsyevd_work(
                LAPACK_COL_MAJOR, CChar(UInt8(ascii: "V")), CChar(UInt8(ascii: "L")), Int32(n), work, Int32(max(1, n)),
                &values, workspace, Int32(lwork), &iworkspace, Int32(liwork))
        }
        guard info == 0 else {
            throw LinearAlgebraError(
                description: info < 0 ? "dsyevd: argument \(-info) is invalid" : "dsyevd failed to converge (info \(info)) on a \(n)×\(n) matrix")
        }
        // Eigenvector k is row k of `work` (column-major output); store it as column k, in
        // tiles so that both sides stay in cache.
        let vectors = Matrix<Float>(rows: n, cols: n)
        let tile = 64
        for k0 in stride(from: 0, to: n, by: tile) {
            for i0 in stride(from: 0, to: n, by: tile) {
                for k in k0..<min(k0 + tile, n) {
                    for i in i0..<min(i0 + tile, n) { vectors.storage[i * n + k] = Float(work[k * n + i]) }
                }
            }
        }
        return (values, vectors)
    }
}
