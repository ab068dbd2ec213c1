import Curvature
import Foundation
import Influence
import Models
import Numerics
import Testing
import TestSupport

/// (e) EK-FAC influence against influence with the exact damped Gauss–Newton matrix, built
/// densely in Float64 over every tracked weight of a micro model (896 parameters):
/// G = (1/N) Σₙ Σₜ Σ_y p(y | x≤t) ∇ℓₙₜ(y) ∇ℓₙₜ(y)ᵀ, every label enumerated, no sampling.
@Suite struct ExactInfluenceTests {
    static func spearman(_ a: [Double], _ b: [Double]) -> Double { Correlation.spearman(a, b) }

    @Test func ekfacRanksDocumentsLikeTheExactGaussNewton() throws {
        let model = microModel()
        let V = model.hyperparameters.vocabularySize
        let fitting = randomExamples(count: 12, lengths: 4...8, vocabulary: V, seed: 40)
        let layouts = model.moduleLayouts(.all, attentionBlocks: .fused, includeBias: false)
        let runner = GradientRunner(model: model, layouts: layouts)
        let P = layouts.reduce(0) { $0 + $1.parameterCount }
        func flat(_ gradients: [[Float]]) -> [Double] { gradients.flatMap { $0.map(Double.init) } }

        // The exact GGN, averaged over sequences as EK-FAC's Λ is.
        let ggn = Matrix<Double>(rows: P, cols: P)
        for example in fitting {
            for t in 0..<(example.tokens.count - 1) {
                let prefix = Array(example.tokens[0...t])
                let labelled = (0..<V).map { TokenizedExample(tokens: prefix + [$0], promptLength: t + 1) }
                let logProbabilities = try model.tokenLogProbabilities(labelled.map(\.tokens))
                let gradients = try runner.moduleGradients(of: labelled)
                for y in 0..<V {
                    let p = Foundation.exp(Double(logProbabilities[y][t])) / Double(fitting.count)
                    let g = flat(gradients[y])
                    for i in 0..<P where g[i] != 0 {
                        let pg = p * g[i]
                        for j in 0..<P { ggn.storage[i * P + j] += pg * g[j] }
                    }
                }
            }
        }
        let eigen = try SymmetricEigendecomposition(ggn)
        let meanEigenvalue = eigen.eigenvalues.reduce(0, +) / Double(P)
        // The same matrix with cross-module entries removed: what any block-diagonal
        // approximation aims at. Separates EK-FAC's own error from the block-diagonal one.
        var moduleOf = [Int](), offset = 0
        for (m, layout) in layouts.enumerated() { moduleOf += Array(repeating: m, count: layout.parameterCount); offset += layout.parameterCount }
        let blockDiagonal = Matrix<Double>(rows: P, cols: P) { i, j in moduleOf[i] == moduleOf[j] ? ggn[i, j] : 0 }
        let blockEigen = try SymmetricEigendecomposition(blockDiagonal)

        let queries = randomExamples(count: 4, lengths: 6...9, vocabulary: V, seed: 41, promptLength: 3)
        let documents = randomExamples(count: 40, lengths: 3...10, vocabulary: V, seed: 42)
        let queryGradients = try runner.moduleGradients(of: queries).map(flat)
        let documentGradients = try runner.moduleGradients(of: documents).map(flat)

        // EK-FAC fitted on the same sequences, each repeated so that sampling noise is small.
        let repeated = fitting.flatMap { [TokenizedExample](repeating: $0, count: 200) }
        var report: [String] = []
        for damping in [0.1 * meanEigenvalue, 0.01 * meanEigenvalue] {
            // Exact: (G + λI)⁻¹ ∇f through the eigendecomposition.
            func exactScores(_ q: [Double], _ eigen: SymmetricEigendecomposition<Double>) -> [Double] {
                var rotated = [Double](repeating: 0, count: P)
                for k in 0..<P {
                    var s = 0.0
                    for i in 0..<P { s += eigen.eigenvectors[i, k] * q[i] }
                    rotated[k] = s / (max(eigen.eigenvalues[k], 0) + damping)
                }
                var preconditioned = [Double](repeating: 0, count: P)
                for i in 0..<P { for k in 0..<P { preconditioned[i] += eigen.eigenvectors[i, k] * rotated[k] } }
                return documentGradients.map { d in zip(preconditioned, d).reduce(0) { $0 + $1.0 * $1.1 } }
            }
            let exact = queryGradients.map { exactScores($0, eigen) }
            let exactBlocks = queryGradients.map { exactScores($0, blockEigen) }
            func correlation(_ scores: [[Double]], _ reference: [[Double]]) -> Double {
                zip(scores, reference).map { Self.spearman($0, $1) }.reduce(0, +) / Double(reference.count)
            }
            var blockResults: [(String, Double)] = []
            var results: [(String, Double)] = []
            for blocks in [AttentionBlocks.perHead, .fused] {
                let factors = try fitFactors(model, repeated, blocks: blocks, batchSize: 64)
                for method in [PreconditionerMethod.ekfac, .kfac] {
                    let preconditioner = method.preconditioner(factors: factors, damping: .absolute(damping))
                    let scorer = try InfluenceScorer(model: model, layouts: factors.layouts, queries: queries, preconditioners: [preconditioner])
                    let scores = try scorer.score(model: model, documents: documents).total
                    results.append(("\(method.rawValue) \(blocks.rawValue)", correlation(scores, exact)))
                    blockResults.append(("\(method.rawValue) \(blocks.rawValue)", correlation(scores, exactBlocks)))
                }
            }
            let gdp = queryGradients.map { q in documentGradients.map { d in zip(q, d).reduce(0) { $0 + $1.0 * $1.1 } } }
            results.append(("gdp", correlation(gdp, exact)))
            blockResults.append(("gdp", correlation(gdp, exactBlocks)))
            blockResults.append(("exact full GGN", correlation(exact, exactBlocks)))
            report.append(String(format: "λ = %.3g × mean eigenvalue, vs exact GGN: ", damping / meanEigenvalue)
                          + results.map { String(format: "%@ %.3f", $0.0, $0.1) }.joined(separator: ", "))
            report.append(String(format: "λ = %.3g × mean eigenvalue, vs exact block-diagonal GGN: ", damping / meanEigenvalue)
                          + blockResults.map { String(format: "%@ %.3f", $0.0, $0.1) }.joined(separator: ", "))
            let ekfac = results.first { $0.0 == "ekfac per-head" }!.1
            #expect(ekfac > results.first { $0.0 == "gdp" }!.1 + 0.1, "EK-FAC should rank closer to the exact GGN than GDP")
            let ekfacBlocks = blockResults.first { $0.0 == "ekfac fused" }!.1
            #expect(ekfacBlocks > 0.65, "EK-FAC vs the exact block-diagonal GGN: Spearman \(ekfacBlocks)")
        }
        print("Spearman correlation with exact damped-GGN influence (4 queries × 40 documents, micro model):\n  " + report.joined(separator: "\n  "))
    }
}
