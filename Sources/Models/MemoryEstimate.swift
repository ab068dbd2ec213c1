/// What a model needs in memory, known before anything runs (for `influence plan` and the
/// memory budgets of `fit` and `score`).
extension DecoderModel {
    /// Bytes the weights occupy as held in memory.
    public var weightBytes: Int { parameters.residentBytes }

    /// Bytes the weights of this shape occupy: Float32, or each matrix in the 16-bit precision
    /// it is stored in (norms and biases stay Float32).
    public static func weightBytes(_ h: DecoderHyperparameters, sixteenBitMatrices: Bool) -> Int {
        parameterLayout(h).reduce(0) { total, entry in
            total + ParameterStore.paddedCount(entry.shape.reduce(1, *)) * (sixteenBitMatrices && entry.shape.count == 2 ? 2 : 4)
        }
    }

    /// Floats of the scratch a model of this shape with every matrix in 16-bit widens each
    /// matrix into (as `init` computes it from the loaded entries).
    public static func weightScratchFloats(_ h: DecoderHyperparameters) -> Int {
        let H = h.hiddenSize
        let projection = h.qkvProjection == .separate ? max(h.attentionWidth, h.keyValueWidth) * H : h.qkvWidth * H
        let largest = max(projection, h.attentionWidth * H, h.intermediateSize * H)
        return max(largest, headBlockRows(headRows: h.outputWidth, largestMatrix: largest, hidden: H) * H)
    }

    /// Rows of a 16-bit head widened at a time: as many as fit in the scratch the largest matrix
    /// needs, and at least 256 (a model whose only 16-bit matrix is its head still gets blocks).
    static func headBlockRows(headRows: Int, largestMatrix: Int, hidden: Int) -> Int {
        min(headRows, max(256, largestMatrix / hidden))
    }
}

extension DecoderActivations {
    /// Bytes `prepare` reserves for a batch of `tokens` rows whose longest sequence has
    /// `longestSequence` tokens (a test checks it against `allocatedBytes` after a pass).
    public static func estimatedBytes(_ h: DecoderHyperparameters, tokens N: Int, longestSequence T: Int,
                                      attentionBlockRows: Int = 64, weightScratchFloats: Int = 0) -> Int {
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
        floats += max(1, weightScratchFloats)                 // a 16-bit matrix widened (1 float when none)
        // A buffer a family never uses still holds its initial single float.
        floats += (h.parallelResidual ? 1 : 0) + (swiGLU ? 0 : 2) + (h.embeddingNorm ? 0 : 2)
        return floats * MemoryLayout<Float>.size
    }
}
