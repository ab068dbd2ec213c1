import Models
import Numerics
import Testing

@Suite struct MemoryEstimateTests {
    /// The estimate mirrors what a forward and backward pass actually reserve, for every family.
    @Test(arguments: [DecoderHyperparameters.Family.llama, .gpt2, .bloom, .qwen2])
    func activationEstimateEqualsWhatAPassReserves(family: DecoderHyperparameters.Family) {
        let model = microModel(family: family)
        let sequences: [[Int]] = [[1, 2, 3, 4, 5, 6, 7], [4, 5, 6]]
        let activations = DecoderActivations(hyperparameters: model.hyperparameters)
        let batch = TokenBatch(sequences: sequences)
        model.forward(batch, activations)
        let estimate = DecoderActivations.estimatedBytes(model.hyperparameters, tokens: batch.tokenCount, longestSequence: 7)
        #expect(estimate == activations.allocatedBytes)
    }

    @Test func parallelResidualModelsNeedNoPostAttentionStream() {
        let model = microModel(parallel: true, rotaryFraction: 0.5, attentionBias: true)
        let activations = DecoderActivations(hyperparameters: model.hyperparameters)
        model.forward(TokenBatch(sequences: [[1, 2, 3], [3, 3]]), activations)
        #expect(DecoderActivations.estimatedBytes(model.hyperparameters, tokens: 5, longestSequence: 3) == activations.allocatedBytes)
        #expect(model.weightBytes == model.parameters.count * 4)
    }
}
