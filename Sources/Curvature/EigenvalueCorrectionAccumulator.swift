import Foundation
import Models
import Numerics

/// EK-FAC pass 2 (DESIGN §4): for every sequence n and block, the pseudo-gradient rotated into
/// the Kronecker eigenbasis, Q_Sᵀ Gₙ Q_A, squared element-wise and summed over sequences.
///
/// Gₙ = Σₜ gₜaₜᵀ is never formed: rotating the rows first, ãₜ = Q_Aᵀaₜ and g̃ₜ = Q_Sᵀgₜ, gives
/// Q_Sᵀ Gₙ Q_A = G̃ₙᵀ Ãₙ, one GEMM per sequence and block on already-rotated rows.
public final class EigenvalueCorrectionAccumulator: @unchecked Sendable {
    public let eigenbases: [ModuleEigenbasis]
    /// Per module and block, Σₙ (Q_Sᵀ Gₙ Q_A)² (size × inputSize), in Float64.
    public var sums: [[[Double]]] { boxes.map { $0.map(\.values) } }
    private let boxes: [[SumArray]]
    public private(set) var sequenceCount = 0
    private let countLock = NSLock()

    public init(eigenbases: [ModuleEigenbasis]) {
        self.eigenbases = eigenbases
        boxes = eigenbases.map { basis in basis.layout.blocks.map { SumArray([Double](repeating: 0, count: $0.size * basis.layout.inputSize)) } }
    }

    /// Restores sums saved by an earlier run (for resuming within pass 2).
    public init(eigenbases: [ModuleEigenbasis], sums: [[[Double]]], sequenceCount: Int) {
        self.eigenbases = eigenbases
        boxes = sums.map { $0.map(SumArray.init) }
        self.sequenceCount = sequenceCount
    }

    /// `count` workers' lanes into these sums, committing in the batch order of `order`.
    func lanes(_ count: Int, order: CommitOrder) -> [Lane] { (0..<count).map { _ in Lane(self, order: order) } }

    /// One worker's batch: its rows rotated in the lane's own scratch; each sequence's rotated
    /// pseudo-gradient is formed and its square added to the shared sums in batch order.
    final class Lane: PassLane {
        private let sums: EigenvalueCorrectionAccumulator
        /// Per counted sequence of the current batch, its curvature rows (`curvatureRows`).
        private var sequenceRows: [Range<Int>] = []
        private let inputs = FloatBuffer(), rotatedInputs = FloatBuffer(), rotatedGradients = FloatBuffer(), product = FloatBuffer()

        init(_ sums: EigenvalueCorrectionAccumulator, order: CommitOrder) {
            self.sums = sums
            super.init(order: order, layouts: sums.eigenbases.map(\.layout))
        }

        /// Call before each backward pass with the curvature rows of each counted sequence (the
        /// rows that pass 1 counted); sequences without counted targets are left out.
        func begin(sequenceRows: [Range<Int>]) {
            self.sequenceRows = sequenceRows
            sums.countLock.lock()
            sums.sequenceCount += sequenceRows.count
            sums.countLock.unlock()
        }

        override func contribute(_ tap: LinearModuleTap, module m: Int) {
            guard !sequenceRows.isEmpty else { return commit(m) {} }
            let basis = sums.eigenbases[m], layout = basis.layout
            let N = tap.tokenCount, width = layout.inputSize, dOut = layout.outputSize
            _ = TapRows.inputs(tap, layout, into: inputs)
            rotatedInputs.reserve(N * width)
            Float.gemm(.none, .none, m: N, n: width, k: width, alpha: 1, a: inputs.pointer, lda: width,
                       b: basis.inputEigenvectors.storage, ldb: width, beta: 0, c: rotatedInputs.pointer, ldc: width)
            // Every block's rotated gradients first, so the commit below holds the module only
            // for the per-sequence products and their squares.
            rotatedGradients.reserve(N * layout.blocks.reduce(0) { $0 + $1.size })
            var offset = 0
            for (b, block) in layout.blocks.enumerated() {
                let d = block.size
                Float.gemm(.none, .none, m: N, n: d, k: d, alpha: 1, a: tap.outputGradients + block.rows.lowerBound, lda: dOut,
                           b: basis.outputEigenvectors[b].storage, ldb: d, beta: 0, c: rotatedGradients.pointer + offset, ldc: d)
                offset += N * d
            }
            product.reserve((layout.blocks.map(\.size).max() ?? 0) * width)
            commit(m) {
                var offset = 0
                for (b, block) in layout.blocks.enumerated() {
                    let d = block.size, gradients = rotatedGradients.pointer + offset
                    sums.boxes[m][b].update { sum in
                        for rows in sequenceRows {
                            Float.gemm(.transposed, .none, m: d, n: width, k: rows.count, alpha: 1,
                                       a: gradients + rows.lowerBound * d, lda: d,
                                       b: rotatedInputs.pointer + rows.lowerBound * width, ldb: width,
                                       beta: 0, c: product.pointer, ldc: width)
                            for i in 0..<(d * width) {
                                let value = Double(product.pointer[i])
                                sum[i] += value * value
                            }
                        }
                    }
                    offset += N * d
                }
            }
        }
    }
}
