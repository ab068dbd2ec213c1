import Checkpoints
import Curvature
import Foundation
import Models

/// How far the document loop of a `ScoringSession` is: `scored` of `total` training documents.
/// Reported once with `scored` 0 before the first batch, then after every batch.
public struct ScoringProgress: Sendable, Equatable {
    public let scored: Int
    public let total: Int

    public init(scored: Int, total: Int) {
        self.scored = scored
        self.total = total
    }
}

/// A scoring run, single- or multi-stage: `try ScoringSession(request).run()`.
///
/// Creating a session loads the models and factors and checks that they belong together (the
/// factors to their models, the two stages to each other, the two models to one backbone and
/// tokenizer), so that a mismatch is an error before any gradient. `run` reads and tokenises
/// the queries and documents, preconditions the query gradients once, and streams the
/// documents past them in batches.
public final class ScoringSession {
    public let request: ScoringRequest
    /// Gives the queries' gradients (the fine-tuned model in multi-stage scoring).
    public let queryModel: LoadedModel
    /// Gives the documents' gradients (the pre-trained model in multi-stage scoring).
    public let documentModel: LoadedModel
    /// The scored modules.
    public let layouts: [ModuleLayout]
    /// Applied to each query gradient in order: the fine-tuned stage's, then the pre-trained one's.
    public let preconditioners: [Preconditioner]

    public init(_ request: ScoringRequest) throws {
        self.request = request
        switch request.stages {
        case .single(let stage):
            let loaded = try LoadedModel(path: stage.model, precision: .stored)
            let preconditioner = try Self.preconditioner(of: stage, model: loaded, role: "the", request: request)
            queryModel = loaded
            documentModel = loaded
            preconditioners = [preconditioner]
        case .multi(let finetunedStage, let pretrainedStage, let preconditionPretrained):
            let finetuned = try LoadedModel(path: finetunedStage.model, precision: .stored), pretrained = try LoadedModel(path: pretrainedStage.model, precision: .stored)
            try Self.checkSharedBackbone(pretrained: pretrained, finetuned: finetuned, finetunedPath: finetunedStage.model)
            let first = try Self.preconditioner(of: finetunedStage, model: finetuned, role: "fine-tuned", request: request,
                                                otherFingerprint: pretrained.model.fingerprint)
            var all = [first]
            if preconditionPretrained {
                let second = try Self.preconditioner(of: pretrainedStage, model: pretrained, role: "pre-trained", request: request,
                                                     otherFingerprint: finetuned.model.fingerprint)
                try FactorCompatibility.checkSameLayouts(first.layouts, second.layouts, firstName: finetunedStage.factors ?? finetunedStage.model,
                                                         secondName: pretrainedStage.factors ?? pretrainedStage.model)
                all.append(second)
            }
            queryModel = finetuned
            documentModel = pretrained
            preconditioners = all
        }
        layouts = preconditioners[0].layouts
    }

    /// Scores every training document against every query; `progress` follows the document loop.
    public func run(progress: (ScoringProgress) -> Void = { _ in }) throws -> ScoreResults {
        try runShard(progress: progress).results
    }

