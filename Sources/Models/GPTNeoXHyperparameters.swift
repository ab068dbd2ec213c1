import Numerics

/// The shape of a GPT-NeoX model, resolved from its config.json.
public struct GPTNeoXHyperparameters: Sendable, Equatable {
    /// BLOOM is the same decoder with ALiBi instead of rotary embeddings, a layer norm after
    /// the embedding, sequential residuals, a tied head, and other parameter names.
    public enum Family: String, Sendable, Equatable { case gptNeoX = "gpt_neox", bloom }
    public var family: Family = .gptNeoX
    public var vocabularySize: Int
    public var hiddenSize: Int
    public var headCount: Int
    public var intermediateSize: Int
    public var layerCount: Int
    public var maxPositions: Int
    /// Rotary features per head: int(headSize · rotary_pct).
    public var rotaryDimensions: Int
    public var rotaryBase: Double
    public var parallelResidual: Bool
    public var layerNormEpsilon: Float
    public var activation: GELU
    public var attentionBias: Bool
    public var tiedEmbeddings: Bool
    /// nil: a language model (GPTNeoXForCausalLM). A count: a sequence classifier
    /// (GPTNeoXForSequenceClassification) whose head `score.weight` [labels, hidden] reads the
    /// final hidden state of each sequence's last token.
    public var classifierLabels: Int?

    public var headSize: Int { hiddenSize / headCount }

    /// Logits per scored row: the vocabulary, or the number of labels.
    public var outputWidth: Int { classifierLabels ?? vocabularySize }

    public var names: ParameterNames { ParameterNames(family: family) }

    public init(
        vocabularySize: Int, hiddenSize: Int, headCount: Int, intermediateSize: Int, layerCount: Int,
        maxPositions: Int, rotaryFraction: Double = 0.25, rotaryBase: Double = 10_000,
        parallelResidual: Bool = true, layerNormEpsilon: Float = 1e-5, activation: GELU = .exact,
        attentionBias: Bool = true, tiedEmbeddings: Bool = false, classifierLabels: Int? = nil
    ) {
        self.vocabularySize = vocabularySize
        self.hiddenSize = hiddenSize
        self.headCount = headCount
        self.intermediateSize = intermediateSize
        self.layerCount = layerCount
        self.maxPositions = maxPositions
        self.rotaryDimensions = Int(Double(hiddenSize / headCount) * rotaryFraction)
        self.rotaryBase = rotaryBase
        self.parallelResidual = parallelResidual
        self.layerNormEpsilon = layerNormEpsilon
        self.activation = activation
        self.attentionBias = attentionBias
        self.tiedEmbeddings = tiedEmbeddings
        self.classifierLabels = classifierLabels
    }

    /// Floating-point operations of one forward pass over sequences of these lengths:
    /// 2 per multiply-add in the matrix products (attention counted over the full T × T).
    public func forwardFLOPs(sequenceLengths: [Int]) -> Double {
        let H = Double(hiddenSize), I = Double(intermediateSize), V = Double(vocabularySize)
        let N = Double(sequenceLengths.reduce(0, +))
        let perTokenLinear = 2 * (3 * H * H + H * H + 2 * H * I)
        let attention = sequenceLengths.reduce(0.0) { $0 + 2 * 2 * Double($1) * Double($1) * H }
        let head = classifierLabels.map { 2 * Double(sequenceLengths.count) * H * Double($0) } ?? 2 * N * H * V
        return Double(layerCount) * (N * perTokenLinear + attention) + head
    }
}

/// Hugging Face's parameter names for a family.
public struct ParameterNames: Sendable {
    public let family: GPTNeoXHyperparameters.Family

    public var embedding: String { family == .bloom ? "transformer.word_embeddings.weight" : "gpt_neox.embed_in.weight" }
    public var embeddingNorm: String { "transformer.word_embeddings_layernorm" }
    public var finalNorm: String { family == .bloom ? "transformer.ln_f" : "gpt_neox.final_layer_norm" }
    public var unembedding: String { "embed_out.weight" }
    public func layer(_ l: Int) -> String { family == .bloom ? "transformer.h.\(l)." : "gpt_neox.layers.\(l)." }
    public var attention: String { family == .bloom ? "self_attention." : "attention." }
}
