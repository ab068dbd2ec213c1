import Checkpoints
import Curvature
import Foundation
import Influence
import Models
import Numerics
import Tokenization
import Training

/// The paper's scalability experiment (§5.1, Table 1): how close each influence estimator comes
/// to the exact damped-GGN influence (CG, the ground truth) and what it costs, on a 2-layer,
/// 2-head, hidden-256 GPT-NeoX trained natively on real English text.
///
/// `run` is a staged program: `prepareData` (the fortunes corpus, shuffled, split into queries,
/// candidates and curvature data, and a BPE tokenizer) → `trainModel` (cached by its options) →
/// `fitFactors` (always refitted: its time is EK-FAC's overhead) → one `ScoringSession` per
/// method over the same queries, candidates, modules' layouts and damping → correlations of
/// each query's scores with CG's.
public final class ScalabilityBenchmark {
    public enum Method: String, CaseIterable, Codable, Sendable {
        case cg, cgEKFAC = "cg-ekfac", arnoldi, lissa, trak, ekfac, ekfacMLP = "ekfac-mlp", kfac, gdp, cka

        public var title: String {
            switch self {
            case .cg: "CG (ground truth)"
            case .cgEKFAC: "CG, EK-FAC-preconditioned"
            case .arnoldi: "Arnoldi"
            case .lissa: "LiSSA"
            case .trak: "TRAK"
            case .ekfac: "EK-FAC"
            case .ekfacMLP: "EK-FAC (MLP)"
            case .kfac: "K-FAC"
            case .gdp: "GDP"
            case .cka: "CKA"
            }
        }
    }

    public struct Options: Sendable {
        public var seed: UInt64 = 1
        public var corpusDirectory = FortuneCorpus.defaultDirectory
        public var vocabularySize = 1024
        public var hiddenSize = 256
        public var headCount = 2
        public var intermediateSize = 1024
        public var layerCount = 2
        public var contextLength = 64
        /// Training documents (candidates and curvature data are drawn from them).
        public var trainingDocuments = 4000
        public var epochs = 8
        public var queries = 10
        public var candidates = 500
        /// Training documents whose Gauss–Newton matrix G is inverted (and EK-FAC is fitted on).
        public var curvatureSequences = 128
        /// The absolute damping λ of every method with a curvature.
        public var damping = 0.01
        public var cgTolerance = 1e-5
        public var cgIterations = 2000
        public var lissaDepth = 1000
        public var lissaRepeats = 1
        /// LiSSA's scale as a multiple of G's largest eigenvalue (from Arnoldi); `lissaScale` without Arnoldi.
        /// Each step uses one batch's G_b, whose top eigenvalue exceeds the mean's: 3× diverged on
        /// the full benchmark (measured), so 10×.
        public var lissaScaleOverTopEigenvalue = 10.0
        public var lissaScale = 100.0
        public var arnoldiIterations = 200
        public var arnoldiRank = 20
        /// TRAK: models trained on random halves of the training documents, and the projection's length.
        public var trakModels = 10
        public var trakDimension = 2048
        public var batchSize = 8
        /// EK-FAC-preconditioned CG is left out by default: on this model it needs more iterations
        /// than plain CG (measured; see the README), so it would only double the longest stage.
        public var methods = Method.allCases.filter { $0 != .cgEKFAC }
        /// Recorded in the factors' manifests.
        public var toolVersion = "bench"

        public init() {}

        /// Under a minute: a tiny model on a few hundred fortunes.
        public static var quick: Options {
            var o = Options()
            o.vocabularySize = 300
            o.hiddenSize = 32
            o.intermediateSize = 128
            o.contextLength = 32
            o.trainingDocuments = 240
            o.epochs = 2
            o.queries = 3
            o.candidates = 24
            o.curvatureSequences = 16
            o.damping = 0.01
            o.lissaDepth = 100
            o.arnoldiIterations = 30
            o.arnoldiRank = 10
            o.trakModels = 2
            o.trakDimension = 64
            o.methods = Method.allCases
            return o
        }
    }