    /// Scores the request's shard of the training documents (all of them when it is whole) and
    /// describes the shard for `ScoreMerge`; nil for a whole run.
    public func runShard(progress: (ScoringProgress) -> Void = { _ in }) throws -> (results: ScoreResults, shard: ScoreShard?) {
        let (queryRecords, trainRecords) = try records()
        let part = request.shard.documents(of: trainRecords.examples.count, batchSize: request.batchSize)
        var collector = ScoreCollector(queryIDs: queryRecords.ids, documentIDs: Array(trainRecords.ids[part]), moduleCount: layouts.count,
                                       topK: request.topK, keepsModules: request.perModule)
        let documents = Array(trainRecords.examples[part])
        if request.method == .trak {
            try scoreTRAK(queries: queryRecords.examples, documents: documents, into: &collector, progress: progress)
            return (ScoreResults(collector, layouts: layouts), shardDescription(part, of: trainRecords.examples.count))
        }
        if request.method == .cka {
            try scoreCKA(queries: queryRecords.examples, documents: documents, into: &collector, progress: progress)
            return (ScoreResults(collector, layouts: layouts), shardDescription(part, of: trainRecords.examples.count))
        }
        let groups = try memoryPlan(queries: queryRecords.examples, documents: documents).groups()
        if groups.count > 1 && request.method.usesCurvatureData {
            throw InputError("--method \(request.method.rawValue) preconditions all modules at once: --max-memory \(MemorySize.format(request.maxMemory ?? 0)) would score them in \(groups.count) groups; give more memory")
        }
        func scorer(_ group: Range<Int>) throws -> InfluenceScorer {
            try InfluenceScorer(model: queryModel.model, layouts: Array(layouts[group]), queries: queryRecords.examples,
                                preconditioners: groups.count == 1 ? preconditioners
                                    : preconditioners.map { ModuleRangePreconditioner($0, modules: group) },
                                batchSize: request.batchSize, queryRank: request.queryRank)
        }
        func add(first: Int, total: [[Double]], perModule: [[[Double]]]) throws {
            do {
                try collector.add(first: first, total: total, perModule: perModule)
            } catch let error as NonFiniteScoreError {
                throw InputError("\(request.train): \(error)")
            }
        }
        if groups.count == 1 {
            // One pass: each batch's scores go straight to the collector (top-k keeps only its best).
            // The queries are preconditioned first (CG's solves take long), then the documents' progress starts.
            let only = try scorer(groups[0])
            progress(ScoringProgress(scored: 0, total: documents.count))
            try scoreBatches(documents, scorer: only, layouts: layouts) { start, end, total, byModule in
                try add(first: start, total: total, perModule: byModule)
                progress(ScoringProgress(scored: end, total: documents.count))
            }
        } else {
            // A pass per module group. Scores are summed module by module in module order from 0,
            // as one pass sums them, so a grouped run equals it bit for bit.
            var totals = [[Double]](repeating: [Double](repeating: 0, count: documents.count), count: queryRecords.examples.count)
            var perModule: [[[Double]]] = []
            progress(ScoringProgress(scored: 0, total: documents.count * groups.count))
            for (g, group) in groups.enumerated() {
                let scorer = try scorer(group)
                var groupModules = [[[Double]]](repeating: totals.map { _ in [] }, count: group.count)
                try scoreBatches(documents, scorer: scorer, layouts: Array(layouts[group])) { start, end, _, byModule in
                    for (i, moduleScores) in byModule.enumerated() {
                        for (q, row) in moduleScores.enumerated() {
                            for (d, value) in row.enumerated() { totals[q][start + d] += value }
                            if request.perModule { groupModules[i][q] += row }
                        }
                    }
                    progress(ScoringProgress(scored: g * documents.count + end, total: documents.count * groups.count))
                }
                if request.perModule { perModule += groupModules }
            }
            try add(first: 0, total: totals, perModule: perModule)
        }
        return (ScoreResults(collector, layouts: layouts), shardDescription(part, of: trainRecords.examples.count))
    }

    /// What `ScoreMerge` needs to know of this shard (documents `part` of `total`); nil for a whole run.
    private func shardDescription(_ part: Range<Int>, of total: Int) -> ScoreShard? {
        request.shard.isWhole ? nil
            : ScoreShard(index: request.shard.index, count: request.shard.count, documents: [part.lowerBound, part.upperBound],
                         totalDocuments: total, topK: request.topK, identity: identity())
    }

