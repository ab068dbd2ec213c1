import Checkpoints
import Models
import Tokenization

extension FactTracingBenchmark {
    /// Stage 1's output: the world split into fine-tuned and held-out facts, the tokenizer, and
    /// every example the later stages train, fit and score on.
    public struct World: Sendable {
        public let data: FactWorldPipeline
        public let tokenizer: BPETokenizer
        public let endOfText: Int
        /// Pre-training data and the pre-trained model's fitting data: every sentence, with the end token.
        public let statements: [TokenizedExample]
        /// Fine-tuning data and the fine-tuned model's fitting data: the fine-tuned facts' questions, with the end token.
        public let questions: [TokenizedExample]
        /// The sentences as training documents to attribute to (no end token).
        public let documents: [TokenizedExample]
        /// The held-out facts' questions as queries (measurement: the answer's loss, no end token).
        public let queries: [TokenizedExample]
        /// For each held-out fact (in `data.heldOut` order), the sentences that state it.
        public let sources: [[Int]]
    }

    /// Stage 1: the world (the benchmark's split: a seeded shuffle, halved).
    public func makeWorld() throws -> World {
        let o = options
        var pipelineOptions = FactWorldPipeline.Options()
        pipelineOptions.seed = o.seed
        pipelineOptions.subjectsPerRelation = o.subjectsPerRelation
        pipelineOptions.sharedNames = o.sharedNames
        pipelineOptions.split = .shuffledHalf(seed: o.seed &+ 99)
        pipelineOptions.vocabularySize = o.vocabularySize
        let data = FactWorldPipeline(options: pipelineOptions)
        let world = data.world
        log("world: \(world.facts.count) facts, \(world.relations.count) relations, \(world.sentences.count) sentences; "
            + "fine-tuning on \(data.fineTuned.count) facts' questions, testing \(data.heldOut.count)")
        let tokenizer = try data.trainTokenizer()
        guard let end = tokenizer.endOfTextTokenId else { throw InputError("the fact-world tokenizer has no end-of-text token") }
        return World(data: data, tokenizer: tokenizer, endOfText: end,
                     statements: data.sentenceExamples(tokenizer, endOfText: end),
                     questions: data.questionExamples(data.fineTuned, tokenizer, endOfText: end),
                     documents: data.sentenceExamples(tokenizer, endOfText: nil),
                     queries: data.questionExamples(data.heldOut, tokenizer, endOfText: nil),
                     sources: data.heldOut.map { data.sources(of: $0) })
    }
}
