import Foundation
import Models
import Numerics

/// AdamW (Loshchilov & Hutter) with decoupled weight decay, as `torch.optim.AdamW` computes it:
///
///     θ ← θ − lr·wd·θ;  m ← β₁m + (1−β₁)g;  v ← β₂v + (1−β₂)g²
///     θ ← θ − lr · (m / (1−β₁ᵗ)) / (√(v / (1−β₂ᵗ)) + ε)
///
/// Weight decay applies to weight matrices and embeddings, not to biases or layer norms (the
/// Hugging Face Trainer's grouping). One fused pass over every parameter, no allocation.
public final class AdamW {
    public struct Configuration: Sendable, Codable, Equatable {
        public var beta1: Double = 0.9
        public var beta2: Double = 0.999
        public var epsilon: Double = 1e-8
        public var weightDecay: Double = 0.01

        public init(beta1: Double = 0.9, beta2: Double = 0.999, epsilon: Double = 1e-8, weightDecay: Double = 0.01) {
            self.beta1 = beta1
            self.beta2 = beta2
            self.epsilon = epsilon
            self.weightDecay = weightDecay
        }
    }

    public let configuration: Configuration
    /// First and second moments, in the parameters' layout.
    public let firstMoment: ParameterStore
    public let secondMoment: ParameterStore
    public private(set) var stepCount = 0
    /// Per parameter tensor, whether it is decayed.
    private let decays: [Bool]

    public init(parameters: ParameterStore, configuration: Configuration = Configuration()) {
        self.configuration = configuration
        firstMoment = parameters.makeZeroedLike()
        secondMoment = parameters.makeZeroedLike()
        decays = parameters.entries.map { Self.isDecayed($0.name, shape: $0.shape) }
    }

    /// Biases and layer-norm parameters are not decayed.
    public static func isDecayed(_ name: String, shape: [Int]) -> Bool {
        !(name.hasSuffix(".bias") || name.contains("layernorm") || name.contains("layer_norm") || shape.count < 2)
    }

    /// Restores moments and the step count saved by an earlier run.
    public func restore(stepCount: Int) { self.stepCount = stepCount }

    /// One update of `parameters` with `gradients` (same layout) at `learningRate`.
    public func step(parameters: ParameterStore, gradients: ParameterStore, learningRate: Double) {
        stepCount += 1
        let c = configuration
        let b1 = Float(c.beta1), b2 = Float(c.beta2)
        let correction1 = Float(1 - Foundation.pow(c.beta1, Double(stepCount)))
        let correction2 = Float(1 - Foundation.pow(c.beta2, Double(stepCount)))
        let lr = Float(learningRate), eps = Float(c.epsilon)
        let step = lr / correction1
        let sqrtCorrection2 = correction2.squareRoot()
        for (index, entry) in parameters.entries.enumerated() {
            let p = parameters.values + entry.offset, g = gradients.values + entry.offset
            let m = firstMoment.values + entry.offset, v = secondMoment.values + entry.offset
            let shrink: Float = decays[index] ? 1 - lr * Float(c.weightDecay) : 1
            for i in 0..<entry.count {
                let gi = g[i]
                let mi = b1 * m[i] + (1 - b1) * gi
                let vi = b2 * v[i] + (1 - b2) * gi * gi
                m[i] = mi
                v[i] = vi
                // torch: denominator = √v / √(1−β₂ᵗ) + ε; θ −= (lr / (1−β₁ᵗ)) · m / denominator.
                p[i] = p[i] * shrink - step * mi / (vi.squareRoot() / sqrtCorrection2 + eps)
            }
        }
    }
}