    /// `--method cka`: each query's normalised gradient Grams per module, then each batch of
    /// documents' gradients, their Grams, and the mean over modules of the Grams' inner products.
    /// TRAK over the stage's model and `request.trakModels`: every model must read the query
    /// model's tokens (the same vocabulary); the kernel is built on `request.trakData`.
    private func scoreTRAK(queries: [TokenizedExample], documents: [TokenizedExample], into collector: inout ScoreCollector,
                           progress: (ScoringProgress) -> Void) throws {
        guard case .single = request.stages else { throw InputError("--method trak scores single-stage only (give --model)") }
        var models = [queryModel.model]
        for path in request.trakModels {
            let other = try LoadedModel(path: path, precision: .stored)
            guard other.model.hyperparameters.vocabularySize == queryModel.model.hyperparameters.vocabularySize,
                  other.tokenizer.vocabularySize == queryModel.tokenizer.vocabularySize else {
                throw InputError("\(path): its vocabulary differs from the model's; TRAK's ensemble must share the tokenizer")
            }
            models.append(other.model)
        }
        let kernelData = request.trakData.map { path in
            Result { try queryModel.tokenize(file: path, maxLength: request.maxSequenceLength ?? queryModel.context, requireLabels: false).examples }
        }
        let training = try kernelData?.get() ?? (try records().train.examples)
        let scorer = try TRAKScorer(models: models, training: training, selection: request.modules, dimension: request.trakDimension,
                                    seed: request.estimatorSeed, batchSize: request.batchSize,
                                    store: request.trakStore.map { URL(fileURLWithPath: $0) },
                                    trainingIdentity: FileDigest.fingerprint(ofPath: request.trakData ?? request.train)
                                        + " \(request.maxSequenceLength ?? queryModel.context)",
                                    log: request.log)
        let prepared = try scorer.prepare(queries: queries)
        progress(ScoringProgress(scored: 0, total: documents.count))
        for start in stride(from: 0, to: documents.count, by: request.batchSize) {
            let batch = Array(documents[start..<min(start + request.batchSize, documents.count)])
            try collector.add(first: start, total: try scorer.scores(prepared, documents: batch), perModule: [])
            progress(ScoringProgress(scored: start + batch.count, total: documents.count))
        }
    }

    private func scoreCKA(queries: [TokenizedExample], documents: [TokenizedExample], into collector: inout ScoreCollector,
                          progress: (ScoringProgress) -> Void) throws {
        let runner = GradientRunner(model: queryModel.model, layouts: layouts)
        func grams(_ examples: [TokenizedExample]) throws -> [[[Double]?]] {
            try runner.moduleGradients(of: examples).map { modules in
                zip(modules, layouts).map { GradientCKA.normalizedGram($0, rows: $1.outputSize, cols: $1.inputSize) }
            }
        }
        var queryGrams: [[[Double]?]] = []
        for start in stride(from: 0, to: queries.count, by: request.batchSize) {
            queryGrams += try grams(Array(queries[start..<min(start + request.batchSize, queries.count)]))
        }
        progress(ScoringProgress(scored: 0, total: documents.count))
        for start in stride(from: 0, to: documents.count, by: request.batchSize) {
            let batch = try grams(Array(documents[start..<min(start + request.batchSize, documents.count)]))
            let perModule = layouts.indices.map { m in queryGrams.map { q in batch.map { d in GradientCKA.similarity(q[m], d[m]) } } }
            let total = queryGrams.indices.map { q in batch.indices.map { d in
                layouts.indices.reduce(0.0) { $0 + perModule[$1][q][d] } / Double(layouts.count)
            } }
            try collector.add(first: start, total: total, perModule: perModule)
            progress(ScoringProgress(scored: start + batch.count, total: documents.count))
        }
    }

