/// One item for fitting or scoring: its tokens and how many of them are prompt.
///
/// Plain text has `promptLength` 0: every next-token target counts. A prompt/completion item
/// is tokenised as prompt and completion separately, then concatenated (DESIGN §8); only the
/// completion's tokens are targets.
public struct TokenizedExample: Sendable, Equatable {
    public var tokens: [Int]
    public var promptLength: Int

    public init(tokens: [Int], promptLength: Int = 0) {
        precondition(promptLength >= 0 && promptLength <= tokens.count, "prompt longer than the example")
        self.tokens = tokens
        self.promptLength = promptLength
    }

    /// Number of next-token targets that count.
    public var targetCount: Int { max(0, tokens.count - max(1, promptLength)) }
}

extension TokenBatch {
    public init(examples: [TokenizedExample]) {
        self.init(sequences: examples.map(\.tokens))
    }
}

extension LossTargets {
    public static func counted(_ batch: TokenBatch, examples: [TokenizedExample]) -> LossTargets {
        completionOnly(batch, promptLengths: examples.map(\.promptLength))
    }
}
