import Numerics

/// The activations a decoder's forward pass keeps for its backward pass, plus backward scratch.
///
/// Sized for a batch on `prepare`, and reused: buffers only grow, so a loop over batches of
/// similar size allocates nothing after the first.
public final class DecoderActivations {
    let hyperparameters: DecoderHyperparameters
    private(set) var tokenCount = 0
    private var statisticsCount = 0

    // Saved by the forward pass, per layer, laid out [layer][N × features].
    private let layerInputs = FloatBuffer()      // L + 1 residual streams
    private let norm1Outputs = FloatBuffer(), norm1Stats = FloatBuffer()
    private let qkvs = FloatBuffer()              // after bias and rotary, in the family's layout
    private let statisticsStore = FloatBuffer()  // [layer][max, 1/partition][head][N]: softmax rows, recomputed in backward
    private let attentionOutputs = FloatBuffer()  // heads' outputs before the output projection
    private let postAttentions = FloatBuffer()    // x + attention (sequential residual only)
    private let norm2Outputs = FloatBuffer(), norm2Stats = FloatBuffer()
    private let mlpHiddens = FloatBuffer()        // up projection (GELU), or the gate (SwiGLU), before the activation
    private let mlpUps = FloatBuffer()            // SwiGLU's up projection
    private let mlpActivateds = FloatBuffer()
    private let finalNormBuffer = FloatBuffer(), finalStats = FloatBuffer()
    private let embeddingBuffer = FloatBuffer(), embeddingStats = FloatBuffer()   // BLOOM's embedding layer norm
    private let logitBuffer = FloatBuffer(), logitGradientBuffer = FloatBuffer()
    // Backward scratch.
    private let residualA = FloatBuffer(), residualB = FloatBuffer(), hiddenScratch = FloatBuffer()
    private let attentionGradientBuffer = FloatBuffer()
    private let qkvGradientBuffer = FloatBuffer(), mlpGradientBuffer = FloatBuffer(), mlpUpGradientBuffer = FloatBuffer()
    private let attentionScratchBuffer = FloatBuffer(), discard = FloatBuffer()
    /// Where a 16-bit weight matrix is widened to Float32 before its product.
    private let weightScratchBuffer = FloatBuffer()

    public init(hyperparameters: DecoderHyperparameters) {
        self.hyperparameters = hyperparameters
    }

    func prepare(for batch: TokenBatch, attention: CausalSelfAttention, weightScratch: Int = 0) {
        let h = hyperparameters
        let N = batch.tokenCount, H = h.hiddenSize, I = h.intermediateSize, L = h.layerCount
        let A = h.attentionWidth, Q = h.qkvWidth
        let swiGLU = h.feedForward == .swiGLU
        tokenCount = N
        statisticsCount = attention.statisticsCount(batch)
        layerInputs.reserve((L + 1) * N * H)
        norm1Outputs.reserve(L * N * H); norm1Stats.reserve(L * 2 * N)
        qkvs.reserve(L * N * Q)
        statisticsStore.reserve(L * statisticsCount)
        attentionOutputs.reserve(L * N * A)
        if !h.parallelResidual { postAttentions.reserve(L * N * H) }
        norm2Outputs.reserve(L * N * H); norm2Stats.reserve(L * 2 * N)
        mlpHiddens.reserve(L * N * I); mlpActivateds.reserve(L * N * I)
        if swiGLU { mlpUps.reserve(L * N * I) }
        finalNormBuffer.reserve(N * H); finalStats.reserve(2 * N)
        if h.embeddingNorm { embeddingBuffer.reserve(N * H); embeddingStats.reserve(2 * N) }
        logitBuffer.reserve(N * h.outputWidth); logitGradientBuffer.reserve(N * h.outputWidth)
        residualA.reserve(N * H); residualB.reserve(N * H); hiddenScratch.reserve(N * H)
        attentionGradientBuffer.reserve(N * A)
        qkvGradientBuffer.reserve(N * Q); mlpGradientBuffer.reserve(N * I)
        if swiGLU { mlpUpGradientBuffer.reserve(N * I) }
        attentionScratchBuffer.reserve(attention.scratchCount(batch))
        discard.reserve(H)
        weightScratchBuffer.reserve(weightScratch)
    }