    public struct MethodResult: Sendable, Codable, Equatable {
        public let method: String
        public let title: String
        /// Over the queries: mean and standard deviation of each query's correlation with CG.
        public let spearmanMean: Double
        public let spearmanStd: Double
        public let pearsonMean: Double
        public let pearsonStd: Double
        /// One-time work: the factors' fit, Arnoldi's eigenpairs, the session's set-up.
        public let overheadSeconds: Double
        /// Scoring time per query for all candidates (the run's time over the queries).
        public let pairwiseSeconds: Double
        public let note: String
    }

    public struct Report: Sendable, Codable {
        public let corpus: String
        public let corpusTexts: Int
        public let trainingDocuments: Int
        public let trainingTokens: Int
        public let queries: Int
        public let candidates: Int
        public let curvatureSequences: Int
        public let mlpParameters: Int
        public let attentionParameters: Int
        public let damping: Double
        public let trainingLoss: Double
        public let trainingSeconds: Double
        public let results: [MethodResult]
        public let seconds: Double
    }

    public let options: Options
    public let directory: URL
    let log: (String) -> Void

    /// `directory` holds the data files, the cached model and the factors.
    public init(options: Options, directory: URL, log: @escaping (String) -> Void) {
        self.options = options
        self.directory = directory
        self.log = log
    }

    func url(_ name: String) -> URL { directory.appendingPathComponent(name) }

    public func run() throws -> Report {
        let start = Date()
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let data = try prepareData()
        let trained = try trainModel(data)
        let fits = try fitFactors()
        let scored = try scoreAll(fits: fits)
        let loaded = try LoadedModel(url: url("model"))
        let layouts = loaded.model.moduleLayouts(.all, attentionBlocks: .perHead, includeBias: false)
        return Report(corpus: "Debian fortunes (\(options.corpusDirectory))", corpusTexts: data.corpusTexts,
                      trainingDocuments: options.trainingDocuments, trainingTokens: trained.tokens, queries: options.queries,
                      candidates: options.candidates, curvatureSequences: options.curvatureSequences,
                      mlpParameters: layouts.filter { $0.module.kind == .mlp }.reduce(0) { $0 + $1.parameterCount },
                      attentionParameters: layouts.filter { $0.module.kind == .attention }.reduce(0) { $0 + $1.parameterCount },
                      damping: options.damping, trainingLoss: trained.loss, trainingSeconds: trained.seconds, results: scored,
                      seconds: Date().timeIntervalSince(start))
    }

    // MARK: stages

    struct Record: Codable { let id: String; let text: String }

    /// Stage 1: shuffle the corpus; the first texts are the queries (held out of training), the
    /// next the training documents, whose first `candidates` are scored and the next
    /// `curvatureSequences` give G; a BPE tokenizer trained on the training documents.
    func prepareData() throws -> (corpusTexts: Int, tokenizer: BPETokenizer) {
        var texts = try FortuneCorpus.load(directory: options.corpusDirectory)
        let needed = options.queries + options.trainingDocuments
        guard texts.count >= needed else {
            throw InputError("\(options.corpusDirectory): \(texts.count) fortunes, the benchmark needs \(needed)")
        }
        guard options.candidates + options.curvatureSequences <= options.trainingDocuments else {
            throw InputError("bench scalability: \(options.candidates) candidates and \(options.curvatureSequences) curvature sequences exceed the \(options.trainingDocuments) training documents")
        }
        var random = RandomGenerator(seed: options.seed)
        random.shuffle(&texts)
        let queries = texts[0..<options.queries].enumerated().map { Record(id: "query-\($0.offset)", text: $0.element) }
        let training = texts[options.queries..<needed].enumerated().map { Record(id: "doc-\($0.offset)", text: $0.element) }
        try AtomicFile.write(try JSONOutput.lines(queries), toPath: url("queries.jsonl").path)
        try AtomicFile.write(try JSONOutput.lines(Array(training)), toPath: url("train.jsonl").path)
        try AtomicFile.write(try JSONOutput.lines(Array(training.prefix(options.candidates))), toPath: url("candidates.jsonl").path)
        try AtomicFile.write(try JSONOutput.lines(Array(training.dropFirst(options.candidates).prefix(options.curvatureSequences))),
                             toPath: url("curvature.jsonl").path)
        var trainer = BPETrainer(vocabularySize: options.vocabularySize)
        for record in training { trainer.add(record.text) }
        let json = try trainer.tokenizerJSON()
        try AtomicFile.write(json, to: url("tokenizer.json"))
        log("corpus: \(texts.count) fortunes; \(options.queries) queries held out, \(options.trainingDocuments) training documents, "
            + "\(options.candidates) of them candidates, the next \(options.curvatureSequences) the curvature data")
        return (texts.count, try BPETokenizer(json: json, source: url("tokenizer.json").path, modelVocabularySize: options.vocabularySize))
    }

