import ArgumentParser
import Models
import Numerics
import Training

struct TrainingBenchmark: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "train", abstract: "A training step against bare forward + backward.")

    func run() throws { try benchmarkTraining() }
}

/// Training throughput against bare forward + backward: the optimizer's overhead.
func benchmarkTraining() throws {
    let h = DecoderHyperparameters(vocabularySize: 50_304, hiddenSize: 512, headCount: 8, intermediateSize: 2048,
                                   layerCount: 6, maxPositions: 2048)
    let model = DecoderModel(hyperparameters: h, seed: 1)
    var rng = RandomGenerator(seed: 5)
    let examples = (0..<4).map { _ in TokenizedExample(tokens: (0..<512).map { _ in rng.nextInt(below: h.vocabularySize) }) }
    let batch = TokenBatch(examples: examples)
    let targets = LossTargets.nextToken(batch)
    let activations = DecoderActivations(hyperparameters: h)
    let gradients = model.parameters.makeZeroedLike()
    let bare = bestTime(repetitions: 3) {
        gradients.zero()
        model.forwardLossBackward(batch, targets: targets, activations, gradients: gradients)
    }
    var configuration = Trainer.Configuration()
    configuration.batchSize = 4
    configuration.epochs = 5
    let trainer = Trainer(model: model, examples: examples, configuration: configuration)
    var step = 0
    let full = try bestTime(repetitions: 3) {
        try trainer.train(from: step, to: step + 1)
        step += 1
    }
    print("Training step, 70m-sized GPT-NeoX, 4 × 512 tokens (best of 3)")
    print(String(format: "  forward + backward        %.0f ms  (%.0f tok/s)", bare * 1e3, 2048 / bare))
    print(String(format: "  + clipping + AdamW step   %.0f ms  (%.0f tok/s): optimizer overhead %.1f %%", full * 1e3, 2048 / full,
                 100 * (full - bare) / bare))
}
