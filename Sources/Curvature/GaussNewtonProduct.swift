import Foundation
import Models
import Numerics

/// Exact products with a data set's Gauss–Newton matrix, G·v, restricted to the tracked modules
/// `layouts` (any subset of the model's): G is the mean over sequences of each sequence's
/// Σₜ Jₜᵀ (diag pₜ − pₜpₜᵀ) Jₜ over its counted targets t, with Jₜ the Jacobian of target t's
/// logits and pₜ its softmax: the Fisher with every label enumerated, normalised as EK-FAC's Λ
/// (DESIGN §4). No matrix is formed. Per batch: `forward`; `tangent` gives z = J·v; each
/// counted row's u = pₜ ⊙ (zₜ − ⟨pₜ, zₜ⟩) is the softmax Jacobian applied to z; `backward` with
/// u as the logits' gradient gives Jᵀu, read from the taps as each module's Σ_rows g aᵀ.
public final class GaussNewtonProduct {
    public let model: DecoderModel
    public let layouts: [ModuleLayout]
    public let examples: [TokenizedExample]
    public let batchSize: Int
    /// Sequences with at least one counted target: G's normalisation.
    public let sequenceCount: Int

    private let activations: DecoderActivations
    private let tangents = DecoderTangents()
    private let batches: [(batch: TokenBatch, targets: LossTargets)]

    public init(model: DecoderModel, layouts: [ModuleLayout], examples: [TokenizedExample], batchSize: Int = 1) throws {
        precondition(batchSize > 0)
        self.model = model
        self.layouts = layouts
        self.examples = examples
        self.batchSize = batchSize
        activations = DecoderActivations(hyperparameters: model.hyperparameters)
        batches = try stride(from: 0, to: examples.count, by: batchSize).map { start in
            let slice = Array(examples[start..<min(start + batchSize, examples.count)])
            let batch = TokenBatch(examples: slice)
            try model.validate(batch)
            return (batch, try model.lossTargets(batch, examples: slice))
        }
        sequenceCount = batches.reduce(0) { $0 + model.countedSequences($1.batch, targets: $1.targets).count }
    }

    /// Batches of `batchSize` sequences the data are cut into (`apply(_:damping:batch:)`).
    public var batchCount: Int { batches.count }

    /// (G + damping·I)·v, for v given per layout as a row-major [outputSize × inputSize] matrix
    /// (the bias as the last column when the layout includes it); the result in the same shape.
    public func apply(_ v: [[Float]], damping: Double = 0) -> [[Double]] {
        product(v, damping: damping, batches: batches.indices)
    }

    /// The same product with G estimated from batch `b` alone (its own mean over sequences):
    /// the stochastic products of LiSSA.
    public func apply(_ v: [[Float]], damping: Double = 0, batch b: Int) -> [[Double]] {
        product(v, damping: damping, batches: b..<(b + 1))
    }

    private func product(_ v: [[Float]], damping: Double, batches selected: Range<Int>) -> [[Double]] {
        precondition(v.count == layouts.count && zip(v, layouts).allSatisfy { $0.count == $1.parameterCount })
        let h = model.hyperparameters, W = h.outputWidth
        let result = ProductCollector(layouts: layouts)
        var sequences = 0
        v.withPointers { pointers in
            let direction = WeightDirection(Dictionary(uniqueKeysWithValues: zip(layouts, pointers).map { layout, values in
                (layout.moduleIndex, WeightDirection.Matrix(values: values, includesBias: layout.includesBias))
            }))
            for (batch, targets) in batches[selected] {
                sequences += model.countedSequences(batch, targets: targets).count
                model.forward(batch, activations)
                model.tangent(batch, activations, direction: direction, tangents: tangents)
                let rows = h.classifierLabels == nil ? batch.tokenCount : batch.sequenceCount
                for r in 0..<rows {
                    let u = activations.logitGradients + r * W
                    guard targets.weights[r] != 0 else {
                        u.update(repeating: 0, count: W)
                        continue
                    }
                    Self.softmaxJacobian(logits: activations.logits + r * W, tangent: tangents.logits + r * W, into: u, count: W)
                }
                model.backward(batch, activations, observer: result)
            }
        }
        let scale = 1 / Double(max(sequences, 1))
        return zip(result.sums, v).map { sum, v in zip(sum, v).map { $0 * scale + damping * Double($1) } }
    }

