import Checkpoints
import Foundation
import Numerics

extension DecoderHyperparameters {
    /// The shape described by a GPT-NeoX config.json.
    public init(config c: GPTNeoXConfig, source: String = "config.json") throws {
        guard let activation = GELU(huggingFaceName: c.activation) else {
            throw CheckpointError(source, "hidden_act \"\(c.activation)\" is not supported (gelu, gelu_new, gelu_fast, gelu_pytorch_tanh)")
        }
        self.init(
            vocabularySize: c.vocab_size, hiddenSize: c.hidden_size, headCount: c.num_attention_heads,
            intermediateSize: c.intermediate_size, layerCount: c.num_hidden_layers, maxPositions: c.maxPositions,
            rotaryFraction: c.partialRotaryFactor, rotaryBase: c.rotaryBase, parallelResidual: c.parallelResidual,
            layerNormEpsilon: Float(c.layerNormEpsilon), activation: activation, attentionBias: c.hasAttentionBias,
            tiedEmbeddings: c.tiedEmbeddings && c.classifierLabels == nil, classifierLabels: c.classifierLabels?.count)
    }

    /// BLOOM: ALiBi instead of rotary, a norm after the embedding, sequential residuals, a 4×
    /// MLP with the tanh GELU, biases everywhere, a tied head.
    public init(bloom c: BloomConfig) {
        self.init(vocabularySize: c.vocab_size, hiddenSize: c.hiddenSize, headCount: c.n_head, intermediateSize: 4 * c.hiddenSize,
                  layerCount: c.n_layer, maxPositions: c.maxPositions, rotaryFraction: 0, parallelResidual: false,
                  layerNormEpsilon: Float(c.layer_norm_epsilon ?? 1e-5), activation: .tanhApproximation, attentionBias: true,
                  tiedEmbeddings: true)
        family = .bloom
        positions = .alibi
        embeddingNorm = true
    }

    /// GPT-2: learned positions, a fused [q | k | v] projection stored as Conv1D, sequential
    /// residuals, biases everywhere, usually a tied head.
    public init(gpt2 c: GPT2Config, source: String = "config.json") throws {
        guard let activation = GELU(huggingFaceName: c.activation) else {
            throw CheckpointError(source, "activation_function \"\(c.activation)\" is not supported (gelu, gelu_new, gelu_fast, gelu_pytorch_tanh)")
        }
        self.init(vocabularySize: c.vocab_size, hiddenSize: c.n_embd, headCount: c.n_head, intermediateSize: c.intermediateSize,
                  layerCount: c.n_layer, maxPositions: c.n_positions, rotaryFraction: 0, parallelResidual: false,
                  layerNormEpsilon: Float(c.layer_norm_epsilon ?? 1e-5), activation: activation, attentionBias: true,
                  tiedEmbeddings: c.tiedEmbeddings)
        family = .gpt2
        positions = .learned
        qkvProjection = .fusedByPart
    }

    /// The Llama family (Llama, SmolLM2, Qwen2, Mistral): RMSNorm, rotary embeddings on whole
    /// heads (or a fraction), grouped-query attention with separate q/k/v projections,
    /// SwiGLU, sequential residuals.
    public init(llama c: LlamaConfig, source: String = "config.json") throws {
        self.init(vocabularySize: c.vocab_size, hiddenSize: c.hidden_size, headCount: c.num_attention_heads,
                  intermediateSize: c.intermediate_size, layerCount: c.num_hidden_layers, maxPositions: c.maxPositions,
                  rotaryFraction: 1, rotaryBase: c.rotaryBase, parallelResidual: false, layerNormEpsilon: Float(c.rmsNormEpsilon),
                  attentionBias: c.queryKeyValueBias, tiedEmbeddings: c.tiedEmbeddings)
        family = Family(rawValue: c.model_type) ?? .llama
        keyValueHeadCount = c.keyValueHeads
        headSize = c.headSize
        rotaryDimensions = Int(Double(c.headSize) * c.rotaryFraction)
        norm = .rmsNorm
        qkvProjection = .separate
        outputBias = c.outputBias
        feedForward = .swiGLU
        mlpBias = c.mlpBias
        attentionWindow = c.attentionWindow
        let s = c.ropeScaling
        switch c.ropeScalingType {
        case "linear": rotaryScaling = .linear(factor: Float(s?.factor ?? 1))
        case "llama3":
            rotaryScaling = .llama3(factor: Float(s?.factor ?? 1), lowFrequencyFactor: Float(s?.low_freq_factor ?? 1),
                                    highFrequencyFactor: Float(s?.high_freq_factor ?? 4),
                                    originalContext: s?.original_max_position_embeddings ?? c.maxPositions)
        default: rotaryScaling = .none
        }
    }

    /// The hyperparameters a config.json describes, unchecked against any weights (`influence
    /// plan` needs only the shape).
    public init(config: ModelConfig, source: String) throws {
        switch config {
        case .gptNeoX(let config): try self.init(config: config, source: source)
        case .bloom(let config): self.init(bloom: config)
        case .gpt2(let config): try self.init(gpt2: config, source: source)
        case .llama(let config): try self.init(llama: config, source: source)
        }
    }

    /// The hyperparameters of a checkpoint directory, checked against the tensors on disk
    /// (`check(against:)`): every command that loads or describes a model comes through here.
    public init(checkpoint: CheckpointDirectory) throws {
        try self.init(config: checkpoint.config, source: checkpoint.configURL.path)
        try check(against: checkpoint)
    }

