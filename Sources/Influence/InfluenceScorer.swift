import Checkpoints
import Curvature
import Foundation
import Models
import Numerics

/// Influence scores I(z_m, z_q) = ∇f(z_q)ᵀ P ∇L(z_m) between queries and training documents,
/// summed over tracked modules (DESIGN §3, §5). P is a product of damped inverse curvatures:
/// one for single-stage influence, two for multi-stage, none for GDP.
///
/// Each query's gradient is preconditioned once and kept as a row of a [queries × parameters]
/// matrix per module. Because every preconditioner is symmetric, ⟨P∇f, ∇L⟩ = ⟨∇f, P∇L⟩, so
/// documents need only their raw gradients, and those are streamed: as the backward pass
/// reaches a module, each document's gradient of that module alone is formed and dotted with
/// all queries (`DocumentScoreObserver`), then dropped. Memory is flat in the number of
/// documents and of modules.
public final class InfluenceScorer {
    public let layouts: [ModuleLayout]
    /// Per module, the preconditioned query gradients [queries × parameterCount].
    private let queryGradients: [Matrix<Float>]
    public let queryCount: Int
    /// With `queryRank`, the rank-R factors of each module's preconditioned queries.
    private var lowRank: [LowRankFactors]?
    /// The document-side observer, kept across batches so its buffers are reused.
    private var streaming: DocumentScoreObserver?

    /// Computes and preconditions the query gradients. `model` gives ∇f; each preconditioner
    /// (applied in order, e.g. fine-tuned then pre-trained) must cover the same modules.
    /// With `queryRank` R, each preconditioned query gradient is replaced by its best rank-R
    /// approximation and documents are scored from the taps without forming their gradients.
    public init(model: DecoderModel, layouts: [ModuleLayout], queries: [TokenizedExample],
                preconditioners: [Preconditioner], batchSize: Int = 8, queryRank: Int? = nil) throws {
        // Full layouts, not only names: a module fitted with a bias column on one stage only has
        // another width, and preconditioning it would run past the gradient's end.
        for preconditioner in preconditioners where preconditioner.layouts != layouts {
            let fitted = preconditioner.layouts
            let detail = zip(fitted, layouts).first { $0 != $1 }
                .map { "\($1.name) is \(FactorCompatibility.describe($1)) but its factors are \(FactorCompatibility.describe($0))" }
                ?? "the factors cover \(fitted.count) modules, not the selected \(layouts.count)"
            throw InputError("factors do not match the scored modules: \(detail)")
        }
        self.layouts = layouts
        queryCount = queries.count
        let matrices = layouts.map { Matrix<Float>(rows: queries.count, cols: $0.parameterCount) }
        let runner = GradientRunner(model: model, layouts: layouts)
        for start in stride(from: 0, to: queries.count, by: batchSize) {
            let slice = Array(queries[start..<min(start + batchSize, queries.count)])
            let collector = try runner.gradients(of: slice)
            for (m, layout) in layouts.enumerated() {
                let P = layout.parameterCount
                (matrices[m].storage + start * P).update(from: collector.gradients[m].pointer, count: slice.count * P)
            }
        }
        for preconditioner in preconditioners {
            for q in 0..<queries.count {
                try preconditioner.apply(toAll: layouts.indices.map { matrices[$0].storage + q * layouts[$0].parameterCount })
            }
        }
        queryGradients = matrices
        if let queryRank {
            precondition(queryRank > 0)
            lowRank = try layouts.indices.map { try LowRank.compress(matrices[$0], layout: layouts[$0], rank: queryRank) }
        }
    }

    /// Scores of a batch of documents against every query: `total[q][d]` and, per module,
    /// `perModule[m][q][d]`. `model` gives ∇L (the pre-trained model in multi-stage scoring).
    public func score(model: DecoderModel, documents: [TokenizedExample], runner: GradientRunner? = nil)
        throws -> (total: [[Double]], perModule: [[[Double]]])
    {
        try score(documents: documents, runner: runner ?? GradientRunner(model: model, layouts: layouts), observer: &streaming)
    }

    /// What one thread needs to score batches beside others: its own forward/backward buffers
    /// and module buffers (the preconditioned queries are shared, read only).
    public final class Worker: @unchecked Sendable {
        let runner: GradientRunner
        fileprivate var observer: DocumentScoreObserver?

