import Numerics
import Testing

/// `--threads N` promises the same results for every N: OpenBLAS splits a product's output
/// among threads, never an inner sum, and the eigensolvers run on one thread (threaded
/// `dsyevd` differs in the last bits). Checked on products big enough to be split.
@Suite(.serialized) struct ThreadCountTests {
    @Test func productsAndEigendecompositionsDoNotDependOnTheThreadCount() throws {
        let before = BLAS.threadCount
        defer { BLAS.setThreadCount(before) }
        var rng = RandomGenerator(seed: 3)
        let m = 300, k = 257, n = 411
        var a = [Float](repeating: 0, count: m * k), b = [Float](repeating: 0, count: k * n)
        a.withUnsafeMutableBufferPointer { rng.fillNormal($0, standardDeviation: 1) }
        b.withUnsafeMutableBufferPointer { rng.fillNormal($0, standardDeviation: 1) }
        func run() throws -> ([Float], [Float], [Double]) {
            var c = [Float](repeating: 0, count: m * n), s = [Float](repeating: 0, count: k * k)
            c.withUnsafeMutableBufferPointer { Float.gemm(.none, .none, m: m, n: n, k: k, alpha: 1, a: a, lda: k, b: b, ldb: n, beta: 0, c: $0.baseAddress!, ldc: n) }
            s.withUnsafeMutableBufferPointer { Float.syrk(.transposed, n: k, k: m, alpha: 1, a: a, lda: k, beta: 0, c: $0.baseAddress!, ldc: k) }
            let covariance = Matrix<Double>(rows: 200, cols: 200) { i, j in Double(s[min(i, j) * k + max(i, j)]) }
            let eigen = try SymmetricEigendecomposition(covariance)
            return (c, s, eigen.eigenvalues + eigen.eigenvectors.values)
        }
        BLAS.setThreadCount(1)
        let one = try run()
        for threads in [2, 3, 4] {
            BLAS.setThreadCount(threads)
            let many = try run()
            #expect(many.0 == one.0 && many.1 == one.1 && many.2 == one.2, "\(threads) threads")
        }
    }
}
