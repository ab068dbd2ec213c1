import Curvature
import Foundation
import Influence
import Models
import Numerics
import Testing

/// The module inputs aₜ (with the bias column when the layout has one) and output gradients gₜ
/// of every row of one backward pass, copied from the taps in Float64.
public final class TapRecorder: LinearModuleTapObserver {
    public let layouts: [ModuleLayout]
    private let router: ModuleRouter
    /// [layout][row][inputSize] and [layout][row][outputSize].
    public private(set) var inputs: [[[Double]]]
    public private(set) var gradients: [[[Double]]]

    public init(layouts: [ModuleLayout]) {
        self.layouts = layouts
        router = ModuleRouter(layouts)
        inputs = layouts.map { _ in [] }
        gradients = layouts.map { _ in [] }
    }

    public func observe(_ tap: LinearModuleTap) {
        guard let m = router.position(of: tap) else { return }
        let bias: [Double] = layouts[m].includesBias ? [1] : []
        inputs[m] = (0..<tap.tokenCount).map { t in (0..<tap.inputSize).map { Double(tap.inputs[t * tap.inputSize + $0]) } + bias }
        gradients[m] = (0..<tap.tokenCount).map { t in (0..<tap.outputSize).map { Double(tap.outputGradients[t * tap.outputSize + $0]) } }
    }

    /// Forward and backward of the loss on `example`'s counted targets (its true next tokens or
    /// its label), recording every row.
    public static func record(_ model: DecoderModel, _ layouts: [ModuleLayout], _ example: TokenizedExample) throws -> TapRecorder {
        let recorder = TapRecorder(layouts: layouts)
        try GradientRunner(model: model, layouts: layouts).run([example], observer: recorder)
        return recorder
    }
}

/// One fitting sequence with every label of the Fisher enumerated.
///
/// EK-FAC samples one label per counted loss term (a next-token position, or a classifier's
/// label), independently; the pass's pseudo-gradient at row t is the sum over terms of that
/// term's labelled gradient. `terms[k][y]` holds term k's probability p(y) and the per-row
/// output gradients of −log p(y) alone, over the rows of the whole sequence.
public struct EnumeratedSequence {
    public struct Label {
        public let probability: Double
        /// [layout][row][outputSize].
        public let gradients: [[[Double]]]
    }

    /// [layout][row][inputSize].
    public let inputs: [[[Double]]]
    /// The rows that enter A and S, as the model's API reports them for this sequence.
    public let covarianceRows: [Int]
    public let terms: [[Label]]

    /// A plain-text sequence of a language model: term s is the target of row s; its labelled
    /// gradient comes from the prefix tokens[0...s] followed by y, with only row s counted
    /// (rows after s do not reach rows ≤ s in a causal model).
    public static func languageModel(_ model: DecoderModel, _ layouts: [ModuleLayout], tokens: [Int]) throws -> EnumeratedSequence {
        let V = model.hyperparameters.vocabularySize, T = tokens.count
        let example = TokenizedExample(tokens: tokens)
        let whole = try TapRecorder.record(model, layouts, example)
        var terms: [[Label]] = []
        for s in 0..<(T - 1) {
            let prefix = Array(tokens[0...s])
            let logProbabilities = try model.tokenLogProbabilities((0..<V).map { prefix + [$0] })
            terms.append(try (0..<V).map { y in
                let recorded = try TapRecorder.record(model, layouts, TokenizedExample(tokens: prefix + [y], promptLength: s + 1))
                let padded = zip(layouts, recorded.gradients).map { layout, rows in
                    rows + Array(repeating: [Double](repeating: 0, count: layout.outputSize), count: T - rows.count)
                }
                return Label(probability: Foundation.exp(Double(logProbabilities[y][s])), gradients: padded)
            })
        }
        return EnumeratedSequence(inputs: whole.inputs, covarianceRows: try rows(model, example), terms: terms)
    }

