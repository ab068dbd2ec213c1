import Curvature
import Foundation
import Influence
import Models
import Numerics
import Retrieval

extension FactTracingBenchmark {
    /// Stage 3's output: EK-FAC factors of both stages over the same modules.
    public struct StageFactors {
        public let layouts: [ModuleLayout]
        /// The pre-trained model's curvature on the attribution set (the statements).
        public let pretrained: EKFACFactors
        /// The fine-tuned model's curvature on the fine-tuning questions.
        public let finetuned: EKFACFactors
    }

    /// One method's scores: `scores[q][s]` of held-out question q for sentence s.
    public struct MethodScores {
        public let method: AttributionMethod
        public let scores: [[Double]]
    }

    /// Stage 4's output: every method's scores, and BM25's ranking of the sentences for each
    /// held-out question with its answer (its top hits join the candidates).
    public struct Scores {
        public let methods: [MethodScores]
        public let bm25Ranking: [[Int]]
    }

    /// Stage 3: fit EK-FAC factors of the pre-trained model on the statements and of the
    /// fine-tuned one on its questions.
    public func fit(_ world: World, _ models: TrainedModels) throws -> StageFactors {
        log("fitting EK-FAC factors")
        let layouts = models.pretrained.moduleLayouts(.all, attentionBlocks: .perHead, includeBias: false)
        func fit(_ model: DecoderModel, _ examples: [TokenizedExample]) throws -> EKFACFactors {
            let fitter = FactorFitter(model: model, layouts: layouts, batchSize: 16, seed: options.seed)
            let covariances = try fitter.accumulateCovariances(examples)
            return try fitter.correctEigenvalues(examples, eigenbases: FactorFitter.eigenbases(covariances), covariances: covariances)
        }
        return StageFactors(layouts: layouts, pretrained: try fit(models.pretrained, world.statements),
                            finetuned: try fit(models.finetuned, world.questions))
    }

    /// The influence dampings of the sweep: the absolute ones, auto (0.1 × the mean eigenvalue
    /// per module), then other multiples of the mean, since the curvatures of the two stages
    /// differ by orders of magnitude.
    public var dampings: [Damping] {
        options.dampings.map { Damping.absolute($0) } + [.automatic] + options.relativeDampings.map { Damping.relative($0) }
    }

    /// Stage 4: the [held-out questions × sentences] score matrix of every method, in the
    /// report's order (BM25, RepSim, GDP, then the influence variants per damping).
    public func score(_ world: World, _ models: TrainedModels, _ factors: StageFactors) throws -> Scores {
        log("gradients of \(world.data.world.sentences.count) sentences and \(world.queries.count) questions")
        let gradients = StageGradients(layouts: factors.layouts)
        let ptDocuments = try gradients.of(models.pretrained, world.documents)
        let ftDocuments = try gradients.of(models.finetuned, world.documents)
        let queries = try gradients.of(models.finetuned, world.queries)
        let documentRepresentations = Self.representations(models.pretrained, world.documents)
        let queryRepresentations = Self.representations(models.finetuned, world.queries)

        var methods = [
            MethodScores(method: .repSim, scores: queryRepresentations.map { q in
                documentRepresentations.map { d in Double(zip(q, d).reduce(0) { $0 + $1.0 * $1.1 }) }
            }),
            MethodScores(method: .gdp(.fineTuned), scores: StageGradients.product(queries, ftDocuments)),
            MethodScores(method: .gdp(.acrossStages), scores: StageGradients.product(queries, ptDocuments)),
        ]
        for damping in dampings {
            log("scoring with damping \(damping)")
            let single = gradients.precondition(queries, with: EKFACPreconditioner(factors: factors.finetuned, damping: damping))
            let multi = gradients.precondition(single, with: EKFACPreconditioner(factors: factors.pretrained, damping: damping))
            methods += [
                MethodScores(method: .singleStage(damping), scores: StageGradients.product(single, ftDocuments)),
                MethodScores(method: .multiStage(damping), scores: StageGradients.product(multi, ptDocuments)),
                MethodScores(method: .multiStageWithoutPretrainedInverse(damping), scores: StageGradients.product(single, ptDocuments)),
            ]
        }
        let bm25 = try Self.bm25Scores(world)
        return Scores(methods: [MethodScores(method: .bm25(.questionAndAnswer), scores: bm25.questionAndAnswer),
                                MethodScores(method: .bm25(.questionOnly), scores: bm25.questionOnly)] + methods,
                      bm25Ranking: bm25.ranking)
    }

