import Foundation
import Models
import Numerics
import Tokenization

/// What every fact-world experiment starts from (the demo and the fact-tracing benchmark):
/// the generated world, which facts the model is fine-tuned on and which are held out, a BPE
/// tokenizer trained on the sentences and the questions, and the statement and question data.
public struct FactWorldPipeline: Sendable {
    /// Which facts' questions the model is fine-tuned on; the others are held out (known to the
    /// model only from pre-training, so they are the ones to trace).
    public enum FineTuningSplit: Sendable, Equatable {
        /// The facts whose index is not a multiple of 3: two thirds (the demo).
        case allButEveryThird
        /// The first half of a seeded shuffle of the facts (the benchmark).
        case shuffledHalf(seed: UInt64)
    }

    public struct Options: Sendable {
        public var seed: UInt64 = 1
        public var subjectsPerRelation = 6
        public var sharedNames = false
        public var split = FineTuningSplit.allButEveryThird
        public var vocabularySize = 512

        public init() {}
    }

    /// One line of a JSON Lines data file (`{"id", "text"}` or `{"prompt", "completion"}`).
    public struct Record: Codable, Sendable, Equatable {
        public var id: String?
        public var text: String?
        public var prompt: String?
        public var completion: String?
    }

    /// Ends every pre-training sentence and every answer, so that the models learn to stop.
    public static let endOfText = "<|endoftext|>"

    public let options: Options
    public let world: FactWorld
    /// Fact indices, in increasing order.
    public let fineTuned: [Int]
    public let heldOut: [Int]

    public init(options: Options) {
        self.options = options
        world = FactWorld(seed: options.seed, subjectsPerRelation: options.subjectsPerRelation, sharedNames: options.sharedNames)
        switch options.split {
        case .allButEveryThird:
            fineTuned = world.facts.indices.filter { $0 % 3 != 0 }
            heldOut = world.facts.indices.filter { $0 % 3 == 0 }
        case .shuffledHalf(let seed):
            var rng = RandomGenerator(seed: seed)
            var order = Array(world.facts.indices)
            rng.shuffle(&order)
            fineTuned = order.prefix(world.facts.count / 2).sorted()
            heldOut = order.dropFirst(world.facts.count / 2).sorted()
        }
    }

    /// tokenizer.json of a BPE tokenizer trained on every sentence and every question with its answer.
    public func tokenizerJSON() throws -> Data {
        var trainer = BPETrainer(vocabularySize: options.vocabularySize)
        for sentence in world.sentences { trainer.add(sentence.text) }
        for f in world.facts.indices { let q = world.question(f); trainer.add(q.prompt + q.completion) }
        return try trainer.tokenizerJSON()
    }

    public func trainTokenizer() throws -> BPETokenizer {
        try BPETokenizer(json: try tokenizerJSON(), source: "fact-world tokenizer")
    }

    /// The indices of the sentences that state fact `f`.
    public func sources(of f: Int) -> [Int] {
        world.sentences.indices.filter { world.sentences[$0].fact == f }
    }

    // MARK: data files (the demo trains through them, as `influence train` would)

    /// The attribution corpus: every sentence as `{"id", "text"}`.
    public var corpusRecords: [Record] { world.sentences.map { Record(id: $0.id, text: $0.text) } }

    /// The pre-training data: every sentence, ended by the end-of-text token.
    public var pretrainingRecords: [Record] { world.sentences.map { Record(id: $0.id, text: $0.text + Self.endOfText) } }

    /// The fine-tuning data: the fine-tuned facts' questions, answers ended by the end-of-text token.
    public var fineTuningRecords: [Record] {
        fineTuned.map { f in
            let q = world.question(f)
            return Record(prompt: q.prompt, completion: q.completion + Self.endOfText)
        }
    }

    // MARK: tokenised data (the benchmark trains in memory)

    /// Every sentence as a training document; with `endOfText`, ended by the end-of-text token.
    public func sentenceExamples(_ tokenizer: BPETokenizer, endOfText: Int?) -> [TokenizedExample] {
        world.sentences.map { TokenizedExample(tokens: tokenizer.encode($0.text) + (endOfText.map { [$0] } ?? [])) }
    }

    /// The questions about `facts`, with the answer's tokens as the only targets; with
    /// `endOfText`, the answer is ended by the end-of-text token.
    public func questionExamples(_ facts: [Int], _ tokenizer: BPETokenizer, endOfText: Int?) -> [TokenizedExample] {
        facts.map { f in
            let q = world.question(f)
            let prompt = tokenizer.encode(q.prompt)
            return TokenizedExample(tokens: prompt + tokenizer.encode(q.completion) + (endOfText.map { [$0] } ?? []),
                                    promptLength: prompt.count)
        }
    }
}