        public init(model: DecoderModel, layouts: [ModuleLayout]) { runner = GradientRunner(model: model, layouts: layouts) }
    }

    /// `score(model:documents:)` on a worker's own buffers, so that several workers may score
    /// batches at once (each batch's scores are the same whichever worker scores it).
    public func score(documents: [TokenizedExample], worker: Worker) throws -> (total: [[Double]], perModule: [[[Double]]]) {
        try score(documents: documents, runner: worker.runner, observer: &worker.observer)
    }

    private func score(documents: [TokenizedExample], runner: GradientRunner, observer cached: inout DocumentScoreObserver?)
        throws -> (total: [[Double]], perModule: [[[Double]]])
    {
        let D = documents.count, Q = queryCount
        if let lowRank {
            let scorer = LowRankScorer(layouts: layouts, factors: lowRank, queryCount: Q)
            scorer.begin(sequences: D)
            try runner.run(documents, observer: scorer)
            let perModule = scorer.scores.map { flat in (0..<Q).map { q in Array(flat[(q * D)..<((q + 1) * D)]) } }
            let total = (0..<Q).map { q in (0..<D).map { d in perModule.reduce(0.0) { $0 + $1[q][d] } } }
            return (total, perModule)
        }
        let observer = cached ?? DocumentScoreObserver(layouts: layouts, queries: queryGradients)
        cached = observer
        observer.begin(sequences: D)
        try runner.run(documents, observer: observer)
        var total = [[Double]](repeating: [Double](repeating: 0, count: D), count: Q)
        var perModule: [[[Double]]] = []
        for m in layouts.indices {
            var moduleScores = [[Double]](repeating: [Double](repeating: 0, count: D), count: Q)
            for q in 0..<Q {
                for d in 0..<D {
                    moduleScores[q][d] = Double(observer.scores[m][q * D + d])
                    total[q][d] += moduleScores[q][d]
                }
            }
            perModule.append(moduleScores)
        }
        return (total, perModule)
    }
}

extension InfluenceScorer {
    /// Per-token influence of one document on query `q`: token t contributes
    /// Σ_modules gₜᵀ q̂ aₜ, where q̂ is the (fully) preconditioned query gradient; the
    /// contributions sum to the document's score.
    public func tokenContributions(model: DecoderModel, document: TokenizedExample, query q: Int) throws -> [Double] {
        let observer = TokenContributionObserver(layouts: layouts, queries: queryGradients, query: q, tokens: document.tokens.count)
        try GradientRunner(model: model, layouts: layouts).run([document], observer: observer)
        return observer.contributions
    }
}

/// Accumulates gₜᵀ q̂ aₜ per token from the taps of a one-document batch.
final class TokenContributionObserver: LinearModuleTapObserver {
    let layouts: [ModuleLayout]
    let queries: [Matrix<Float>]
    let query: Int
    private let router: ModuleRouter
    private(set) var contributions: [Double]
    private let inputs = FloatBuffer(), projected = FloatBuffer()

    init(layouts: [ModuleLayout], queries: [Matrix<Float>], query: Int, tokens: Int) {
        self.layouts = layouts
        self.queries = queries
        self.query = query
        router = ModuleRouter(layouts)
        contributions = [Double](repeating: 0, count: tokens)
    }

    func observe(_ tap: LinearModuleTap) {
        guard let m = router.position(of: tap) else { return }
        let layout = layouts[m]
        let T = tap.tokenCount, w = layout.inputSize, dOut = layout.outputSize
        _ = TapRows.inputs(tap, layout, into: inputs)
        projected.reserve(T * dOut)
        // P = A q̂ᵀ: row t is q̂ aₜ.
        Float.gemm(.none, .transposed, m: T, n: dOut, k: w, alpha: 1, a: inputs.pointer, lda: w,
                   b: queries[m].storage + query * layout.parameterCount, ldb: w, beta: 0, c: projected.pointer, ldc: dOut)
        for t in 0..<T {
            var dot: Float = 0
            let p = projected.pointer + t * dOut, g = tap.outputGradients + t * dOut
            for i in 0..<dOut { dot += p[i] * g[i] }
            contributions[t] += Double(dot)
        }
    }
}