    /// Scores `documents` batch by batch, `request.threads` batches at once (each on its own
    /// worker, one BLAS thread each), and hands each batch's scores to `body` in batch order:
    /// a batch's scores do not depend on the thread that computed them, so the output is the
    /// same for every thread count.
    private func scoreBatches(_ documents: [TokenizedExample], scorer: InfluenceScorer, layouts: [ModuleLayout],
                              _ body: (Int, Int, [[Double]], [[[Double]]]) throws -> Void) throws {
        let starts = Array(stride(from: 0, to: documents.count, by: request.batchSize))
        let threads = max(1, min(request.threads, starts.count))
        let workers = (0..<threads).map { _ in InfluenceScorer.Worker(model: documentModel.model, layouts: layouts) }
        typealias Scores = (total: [[Double]], perModule: [[[Double]]])
        for wave in stride(from: 0, to: starts.count, by: threads) {
            let count = min(threads, starts.count - wave)
            let batches = (0..<count).map { i in Array(documents[starts[wave + i]..<min(starts[wave + i] + request.batchSize, documents.count)]) }
            var results = [Result<Scores, Error>?](repeating: nil, count: count)
            nonisolated(unsafe) let scorer = scorer
            results.withUnsafeMutableBufferPointer { slots in
                nonisolated(unsafe) let slots = slots
                // One iteration runs on the calling thread.
                DispatchQueue.concurrentPerform(iterations: count) { i in
                    slots[i] = Result { try scorer.score(documents: batches[i], worker: workers[i]) }
                }
            }
            for (i, result) in results.enumerated() {
                let scores = try result!.get()
                try body(starts[wave + i], starts[wave + i] + batches[i].count, scores.total, scores.perModule)
            }
        }
    }

    /// The queries and the training documents, tokenised once (`memoryPlan()` and `runShard` both need them).
    private var tokenized: (queries: TokenizedRecords, train: TokenizedRecords)?

    private func records() throws -> (queries: TokenizedRecords, train: TokenizedRecords) {
        if let tokenized { return tokenized }
        let queryRecords = try queryModel.tokenize(file: request.queries, maxLength: request.maxSequenceLength ?? queryModel.context,
                                                   requireIds: true, chat: request.chat)
        let trainRecords = try documentModel.tokenize(file: request.train, maxLength: request.maxSequenceLength ?? documentModel.context,
                                                      requireIds: true, allowPromptCompletion: false)
        if queryRecords.examples.isEmpty { throw InputError("\(request.queries): no queries") }
        if trainRecords.examples.isEmpty { throw InputError("\(request.train): no training documents") }
        tokenized = (queryRecords, trainRecords)
        return (queryRecords, trainRecords)
    }

    /// The memory plan of this run (`--max-memory`'s module groups), before anything is scored.
    public func memoryPlan() throws -> ScoreMemoryPlan {
        let (queryRecords, trainRecords) = try records()
        let part = request.shard.documents(of: trainRecords.examples.count, batchSize: request.batchSize)
        return memoryPlan(queries: queryRecords.examples, documents: Array(trainRecords.examples[part]))
    }

    /// The module groups `--max-memory` allows (one group without a budget).
    func memoryPlan(queries: [TokenizedExample], documents: [TokenizedExample]) -> ScoreMemoryPlan {
        let batches = stride(from: 0, to: documents.count, by: request.batchSize).map { documents[$0..<min($0 + request.batchSize, documents.count)] }
        let models = queryModel.model === documentModel.model ? [documentModel.model] : [documentModel.model, queryModel.model]
        return ScoreMemoryPlan(layouts: layouts, models: models,
                               documentTokens: batches.map { $0.reduce(0) { $0 + $1.tokens.count } }.max() ?? 0,
                               longestDocument: documents.map(\.tokens.count).max() ?? 0, queries: queries.count,
                               queryBatch: request.batchSize, documentBatch: request.batchSize, budget: request.maxMemory,
                               usesFactors: request.method.needsFactors, workers: min(request.threads, batches.count))
    }

