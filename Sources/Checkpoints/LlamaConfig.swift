import Foundation

/// transformers' LlamaConfig, and the configs of the models built the same way: Qwen2
/// (`model_type` qwen2: biases on q/k/v) and Mistral (`model_type` mistral: a sliding
/// attention window). Optional fields take transformers' defaults.
///
/// Rotary settings come in two spellings: `rope_theta` + `rope_scaling` (what checkpoints on
/// the Hub carry) and transformers ≥ 5's `rope_parameters`; both are read.
public struct LlamaConfig: Codable, Sendable, Equatable {
    public struct RopeSettings: Codable, Sendable, Equatable {
        public init(rope_type: String? = nil, type: String? = nil, rope_theta: Double? = nil, factor: Double? = nil,
                    low_freq_factor: Double? = nil, high_freq_factor: Double? = nil, original_max_position_embeddings: Int? = nil,
                    partial_rotary_factor: Double? = nil) {
            self.rope_type = rope_type
            self.type = type
            self.rope_theta = rope_theta
            self.factor = factor
            self.low_freq_factor = low_freq_factor
            self.high_freq_factor = high_freq_factor
            self.original_max_position_embeddings = original_max_position_embeddings
            self.partial_rotary_factor = partial_rotary_factor
        }

        public var rope_type: String?
        public var type: String?
        public var rope_theta: Double?
        public var factor: Double?
        public var low_freq_factor: Double?
        public var high_freq_factor: Double?
        public var original_max_position_embeddings: Int?
        public var partial_rotary_factor: Double?
    }

    public var model_type: String
    public var vocab_size: Int
    public var hidden_size: Int
    public var num_hidden_layers: Int
    public var num_attention_heads: Int
    public var num_key_value_heads: Int?
    public var head_dim: Int?
    public var intermediate_size: Int
    public var max_position_embeddings: Int?
    public var rms_norm_eps: Double?
    public var rope_theta: Double?
    public var rope_scaling: RopeSettings?
    public var rope_parameters: RopeSettings?
    public var partial_rotary_factor: Double?
    public var hidden_act: String?
    public var attention_bias: Bool?
    public var mlp_bias: Bool?
    public var tie_word_embeddings: Bool?
    public var sliding_window: Int?
    public var use_sliding_window: Bool?
    public var torch_dtype: String?
    public var dtype: String?
    public var bos_token_id: Int?
    public var eos_token_id: IntOrList?
    public var pad_token_id: Int?
    public var architectures: [String]?

    /// `eos_token_id` is an integer or, in Llama 3 checkpoints, a list of them.
    public enum IntOrList: Codable, Sendable, Equatable {
        case one(Int), many([Int])
        public init(from decoder: Decoder) throws {
            let c = try decoder.singleValueContainer()
            if let value = try? c.decode(Int.self) { self = .one(value) } else { self = .many(try c.decode([Int].self)) }
        }
        public func encode(to encoder: Encoder) throws {
            var c = encoder.singleValueContainer()
            switch self {
            case .one(let value): try c.encode(value)
            case .many(let values): try c.encode(values)
            }
        }
        public var values: [Int] {
            switch self {
            case .one(let value): [value]
            case .many(let values): values
            }
        }
    }

    /// The required fields; the rest take transformers' defaults.
    public init(model_type: String, vocab_size: Int, hidden_size: Int, num_hidden_layers: Int, num_attention_heads: Int,
                intermediate_size: Int) {
        self.model_type = model_type
        self.vocab_size = vocab_size
        self.hidden_size = hidden_size
        self.num_hidden_layers = num_hidden_layers
        self.num_attention_heads = num_attention_heads
        self.intermediate_size = intermediate_size
    }

