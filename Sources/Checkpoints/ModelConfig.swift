import Foundation

/// A model's config.json, decoded according to its `model_type`.
public enum ModelConfig: Sendable, Equatable {
    case gptNeoX(GPTNeoXConfig)
    case gpt2(GPT2Config)
    case bloom(BloomConfig)
    /// Llama, Qwen2 and Mistral: one config layout, told apart by `model_type`.
    case llama(LlamaConfig)

    public static let supportedModelTypes = ["gpt_neox", "gpt2", "bloom", "llama", "qwen2", "mistral"]

    public var modelType: String {
        switch self {
        case .gptNeoX: "gpt_neox"
        case .gpt2: "gpt2"
        case .bloom: "bloom"
        case .llama(let config): config.model_type
        }
    }

    /// Reads and decodes config.json at `url`.
    public static func load(from url: URL) throws -> ModelConfig {
        try decode(try contents(of: url), source: url.path)
    }

    /// The bytes of a config file, or a CheckpointError saying why there are none.
    static func contents(of url: URL) throws -> Data {
        do {
            return try Data(contentsOf: url)
        } catch {
            throw CheckpointError(url, FileManager.default.fileExists(atPath: url.path) ? "cannot read the file" : "file not found")
        }
    }

    /// The `model_type` of a config file's bytes: what decides how the rest is decoded.
    static func modelType(_ data: Data, source: String) throws -> String? {
        struct Discriminator: Decodable { let model_type: String? }
        do {
            return try JSONDecoder().decode(Discriminator.self, from: data).model_type
        } catch {
            throw CheckpointError(source, "invalid JSON (\(describe(error)))")
        }
    }

    public static func decode(_ data: Data, source: String) throws -> ModelConfig {
        let decoder = JSONDecoder()
        guard let modelType = try modelType(data, source: source) else { throw CheckpointError(source, "no model_type; cannot tell the architecture") }
        do {
            switch modelType {
            case "gpt_neox": return .gptNeoX(try decoder.decode(GPTNeoXConfig.self, from: data).validated(source))
            case "gpt2": return .gpt2(try decoder.decode(GPT2Config.self, from: data).validated(source))
            case "bloom": return .bloom(try decoder.decode(BloomConfig.self, from: data).validated(source))
            case "llama", "qwen2", "mistral": return .llama(try decoder.decode(LlamaConfig.self, from: data).validated(source))
            default:
                throw CheckpointError(source, "unsupported model_type \"\(modelType)\" (supported: \(supportedModelTypes.joined(separator: ", ")))")
            }
        } catch let error as CheckpointError {
            throw error
        } catch {
            throw CheckpointError(source, describe(error))
        }
    }
}

/// One line for a decoding error: which key, what was wrong.
func describe(_ error: Error) -> String {
    func path(_ keys: [CodingKey]) -> String { keys.map { $0.intValue.map(String.init) ?? $0.stringValue }.joined(separator: ".") }
    switch error {
    case DecodingError.keyNotFound(let key, let context): return "missing field \(path(context.codingPath + [key]))"
    case DecodingError.typeMismatch(_, let context): return "field \(path(context.codingPath)) has the wrong type"
    case DecodingError.valueNotFound(_, let context): return "field \(path(context.codingPath)) is null"
    case DecodingError.dataCorrupted(let context):
        return context.codingPath.isEmpty ? "not valid JSON" : "field \(path(context.codingPath)) is invalid"
    default: return "\(error)"
    }
}

/// transformers' GPTNeoXConfig. Optional fields take transformers' defaults. Newer versions
/// (≥ 4.5x) move `rotary_pct` and `rotary_emb_base` into `rope_parameters`; both spellings are read.
public struct GPTNeoXConfig: Codable, Sendable, Equatable {
    public struct RopeParameters: Codable, Sendable, Equatable {
        public var rope_type: String?
        public var rope_theta: Double?
        public var partial_rotary_factor: Double?
    }

