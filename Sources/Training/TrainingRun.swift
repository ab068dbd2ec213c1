import Checkpoints
import Foundation
import Models
import Numerics
import Tokenization

/// What a training run learns: next-token prediction, or a sequence classifier on
/// `{"text", "label"}` records.
public enum TrainingTask: String, Sendable, CaseIterable { case lm, classify }

/// A resumable training run that writes a Hugging Face model directory: pre-training from a
/// config, continued training or fine-tuning from a checkpoint (optionally into a new
/// classifier head). Checkpoints go to `out/checkpoint`; a run made again with the same
/// options resumes from the last one and ends with the same weights as an uninterrupted run.
///
/// Set-up (`init`) loads the model, tokenises the data and restores a checkpoint; `run` trains.
public final class TrainingRun {
    public enum Start: Sendable, Equatable {
        /// A new model from a `config.json` with the tokenizer at `tokenizer` (a file or a directory holding `tokenizer.json`).
        case config(path: String, tokenizer: String)
        /// The model directory at `path`.
        case model(path: String)

        /// The config.json or model the run starts from.
        public var path: String {
            switch self {
            case .config(let path, _), .model(let path): path
            }
        }
    }

    public struct Options: Sendable {
        public var start: Start
        public var task: TrainingTask = .lm
        /// The classifier's labels (a new head is made when the starting model is a language model).
        public var labels: [String]?
        /// JSON Lines training data.
        public var data: String
        public var out: URL
        public var configuration = Trainer.Configuration()
        /// Cut sequences to this many tokens (nil: the model's context).
        public var sequenceLength: Int?
        /// Save a checkpoint every this many optimizer steps (0: only when stopping early).
        public var saveEvery = 0
        /// Stop after this optimizer step with a checkpoint.
        public var maxSteps: Int?
        /// Train on a random subset of this fraction of the sequences (TRAK's ensembles, LDS), drawn with `subsetSeed`.
        public var subsetFraction: Double?
        public var subsetSeed: UInt64 = 0

        public init(start: Start, data: String, out: URL) {
            self.start = start
            self.data = data
            self.out = out
        }
    }

    public enum Outcome: Equatable {
        /// Stopped at `maxSteps` before the end; the checkpoint continues the run.
        case stopped(afterStep: Int, totalSteps: Int, checkpoint: URL)
        /// The trained model was written to `model`; `loss` is its mean loss on the training data.
        case finished(model: URL, loss: Double)
    }

    public let options: Options
    public let model: DecoderModel
    public let trainer: Trainer
    /// The tokenised training data.
    public let data: TokenizedRecords
    /// The sequences trained on: all of `data`, or its random subset.
    public let examples: [TokenizedExample]
    /// The optimizer step the run starts at (after a checkpoint's, when resuming).
    public let firstStep: Int
    private let tokenizerFiles: TokenizerFiles
    private let extraConfig: [String: Any]
    private let identity: RunIdentity

    public var checkpointURL: URL { options.out.appendingPathComponent("checkpoint") }
    private var stateURL: URL { checkpointURL.appendingPathComponent("training-state.safetensors") }
    private var identityURL: URL { checkpointURL.appendingPathComponent("run.json") }