    /// Checks that the checkpoint stores every parameter this shape implies, with that shape,
    /// before anything is allocated: the layer count is bounded by the tensors on disk first,
    /// so that the layout compared is never longer than the checkpoint.
    public func check(against checkpoint: CheckpointDirectory) throws {
        var none = self, one = self
        none.layerCount = 0
        one.layerCount = 1
        let others = DecoderModel.parameterLayout(none).count
        try checkpoint.requireTensorCount(layers: layerCount, perLayer: DecoderModel.parameterLayout(one).count - others, others: others)
        let source = HuggingFaceWeights(checkpoint: checkpoint, names: names)
        try checkpoint.requireParameters(DecoderModel.parameterLayout(self).map { (source.storedName($0.name), source.storedShape($0.name, $0.shape)) })
    }
}

/// Where a decoder's weights come from: a Hugging Face directory or a GGUF file. Names are
/// Hugging Face's; shapes the decoder's ([out, in] for every linear weight).
public protocol DecoderWeightSource {
    func read(_ name: String, shape: [Int], into destination: UnsafeMutablePointer<Float>) throws
    /// The 16-bit format parameter `name` is stored in, or `.float32` for any other type
    /// (Float32, Float64, quantized blocks): what `WeightPrecision.stored` keeps.
    func storedPrecision(_ name: String) -> ParameterStore.StoredPrecision
    /// Where the weights are, for error messages.
    var location: URL { get }
}

/// The weights of a Hugging Face directory. GPT-2's Conv1D weights are stored [in, out] and
/// transposed on the way in; GPT2Model checkpoints name tensors without "transformer.".
struct HuggingFaceWeights: DecoderWeightSource {
    let checkpoint: CheckpointDirectory
    let names: ParameterNames
    var location: URL { checkpoint.url }

    /// Whether names lack GPT2LMHeadModel's "transformer." (a GPT2Model checkpoint).
    private var bareGPT2Names: Bool {
        names.family == .gpt2 && checkpoint.info("transformer.wte.weight") == nil && checkpoint.info("wte.weight") != nil
    }

    func storedName(_ name: String) -> String {
        bareGPT2Names && name.hasPrefix("transformer.") ? String(name.dropFirst("transformer.".count)) : name
    }

    func storedShape(_ name: String, _ shape: [Int]) -> [Int] {
        names.isStoredTransposed(name) ? shape.reversed() : shape
    }

    func storedPrecision(_ name: String) -> ParameterStore.StoredPrecision {
        switch checkpoint.info(storedName(name))?.dtype {
        case .bf16: .bfloat16
        case .f16: .float16
        default: .float32
        }
    }

    func read(_ name: String, shape: [Int], into destination: UnsafeMutablePointer<Float>) throws {
        guard names.isStoredTransposed(name) else {
            return try checkpoint.readFloats(storedName(name), shape: shape, into: destination)
        }
        let rows = shape[0], cols = shape[1]
        let stored = FloatBuffer(capacity: rows * cols)
        try checkpoint.readFloats(storedName(name), shape: [cols, rows], into: stored.pointer)
        transpose(stored.pointer, rows: cols, cols: rows, into: destination)
    }
}

/// out[c, r] = in[r, c] for a row-major rows × cols matrix.
func transpose(_ input: UnsafePointer<Float>, rows: Int, cols: Int, into output: UnsafeMutablePointer<Float>) {
    for r in 0..<rows {
        for c in 0..<cols { output[c * rows + r] = input[r * cols + c] }
    }
}

/// How a loaded model holds its weights in memory.
public enum WeightPrecision: Sendable {
    /// Every parameter Float32 (training needs this: it updates the weights).
    case float32
    /// Matrices stored as BF16 or F16 stay 16-bit and are widened per matrix before each product
    /// (exact: results equal the Float32 model's up to the order of the head's sums); norms,
    /// biases and every other type Float32. For fitting, scoring and inference.
    case stored
}

extension DecoderModel {
    /// Loads a model from a weight source: every parameter must be present with the shape the
    /// hyperparameters imply, and finite.
    public convenience init(hyperparameters: DecoderHyperparameters, weights source: DecoderWeightSource,
                            precision: WeightPrecision = .float32) throws {
        let layout = Self.parameterLayout(hyperparameters)
        var reduced: [String: ParameterStore.StoredPrecision] = [:]
        if precision == .stored {
            for (name, shape) in layout where shape.count == 2 {
                let stored = source.storedPrecision(name)
                if stored != .float32 { reduced[name] = stored }
            }
        }
        let store = ParameterStore(layout: layout, reducedPrecision: reduced)
        // A 16-bit matrix is read as Float32 (exactly) and narrowed back, one matrix at a time.
        let staging = FloatBuffer(capacity: store.entries.filter { !$0.isFloat32 }.map(\.count).max() ?? 0)
        for entry in store.entries {
            if entry.isFloat32 {
                try source.read(entry.name, shape: entry.shape, into: store.values + entry.offset)
            } else {
                try source.read(entry.name, shape: entry.shape, into: staging.pointer)
                store.store(staging.pointer, into: entry)
            }
        }
        self.init(hyperparameters: hyperparameters, parameters: store)
        do {
            try validateWeights()
        } catch let error as InputError {
            throw CheckpointError(source.location, error.description)
        }
    }

    /// Loads a Hugging Face checkpoint directory (any of F32, F16, BF16 on disk; Float32 in memory).
    public convenience init(checkpoint: CheckpointDirectory, precision: WeightPrecision = .float32) throws {
        let hyperparameters = try DecoderHyperparameters(checkpoint: checkpoint)
        try self.init(hyperparameters: hyperparameters, weights: HuggingFaceWeights(checkpoint: checkpoint, names: hyperparameters.names),
                      precision: precision)
    }

    public convenience init(directory: URL, precision: WeightPrecision = .float32) throws {
        try self.init(checkpoint: CheckpointDirectory(url: directory), precision: precision)
    }
}
