import Curvature
import Influence
import Models
import Numerics
import Testing
import TestSupport

/// TRAK's pieces against dense computations on the micro model: the two-sided projection of
/// each sequence's gradient without forming it, and the ensemble's kernel-regression scores.
@Suite struct TRAKTests {
    static let model = microModel()
    static let layouts = model.moduleLayouts(.all, attentionBlocks: .perHead, includeBias: false)

    /// P_out Gₙ P_inᵀ from the dense per-sequence gradient, in Float64.
    static func denseFeatures(_ gradients: [[Float]], _ projection: ProjectedGradients) -> [Double] {
        var out: [Double] = []
        for (m, layout) in projection.layouts.enumerated() {
            let left = projection.left[m], right = projection.right[m], g = gradients[m]
            for i in 0..<projection.outputRanks[m] {
                for j in 0..<projection.inputRanks[m] {
                    var sum = 0.0
                    for r in 0..<layout.outputSize {
                        for c in 0..<layout.inputSize {
                            sum += Double(left.storage[i * layout.outputSize + r]) * Double(g[r * layout.inputSize + c])
                                * Double(right.storage[j * layout.inputSize + c])
                        }
                    }
                    out.append(sum)
                }
            }
        }
        return out
    }

    @Test func projectionEqualsTheProjectedDenseGradient() throws {
        let examples = randomExamples(count: 5, lengths: 3...9, vocabulary: 11, seed: 4)
        let runner = GradientRunner(model: Self.model, layouts: Self.layouts)
        let projection = ProjectedGradients(layouts: Self.layouts, dimension: 40, seed: 7)
        #expect(projection.dimension == projection.outputRanks.indices.reduce(0) { $0 + projection.outputRanks[$1] * projection.inputRanks[$1] })
        let features = try projection.features(of: examples, runner: runner)
        let dense = try runner.moduleGradients(of: examples)
        for (n, feature) in features.enumerated() {
            let expected = Self.denseFeatures(dense[n], projection)
            let scale = expected.map(abs).max() ?? 1
            let worst = zip(feature, expected).map { abs(Double($0) - $1) }.max() ?? 0
            #expect(worst <= 1e-5 * scale, "sequence \(n): worst difference \(worst) of \(scale)")
        }
        // The same seed gives the same projection; another seed another one.
        let again = try ProjectedGradients(layouts: Self.layouts, dimension: 40, seed: 7).features(of: examples, runner: runner)
        let other = try ProjectedGradients(layouts: Self.layouts, dimension: 40, seed: 8).features(of: examples, runner: runner)
        #expect(again == features && other != features)
    }

    @Test func scoresAreTheEnsembleMeanOfKernelRegressions() throws {
        let training = randomExamples(count: 30, lengths: 3...9, vocabulary: 11, seed: 5)
        let queries = randomExamples(count: 2, lengths: 3...9, vocabulary: 11, seed: 6)
        let candidates = Array(training.prefix(6))
        let models = [Self.model, microModel(seed: 33)]
        let dimension = 12
        // One batch for every set, as below: float32 features differ in the last bits between batchings.
        let trak = try TRAKScorer(models: models, training: training, dimension: dimension, seed: 9, ridge: 1e-3, batchSize: 64)
        var expected = [[Double]](repeating: [Double](repeating: 0, count: candidates.count), count: queries.count)
        for (i, model) in models.enumerated() {
            let layouts = model.moduleLayouts(.all, attentionBlocks: .perHead, includeBias: false)
            let runner = GradientRunner(model: model, layouts: layouts)
            let projection = ProjectedGradients(layouts: layouts, dimension: dimension, seed: 9 + UInt64(i))
            func phi(_ examples: [TokenizedExample]) throws -> [[Double]] {
                try projection.features(of: examples, runner: runner).map { $0.map(Double.init) }
            }
            let train = try phi(training), k = projection.dimension
            var kernel = (0..<k).map { a in (0..<k).map { b in train.reduce(0.0) { $0 + $1[a] * $1[b] } } }
            // ρ = ridge × the kernel's mean eigenvalue (its trace over k).
            let rho = 1e-3 * (0..<k).reduce(0.0) { $0 + kernel[$1][$1] } / Double(k)
            for a in 0..<k { kernel[a][a] += rho }
            let fc = try phi(candidates)
            for (q, fq) in try phi(queries).enumerated() {
                let x = solveSPD(kernel, fq)
                for c in candidates.indices { expected[q][c] += zip(x, fc[c]).reduce(0) { $0 + $1.0 * $1.1 } / Double(models.count) }
            }
        }
        let scores = try trak.scores(queries: queries, candidates: candidates)
        expectScoresClose(scores, expected, tolerance: 1e-6, "TRAK")
    }

    @Test func refusesAnEmptyEnsembleOrTrainingSet() {
        #expect(throws: (any Error).self) { try TRAKScorer(models: [], training: randomExamples(count: 3, lengths: 3...5, vocabulary: 11, seed: 1), dimension: 8, seed: 1) }
        #expect(throws: (any Error).self) { try TRAKScorer(models: [Self.model], training: [], dimension: 8, seed: 1) }
    }
}
