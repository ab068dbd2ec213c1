import Models
import Numerics

/// EK-FAC pass 2 (DESIGN §4): for every sequence n and block, the pseudo-gradient rotated into
/// the Kronecker eigenbasis, Q_Sᵀ Gₙ Q_A, squared element-wise and summed over sequences.
///
/// Gₙ = Σₜ gₜaₜᵀ is never formed: rotating the rows first, ãₜ = Q_Aᵀaₜ and g̃ₜ = Q_Sᵀgₜ, gives
/// Q_Sᵀ Gₙ Q_A = G̃ₙᵀ Ãₙ, one GEMM per sequence and block on already-rotated rows.
public final class EigenvalueCorrectionAccumulator: LinearModuleTapObserver {
    public let eigenbases: [ModuleEigenbasis]
    private let router: ModuleRouter
    /// Per module and block, Σₙ (Q_Sᵀ Gₙ Q_A)² (size × inputSize), in Float64.
    public private(set) var sums: [[[Double]]]
    public private(set) var sequenceCount = 0

    /// Per counted sequence of the current batch, its curvature rows (`curvatureRows`).
    private var sequenceRows: [Range<Int>] = []
    private let inputs = FloatBuffer(), rotatedInputs = FloatBuffer(), rotatedGradients = FloatBuffer(), product = FloatBuffer()

    public init(eigenbases: [ModuleEigenbasis]) {
        self.eigenbases = eigenbases
        router = ModuleRouter(eigenbases.map(\.layout))
        sums = eigenbases.map { basis in basis.layout.blocks.map { [Double](repeating: 0, count: $0.size * basis.layout.inputSize) } }
    }

    /// Restores sums saved by an earlier run (for resuming within pass 2).
    public init(eigenbases: [ModuleEigenbasis], sums: [[[Double]]], sequenceCount: Int) {
        self.eigenbases = eigenbases
        router = ModuleRouter(eigenbases.map(\.layout))
        self.sums = sums
        self.sequenceCount = sequenceCount
    }

    /// Call before each backward pass with the curvature rows of each counted sequence (the
    /// rows that pass 1 counted); sequences without counted targets are left out.
    public func begin(sequenceRows: [Range<Int>]) {
        self.sequenceRows = sequenceRows
        sequenceCount += sequenceRows.count
    }

    public func observe(_ tap: LinearModuleTap) {
        guard let m = router.position(of: tap), !sequenceRows.isEmpty else { return }
        let basis = eigenbases[m], layout = basis.layout
        let N = tap.tokenCount, width = layout.inputSize, dOut = layout.outputSize
        _ = TapRows.inputs(tap, layout, into: inputs)
        rotatedInputs.reserve(N * width)
        Float.gemm(.none, .none, m: N, n: width, k: width, alpha: 1, a: inputs.pointer, lda: width,
                   b: basis.inputEigenvectors.storage, ldb: width, beta: 0, c: rotatedInputs.pointer, ldc: width)
        for (b, block) in layout.blocks.enumerated() {
            let d = block.size
            rotatedGradients.reserve(N * d)
            Float.gemm(.none, .none, m: N, n: d, k: d, alpha: 1, a: tap.outputGradients + block.rows.lowerBound, lda: dOut,
                       b: basis.outputEigenvectors[b].storage, ldb: d, beta: 0, c: rotatedGradients.pointer, ldc: d)
            product.reserve(d * width)
            sums[m][b].withUnsafeMutableBufferPointer { sum in
                for rows in sequenceRows {
                    Float.gemm(.transposed, .none, m: d, n: width, k: rows.count, alpha: 1,
                               a: rotatedGradients.pointer + rows.lowerBound * d, lda: d,
                               b: rotatedInputs.pointer + rows.lowerBound * width, ldb: width,
                               beta: 0, c: product.pointer, ldc: width)
                    for i in 0..<(d * width) {
                        let value = Double(product.pointer[i])
                        sum[i] += value * value
                    }
                }
            }
        }
    }
}