    public var keyValueHeads: Int { num_key_value_heads ?? num_attention_heads }
    public var headSize: Int { head_dim ?? hidden_size / num_attention_heads }
    public var maxPositions: Int { max_position_embeddings ?? 2048 }
    public var rmsNormEpsilon: Double { rms_norm_eps ?? 1e-6 }
    public var rotaryBase: Double { rope_parameters?.rope_theta ?? rope_theta ?? 10_000 }
    public var rotaryFraction: Double { rope_parameters?.partial_rotary_factor ?? partial_rotary_factor ?? 1 }
    /// Qwen2 always has biases on q, k and v (and none on o); Llama and Mistral only with
    /// `attention_bias`, and then on o too.
    public var queryKeyValueBias: Bool { model_type == "qwen2" || (attention_bias ?? false) }
    public var outputBias: Bool { model_type != "qwen2" && (attention_bias ?? false) }
    public var mlpBias: Bool { mlp_bias ?? false }
    public var tiedEmbeddings: Bool { tie_word_embeddings ?? false }
    /// The attention window in force: Mistral's `sliding_window`; Qwen2's only with
    /// `use_sliding_window`.
    public var attentionWindow: Int? {
        switch model_type {
        case "mistral": sliding_window
        case "qwen2": use_sliding_window == true ? sliding_window : nil
        default: nil
        }
    }

    /// The rotary scaling in force: `rope_parameters` (transformers ≥ 5) or `rope_scaling`.
    public var ropeScaling: RopeSettings? {
        if let p = rope_parameters, (p.rope_type ?? p.type) != nil { return p }
        return rope_scaling
    }

    public var ropeScalingType: String {
        let type = ropeScaling?.rope_type ?? ropeScaling?.type ?? "default"
        return type == "none" ? "default" : type
    }

    public static let supportedRopeTypes = ["default", "linear", "llama3"]

    func validated(_ source: String) throws -> LlamaConfig {
        try ConfigCheck.sizes([("vocab_size", vocab_size), ("hidden_size", hidden_size), ("num_hidden_layers", num_hidden_layers),
                               ("num_attention_heads", num_attention_heads), ("num_key_value_heads", keyValueHeads),
                               ("head_dim", headSize), ("intermediate_size", intermediate_size),
                               ("max_position_embeddings", maxPositions)], source)
        if head_dim == nil, hidden_size % num_attention_heads != 0 {
            throw CheckpointError(source, "hidden_size \(hidden_size) is not divisible by num_attention_heads \(num_attention_heads)")
        }
        guard num_attention_heads % keyValueHeads == 0 else {
            throw CheckpointError(source, "num_attention_heads \(num_attention_heads) is not divisible by num_key_value_heads \(keyValueHeads)")
        }
        guard headSize % 2 == 0 else { throw CheckpointError(source, "head_dim \(headSize) must be even for rotary embeddings") }
        try ConfigCheck.epsilon("rms_norm_eps", rmsNormEpsilon, source)
        guard rotaryBase.isFinite && rotaryBase > 0 else { throw CheckpointError(source, "rope_theta \(rotaryBase) must be a positive number") }
        guard rotaryFraction > 0 && rotaryFraction <= 1 else {
            throw CheckpointError(source, "partial_rotary_factor \(rotaryFraction) is outside (0, 1]")
        }
        if let act = hidden_act, act != "silu", act != "swish" {
            throw CheckpointError(source, "hidden_act \"\(act)\" is not supported (silu)")
        }
        if let window = attentionWindow, window <= 0 { throw CheckpointError(source, "sliding_window must be positive, got \(window)") }
        let type = ropeScalingType
        guard Self.supportedRopeTypes.contains(type) else {
            throw CheckpointError(source, "rope_scaling type \"\(type)\" is not supported (\(Self.supportedRopeTypes.joined(separator: ", ")))")
        }
        if type != "default" {
            guard let factor = ropeScaling?.factor, factor.isFinite, factor >= 1 else {
                throw CheckpointError(source, "rope_scaling \(type) needs a factor ≥ 1")
            }
        }
        if type == "llama3" {
            let s = ropeScaling
            guard let low = s?.low_freq_factor, let high = s?.high_freq_factor, let original = s?.original_max_position_embeddings,
                  low.isFinite, high.isFinite, high > low, low > 0, original > 0
            else {
                throw CheckpointError(source, "rope_scaling llama3 needs low_freq_factor < high_freq_factor (both positive) and original_max_position_embeddings")
            }
        }
        return self
    }
}
