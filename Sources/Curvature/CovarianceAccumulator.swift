import Models
import Numerics

/// EK-FAC pass 1 (DESIGN §4): sums, over the curvature rows (`curvatureRows`), of a aᵀ for every tracked
/// module and of g gᵀ for every block, in Float64. Each batch's products are formed with
/// `ssyrk` (half the work of a GEMM) and added to the Float64 sums, so precision is lost only
/// within one batch. The sums are symmetric, so only their upper triangles are kept, packed
/// (`PackedUpperTriangle`): half the memory of the full squares.
public final class CovarianceAccumulator: LinearModuleTapObserver {
    public let layouts: [ModuleLayout]
    private let router: ModuleRouter
    /// Per module, the packed upper triangle of Σ a aᵀ (inputSize × inputSize).
    public private(set) var inputSums: [[Double]]
    /// Per module and block, the packed upper triangle of Σ g gᵀ (size × size).
    public private(set) var outputSums: [[[Double]]]
    /// Curvature rows so far.
    public private(set) var tokenCount = 0
    /// Sequences that had at least one counted position.
    public private(set) var sequenceCount = 0

    /// Rows of the current batch that count; set by `begin`.
    private var countedRows: [Int] = []
    private let inputRows = FloatBuffer(), gradientRows = FloatBuffer(), product = FloatBuffer()

    public init(layouts: [ModuleLayout]) {
        self.layouts = layouts
        router = ModuleRouter(layouts)
        inputSums = layouts.map { [Double](repeating: 0, count: PackedUpperTriangle.count($0.inputSize)) }
        outputSums = layouts.map { layout in layout.blocks.map { [Double](repeating: 0, count: PackedUpperTriangle.count($0.size)) } }
    }

    /// Restores sums saved by an earlier run (for resuming).
    public init(layouts: [ModuleLayout], inputSums: [[Double]], outputSums: [[[Double]]], tokenCount: Int, sequenceCount: Int) {
        self.layouts = layouts
        router = ModuleRouter(layouts)
        self.inputSums = inputSums
        self.outputSums = outputSums
        self.tokenCount = tokenCount
        self.sequenceCount = sequenceCount
    }

    /// Call before each backward pass with the token rows that count and the number of
    /// sequences they come from.
    public func begin(countedRows: [Int], sequences: Int) {
        self.countedRows = countedRows
        tokenCount += countedRows.count
        sequenceCount += sequences
    }

    public func observe(_ tap: LinearModuleTap) {
        guard let m = router.position(of: tap), !countedRows.isEmpty else { return }
        let layout = layouts[m]
        let n = countedRows.count, width = layout.inputSize, dOut = layout.outputSize
        _ = TapRows.inputs(tap, layout, rows: countedRows, into: inputRows)
        product.reserve(max(width * width, layout.blocks.map { $0.size * $0.size }.max() ?? 0))
        Float.syrk(.transposed, n: width, k: n, alpha: 1, a: inputRows.pointer, lda: width, beta: 0, c: product.pointer, ldc: width)
        addUpperTriangle(product.pointer, into: &inputSums[m], size: width)
        TapRows.outputGradients(tap, rows: countedRows, into: gradientRows)
        for (b, block) in layout.blocks.enumerated() {
            Float.syrk(.transposed, n: block.size, k: n, alpha: 1, a: gradientRows.pointer + block.rows.lowerBound, lda: dOut,
                       beta: 0, c: product.pointer, ldc: block.size)
            addUpperTriangle(product.pointer, into: &outputSums[m][b], size: block.size)
        }
    }

    private func addUpperTriangle(_ source: UnsafePointer<Float>, into sums: inout [Double], size: Int) {
        sums.withUnsafeMutableBufferPointer { PackedUpperTriangle.accumulate(source, into: $0.baseAddress!, size: size) }
    }

    /// The eigenbasis of module m's averaged covariances (one matrix at a time, no copies of the others).
    public func eigenbasis(ofModule m: Int) throws -> ModuleEigenbasis {
        try inputSums[m].withUnsafeBufferPointer { input in
            try withPointers(outputSums[m]) { outputs in
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
