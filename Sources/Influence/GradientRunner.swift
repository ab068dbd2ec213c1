import Checkpoints
import Curvature
import Models
import Numerics

/// Runs forward, the summed cross-entropy on an example's counted targets (the true next
/// tokens), and backward, collecting per-sequence module gradients.
public final class GradientRunner {
    public let model: DecoderModel
    let collector: SequenceGradients
    private let activations: DecoderActivations

    public init(model: DecoderModel, layouts: [ModuleLayout]) {
        self.model = model
        collector = SequenceGradients(layouts: layouts)
        activations = DecoderActivations(hyperparameters: model.hyperparameters)
    }

    func gradients(of examples: [TokenizedExample]) throws -> SequenceGradients {
        collector.reserve(sequences: examples.count)
        try run(examples, observer: collector)
        return collector
    }

    /// Forward, summed cross-entropy on the counted targets, backward into `observer`.
    public func run(_ examples: [TokenizedExample], observer: LinearModuleTapObserver) throws {
        let batch = TokenBatch(examples: examples)
        try model.validate(batch)
        model.forwardLossBackward(batch, targets: try model.lossTargets(batch, examples: examples), activations, observer: observer)
    }

    /// Per-sequence module gradients as arrays (for tests): `[sequence][module]`.
    public func moduleGradients(of examples: [TokenizedExample]) throws -> [[[Float]]] {
        let collector = try gradients(of: examples)
        return examples.indices.map { s in
            collector.layouts.indices.map { m in
                let P = collector.layouts[m].parameterCount
                return Array(UnsafeBufferPointer(start: collector.gradients[m].pointer + s * P, count: P))
            }
        }
    }
}