    /// What the cached model was trained with; a different key retrains it.
    var modelKey: String {
        let o = options
        return "v1 seed=\(o.seed) corpus=\(o.corpusDirectory) vocab=\(o.vocabularySize) hidden=\(o.hiddenSize) heads=\(o.headCount) "
            + "intermediate=\(o.intermediateSize) layers=\(o.layerCount) context=\(o.contextLength) docs=\(o.trainingDocuments) epochs=\(o.epochs)"
    }

    /// Stage 2: a GPT-NeoX trained on the training documents, saved as a model directory with
    /// its tokenizer (reused when `modelKey` matches).
    func trainModel(_ data: (corpusTexts: Int, tokenizer: BPETokenizer)) throws -> (loss: Double, seconds: Double, tokens: Int) {
        let o = options
        let records = try JSONLines.read(DataRecord.self, path: url("train.jsonl").path)
        let examples = try TokenizedRecords(records, tokenizer: data.tokenizer, contextLength: o.contextLength, source: url("train.jsonl").path,
                                            maxLength: o.contextLength).examples
        let tokens = examples.reduce(0) { $0 + $1.tokens.count }
        let keyFile = url("model/benchmark-key.txt")
        if let key = try? String(contentsOf: keyFile, encoding: .utf8), key == modelKey,
           let summary = try? String(contentsOf: url("model/training.txt"), encoding: .utf8) {
            let parts = summary.split(separator: " ").compactMap { Double($0) }
            log("model: reusing \(url("model").path)")
            return (parts.first ?? .nan, parts.dropFirst().first ?? .nan, tokens)
        }
        let h = DecoderHyperparameters(vocabularySize: o.vocabularySize, hiddenSize: o.hiddenSize, headCount: o.headCount,
                                       intermediateSize: o.intermediateSize, layerCount: o.layerCount, maxPositions: o.contextLength)
        let model = DecoderModel(hyperparameters: h, seed: o.seed)
        let trainer = Trainer(model: model, examples: examples, configuration: trainingConfiguration(seed: o.seed))
        log("training: \(examples.count) sequences (\(tokens) tokens), \(o.epochs) epochs, \(trainer.totalSteps) steps")
        let start = Date()
        let loss = try trainer.train()
        let seconds = Date().timeIntervalSince(start)
        var extra: [String: Any] = [:]
        if let end = data.tokenizer.endOfTextTokenId { extra = ["bos_token_id": end, "eos_token_id": end] }
        try model.save(to: url("model"), extraConfig: extra)
        try AtomicFile.write(try Data(contentsOf: url("tokenizer.json")), to: url("model/tokenizer.json"))
        try AtomicFile.write(String(format: "%.6f %.3f", loss, seconds), toPath: url("model/training.txt").path)
        try AtomicFile.write(modelKey, toPath: keyFile.path)
        log(String(format: "training: last step's loss %.3f, %.0f s", loss, seconds))
        return (loss, seconds, tokens)
    }