    /// Bytes currently held (activations and scratch).
    public var allocatedBytes: Int {
        [layerInputs, norm1Outputs, norm1Stats, qkvs, statisticsStore, attentionOutputs, postAttentions, norm2Outputs,
         norm2Stats, mlpHiddens, mlpUps, mlpActivateds, finalNormBuffer, finalStats, embeddingBuffer, embeddingStats, logitBuffer,
         logitGradientBuffer, residualA, residualB, hiddenScratch, attentionGradientBuffer, qkvGradientBuffer, mlpGradientBuffer,
         mlpUpGradientBuffer, attentionScratchBuffer, discard, weightScratchBuffer]
            .reduce(0) { $0 + $1.capacity * 4 }
    }

    private var N: Int { tokenCount }
    private var H: Int { hyperparameters.hiddenSize }
    private var I: Int { hyperparameters.intermediateSize }

    var weightScratch: UnsafeMutablePointer<Float> { weightScratchBuffer.pointer }

    func layerInput(_ l: Int) -> UnsafeMutablePointer<Float> { layerInputs.pointer + l * N * H }
    func norm1(_ l: Int) -> UnsafeMutablePointer<Float> { norm1Outputs.pointer + l * N * H }
    func norm1Mean(_ l: Int) -> UnsafeMutablePointer<Float> { norm1Stats.pointer + l * 2 * N }
    func norm1Rstd(_ l: Int) -> UnsafeMutablePointer<Float> { norm1Stats.pointer + l * 2 * N + N }
    func qkv(_ l: Int) -> UnsafeMutablePointer<Float> { qkvs.pointer + l * N * hyperparameters.qkvWidth }
    func attentionStatistics(_ l: Int) -> UnsafeMutablePointer<Float> { statisticsStore.pointer + l * statisticsCount }
    func attentionOutput(_ l: Int) -> UnsafeMutablePointer<Float> { attentionOutputs.pointer + l * N * hyperparameters.attentionWidth }
    func postAttention(_ l: Int) -> UnsafeMutablePointer<Float> { postAttentions.pointer + l * N * H }
    func norm2(_ l: Int) -> UnsafeMutablePointer<Float> { norm2Outputs.pointer + l * N * H }
    func norm2Mean(_ l: Int) -> UnsafeMutablePointer<Float> { norm2Stats.pointer + l * 2 * N }
    func norm2Rstd(_ l: Int) -> UnsafeMutablePointer<Float> { norm2Stats.pointer + l * 2 * N + N }
    func mlpHidden(_ l: Int) -> UnsafeMutablePointer<Float> { mlpHiddens.pointer + l * N * I }
    func mlpUp(_ l: Int) -> UnsafeMutablePointer<Float> { mlpUps.pointer + l * N * I }
    func mlpActivated(_ l: Int) -> UnsafeMutablePointer<Float> { mlpActivateds.pointer + l * N * I }
    var finalNorm: UnsafeMutablePointer<Float> { finalNormBuffer.pointer }
    var embeddings: UnsafeMutablePointer<Float> { embeddingBuffer.pointer }
    var embeddingMean: UnsafeMutablePointer<Float> { embeddingStats.pointer }
    var embeddingRstd: UnsafeMutablePointer<Float> { embeddingStats.pointer + N }
    var finalMean: UnsafeMutablePointer<Float> { finalStats.pointer }
    var finalRstd: UnsafeMutablePointer<Float> { finalStats.pointer + N }
    var residualGradientA: UnsafeMutablePointer<Float> { residualA.pointer }
    var residualGradientB: UnsafeMutablePointer<Float> { residualB.pointer }
    var scratchHidden: UnsafeMutablePointer<Float> { hiddenScratch.pointer }
    var attentionGradient: UnsafeMutablePointer<Float> { attentionGradientBuffer.pointer }
    var qkvGradient: UnsafeMutablePointer<Float> { qkvGradientBuffer.pointer }
    var mlpGradient: UnsafeMutablePointer<Float> { mlpGradientBuffer.pointer }
    var mlpUpGradient: UnsafeMutablePointer<Float> { mlpUpGradientBuffer.pointer }
    var attentionScratch: UnsafeMutablePointer<Float> { attentionScratchBuffer.pointer }
    var discardH: UnsafeMutablePointer<Float> { discard.pointer }

    /// Logits of the last forward pass, [N, vocabulary], row-major.
    public var logits: UnsafeMutablePointer<Float> { logitBuffer.pointer }
    /// ∂L/∂logits for the backward pass, [N, vocabulary]; a loss writes it.
    public var logitGradients: UnsafeMutablePointer<Float> { logitGradientBuffer.pointer }
    /// Final hidden states (after the final norm) of the last forward pass, [N, hidden].
    public var finalHiddenStates: UnsafeMutablePointer<Float> { finalNormBuffer.pointer }
}
