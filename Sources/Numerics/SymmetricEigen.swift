import CBLAS

/// Errors from LAPACK routines, with the routine and its `info` code.
public struct LinearAlgebraError: Error, CustomStringConvertible {
    public let description: String
}

/// The eigendecomposition M = Q diag(λ) Qᵀ of a real symmetric matrix.
public struct SymmetricEigendecomposition<Element: BLASScalar>: Sendable {
    /// Eigenvalues in ascending order.
    public let eigenvalues: [Element]
    /// Orthonormal eigenvectors as the **columns** of a row-major n×n matrix, in the order of
    /// `eigenvalues`.
    public let eigenvectors: Matrix<Element>
}

extension SymmetricEigendecomposition where Element == Double {
    /// Decomposes a symmetric matrix in Float64 with LAPACK's divide-and-conquer `dsyevd`.
    /// Only the upper triangle of `matrix` is read; `matrix` is not modified.
    public init(_ matrix: Matrix<Double>) throws {
        self = try BLAS.singleThreaded { try Self(decomposing: matrix) }
    }

    private init(decomposing matrix: Matrix<Double>) throws {
        let n = matrix.rows
        precondition(matrix.cols == n, "eigendecomposition needs a square matrix")
        try requireFinite(matrix)
        let work = matrix.copy()
        var values = [Double](repeating: 0, count: n)
        // The query returns the optimal workspace; sizes are ask-then-allocate (NOTES-numerics.md).
        var workSize = 0.0
        var iworkSize: Int32 = 0
        // Column-major on a symmetric matrix needs no transpose; "L" in column-major is the
        // row-major upper triangle.
        var info = LAPACKE_dsyevd_work(
            LAPACK_COL_MAJOR, CChar(UInt8(ascii: "V")), CChar(UInt8(ascii: "L")), Int32(n),
            work.storage, Int32(max(1, n)), &values, &workSize, -1, &iworkSize, -1)
        guard info == 0 else {
            throw LinearAlgebraError(description: "dsyevd workspace query failed (info \(info))")
        }
        let lwork = max(Int(workSize), 1 + 6 * n + 2 * n * n)
        let liwork = max(Int(iworkSize), 3 + 5 * n)
        var workspace = [Double](repeating: 0, count: lwork)
        var iworkspace = [Int32](repeating: 0, count: liwork)
        info = LAPACKE_dsyevd_work(
            LAPACK_COL_MAJOR, CChar(UInt8(ascii: "V")), CChar(UInt8(ascii: "L")), Int32(n),
            work.storage, Int32(max(1, n)), &values, &workspace, Int32(lwork), &iworkspace,
            Int32(liwork))
        guard info == 0 else {
            throw LinearAlgebraError(
                description: info < 0
                    ? "dsyevd: argument \(-info) is invalid"
                    : "dsyevd failed to converge (info \(info)) on a \(n)×\(n) matrix")
        }
        eigenvalues = values
        // LAPACK left the eigenvectors in column-major order, i.e. as the rows of our
        // row-major buffer; transpose so that they are columns.
        eigenvectors = work.transposed()
    }
}

extension SymmetricEigendecomposition where Element == Float {
    /// Decomposes a symmetric matrix in Float32 with `ssyevd`. The workspace query of
    /// OpenBLAS 0.3.21 under-reports for n ≳ 2900, so the documented sizes are used instead.
    public init(_ matrix: Matrix<Float>) throws {
        let n = matrix.rows
        precondition(matrix.cols == n, "eigendecomposition needs a square matrix")
        try requireFinite(matrix)
        let work = matrix.copy()
        var values = [Float](repeating: 0, count: n)
        let lwork = 1 + 6 * n + 2 * n * n
        let liwork = 3 + 5 * n
        var workspace = [Float](repeating: 0, count: lwork)
        var iworkspace = [Int32](repeating: 0, count: liwork)
        let info = LAPACKE_ssyevd_work(
            LAPACK_COL_MAJOR, CChar(UInt8(ascii: "V")), CChar(UInt8(ascii: "L")), Int32(n),
            work.storage, Int32(max(1, n)), &values, &workspace, Int32(lwork), &iworkspace,
            Int32(liwork))
        guard info == 0 else {
            throw LinearAlgebraError(
                description: info < 0
                    ? "ssyevd: argument \(-info) is invalid"
                    : "ssyevd failed to converge (info \(info)) on a \(n)×\(n) matrix")
        }
        eigenvalues = values
        eigenvectors = work.transposed()
    }
}

/// LAPACK does not report NaN or ±∞ in its input; it returns NaN eigenvalues. Refuse instead.
private func requireFinite<E: BLASScalar>(_ matrix: Matrix<E>) throws {
    for i in 0..<matrix.count where !matrix.storage[i].isFinite {
        throw LinearAlgebraError(
            description: "eigendecomposition input has a non-finite value at (\(i / matrix.cols), \(i % matrix.cols))")
    }
}