    /// Loads the starting model and tokenizer, tokenises the data and restores the checkpoint
    /// of the same run if there is one; `log` gets one-line notes (truncation, resumption, sizes).
    public init(_ options: Options, log: (String) -> Void = { _ in }) throws {
        self.options = options
        let start = try Self.startingModel(options)
        let model = start.model
        let bpe = try BPETokenizer(json: start.tokenizer.tokenizer, source: options.start.path,
                                   modelVocabularySize: model.hyperparameters.vocabularySize)
        var extraConfig: [String: Any] = [:]
        if let bos = bpe.bosTokenId ?? bpe.endOfTextTokenId { extraConfig["bos_token_id"] = bos }
        if let eos = bpe.eosTokenId ?? bpe.endOfTextTokenId { extraConfig["eos_token_id"] = eos }
        if let labels = start.labels {
            extraConfig["id2label"] = Dictionary(uniqueKeysWithValues: labels.enumerated().map { (String($0), $1) })
            extraConfig["label2id"] = Dictionary(uniqueKeysWithValues: labels.enumerated().map { ($1, $0) })
            // Hugging Face pools the last token that is not padding; padding must be a real id.
            extraConfig["pad_token_id"] = bpe.id(ofToken: "<|padding|>") ?? bpe.endOfTextTokenId ?? 0
        }

        let context = model.hyperparameters.maxPositions
        let records = try JSONLines.read(DataRecord.self, path: options.data)
        if records.isEmpty { throw InputError("\(options.data): no records") }
        data = try TokenizedRecords(records, tokenizer: bpe, contextLength: context, source: options.data,
                                    maxLength: options.sequenceLength ?? context, labels: start.labels)
        if data.truncated > 0 { log("note: cut \(data.truncated) sequences to \(min(options.sequenceLength ?? context, context)) tokens") }
        examples = Self.subset(data.examples, fraction: options.subsetFraction, seed: options.subsetSeed)
        trainer = Trainer(model: model, examples: examples, configuration: options.configuration, reference: start.reference)

        let startPath: String
        switch options.start {
        case .config(let path, _), .model(let path): startPath = path
        }
        identity = RunIdentity(configuration: options.configuration, dataFingerprint: FileDigest.fingerprint(ofPath: options.data),
                               start: startPath, sequenceLength: options.sequenceLength,
                               subset: options.subsetFraction.map { "\($0) \(options.subsetSeed)" })
        tokenizerFiles = start.tokenizer
        self.extraConfig = extraConfig
        self.model = model
        firstStep = try Self.resume(trainer, model: model, identity: identity, checkpoint: options.out.appendingPathComponent("checkpoint"))
        if firstStep > 0 { log("resuming at step \(firstStep + 1) of \(trainer.totalSteps)") }
        let tokens = examples.reduce(0) { $0 + $1.tokens.count }
        log("training \(examples.count) sequences\(examples.count < data.examples.count ? " (a random \(examples.count) of \(data.examples.count))" : "") (\(tokens) tokens) for \(trainer.totalSteps) optimizer steps")
    }

    /// round(fraction · n) of `examples` (at least one), chosen by a shuffle from `seed`, in their
    /// original order; all of them without a fraction.
    public static func subset(_ examples: [TokenizedExample], fraction: Double?, seed: UInt64) -> [TokenizedExample] {
        guard let fraction else { return examples }
        var random = RandomGenerator(seed: seed)
        var order = Array(examples.indices)
        random.shuffle(&order)
        let size = max(1, min(examples.count, Int((fraction * Double(examples.count)).rounded())))
        return order.prefix(size).sorted().map { examples[$0] }
    }

    /// Trains from `firstStep` to `maxSteps` or the end, saving checkpoints on the way; `progress`
    /// gets every optimizer step.
    public func run(progress: (Trainer.Progress) -> Void = { _ in }) throws -> Outcome {
        let total = trainer.totalSteps, saveEvery = options.saveEvery
        var step = firstStep
        let stop = min(total, options.maxSteps ?? total)
        while step < stop {
            let end = min(stop, saveEvery > 0 ? (step / saveEvery + 1) * saveEvery : total)
            do {
                try trainer.train(from: step, to: end) { state in
                    progress(state)
                    FaultInjection.reached("train")
                }
            } catch let error as Trainer.DivergedError {
                throw InputError("\(error); nothing written to \(options.out.relativePath)")
            }
            step = end
            if (saveEvery > 0 || step == stop) && step < total {
                // run.json goes last and marks a complete checkpoint: killed while the weights
                // are newer than the optimizer state, the run restarts instead of mixing them.
                try? FileManager.default.removeItem(at: identityURL)
                try saveModel(to: checkpointURL)
                try TrainingState(trainer: trainer, nextStep: step).write(to: stateURL)
                try identity.write(to: identityURL)
            }
        }
        if step < total { return .stopped(afterStep: step, totalSteps: total, checkpoint: checkpointURL) }
        // Weights can be finite and still too large to give a finite loss.
        let finalLoss = model.meanLoss(examples)
        guard finalLoss.isFinite else {
            throw InputError("training diverged: the trained model's loss on \(options.data) is \(finalLoss) (try a lower --learning-rate); nothing written to \(options.out.relativePath)")
        }
        try saveModel(to: options.out)
        try? FileManager.default.removeItem(at: checkpointURL)
        return .finished(model: options.out, loss: finalLoss)
    }