    /// Stage 3: EK-FAC factors of all modules and of the MLPs only, on the curvature data, timed.
    func fitFactors() throws -> [ModuleSelection: Double] {
        var seconds: [ModuleSelection: Double] = [:]
        // Every session reads the attention blocks (and CG the curvature data) from the full factors.
        for selection in [ModuleSelection.all, .mlp] where selection == .all || options.methods.contains(.ekfacMLP) {
            let out = url(selection == .all ? "factors" : "factors-mlp")
            try? FileManager.default.removeItem(at: out)
            let start = Date()
            let loaded = try LoadedModel(url: url("model"))
            let data = url("curvature.jsonl").path
            let fitOptions = FactorManifest.Options(
                modules: selection, attentionBlocks: .perHead, includeBias: false, maxSequences: nil, sequenceLength: options.contextLength,
                batchSize: options.batchSize, seed: options.seed, data: data, dataFingerprint: FileDigest.fingerprint(ofPath: data))
            let examples = try loaded.tokenize(file: data, maxLength: options.contextLength, requireLabels: false).examples
            _ = try FactorFitJob(loaded: loaded, examples: examples, options: fitOptions, directory: out, toolVersion: options.toolVersion).run()
            seconds[selection] = Date().timeIntervalSince(start)
            log(String(format: "factors (%@): fitted in %.1f s", selection.rawValue, seconds[selection]!))
        }
        return seconds
    }

    /// Stage 4: every method's scores, then their correlations with CG's, query by query.
    func scoreAll(fits: [ModuleSelection: Double]) throws -> [MethodResult] {
        // CG first (the reference), Arnoldi before LiSSA (its top eigenvalue sets LiSSA's scale).
        let order = Method.allCases.filter { options.methods.contains($0) || $0 == .cg }
        let (matrices, timings) = try scoreMethods(order, fits: fits, candidates: "candidates.jsonl")
        guard let truth = matrices[.cg] else { throw InputError("bench scalability: CG gave no scores") }
        return order.compactMap { method in
            guard let timing = timings[method] else { return nil }
            guard let scores = matrices[method] else {
                return MethodResult(method: method.rawValue, title: method.title, spearmanMean: .nan, spearmanStd: .nan, pearsonMean: .nan,
                                    pearsonStd: .nan, overheadSeconds: timing.overhead, pairwiseSeconds: timing.pairwise, note: timing.note)
            }
            let spearman = zip(scores, truth).map { Correlation.spearman($0, $1) }
            let pearson = zip(scores, truth).map { Correlation.pearson($0, $1) }
            return MethodResult(method: method.rawValue, title: method.title, spearmanMean: Self.mean(spearman), spearmanStd: Self.std(spearman),
                                pearsonMean: Self.mean(pearson), pearsonStd: Self.std(pearson), overheadSeconds: timing.overhead,
                                pairwiseSeconds: timing.pairwise, note: timing.note)
        }
    }

    typealias Timing = (overhead: Double, pairwise: Double, note: String)

