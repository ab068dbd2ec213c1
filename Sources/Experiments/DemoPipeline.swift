import Checkpoints
import Curvature
import Foundation
import Models
import Retrieval
import Tokenization
import Training

/// The whole pipeline on a generated world of facts, with nothing to download: the world's
/// data files, a tokenizer, a pre-trained and a fine-tuned tiny GPT-NeoX, EK-FAC factors of
/// both, and the corpus index, each stage cached in `directory` as the files the commands
/// (`influence train`, `fit`, `index`) would write, so that `influence score` and `trace`
/// accept them; then a held-out question to trace.
public struct DemoPipeline {
    /// Bumped whenever a cached stage's files change meaning or format.
    public static let cacheVersion = "3"

    public enum Message: Sendable {
        /// A stage begins.
        case stage(String)
        case note(String)
    }

    /// What the demo made: the paths `influence trace` takes, and the question to trace.
    public struct Artefacts: Sendable {
        public let pretrained: URL
        public let finetuned: URL
        public let pretrainedFactors: URL
        public let finetunedFactors: URL
        public let corpus: URL
        public let report: URL
        public let question: HeldOutQuestion
    }

    /// A question about a held-out fact (stated only in pre-training), preferably one the
    /// fine-tuned model answers correctly.
    public struct HeldOutQuestion: Sendable {
        public let fact: Int
        public let prompt: String
        public let expected: String
        /// False when the model answers no held-out question correctly (the first is shown anyway).
        public let answeredCorrectly: Bool
        /// The texts of the sentences that state the fact.
        public let sources: [String]
    }

    /// seed-N under the work directory.
    public let directory: URL
    public let seed: UInt64
    public let pretrainingEpochs: Int
    /// Recorded in the factors' manifests.
    public let toolVersion: String
    let log: (Message) -> Void

    public init(workdir: URL, seed: UInt64, pretrainingEpochs: Int, toolVersion: String, log: @escaping (Message) -> Void) {
        directory = workdir.appendingPathComponent("seed-\(seed)")
        self.seed = seed
        self.pretrainingEpochs = pretrainingEpochs
        self.toolVersion = toolVersion
        self.log = log
    }

    func url(_ name: String) -> URL { directory.appendingPathComponent(name) }
    func exists(_ name: String) -> Bool { FileManager.default.fileExists(atPath: url(name).path) }

    /// Runs every stage not cached yet.
    public func run() throws -> Artefacts {
        try prepareCache()
        let data = try writeWorld()
        try writeTokenizer(data)
        try trainModels(data)
        log(.stage("EK-FAC factors"))
        try DemoFactorFit(toolVersion: toolVersion, seed: seed, log: { log(.note($0)) })
            .fitIfNeeded(model: url("pretrained"), data: url("pretrain.jsonl"), out: url("factors-pretrained"))
        try DemoFactorFit(toolVersion: toolVersion, seed: seed, log: { log(.note($0)) })
            .fitIfNeeded(model: url("finetuned"), data: url("finetune.jsonl"), out: url("factors-finetuned"))
        try buildIndex()
        return Artefacts(pretrained: url("pretrained"), finetuned: url("finetuned"), pretrainedFactors: url("factors-pretrained"),
                         finetunedFactors: url("factors-finetuned"), corpus: url("corpus.sqlite"), report: url("report.html"),
                         question: try chooseQuestion(data))
    }

    /// A cache made by another version may hold files this one refuses (factors without file
    /// digests, an index without its completion marker) or would make differently: start over.
    func prepareCache() throws {
        let versionFile = url("cache-version")
        if FileManager.default.fileExists(atPath: directory.path),
           (try? String(contentsOf: versionFile, encoding: .utf8)) != Self.cacheVersion {
            log(.note("note: \(directory.path) was made by another version; rebuilding it"))
            try FileManager.default.removeItem(at: directory)
        }
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        try AtomicFile.write(Self.cacheVersion, toPath: versionFile.path)
    }

    /// Stage 1: the world (two thirds of the facts fine-tuned on) and its data files.
    func writeWorld() throws -> FactWorldPipeline {
        var options = FactWorldPipeline.Options()
        options.seed = seed
        let data = FactWorldPipeline(options: options)
        log(.stage("world: \(data.world.facts.count) facts over \(data.world.relations.count) relations, \(data.world.sentences.count) sentences"))
        try AtomicFile.write(try JSONOutput.lines(data.corpusRecords), toPath: url("corpus.jsonl").path)
        try AtomicFile.write(try JSONOutput.lines(data.pretrainingRecords), toPath: url("pretrain.jsonl").path)
        try AtomicFile.write(try JSONOutput.lines(data.fineTuningRecords), toPath: url("finetune.jsonl").path)
        return data
    }

    /// Stage 2: the tokenizer, trained on the sentences and questions.
    func writeTokenizer(_ data: FactWorldPipeline) throws {
        guard !exists("tokenizer/tokenizer.json") else { return }
        log(.stage("tokenizer"))
        try FileManager.default.createDirectory(at: url("tokenizer"), withIntermediateDirectories: true)
        try AtomicFile.write(try data.tokenizerJSON(), to: url("tokenizer/tokenizer.json"))
    }