    /// RepSim's representations: the normalised mean of the final hidden states.
    static func representations(_ model: DecoderModel, _ examples: [TokenizedExample]) -> [[Float]] {
        let hidden = model.hyperparameters.hiddenSize
        let activations = DecoderActivations(hyperparameters: model.hyperparameters)
        return examples.map { example in
            model.forward(TokenBatch(examples: [example]), activations)
            var mean = [Float](repeating: 0, count: hidden)
            for t in 0..<example.tokens.count { for j in 0..<hidden { mean[j] += activations.finalHiddenStates[t * hidden + j] } }
            let norm = max(mean.reduce(0) { $0 + $1 * $1 }.squareRoot(), 1e-12)
            return mean.map { $0 / norm }
        }
    }

    /// BM25 scores of every sentence for every held-out question, with and without the answer's
    /// words, and the sentences of the first ranking in order (for the candidate sets).
    static func bm25Scores(_ world: World) throws -> (questionAndAnswer: [[Double]], questionOnly: [[Double]], ranking: [[Int]]) {
        let sentences = world.data.world.sentences
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("fact-tracing-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let corpusFile = directory.appendingPathComponent("sentences.txt")
        try sentences.map(\.text).joined(separator: "\n").write(to: corpusFile, atomically: true, encoding: .utf8)
        _ = try CorpusIndex.build(from: try CorpusReader(url: corpusFile), to: directory.appendingPathComponent("index.sqlite"), windowWords: 64)
        let index = try CorpusIndex(url: directory.appendingPathComponent("index.sqlite"))
        // Row r of the index is sentence r − 1 (one window per sentence, in order).
        func bm25(_ query: String) throws -> ([Double], [Int]) {
            let hits = try index.searchBM25(query, limit: sentences.count)
            var scores = [Double](repeating: -1e30, count: sentences.count)
            for hit in hits { scores[Int(hit.row) - 1] = -hit.score }   // FTS5's bm25 is lower-better
            return (scores, hits.map { Int($0.row) - 1 })
        }
        var withAnswer: [[Double]] = [], questionOnly: [[Double]] = [], ranking: [[Int]] = []
        for f in world.data.heldOut {
            let q = world.data.world.question(f)
            let (scores, top) = try bm25(q.prompt + q.completion)
            withAnswer.append(scores)
            ranking.append(top)
            questionOnly.append(try bm25(q.prompt).0)
        }
        return (withAnswer, questionOnly, ranking)
    }
}

/// Per-example gradients over the tracked modules as the rows of one matrix, their
/// preconditioning and their dot products.
struct StageGradients {
    let layouts: [ModuleLayout]
    var parameterCount: Int { layouts.reduce(0) { $0 + $1.parameterCount } }

    /// [examples × parameters]: each example's gradient under `model`, in batches of 16.
    func of(_ model: DecoderModel, _ examples: [TokenizedExample]) throws -> Matrix<Float> {
        let P = parameterCount
        let runner = GradientRunner(model: model, layouts: layouts)
        let out = Matrix<Float>(rows: examples.count, cols: P)
        for start in stride(from: 0, to: examples.count, by: 16) {
            let slice = Array(examples[start..<min(start + 16, examples.count)])
            for (k, modules) in try runner.moduleGradients(of: slice).enumerated() {
                (out.storage + (start + k) * P).update(from: Array(modules.joined()), count: P)
            }
        }
        return out
    }

    /// A copy of `gradients` with every row's modules preconditioned.
    func precondition(_ gradients: Matrix<Float>, with preconditioner: Preconditioner) -> Matrix<Float> {
        let out = gradients.copy()
        for q in 0..<out.rows {
            var offset = q * parameterCount
            for m in layouts.indices {
                preconditioner.apply(module: m, to: out.storage + offset)
                offset += layouts[m].parameterCount
            }
        }
        return out
    }

    /// [queries × documents] dot products.
    static func product(_ queries: Matrix<Float>, _ documents: Matrix<Float>) -> [[Double]] {
        let c = Matrix<Float>.product(queries, documents, transposeB: .transposed)
        return (0..<queries.rows).map { i in (0..<documents.rows).map { Double(c[i, $0]) } }
    }
}
