import Curvature
import Foundation
import Models
import Numerics
import Testing
import TestSupport

/// `GaussNewtonProduct` against the Gauss–Newton matrix formed densely in Float64 on a micro
/// model: with every label of every counted target enumerated (`EnumeratedSequence`),
/// G = (1/S) Σ_sequences Σ_targets Σ_y p(y) ĝ_y ĝ_yᵀ, where ĝ_y is the weight gradient of
/// −log p(y), is Jᵀ(diag p − ppᵀ)J term by term.
@Suite struct GaussNewtonProductTests {
    /// G·v from the enumerated labels: (1/S) Σ p(y) ĝ_y ⟨ĝ_y, v⟩, per layout.
    static func denseProduct(_ model: DecoderModel, _ layouts: [ModuleLayout], _ examples: [TokenizedExample], _ v: [[Float]]) throws -> [[Double]] {
        var result = layouts.map { [Double](repeating: 0, count: $0.parameterCount) }
        for example in examples {
            let sequence = try EnumeratedSequence.languageModel(model, layouts, tokens: example.tokens)
            for term in sequence.terms {
                for label in term {
                    // ĝ per layout: Σ_rows g ⊗ a (the inputs carry the bias column).
                    let gradients = layouts.indices.map { m -> [Double] in
                        let layout = layouts[m], width = layout.inputSize
                        var g = [Double](repeating: 0, count: layout.parameterCount)
                        for (row, outputs) in label.gradients[m].enumerated() {
                            let inputs = sequence.inputs[m][row]
                            for o in 0..<layout.outputSize where outputs[o] != 0 {
                                for i in 0..<width { g[o * width + i] += outputs[o] * inputs[i] }
                            }
                        }
                        return g
                    }
                    let dot = zip(gradients, v).reduce(0.0) { total, pair in total + zip(pair.0, pair.1).reduce(0.0) { $0 + $1.0 * Double($1.1) } }
                    for m in layouts.indices {
                        for i in result[m].indices { result[m][i] += label.probability * dot * gradients[m][i] }
                    }
                }
            }
        }
        return result.map { $0.map { $0 / Double(examples.count) } }
    }

    /// The dense G (Float64, from the enumerated labels): its columns are G·eᵢ.
    static func denseMatrix(_ model: DecoderModel, _ layouts: [ModuleLayout], _ examples: [TokenizedExample]) throws -> [[Double]] {
        let size = layouts.reduce(0) { $0 + $1.parameterCount }
        func unit(_ i: Int) -> [[Float]] {
            var offset = 0
            return layouts.map { layout in
                defer { offset += layout.parameterCount }
                return (0..<layout.parameterCount).map { offset + $0 == i ? 1 : 0 }
            }
        }
        var dense = [[Double]](repeating: [Double](repeating: 0, count: size), count: size)
        for i in 0..<size {
            let column = Array(try denseProduct(model, layouts, examples, unit(i)).joined())
            for j in 0..<size { dense[j][i] = column[j] }
        }
        return dense
    }

    static func randomDirection(_ layouts: [ModuleLayout], seed: UInt64) -> [[Float]] {
        var rng = RandomGenerator(seed: seed)
        return layouts.map { (0..<$0.parameterCount).map { _ in Float(rng.nextNormal()) } }
    }

    @Test(arguments: [ModuleSelection.all, .mlp, .attention])
    func productsEqualTheEnumeratedGaussNewton(selection: ModuleSelection) throws {
        let model = microModel()
        let layouts = model.moduleLayouts(selection, attentionBlocks: .perHead, includeBias: true)
        let examples = randomExamples(count: 3, lengths: 3...6, vocabulary: 11, seed: 8)
        let product = try GaussNewtonProduct(model: model, layouts: layouts, examples: examples, batchSize: 2)
        #expect(product.sequenceCount == 3)
        let v = Self.randomDirection(layouts, seed: 3)
        let expected = try Self.denseProduct(model, layouts, examples, v)
        let actual = product.apply(v)
        let flatExpected = Array(expected.joined()), flatActual = Array(actual.joined())
        let error = frobeniusDistance(flatActual, flatExpected) / frobeniusNorm(flatExpected)
        // Measured: 2e-7 to 5e-7 (Float32 passes against Float64 sums of Float32 gradients).
        #expect(error <= 2e-6, "relative error \(error)")
        // Damping adds λv; the batch size does not matter.
        let damped = product.apply(v, damping: 0.5)
        let flatDamped = Array(damped.joined()), flatV = Array(v.joined())
        let dampingError = flatDamped.indices.map { i -> Double in abs(flatDamped[i] - flatActual[i] - 0.5 * Double(flatV[i])) }.max()!
        #expect(dampingError <= 1e-12)
        let oneByOne = try GaussNewtonProduct(model: model, layouts: layouts, examples: examples, batchSize: 1).apply(v)
        #expect(frobeniusDistance(Array(oneByOne.joined()), flatActual) <= 1e-6 * frobeniusNorm(flatActual))
    }

