import Checkpoints
import Foundation
import Models
import Numerics
import Testing
import Training

@Suite struct TrainingTests {
    static let fixtures = Bundle.module.url(forResource: "Fixtures", withExtension: nil)!

    /// Mean next-token cross-entropy gradients of `sequences` into `gradients`.
    static func meanLossGradients(_ model: DecoderModel, _ sequences: [[Int]], into gradients: ParameterStore) -> Double {
        let batch = TokenBatch(sequences: sequences)
        let activations = DecoderActivations(hyperparameters: model.hyperparameters)
        model.forward(batch, activations)
        var targets = LossTargets.nextToken(batch)
        let count = Float(targets.countedPositions)
        for i in targets.weights.indices where targets.weights[i] != 0 { targets.weights[i] = 1 / count }
        gradients.zero()
        let loss = CrossEntropy.summed(logits: activations.logits, targets: targets, vocabularySize: model.hyperparameters.vocabularySize,
                                       logitGradients: activations.logitGradients)
        model.backward(batch, activations, gradients: gradients)
        return loss
    }

    /// Two AdamW steps equal torch.optim.AdamW's (Tools/reference/make_training_fixtures.py).
    @Test func adamWMatchesPyTorch() throws {
        let directory = Self.fixtures.appendingPathComponent("adamw")
        let model = try DecoderModel(directory: directory)
        let reference = try SafeTensorsFile(url: directory.appendingPathComponent("reference.safetensors"))
        let tokens = try reference.integers("tokens"), lengths = try reference.integers("lengths")
        let sequences = lengths.enumerated().map { Array(tokens[($0 * 12)..<($0 * 12 + $1)]) }
        let before = Array(UnsafeBufferPointer(start: model.parameters.values, count: model.parameters.count))
        let optimizer = AdamW(parameters: model.parameters, configuration: .init(weightDecay: 0.1))
        let gradients = model.parameters.makeZeroedLike()
        for _ in 0..<2 {
            _ = Self.meanLossGradients(model, sequences, into: gradients)
            optimizer.step(parameters: model.parameters, gradients: gradients, learningRate: 1e-2)
        }
        for entry in model.parameters.entries {
            let expected = try reference.floats("after." + entry.name)
            var worst: Float = 0, moved: Float = 0
            let h = model.hyperparameters
            for i in 0..<entry.count {
                // A key bias shifts every score of a query equally, which softmax ignores: its
                // gradient is zero up to round-off, and Adam's g/√v turns that round-off into
                // full-size steps of arbitrary sign. Those entries cannot be compared.
                if entry.name.hasSuffix("query_key_value.bias") && (i % (3 * h.headSize)) / h.headSize == 1 { continue }
                let value = model.parameters.values[entry.offset + i]
                worst = max(worst, abs(value - expected[i]))
                moved = max(moved, abs(expected[i] - before[entry.offset + i]))
            }
            // The update is ~2 × lr per parameter; agree to 0.1 % of it.
            #expect(worst < 1e-3 * moved, "\(entry.name): off by \(worst), moved \(moved)")
        }
    }

    @Test func scheduleWarmsUpThenFollowsACosine() {
        let schedule = LearningRateSchedule(peak: 1, warmupSteps: 4, totalSteps: 14)
        #expect(schedule.rate(atStep: 0) == 0.25)
        #expect(schedule.rate(atStep: 3) == 1)
        #expect(abs(schedule.rate(atStep: 4) - 1) < 1e-12)
        #expect(abs(schedule.rate(atStep: 9) - 0.5) < 1e-12)
        #expect(abs(schedule.rate(atStep: 14)) < 1e-12)
    }

    static func toyCorpus() -> [TokenizedExample] {
        // A tiny formal language: "a b c d" cycles with a period that depends on the start.
        (0..<24).map { start in TokenizedExample(tokens: (0..<10).map { (start + $0 * (1 + start % 3)) % 11 }) }
    }

    static func toyModel() -> DecoderModel {
        DecoderModel(hyperparameters: DecoderHyperparameters(vocabularySize: 11, hiddenSize: 16, headCount: 2, intermediateSize: 32,
                                                             layerCount: 2, maxPositions: 16), seed: 4)
    }

    static func meanLoss(_ model: DecoderModel, _ examples: [TokenizedExample]) -> Double {
        let gradients = model.parameters.makeZeroedLike()
        return meanLossGradients(model, examples.map(\.tokens), into: gradients)
    }

    @Test func trainingLowersTheLossAndIsBitReproducible() throws {
        var configuration = Trainer.Configuration()
        configuration.learningRate = 1e-2
        configuration.epochs = 15
        configuration.batchSize = 4
        configuration.accumulationSteps = 2
        configuration.warmupSteps = 3
        configuration.seed = 9
        let corpus = Self.toyCorpus()
        let first = Self.toyModel(), second = Self.toyModel()
        let before = Self.meanLoss(first, corpus)
        try Trainer(model: first, examples: corpus, configuration: configuration).train()
        try Trainer(model: second, examples: corpus, configuration: configuration).train()
        let after = Self.meanLoss(first, corpus)
        #expect(after < 0.5 * before, "loss \(before) → \(after)")
        #expect(memcmp(first.parameters.values, second.parameters.values, first.parameters.count * 4) == 0)
    }

