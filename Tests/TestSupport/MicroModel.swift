import Curvature
import Influence
import Models
import Numerics
import Testing

/// A micro GPT-NeoX with every feature on and weights large enough that all of them matter.
public func microModel(seed: UInt64 = 21) -> DecoderModel {
    let h = DecoderHyperparameters(
        vocabularySize: 11, hiddenSize: 8, headCount: 2, intermediateSize: 12, layerCount: 2, maxPositions: 16,
        rotaryFraction: 0.5, parallelResidual: true, activation: .exact, attentionBias: true)
    let model = DecoderModel(hyperparameters: h, seed: seed, initializerRange: 0.4)
    var rng = RandomGenerator(seed: seed + 1)
    for entry in model.parameters.entries where entry.shape.count == 1 {
        let base: Float = entry.name.hasSuffix("weight") ? 1 : 0
        for i in 0..<entry.count { model.parameters.values[entry.offset + i] = base + 0.2 * Float(rng.nextNormal()) }
    }
    return model
}

/// A sequence classifier (3 labels) whose backbone is `backbone`'s, perturbed by noise of
/// standard deviation `perturbation` on every matrix, with a new random head: a fine-tuned
/// model with a different head.
public func microClassifier(backboneOf backbone: DecoderModel, perturbation: Float = 0.1, seed: UInt64 = 90) -> DecoderModel {
    var h = backbone.hyperparameters
    h.classifierLabels = 3
    let model = DecoderModel(hyperparameters: h, seed: seed, initializerRange: 0.4)
    var rng = RandomGenerator(seed: seed + 1)
    for entry in model.parameters.entries {
        guard let source = backbone.parameters.entries.first(where: { $0.name == entry.name }) else { continue }
        for i in 0..<entry.count {
            let noise = entry.shape.count == 2 ? perturbation * Float(rng.nextNormal()) : 0
            model.parameters.values[entry.offset + i] = backbone.parameters.values[source.offset + i] + noise
        }
    }
    return model
}

public func labelledExamples(count: Int, lengths: ClosedRange<Int>, vocabulary: Int, seed: UInt64, labels: Int = 3) -> [TokenizedExample] {
    randomExamples(count: count, lengths: lengths, vocabulary: vocabulary, seed: seed).enumerated().map {
        TokenizedExample(tokens: $1.tokens, label: ($0 * 7 + 1) % labels)
    }
}

public func randomExamples(count: Int, lengths: ClosedRange<Int>, vocabulary: Int, seed: UInt64, promptLength: Int = 0) -> [TokenizedExample] {
    var rng = RandomGenerator(seed: seed)
    return (0..<count).map { _ in
        let n = lengths.lowerBound + rng.nextInt(below: lengths.count)
        return TokenizedExample(tokens: (0..<n).map { _ in rng.nextInt(below: vocabulary) }, promptLength: min(promptLength, n - 1))
    }
}

public func fitFactors(_ model: DecoderModel, _ examples: [TokenizedExample], blocks: AttentionBlocks, bias: Bool = false,
                modules: ModuleSelection = .all, batchSize: Int = 4, seed: UInt64 = 5) throws -> EKFACFactors {
    let layouts = model.moduleLayouts(modules, attentionBlocks: blocks, includeBias: bias)
    let fitter = FactorFitter(model: model, layouts: layouts, batchSize: batchSize, seed: seed)
    let covariances = try fitter.accumulateCovariances(examples)
    return try fitter.correctEigenvalues(examples, eigenbases: FactorFitter.eigenbases(covariances), covariances: covariances)
}

/// Solves M x = b for a dense symmetric positive definite M (Float64, Cholesky).
public func solveSPD(_ m: [[Double]], _ b: [Double]) -> [Double] {
    let n = b.count
    var l = [[Double]](repeating: [Double](repeating: 0, count: n), count: n)
    for i in 0..<n {
        for j in 0...i {
            var sum = m[i][j]
            for k in 0..<j { sum -= l[i][k] * l[j][k] }
            l[i][j] = i == j ? sum.squareRoot() : sum / l[j][j]
        }
    }
    var y = [Double](repeating: 0, count: n)
    for i in 0..<n {
        var sum = b[i]
        for k in 0..<i { sum -= l[i][k] * y[k] }
        y[i] = sum / l[i][i]
    }
    var x = [Double](repeating: 0, count: n)
    for i in stride(from: n - 1, through: 0, by: -1) {
        var sum = y[i]
        for k in (i + 1)..<n { sum -= l[k][i] * x[k] }
        x[i] = sum / l[i][i]
    }
    return x
}