    /// What every shard of one run shares and shards of another run do not: the models'
    /// weights, the factors, the query and training files, and every option that changes a
    /// score, hashed (XXH64) into a short string.
    public func identity() -> String {
        var parts: [String] = []
        func stage(_ s: ScoringStage, _ loaded: LoadedModel) {
            parts += ["model=\(loaded.model.fingerprint)", "damping=\(String(describing: s.damping))",
                      "factors=\(s.factors.map { FileDigest.fingerprint(ofPath: FactorStore.manifestURL(URL(fileURLWithPath: $0)).path) } ?? "none")"]
        }
        switch request.stages {
        case .single(let s): parts.append("single"); stage(s, documentModel)
        case .multi(let ft, let pt, let both): parts.append("multi \(both)"); stage(ft, queryModel); stage(pt, documentModel)
        }
        parts += ["queries=\(FileDigest.fingerprint(ofPath: request.queries))", "train=\(FileDigest.fingerprint(ofPath: request.train))",
                  "damping=\(request.damping)", "scope=\(request.dampingScope)", "method=\(request.method.rawValue)",
                  "curvature=\(request.curvatureData.map { FileDigest.fingerprint(ofPath: $0) } ?? "factors") \(request.cgTolerance) \(request.cgIterations)",
                  "estimators=\(request.lissaDepth) \(request.lissaScale) \(request.lissaRepeats) \(request.arnoldiIterations) \(request.arnoldiRank) \(request.estimatorSeed)",
                  "trak=\(request.trakModels) \(request.trakData.map { FileDigest.fingerprint(ofPath: $0) } ?? "train") \(request.trakDimension)",
                  "modules=\(request.modules)", "topK=\(String(describing: request.topK))", "perModule=\(request.perModule)",
                  "queryRank=\(String(describing: request.queryRank))", "batch=\(request.batchSize)",
                  "seqLen=\(String(describing: request.maxSequenceLength))", "chat=\(request.chat)", "shards=\(request.shard.count)"]
        let text = parts.joined(separator: "\n")
        return "xxh64:" + String(text.utf8CString.withUnsafeBytes { FileDigest.xxh64($0) }, radix: 16)
    }

    /// The preconditioner of one stage: its factors, loaded and checked against its model, or
    /// for a method without a curvature (GDP) the identity over the selected modules, in the
    /// attention blocks of the factors if given.
    static func preconditioner(of stage: ScoringStage, model: LoadedModel, role: String, request: ScoringRequest,
                               otherFingerprint: String? = nil) throws -> Preconditioner {
        let directory = stage.factors.map { URL(fileURLWithPath: $0) }
        if request.method.usesCurvatureData {
            return try curvatureDataPreconditioner(stage: stage, directory: directory, model: model, request: request)
        }
        guard request.method.needsFactors else {
            let attentionBlocks = try directory.map { try FactorStore.readManifest($0).options.attentionBlocks } ?? .fused
            return IdentityPreconditioner(layouts: model.model.moduleLayouts(request.modules,
                                                                        attentionBlocks: attentionBlocks, includeBias: false))
        }
        guard let directory else {
            throw InputError("\(stage.model): \(role) stage needs factors with the method \(request.method.rawValue)")
        }
        return try request.method.load(directory, for: model.model, modelPath: stage.model, selection: request.modules,
                                       damping: stage.damping ?? request.damping, scope: request.dampingScope, role: role,
                                       otherFingerprint: otherFingerprint).preconditioner
    }

