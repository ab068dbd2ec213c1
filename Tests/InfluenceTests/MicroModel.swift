import Curvature
import Models
import Numerics

/// A micro GPT-NeoX with every feature on and weights large enough that all of them matter.
func microModel(seed: UInt64 = 21) -> GPTNeoXModel {
    let h = GPTNeoXHyperparameters(
        vocabularySize: 11, hiddenSize: 8, headCount: 2, intermediateSize: 12, layerCount: 2, maxPositions: 16,
        rotaryFraction: 0.5, parallelResidual: true, activation: .exact, attentionBias: true)
    let model = GPTNeoXModel(hyperparameters: h, seed: seed, initializerRange: 0.4)
    var rng = RandomGenerator(seed: seed + 1)
    for entry in model.parameters.entries where entry.shape.count == 1 {
        let base: Float = entry.name.hasSuffix("weight") ? 1 : 0
        for i in 0..<entry.count { model.parameters.values[entry.offset + i] = base + 0.2 * Float(rng.nextNormal()) }
    }
    return model
}

func randomExamples(count: Int, lengths: ClosedRange<Int>, vocabulary: Int, seed: UInt64, promptLength: Int = 0) -> [TokenizedExample] {
    var rng = RandomGenerator(seed: seed)
    return (0..<count).map { _ in
        let n = lengths.lowerBound + rng.nextInt(below: lengths.count)
        return TokenizedExample(tokens: (0..<n).map { _ in rng.nextInt(below: vocabulary) }, promptLength: min(promptLength, n - 1))
    }
}

func fitFactors(_ model: GPTNeoXModel, _ examples: [TokenizedExample], blocks: AttentionBlocks, bias: Bool = false,
                modules: ModuleSelection = .all, batchSize: Int = 4, seed: UInt64 = 5) throws -> EKFACFactors {
    let layouts = ModuleLayout.gptNeoX(model.hyperparameters, modules: modules, attentionBlocks: blocks, includeBias: bias)
    let fitter = FactorFitter(model: model, layouts: layouts, batchSize: batchSize, seed: seed)
    let covariances = try fitter.accumulateCovariances(examples)
    return try fitter.correctEigenvalues(examples, eigenbases: FactorFitter.eigenbases(covariances), covariances: covariances)
}

/// Solves M x = b for a dense symmetric positive definite M (Float64, Cholesky).
func solveSPD(_ m: [[Double]], _ b: [Double]) -> [Double] {
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

/// The explicit EK-FAC matrix of block b of module m: (Q_S ⊗ Q_A) diag(Λ) (Q_S ⊗ Q_A)ᵀ over
/// the block's weights in row-major order (index i · inputSize + j).
func explicitEKFAC(_ factors: EKFACFactors, module m: Int, block b: Int) -> [[Double]] {
    let basis = factors.eigenbases[m]
    let w = basis.layout.inputSize, d = basis.layout.blocks[b].size, n = d * w
    let qS = basis.outputEigenvectors[b], qA = basis.inputEigenvectors
    let lambda = factors.correctedEigenvalues[m][b]
    // K[(k,l), (i,j)] = Q_S[i,k] Q_A[j,l]: the rotation into the eigenbasis.
    var k = [[Double]](repeating: [Double](repeating: 0, count: n), count: n)
    for kk in 0..<d { for ll in 0..<w { for i in 0..<d { for j in 0..<w {
        k[kk * w + ll][i * w + j] = Double(qS[i, kk]) * Double(qA[j, ll])
    } } } }
    var result = [[Double]](repeating: [Double](repeating: 0, count: n), count: n)
    for r in 0..<n {
        let weight = Double(lambda[r])
        for p in 0..<n where k[r][p] != 0 {
            let kp = k[r][p] * weight
            for q in 0..<n { result[p][q] += kp * k[r][q] }
        }
    }
    return result
}

func relativeError(_ a: [Double], _ b: [Double]) -> Double {
    var difference = 0.0, norm = 0.0
    for (x, y) in zip(a, b) { difference += (x - y) * (x - y); norm += y * y }
    return (difference / max(norm, 1e-300)).squareRoot()
}
