import Checkpoints
import Foundation
import Numerics

extension GPTNeoXHyperparameters {
    /// config.json as transformers writes it for GPTNeoXForCausalLM (legacy `rotary_pct` and
    /// `rotary_emb_base` keys, which every version of transformers reads).
    public func configJSON(extra: [String: Any] = [:]) -> [String: Any] {
        if family == .bloom {
            var config: [String: Any] = [
                "architectures": ["BloomForCausalLM"], "model_type": "bloom", "vocab_size": vocabularySize, "hidden_size": hiddenSize,
                "n_layer": layerCount, "n_head": headCount, "layer_norm_epsilon": Double(layerNormEpsilon),
                "apply_residual_connection_post_layernorm": false, "tie_word_embeddings": true, "seq_length": maxPositions,
                "initializer_range": 0.02, "torch_dtype": "float32", "hidden_dropout": 0.0, "attention_dropout": 0.0,
            ]
            for (key, value) in extra { config[key] = value }
            return config
        }
        var config: [String: Any] = [
            "architectures": ["GPTNeoXForCausalLM"], "model_type": "gpt_neox",
            "vocab_size": vocabularySize, "hidden_size": hiddenSize, "num_attention_heads": headCount,
            "intermediate_size": intermediateSize, "num_hidden_layers": layerCount, "max_position_embeddings": maxPositions,
            "rotary_pct": Double(rotaryDimensions) / Double(headSize), "rotary_emb_base": rotaryBase,
            "use_parallel_residual": parallelResidual, "layer_norm_eps": Double(layerNormEpsilon),
            "hidden_act": activation.huggingFaceName, "attention_bias": attentionBias, "tie_word_embeddings": tiedEmbeddings,
            "initializer_range": 0.02, "torch_dtype": "float32", "use_cache": true,
            "attention_dropout": 0.0, "hidden_dropout": 0.0,
        ]
        if let labels = classifierLabels {
            config["architectures"] = ["GPTNeoXForSequenceClassification"]
            config["id2label"] = Dictionary(uniqueKeysWithValues: (0..<labels).map { (String($0), "LABEL_\($0)") })
            config["label2id"] = Dictionary(uniqueKeysWithValues: (0..<labels).map { ("LABEL_\($0)", $0) })
        }
        for (key, value) in extra { config[key] = value }
        return config
    }
}

extension GPTNeoXModel {
    /// Writes a Hugging Face model directory that transformers loads: config.json and
    /// model.safetensors (Float32), each atomically. `extraConfig` adds or replaces keys
    /// (token ids, a classifier's labels).
    public func save(to directory: URL, extraConfig: [String: Any] = [:]) throws {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        var writer = SafeTensorsWriter(metadata: ["format": "pt"])
        for entry in parameters.entries {
            writer.add(entry.name, shape: entry.shape,
                       floats: UnsafeBufferPointer(start: parameters.values + entry.offset, count: entry.count))
        }
        try writer.write(to: directory.appendingPathComponent("model.safetensors"))
        let config = try JSONSerialization.data(withJSONObject: hyperparameters.configJSON(extra: extraConfig),
                                                options: [.prettyPrinted, .sortedKeys])
        try AtomicFile.write(config, to: directory.appendingPathComponent("config.json"))
    }
}
