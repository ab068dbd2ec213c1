import Curvature
import Foundation
import Influence
import Models
import Numerics
import Retrieval
import Tokenization
import Training

/// The paper's fact-tracing experiment (§5.3) on a generated world (DESIGN §7): pre-train a
/// small GPT-NeoX on sentences stating facts (the attribution set), fine-tune it on questions
/// about some facts, and ask, for questions about the *other* facts, whether each attribution
/// method ranks the sentences that state the fact first among distractors.
public final class FactTracingBenchmark {
    public struct Options: Sendable {
        public var seed: UInt64 = 1
        public var subjectsPerRelation = 20
        public var pretrainEpochs = 100
        public var finetuneEpochs = 30
        public var hiddenSize = 128
        public var trials = 3
        public var queriesPerTrial = 200
        public var dampings: [Double] = [1e-5, 1e-4, 1e-3, 1e-2, 1e-1]
        public var relativeDampings: [Double] = [0.001, 0.01, 1, 10]
        /// α of the proximity term (α/2)‖θ − θ_pt‖² during fine-tuning (0: none).
        public var proximity = 0.0
        /// People's names drawn from shared first and last names (see `FactWorld`).
        public var sharedNames = false
        public var randomCandidates = 100
        public var bm25Candidates = 100
        public var sameObjectCandidates = 100

        public init() {}

        /// A run of a few minutes for smoke tests.
        public static var quick: Options {
            var o = Options()
            o.subjectsPerRelation = 8
            o.pretrainEpochs = 80
            o.finetuneEpochs = 25
            o.hiddenSize = 96
            o.queriesPerTrial = 40
            o.dampings = [1e-4, 1e-2]
            o.relativeDampings = [0.01, 1]
            o.randomCandidates = 40
            o.bm25Candidates = 40
            o.sameObjectCandidates = 40
            return o
        }
    }

    public struct Accuracy: Sendable, Codable {
        public let model: String
        public let statementsAllFacts: Double
        public let questionsFineTuned: Double
        public let questionsHeldOut: Double
    }

    public struct MethodResult: Sendable, Codable {
        public let method: String
        public let damping: String
        public let mrrMean: Double
        public let mrrStd: Double
        public let recallMean: Double
        public let recallStd: Double
    }

    public struct Report: Sendable, Codable {
        public let facts: Int
        public let sentences: Int
        public let fineTunedFacts: Int
        public let heldOutFacts: Int
        public let accuracy: [Accuracy]
        public let results: [MethodResult]
        public let candidatesPerQuery: Double
        public let relativeDistance: Double
        public let seconds: Double
    }

    public let options: Options
    let log: (String) -> Void

    public init(options: Options, log: @escaping (String) -> Void) {
        self.options = options
        self.log = log
    }

