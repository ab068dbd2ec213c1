import Curvature
import Influence
import Models
import Numerics
import Testing
import TestSupport

/// Which token rows enter A, S and Λ (issue: the eigenbasis was fitted on other rows than Λ).
@Suite struct CurvatureRowsTests {
    /// Records every tap's module inputs by module index.
    final class InputRecorder: LinearModuleTapObserver {
        var inputs: [Int: [[Float]]] = [:]
        func observe(_ tap: LinearModuleTap) {
            inputs[tap.moduleIndex] = (0..<tap.tokenCount).map { t in
                Array(UnsafeBufferPointer(start: tap.inputs + t * tap.inputSize, count: tap.inputSize))
            }
        }
    }

    /// Prompt/completion data: A averages a aᵀ over every row from a sequence's first token to
    /// its last counted target (prompt rows included, as in the per-sequence gradient Λ is
    /// built from), and the row count is the same one K-FAC's scaling uses.
    @Test func inputCovarianceCountsPromptRowsLikeTheSequenceGradient() throws {
        let model = microModel()
        let examples = randomExamples(count: 6, lengths: 6...8, vocabulary: 11, seed: 8, promptLength: 4)
        let factors = try fitFactors(model, examples, blocks: .fused)
        // Rows 0 ..< T−1 of every sequence: the last counted target is the second-to-last token.
        #expect(factors.covarianceTokenCount == examples.reduce(0) { $0 + $1.tokens.count - 1 })
        #expect(factors.covarianceSequenceCount == examples.count && factors.correctionSequenceCount == examples.count)

        // A from the taps directly, in Float64, over the same rows.
        let recorder = InputRecorder()
        try GradientRunner(model: model, layouts: factors.layouts).run(examples, observer: recorder)
        let batch = TokenBatch(examples: examples)
        for basis in factors.eigenbases {
            let w = basis.layout.inputSize
            var expected = [Double](repeating: 0, count: w * w), rows = 0
            for s in examples.indices {
                let range = batch.range(ofSequence: s)
                for t in range.lowerBound..<(range.upperBound - 1) {
                    let a = recorder.inputs[basis.layout.moduleIndex]![t].map(Double.init)
                    for i in 0..<w { for j in 0..<w { expected[i * w + j] += a[i] * a[j] } }
                    rows += 1
                }
            }
            expected = expected.map { $0 / Double(rows) }
            let q = basis.inputEigenvectors, lambda = basis.inputEigenvalues
            var fitted = [Double](repeating: 0, count: w * w)
            for i in 0..<w { for j in 0..<w { for k in 0..<w { fitted[i * w + j] += Double(q[i, k]) * lambda[k] * Double(q[j, k]) } } }
            #expect(relativeError(fitted, expected) < 1e-5, "\(basis.layout.name): A over other rows")
        }
    }

    /// The rows are those up to the last counted target, for every sequence of a batch.
    @Test func curvatureRowsEndAtTheLastCountedTarget() throws {
        let model = microModel()
        let examples = [TokenizedExample(tokens: [1, 2, 3, 4, 5], promptLength: 3), TokenizedExample(tokens: [6, 7]),
                        TokenizedExample(tokens: [1, 2, 3], promptLength: 0)]
        let batch = TokenBatch(examples: examples)
        let targets = try model.lossTargets(batch, examples: examples)
        #expect(model.curvatureRows(batch, targets: targets) == [0..<4, 5..<6, 7..<9])
        #expect(model.covarianceRows(batch, targets: targets) == [0, 1, 2, 3, 5, 7, 8])
    }
}