    /// A classifier's sequence: one term, its label.
    public static func classifier(_ model: DecoderModel, _ layouts: [ModuleLayout], tokens: [Int]) throws -> EnumeratedSequence {
        let labels = model.hyperparameters.classifierLabels!
        let example = TokenizedExample(tokens: tokens, label: 0)
        let whole = try TapRecorder.record(model, layouts, example)
        let activations = DecoderActivations(hyperparameters: model.hyperparameters)
        model.forward(TokenBatch(examples: [example]), activations)
        let logits = (0..<labels).map { Double(activations.logits[$0]) }
        let top = logits.max()!, normaliser = logits.reduce(0) { $0 + Foundation.exp($1 - top) }
        let term = try (0..<labels).map { y in
            Label(probability: Foundation.exp(logits[y] - top) / normaliser,
                  gradients: try TapRecorder.record(model, layouts, TokenizedExample(tokens: tokens, label: y)).gradients)
        }
        return EnumeratedSequence(inputs: whole.inputs, covarianceRows: try rows(model, example), terms: [term])
    }

    private static func rows(_ model: DecoderModel, _ example: TokenizedExample) throws -> [Int] {
        let batch = TokenBatch(examples: [example])
        return model.covarianceRows(batch, targets: try model.lossTargets(batch, examples: [example]))
    }

    /// Every joint labelling of the terms with its probability: [(probability, label per term)].
    public var labellings: [(Double, [Int])] {
        var result: [(Double, [Int])] = [(1, [])]
        for term in terms {
            result = result.flatMap { p, labels in term.indices.map { (p * term[$0].probability, labels + [$0]) } }
        }
        return result
    }
}

/// What EK-FAC estimates, computed exactly from every label of each fitting sequence
/// (DESIGN §4):
/// * A = the mean of a aᵀ over the covariance rows (deterministic),
/// * S = the mean over the covariance rows of E_y[g gᵀ], enumerating every joint labelling,
/// * Λ = the mean over sequences of E_y[(Q_Sᵀ G Q_A)²] in a given eigenbasis. G = Σₖ Zₖ sums
///   independent per-term gradients, so E[(ΣZₖ)²] = (Σ E Zₖ)² + Σ Var Zₖ entry by entry,
///   computed from each term's own labels,
/// and, for S and Λ, the standard deviation σ (Frobenius norm) of their estimate from one
/// sampled labelling per sequence: a fit on K copies of each sequence has deviation σ/√K.
/// (Λ's σ uses E Zₖ = 0, true of a score's expectation: E_y ∇log p(y) = 0.)
public struct FisherExpectations {
    /// [layout] (inputSize², row-major).
    public var inputCovariances: [[Double]] = []
    /// [layout][block] (size², row-major), and σ.
    public var outputCovariances: [[[Double]]] = []
    public var outputDeviations: [[Double]] = []
    /// [layout][block] (size × inputSize, row-major) in the given eigenbases, and σ.
    public var eigenvalues: [[[Double]]] = []
    public var eigenvalueDeviations: [[Double]] = []
    /// [layout][block] with `gaussNewton`: the exact Gauss–Newton block (1/N) Σₙ E_y[vec Gₙ vec Gₙᵀ]
    /// ((size · inputSize)², row-major).
    public var gaussNewtonBlocks: [[[Double]]] = []

