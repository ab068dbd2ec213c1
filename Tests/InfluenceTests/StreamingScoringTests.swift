import Curvature
import Influence
import Models
import Numerics
import Testing
import TestSupport

/// Streaming scoring (issue 15, item 1): scores formed module by module from the taps equal
/// the dense formula — every document's whole-model gradient, dotted in Float64 with the
/// preconditioned queries — for any batch size, total and per module.
@Suite struct StreamingScoringTests {
    /// GDP (no preconditioner): queries are raw gradients, so the only difference from the
    /// dense Float64 dot products is Float rounding.
    @Test(arguments: [1, 2, 4, 9])
    func gradientDotProductsEqualDenseForEveryBatchSize(batchSize: Int) throws {
        let model = microModel()
        let layouts = model.moduleLayouts(.all, attentionBlocks: .perHead, includeBias: false)
        let queries = randomExamples(count: 3, lengths: 5...9, vocabulary: 11, seed: 41, promptLength: 3)
        let documents = randomExamples(count: 9, lengths: 2...12, vocabulary: 11, seed: 42)
        let scorer = try InfluenceScorer(model: model, layouts: layouts, queries: queries, preconditioners: [], batchSize: 2)
        let scores = try batched(scorer, model, documents, batchSize)
        let runner = GradientRunner(model: model, layouts: layouts)
        let queryGradients = try runner.moduleGradients(of: queries).map { $0.map { $0.map(Double.init) } }
        let expected = denseScores(queryGradients, try runner.moduleGradients(of: documents))
        // A score is a Float32 sum of terms of both signs, many times larger than the sum: its
        // rounding error scales with the scores' magnitude, not with each (possibly small) score.
        // Measured on one BLAS thread: at most 6.6e-7 of the largest score (total and per module).
        expectScoresClose(scores.total, expected.total, tolerance: 2e-6, "total", floor: 1)
        for m in layouts.indices { expectScoresClose(scores.perModule[m], expected.perModule[m], tolerance: 2e-6, layouts[m].name, floor: 1) }
    }

    /// EK-FAC: queries preconditioned by the explicit curvature solved in Float64.
    @Test(arguments: [1, 3, 9])
    func ekfacScoresEqualDenseForEveryBatchSize(batchSize: Int) throws {
        let model = microModel()
        let factors = try fitFactors(model, randomExamples(count: 16, lengths: 3...10, vocabulary: 11, seed: 30), blocks: .perHead)
        let damping = 3e-3
        let queries = randomExamples(count: 2, lengths: 5...9, vocabulary: 11, seed: 31, promptLength: 3)
        let documents = randomExamples(count: 9, lengths: 2...12, vocabulary: 11, seed: 32)
        let scorer = try InfluenceScorer(model: model, layouts: factors.layouts, queries: queries,
                                         preconditioners: [PreconditionerMethod.ekfac.preconditioner(factors: factors, damping: .absolute(damping))])
        let scores = try batched(scorer, model, documents, batchSize)
        let runner = GradientRunner(model: model, layouts: factors.layouts)
        let preconditioned = try runner.moduleGradients(of: queries).map { modules in
            modules.enumerated().map { m, g in denseInverseProduct(g.map(Double.init), factors, module: m, damping: damping, method: .ekfac) }
        }
        let expected = denseScores(preconditioned, try runner.moduleGradients(of: documents))
        expectScoresClose(scores.total, expected.total, tolerance: 2e-3, "total")
        for m in factors.layouts.indices {
            expectScoresClose(scores.perModule[m], expected.perModule[m], tolerance: 2e-3, factors.layouts[m].name)
        }
    }

    /// The batch size changes nothing but Float rounding.
    @Test func scoresDoNotDependOnBatchSize() throws {
        let model = microModel()
        let layouts = model.moduleLayouts(.all, attentionBlocks: .fused, includeBias: false)
        let queries = randomExamples(count: 4, lengths: 5...9, vocabulary: 11, seed: 51, promptLength: 2)
        let documents = randomExamples(count: 10, lengths: 2...12, vocabulary: 11, seed: 52)
        let scorer = try InfluenceScorer(model: model, layouts: layouts, queries: queries, preconditioners: [])
        let reference = try batched(scorer, model, documents, 1)
        for batchSize in [2, 3, 10] {
            let other = try batched(scorer, model, documents, batchSize)
            // Other batch sizes are other product shapes, rounded otherwise (see above: relative to
            // the scale; measured: at most 3.6e-7 of the largest score).
            expectScoresClose(other.total, reference.total, tolerance: 1e-6, "batch \(batchSize)", floor: 1)
        }
    }

    /// Scores documents `batchSize` at a time and joins them as one [q][d] result.
    func batched(_ scorer: InfluenceScorer, _ model: DecoderModel, _ documents: [TokenizedExample], _ batchSize: Int) throws
        -> (total: [[Double]], perModule: [[[Double]]])
    {
        var total = [[Double]](repeating: [], count: scorer.queryCount)
        var perModule = [[[Double]]](repeating: total, count: scorer.layouts.count)
        let runner = GradientRunner(model: model, layouts: scorer.layouts)
        for start in stride(from: 0, to: documents.count, by: batchSize) {
            let part = try scorer.score(model: model, documents: Array(documents[start..<min(start + batchSize, documents.count)]), runner: runner)
            for q in total.indices {
                total[q] += part.total[q]
                for m in perModule.indices { perModule[m][q] += part.perModule[m][q] }
            }
        }
        return (total, perModule)
    }
}
