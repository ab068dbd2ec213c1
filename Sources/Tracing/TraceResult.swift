import Checkpoints

/// One question traced to the corpus: the ranking of the retrieved candidates by (multi-stage)
/// influence and, for the top documents, per-token contributions.
///
/// Encoded (`json()`) as `influence trace --json` prints it: prompt, completion, generated,
/// results [{rank, id, score, text, tokens?: [[text, contribution]]}] and settings {name: value}.
public struct TraceResult: Sendable, Encodable {
    public struct Document: Sendable, Encodable {
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

        enum CodingKeys: String, CodingKey { case rank, id, score, text, tokens }

        public func encode(to encoder: Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(rank, forKey: .rank)
            try container.encode(id, forKey: .id)
            try container.encode(score, forKey: .score)
            try container.encode(text, forKey: .text)
            guard !tokens.isEmpty else { return }
            var pairs = container.nestedUnkeyedContainer(forKey: .tokens)
            for (token, contribution) in tokens {
                var pair = pairs.nestedUnkeyedContainer()
                try pair.encode(token)
                try pair.encode(contribution)
            }
        }
    }

    public let prompt: String
    public let completion: String
    public let completionWasGenerated: Bool
    public let documents: [Document]
    /// (name, value) of every setting, in the order a report shows them.
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

    enum CodingKeys: String, CodingKey { case prompt, completion, generated, results, settings }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(prompt, forKey: .prompt)
        try container.encode(completion, forKey: .completion)
        try container.encode(completionWasGenerated, forKey: .generated)
        try container.encode(documents, forKey: .results)
        try container.encode(Dictionary(settings, uniquingKeysWith: { first, _ in first }), forKey: .settings)
    }

    /// The result as one line of JSON (see the type's comment).
    public func json() throws -> String { try JSONOutput.string(self) }
}