    /// CG, LiSSA or Arnoldi over the stage's curvature data: `--curvature-data`, else the
    /// fitting data its factors record. Needs an absolute damping (there are no eigenvalues to
    /// take a multiple of).
    static func curvatureDataPreconditioner(stage: ScoringStage, directory: URL?, model: LoadedModel, request: ScoringRequest) throws -> Preconditioner {
        let method = request.method.rawValue
        guard case .single = request.stages else {
            throw InputError("--method \(method) scores single-stage only (give --model, not --pretrained/--finetuned)")
        }
        let damping = stage.damping ?? request.damping
        guard let lambda = damping.absoluteValue else {
            throw InputError("--method \(method) needs an absolute --damping (such as 0.01), not \(damping): a multiple of the mean eigenvalue needs factors")
        }
        let manifest = try directory.map { try FactorStore.readManifest($0) }
        guard let data = request.curvatureData ?? manifest?.options.data else {
            throw InputError("--method \(method) needs --curvature-data FILE.jsonl (the data whose Gauss–Newton matrix to invert), or --factors whose fit names its data")
        }
        let records = try model.tokenize(file: data, maxLength: request.maxSequenceLength ?? manifest?.options.sequenceLength ?? model.context,
                                         requireIds: false)
        let examples = manifest?.options.maxSequences.map { Array(records.examples.prefix($0)) } ?? records.examples
        if examples.isEmpty { throw InputError("\(data): no sequences for the curvature") }
        let layouts = model.model.moduleLayouts(request.modules, attentionBlocks: manifest?.options.attentionBlocks ?? .fused, includeBias: false)
        let product = try GaussNewtonProduct(model: model.model, layouts: layouts, examples: examples, batchSize: request.batchSize)
        switch request.method {
        case .lissa:
            return try LiSSAPreconditioner(product: product, damping: lambda, depth: request.lissaDepth, scale: request.lissaScale,
                                           repeats: request.lissaRepeats, seed: request.estimatorSeed)
        case .arnoldi:
            let identity = ["model=\(model.model.fingerprint)", "data=\(FileDigest.fingerprint(ofPath: data))",
                            "sequences=\(examples.count) \(examples.reduce(0) { $0 + $1.tokens.count })",
                            "modules=" + layouts.map { "\($0.name):\($0.outputSize)x\($0.inputSize)" }.joined(separator: ","),
                            "iterations=\(request.arnoldiIterations) rank=\(request.arnoldiRank) seed=\(request.estimatorSeed)"].joined(separator: " ")
            if let store = request.arnoldiStore, FileManager.default.fileExists(atPath: store) {
                let stored = try ArnoldiPreconditioner(loading: URL(fileURLWithPath: store), identity: identity, product: product, damping: lambda)
                request.log("arnoldi: read \(stored.eigenvalues.count) eigenpairs from \(store)")
                return stored
            }
            let arnoldi = try ArnoldiPreconditioner(product: product, damping: lambda, iterations: request.arnoldiIterations,
                                                    rank: request.arnoldiRank, seed: request.estimatorSeed, log: request.log)
            if let store = request.arnoldiStore {
                try arnoldi.save(to: URL(fileURLWithPath: store), identity: identity)
                request.log("arnoldi: wrote \(arnoldi.eigenvalues.count) eigenpairs to \(store)")
            }
            return arnoldi
        default:
            // With factors, EK-FAC at the same λ preconditions the solves: the same answer in fewer iterations.
            let ekfac = try directory.flatMap { directory in
                request.cgPreconditioned
                    ? try PreconditionerMethod.ekfac.load(directory, for: model.model, modelPath: stage.model, selection: request.modules,
                                                         damping: .absolute(lambda), scope: request.dampingScope, role: "the").preconditioner
                    : nil
            }
            return try ConjugateGradientPreconditioner(product: product, damping: lambda, tolerance: request.cgTolerance,
                                                       maxIterations: request.cgIterations, preconditioner: ekfac)
        }
    }

    /// The two models of multi-stage scoring must share the backbone's shape and the tokenizer;
    /// the heads may differ.
    static func checkSharedBackbone(pretrained: LoadedModel, finetuned: LoadedModel, finetunedPath: String) throws {
        let a = pretrained.model.hyperparameters, b = finetuned.model.hyperparameters
        let shape = { (h: DecoderHyperparameters) in
            "\(h.family.rawValue), \(h.layerCount) layers, hidden \(h.hiddenSize), \(h.headCount)/\(h.keyValueHeadCount) heads of \(h.headSize), "
                + "intermediate \(h.intermediateSize), rotary \(h.rotaryDimensions)"
        }
        guard shape(a) == shape(b), a.parallelResidual == b.parallelResidual, a.qkvBias == b.qkvBias else {
            throw InputError("\(finetunedPath): its backbone (\(shape(b))) differs from the pre-trained model's (\(shape(a)))")
        }
        let ptTokenizer = pretrained.tokenizer, ftTokenizer = finetuned.tokenizer
        guard ptTokenizer.vocabularySize == ftTokenizer.vocabularySize,
              (0..<ptTokenizer.vocabularySize).allSatisfy({ ptTokenizer.token(ofId: $0) == ftTokenizer.token(ofId: $0) })
        else {
            throw InputError("\(finetunedPath)/tokenizer.json: a different tokenizer from the pre-trained model's; both stages must share one")
        }
    }
}
