import Curvature
import Foundation
import Influence
import Models
import Numerics
import Testing

@Suite struct MultiStageTests {
    /// With identity preconditioners, multi-stage influence is the dot product of the
    /// fine-tuned query gradient and the pre-trained document gradient.
    @Test func identityPreconditionersGiveTheCrossModelGradientDotProduct() throws {
        let pretrained = microModel(seed: 21), finetuned = microModel(seed: 77)
        let layouts = ModuleLayout.gptNeoX(pretrained.hyperparameters, modules: .all, attentionBlocks: .fused, includeBias: false)
        let queries = randomExamples(count: 2, lengths: 6...9, vocabulary: 11, seed: 60, promptLength: 3)
        let documents = randomExamples(count: 5, lengths: 3...10, vocabulary: 11, seed: 61)
        let scores = try InfluenceScorer(model: finetuned, layouts: layouts, queries: queries, preconditioners: [])
            .score(model: pretrained, documents: documents).total
        let queryGradients = try GradientRunner(model: finetuned, layouts: layouts).moduleGradients(of: queries)
        let documentGradients = try GradientRunner(model: pretrained, layouts: layouts).moduleGradients(of: documents)
        for q in queries.indices {
            let expected = documents.indices.map { d in
                zip(queryGradients[q].joined(), documentGradients[d].joined()).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
            }
            #expect(relativeError(scores[q], expected) < 1e-4)
        }
    }

    /// With PT = FT and the same factors, multi-stage influence is ∇fᵀ (G + λI)⁻² ∇L, checked
    /// against dense solves with the explicitly built EK-FAC blocks.
    @Test(arguments: [AttentionBlocks.perHead, .fused])
    func sameModelTwiceSquaresTheInverse(blocks: AttentionBlocks) throws {
        let model = microModel()
        let factors = try fitFactors(model, randomExamples(count: 12, lengths: 3...9, vocabulary: 11, seed: 62), blocks: blocks)
        let damping = 1e-2
        let preconditioner = Preconditioner(factors: factors, method: .ekfac, damping: .absolute(damping))
        let queries = randomExamples(count: 2, lengths: 6...9, vocabulary: 11, seed: 63, promptLength: 2)
        let documents = randomExamples(count: 4, lengths: 3...10, vocabulary: 11, seed: 64)
        let scores = try InfluenceScorer(model: model, layouts: factors.layouts, queries: queries,
                                         preconditioners: [preconditioner, preconditioner]).score(model: model, documents: documents).total
        let runner = GradientRunner(model: model, layouts: factors.layouts)
        let queryGradients = try runner.moduleGradients(of: queries), documentGradients = try runner.moduleGradients(of: documents)
        // Dense: q̂ = (G + λI)⁻¹ (G + λI)⁻¹ ∇f, block by block.
        var preconditioned: [[Double]] = []
        for q in queries.indices {
            var flat: [Double] = []
            for (m, layout) in factors.layouts.enumerated() {
                var gradient = queryGradients[q][m].map(Double.init)
                for (b, block) in layout.blocks.enumerated() {
                    var dense = explicitEKFAC(factors, module: m, block: b)
                    for i in dense.indices { dense[i][i] += damping }
                    let range = (block.rows.lowerBound * layout.inputSize)..<(block.rows.upperBound * layout.inputSize)
                    gradient.replaceSubrange(range, with: solveSPD(dense, solveSPD(dense, Array(gradient[range]))))
                }
                flat += gradient
            }
            preconditioned.append(flat)
        }
        for q in queries.indices {
            let expected = documents.indices.map { d in
                zip(preconditioned[q], documentGradients[d].joined()).reduce(0.0) { $0 + $1.0 * Double($1.1) }
            }
            #expect(relativeError(scores[q], expected) < 5e-3, "\(scores[q]) vs \(expected)")
        }
    }
}
