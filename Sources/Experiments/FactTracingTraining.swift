import Models
import Training

extension FactTracingBenchmark {
    /// Stage 2's output: the two models and how well they know the facts.
    public struct TrainedModels {
        public let hyperparameters: DecoderHyperparameters
        public let pretrained: DecoderModel
        public let finetuned: DecoderModel
        /// The paper's Table 4: both models in statement and question form.
        public let accuracy: [Accuracy]
        /// ‖θ_ft − θ_pt‖ / ‖θ_pt‖.
        public let relativeDistance: Double
    }

    /// Stage 2: pre-train a small GPT-NeoX on the statements, fine-tune a copy on the
    /// fine-tuned facts' questions, and measure both models' accuracy.
    public func train(_ world: World) throws -> TrainedModels {
        let o = options
        let h = DecoderHyperparameters(vocabularySize: o.vocabularySize, hiddenSize: o.hiddenSize, headCount: 4,
                                       intermediateSize: 4 * o.hiddenSize, layerCount: 2, maxPositions: 64)
        let pretrained = DecoderModel(hyperparameters: h, seed: o.seed)
        var configuration = Trainer.Configuration()
        configuration.learningRate = 3e-3
        configuration.warmupSteps = 50
        configuration.epochs = o.pretrainEpochs
        configuration.batchSize = 16
        configuration.seed = o.seed
        log("pre-training (\(o.pretrainEpochs) epochs)")
        try Trainer(model: pretrained, examples: world.statements, configuration: configuration).train()

        let finetuned = DecoderModel(hyperparameters: h, parameters: pretrained.parameters.makeZeroedLike())
        finetuned.parameters.values.update(from: pretrained.parameters.values, count: pretrained.parameters.count)
        configuration.learningRate = 1e-3
        configuration.warmupSteps = 0
        configuration.epochs = o.finetuneEpochs
        configuration.batchSize = 8
        configuration.proximity = o.proximity
        log("fine-tuning (\(o.finetuneEpochs) epochs\(o.proximity > 0 ? ", proximity α = \(o.proximity)" : ""))")
        try Trainer(model: finetuned, examples: world.questions, configuration: configuration, reference: pretrained.parameters).train()
        let distance = ParameterDistance(pretrained: pretrained, finetuned: finetuned)
        log(String(format: "relative distance ‖θ_ft − θ_pt‖ / ‖θ_pt‖ = %.3f", distance.relativeDistance))

        let accuracy = [try Self.accuracy(pretrained, "pre-trained", world), try Self.accuracy(finetuned, "fine-tuned", world)]
        for a in accuracy {
            log(String(format: "%@: statements %.2f, questions (fine-tuned facts) %.2f, questions (held-out facts) %.2f",
                       a.model, a.statementsAllFacts, a.questionsFineTuned, a.questionsHeldOut))
        }
        return TrainedModels(hyperparameters: h, pretrained: pretrained, finetuned: finetuned, accuracy: accuracy,
                             relativeDistance: distance.relativeDistance)
    }

    /// How often the greedy answer starts with the right object, in statement form (all facts)
    /// and question form (fine-tuned and held-out facts).
    static func accuracy(_ model: DecoderModel, _ name: String, _ world: World) throws -> Accuracy {
        let facts = world.data.world, tokenizer = world.tokenizer
        func answers(_ prompt: String, _ expected: String) throws -> Bool {
            let generated = try model.greedyContinuation(of: tokenizer.encode(prompt), maxNewTokens: 8, stopTokens: [world.endOfText])
            return tokenizer.decode(generated).hasPrefix(expected.hasSuffix(".") ? String(expected.dropLast()) : expected)
        }
        func rate(_ indices: [Int], _ form: (Int) -> (prompt: String, completion: String)) throws -> Double {
            Double(try indices.filter { try answers(form($0).prompt, form($0).completion) }.count) / Double(max(indices.count, 1))
        }
        return Accuracy(model: name, statementsAllFacts: try rate(Array(facts.facts.indices), facts.statementPrompt),
                        questionsFineTuned: try rate(world.data.fineTuned, facts.question),
                        questionsHeldOut: try rate(world.data.heldOut, facts.question))
    }
}
