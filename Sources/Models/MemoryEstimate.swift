/// What a model needs in memory, known before anything runs (for `influence plan` and the
/// memory budgets of `fit` and `score`).
extension DecoderModel {
    /// Bytes the weights occupy as held in memory.
    public var weightBytes: Int { parameters.count * MemoryLayout<Float>.size }
}

extension DecoderActivations {
    /// Bytes `prepare` reserves for a batch of `tokens` rows whose longest sequence has
    /// `longestSequence` tokens (a test checks it against `allocatedBytes` after a pass).
    public static func estimatedBytes(_ h: DecoderHyperparameters, tokens N: Int, longestSequence T: Int,
                                      attentionBlockRows: Int = 64) -> Int {
        let H = h.hiddenSize, I = h.intermediateSize, L = h.layerCount, A = h.attentionWidth, Q = h.qkvWidth
        let swiGLU = h.feedForward == .swiGLU
        var floats = (L + 1) * N * H                          // residual streams
        floats += L * (N * H + 2 * N) * 2                     // norm outputs and statistics, both norms
        floats += L * N * Q                                   // q, k, v
        floats += L * 2 * h.headCount * N                     // softmax statistics
        floats += L * N * A                                   // attention outputs
        if !h.parallelResidual { floats += L * N * H }
        floats += L * N * I * (swiGLU ? 3 : 2)                // MLP hidden (+ up), activated
        floats += N * H + 2 * N                               // final norm
        if h.embeddingNorm { floats += N * H + 2 * N }
        floats += 2 * N * h.outputWidth                       // logits and their gradients
        floats += 3 * N * H + N * A + N * Q + N * I * (swiGLU ? 2 : 1)   // backward scratch
        floats += 2 * attentionBlockRows * T + H
        // A buffer a family never uses still holds its initial single float.
        floats += (h.parallelResidual ? 1 : 0) + (swiGLU ? 0 : 2) + (h.embeddingNorm ? 0 : 2)
        return floats * MemoryLayout<Float>.size
    }
}
