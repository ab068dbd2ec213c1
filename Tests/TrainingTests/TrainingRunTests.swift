import Checkpoints
import Foundation
import Models
import Testing
import Tokenization
import Training

/// A training run through the library (no command line): stopped with `maxSteps` and then
/// continued from its checkpoint, it ends with the uninterrupted run's weights, bit for bit.
@Suite struct TrainingRunTests {
    @Test func aStoppedRunContinuesToTheUninterruptedWeights() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("training-run-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        func path(_ name: String) -> String { directory.appendingPathComponent(name).path }
        let texts = (0..<12).map { "Fact \($0): the capital of land \($0 % 5) is city \($0 * 7 % 11)." }
        var bpe = BPETrainer(vocabularySize: 300)
        texts.forEach { bpe.add($0) }
        try bpe.tokenizerJSON().write(to: URL(fileURLWithPath: path("tokenizer.json")))
        try """
            {"model_type": "gpt_neox", "vocab_size": 320, "hidden_size": 16, "num_attention_heads": 2, "intermediate_size": 32,
             "num_hidden_layers": 2, "max_position_embeddings": 48}
            """.write(toFile: path("config.json"), atomically: true, encoding: .utf8)
        try texts.map { "{\"text\": \"\($0)\"}" }.joined(separator: "\n").write(toFile: path("data.jsonl"), atomically: true, encoding: .utf8)

        func options(out: String, maxSteps: Int? = nil) -> TrainingRun.Options {
            var options = TrainingRun.Options(start: .config(path: path("config.json"), tokenizer: path("tokenizer.json")),
                                              data: path("data.jsonl"), out: URL(fileURLWithPath: path(out)))
            options.configuration.epochs = 3
            options.configuration.batchSize = 4
            options.configuration.seed = 5
            options.maxSteps = maxSteps
            return options
        }
        let straight = try TrainingRun(options(out: "straight"))
        var steps: [Int] = []
        guard case .finished(_, let loss) = try straight.run(progress: { steps.append($0.step) }) else {
            Issue.record("the uninterrupted run stopped early")
            return
        }
        #expect(loss.isFinite && steps == Array(1...straight.trainer.totalSteps))

        let stopped = try TrainingRun(options(out: "resumed", maxSteps: 4))
        let outcome = try stopped.run()
        #expect(outcome == .stopped(afterStep: 4, totalSteps: straight.trainer.totalSteps, checkpoint: stopped.checkpointURL))
        #expect(FileManager.default.fileExists(atPath: stopped.checkpointURL.appendingPathComponent("run.json").path))
        #expect(!FileManager.default.fileExists(atPath: path("resumed/model.safetensors")))

        // Other options are another run: its checkpoint is refused.
        var other = options(out: "resumed")
        other.configuration.learningRate = 2e-3
        #expect(throws: InputError.self) { try TrainingRun(other) }

        var messages: [String] = []
        let continued = try TrainingRun(options(out: "resumed"), log: { messages.append($0) })
        #expect(continued.firstStep == 4 && messages.contains("resuming at step 5 of \(straight.trainer.totalSteps)"))
        guard case .finished(_, let resumedLoss) = try continued.run() else {
            Issue.record("the continued run stopped early")
            return
        }
        #expect(resumedLoss == loss)
        let weights = FileManager.default.contents(atPath: path("straight/model.safetensors"))
        #expect(weights != nil && FileManager.default.contents(atPath: path("resumed/model.safetensors")) == weights)
        #expect(!FileManager.default.fileExists(atPath: stopped.checkpointURL.path))
    }
}