    /// u = p ⊙ (z − ⟨p, z⟩) with p = softmax(logits): (diag p − p pᵀ) z.
    static func softmaxJacobian(logits: UnsafePointer<Float>, tangent z: UnsafePointer<Float>, into u: UnsafeMutablePointer<Float>, count: Int) {
        var top = -Float.infinity
        for i in 0..<count { top = max(top, logits[i]) }
        var partition = 0.0, inner = 0.0
        for i in 0..<count {
            let e = Foundation.exp(Double(logits[i] - top))
            partition += e
            inner += e * Double(z[i])
        }
        inner /= partition
        for i in 0..<count {
            let p = Foundation.exp(Double(logits[i] - top)) / partition
            u[i] = Float(p * (Double(z[i]) - inner))
        }
    }
}

/// Sums each tracked module's Σ_rows g aᵀ (bias column included) over backward passes, in Float64.
private final class ProductCollector: LinearModuleTapObserver {
    let layouts: [ModuleLayout]
    private let router: ModuleRouter
    var sums: [[Double]]
    private let inputs = FloatBuffer(), product = FloatBuffer()

    init(layouts: [ModuleLayout]) {
        self.layouts = layouts
        router = ModuleRouter(layouts)
        sums = layouts.map { [Double](repeating: 0, count: $0.parameterCount) }
    }

    func observe(_ tap: LinearModuleTap) {
        guard let m = router.position(of: tap) else { return }
        let layout = layouts[m], width = layout.inputSize, dOut = layout.outputSize
        let N = TapRows.inputs(tap, layout, into: inputs)
        product.reserve(dOut * width)
        Float.gemm(.transposed, .none, m: dOut, n: width, k: N, alpha: 1, a: tap.outputGradients, lda: dOut,
                   b: inputs.pointer, ldb: width, beta: 0, c: product.pointer, ldc: width)
        sums[m].withUnsafeMutableBufferPointer { sum in
            for i in 0..<(dOut * width) { sum[i] += Double(product.pointer[i]) }
        }
    }
}

extension Array where Element == [Float] {
    /// Runs `body` with stable pointers to each inner array's storage.
    func withPointers<R>(_ body: ([UnsafePointer<Float>]) throws -> R) rethrows -> R {
        func step(_ i: Int, _ collected: [UnsafePointer<Float>]) throws -> R {
            if i == count { return try body(collected) }
            return try self[i].withUnsafeBufferPointer { try step(i + 1, collected + [$0.baseAddress!]) }
        }
        return try step(0, [])
    }
}

extension GaussNewtonProduct {
    /// Parameters over every layout: the length of a flat vector (the modules' matrices one
    /// after the other, as `flatten` writes them).
    public var parameterCount: Int { layouts.reduce(0) { $0 + $1.parameterCount } }

    /// (G + damping·I)·v for a flat vector, over all the data or over batch `batch` alone.
    public func multiply(_ v: [Double], damping: Double = 0, batch: Int? = nil) -> [Double] {
        var parts: [[Float]] = [], offset = 0
        for layout in layouts {
            parts.append(v[offset..<(offset + layout.parameterCount)].map { Float($0) })
            offset += layout.parameterCount
        }
        let result = batch.map { apply(parts, damping: damping, batch: $0) } ?? apply(parts, damping: damping)
        return Array(result.joined())
    }

    /// One query's module gradients as a flat Float64 vector.
    func flatten(_ gradients: [UnsafeMutablePointer<Float>]) -> [Double] {
        zip(gradients, layouts).flatMap { pointer, layout in (0..<layout.parameterCount).map { Double(pointer[$0]) } }
    }

    /// Writes a flat vector back over the module gradients.
    func scatter(_ x: [Double], into gradients: [UnsafeMutablePointer<Float>]) {
        var offset = 0
        for (pointer, layout) in zip(gradients, layouts) {
            for i in 0..<layout.parameterCount { pointer[i] = Float(x[offset + i]) }
            offset += layout.parameterCount
        }
    }
}

/// Dot product and norm of flat Float64 vectors (the iterative solvers' arithmetic).
func dot(_ a: [Double], _ b: [Double]) -> Double {
    var total = 0.0
    for i in a.indices { total += a[i] * b[i] }
    return total
}

func norm(_ a: [Double]) -> Double { dot(a, a).squareRoot() }
