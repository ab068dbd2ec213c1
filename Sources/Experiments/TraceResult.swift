/// One question traced to the corpus: the ranking of the retrieved candidates by (multi-stage)
/// influence and, for the top documents, per-token contributions.
public struct TraceResult: Sendable {
    public struct Document: Sendable {
        public let rank: Int
        public let id: String
        public let score: Double
        public let text: String
        /// (token text, contribution) for the top documents; empty for the rest.
        public let tokens: [(String, Double)]

        public init(rank: Int, id: String, score: Double, text: String, tokens: [(String, Double)]) {
            self.rank = rank
            self.id = id
            self.score = score
            self.text = text
            self.tokens = tokens
        }
    }

    public let prompt: String
    public let completion: String
    public let completionWasGenerated: Bool
    public let documents: [Document]
    public let settings: [(String, String)]
    /// Every scored candidate's score, best first (for the distribution plot).
    public let allScores: [Double]
    public let seconds: Double

    public init(prompt: String, completion: String, completionWasGenerated: Bool, documents: [Document], settings: [(String, String)],
                allScores: [Double], seconds: Double) {
        self.prompt = prompt
        self.completion = completion
        self.completionWasGenerated = completionWasGenerated
        self.documents = documents
        self.settings = settings
        self.allScores = allScores
        self.seconds = seconds
    }
}
