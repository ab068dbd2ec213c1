import ArgumentParser
import Models
import Numerics

struct ModelBenchmark: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "model", abstract: "GPT-NeoX forward and forward + backward.")

    func run() { benchmarkModels() }
}

/// Forward + backward (with parameter gradients, as in training) of one GPT-NeoX configuration
/// on random weights and tokens.
func benchmarkModel(name: String, _ h: DecoderHyperparameters, sequenceLength: Int, repetitions: Int) {
    let model = DecoderModel(hyperparameters: h, seed: 1)
    var rng = RandomGenerator(seed: 2)
    let batch = TokenBatch(sequences: [(0..<sequenceLength).map { _ in rng.nextInt(below: h.vocabularySize) }])
    let targets = LossTargets.nextToken(batch)
    let activations = DecoderActivations(hyperparameters: h)
    let gradients = model.parameters.makeZeroedLike()
    let forwardOnly = bestTime(repetitions: repetitions) { model.forward(batch, activations) }
    let seconds = bestTime(repetitions: repetitions) {
        model.forwardLossBackward(batch, targets: targets, activations, gradients: gradients)
    }
    // Backward costs twice the forward's matrix products.
    let flops = 3 * h.forwardFLOPs(sequenceLengths: [sequenceLength])
    print(pad(name, 48) + pad(String(format: "%.1f ms", forwardOnly * 1e3), 12)
          + pad(String(format: "%.1f ms", seconds * 1e3), 12)
          + pad(String(format: "%.0f", Double(sequenceLength) / seconds), 10)
          + String(format: "%.1f", flops / seconds / 1e9)
          + String(format: "   (activations %.0f MB)", Double(activations.allocatedBytes) / 1e6))
}

func benchmarkModels() {
    print("GPT-NeoX forward and forward+backward, one sequence, random weights (best of 5)")
    print(pad("configuration", 48) + pad("forward", 12) + pad("fwd+bwd", 12) + pad("tokens/s", 10) + "GFLOP/s")
    benchmarkModel(
        name: "70m-sized (6×512, 8 heads, T=512, V=50304)",
        DecoderHyperparameters(vocabularySize: 50_304, hiddenSize: 512, headCount: 8, intermediateSize: 2048,
                               layerCount: 6, maxPositions: 2048),
        sequenceLength: 512, repetitions: 5)
    // The paper's small model was trained on Penn Treebank (a 10,000-word vocabulary); with
    // Pythia's 50,304-token vocabulary the unembedding is 88% of the work instead.
    for vocabulary in [10_000, 50_304] {
        benchmarkModel(
            name: "paper-small (2×256, 2 heads, T=128, V=\(vocabulary))",
            DecoderHyperparameters(vocabularySize: vocabulary, hiddenSize: 256, headCount: 2, intermediateSize: 1024,
                                   layerCount: 2, maxPositions: 2048),
            sequenceLength: 128, repetitions: 20)
    }
}
