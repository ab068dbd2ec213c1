import Curvature
import Foundation
import Influence
import Models
import Numerics
import Testing
import TestSupport

@Suite struct MultiStageTests {
    /// With identity preconditioners, multi-stage influence is the dot product of the
    /// fine-tuned query gradient and the pre-trained document gradient.
    @Test func identityPreconditionersGiveTheCrossModelGradientDotProduct() throws {
        let pretrained = microModel(seed: 21), finetuned = microModel(seed: 77)
        let layouts = pretrained.moduleLayouts(.all, attentionBlocks: .fused, includeBias: false)
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
        let preconditioner = EKFACPreconditioner(factors: factors, damping: .absolute(damping))
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

    /// Two different models (a language model and a fine-tuned classifier with a perturbed
    /// backbone and a new head), each with its own factors and damping:
    /// I = ∇f_ftᵀ (G_ft + λ_ft I)⁻¹ (G_pt + λ_pt I)⁻¹ ∇L_pt, against dense Float64 solves with the
    /// explicit EK-FAC blocks. The two blocks do not commute, so exchanging the two factor sets
    /// (or their dampings) changes the scores well beyond the tolerance; checked below.
    @Test(arguments: [AttentionBlocks.perHead, .fused])
    func twoModelsWithTheirOwnFactorsMatchDenseSolves(blocks: AttentionBlocks) throws {
        let pretrained = microModel(seed: 21)
        let finetuned = microClassifier(backboneOf: pretrained)
        let ptFactors = try fitFactors(pretrained, randomExamples(count: 12, lengths: 3...9, vocabulary: 11, seed: 62), blocks: blocks)
        let ftFactors = try fitFactors(finetuned, labelledExamples(count: 12, lengths: 3...8, vocabulary: 11, seed: 65), blocks: blocks)
        let ptDamping = 1e-3, ftDamping = 3e-2
        let preconditioners = [EKFACPreconditioner(factors: ftFactors, damping: .absolute(ftDamping)),
                               EKFACPreconditioner(factors: ptFactors, damping: .absolute(ptDamping))]
        let queries = labelledExamples(count: 3, lengths: 4...9, vocabulary: 11, seed: 63)
        let documents = randomExamples(count: 5, lengths: 3...10, vocabulary: 11, seed: 64)
        let scores = try InfluenceScorer(model: finetuned, layouts: ftFactors.layouts, queries: queries, preconditioners: preconditioners)
            .score(model: pretrained, documents: documents).total
        let queryGradients = try GradientRunner(model: finetuned, layouts: ftFactors.layouts).moduleGradients(of: queries)
        let documentGradients = try GradientRunner(model: pretrained, layouts: ptFactors.layouts).moduleGradients(of: documents)
        /// Dense: q̃ = (G_second + λ)⁻¹ (G_first + λ)⁻¹ ∇f_ft, module by module.
        func dense(first: (EKFACFactors, Double), second: (EKFACFactors, Double)) -> [[Double]] {
            let preconditioned = queryGradients.map { modules in
                modules.enumerated().map { m, g in
                    denseInverseProduct(denseInverseProduct(g.map(Double.init), first.0, module: m, damping: first.1),
                                        second.0, module: m, damping: second.1)
                }
            }
            return denseScores(preconditioned, documentGradients).total
        }
        let expected = dense(first: (ftFactors, ftDamping), second: (ptFactors, ptDamping))
        expectScoresClose(scores, expected, tolerance: 5e-3, "multi-stage")
        let swappedPreconditioners = dense(first: (ptFactors, ptDamping), second: (ftFactors, ftDamping))
        let swappedDampings = dense(first: (ftFactors, ptDamping), second: (ptFactors, ftDamping))
        #expect(relativeError(swappedPreconditioners.joined().map { $0 }, expected.joined().map { $0 }) > 0.05)
        #expect(relativeError(swappedDampings.joined().map { $0 }, expected.joined().map { $0 }) > 0.05)
    }
}