    public var vocab_size: Int
    public var hidden_size: Int
    public var num_hidden_layers: Int
    public var num_attention_heads: Int
    public var intermediate_size: Int
    public var max_position_embeddings: Int?
    public var rotary_pct: Double?
    public var rotary_emb_base: Double?
    public var rope_theta: Double?
    public var rope_parameters: RopeParameters?
    public var use_parallel_residual: Bool?
    public var layer_norm_eps: Double?
    public var hidden_act: String?
    public var attention_bias: Bool?
    public var tie_word_embeddings: Bool?
    public var torch_dtype: String?
    public var dtype: String?
    public var bos_token_id: Int?
    public var eos_token_id: Int?
    public var pad_token_id: Int?
    public var architectures: [String]?
    /// A classifier's labels by index ("0": "positive", …).
    public var id2label: [String: String]?

    /// A GPTNeoXForSequenceClassification checkpoint's labels, in index order; nil for a
    /// language model.
    public var classifierLabels: [String]? {
        guard architectures?.contains("GPTNeoXForSequenceClassification") == true else { return nil }
        let pairs = (id2label ?? [:]).compactMap { key, value in Int(key).map { ($0, value) } }.sorted { $0.0 < $1.0 }
        return pairs.isEmpty ? ["LABEL_0", "LABEL_1"] : pairs.map(\.1)
    }

    public var partialRotaryFactor: Double { rope_parameters?.partial_rotary_factor ?? rotary_pct ?? 0.25 }
    public var rotaryBase: Double { rope_parameters?.rope_theta ?? rope_theta ?? rotary_emb_base ?? 10_000 }
    public var maxPositions: Int { max_position_embeddings ?? 2048 }
    public var parallelResidual: Bool { use_parallel_residual ?? true }
    public var layerNormEpsilon: Double { layer_norm_eps ?? 1e-5 }
    public var activation: String { hidden_act ?? "gelu" }
    public var hasAttentionBias: Bool { attention_bias ?? true }
    public var tiedEmbeddings: Bool { tie_word_embeddings ?? false }

    public init(
        vocab_size: Int, hidden_size: Int, num_hidden_layers: Int, num_attention_heads: Int, intermediate_size: Int,
        max_position_embeddings: Int, rotary_pct: Double = 0.25, rotary_emb_base: Double = 10_000,
        use_parallel_residual: Bool = true, layer_norm_eps: Double = 1e-5, hidden_act: String = "gelu",
        attention_bias: Bool = true, tie_word_embeddings: Bool = false
    ) {
        self.vocab_size = vocab_size
        self.hidden_size = hidden_size
        self.num_hidden_layers = num_hidden_layers
        self.num_attention_heads = num_attention_heads
        self.intermediate_size = intermediate_size
        self.max_position_embeddings = max_position_embeddings
        self.rotary_pct = rotary_pct
        self.rotary_emb_base = rotary_emb_base
        self.use_parallel_residual = use_parallel_residual
        self.layer_norm_eps = layer_norm_eps
        self.hidden_act = hidden_act
        self.attention_bias = attention_bias
        self.tie_word_embeddings = tie_word_embeddings
    }

    func validated(_ source: String) throws -> GPTNeoXConfig {
        try ConfigCheck.sizes([("vocab_size", vocab_size), ("hidden_size", hidden_size), ("num_hidden_layers", num_hidden_layers),
                               ("num_attention_heads", num_attention_heads), ("intermediate_size", intermediate_size),
                               ("max_position_embeddings", maxPositions)], source)
        guard hidden_size % num_attention_heads == 0 else {
            throw CheckpointError(source, "hidden_size \(hidden_size) is not divisible by num_attention_heads \(num_attention_heads)")
        }
        guard partialRotaryFactor > 0 && partialRotaryFactor <= 1 else {
            throw CheckpointError(source, "rotary fraction \(partialRotaryFactor) is outside (0, 1]")
        }
        guard rotaryBase.isFinite && rotaryBase > 0 else {
            throw CheckpointError(source, "rotary base \(rotaryBase) must be a positive number")
        }
        try ConfigCheck.epsilon("layer_norm_eps", layerNormEpsilon, source)
        if classifierLabels != nil, let ids = id2label, !(0..<ids.count).allSatisfy({ ids[String($0)] != nil }) {
            throw CheckpointError(source, "id2label must number the labels 0, 1, 2, …")
        }
        if let type = rope_parameters?.rope_type, type != "default" {
            throw CheckpointError(source, "rope_type \"\(type)\" is not supported (only \"default\")")
        }
        return self
    }
}

