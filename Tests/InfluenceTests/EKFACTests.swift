import Curvature
import Foundation
import Influence
import Models
import Numerics
import Testing

@Suite struct EKFACTests {
    /// (a) The block-wise iHVP equals a dense damped inverse of the explicitly built EK-FAC matrix.
    @Test(arguments: [AttentionBlocks.perHead, .fused], [false, true])
    func inverseProductEqualsDenseInverse(blocks: AttentionBlocks, bias: Bool) throws {
        let model = microModel()
        let examples = randomExamples(count: 12, lengths: 3...9, vocabulary: 11, seed: 3)
        let factors = try fitFactors(model, examples, blocks: blocks, bias: bias)
        let damping = 1e-3
        let preconditioner = Preconditioner(factors: factors, method: .ekfac, damping: .absolute(damping))
        var rng = RandomGenerator(seed: 9)
        for (m, layout) in factors.layouts.enumerated() {
            var gradient = (0..<layout.parameterCount).map { _ in Float(rng.nextNormal()) }
            let original = gradient.map(Double.init)
            gradient.withUnsafeMutableBufferPointer { preconditioner.apply(module: m, to: $0.baseAddress!) }
            for (b, block) in layout.blocks.enumerated() {
                var dense = explicitEKFAC(factors, module: m, block: b)
                for i in dense.indices { dense[i][i] += damping }
                let w = layout.inputSize
                let range = (block.rows.lowerBound * w)..<(block.rows.upperBound * w)
                let expected = solveSPD(dense, Array(original[range]))
                let error = relativeError(gradient[range].map(Double.init), expected)
                #expect(error < 2e-3, "\(layout.name) \(block.name): relative error \(error)")
            }
        }
    }

    /// Per-head blocks are contiguous [head][q, k, v][head_dim] row ranges covering the fused
    /// matrix, and fused mode has one block.
    @Test func perHeadBlocksFollowTheFusedRowLayout() {
        let h = microModel().hyperparameters
        let perHead = ModuleLayout.gptNeoX(h, modules: .attention, attentionBlocks: .perHead, includeBias: false)
        let qkv = perHead[0]
        #expect(qkv.name == "gpt_neox.layers.0.attention.query_key_value")
        #expect(qkv.blocks.map(\.name) == ["head0.q", "head0.k", "head0.v", "head1.q", "head1.k", "head1.v"])
        #expect(qkv.blocks.map(\.rows) == [0..<4, 4..<8, 8..<12, 12..<16, 16..<20, 20..<24])
        #expect(perHead[1].blocks.count == 1)
        let fused = ModuleLayout.gptNeoX(h, modules: .all, attentionBlocks: .fused, includeBias: true)
        #expect(fused.count == 8 && fused.allSatisfy { $0.blocks.count == 1 && $0.inputSize == $0.module.inputSize + 1 })
    }

    /// (b) Fitted on a single token position, EK-FAC converges to the exact GGN block
    /// Σ_y p(y) vec(g_y aᵀ) vec(g_y aᵀ)ᵀ, computed here by enumerating every label y.
    @Test func singleTokenFitApproachesTheExactGaussNewtonBlock() throws {
        let model = microModel()
        let V = model.hyperparameters.vocabularySize
        let first = 3
        // Many copies of one two-token sequence: only row 0's target counts and is sampled.
        let copies = [TokenizedExample](repeating: TokenizedExample(tokens: [first, 0], promptLength: 1), count: 4000)
        let factors = try fitFactors(model, copies, blocks: .perHead, batchSize: 200)

        // p(y | first) and the gradient for every label y.
        let logProbabilities = try model.tokenLogProbabilities((0..<V).map { [first, $0] })
        let layouts = factors.layouts
        let runner = GradientRunner(model: model, layouts: layouts)
        let gradients = try runner.moduleGradients(of: (0..<V).map { TokenizedExample(tokens: [first, $0], promptLength: 1) })
        for (m, layout) in layouts.enumerated() {
            for (b, block) in layout.blocks.enumerated() where b < 2 {
                let w = layout.inputSize
                let range = (block.rows.lowerBound * w)..<(block.rows.upperBound * w)
                let n = range.count
                var exact = [Double](repeating: 0, count: n * n)
                for y in 0..<V {
                    let p = Foundation.exp(Double(logProbabilities[y][0]))
                    let g = gradients[y][m][range].map(Double.init)
                    for i in 0..<n { for j in 0..<n { exact[i * n + j] += p * g[i] * g[j] } }
                }
                let fitted = explicitEKFAC(factors, module: m, block: b).flatMap { $0 }
                let error = relativeError(fitted, exact)
                #expect(error < 0.08, "\(layout.name) \(block.name): EK-FAC vs exact GGN relative error \(error)")
            }
        }
    }

    /// The fit does not depend on how sequences are grouped into batches.
    @Test func factorsAreIndependentOfBatchSize() throws {
        let model = microModel()
        let examples = randomExamples(count: 10, lengths: 2...9, vocabulary: 11, seed: 4)
        let one = try fitFactors(model, examples, blocks: .perHead, batchSize: 1)
        let many = try fitFactors(model, examples, blocks: .perHead, batchSize: 7)
        #expect(one.covarianceTokenCount == many.covarianceTokenCount)
        #expect(one.correctionSequenceCount == 10)
        for m in one.eigenbases.indices {
            for b in one.correctedEigenvalues[m].indices {
                let error = relativeError(one.correctedEigenvalues[m][b].map(Double.init), many.correctedEigenvalues[m][b].map(Double.init))
                #expect(error < 1e-4)
            }
            #expect(relativeError(one.eigenbases[m].inputEigenvalues, many.eigenbases[m].inputEigenvalues) < 1e-5)
        }
    }
}