    /// Each of `methods` (in this order) scores the queries against the documents of the file
    /// `candidates` in the work directory: its score matrix and its times. A method that fails
    /// has a timing whose note says why and no matrix; CG failing is an error.
    func scoreMethods(_ methods: [Method], fits: [ModuleSelection: Double], candidates: String) throws
        -> (matrices: [Method: [[Double]]], timings: [Method: Timing]) {
        var matrices: [Method: [[Double]]] = [:], timings: [Method: Timing] = [:]
        var topEigenvalue: Double?
        for method in methods {
            if method == .trak {
                do {
                    let trak = try runTRAK(candidates: candidates)
                    matrices[.trak] = trak.scores
                    timings[.trak] = (trak.overhead, trak.pairwise, trak.note)
                } catch {
                    log("TRAK: failed: \(error)")
                    timings[.trak] = (.nan, .nan, "failed: \(error)")
                }
                continue
            }
            if method == .cg, let cached = try? JSONDecoder().decode(CachedScores.self, from: Data(contentsOf: url("cg-scores.json"))),
               cached.key == cgKey(candidates) {
                log("CG (ground truth): reusing the scores of an earlier run (\(url("cg-scores.json").path))")
                matrices[.cg] = cached.scores
                timings[.cg] = (cached.overhead, cached.pairwise, cached.note)
                continue
            }
            var request = ScoringRequest(stages: .single(ScoringStage(model: url("model").path,
                                                                     factors: url(method == .ekfacMLP ? "factors-mlp" : "factors").path)),
                                         queries: url("queries.jsonl").path, train: url(candidates).path,
                                         damping: .absolute(options.damping), batchSize: options.batchSize)
            var note = ""
            switch method {
            case .cg, .cgEKFAC:
                request.method = .cg
                request.cgPreconditioned = method == .cgEKFAC
                (request.cgTolerance, request.cgIterations) = (options.cgTolerance, options.cgIterations)
            case .arnoldi:
                request.method = .arnoldi
                (request.arnoldiIterations, request.arnoldiRank) = (options.arnoldiIterations, options.arnoldiRank)
                note = "\(options.arnoldiIterations) iterations, top \(options.arnoldiRank) eigenpairs"
            case .lissa:
                request.method = .lissa
                request.lissaScale = topEigenvalue.map { options.lissaScaleOverTopEigenvalue * $0 } ?? options.lissaScale
                (request.lissaDepth, request.lissaRepeats) = (options.lissaDepth, options.lissaRepeats)
                note = String(format: "depth %d, scale %.3g%@", options.lissaDepth, request.lissaScale,
                              topEigenvalue == nil ? "" : String(format: " (%.3g × G's top eigenvalue)", options.lissaScaleOverTopEigenvalue))
            case .ekfac: request.method = .ekfac
            case .ekfacMLP: request.method = .ekfac; request.modules = .mlp; note = "attention left out"
            case .kfac: request.method = .kfac
            case .gdp: request.method = .gdp
            case .cka: request.method = .cka; note = "not an influence: a similarity"
            case .trak: continue  // above
            }
            log("\(method.title): scoring \(options.queries) queries against \(candidates)")
            let start = Date()
            let session: ScoringSession
            do {
                session = try ScoringSession(request)
            } catch {
                log("\(method.title): failed: \(error)")
                timings[method] = (.nan, .nan, "failed: \(error)")
                continue
            }
            let setUp = Date().timeIntervalSince(start)
            for case let cg as ConjugateGradientPreconditioner in session.preconditioners { cg.log = log }
            for case let arnoldi as ArnoldiPreconditioner in session.preconditioners { topEigenvalue = arnoldi.eigenvalues.max() }
            let runStart = Date()
            let results: ScoreResults
            do {
                results = try session.run()
            } catch {
                if method == .cg { throw error }
                log("\(method.title): failed: \(error)")
                timings[method] = (.nan, .nan, "failed: \(error)")
                continue
            }
            let runSeconds = Date().timeIntervalSince(runStart)
            guard case .matrix(let matrix) = results else { throw InputError("bench scalability: expected a score matrix") }
            matrices[method] = matrix.scores
            for case let cg as ConjugateGradientPreconditioner in session.preconditioners {
                let iterations = cg.solves.map(\.iterations)
                note = "\(iterations.min() ?? 0)–\(iterations.max() ?? 0) iterations per query to a relative residual of \(options.cgTolerance)"
                    + (method == .cgEKFAC ? " (EK-FAC as M⁻¹)" : "")
            }
            let fit: Double = switch method {
            case .ekfac, .kfac, .cgEKFAC: fits[.all] ?? 0
            case .ekfacMLP: fits[.mlp] ?? 0
            default: 0
            }
            timings[method] = (fit + setUp, runSeconds / Double(options.queries), note)
            if method == .cg {
                // The ground truth is the longest stage: kept for later runs of other methods.
                let cached = CachedScores(key: cgKey(candidates), scores: matrix.scores, overhead: setUp, pairwise: runSeconds / Double(options.queries), note: note)
                try AtomicFile.write(try JSONEncoder().encode(cached), to: url("cg-scores.json"))
            }
            log(String(format: "%@: set-up %.1f s, scoring %.1f s", method.title, setUp, runSeconds))
        }
        return (matrices, timings)
    }

    struct CachedScores: Codable {
        let key: String
        let scores: [[Double]]
        let overhead: Double
        let pairwise: Double
        let note: String
    }

    /// What CG's scores depend on besides the model.
    func cgKey(_ candidates: String) -> String {
        let o = options
        return modelKey + " documents=\(candidates) queries=\(o.queries) candidates=\(o.candidates) curvature=\(o.curvatureSequences) damping=\(o.damping) "
            + "tolerance=\(o.cgTolerance) iterations=\(o.cgIterations) batch=\(o.batchSize)"
    }

