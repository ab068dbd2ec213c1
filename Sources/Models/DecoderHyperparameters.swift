import Numerics

/// The shape of a decoder-only language model, resolved from its config.json or GGUF
/// metadata: one decoder (embedding → blocks → final norm → head) and, per family, only the
/// parts that differ.
public struct DecoderHyperparameters: Sendable, Equatable {
    /// The architectures this decoder runs, named by their Hugging Face `model_type`.
    public enum Family: String, Sendable, Equatable, CaseIterable {
        case gptNeoX = "gpt_neox", bloom, gpt2, llama, qwen2, mistral
    }

    /// Layer normalisation with a bias, or RMSNorm (Llama: no centring, no bias).
    public enum Norm: Sendable, Equatable { case layerNorm, rmsNorm }

    /// How a position enters attention.
    public enum Positions: Sendable, Equatable {
        /// Rotary embedding of q and k (HF's rotate-half convention) on the first
        /// `rotaryDimensions` features of each head.
        case rotary
        /// BLOOM's linear biases on the attention scores.
        case alibi
        /// GPT-2's learned position embeddings, added to the token embeddings.
        case learned
    }

    /// Where q, k and v come from.
    public enum QKVProjection: Sendable, Equatable {
        /// One fused matrix with rows [head][q, k, v][headSize] (GPT-NeoX, BLOOM).
        case fusedPerHead
        /// One fused matrix with rows [q | k | v], each [head][headSize] (GPT-2's c_attn).
        case fusedByPart
        /// Three matrices q_proj, k_proj, v_proj (the Llama family).
        case separate
    }

    /// The feed-forward block: up → GELU → down, or SwiGLU's down(silu(gate) ⊙ up).
    public enum FeedForward: Sendable, Equatable { case gelu(GELU), swiGLU }

    public var family: Family = .gptNeoX
    public var vocabularySize: Int
    public var hiddenSize: Int
    /// Query heads.
    public var headCount: Int
    /// Key/value heads: fewer than query heads in grouped-query attention.
    public var keyValueHeadCount: Int
    public var headSize: Int
    public var intermediateSize: Int
    public var layerCount: Int
    public var maxPositions: Int
    public var norm: Norm = .layerNorm
    public var normEpsilon: Float
    public var positions: Positions = .rotary
    /// Rotary features per head: int(headSize · rotary fraction); 0 without rotary.
    public var rotaryDimensions: Int
    public var rotaryBase: Double
    public var rotaryScaling: RotaryEmbedding.Scaling = .none
    public var qkvProjection: QKVProjection = .fusedPerHead
    public var qkvBias: Bool
    public var outputBias: Bool
    public var feedForward: FeedForward
    public var mlpBias: Bool = true
    public var parallelResidual: Bool
    /// BLOOM normalises the embeddings before the first block.
    public var embeddingNorm: Bool = false
    public var tiedEmbeddings: Bool
    /// Keys at most this many positions back (the query's own included) are attended to:
    /// Mistral's sliding window. nil: the whole causal prefix.
    public var attentionWindow: Int? = nil
    /// nil: a language model. A count: a sequence classifier whose head `score.weight`
    /// [labels, hidden] reads the final hidden state of each sequence's last token.
    public var classifierLabels: Int?

    /// Width of the attention heads' concatenated output (the output projection's input).
    public var attentionWidth: Int { headCount * headSize }
    /// Width of the keys (and of the values).
    public var keyValueWidth: Int { keyValueHeadCount * headSize }
    /// Rows of q, k and v together: the fused projection's output size.
    public var qkvWidth: Int { attentionWidth + 2 * keyValueWidth }

    /// Logits per scored row: the vocabulary, or the number of labels.
    public var outputWidth: Int { classifierLabels ?? vocabularySize }

    public var names: ParameterNames { ParameterNames(family: family) }

    /// A GPT-NeoX shape (the family the tool trains from scratch by default).
    public init(
        vocabularySize: Int, hiddenSize: Int, headCount: Int, intermediateSize: Int, layerCount: Int,
        maxPositions: Int, rotaryFraction: Double = 0.25, rotaryBase: Double = 10_000,
        parallelResidual: Bool = true, layerNormEpsilon: Float = 1e-5, activation: GELU = .exact,
        attentionBias: Bool = true, tiedEmbeddings: Bool = false, classifierLabels: Int? = nil
    ) {
        self.vocabularySize = vocabularySize
        self.hiddenSize = hiddenSize
        self.headCount = headCount
        self.keyValueHeadCount = headCount
        self.headSize = hiddenSize / headCount
        self.intermediateSize = intermediateSize
        self.layerCount = layerCount
        self.maxPositions = maxPositions
        self.normEpsilon = layerNormEpsilon
        self.rotaryDimensions = Int(Double(hiddenSize / headCount) * rotaryFraction)
        self.rotaryBase = rotaryBase
        self.parallelResidual = parallelResidual
        self.feedForward = .gelu(activation)
        self.qkvBias = attentionBias
        self.outputBias = attentionBias
        self.tiedEmbeddings = tiedEmbeddings
        self.classifierLabels = classifierLabels
    }

    /// Floating-point operations of one forward pass over sequences of these lengths:
    /// 2 per multiply-add in the matrix products (attention counted over the full T × T).
    public func forwardFLOPs(sequenceLengths: [Int]) -> Double {
        let H = Double(hiddenSize), I = Double(intermediateSize), V = Double(vocabularySize)
        let N = Double(sequenceLengths.reduce(0, +))
        let mlpMatrices: Double = feedForward == .swiGLU ? 3 : 2
        let perTokenLinear = 2 * (Double(qkvWidth) * H + Double(attentionWidth) * H + mlpMatrices * H * I)
        let attention = sequenceLengths.reduce(0.0) { $0 + 2 * 2 * Double($1) * Double($1) * Double(attentionWidth) }
        let head = classifierLabels.map { 2 * Double(sequenceLengths.count) * H * Double($0) } ?? 2 * N * H * V
        return Double(layerCount) * (N * perTokenLinear + attention) + head
    }
}