/// The explicit curvature matrix of block b of module m: (Q_S ⊗ Q_A) diag(λ) (Q_S ⊗ Q_A)ᵀ over
/// the block's weights in row-major order (index i · inputSize + j), with λ = Λ for EK-FAC and
/// the Kronecker eigenvalues T · λ_S,i λ_A,j for K-FAC (T = counted tokens per sequence).
public func explicitEKFAC(_ factors: EKFACFactors, module m: Int, block b: Int, method: PreconditionerMethod = .ekfac) -> [[Double]] {
    let basis = factors.eigenbases[m]
    let w = basis.layout.inputSize, d = basis.layout.blocks[b].size, n = d * w
    let qS = basis.outputEigenvectors[b], qA = basis.inputEigenvectors
    let lambda: [Double]
    if method == .kfac {
        let T = Double(factors.covarianceTokenCount) / Double(factors.covarianceSequenceCount)
        lambda = basis.outputEigenvalues[b].flatMap { s in basis.inputEigenvalues.map { a in T * max(s, 0) * max(a, 0) } }
    } else {
        lambda = factors.correctedEigenvalues[m][b].map(Double.init)
    }
    // K[(k,l), (i,j)] = Q_S[i,k] Q_A[j,l]: the rotation into the eigenbasis; M = Kᵀ diag(λ) K.
    var k = [Double](repeating: 0, count: n * n)
    for kk in 0..<d { for ll in 0..<w { for i in 0..<d { for j in 0..<w {
        k[(kk * w + ll) * n + i * w + j] = Double(qS[i, kk]) * Double(qA[j, ll])
    } } } }
    var scaled = k
    for r in 0..<n { for c in 0..<n { scaled[r * n + c] *= lambda[r] } }
    var result = [Double](repeating: 0, count: n * n)
    k.withUnsafeBufferPointer { kp in
        scaled.withUnsafeBufferPointer { sp in
            result.withUnsafeMutableBufferPointer { rp in
                Double.gemm(.transposed, .none, m: n, n: n, k: n, alpha: 1, a: kp.baseAddress!, lda: n, b: sp.baseAddress!, ldb: n,
                            beta: 0, c: rp.baseAddress!, ldc: n)
            }
        }
    }
    return (0..<n).map { Array(result[($0 * n)..<(($0 + 1) * n)]) }
}

/// (G + λI)⁻¹ v for one module's gradient, block by block, with the explicit curvature matrix
/// of each block solved densely (Cholesky, Float64).
public func denseInverseProduct(_ gradient: [Double], _ factors: EKFACFactors, module m: Int, damping: Double,
                         method: PreconditionerMethod = .ekfac) -> [Double] {
    let layout = factors.layouts[m]
    var result = gradient
    for (b, block) in layout.blocks.enumerated() {
        var dense = explicitEKFAC(factors, module: m, block: b, method: method)
        for i in dense.indices { dense[i][i] += damping }
        let range = (block.rows.lowerBound * layout.inputSize)..<(block.rows.upperBound * layout.inputSize)
        result.replaceSubrange(range, with: solveSPD(dense, Array(gradient[range])))
    }
    return result
}

/// Scores [query][document] and per module [module][query][document] as plain Float64 dot
/// products of already preconditioned query gradients and raw document gradients, both [item][module][entry].
public func denseScores(_ queries: [[[Double]]], _ documents: [[[Float]]]) -> (total: [[Double]], perModule: [[[Double]]]) {
    let modules = queries.first?.count ?? 0
    let perModule = (0..<modules).map { m in
        queries.map { q in documents.map { d in zip(q[m], d[m]).reduce(0.0) { $0 + $1.0 * Double($1.1) } } }
    }
    let total = queries.indices.map { q in documents.indices.map { d in perModule.reduce(0.0) { $0 + $1[q][d] } } }
    return (total, perModule)
}

/// A relative tolerance with a floor tied to the scale of all scores: |a − b| ≤ tolerance ×
/// max(|b|, 10⁻³ × max |scores|), so a score near zero is held to the others' precision and
/// not to an absolute 1.
/// Each score within `tolerance` of max(|expected|, floor × the largest |expected|): relative,
/// except that scores much smaller than the largest are held to the largest's `floor` share.
public func expectScoresClose(_ actual: [[Double]], _ expected: [[Double]], tolerance: Double, _ what: String, floor: Double = 1e-3,
                       sourceLocation: SourceLocation = #_sourceLocation) {
    let scale = expected.joined().map(abs).max() ?? 0
    #expect(scale > 0, "\(what): all expected scores are zero", sourceLocation: sourceLocation)
    for (q, row) in expected.enumerated() {
        for (d, value) in row.enumerated() {
            let difference = abs(actual[q][d] - value)
            #expect(difference <= tolerance * max(abs(value), floor * scale),
                    "\(what) [\(q)][\(d)]: \(actual[q][d]) vs \(value)", sourceLocation: sourceLocation)
        }
    }
}

public func relativeError(_ a: [Double], _ b: [Double]) -> Double {
    var difference = 0.0, norm = 0.0
    for (x, y) in zip(a, b) { difference += (x - y) * (x - y); norm += y * y }
    return (difference / max(norm, 1e-300)).squareRoot()
}
