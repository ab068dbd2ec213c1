import Curvature

/// A model and the EK-FAC factors fitted with it.
public struct TraceStage: Sendable, Equatable {
    public var model: String
    public var factors: String

    public init(model: String, factors: String) {
        self.model = model
        self.factors = factors
    }
}

/// What a `Tracer` traces against and how: the models and their factors, the corpus index,
/// retrieval, damping and the generation of an answer when none is given.
public struct TraceRequest: Sendable {
    /// Answers the prompt and gives the query gradient.
    public var finetuned: TraceStage
    /// Gives the documents' gradients (multi-stage influence); nil: single-stage with the fine-tuned model.
    public var pretrained: TraceStage?
    /// The corpus index (`CorpusIndex.build`).
    public var corpus: String
    /// Candidates to retrieve and score.
    public var candidates: Int
    /// Documents in the result.
    public var top: Int
    /// Of the top documents, how many get per-token contributions.
    public var highlighted: Int
    /// The damping of both curvatures.
    public var damping: Damping
    public var dampingScope: DampingScope
    public var retriever: Retriever
    /// A sentence-transformers directory for knn retrieval, if not the installed all-MiniLM-L6-v2.
    public var embedderPath: String?
    /// Without a completion: most tokens of the generated answer.
    public var maxNewTokens: Int
    /// Without a completion: end the generated answer at the first sentence end (. ! ?) or newline.
    public var stopAtSentenceEnd: Bool
    /// Wrap the prompt in the fine-tuned model's chat template (as the user's turn).
    public var chat = false

    public init(finetuned: TraceStage, pretrained: TraceStage? = nil, corpus: String, candidates: Int = 100, top: Int = 10,
                highlighted: Int = 10, damping: Damping = .automatic, dampingScope: DampingScope = .module, retriever: Retriever = .bm25,
                embedderPath: String? = nil, maxNewTokens: Int = 24, stopAtSentenceEnd: Bool = true) {
        self.finetuned = finetuned
        self.pretrained = pretrained
        self.corpus = corpus
        self.candidates = candidates
        self.top = top
        self.highlighted = highlighted
        self.damping = damping
        self.dampingScope = dampingScope
        self.retriever = retriever
        self.embedderPath = embedderPath
        self.maxNewTokens = maxNewTokens
        self.stopAtSentenceEnd = stopAtSentenceEnd
    }
}
