import Foundation
import Models
import Numerics
import Testing

/// The forward-mode pass (`DecoderModel.tangent`) is the adjoint of the backward pass (checked
/// against PyTorch elsewhere): for random weight directions v and logit covectors w,
/// ⟨J·v, w⟩ = ⟨v, Jᵀ·w⟩, computed once with the tangent pass and once with `backward`'s
/// parameter gradients. For random v and w that holds only if the tangent pass is J itself.
@Suite struct DecoderTangentTests {
    static let sequences = [[1, 4, 9, 2, 7, 3, 0, 5, 5], [5, 0, 10], [8, 8, 1, 6]]

    /// ⟨J·v, w⟩ and ⟨v, Jᵀ·w⟩ for `model` with directions on `moving` (indices into its tracked modules).
    static func adjointPair(_ model: DecoderModel, moving: [Int], seed: UInt64) -> (forward: Double, backward: Double, scale: Double) {
        let h = model.hyperparameters
        let batch = TokenBatch(sequences: sequences)
        let activations = DecoderActivations(hyperparameters: h)
        model.forward(batch, activations)
        var rng = RandomGenerator(seed: seed)
        let modules = DecoderModel.trackedModules(h)
        // v: one [outputSize × (inputSize + bias)] matrix per moving module.
        let directions: [(module: Int, columns: Int, values: [Float])] = moving.map { m in
            let module = modules[m], columns = module.inputSize + (module.hasBias ? 1 : 0)
            return (m, columns, (0..<(module.outputSize * columns)).map { _ in Float(rng.nextNormal()) })
        }
        let rows = h.classifierLabels == nil ? batch.tokenCount : batch.sequenceCount, W = h.outputWidth
        let w = (0..<(rows * W)).map { _ in Float(rng.nextNormal()) }

        let tangents = DecoderTangents()
        var pointers: [Int: WeightDirection.Matrix] = [:]
        var storage = directions.map(\.values)
        let forward: Double = storage.withUnsafeMutableBufferPointer { all in
            for (i, direction) in directions.enumerated() {
                all[i].withUnsafeBufferPointer { pointers[direction.module] = WeightDirection.Matrix(values: $0.baseAddress!, includesBias: modules[direction.module].hasBias) }
            }
            model.tangent(batch, activations, direction: WeightDirection(pointers), tangents: tangents)
            return (0..<(rows * W)).reduce(0.0) { $0 + Double(tangents.logits[$1]) * Double(w[$1]) }
        }

        // Jᵀw: the backward pass with w as the logits' gradient.
        for i in 0..<(rows * W) { activations.logitGradients[i] = w[i] }
        let gradients = model.parameters.makeZeroedLike()
        model.backward(batch, activations, gradients: gradients)
        var backward = 0.0, scale = 0.0
        for direction in directions {
            let module = modules[direction.module]
            let weight = gradients.entry(module.name + ".weight")!, bias = module.hasBias ? gradients.entry(module.name + ".bias") : nil
            for o in 0..<module.outputSize {
                for i in 0..<module.inputSize {
                    let term = Double(direction.values[o * direction.columns + i]) * Double(gradients.values[weight.offset + o * module.inputSize + i])
                    backward += term
                    scale += abs(term)
                }
                if let bias {
                    let term = Double(direction.values[o * direction.columns + module.inputSize]) * Double(gradients.values[bias.offset + o])
                    backward += term
                    scale += abs(term)
                }
            }
        }
        return (forward, backward, scale)
    }

    static func check(_ model: DecoderModel, _ what: String) {
        let count = DecoderModel.trackedModules(model.hyperparameters).count
        // Every module at once, the first alone (the stream's tangent starts mid-model), the last alone.
        for (k, moving) in [Array(0..<count), [0], [count - 1], [count / 2]].enumerated() {
            let (forward, backward, scale) = adjointPair(model, moving: moving, seed: 40 + UInt64(k))
            // Measured: at most 5e-8 of the scale (the sum of the terms' magnitudes) over these models.
            #expect(abs(forward - backward) <= 5e-7 * scale, "\(what), modules \(moving): ⟨Jv, w⟩ = \(forward), ⟨v, Jᵀw⟩ = \(backward), scale \(scale)")
            #expect(abs(forward) > 1e-3 * scale, "\(what): the products are not degenerate")
        }
    }

    @Test(arguments: [(true, 0.5, true), (false, 1.0, false), (true, 1.0, true)])
    func gptNeoXTangentIsTheAdjointOfBackward(parallel: Bool, rotary: Double, bias: Bool) {
        Self.check(microModel(parallel: parallel, rotaryFraction: rotary, attentionBias: bias), "GPT-NeoX parallel \(parallel)")
    }

    @Test(arguments: [DecoderHyperparameters.Family.llama, .qwen2, .mistral, .gpt2])
    func otherFamiliesTangentIsTheAdjointOfBackward(family: DecoderHyperparameters.Family) {
        Self.check(microModel(family: family), "\(family)")
    }

    @Test func bloomTangentIsTheAdjointOfBackward() {
        var h = DecoderHyperparameters(vocabularySize: 11, hiddenSize: 12, headCount: 6, intermediateSize: 12, layerCount: 2,
                                       maxPositions: 16, rotaryFraction: 0, parallelResidual: false, activation: .tanhApproximation,
                                       tiedEmbeddings: true)
        h.headSize = 2
        h.family = .bloom; h.positions = .alibi; h.embeddingNorm = true
        let model = DecoderModel(hyperparameters: h, seed: 3, initializerRange: 0.4)
        Self.check(model, "BLOOM")
    }

    /// Small attention blocks: the tangent's blocked recomputation gives the same products.
    @Test func attentionBlocksDoNotChangeTheTangent() {
        let model = microModel(family: .mistral)
        model.attentionBlockRows = 2
        Self.check(model, "Mistral, attention blocks of 2 rows")
    }
}
