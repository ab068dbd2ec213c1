import Foundation
import Numerics
import Testing
import Models

/// A micro model with every feature switched on, weights large enough that all of them matter.
func microModel(parallel: Bool, rotaryFraction: Double, attentionBias: Bool, tied: Bool = false,
                        activation: GELU = .exact) -> DecoderModel {
    let h = DecoderHyperparameters(
        vocabularySize: 11, hiddenSize: 8, headCount: 2, intermediateSize: 12, layerCount: 2, maxPositions: 16,
        rotaryFraction: rotaryFraction, parallelResidual: parallel, activation: activation,
        attentionBias: attentionBias, tiedEmbeddings: tied)
    let model = DecoderModel(hyperparameters: h, seed: 11, initializerRange: 0.4)
    var rng = RandomGenerator(seed: 12)
    for entry in model.parameters.entries where entry.shape.count == 1 {
        let base: Float = entry.name.hasSuffix("weight") ? 1 : 0
        for i in 0..<entry.count { model.parameters.values[entry.offset + i] = base + 0.2 * Float(rng.nextNormal()) }
    }
    return model
}

/// A micro model of another family (random weights, norms spread out): Llama with grouped-query
/// attention, SwiGLU, RMSNorm and a sliding window shorter than the sequences, or GPT-2.
func microModel(family: DecoderHyperparameters.Family) -> DecoderModel {
    var h = DecoderHyperparameters(vocabularySize: 11, hiddenSize: 8, headCount: 4, intermediateSize: 12, layerCount: 2,
                                   maxPositions: 16, rotaryFraction: 1, parallelResidual: false, attentionBias: false)
    h.family = family
    switch family {
    case .gpt2:
        h.positions = .learned
        h.rotaryDimensions = 0
        h.qkvProjection = .fusedByPart
        h.qkvBias = true; h.outputBias = true
        h.feedForward = .gelu(.tanhApproximation)
        h.tiedEmbeddings = true
    case .bloom: break
    default:
        h.norm = .rmsNorm
        h.keyValueHeadCount = 2
        h.headSize = 4
        h.rotaryDimensions = 4
        h.qkvProjection = .separate
        h.qkvBias = family == .qwen2
        h.outputBias = false
        h.feedForward = .swiGLU
        h.mlpBias = false
        h.rotaryScaling = .linear(factor: 2)
        h.attentionWindow = family == .mistral ? 3 : nil
    }
    let model = DecoderModel(hyperparameters: h, seed: 11, initializerRange: 0.4)
    var rng = RandomGenerator(seed: 12)
    for entry in model.parameters.entries where entry.shape.count == 1 {
        let base: Float = entry.name.hasSuffix("norm.weight") || entry.name.contains("ln_") && entry.name.hasSuffix("weight") ? 1 : 0
        for i in 0..<entry.count { model.parameters.values[entry.offset + i] = base + 0.2 * Float(rng.nextNormal()) }
    }
    return model
}

/// Runs forward + summed next-token loss + backward; returns the loss and the gradients.
private func lossAndGradients(_ model: DecoderModel, _ sequences: [[Int]], observer: LinearModuleTapObserver? = nil)
    -> (Double, ParameterStore)
{
    let batch = TokenBatch(sequences: sequences)
    let activations = DecoderActivations(hyperparameters: model.hyperparameters)
    model.forward(batch, activations)
    let loss = CrossEntropy.summed(logits: activations.logits, targets: .nextToken(batch),
                                   vocabularySize: model.hyperparameters.vocabularySize,
                                   logitGradients: activations.logitGradients)
    let gradients = model.parameters.makeZeroedLike()
    model.backward(batch, activations, gradients: gradients, observer: observer)
    return (loss, gradients)
}

private let sequences = [[1, 4, 9, 2, 7, 3], [5, 0, 10], [8, 8, 1, 6]]

@Suite struct DecoderGradientTests {
    static let variants: [(parallel: Bool, rotary: Double, bias: Bool, tied: Bool, activation: GELU)] = [
        (true, 0.5, true, false, .exact), (false, 1.0, false, false, .exact), (true, 1.0, true, true, .tanhApproximation),
    ]

