import Foundation

/// The paper's fact-tracing experiment (§5.3) on a generated world (DESIGN §7): pre-train a
/// small GPT-NeoX on sentences stating facts (the attribution set), fine-tune it on questions
/// about some facts, and ask, for questions about the *other* facts, whether each attribution
/// method ranks the sentences that state the fact first among distractors.
///
/// `run` is a staged program, each stage a function of the previous ones' outputs:
/// `makeWorld` → `train` → `fit` → `score` → `rerankingTrials` → `statistics`.
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
        /// Of the BPE tokenizer and the model.
        public var vocabularySize = 1024

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
        let world = try makeWorld()
        let models = try train(world)
        let factors = try fit(world, models)
        let scores = try score(world, models, factors)
        let trials = rerankingTrials(world, bm25Ranking: scores.bm25Ranking)
        let candidateCounts = trials.flatMap { $0.candidates.map(\.count) }
        return Report(facts: world.data.world.facts.count, sentences: world.data.world.sentences.count,
                      fineTunedFacts: world.data.fineTuned.count, heldOutFacts: world.data.heldOut.count,
                      accuracy: models.accuracy, results: Self.statistics(scores.methods, trials: trials, world: world),
                      candidatesPerQuery: Double(candidateCounts.reduce(0, +)) / Double(max(candidateCounts.count, 1)),
                      relativeDistance: models.relativeDistance,
                      seconds: Date().timeIntervalSince(start))
    }
}