    public init(sequences: [EnumeratedSequence], eigenbases: [ModuleEigenbasis], gaussNewton: Bool = false) {
        let rowCount = Double(sequences.reduce(0) { $0 + $1.covarianceRows.count }), N = Double(sequences.count)
        let labellings = sequences.map(\.labellings)
        for (m, basis) in eigenbases.enumerated() {
            let layout = basis.layout, w = layout.inputSize
            var a = [Double](repeating: 0, count: w * w)
            for sequence in sequences {
                for t in sequence.covarianceRows {
                    let x = sequence.inputs[m][t]
                    for i in 0..<w { for j in 0..<w { a[i * w + j] += x[i] * x[j] / rowCount } }
                }
            }
            inputCovariances.append(a)
            let qA = basis.inputEigenvectors
            var moduleS: [[Double]] = [], moduleSDeviation: [Double] = [], moduleL: [[Double]] = [], moduleLDeviation: [Double] = []
            var moduleG: [[Double]] = []
            for (b, block) in layout.blocks.enumerated() {
                let d = block.size, n = d * w, qS = basis.outputEigenvectors[b]
                var s = [Double](repeating: 0, count: d * d), sVariance = 0.0
                var l = [Double](repeating: 0, count: n), lVariance = 0.0
                var g = [Double](repeating: 0, count: gaussNewton ? n * n : 0)
                for (index, sequence) in sequences.enumerated() {
                    let T = sequence.inputs[m].count
                    // S: every joint labelling's pseudo-gradient rows gₜ = Σₖ gₜ,ₖ(yₖ).
                    var sMean = [Double](repeating: 0, count: d * d), sSecond = 0.0
                    for (p, labels) in labellings[index] {
                        var rows = [[Double]](repeating: [Double](repeating: 0, count: d), count: T)
                        for (k, y) in labels.enumerated() {
                            let gradients = sequence.terms[k][y].gradients[m]
                            for t in 0..<T { for i in 0..<d { rows[t][i] += gradients[t][block.rows.lowerBound + i] } }
                        }
                        var x = [Double](repeating: 0, count: d * d)
                        for t in sequence.covarianceRows { for i in 0..<d { for j in 0..<d { x[i * d + j] += rows[t][i] * rows[t][j] } } }
                        for i in 0..<(d * d) { sMean[i] += p * x[i] }
                        sSecond += p * x.reduce(0) { $0 + $1 * $1 }
                    }
                    for i in 0..<(d * d) { s[i] += sMean[i] / rowCount }
                    sVariance += max(0, sSecond - sMean.reduce(0) { $0 + $1 * $1 })
                    // Λ and the GGN: per term, the moments of its labelled gradient.
                    var meanSum = [Double](repeating: 0, count: n), varianceSum = [Double](repeating: 0, count: n)
                    var secondSum = [Double](repeating: 0, count: n), secondSquares = [Double](repeating: 0, count: n)
                    var fourthCentral = [Double](repeating: 0, count: n)
                    var gradientMeans = [Double](repeating: 0, count: n), termOuter = [Double](repeating: 0, count: gaussNewton ? n * n : 0)
                    for term in sequence.terms {
                        var mean = [Double](repeating: 0, count: n), second = [Double](repeating: 0, count: n), fourth = [Double](repeating: 0, count: n)
                        var gradientMean = [Double](repeating: 0, count: n)
                        for label in term {
                            let p = label.probability, rows = label.gradients[m]
                            var gradient = [Double](repeating: 0, count: n)
                            for t in 0..<T {
                                for i in 0..<d {
                                    let gi = rows[t][block.rows.lowerBound + i]
                                    if gi != 0 { for j in 0..<w { gradient[i * w + j] += gi * sequence.inputs[m][t][j] } }
                                }
                            }
                            // Q_Sᵀ G Q_A.
                            var left = [Double](repeating: 0, count: n)
                            for i in 0..<d { for r in 0..<d { let q = Double(qS[r, i]); if q != 0 { for j in 0..<w { left[i * w + j] += q * gradient[r * w + j] } } } }
                            var rotated = [Double](repeating: 0, count: n)
                            for i in 0..<d { for r in 0..<w { let v = left[i * w + r]; if v != 0 { for j in 0..<w { rotated[i * w + j] += v * Double(qA[r, j]) } } } }
                            for i in 0..<n {
                                let z = rotated[i], z2 = z * z
                                mean[i] += p * z
                                second[i] += p * z2
                                fourth[i] += p * z2 * z2
                                gradientMean[i] += p * gradient[i]
                            }
                            if gaussNewton {
                                for i in 0..<n where gradient[i] != 0 { for j in 0..<n { termOuter[i * n + j] += p * gradient[i] * gradient[j] } }
                            }
                        }
                        for i in 0..<n {
                            meanSum[i] += mean[i]
                            varianceSum[i] += second[i] - mean[i] * mean[i]
                            secondSum[i] += second[i]
                            secondSquares[i] += second[i] * second[i]
                            fourthCentral[i] += fourth[i] - second[i] * second[i]
                            gradientMeans[i] += gradientMean[i]
                        }
                        if gaussNewton {
                            for i in 0..<n { for j in 0..<n { termOuter[i * n + j] -= gradientMean[i] * gradientMean[j] } }
                        }
                    }
                    for i in 0..<n {
                        l[i] += (meanSum[i] * meanSum[i] + varianceSum[i]) / N
                        // Var (Σ Zₖ)² for independent zero-mean Zₖ: Σ (E Zₖ⁴ − (E Zₖ²)²) + 2 Σ_{k≠k'} E Zₖ² E Zₖ'².
                        lVariance += max(0, fourthCentral[i] + 2 * (secondSum[i] * secondSum[i] - secondSquares[i]))
                    }
                    if gaussNewton {
                        for i in 0..<n { for j in 0..<n { g[i * n + j] += (termOuter[i * n + j] + gradientMeans[i] * gradientMeans[j]) / N } }
                    }
                }
                moduleS.append(s)
                moduleSDeviation.append(sVariance.squareRoot() / rowCount)
                moduleL.append(l)
                moduleLDeviation.append(lVariance.squareRoot() / N)
                moduleG.append(g)
            }
            outputCovariances.append(moduleS)
            outputDeviations.append(moduleSDeviation)
            eigenvalues.append(moduleL)
            eigenvalueDeviations.append(moduleLDeviation)
            gaussNewtonBlocks.append(moduleG)
        }
    }
}

