import Curvature
import Models
import Numerics

/// Scores the documents of a batch against every query module by module, as the backward
/// pass reaches each tracked module: for sequence s, Gₛ = g[s]ᵀ a[s] (that module's gradient
/// only, d_out × inputSize, in one reused buffer), then scores[m][q, s] = ⟨q̃_m[q], vec(Gₛ)⟩
/// for all queries in one matrix–vector product. Nothing of a module outlives its tap, so
/// peak memory is one module's gradient beside the queries, whatever the number of modules
/// and documents (issue 15: no whole-model per-document gradients).
final class DocumentScoreObserver: LinearModuleTapObserver {
    let layouts: [ModuleLayout]
    /// Per module, the preconditioned queries [queries × parameterCount].
    let queries: [Matrix<Float>]
    private let router: ModuleRouter
    /// scores[m][q * sequences + s] for the current batch.
    private(set) var scores: [[Float]] = []
    private var sequences = 0
    private let inputs = FloatBuffer(), gradient = FloatBuffer(), product = FloatBuffer()

    init(layouts: [ModuleLayout], queries: [Matrix<Float>]) {
        self.layouts = layouts
        self.queries = queries
        router = ModuleRouter(layouts)
        gradient.reserve(layouts.map(\.parameterCount).max() ?? 0)
        product.reserve(queries.first?.rows ?? 0)
    }

    func begin(sequences: Int) {
        self.sequences = sequences
        let Q = queries.first?.rows ?? 0
        scores = layouts.map { _ in [Float](repeating: 0, count: Q * sequences) }
    }

    func observe(_ tap: LinearModuleTap) {
        guard let m = router.position(of: tap) else { return }
        let layout = layouts[m]
        let width = layout.inputSize, dOut = layout.outputSize, P = layout.parameterCount, Q = queries[m].rows
        let S = tap.batch.sequenceCount
        precondition(S == sequences, "begin(sequences:) was not called for this batch")
        _ = TapRows.inputs(tap, layout, into: inputs)
        for s in 0..<S {
            let rows = tap.batch.range(ofSequence: s)
            Float.gemm(.transposed, .none, m: dOut, n: width, k: rows.count, alpha: 1,
                       a: tap.outputGradients + rows.lowerBound * dOut, lda: dOut,
                       b: inputs.pointer + rows.lowerBound * width, ldb: width,
                       beta: 0, c: gradient.pointer, ldc: width)
            // [Q × P] · vec(Gₛ): every query's score of this document and module at once.
            Float.gemm(.none, .none, m: Q, n: 1, k: P, alpha: 1, a: queries[m].storage, lda: P,
                       b: gradient.pointer, ldb: 1, beta: 0, c: product.pointer, ldc: 1)
            for q in 0..<Q { scores[m][q * S + s] += product.pointer[q] }
        }
    }
}