    /// TRAK: `trakModels` models, each trained like the main one on a random half of the
    /// training documents (cached, with their training times), then featurised on all the
    /// training documents; the overhead is the training and the featurisation.
    func runTRAK(candidates file: String) throws -> (scores: [[Double]], overhead: Double, pairwise: Double, note: String) {
        let o = options
        let main = try LoadedModel(url: url("model"))
        func examples(_ name: String) throws -> [TokenizedExample] {
            try main.tokenize(file: url(name).path, maxLength: o.contextLength, requireLabels: false).examples
        }
        let training = try examples("train.jsonl"), queries = try examples("queries.jsonl"), candidates = try examples(file)
        var models: [DecoderModel] = [], trainingSeconds = 0.0
        for i in 0..<o.trakModels {
            let directory = url("trak/model-\(i)"), key = modelKey + " trak-half=\(i)"
            if (try? String(contentsOf: directory.appendingPathComponent("benchmark-key.txt"), encoding: .utf8)) == key,
               let seconds = (try? String(contentsOf: directory.appendingPathComponent("training.txt"), encoding: .utf8)).flatMap(Double.init) {
                models.append(try LoadedModel(url: directory).model)
                trainingSeconds += seconds
                continue
            }
            var random = RandomGenerator(seed: o.seed &+ 1000 &+ UInt64(i))
            var order = Array(training.indices)
            random.shuffle(&order)
            let half = order.prefix(training.count / 2).sorted().map { training[$0] }
            log("TRAK: training model \(i + 1) of \(o.trakModels) on \(half.count) of the \(training.count) training documents")
            let start = Date()
            let model = try train(main.model.hyperparameters, on: half, seed: o.seed &+ 1000 &+ UInt64(i))
            let seconds = Date().timeIntervalSince(start)
            try model.save(to: directory)
            try AtomicFile.write(String(format: "%.3f", seconds), toPath: directory.appendingPathComponent("training.txt").path)
            try AtomicFile.write(key, toPath: directory.appendingPathComponent("benchmark-key.txt").path)
            models.append(model)
            trainingSeconds += seconds
        }
        let start = Date()
        let scorer = try TRAKScorer(models: models, training: training, dimension: o.trakDimension, seed: o.seed,
                                    batchSize: o.batchSize, log: log)
        let featurising = Date().timeIntervalSince(start)
        let scoring = Date()
        let scores = try scorer.scores(queries: queries, candidates: candidates)
        let pairwise = Date().timeIntervalSince(scoring) / Double(queries.count)
        log(String(format: "TRAK: models trained in %.0f s, featurised in %.1f s, scored in %.1f s", trainingSeconds, featurising,
                   pairwise * Double(queries.count)))
        return (scores, trainingSeconds + featurising, pairwise,
                "\(o.trakModels) models on random halves, \(scorer.dimension) projected features each")
    }

    /// A model of this shape trained on `examples` as the main model is (the same schedule).
    func train(_ h: DecoderHyperparameters, on examples: [TokenizedExample], seed: UInt64) throws -> DecoderModel {
        let model = DecoderModel(hyperparameters: h, seed: seed)
        try Trainer(model: model, examples: examples, configuration: trainingConfiguration(seed: seed)).train()
        return model
    }

    func trainingConfiguration(seed: UInt64) -> Trainer.Configuration {
        var configuration = Trainer.Configuration()
        configuration.epochs = options.epochs
        configuration.batchSize = 16
        configuration.learningRate = 3e-3
        configuration.warmupSteps = 50
        configuration.seed = seed
        return configuration
    }

    static func mean(_ x: [Double]) -> Double { x.reduce(0, +) / Double(max(x.count, 1)) }

    /// The sample standard deviation (0 for a single value).
    static func std(_ x: [Double]) -> Double {
        guard x.count > 1 else { return 0 }
        let m = mean(x)
        return (x.reduce(0) { $0 + ($1 - m) * ($1 - m) } / Double(x.count - 1)).squareRoot()
    }
}
