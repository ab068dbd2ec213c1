import ArgumentParser
import Checkpoints
import Foundation
import Models
import Tokenization
import Training

struct Train: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Pre-train, continue training or fine-tune a GPT-NeoX model.",
        discussion: """
            Start from a config (--init CONFIG.json with --tokenizer) or a checkpoint (--from MODEL_DIR). \
            Data lines are {"text": ...} (loss on every next token) or {"prompt": ..., "completion": ...} \
            (loss on completion tokens only). The loss of each optimizer step is the mean over its counted \
            tokens. Writes a Hugging Face directory (config.json, model.safetensors, tokenizer.json) to --out; \
            checkpoints go to --out/checkpoint every --save-every steps, and running the same command again \
            resumes from the last one.
            """)

    @Option(name: .customLong("init"), help: "A GPT-NeoX config.json to initialise a new model from.")
    var initConfig: String?

    @Option(help: "tokenizer.json (or a directory holding it) for a new model.")
    var tokenizer: String?

    @Option(name: .customLong("from"), help: "A model directory to continue from.")
    var from: String?

    @Option(help: "JSON Lines training data.")
    var data: String

    @Option(help: "lm (next-token prediction) or classify (a sequence classifier on {\"text\", \"label\"}).")
    var task: TrainingTask = .lm

    @Option(help: "The classifier's labels, comma-separated (a new head replaces the language-model head).")
    var labels: String?

    @Option(help: "Output model directory.")
    var out: String

    @Option(parsing: .unconditional, help: "Passes over the data.")
    var epochs = 1

    @Option(parsing: .unconditional, help: "Peak learning rate.")
    var learningRate = 1e-3

    @Option(parsing: .unconditional, help: "Linear warm-up steps before the cosine decay.")
    var warmupSteps = 0

    @Option(parsing: .unconditional, help: "Sequences per forward/backward pass.")
    var batchSize = 8

    @Option(parsing: .unconditional, help: "Forward/backward passes per optimizer step.")
    var accumulate = 1

    @Option(parsing: .unconditional, help: "Largest global gradient norm (0: no clipping).")
    var clipNorm = 1.0

    @Option(parsing: .unconditional, help: "AdamW's decoupled weight decay.")
    var weightDecay = 0.01

    @Option(parsing: .unconditional, help: "Seed of the initial weights and the data order.")
    var seed: UInt64 = 0

    @Option(parsing: .unconditional, help: "Cut sequences to this many tokens (default: the model's context).")
    var seqLen: Int?

    @Option(parsing: .unconditional, help: "Add (α/2)‖θ − θ_from‖² to the loss (needs --from).")
    var proximity = 0.0

    @Option(parsing: .unconditional, help: "Save a checkpoint every N optimizer steps (0: only at the end).")
    var saveEvery = 0

    @Option(parsing: .unconditional, help: "Stop after this optimizer step with a checkpoint; the same command without it continues.")
    var maxSteps: Int?

    enum TrainingTask: String, ExpressibleByArgument, CaseIterable { case lm, classify }

    var labelNames: [String]? {
        labels.map { $0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty } }
    }

    func validate() throws {
        if task == .lm && labels != nil { throw ValidationError("--labels needs --task classify") }
        if let names = labelNames, names.count < 2 || Set(names).count != names.count {
            throw ValidationError("--labels needs at least two distinct labels")
        }
        if (initConfig == nil) == (from == nil) { throw ValidationError("give exactly one of --init and --from") }
        if initConfig != nil && tokenizer == nil { throw ValidationError("--init needs --tokenizer") }
        if proximity > 0 && from == nil { throw ValidationError("--proximity needs --from (the weights to stay near)") }
        try OptionCheck.positive(epochs, "--epochs", largest: OptionCheck.largestCount)
        try OptionCheck.positive(batchSize, "--batch-size", largest: OptionCheck.largestCount)
        try OptionCheck.positive(accumulate, "--accumulate", largest: OptionCheck.largestCount)
        try OptionCheck.inRange(warmupSteps, "--warmup-steps", 0)
        try OptionCheck.inRange(saveEvery, "--save-every", 0)
        try OptionCheck.positive(maxSteps, "--max-steps")
        try OptionCheck.inRange(seqLen, "--seq-len", 2)
        try OptionCheck.finite(learningRate, "--learning-rate", positive: true)
        try OptionCheck.finite(clipNorm, "--clip-norm")
        try OptionCheck.finite(weightDecay, "--weight-decay")
        try OptionCheck.finite(proximity, "--proximity")
    }

    func run() throws {
        let outURL = URL(fileURLWithPath: out)
        let checkpointURL = outURL.appendingPathComponent("checkpoint")
        // The starting model and its tokenizer.
        var model: GPTNeoXModel
        let tokenizerURL: URL
        var reference: ParameterStore?
        var extraConfig: [String: Any] = [:]
        var classLabels: [String]?
        if let from {
            let loaded = try LoadedModel(path: from)
            model = loaded.model
            // θ_ref is the starting model as loaded, before any new head is made.
            if proximity > 0 {
                reference = model.parameters.makeZeroedLike()
                reference!.values.update(from: model.parameters.values, count: model.parameters.count)
            }
            tokenizerURL = loaded.directory.appendingPathComponent("tokenizer.json")
            if task == .classify {
                if model.hyperparameters.family != .gptNeoX {
                    throw InputError("\(from): classifier heads are supported for gpt_neox models only")
                }
                if let existing = loaded.labels {
                    if let names = labelNames, names != existing {
                        throw InputError("\(from): a classifier with labels \(existing.joined(separator: ",")), not \(names.joined(separator: ","))")
                    }
                    classLabels = existing
                } else {
                    guard let names = labelNames else { throw InputError("--task classify on a language model needs --labels") }
                    classLabels = names
                    model = Self.classifier(from: model, labels: names.count, seed: seed)
                }
            } else if loaded.labels != nil {
                throw InputError("\(from): is a sequence classifier; train it with --task classify")
            }
        } else {
            let configURL = URL(fileURLWithPath: initConfig!)
            var hyperparameters: GPTNeoXHyperparameters
            switch try ModelConfig.load(from: configURL) {
            case .gptNeoX(let config): hyperparameters = try GPTNeoXHyperparameters(config: config, source: configURL.path)
            case .bloom(let config): hyperparameters = GPTNeoXHyperparameters(bloom: config)
            case .gpt2: throw InputError("\(configURL.path): training needs model_type gpt_neox or bloom")
            }
            if task == .classify {
                guard let names = labelNames else { throw InputError("--task classify needs --labels") }
                guard hyperparameters.family == .gptNeoX else { throw InputError("classifier heads are supported for gpt_neox models only") }
                classLabels = names
                hyperparameters.classifierLabels = names.count
                hyperparameters.tiedEmbeddings = false
            }
            model = GPTNeoXModel(hyperparameters: hyperparameters, seed: seed)
            var url = URL(fileURLWithPath: tokenizer!)
            if (try? url.resourceValues(forKeys: [.isDirectoryKey]).isDirectory) == true { url.appendPathComponent("tokenizer.json") }
            tokenizerURL = url
        }
        let bpe = try BPETokenizer(contentsOf: tokenizerURL, modelVocabularySize: model.hyperparameters.vocabularySize)
        if let eot = bpe.endOfTextTokenId { extraConfig = ["bos_token_id": eot, "eos_token_id": eot] }
        if let classLabels {
            extraConfig["id2label"] = Dictionary(uniqueKeysWithValues: classLabels.enumerated().map { (String($0), $1) })
            extraConfig["label2id"] = Dictionary(uniqueKeysWithValues: classLabels.enumerated().map { ($1, $0) })
            // Hugging Face pools the last token that is not padding; padding must be a real id.
            extraConfig["pad_token_id"] = bpe.id(ofToken: "<|padding|>") ?? bpe.endOfTextTokenId ?? 0
        }

        let h = model.hyperparameters
        let records = try readJSONLines(data, as: DataRecord.self)
        if records.isEmpty { throw InputError("\(data): no records") }
        let tokenized = try TokenizedRecords(records, tokenizer: bpe, contextLength: h.maxPositions, source: data,
                                            maxLength: seqLen ?? h.maxPositions, labels: classLabels)
        if tokenized.truncated > 0 { warn("note: cut \(tokenized.truncated) sequences to \(min(seqLen ?? h.maxPositions, h.maxPositions)) tokens") }

        var configuration = Trainer.Configuration()
        configuration.learningRate = learningRate
        configuration.warmupSteps = warmupSteps
        configuration.epochs = epochs
        configuration.batchSize = batchSize
        configuration.accumulationSteps = accumulate
        configuration.clipNorm = clipNorm
        configuration.seed = seed
        configuration.proximity = proximity
        configuration.optimizer.weightDecay = weightDecay
        let trainer = Trainer(model: model, examples: tokenized.examples, configuration: configuration, reference: reference)

        // Resume from a checkpoint of the same run.
        let runDescription = "\(configuration)|\(FileDigest.fingerprint(ofPath: data))|\(from ?? initConfig!)|\(seqLen ?? 0)"
        var firstStep = 0
        let stateURL = checkpointURL.appendingPathComponent("training-state.safetensors")
        let runURL = checkpointURL.appendingPathComponent("run.txt")
        if let saved = try? String(contentsOf: runURL, encoding: .utf8), FileManager.default.fileExists(atPath: stateURL.path) {
            guard saved == runDescription else {
                throw InputError("\(checkpointURL.path): holds a checkpoint of another run; remove it or choose another --out")
            }
            let checkpoint = try GPTNeoXModel(directory: checkpointURL)
            model.parameters.values.update(from: checkpoint.parameters.values, count: model.parameters.count)
            let state = try TrainingState(contentsOf: stateURL)
            try state.restore(into: trainer)
            firstStep = state.nextStep
            warn("resuming at step \(firstStep + 1) of \(trainer.totalSteps)")
        }

        func saveModel(to directory: URL) throws {
            try model.save(to: directory, extraConfig: extraConfig)
            try AtomicFile.write(try Data(contentsOf: tokenizerURL), to: directory.appendingPathComponent("tokenizer.json"))
        }
        let tokens = tokenized.examples.reduce(0) { $0 + $1.tokens.count }
        warn("training \(tokenized.examples.count) sequences (\(tokens) tokens) for \(trainer.totalSteps) optimizer steps")
        let bar = ProgressBar("train", total: trainer.totalSteps, unit: "step")
        var step = firstStep
        let stop = min(trainer.totalSteps, maxSteps ?? trainer.totalSteps)
        while step < stop {
            let end = min(stop, saveEvery > 0 ? (step / saveEvery + 1) * saveEvery : trainer.totalSteps)
            do {
                try trainer.train(from: step, to: end) { progress in
                    bar.update(progress.step, detail: String(format: "loss %.4f  lr %.2e  %.0f tok/s", progress.loss,
                                                             progress.learningRate, progress.tokensPerSecond))
                    FaultInjection.reached("train")
                }
            } catch let error as Trainer.DivergedError {
                bar.end()
                throw InputError("\(error); nothing written to \(out)")
            }
            step = end
            if (saveEvery > 0 || step == stop) && step < trainer.totalSteps {
                // run.txt goes last and marks a complete checkpoint: killed while the weights
                // are newer than the optimizer state, the run restarts instead of mixing them.
                try? FileManager.default.removeItem(at: runURL)
                try saveModel(to: checkpointURL)
                try TrainingState(trainer: trainer, nextStep: step).write(to: stateURL)
                try AtomicFile.write(Data(runDescription.utf8), to: runURL)
            }
        }
        bar.finish()
        if step < trainer.totalSteps {
            print("stopped after step \(step) of \(trainer.totalSteps); checkpoint in \(checkpointURL.path); run the same command without --max-steps to continue")
            return
        }
        // Weights can be finite and still too large to give a finite loss.
        let finalLoss = meanLoss(model, tokenized.examples)
        guard finalLoss.isFinite else {
            throw InputError("training diverged: the trained model's loss on \(data) is \(finalLoss) (try a lower --learning-rate); nothing written to \(out)")
        }
        try saveModel(to: outURL)
        try? FileManager.default.removeItem(at: checkpointURL)
        warn("wrote \(outURL.path) (loss on the training data: \(String(format: "%.4f", finalLoss)))")
    }

    /// A classifier on `languageModel`'s backbone: every parameter copied except the
    /// unembedding, which a new head `score.weight` (normal, std 0.02) replaces.
    static func classifier(from languageModel: GPTNeoXModel, labels: Int, seed: UInt64) -> GPTNeoXModel {
        var h = languageModel.hyperparameters
        h.classifierLabels = labels
        h.tiedEmbeddings = false
        let model = GPTNeoXModel(hyperparameters: h, seed: seed)
        for entry in model.parameters.entries {
            guard let source = languageModel.parameters.entry(entry.name), source.shape == entry.shape else { continue }
            (model.parameters.values + entry.offset).update(from: languageModel.parameters.values + source.offset, count: entry.count)
        }
        return model
    }

    /// Mean cross-entropy over every counted target of `examples`.
    func meanLoss(_ model: GPTNeoXModel, _ examples: [TokenizedExample]) -> Double {
        let activations = GPTNeoXActivations(hyperparameters: model.hyperparameters)
        var total = 0.0, count = 0
        for start in stride(from: 0, to: examples.count, by: 16) {
            let slice = Array(examples[start..<min(start + 16, examples.count)])
            let batch = TokenBatch(examples: slice)
            guard let targets = try? model.lossTargets(batch, examples: slice) else { continue }
            total += model.summedLoss(batch, targets: targets, activations)
            count += targets.countedPositions
        }
        return total / Double(max(count, 1))
    }
}
