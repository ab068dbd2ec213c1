import Foundation
import Models
import Numerics

/// EK-FAC pass 1 (DESIGN §4): sums, over the curvature rows (`curvatureRows`), of a aᵀ for every tracked
/// module and of g gᵀ for every block, in Float64. Each batch's products are formed with
/// `ssyrk` (half the work of a GEMM) and added to the Float64 sums, so precision is lost only
/// within one batch. The sums are symmetric, so only their upper triangles are kept, packed
/// (`PackedUpperTriangle`): half the memory of the full squares.
public final class CovarianceAccumulator: @unchecked Sendable {
    public let layouts: [ModuleLayout]
    /// Per module, the packed upper triangle of Σ a aᵀ (inputSize × inputSize).
    public var inputSums: [[Double]] { inputBoxes.map(\.values) }
    /// Per module and block, the packed upper triangle of Σ g gᵀ (size × size).
    public var outputSums: [[[Double]]] { outputBoxes.map { $0.map(\.values) } }
    private let inputBoxes: [SumArray]
    private let outputBoxes: [[SumArray]]
    /// Curvature rows so far.
    public private(set) var tokenCount = 0
    /// Sequences that had at least one counted position.
    public private(set) var sequenceCount = 0

    private let countLock = NSLock()

    public init(layouts: [ModuleLayout]) {
        self.layouts = layouts
        inputBoxes = layouts.map { SumArray([Double](repeating: 0, count: PackedUpperTriangle.count($0.inputSize))) }
        outputBoxes = layouts.map { layout in layout.blocks.map { SumArray([Double](repeating: 0, count: PackedUpperTriangle.count($0.size))) } }
    }

    /// Restores sums saved by an earlier run (for resuming).
    public init(layouts: [ModuleLayout], inputSums: [[Double]], outputSums: [[[Double]]], tokenCount: Int, sequenceCount: Int) {
        self.layouts = layouts
        inputBoxes = inputSums.map(SumArray.init)
        outputBoxes = outputSums.map { $0.map(SumArray.init) }
        self.tokenCount = tokenCount
        self.sequenceCount = sequenceCount
    }

    /// `count` workers' lanes into these sums, committing in the batch order of `order`.
    func lanes(_ count: Int, order: CommitOrder) -> [Lane] { (0..<count).map { _ in Lane(self, order: order) } }

    /// One worker's batch: its counted rows' a aᵀ and g gᵀ, formed with `ssyrk` in the lane's
    /// own scratch and added to the shared sums in batch order.
    final class Lane: PassLane {
        private let sums: CovarianceAccumulator
        /// Rows of the current batch that count; set by `begin`.
        private var countedRows: [Int] = []
        private let inputRows = FloatBuffer(), gradientRows = FloatBuffer(), product = FloatBuffer()

        init(_ sums: CovarianceAccumulator, order: CommitOrder) {
            self.sums = sums
            super.init(order: order, layouts: sums.layouts)
        }

        /// Call before each backward pass with the token rows that count and the number of
        /// sequences they come from.
        func begin(countedRows: [Int], sequences: Int) {
            self.countedRows = countedRows
            sums.countLock.lock()
            sums.tokenCount += countedRows.count
            sums.sequenceCount += sequences
            sums.countLock.unlock()
        }

        override func contribute(_ tap: LinearModuleTap, module m: Int) {
            guard !countedRows.isEmpty else { return commit(m) {} }
            let layout = sums.layouts[m]
            let n = countedRows.count, width = layout.inputSize, dOut = layout.outputSize
            _ = TapRows.inputs(tap, layout, rows: countedRows, into: inputRows)
            TapRows.outputGradients(tap, rows: countedRows, into: gradientRows)
            product.reserve(width * width + layout.blocks.reduce(0) { $0 + $1.size * $1.size })
            // All of the module's products first, so the commit below is only the additions.
            Float.syrk(.transposed, n: width, k: n, alpha: 1, a: inputRows.pointer, lda: width, beta: 0, c: product.pointer, ldc: width)
            var offset = width * width
            for block in layout.blocks {
                Float.syrk(.transposed, n: block.size, k: n, alpha: 1, a: gradientRows.pointer + block.rows.lowerBound, lda: dOut,
                           beta: 0, c: product.pointer + offset, ldc: block.size)
                offset += block.size * block.size
            }
            commit(m) {
                sums.inputBoxes[m].update { PackedUpperTriangle.accumulate(product.pointer, into: $0, size: width) }
                var offset = width * width
                for b in layout.blocks.indices {
                    let size = layout.blocks[b].size
                    sums.outputBoxes[m][b].update { PackedUpperTriangle.accumulate(product.pointer + offset, into: $0, size: size) }
                    offset += size * size
                }
            }
        }
    }

    /// The eigenbasis of module m's averaged covariances (one matrix at a time, no copies of the others).
    public func eigenbasis(ofModule m: Int) throws -> ModuleEigenbasis {
        try inputBoxes[m].values.withUnsafeBufferPointer { input in
            try withPointers(outputBoxes[m].map(\.values)) { outputs in
                try ModuleEigenbasis(layout: layouts[m], packedInputSum: input.baseAddress!, packedOutputSums: outputs, tokens: tokenCount)
            }
        }
    }

    /// The averaged, symmetric covariance matrices as full squares: A per module, S per block
    /// (for tests and small models).
    public func covariances() -> (inputs: [Matrix<Double>], outputs: [[Matrix<Double>]]) {
        let scale = 1 / Double(max(tokenCount, 1))
        func symmetric(_ upper: [Double], _ n: Int) -> Matrix<Double> {
            upper.withUnsafeBufferPointer { p in Matrix<Double>(rows: n, cols: n) { i, j in PackedUpperTriangle.element(p.baseAddress!, i, j, size: n) * scale } }
        }
        return (zip(layouts, inputSums).map { symmetric($1, $0.inputSize) },
                zip(layouts, outputSums).map { layout, blocks in zip(layout.blocks, blocks).map { symmetric($1, $0.size) } })
    }
}

/// Runs `body` with stable pointers to each array's storage.
func withPointers<R>(_ arrays: [[Double]], _ body: ([UnsafePointer<Double>]) throws -> R) rethrows -> R {
    func step(_ i: Int, _ collected: [UnsafePointer<Double>]) throws -> R {
        if i == arrays.count { return try body(collected) }
        return try arrays[i].withUnsafeBufferPointer { try step(i + 1, collected + [$0.baseAddress!]) }
    }
    return try step(0, [])
}
