import Checkpoints

/// One item for fitting or scoring: its tokens and how many of them are prompt.
///
/// Plain text has `promptLength` 0: every next-token target counts. A prompt/completion item
/// is tokenised as prompt and completion separately, then concatenated (DESIGN §8); only the
/// completion's tokens are targets.
///
/// For a sequence classifier, `label` is the class index and the whole text is input.
public struct TokenizedExample: Sendable, Equatable {
    public var tokens: [Int]
    public var promptLength: Int
    public var label: Int?

    public init(tokens: [Int], promptLength: Int = 0, label: Int? = nil) {
        precondition(promptLength >= 0 && promptLength <= tokens.count, "prompt longer than the example")
        self.tokens = tokens
        self.promptLength = promptLength
        self.label = label
    }

    /// Number of next-token targets that count (one for a labelled example).
    public var targetCount: Int { label != nil ? 1 : max(0, tokens.count - max(1, promptLength)) }
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

extension DecoderModel {
    /// What the loss counts for `examples`: completion-only next tokens for a language model,
    /// one label per sequence for a classifier.
    public func lossTargets(_ batch: TokenBatch, examples: [TokenizedExample]) throws -> LossTargets {
        guard let labels = hyperparameters.classifierLabels else { return .counted(batch, examples: examples) }
        var targets: [Int32] = []
        for example in examples {
            guard let label = example.label, (0..<labels).contains(label) else {
                throw InputError("a classifier example needs a label in 0..<\(labels)")
            }
            targets.append(Int32(label))
        }
        return LossTargets(targets: targets, weights: [Float](repeating: 1, count: examples.count))
    }

    /// The target rows of sequence `s` within `LossTargets` (all its rows, or row s).
    public func targetRows(_ batch: TokenBatch, sequence s: Int) -> Range<Int> {
        hyperparameters.classifierLabels == nil ? batch.range(ofSequence: s) : s..<(s + 1)
    }

    /// Sequences with at least one counted target.
    public func countedSequences(_ batch: TokenBatch, targets: LossTargets) -> [Int] {
        (0..<batch.sequenceCount).filter { s in targetRows(batch, sequence: s).contains { targets.weights[$0] != 0 } }
    }

    /// Per sequence with a counted target, the token rows that enter the curvature, the same
    /// rows for A, S and Λ: from the sequence's first token through its last counted target.
    ///
    /// The fitted G is the Gauss–Newton matrix of the loss that is measured and trained, which
    /// counts only completion targets (DESIGN §8). Its per-sequence weight gradient is
    /// Σₜ gₜaₜᵀ over every row that reaches a counted target, prompt rows included: attention
    /// carries the completion's (sampled-label) loss back to them, so their gₜ is a Fisher sample
    /// like any other. Rows after the last counted target have gₜ = 0 and are left out. A
    /// classifier's label is read at the last token, so all its rows count.
    public func curvatureRows(_ batch: TokenBatch, targets: LossTargets) -> [Range<Int>] {
        countedSequences(batch, targets: targets).map { s in
            let rows = batch.range(ofSequence: s)
            if hyperparameters.classifierLabels != nil { return rows }
            let last = rows.last { targets.weights[$0] != 0 }!
            return rows.lowerBound..<(last + 1)
        }
    }

    /// The rows of `curvatureRows`, flattened (pass 1's A and S).
    public func covarianceRows(_ batch: TokenBatch, targets: LossTargets) -> [Int] {
        curvatureRows(batch, targets: targets).flatMap { Array($0) }
    }
}