    /// The tiny GPT-NeoX both models share, as a Hugging Face config.
    static let config = """
        {"model_type": "gpt_neox", "vocab_size": 512, "hidden_size": 128, "num_attention_heads": 4, "intermediate_size": 512,
         "num_hidden_layers": 2, "max_position_embeddings": 64, "rotary_pct": 0.25, "use_parallel_residual": true}
        """

    /// Stage 3: pre-train on the statements, then fine-tune on the fine-tuned facts' questions.
    func trainModels(_ data: FactWorldPipeline) throws {
        try AtomicFile.write(Self.config, toPath: url("config.json").path)
        if !exists("pretrained/model.safetensors") {
            log(.stage("pre-training on the statements"))
            guard case .gptNeoX(let config) = try ModelConfig.load(from: url("config.json")) else {
                throw InputError("\(url("config.json").path): the demo's model is a gpt_neox")
            }
            let model = DecoderModel(hyperparameters: try DecoderHyperparameters(config: config, source: url("config.json").path), seed: seed)
            var configuration = Trainer.Configuration()
            configuration.epochs = pretrainingEpochs
            configuration.batchSize = 16
            configuration.learningRate = 3e-3
            configuration.warmupSteps = 50
            configuration.seed = seed
            try train(model, tokenizer: url("tokenizer/tokenizer.json"), data: url("pretrain.jsonl"), configuration, out: url("pretrained"))
        }
        if !exists("finetuned/model.safetensors") {
            log(.stage("fine-tuning on questions about \(data.fineTuned.count) facts"))
            let start = try LoadedModel(url: url("pretrained"))
            var configuration = Trainer.Configuration()
            configuration.epochs = 40
            configuration.batchSize = 8
            configuration.learningRate = 1e-3
            configuration.seed = seed
            try train(start.model, tokenizer: url("pretrained/tokenizer.json"), data: url("finetune.jsonl"), configuration, out: url("finetuned"))
        }
    }

    /// Trains `model` on a JSON Lines file as `influence train` does, and saves it with its
    /// tokenizer and the end-of-text token as BOS and EOS.
    func train(_ model: DecoderModel, tokenizer tokenizerURL: URL, data: URL, _ configuration: Trainer.Configuration, out: URL) throws {
        let h = model.hyperparameters
        let tokenizer = try BPETokenizer(contentsOf: tokenizerURL, modelVocabularySize: h.vocabularySize)
        let records = try JSONLines.read(DataRecord.self, path: data.path)
        let examples = try TokenizedRecords(records, tokenizer: tokenizer, contextLength: h.maxPositions, source: data.path,
                                            maxLength: h.maxPositions).examples
        let trainer = Trainer(model: model, examples: examples, configuration: configuration)
        log(.note("training \(examples.count) sequences for \(trainer.totalSteps) optimizer steps"))
        let loss = try trainer.train()
        var extraConfig: [String: Any] = [:]
        if let end = tokenizer.endOfTextTokenId { extraConfig = ["bos_token_id": end, "eos_token_id": end] }
        try model.save(to: out, extraConfig: extraConfig)
        try AtomicFile.write(try Data(contentsOf: tokenizerURL), to: out.appendingPathComponent("tokenizer.json"))
        log(.note("wrote \(out.path) (loss of the last step: \(String(format: "%.4f", loss)))"))
    }

    /// Stage 5: the corpus index (BM25 over the sentences).
    func buildIndex() throws {
        guard !exists("corpus.sqlite") else { return }
        log(.stage("corpus index"))
        let report = try CorpusIndex.build(from: try CorpusReader(url: url("corpus.jsonl")), to: url("corpus.sqlite"), windowWords: 64,
                                           metadata: ["source": url("corpus.jsonl").path])
        log(.note("wrote \(url("corpus.sqlite").path): \(report.sourceDocuments) documents, \(report.windows) windows"))
    }

    /// Stage 6: the first held-out question the fine-tuned model answers correctly.
    func chooseQuestion(_ data: FactWorldPipeline) throws -> HeldOutQuestion {
        let finetuned = try LoadedModel(url: url("finetuned"))
        let recalled = try data.heldOut.filter { f in
            let q = data.world.question(f)
            let answer = try finetuned.model.greedyContinuation(of: finetuned.tokenizer.encode(q.prompt), maxNewTokens: 8)
            return finetuned.tokenizer.decode(answer).hasPrefix(q.completion)
        }
        log(.stage("tracing: the fine-tuned model answers \(recalled.count) of \(data.heldOut.count) held-out questions correctly"))
        let fact = recalled.first ?? data.heldOut[0]
        let question = data.world.question(fact)
        let sources = data.sources(of: fact).map { data.world.sentences[$0].text }
        log(.note("question about a held-out fact\(recalled.isEmpty ? " (the model gets none right; showing its answer anyway)" : ""): "
                  + "\(question.prompt.replacingOccurrences(of: "\n", with: " ⏎ ")) → expected\(question.completion)"))
        log(.note("sentences that state it: " + sources.joined(separator: " | ")))
        return HeldOutQuestion(fact: fact, prompt: question.prompt, expected: question.completion, answeredCorrectly: !recalled.isEmpty,
                               sources: sources)
    }
}
