import Curvature
import Models
import Numerics

/// TRAK's random features of per-sequence gradients, without forming them: each module's
/// gradient Gₙ = Σₜ gₜaₜᵀ (d_out × d_in) is projected on both sides by fixed Gaussian matrices,
/// P_out Gₙ P_inᵀ = (g P_outᵀ)ᵀ (a P_inᵀ), a k_out × k_in block that costs O(T (d_out k_out +
/// d_in k_in)) instead of the O(T d_out d_in) of the gradient itself. A sequence's feature is
/// its modules' blocks one after the other (a Kronecker-structured projection of the whole
/// gradient: P = ⊕ₘ P_out,m ⊗ P_in,m).
public final class ProjectedGradients: LinearModuleTapObserver {
    public let layouts: [ModuleLayout]
    /// Per module, the rows of P_out and of P_in.
    public let outputRanks: [Int]
    public let inputRanks: [Int]
    /// The feature length, Σₘ k_out,m · k_in,m.
    public let dimension: Int
    private let router: ModuleRouter
    /// Per module, P_out (k_out × d_out) and P_in (k_in × d_in).
    public let left: [Matrix<Float>], right: [Matrix<Float>]
    private let offsets: [Int]
    private let inputs = FloatBuffer(), projectedOutputs = FloatBuffer(), projectedInputs = FloatBuffer()
    /// [sequences × dimension] of the last batch run through `features(of:)`.
    private var rows = FloatBuffer()

    /// About `dimension` features split evenly over the modules (k × k per module, k capped by
    /// the module's sides); entries N(0, 1/k) from `seed`, so a second instance is identical.
    public init(layouts: [ModuleLayout], dimension: Int, seed: UInt64) {
        self.layouts = layouts
        router = ModuleRouter(layouts)
        let k = max(1, Int((Double(dimension) / Double(max(layouts.count, 1))).squareRoot()))
        let outputRanks = layouts.map { min(k, $0.outputSize) }, inputRanks = layouts.map { min(k, $0.inputSize) }
        self.outputRanks = outputRanks
        self.inputRanks = inputRanks
        var random = RandomGenerator(seed: seed)
        func gaussian(_ rows: Int, _ cols: Int) -> Matrix<Float> {
            let m = Matrix<Float>(rows: rows, cols: cols)
            random.fillNormal(UnsafeMutableBufferPointer(start: m.storage, count: rows * cols), standardDeviation: 1 / Float(k).squareRoot())
            return m
        }
        left = layouts.indices.map { gaussian(outputRanks[$0], layouts[$0].outputSize) }
        right = layouts.indices.map { gaussian(inputRanks[$0], layouts[$0].inputSize) }
        var offsets: [Int] = [], offset = 0
        for m in layouts.indices {
            offsets.append(offset)
            offset += outputRanks[m] * inputRanks[m]
        }
        self.offsets = offsets
        self.dimension = offset
    }

    /// Each sequence's feature, [sequence][dimension], from one forward and backward pass of
    /// `runner` (whose layouts must be these).
    public func features(of examples: [TokenizedExample], runner: GradientRunner) throws -> [[Float]] {
        rows.reserve(examples.count * dimension)
        rows.pointer.update(repeating: 0, count: examples.count * dimension)
        try runner.run(examples, observer: self)
        return examples.indices.map { Array(UnsafeBufferPointer(start: rows.pointer + $0 * dimension, count: dimension)) }
    }

    public func observe(_ tap: LinearModuleTap) {
        guard let m = router.position(of: tap) else { return }
        let layout = layouts[m], dOut = layout.outputSize, dIn = layout.inputSize, kOut = outputRanks[m], kIn = inputRanks[m]
        let tokens = tap.tokenCount
        _ = TapRows.inputs(tap, layout, into: inputs)
        projectedOutputs.reserve(tokens * kOut)
        projectedInputs.reserve(tokens * kIn)
        // All tokens at once: U = g P_outᵀ (tokens × k_out), W = a P_inᵀ (tokens × k_in).
        Float.gemm(.none, .transposed, m: tokens, n: kOut, k: dOut, alpha: 1, a: tap.outputGradients, lda: dOut,
                   b: left[m].storage, ldb: dOut, beta: 0, c: projectedOutputs.pointer, ldc: kOut)
        Float.gemm(.none, .transposed, m: tokens, n: kIn, k: dIn, alpha: 1, a: inputs.pointer, lda: dIn,
                   b: right[m].storage, ldb: dIn, beta: 0, c: projectedInputs.pointer, ldc: kIn)
        for s in 0..<tap.batch.sequenceCount {
            let span = tap.batch.range(ofSequence: s)
            // Block of sequence s: Uₛᵀ Wₛ over its tokens.
            Float.gemm(.transposed, .none, m: kOut, n: kIn, k: span.count, alpha: 1,
                       a: projectedOutputs.pointer + span.lowerBound * kOut, lda: kOut,
                       b: projectedInputs.pointer + span.lowerBound * kIn, ldb: kIn,
                       beta: 0, c: rows.pointer + s * dimension + offsets[m], ldc: kIn)
        }
    }
}