    /// G is symmetric positive semi-definite: ⟨u, Gv⟩ = ⟨v, Gu⟩ and ⟨v, Gv⟩ ≥ 0.
    @Test func productsAreSymmetricAndPositive() throws {
        let model = microModel()
        let layouts = model.moduleLayouts(.all, attentionBlocks: .perHead, includeBias: false)
        let examples = randomExamples(count: 4, lengths: 4...8, vocabulary: 11, seed: 9, promptLength: 2)
        let product = try GaussNewtonProduct(model: model, layouts: layouts, examples: examples, batchSize: 3)
        let u = Self.randomDirection(layouts, seed: 1), v = Self.randomDirection(layouts, seed: 2)
        func dot(_ a: [[Float]], _ b: [[Double]]) -> Double { zip(a.joined(), b.joined()).reduce(0) { $0 + Double($1.0) * $1.1 } }
        let uGv = dot(u, product.apply(v)), vGu = dot(v, product.apply(u))
        #expect(abs(uGv - vGu) <= 1e-5 * max(abs(uGv), 1e-12), "\(uGv) vs \(vGu)")
        #expect(dot(v, product.apply(v)) > 0)
    }

    /// CG solves (G + λI)x = b to its tolerance: x equals the dense Float64 solve with G formed
    /// from every enumerated label; too few iterations is an error naming the residual reached.
    @Test func conjugateGradientsSolveTheDampedSystem() throws {
        let model = microModel()
        let layouts = model.moduleLayouts(.mlp, attentionBlocks: .fused, includeBias: false)
        let examples = randomExamples(count: 3, lengths: 3...6, vocabulary: 11, seed: 8)
        let product = try GaussNewtonProduct(model: model, layouts: layouts, examples: examples, batchSize: 2)
        let damping = 0.05
        var dense = try Self.denseMatrix(model, layouts, examples)
        let size = dense.count
        for i in 0..<size { dense[i][i] += damping }
        var rng = RandomGenerator(seed: 12)
        let b = (0..<size).map { _ in rng.nextNormal() }
        let expected = solveSPD(dense, b)
        let cg = try ConjugateGradientPreconditioner(product: product, damping: damping, tolerance: 1e-6)
        let x = try cg.solve(b)
        let error = frobeniusDistance(x, expected) / frobeniusNorm(expected)
        // Measured: 1.4e-7 after 130 iterations.
        #expect(error <= 1e-6, "relative error \(error) after \(cg.solves.last!.iterations) iterations")
        #expect(cg.solves.last!.residual <= 1e-6)

        let short = try ConjugateGradientPreconditioner(product: product, damping: damping, tolerance: 1e-6, maxIterations: 2)
        #expect(performing: { _ = try short.solve(b) }, throws: { "\($0)".contains("cg did not converge within 2 iterations: relative residual") })
        #expect(performing: { _ = try ConjugateGradientPreconditioner(product: product, damping: 0) },
                throws: { "\($0)".contains("positive absolute damping") })
    }

    /// Preconditioned CG (EK-FAC's inverse as M⁻¹, fitted on the same data) reaches the same
    /// dense solve as plain CG; a preconditioner of other modules is refused.
    @Test func preconditionedConjugateGradientsSolveTheSameSystem() throws {
        let model = microModel()
        let layouts = model.moduleLayouts(.mlp, attentionBlocks: .fused, includeBias: false)
        let examples = randomExamples(count: 6, lengths: 3...6, vocabulary: 11, seed: 8)
        let product = try GaussNewtonProduct(model: model, layouts: layouts, examples: examples, batchSize: 2)
        let damping = 0.01
        var dense = try Self.denseMatrix(model, layouts, examples)
        for i in dense.indices { dense[i][i] += damping }
        var rng = RandomGenerator(seed: 13)
        let b = (0..<dense.count).map { _ in rng.nextNormal() }
        let expected = solveSPD(dense, b)
        let fitter = FactorFitter(model: model, layouts: layouts, batchSize: 2, seed: 1)
        let covariances = try fitter.accumulateCovariances(examples)
        let factors = try fitter.correctEigenvalues(examples, eigenbases: FactorFitter.eigenbases(covariances), covariances: covariances)
        let ekfac = EKFACPreconditioner(factors: factors, damping: .absolute(damping))
        let plain = try ConjugateGradientPreconditioner(product: product, damping: damping, tolerance: 1e-5)
        let preconditioned = try ConjugateGradientPreconditioner(product: product, damping: damping, tolerance: 1e-5, preconditioner: ekfac)
        let xPlain = try plain.solve(b)
        let x = try preconditioned.solve(b)
        let error = frobeniusDistance(x, expected) / frobeniusNorm(expected)
        let plainError = frobeniusDistance(xPlain, expected) / frobeniusNorm(expected)
        #expect(error <= 1e-4, "relative error \(error)")
        #expect(plainError <= 1e-4)
        // Measured: 4.5e-6 (345 iterations) and 2.7e-6 (122 plain): EK-FAC fitted with sampled
        // labels on six short sequences is a poor M here; its speed-up is measured on bench scalability.
        let attention = IdentityPreconditioner(layouts: model.moduleLayouts(.attention, attentionBlocks: .fused, includeBias: false))
        #expect(performing: { _ = try ConjugateGradientPreconditioner(product: product, damping: damping, preconditioner: attention) },
                throws: { "\($0)".contains("modules differ") })
    }

    /// LiSSA with one batch (the exact G at every step), a scale above G's largest eigenvalue
    /// and enough depth converges to the dense solve; too small a scale diverges, an error.
    @Test func lissaConvergesToTheDampedSolve() throws {
        let model = microModel()
        let layouts = model.moduleLayouts(.mlp, attentionBlocks: .fused, includeBias: false)
        let examples = randomExamples(count: 3, lengths: 3...6, vocabulary: 11, seed: 8)
        let product = try GaussNewtonProduct(model: model, layouts: layouts, examples: examples, batchSize: 3)
        let damping = 0.5
        var dense = try Self.denseMatrix(model, layouts, examples)
        for i in dense.indices { dense[i][i] += damping }
        let largest = SymmetricEigenvaluesForTest.largest(dense)
        var rng = RandomGenerator(seed: 4)
        let b = (0..<dense.count).map { _ in rng.nextNormal() }
        let expected = solveSPD(dense, b)
        // The error shrinks as (1 − (λ_min + λ)/scale)^depth, λ_min + λ ≥ 0.5: enough depth for 1e-7.
        let scale = 1.2 * largest
        let depth = Int((Foundation.log(1e-7) / Foundation.log(1 - damping / scale)).rounded(.up))
        let lissa = try LiSSAPreconditioner(product: product, damping: damping, depth: depth, scale: scale)
        let x = try lissa.solve(b)
        let error = frobeniusDistance(x, expected) / frobeniusNorm(expected)
        #expect(error <= 1e-5, "relative error \(error) after \(depth) steps")
        let diverging = try LiSSAPreconditioner(product: product, damping: damping, depth: depth, scale: 0.2 * largest)
        #expect(performing: { _ = try diverging.solve(b) }, throws: { "\($0)".contains("lissa diverged at step") })
    }

    /// Arnoldi run until the Krylov space is exhausted finds every nonzero eigenpair of G; its
    /// preconditioned query equals the dense spectral formula over them, and its top
    /// eigenvalues are the dense ones.
    @Test func arnoldiFindsTheTopEigenpairs() throws {
        let model = microModel()
        let layouts = model.moduleLayouts(.mlp, attentionBlocks: .fused, includeBias: false)
        let examples = randomExamples(count: 3, lengths: 3...6, vocabulary: 11, seed: 8)
        let product = try GaussNewtonProduct(model: model, layouts: layouts, examples: examples, batchSize: 3)
        let dense = try Self.denseMatrix(model, layouts, examples)
        let n = dense.count
        let eigen = try SymmetricEigendecomposition(Matrix<Double>(rows: n, cols: n) { dense[$0][$1] })
        let top = Array(eigen.eigenvalues.reversed())
        let arnoldi = try ArnoldiPreconditioner(product: product, damping: 0.1, iterations: n, rank: 10, seed: 2)
        for k in 0..<10 {
            #expect(abs(arnoldi.eigenvalues[k] - top[k]) <= 1e-5 * top[0], "eigenvalue \(k): \(arnoldi.eigenvalues[k]) vs \(top[k])")
        }
        // The preconditioned query over the kept span, against the dense formula over the same 10 pairs.
        var rng = RandomGenerator(seed: 6)
        let q = (0..<n).map { _ in Float(rng.nextNormal()) }
        var expected = [Double](repeating: 0, count: n)
        for k in 0..<10 {
            let column = n - 1 - k
            let u = (0..<n).map { eigen.eigenvectors[$0, column] }
            let c = zip(u, q).reduce(0.0) { $0 + $1.0 * Double($1.1) } / (top[k] + 0.1)
            for i in 0..<n { expected[i] += c * u[i] }
        }
        var copy = q
        try copy.withUnsafeMutableBufferPointer { buffer in
            var offset = 0
            let pointers = layouts.map { layout -> UnsafeMutablePointer<Float> in
                defer { offset += layout.parameterCount }
                return buffer.baseAddress! + offset
            }
            try arnoldi.apply(toAll: pointers)
        }
        let error = frobeniusDistance(copy.map(Double.init), expected) / frobeniusNorm(expected)
        #expect(error <= 1e-4, "relative error \(error)")
    }
}

/// The largest eigenvalue of a dense symmetric matrix.
enum SymmetricEigenvaluesForTest {
    static func largest(_ m: [[Double]]) -> Double {
        let n = m.count
        return (try? SymmetricEigendecomposition(Matrix<Double>(rows: n, cols: n) { m[$0][$1] }))?.eigenvalues.last ?? .nan
    }
}