    public func run() throws -> Report {
        let start = Date()
        let o = options
        let world = FactWorld(seed: o.seed, subjectsPerRelation: o.subjectsPerRelation, sharedNames: o.sharedNames)
        var rng = RandomGenerator(seed: o.seed &+ 99)
        var order = Array(world.facts.indices)
        rng.shuffle(&order)
        let fineTuned = Set(order.prefix(world.facts.count / 2)), heldOut = order.dropFirst(world.facts.count / 2).sorted()
        log("world: \(world.facts.count) facts, \(world.relations.count) relations, \(world.sentences.count) sentences; "
            + "fine-tuning on \(fineTuned.count) facts' questions, testing \(heldOut.count)")

        // Tokenizer and models.
        var bpe = BPETrainer(vocabularySize: 1024)
        for s in world.sentences { bpe.add(s.text) }
        for f in world.facts.indices { let q = world.question(f); bpe.add(q.prompt + q.completion) }
        let tokenizer = try BPETokenizer(json: try bpe.tokenizerJSON(), source: "benchmark tokenizer")
        let end = tokenizer.endOfTextTokenId!
        let h = GPTNeoXHyperparameters(vocabularySize: 1024, hiddenSize: o.hiddenSize, headCount: 4, intermediateSize: 4 * o.hiddenSize,
                                       layerCount: 2, maxPositions: 64)
        let pretrained = GPTNeoXModel(hyperparameters: h, seed: o.seed)
        let statements = world.sentences.map { TokenizedExample(tokens: tokenizer.encode($0.text) + [end]) }
        var configuration = Trainer.Configuration()
        configuration.learningRate = 3e-3
        configuration.warmupSteps = 50
        configuration.epochs = o.pretrainEpochs
        configuration.batchSize = 16
        configuration.seed = o.seed
        log("pre-training (\(o.pretrainEpochs) epochs)")
        try Trainer(model: pretrained, examples: statements, configuration: configuration).train()
        let finetuned = GPTNeoXModel(hyperparameters: h, parameters: pretrained.parameters.makeZeroedLike())
        finetuned.parameters.values.update(from: pretrained.parameters.values, count: pretrained.parameters.count)
        let questions = fineTuned.sorted().map { f -> TokenizedExample in
            let q = world.question(f)
            let prompt = tokenizer.encode(q.prompt)
            return TokenizedExample(tokens: prompt + tokenizer.encode(q.completion) + [end], promptLength: prompt.count)
        }
        configuration.learningRate = 1e-3
        configuration.warmupSteps = 0
        configuration.epochs = o.finetuneEpochs
        configuration.batchSize = 8
        configuration.proximity = o.proximity
        log("fine-tuning (\(o.finetuneEpochs) epochs\(o.proximity > 0 ? ", proximity α = \(o.proximity)" : ""))")
        try Trainer(model: finetuned, examples: questions, configuration: configuration, reference: pretrained.parameters).train()
        let distance = ParameterDistance(pretrained: pretrained, finetuned: finetuned)
        log(String(format: "relative distance ‖θ_ft − θ_pt‖ / ‖θ_pt‖ = %.3f", distance.relativeDistance))

        // Accuracy in statement and question form (the paper's Table 4).
        func answers(_ model: GPTNeoXModel, _ prompt: String, _ expected: String) throws -> Bool {
            let generated = try model.greedyContinuation(of: tokenizer.encode(prompt), maxNewTokens: 8, stopTokens: [end])
            return tokenizer.decode(generated).hasPrefix(expected.hasSuffix(".") ? String(expected.dropLast()) : expected)
        }
        func accuracy(_ model: GPTNeoXModel, _ name: String) throws -> Accuracy {
            func rate(_ facts: [Int], _ form: (Int) -> (prompt: String, completion: String)) throws -> Double {
                Double(try facts.filter { try answers(model, form($0).prompt, form($0).completion) }.count) / Double(max(facts.count, 1))
            }
            return Accuracy(model: name, statementsAllFacts: try rate(Array(world.facts.indices), world.statementPrompt),
                            questionsFineTuned: try rate(fineTuned.sorted(), world.question), questionsHeldOut: try rate(heldOut, world.question))
        }
        let accuracies = [try accuracy(pretrained, "pre-trained"), try accuracy(finetuned, "fine-tuned")]
        for a in accuracies {
            log(String(format: "%@: statements %.2f, questions (fine-tuned facts) %.2f, questions (held-out facts) %.2f",
                       a.model, a.statementsAllFacts, a.questionsFineTuned, a.questionsHeldOut))
        }

        // Curvature: the pre-trained model on the attribution set, the fine-tuned one on the questions.
        log("fitting EK-FAC factors")
        let layouts = ModuleLayout.of(GPTNeoXModel.trackedModules(h), selection: .all, attentionBlocks: .perHead, includeBias: false)
        func fit(_ model: GPTNeoXModel, _ examples: [TokenizedExample]) throws -> EKFACFactors {
            let fitter = FactorFitter(model: model, layouts: layouts, batchSize: 16, seed: o.seed)
            let covariances = try fitter.accumulateCovariances(examples)
            return try fitter.correctEigenvalues(examples, eigenbases: FactorFitter.eigenbases(covariances), covariances: covariances)
        }
        let ptFactors = try fit(pretrained, statements), ftFactors = try fit(finetuned, questions)

        // Gradients: every sentence under both models (as training documents, no end token),
        // every held-out question under the fine-tuned model (measurement: the answer's loss).
        log("gradients of \(world.sentences.count) sentences and \(heldOut.count) questions")
        let documents = world.sentences.map { TokenizedExample(tokens: tokenizer.encode($0.text)) }
        let queries = heldOut.map { f -> TokenizedExample in
            let q = world.question(f)
            let prompt = tokenizer.encode(q.prompt)
            return TokenizedExample(tokens: prompt + tokenizer.encode(q.completion), promptLength: prompt.count)
        }
        let P = layouts.reduce(0) { $0 + $1.parameterCount }
        func gradients(_ model: GPTNeoXModel, _ examples: [TokenizedExample]) throws -> Matrix<Float> {
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
        let ptDocuments = try gradients(pretrained, documents), ftDocuments = try gradients(finetuned, documents)
        let queryGradients = try gradients(finetuned, queries)

        // Representations for RepSim: mean of the final hidden states.
        func representations(_ model: GPTNeoXModel, _ examples: [TokenizedExample]) -> [[Float]] {
            let activations = GPTNeoXActivations(hyperparameters: h)
            return examples.map { example in
                model.forward(TokenBatch(examples: [example]), activations)
                var mean = [Float](repeating: 0, count: h.hiddenSize)
                for t in 0..<example.tokens.count { for j in 0..<h.hiddenSize { mean[j] += activations.finalHiddenStates[t * h.hiddenSize + j] } }
                let norm = max(mean.reduce(0) { $0 + $1 * $1 }.squareRoot(), 1e-12)
                return mean.map { $0 / norm }
            }
        }
        let documentRepresentations = representations(pretrained, documents), queryRepresentations = representations(finetuned, queries)

        // Score matrices [queries × sentences] for every method.
        func product(_ q: Matrix<Float>, _ d: Matrix<Float>) -> [[Double]] {
            let c = Matrix<Float>.product(q, d, transposeB: .transposed)
            return (0..<q.rows).map { i in (0..<d.rows).map { Double(c[i, $0]) } }
        }
        func precondition(_ g: Matrix<Float>, _ preconditioners: [Preconditioner]) -> Matrix<Float> {
            let out = g.copy()
            for preconditioner in preconditioners {
                for q in 0..<out.rows {
                    var offset = q * P
                    for m in layouts.indices {
                        preconditioner.apply(module: m, to: out.storage + offset)
                        offset += layouts[m].parameterCount
                    }
                }
            }
            return out
        }
        var methods: [(String, String, [[Double]])] = []
        methods.append(("RepSim", "—", queryRepresentations.map { q in documentRepresentations.map { d in Double(zip(q, d).reduce(0) { $0 + $1.0 * $1.1 }) } }))
        methods.append(("GDP (fine-tuned)", "—", product(queryGradients, ftDocuments)))
        methods.append(("GDP (across stages)", "—", product(queryGradients, ptDocuments)))
        // The required absolute sweep and auto (0.1 × mean eigenvalue per block), plus other
        // multiples of the mean: the curvatures of the two stages differ by orders of magnitude.
        let dampings = o.dampings.map { Damping.absolute($0) } + [.automatic] + o.relativeDampings.map { Damping.relative($0) }
        for damping in dampings {
            log("scoring with damping \(damping)")
            let pFT = EKFACPreconditioner(factors: ftFactors, damping: damping)
            let pPT = EKFACPreconditioner(factors: ptFactors, damping: damping)
            let single = precondition(queryGradients, [pFT])
            methods.append(("single-stage IF", damping.description, product(single, ftDocuments)))
            methods.append(("multi-stage IF", damping.description, product(precondition(single, [pPT]), ptDocuments)))
            methods.append(("multi-stage IF without (G_pt+λ)⁻¹", damping.description, product(single, ptDocuments)))
        }

        // The re-ranking evaluation: per query, true sources + BM25 top-k + same-object + random.
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("fact-tracing-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let corpusFile = directory.appendingPathComponent("sentences.txt")
        try world.sentences.map(\.text).joined(separator: "\n").write(to: corpusFile, atomically: true, encoding: .utf8)
        _ = try CorpusIndex.build(from: try CorpusReader(url: corpusFile), to: directory.appendingPathComponent("index.sqlite"), windowWords: 64)
        let index = try CorpusIndex(url: directory.appendingPathComponent("index.sqlite"))
        // Row r of the index is sentence r − 1 (one window per sentence, in order).
        var bm25Top: [[Int]] = [], bm25WithAnswer: [[Double]] = [], bm25Question: [[Double]] = []
        func bm25(_ query: String) throws -> ([Double], [Int]) {
            let hits = try index.searchBM25(query, limit: world.sentences.count)
            var scores = [Double](repeating: -1e30, count: world.sentences.count)
            for hit in hits { scores[Int(hit.row) - 1] = -hit.score }   // FTS5's bm25 is lower-better
            return (scores, hits.map { Int($0.row) - 1 })
        }
        for f in heldOut {
            let q = world.question(f)
            let (withAnswer, top) = try bm25(q.prompt + q.completion)
            bm25WithAnswer.append(withAnswer)
            bm25Top.append(Array(top.prefix(o.bm25Candidates)))
            bm25Question.append(try bm25(q.prompt).0)
        }
        methods.insert(("BM25 (question words only)", "—", bm25Question), at: 0)
        methods.insert(("BM25 (question + answer words)", "—", bm25WithAnswer), at: 0)

        var perMethod: [String: [(Double, Double)]] = [:]
        var candidateCounts: [Int] = []
        for trial in 0..<o.trials {
            var trialRng = RandomGenerator(seed: o.seed &+ 1000 &+ UInt64(trial))
            var chosen = Array(heldOut.indices)
            trialRng.shuffle(&chosen)
            chosen = Array(chosen.prefix(o.queriesPerTrial))
            var sums: [String: (Double, Double)] = [:]
            for qi in chosen {
                let fact = heldOut[qi]
                let sources = world.sentences.indices.filter { world.sentences[$0].fact == fact }
                var candidates = Set(sources).union(bm25Top[qi])
                var sameObject = world.sentences.indices.filter {
                    world.facts[world.sentences[$0].fact].object == world.facts[fact].object && world.sentences[$0].fact != fact
                }
                trialRng.shuffle(&sameObject)
                candidates.formUnion(sameObject.prefix(o.sameObjectCandidates))
                var others = Array(world.sentences.indices)
                trialRng.shuffle(&others)
                candidates.formUnion(others.prefix(o.randomCandidates))
                candidateCounts.append(candidates.count)
                let list = candidates.sorted()
                for (name, damping, scores) in methods {
                    let key = name + "\t" + damping
                    let ranked = list.sorted { (scores[qi][$0], -$0) > (scores[qi][$1], -$1) }
                    let firstTrue = ranked.firstIndex { sources.contains($0) }!
                    let inTop = ranked.prefix(10).filter { sources.contains($0) }.count
                    let previous = sums[key] ?? (0, 0)
                    sums[key] = (previous.0 + 1 / Double(firstTrue + 1), previous.1 + Double(inTop) / Double(sources.count))
                }
            }
            for (key, value) in sums { perMethod[key, default: []].append((value.0 / Double(chosen.count), value.1 / Double(chosen.count))) }
        }
        func meanStd(_ values: [Double]) -> (Double, Double) {
            let mean = values.reduce(0, +) / Double(values.count)
            let variance = values.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(max(values.count - 1, 1))
            return (mean, variance.squareRoot())
        }
        let results = methods.map { name, damping, _ -> MethodResult in
            let values = perMethod[name + "\t" + damping]!
            let mrr = meanStd(values.map(\.0)), recall = meanStd(values.map(\.1))
            return MethodResult(method: name, damping: damping, mrrMean: mrr.0, mrrStd: mrr.1, recallMean: recall.0, recallStd: recall.1)
        }
        return Report(facts: world.facts.count, sentences: world.sentences.count, fineTunedFacts: fineTuned.count, heldOutFacts: heldOut.count,
                      accuracy: accuracies, results: results,
                      candidatesPerQuery: Double(candidateCounts.reduce(0, +)) / Double(max(candidateCounts.count, 1)),
                      relativeDistance: distance.relativeDistance,
                      seconds: Date().timeIntervalSince(start))
    }
}
