import ArgumentParser
import Foundation
import Models
import Numerics

struct ModelBenchmark: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "model", abstract: "Forward and forward + backward: GPT-NeoX shapes, or a real model with --model.",
        discussion: """
            With --model (a Hugging Face directory or a .gguf file), one sequence of --tokens random tokens through the \
            model's forward pass and forward + summed next-token loss + backward with every parameter's gradient (what \
            Tools/reference/bench_llama.py times for PyTorch); prints the median of --repetitions runs after a warm-up, \
            and one JSON line.
            """)

    @Option(help: "A real model to time (a Hugging Face directory or a .gguf file).") var model: String?
    @Option(help: "Tokens in the sequence.") var tokens = 512
    @Option(help: "Timed runs (after one warm-up); the median is reported.") var repetitions = 3

    func run() throws {
        guard let model else { return benchmarkModels() }
        try benchmarkRealModel(path: model, tokens: tokens, repetitions: repetitions)
    }
}

/// Median forward and forward + backward time of a loaded model on random tokens.
func benchmarkRealModel(path: String, tokens: Int, repetitions: Int) throws {
    let model = try DecoderModel(path: path)
    let h = model.hyperparameters
    var rng = RandomGenerator(seed: 2)
    let batch = TokenBatch(sequences: [(0..<min(tokens, h.maxPositions)).map { _ in rng.nextInt(below: h.vocabularySize) }])
    let targets = LossTargets.nextToken(batch)
    let activations = DecoderActivations(hyperparameters: h)
    let gradients = model.parameters.makeZeroedLike()
    func median(_ body: () -> Void) -> Double {
        body()
        let times = (0..<max(1, repetitions)).map { _ -> Double in
            let start = DispatchTime.now().uptimeNanoseconds
            body()
            return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        }.sorted()
        return times[times.count / 2]
    }
    let forward = median { model.forward(batch, activations) }
    let both = median {
        gradients.zero()
        model.forwardLossBackward(batch, targets: targets, activations, gradients: gradients)
    }
    print(String(format: "%@ (%@, %d layers, hidden %d): forward %.2f s, forward+backward %.2f s for %d tokens (activations %.0f MB)",
                 path, h.family.rawValue, h.layerCount, h.hiddenSize, forward, both, batch.tokenCount,
                 Double(activations.allocatedBytes) / 1e6))
    print(String(format: #"{"forward_seconds": %.4f, "seconds": %.4f, "tokens": %d, "threads": 1}"#, forward, both, batch.tokenCount))
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
