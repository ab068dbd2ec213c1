import Foundation

/// transformers' BertConfig, for the sentence embedder's encoder (all-MiniLM-L6-v2). BERT is
/// not a model influence is computed on, so it is not a `ModelConfig` case, but its config.json
/// is read, decoded and range-checked the same way.
public struct BertConfig: Codable, Sendable, Equatable {
    public var vocab_size: Int
    public var hidden_size: Int
    public var num_hidden_layers: Int
    public var num_attention_heads: Int
    public var intermediate_size: Int
    public var max_position_embeddings: Int
    public var type_vocab_size: Int
    public var layer_norm_eps: Double?
    public var hidden_act: String?

    public var layerNormEpsilon: Double { layer_norm_eps ?? 1e-12 }

    /// Reads and checks config.json at `url`.
    public static func load(from url: URL) throws -> BertConfig {
        let data = try ModelConfig.contents(of: url)
        guard try ModelConfig.modelType(data, source: url.path) == "bert" else {
            throw CheckpointError(url, "not a BERT model (model_type bert)")
        }
        do {
            return try JSONDecoder().decode(BertConfig.self, from: data).validated(url.path)
        } catch let error as CheckpointError {
            throw error
        } catch {
            throw CheckpointError(url, describe(error))
        }
    }

    func validated(_ source: String) throws -> BertConfig {
        try ConfigCheck.sizes([("vocab_size", vocab_size), ("hidden_size", hidden_size), ("num_hidden_layers", num_hidden_layers),
                               ("num_attention_heads", num_attention_heads), ("intermediate_size", intermediate_size),
                               ("max_position_embeddings", max_position_embeddings), ("type_vocab_size", type_vocab_size)], source)
        guard hidden_size % num_attention_heads == 0 else {
            throw CheckpointError(source, "hidden_size \(hidden_size) is not divisible by num_attention_heads \(num_attention_heads)")
        }
        try ConfigCheck.epsilon("layer_norm_eps", layerNormEpsilon, source)
        if let act = hidden_act, act != "gelu" { throw CheckpointError(source, "hidden_act \(act) is not supported") }
        return self
    }
}
