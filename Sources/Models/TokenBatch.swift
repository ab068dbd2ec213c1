/// A batch of token sequences of different lengths, packed end to end.
///
/// Packing instead of padding: matrix products run over exactly the real tokens, and each
/// sequence attends only within its own segment, so no compute or memory goes to padding and
/// no attention mask is needed. Positions restart at zero in every sequence, which is what a
/// right-padded batch with an attention mask computes in transformers.
public struct TokenBatch: Sendable {
    /// All sequences' tokens, one after the other.
    public let tokens: [Int32]
    /// `sequenceStarts[s]..<sequenceStarts[s + 1]` are the rows of sequence s; count + 1 entries.
    public let sequenceStarts: [Int]

    public init(sequences: [[Int]]) {
        var tokens: [Int32] = []
        var starts = [0]
        tokens.reserveCapacity(sequences.reduce(0) { $0 + $1.count })
        for sequence in sequences {
            tokens.append(contentsOf: sequence.map { Int32($0) })
            starts.append(tokens.count)
        }
        self.tokens = tokens
        self.sequenceStarts = starts
    }

    public var tokenCount: Int { tokens.count }
    public var sequenceCount: Int { sequenceStarts.count - 1 }
    public func range(ofSequence s: Int) -> Range<Int> { sequenceStarts[s]..<sequenceStarts[s + 1] }
    public var longestSequence: Int { (0..<sequenceCount).map { range(ofSequence: $0).count }.max() ?? 0 }
}

/// What the loss counts at each packed row: the token to predict and a weight (0 = not counted).
///
/// Row t of a sequence predicts its token t + 1, so a sequence's last row never counts.
public struct LossTargets: Sendable {
    public var targets: [Int32]
    public var weights: [Float]

    public init(targets: [Int32], weights: [Float]) {
        precondition(targets.count == weights.count)
        self.targets = targets
        self.weights = weights
    }

    /// Summed next-token cross-entropy over every position of every sequence.
    public static func nextToken(_ batch: TokenBatch) -> LossTargets {
        completionOnly(batch, promptLengths: Array(repeating: 0, count: batch.sequenceCount))
    }

    /// Cross-entropy on completion tokens only: sequence s's first `promptLengths[s]` tokens are
    /// the prompt, whose tokens are inputs but not targets (DESIGN §8).
    public static func completionOnly(_ batch: TokenBatch, promptLengths: [Int]) -> LossTargets {
        precondition(promptLengths.count == batch.sequenceCount, "one prompt length per sequence")
        var targets = [Int32](repeating: 0, count: batch.tokenCount)
        var weights = [Float](repeating: 0, count: batch.tokenCount)
        for s in 0..<batch.sequenceCount {
            let rows = batch.range(ofSequence: s)
            for row in rows.dropLast() {
                targets[row] = batch.tokens[row + 1]
                // Row `row` predicts token row + 1, which is a completion token when its index
                // within the sequence is at least the prompt length.
                if row + 1 - rows.lowerBound >= promptLengths[s] { weights[row] = 1 }
            }
        }
        return LossTargets(targets: targets, weights: weights)
    }

    public var countedPositions: Int { weights.reduce(0) { $0 + ($1 != 0 ? 1 : 0) } }
}