    @Test(arguments: 0..<3)
    func backwardMatchesFloat64FiniteDifferencesOfAnIndependentForward(variant: Int) {
        let v = Self.variants[variant]
        let model = microModel(parallel: v.parallel, rotaryFraction: v.rotary, attentionBias: v.bias, tied: v.tied, activation: v.activation)
        let (loss, gradients) = lossAndGradients(model, sequences)
        var reference = ReferenceGPTNeoX(model)
        // The Float32 forward agrees with the Float64 one.
        let referenceLoss = reference.loss(sequences)
        #expect(abs(loss - referenceLoss) < 1e-5 * abs(referenceLoss), "loss \(loss) vs reference \(referenceLoss)")

        let step = 1e-5
        for entry in model.parameters.entries {
            var difference = 0.0, norm = 0.0
            // Every parameter of small tensors, a spread of them in larger ones.
            for i in stride(from: 0, to: entry.count, by: max(1, entry.count / 24)) {
                let original = reference.parameters[entry.name]![i]
                reference.parameters[entry.name]![i] = original + step
                let plus = reference.loss(sequences)
                reference.parameters[entry.name]![i] = original - step
                let minus = reference.loss(sequences)
                reference.parameters[entry.name]![i] = original
                let numeric = (plus - minus) / (2 * step)
                let analytic = Double(gradients.values[entry.offset + i])
                difference += (analytic - numeric) * (analytic - numeric)
                norm += numeric * numeric
            }
            let relative = difference.squareRoot() / max(norm.squareRoot(), 1e-6)
            #expect(relative < 1e-3, "\(entry.name): relative gradient error \(relative)")
        }
    }

    /// Collects Σ_t g_t a_tᵀ per tracked module from the taps.
    final class GradientFromTaps: LinearModuleTapObserver {
        var gradients: [Int: [Float]] = [:]
        func observe(_ tap: LinearModuleTap) {
            let product = Matrix<Float>(rows: tap.outputSize, cols: tap.inputSize)
            Float.gemm(.transposed, .none, m: tap.outputSize, n: tap.inputSize, k: tap.tokenCount, alpha: 1,
                       a: tap.outputGradients, lda: tap.outputSize, b: tap.inputs, ldb: tap.inputSize, beta: 0,
                       c: product.storage, ldc: tap.inputSize)
            #expect(gradients[tap.moduleIndex] == nil, "each module reported once")
            gradients[tap.moduleIndex] = product.values
        }
    }

    @Test(arguments: ["parallel", "sequential", "llama", "qwen2", "mistral", "gpt2"])
    func tapsReproduceEveryTrackedWeightGradient(kind: String) {
        let model = kind == "parallel" || kind == "sequential"
            ? microModel(parallel: kind == "parallel", rotaryFraction: 0.5, attentionBias: true)
            : microModel(family: DecoderHyperparameters.Family(rawValue: kind)!)
        let observer = GradientFromTaps()
        let (_, gradients) = lossAndGradients(model, sequences, observer: observer)
        let modules = model.trackedModules
        #expect(observer.gradients.count == modules.count)
        for (index, module) in modules.enumerated() {
            let weight = gradients.pointer(module.name + ".weight")
            let fromTaps = observer.gradients[index]!
            #expect(fromTaps.count == module.inputSize * module.outputSize)
            let maxDifference = fromTaps.indices.map { abs(fromTaps[$0] - weight[$0]) }.max()!
            #expect(maxDifference < 1e-5, "\(module.name)")
        }
    }

    /// Attention in blocks of query rows (skipping the scores a causal mask or a window leaves
    /// unused) gives what one block of all rows gives — the path the transformers fixtures,
    /// whose sequences fit in one block, check — for sequences of several blocks.
    @Test(arguments: ["parallel", "llama", "mistral", "gpt2", "bloom"])
    func attentionBlocksDoNotChangeResults(kind: String) {
        var model = kind == "parallel" ? microModel(parallel: true, rotaryFraction: 0.5, attentionBias: true)
            : microModel(family: DecoderHyperparameters.Family(rawValue: kind)!)
        if kind == "bloom" {
            var h = DecoderHyperparameters(vocabularySize: 11, hiddenSize: 8, headCount: 3 * 2, intermediateSize: 12, layerCount: 2,
                                           maxPositions: 16, rotaryFraction: 0, parallelResidual: false, activation: .tanhApproximation,
                                           tiedEmbeddings: true)
            h.hiddenSize = 12; h.headSize = 2
            h.family = .bloom; h.positions = .alibi; h.embeddingNorm = true
            model = DecoderModel(hyperparameters: h, seed: 3, initializerRange: 0.4)   // ALiBi with 6 heads
        }
        var rng = RandomGenerator(seed: 5)
        let long = [(0..<16).map { _ in rng.nextInt(below: 11) }, (0..<9).map { _ in rng.nextInt(below: 11) }, [3]]
        model.attentionBlockRows = 1000
        let (wholeLoss, whole) = lossAndGradients(model, long)
        for rows in [1, 3, 5] {
            model.attentionBlockRows = rows
            let (loss, gradients) = lossAndGradients(model, long)
            #expect(abs(loss - wholeLoss) <= 1e-5 * abs(wholeLoss), "\(kind), blocks of \(rows): loss \(loss) vs \(wholeLoss)")
            var worst: Float = 0, scale: Float = 0
            for i in 0..<gradients.count {
                worst = max(worst, abs(gradients.values[i] - whole.values[i]))
                scale = max(scale, abs(whole.values[i]))
            }
            #expect(worst <= 1e-5 * scale, "\(kind), blocks of \(rows): gradients differ by \(worst)")
        }
    }

