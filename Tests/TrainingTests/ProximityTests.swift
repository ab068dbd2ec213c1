import Models
import Numerics
import Testing
import Training

@Suite struct ProximityTests {
    /// A tiny classifier: its head `score.weight` is a new parameter of fine-tuning.
    func classifier(seed: UInt64) -> DecoderModel {
        var h = DecoderHyperparameters(vocabularySize: 11, hiddenSize: 8, headCount: 2, intermediateSize: 12, layerCount: 1,
                                       maxPositions: 16, rotaryFraction: 0.5, parallelResidual: true, activation: .exact,
                                       attentionBias: true)
        h.classifierLabels = 3
        h.tiedEmbeddings = false
        return DecoderModel(hyperparameters: h, seed: seed, initializerRange: 0.3)
    }

    func step(_ model: DecoderModel, proximity: Double, reference: ParameterStore?) throws {
        let examples = [TokenizedExample(tokens: [1, 4, 2, 7], label: 0), TokenizedExample(tokens: [3, 3, 9], label: 2)]
        var configuration = Trainer.Configuration()
        configuration.learningRate = 1e-2
        configuration.clipNorm = 0
        configuration.proximity = proximity
        configuration.optimizer.weightDecay = 0
        try Trainer(model: model, examples: examples, configuration: configuration, reference: reference).train(to: 1)
    }

    func values(_ model: DecoderModel, _ name: String) -> [Float] {
        let entry = model.parameters.entry(name)!
        return Array(UnsafeBufferPointer(start: model.parameters.values + entry.offset, count: entry.count))
    }

    /// The proximity term pulls the backbone toward θ_ref and leaves the head free: a head that
    /// is new in fine-tuning has no pre-trained value to stay near.
    @Test func proximityPullsTheBackboneOnly() throws {
        let free = classifier(seed: 3), pulled = classifier(seed: 3)
        // θ_ref differs from the start in every parameter, the head included.
        let reference = pulled.parameters.makeZeroedLike()
        for i in 0..<pulled.parameters.count { reference.values[i] = pulled.parameters.values[i] + 0.5 }
        try step(free, proximity: 0, reference: nil)
        try step(pulled, proximity: 100, reference: reference)
        #expect(pulled.headParameter == "score.weight")
        #expect(values(free, "score.weight") == values(pulled, "score.weight"), "the head was pulled toward θ_ref")
        let backbone = "gpt_neox.layers.0.mlp.dense_h_to_4h.weight"
        #expect(values(free, backbone) != values(pulled, backbone), "the backbone was not pulled")
    }
}