    @Test func resumingFromAStepGivesTheSameWeights() throws {
        var configuration = Trainer.Configuration()
        configuration.learningRate = 1e-2
        configuration.epochs = 3
        configuration.batchSize = 5
        let corpus = Self.toyCorpus()
        let straight = Self.toyModel()
        try Trainer(model: straight, examples: corpus, configuration: configuration).train()
        let interrupted = Self.toyModel()
        let firstHalf = Trainer(model: interrupted, examples: corpus, configuration: configuration)
        try firstHalf.train(from: 0, to: 7)
        let state = TrainingState(trainer: firstHalf, nextStep: 7)
        let secondHalf = Trainer(model: interrupted, examples: corpus, configuration: configuration)
        try state.restore(into: secondHalf)
        try secondHalf.train(from: 7)
        #expect(memcmp(straight.parameters.values, interrupted.parameters.values, straight.parameters.count * 4) == 0)
    }

    @Test func proximityKeepsFineTuningNearTheReference() throws {
        var configuration = Trainer.Configuration()
        configuration.learningRate = 1e-2
        configuration.epochs = 5
        let corpus = Self.toyCorpus()
        func distance(_ alpha: Double) throws -> Double {
            let model = Self.toyModel()
            let reference = Self.toyModel().parameters
            configuration.proximity = alpha
            try Trainer(model: model, examples: corpus, configuration: configuration, reference: reference).train()
            var squared = 0.0
            for i in 0..<model.parameters.count { let d = Double(model.parameters.values[i] - reference.values[i]); squared += d * d }
            return squared.squareRoot()
        }
        #expect(try distance(50) < 0.8 * distance(0))
    }
}

/// The sequence-classification head against transformers' GPTNeoXForSequenceClassification
/// (Tools/reference/make_classifier_fixture.py): logits, loss and every parameter's gradient.
@Suite struct ClassifierTests {
    @Test func classifierHeadMatchesTransformers() throws {
        let directory = TrainingTests.fixtures.appendingPathComponent("classifier")
        let checkpoint = try CheckpointDirectory(url: directory)
        guard case .gptNeoX(let config) = checkpoint.config else { return #expect(Bool(false)) }
        #expect(config.classifierLabels == ["red", "green", "blue"])
        let model = try DecoderModel(checkpoint: checkpoint)
        #expect(model.hyperparameters.classifierLabels == 3)
        let reference = try SafeTensorsFile(url: directory.appendingPathComponent("reference.safetensors"))
        let tokens = try reference.integers("tokens"), lengths = try reference.integers("lengths"), labels = try reference.integers("labels")
        let examples = lengths.enumerated().map { TokenizedExample(tokens: Array(tokens[($0 * 10)..<($0 * 10 + $1)]), label: labels[$0]) }
        let batch = TokenBatch(examples: examples)
        let activations = DecoderActivations(hyperparameters: model.hyperparameters)
        model.forward(batch, activations)
        let expectedLogits = try reference.floats("logits")
        for i in expectedLogits.indices { #expect(abs(activations.logits[i] - expectedLogits[i]) < 1e-4 * max(1, abs(expectedLogits[i]))) }
        let loss = CrossEntropy.summed(logits: activations.logits, targets: try model.lossTargets(batch, examples: examples),
                                       vocabularySize: 3, logitGradients: activations.logitGradients)
        #expect(abs(loss - (try reference.doubles("loss")[0])) < 1e-4 * loss)
        let gradients = model.parameters.makeZeroedLike()
        model.backward(batch, activations, gradients: gradients)
        for entry in gradients.entries {
            let expected = try reference.floats("grad." + entry.name)
            var difference: Float = 0, scale: Float = 0
            for i in 0..<entry.count {
                difference = max(difference, abs(gradients.values[entry.offset + i] - expected[i]))
                scale = max(scale, abs(expected[i]))
            }
            #expect(difference <= 1e-3 * scale, "gradient of \(entry.name): \(difference) of \(scale)")
        }
        #expect(gradients.entry("score.weight") != nil && gradients.entry("embed_out.weight") == nil)
    }

    @Test func labelsOutsideTheSetAreErrors() throws {
        let model = try DecoderModel(directory: TrainingTests.fixtures.appendingPathComponent("classifier"))
        let examples = [TokenizedExample(tokens: [1, 2, 3], label: 3)]
        #expect(throws: InputError.self) { try model.lossTargets(TokenBatch(examples: examples), examples: examples) }
    }
}

/// Checkpoints written by `influence train` mean the same to transformers as to us
/// (Tools/reference/check_swift_checkpoints.py ran transformers on them), and saving then
/// loading is exact.
@Suite struct ReadBackTests {
    @Test(arguments: ["swift-written-lm", "swift-written-classifier"])
    func transformersReadsOurCheckpointsAsWeDo(name: String) throws {
        let directory = TrainingTests.fixtures.appendingPathComponent(name)
        let model = try DecoderModel(directory: directory)
        let reference = try SafeTensorsFile(url: directory.appendingPathComponent("transformers_logits.safetensors"))
        let activations = DecoderActivations(hyperparameters: model.hyperparameters)
        for i in 0..<2 {
            let tokens = try reference.integers("tokens.\(i)")
            model.forward(TokenBatch(sequences: [tokens]), activations)
            let expected = try reference.floats("logits.\(i)")
            var worst: Float = 0, scale: Float = 0
            for j in expected.indices { worst = max(worst, abs(activations.logits[j] - expected[j])); scale = max(scale, abs(expected[j])) }
            #expect(worst <= 1e-4 * scale, "\(name) sequence \(i): \(worst) of \(scale)")
        }
    }

    @Test func savingAndLoadingIsExact() throws {
        let model = try DecoderModel(directory: TrainingTests.fixtures.appendingPathComponent("swift-written-classifier"))
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("saved-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        try model.save(to: directory)
        let loaded = try DecoderModel(directory: directory)
        #expect(loaded.hyperparameters == model.hyperparameters)
        #expect(memcmp(loaded.parameters.values, model.parameters.values, model.parameters.count * 4) == 0)
    }
}
