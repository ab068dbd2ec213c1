import Curvature
import Models
import Numerics

/// Rank-R compression of preconditioned query gradients (DESIGN §5): q̃ ≈ U Vᵀ with U of
/// size d_out × R and V of size inputSize × R, the best rank-R approximation (truncated SVD,
/// from the eigendecomposition of the smaller Gram matrix in Float64). A document's score is
/// then ⟨U Vᵀ, Σₜ gₜaₜᵀ⟩ = Σₜ (Uᵀgₜ)·(Vᵀaₜ): no d_out × d_in gradient per document, and
/// O(T · R · (d_in + d_out)) work per query instead of O(d_in · d_out).
struct LowRankFactors {
    /// [d_out × (queries · R)]: query q's U in columns q·R ..< (q+1)·R.
    let left: Matrix<Float>
    /// [inputSize × (queries · R)].
    let right: Matrix<Float>
    let rank: Int
}

enum LowRank {
    /// Compresses each row of `queries` (one q̃ of shape outputSize × inputSize per query).
    static func compress(_ queries: Matrix<Float>, layout: ModuleLayout, rank requested: Int) throws -> LowRankFactors {
        let dOut = layout.outputSize, w = layout.inputSize, Q = queries.rows
        let rank = min(requested, dOut, w)
        let left = Matrix<Float>(rows: dOut, cols: Q * rank), right = Matrix<Float>(rows: w, cols: Q * rank)
        for q in 0..<Q {
            let x = queries.storage + q * dOut * w
            // Gram matrix of the smaller side: X Xᵀ (dOut ≤ w) or Xᵀ X.
            let rowsSide = dOut <= w
            let n = rowsSide ? dOut : w
            let gram = Matrix<Double>(rows: n, cols: n)
            let xd = (0..<(dOut * w)).map { Double(x[$0]) }
            xd.withUnsafeBufferPointer { p in
                Double.gemm(rowsSide ? .none : .transposed, rowsSide ? .transposed : .none, m: n, n: n, k: rowsSide ? w : dOut,
                            alpha: 1, a: p.baseAddress!, lda: w, b: p.baseAddress!, ldb: w, beta: 0, c: gram.storage, ldc: n)
            }
            let eigen = try SymmetricEigendecomposition(gram)
            // The top-R eigenvectors (LAPACK's order is ascending), as an n × R matrix.
            var top = [Double](repeating: 0, count: n * rank)
            for i in 0..<n { for r in 0..<rank { top[i * rank + r] = eigen.eigenvectors[i, n - 1 - r] } }
            // The other side: V = Xᵀ U (when U is the eigenvector side) or U = X V.
            var other = [Double](repeating: 0, count: (rowsSide ? w : dOut) * rank)
            xd.withUnsafeBufferPointer { xp in
                top.withUnsafeBufferPointer { tp in
                    other.withUnsafeMutableBufferPointer { op in
                        Double.gemm(rowsSide ? .transposed : .none, .none, m: rowsSide ? w : dOut, n: rank, k: n, alpha: 1,
                                    a: xp.baseAddress!, lda: w, b: tp.baseAddress!, ldb: rank, beta: 0, c: op.baseAddress!, ldc: rank)
                    }
                }
            }
            let (u, v) = rowsSide ? (top, other) : (other, top)
            for i in 0..<dOut { for r in 0..<rank { left.storage[i * Q * rank + q * rank + r] = Float(u[i * rank + r]) } }
            for j in 0..<w { for r in 0..<rank { right.storage[j * Q * rank + q * rank + r] = Float(v[j * rank + r]) } }
        }
        return LowRankFactors(left: left, right: right, rank: rank)
    }
}

/// Scores every sequence of a batch against low-rank queries straight from the taps.
final class LowRankScorer: LinearModuleTapObserver {
    let layouts: [ModuleLayout]
    let factors: [LowRankFactors]
    let queryCount: Int
    private let router: ModuleRouter
    /// scores[m][q * sequences + s] for the current batch.
    private(set) var scores: [[Double]] = []
    private let inputs = FloatBuffer(), projectedInputs = FloatBuffer(), projectedGradients = FloatBuffer()

    init(layouts: [ModuleLayout], factors: [LowRankFactors], queryCount: Int) {
        self.layouts = layouts
        self.factors = factors
        self.queryCount = queryCount
        router = ModuleRouter(layouts)
    }

    func begin(sequences: Int) {
        scores = layouts.map { _ in [Double](repeating: 0, count: queryCount * sequences) }
    }

    func observe(_ tap: LinearModuleTap) {
        guard let m = router.position(of: tap) else { return }
        let layout = layouts[m], f = factors[m]
        let N = tap.tokenCount, w = layout.inputSize, dOut = layout.outputSize, K = queryCount * f.rank
        _ = TapRows.inputs(tap, layout, into: inputs)
        projectedInputs.reserve(N * K)
        projectedGradients.reserve(N * K)
        // All queries at once: [N × K] = a · V_all and g · U_all.
        Float.gemm(.none, .none, m: N, n: K, k: w, alpha: 1, a: inputs.pointer, lda: w, b: f.right.storage, ldb: K,
                   beta: 0, c: projectedInputs.pointer, ldc: K)
        Float.gemm(.none, .none, m: N, n: K, k: dOut, alpha: 1, a: tap.outputGradients, lda: dOut, b: f.left.storage, ldb: K,
                   beta: 0, c: projectedGradients.pointer, ldc: K)
        let S = tap.batch.sequenceCount
        for s in 0..<S {
            for q in 0..<queryCount {
                var total = 0.0
                for t in tap.batch.range(ofSequence: s) {
                    let a = projectedInputs.pointer + t * K + q * f.rank, g = projectedGradients.pointer + t * K + q * f.rank
                    var dot: Float = 0
                    for r in 0..<f.rank { dot += a[r] * g[r] }
                    total += Double(dot)
                }
                scores[m][q * S + s] += total
            }
        }
    }
}
