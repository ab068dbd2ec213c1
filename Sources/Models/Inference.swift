import Checkpoints
import Numerics

extension DecoderModel {
    /// For each sequence, log p(tokens[i+1] | tokens[0...i]) for i in 0..<count−1.
    public func tokenLogProbabilities(
        _ sequences: [[Int]], activations: DecoderActivations? = nil
    ) throws -> [[Float]] {
        guard hyperparameters.classifierLabels == nil else { throw InputError("a sequence classifier has no next-token probabilities") }
        let batch = TokenBatch(sequences: sequences)
        try validate(batch)
        let activations = activations ?? DecoderActivations(hyperparameters: hyperparameters)
        forward(batch, activations)
        var logProbabilities = [Float](repeating: 0, count: batch.tokenCount)
        CrossEntropy.summed(
            logits: activations.logits, targets: .nextToken(batch), vocabularySize: hyperparameters.vocabularySize,
            logitGradients: nil, tokenLogProbabilities: &logProbabilities)
        return (0..<batch.sequenceCount).map { s in Array(logProbabilities[batch.range(ofSequence: s).dropLast()]) }
    }

    /// Greedy decoding: appends the most probable next token until `maxNewTokens` tokens, a
    /// stop token (which is included), or the end of the model's context.
    public func greedyContinuation(
        of prompt: [Int], maxNewTokens: Int, stopTokens: Set<Int> = []
    ) throws -> [Int] {
        guard hyperparameters.classifierLabels == nil else { throw InputError("a sequence classifier does not generate text") }
        var tokens = prompt
        let activations = DecoderActivations(hyperparameters: hyperparameters)
        let V = hyperparameters.vocabularySize
        var generated: [Int] = []
        while generated.count < maxNewTokens && tokens.count < hyperparameters.maxPositions {
            let batch = TokenBatch(sequences: [tokens])
            try validate(batch)
            // Re-running the whole prefix keeps the model code free of a key-value cache; the
            // answers this tool generates are short.
            forward(batch, activations)
            let last = activations.logits + (tokens.count - 1) * V
            var best = 0
            for v in 1..<V where last[v] > last[best] { best = v }
            tokens.append(best)
            generated.append(best)
            if stopTokens.contains(best) { break }
        }
        return generated
    }
}