    @Test func packingSequencesTogetherEqualsRunningThemAlone() {
        let model = microModel(parallel: true, rotaryFraction: 0.5, attentionBias: true)
        let (batchLoss, batchGradients) = lossAndGradients(model, sequences)
        var separateLoss = 0.0
        var summed = [Float](repeating: 0, count: model.parameters.count)
        for sequence in sequences {
            let (loss, gradients) = lossAndGradients(model, [sequence])
            separateLoss += loss
            for i in 0..<summed.count { summed[i] += gradients.values[i] }
        }
        #expect(abs(batchLoss - separateLoss) < 1e-4)
        let maxDifference = (0..<summed.count).map { abs(summed[$0] - batchGradients.values[$0]) }.max()!
        #expect(maxDifference < 1e-4)
    }

    @Test func activationsAreReusedAcrossBatches() {
        let model = microModel(parallel: true, rotaryFraction: 0.5, attentionBias: true)
        let activations = DecoderActivations(hyperparameters: model.hyperparameters)
        model.forward(TokenBatch(sequences: sequences), activations)
        let first = Array(UnsafeBufferPointer(start: activations.logits, count: 11))
        model.forward(TokenBatch(sequences: [[3, 3]]), activations)
        let bytes = activations.allocatedBytes
        model.forward(TokenBatch(sequences: sequences), activations)
        #expect(Array(UnsafeBufferPointer(start: activations.logits, count: 11)) == first)
        #expect(activations.allocatedBytes == bytes, "a batch no larger than before allocates nothing")
    }
}

/// GGUF's per-frequency RoPE factors (rope_freqs.weight) are llama3 scaling in another form:
/// the factors llama.cpp's converter computes from the llama3 rule give transformers' llama3
/// frequencies.
@Suite struct RotaryScalingTests {
    @Test func ggufFrequencyFactorsEqualLlama3Scaling() {
        let dimensions = 64, base = 500_000.0
        let (factor, low, high, original): (Float, Float, Float, Int) = (32, 1, 4, 8192)
        // convert_hf_to_gguf.py's rule, in Float64.
        let factors: [Float] = (0..<(dimensions / 2)).map { i in
            let frequency = 1 / Foundation.pow(base, Double(2 * i) / Double(dimensions))
            let wavelength = 2 * Double.pi / frequency
            if wavelength < Double(original) / Double(high) { return 1 }
            if wavelength > Double(original) / Double(low) { return factor }
            let smooth = (Double(original) / wavelength - Double(low)) / Double(high - low)
            return Float(1 / ((1 - smooth) / Double(factor) + smooth))
        }
        let llama3 = RotaryEmbedding.Scaling.llama3(factor: factor, lowFrequencyFactor: low, highFrequencyFactor: high, originalContext: original)
        let ggufForm = RotaryEmbedding.Scaling.frequencyFactors(factors)
        var scaled = 0
        for i in 0..<(dimensions / 2) {
            let f = Float(1 / Foundation.pow(base, Double(Float(2 * i) / Float(dimensions))))
            let a = llama3.scaled(f, index: i), b = ggufForm.scaled(f, index: i)
            #expect(abs(a - b) <= 1e-6 * a, "frequency \(i): \(a) vs \(b)")
            if a != f { scaled += 1 }
        }
        #expect(scaled > 0)
    }
}
