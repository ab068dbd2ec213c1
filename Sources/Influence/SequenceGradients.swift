import Curvature
import Models
import Numerics

/// Per-sequence gradients of the selected tracked modules, Gₙ = Σₜ gₜaₜᵀ = g[n]ᵀ a[n], one
/// GEMM per sequence and module, written into caller-owned rows: sequence n of a batch fills
/// row n of each module's [sequences × (d_out · inputSize)] matrix.
final class SequenceGradients: LinearModuleTapObserver {
    let layouts: [ModuleLayout]
    private let router: ModuleRouter
    /// Per module, a [capacity × parameterCount] buffer.
    let gradients: [FloatBuffer]
    private let inputs = FloatBuffer()

    init(layouts: [ModuleLayout]) {
        self.layouts = layouts
        router = ModuleRouter(layouts)
        gradients = layouts.map { _ in FloatBuffer() }
    }

    func reserve(sequences: Int) {
        for (m, layout) in layouts.enumerated() { gradients[m].reserve(sequences * layout.parameterCount) }
    }

    func observe(_ tap: LinearModuleTap) {
        guard let m = router.position(of: tap) else { return }
        let layout = layouts[m]
        let width = layout.inputSize, dOut = layout.outputSize, P = layout.parameterCount
        gradients[m].reserve(tap.batch.sequenceCount * P)
        _ = TapRows.inputs(tap, layout, into: inputs)
        for s in 0..<tap.batch.sequenceCount {
            let rows = tap.batch.range(ofSequence: s)
            Float.gemm(.transposed, .none, m: dOut, n: width, k: rows.count, alpha: 1,
                       a: tap.outputGradients + rows.lowerBound * dOut, lda: dOut,
                       b: inputs.pointer + rows.lowerBound * width, ldb: width,
                       beta: 0, c: gradients[m].pointer + s * P, ldc: width)
        }
    }
}
