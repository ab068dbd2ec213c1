import Foundation
import Models
import Numerics

/// Trains a GPT-NeoX language model on tokenised examples: mean cross-entropy over the counted
/// targets of each optimizer step (completion tokens only for prompt/completion examples),
/// gradient accumulation, global-norm clipping, AdamW, warm-up + cosine schedule, and an
/// optional proximity term (α/2)‖θ − θ_ref‖² that keeps fine-tuning near the pre-trained weights.
public final class Trainer {
    public struct Configuration: Sendable, Codable, Equatable {
        public var learningRate: Double = 1e-3
        public var warmupSteps: Int = 0
        public var epochs: Int = 1
        /// Sequences per forward/backward pass.
        public var batchSize: Int = 8
        /// Forward/backward passes per optimizer step.
        public var accumulationSteps: Int = 1
        /// Largest global gradient norm (0: no clipping).
        public var clipNorm: Double = 1.0
        public var seed: UInt64 = 0
        public var proximity: Double = 0
        public var optimizer = AdamW.Configuration()

        public init() {}
    }

    public struct Progress: Sendable {
        public let step: Int
        public let totalSteps: Int
        public let loss: Double
        public let learningRate: Double
        public let tokensPerSecond: Double
    }

    public let model: DecoderModel
    public let configuration: Configuration
    public let optimizer: AdamW
    public let schedule: LearningRateSchedule
    private let examples: [TokenizedExample]
    private let reference: ParameterStore?
    private let gradients: ParameterStore
    private let activations: DecoderActivations
    public let stepsPerEpoch: Int
    public var totalSteps: Int { stepsPerEpoch * configuration.epochs }

    /// `reference` holds θ_ref for the proximity term; its parameters are matched by name and
    /// shape, and the output head is never pulled (see `addProximity`).
    public init(model: DecoderModel, examples: [TokenizedExample], configuration: Configuration, reference: ParameterStore? = nil) {
        precondition(configuration.batchSize > 0 && configuration.accumulationSteps > 0 && !examples.isEmpty)
        precondition(model.parameters.isAllFloat32, "training updates Float32 weights: load the model with precision .float32")
        self.model = model
        self.configuration = configuration
        self.examples = examples
        self.reference = reference
        optimizer = AdamW(parameters: model.parameters, configuration: configuration.optimizer)
        gradients = model.parameters.makeZeroedLike()
        activations = DecoderActivations(hyperparameters: model.hyperparameters)
        let batches = (examples.count + configuration.batchSize - 1) / configuration.batchSize
        stepsPerEpoch = (batches + configuration.accumulationSteps - 1) / configuration.accumulationSteps
        schedule = LearningRateSchedule(peak: configuration.learningRate, warmupSteps: configuration.warmupSteps,
                                        totalSteps: stepsPerEpoch * configuration.epochs)
    }

    /// The order of examples in `epoch`: a seeded shuffle, the same on every run.
    public func order(epoch: Int) -> [Int] {
        var rng = RandomGenerator(seed: configuration.seed &+ UInt64(epoch) &* 0x9E37_79B9_7F4A_7C15)
        var indices = Array(examples.indices)
        rng.shuffle(&indices)
        return indices
    }

    /// The micro-batches (example indices) of optimizer step `step`.
    func microBatches(step: Int) -> [[Int]] {
        let epoch = step / stepsPerEpoch, within = step % stepsPerEpoch
        let order = order(epoch: epoch)
        let b = configuration.batchSize, k = configuration.accumulationSteps
        return (0..<k).compactMap { j in
            let start = (within * k + j) * b
            guard start < order.count else { return nil }
            return Array(order[start..<min(start + b, order.count)])
        }
    }

    /// Training diverged: a step's loss or the updated weights are not finite. The weights are
    /// garbage from then on, so training stops and nothing should be saved.
    public struct DivergedError: Error, CustomStringConvertible {
        public let step: Int
        public let loss: Double
        public var description: String {
            loss.isFinite
                ? "training diverged at step \(step): the weights are no longer finite (try a lower learning rate)"
                : "training diverged at step \(step): the loss is \(loss) (try a lower learning rate)"
        }
    }

    /// Runs optimizer steps `from ..< to`, reporting each. Returns the last step's loss. Stops
    /// with `DivergedError` at the first non-finite loss (before that step's update) or weight.
    @discardableResult
    public func train(from firstStep: Int = 0, to lastStep: Int? = nil, progress: (Progress) -> Void = { _ in }) throws -> Double {
        var loss = Double.nan
        let start = Date()
        var tokens = 0
        for step in firstStep..<(lastStep ?? totalSteps) {
            let batches = microBatches(step: step)
            let counted = batches.reduce(0) { total, batch in total + batch.reduce(0) { $0 + examples[$1].targetCount } }
            guard counted > 0 else { continue }
            gradients.zero()
            var summed = 0.0
            let scale = 1 / Float(counted)
            for indices in batches {
                let slice = indices.map { examples[$0] }
                let batch = TokenBatch(examples: slice)
                try model.validate(batch)
                // Weights 1/counted: the step's loss is the mean over all its counted targets.
                var targets = try model.lossTargets(batch, examples: slice)
                for i in targets.weights.indices where targets.weights[i] != 0 { targets.weights[i] = scale }
                summed += model.forwardLossBackward(batch, targets: targets, activations, gradients: gradients)
                tokens += batch.tokenCount
            }
            guard summed.isFinite else { throw DivergedError(step: step + 1, loss: summed) }
            if configuration.proximity > 0, let reference { addProximity(reference) }
            if configuration.clipNorm > 0 { clip(to: configuration.clipNorm) }
            let rate = schedule.rate(atStep: step)
            optimizer.step(parameters: model.parameters, gradients: gradients, learningRate: rate)
            guard parametersAreFinite() else { throw DivergedError(step: step + 1, loss: summed) }
            loss = summed
            progress(Progress(step: step + 1, totalSteps: totalSteps, loss: summed, learningRate: rate,
                              tokensPerSecond: Double(tokens) / max(Date().timeIntervalSince(start), 1e-9)))
        }
        return loss
    }

    private func parametersAreFinite() -> Bool {
        let values = model.parameters.values
        return (0..<model.parameters.count).allSatisfy { values[$0].isFinite }
    }

    /// ∇ += α(θ − θ_ref) for every backbone parameter the reference also has. The output head
    /// is left free: fine-tuning may replace it, and a new head's initial weights are no
    /// pre-trained value to stay near (DESIGN §3: proximity is to θ_pt on the shared backbone).
    private func addProximity(_ reference: ParameterStore) {
        let alpha = Float(configuration.proximity)
        for entry in model.parameters.entries where entry.name != model.headParameter {
            guard let other = reference.entry(entry.name), other.shape == entry.shape else { continue }
            let p = model.parameters.values + entry.offset, r = reference.values + other.offset, g = gradients.values + entry.offset
            for i in 0..<entry.count { g[i] += alpha * (p[i] - r[i]) }
        }
    }

    /// Scales the gradients so that their global norm is at most `maximum`.
    private func clip(to maximum: Double) {
        var squared = 0.0
        for entry in gradients.entries {
            let g = gradients.values + entry.offset
            var partial: Float = 0
            for i in 0..<entry.count { partial += g[i] * g[i] }
            squared += Double(partial)
        }
        let norm = squared.squareRoot()
        guard norm > maximum else { return }
        let factor = Float(maximum / (norm + 1e-6))
        for entry in gradients.entries {
            let g = gradients.values + entry.offset
            for i in 0..<entry.count { g[i] *= factor }
        }
    }
}