    private func saveModel(to directory: URL) throws {
        try model.save(to: directory, extraConfig: extraConfig)
        try tokenizerFiles.write(to: directory)
    }

    /// Restores the checkpoint in `checkpoint` if it is complete and of the same run; returns
    /// the step to continue at (0 without one).
    private static func resume(_ trainer: Trainer, model: DecoderModel, identity: RunIdentity, checkpoint: URL) throws -> Int {
        let stateURL = checkpoint.appendingPathComponent("training-state.safetensors")
        let identityURL = checkpoint.appendingPathComponent("run.json")
        guard FileManager.default.fileExists(atPath: identityURL.path), FileManager.default.fileExists(atPath: stateURL.path) else { return 0 }
        guard (try? RunIdentity(contentsOf: identityURL)) == identity else {
            throw InputError("\(checkpoint.path): holds a checkpoint of another run; remove it or choose another --out")
        }
        let saved = try DecoderModel(directory: checkpoint)
        model.parameters.values.update(from: saved.parameters.values, count: model.parameters.count)
        let state = try TrainingState(contentsOf: stateURL)
        try state.restore(into: trainer)
        return state.nextStep
    }

    /// The model to train, its tokenizer, the classifier labels and the proximity reference θ_ref.
    private static func startingModel(_ options: Options) throws
        -> (model: DecoderModel, tokenizer: TokenizerFiles, labels: [String]?, reference: ParameterStore?)
    {
        switch options.start {
        case .model(let path):
            let loaded = try LoadedModel(path: path)
            var model = loaded.model
            // θ_ref is the starting model as loaded, before any new head is made.
            var reference: ParameterStore?
            if options.configuration.proximity > 0 {
                reference = model.parameters.makeZeroedLike()
                reference!.values.update(from: model.parameters.values, count: model.parameters.count)
            }
            var labels: [String]?
            if options.task == .classify {
                if model.hyperparameters.family != .gptNeoX {
                    throw InputError("\(path): classifier heads are supported for gpt_neox models only")
                }
                if let existing = loaded.labels {
                    if let names = options.labels, names != existing {
                        throw InputError("\(path): a classifier with labels \(existing.joined(separator: ",")), not \(names.joined(separator: ","))")
                    }
                    labels = existing
                } else {
                    guard let names = options.labels else { throw InputError("--task classify on a language model needs --labels") }
                    labels = names
                    model = ClassifierHead.classifier(from: model, labels: names.count, seed: options.configuration.seed)
                }
            } else if loaded.labels != nil {
                throw InputError("\(path): is a sequence classifier; train it with --task classify")
            }
            return (model, loaded.tokenizerFiles, labels, reference)
        case .config(let path, let tokenizer):
            let configURL = URL(fileURLWithPath: path)
            var hyperparameters: DecoderHyperparameters
            switch try ModelConfig.load(from: configURL) {
            case .gptNeoX(let config): hyperparameters = try DecoderHyperparameters(config: config, source: configURL.path)
            case .bloom(let config): hyperparameters = DecoderHyperparameters(bloom: config)
            case .gpt2(let config): hyperparameters = try DecoderHyperparameters(gpt2: config, source: configURL.path)
            case .llama(let config): hyperparameters = try DecoderHyperparameters(llama: config, source: configURL.path)
            }
            var labels: [String]?
            if options.task == .classify {
                guard let names = options.labels else { throw InputError("--task classify needs --labels") }
                guard hyperparameters.family == .gptNeoX else { throw InputError("classifier heads are supported for gpt_neox models only") }
                labels = names
                hyperparameters.classifierLabels = names.count
                hyperparameters.tiedEmbeddings = false
            }
            return (DecoderModel(hyperparameters: hyperparameters, seed: options.configuration.seed),
                    try TokenizerFiles(contentsOf: URL(fileURLWithPath: tokenizer)), labels, nil)
        }
    }
}