/// transformers' GPT2Config.
public struct GPT2Config: Codable, Sendable, Equatable {
    public var vocab_size: Int
    public var n_positions: Int
    public var n_embd: Int
    public var n_layer: Int
    public var n_head: Int
    public var n_inner: Int?
    public var activation_function: String?
    public var layer_norm_epsilon: Double?
    public var tie_word_embeddings: Bool?
    public var scale_attn_weights: Bool?
    public var scale_attn_by_inverse_layer_idx: Bool?
    public var torch_dtype: String?
    public var dtype: String?
    public var bos_token_id: Int?
    public var eos_token_id: Int?

    public var activation: String { activation_function ?? "gelu_new" }

    /// GPT-2's MLP width: n_inner, or 4 × n_embd when it is null.
    public var intermediateSize: Int { n_inner ?? 4 * n_embd }
    public var tiedEmbeddings: Bool { tie_word_embeddings ?? true }

    func validated(_ source: String) throws -> GPT2Config {
        try ConfigCheck.sizes([("vocab_size", vocab_size), ("n_positions", n_positions), ("n_embd", n_embd), ("n_layer", n_layer),
                               ("n_head", n_head)], source)
        try ConfigCheck.sizes([("n_inner", intermediateSize)], source)   // 4 · n_embd unless given; n_embd is checked first
        if let layer_norm_epsilon { try ConfigCheck.epsilon("layer_norm_epsilon", layer_norm_epsilon, source) }
        guard n_embd % n_head == 0 else { throw CheckpointError(source, "n_embd \(n_embd) is not divisible by n_head \(n_head)") }
        if scale_attn_weights == false { throw CheckpointError(source, "scale_attn_weights false is not supported") }
        if scale_attn_by_inverse_layer_idx == true { throw CheckpointError(source, "scale_attn_by_inverse_layer_idx true is not supported") }
        return self
    }
}

/// transformers' BloomConfig. BLOOM has no position embeddings (ALiBi), so the context is
/// `seq_length` when given and 2048 otherwise.
public struct BloomConfig: Codable, Sendable, Equatable {
    public var vocab_size: Int
    public var hidden_size: Int?
    public var n_embed: Int?
    public var n_layer: Int
    public var n_head: Int
    public var layer_norm_epsilon: Double?
    public var apply_residual_connection_post_layernorm: Bool?
    public var tie_word_embeddings: Bool?
    public var seq_length: Int?
    public var bos_token_id: Int?
    public var eos_token_id: Int?

    public var hiddenSize: Int { hidden_size ?? n_embed ?? 64 }
    public var maxPositions: Int { seq_length ?? 2048 }

    func validated(_ source: String) throws -> BloomConfig {
        try ConfigCheck.sizes([("vocab_size", vocab_size), ("hidden_size", hiddenSize), ("n_layer", n_layer), ("n_head", n_head),
                               ("seq_length", maxPositions)], source)
        if let layer_norm_epsilon { try ConfigCheck.epsilon("layer_norm_epsilon", layer_norm_epsilon, source) }
        guard hiddenSize % n_head == 0 else { throw CheckpointError(source, "hidden_size \(hiddenSize) is not divisible by n_head \(n_head)") }
        if apply_residual_connection_post_layernorm == true {
            throw CheckpointError(source, "apply_residual_connection_post_layernorm true is not supported")
        }
        if tie_word_embeddings == false { throw CheckpointError(source, "an untied BLOOM head is not supported") }
        return self
    }
}