public func frobeniusNorm(_ a: [Double]) -> Double { a.reduce(0) { $0 + $1 * $1 }.squareRoot() }
public func frobeniusDistance(_ a: [Double], _ b: [Double]) -> Double { zip(a, b).reduce(0) { $0 + ($1.0 - $1.1) * ($1.0 - $1.1) }.squareRoot() }

/// Fits K copies of each example (plain text, or labelled for a classifier) and checks every
/// block's A, S and Λ against their exact expectations; returns both.
public func fitAgainstExactExpectations(_ model: DecoderModel, _ layouts: [ModuleLayout], _ examples: [TokenizedExample], copies: Int,
                                 gaussNewton: Bool = false, sourceLocation: SourceLocation = #_sourceLocation) throws -> (EKFACFactors, FisherExpectations) {
    let repeated = (0..<copies).flatMap { _ in examples }
    let fitter = FactorFitter(model: model, layouts: layouts, batchSize: 100, seed: 5)
    let covariances = try fitter.accumulateCovariances(repeated)
    let factors = try fitter.correctEigenvalues(repeated, eigenbases: FactorFitter.eigenbases(covariances), covariances: covariances)
    let enumerated = try examples.map { example in
        model.hyperparameters.classifierLabels == nil
            ? try EnumeratedSequence.languageModel(model, layouts, tokens: example.tokens)
            : try EnumeratedSequence.classifier(model, layouts, tokens: example.tokens)
    }
    let exact = FisherExpectations(sequences: enumerated, eigenbases: factors.eigenbases, gaussNewton: gaussNewton)
    let (A, S) = covariances.covariances()
    let K = Double(copies).squareRoot()
    /// Within 4 standard deviations σ of the estimate (σ exact, from the enumeration; by
    /// Markov P(‖error‖ > 4σ) ≤ 1/16 for any seed, and the seed is fixed; measured errors are
    /// 0.3σ–2.8σ), with 4σ at most 30 % of the value so that the check means something.
    func expectEstimate(_ fitted: [Double], _ expected: [Double], deviation: Double, _ what: String) {
        let norm = frobeniusNorm(expected), distance = frobeniusDistance(fitted, expected)
        if norm == 0 {
            #expect(frobeniusNorm(fitted) == 0, "\(what) should be zero", sourceLocation: sourceLocation)
            return
        }
        #expect(4 * deviation < 0.3 * norm, "\(what): too few samples (σ/‖·‖ = \(deviation / norm))", sourceLocation: sourceLocation)
        #expect(distance <= 4 * deviation, "\(what): error \(distance / norm) relative, \(distance / deviation) σ", sourceLocation: sourceLocation)
    }
    for (m, layout) in layouts.enumerated() {
        let error = relativeError(A[m].values, exact.inputCovariances[m])
        #expect(error < 1e-5, "\(layout.name) A: relative error \(error)", sourceLocation: sourceLocation)
        for (b, block) in layout.blocks.enumerated() {
            expectEstimate(S[m][b].values, exact.outputCovariances[m][b], deviation: exact.outputDeviations[m][b] / K, "\(layout.name) \(block.name) S")
            expectEstimate(factors.correctedEigenvalues[m][b].map(Double.init), exact.eigenvalues[m][b],
                           deviation: exact.eigenvalueDeviations[m][b] / K, "\(layout.name) \(block.name) Λ")
        }
    }
    return (factors, exact)
}
