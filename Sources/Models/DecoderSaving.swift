import Checkpoints
import Foundation
import Numerics

extension DecoderHyperparameters {
    /// config.json as transformers writes it for this family (GPT-NeoX with the legacy
    /// `rotary_pct` and `rotary_emb_base` keys, the Llama family with `rope_theta` and
    /// `rope_scaling`: spellings every version of transformers reads).
    public func configJSON(extra: [String: Any] = [:]) -> [String: Any] {
        switch family {
        case .gpt2: return merge(gpt2ConfigJSON, extra)
        case .llama, .qwen2, .mistral: return merge(llamaConfigJSON, extra)
        case .bloom, .gptNeoX: break
        }
        if family == .bloom {
            var config: [String: Any] = [
                "architectures": ["BloomForCausalLM"], "model_type": "bloom", "vocab_size": vocabularySize, "hidden_size": hiddenSize,
                "n_layer": layerCount, "n_head": headCount, "layer_norm_epsilon": Double(normEpsilon),
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
            "use_parallel_residual": parallelResidual, "layer_norm_eps": Double(normEpsilon),
            "hidden_act": geluName, "attention_bias": qkvBias, "tie_word_embeddings": tiedEmbeddings,
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

extension DecoderHyperparameters {
    private func merge(_ config: [String: Any], _ extra: [String: Any]) -> [String: Any] {
        config.merging(extra) { _, new in new }
    }

    /// The config name of the MLP's GELU.
    private var geluName: String {
        if case .gelu(let gelu) = feedForward { return gelu.huggingFaceName }
        return "gelu"
    }

    private var gpt2ConfigJSON: [String: Any] {
        [
            "architectures": ["GPT2LMHeadModel"], "model_type": "gpt2", "vocab_size": vocabularySize, "n_positions": maxPositions,
            "n_embd": hiddenSize, "n_layer": layerCount, "n_head": headCount, "n_inner": intermediateSize,
            "activation_function": geluName, "layer_norm_epsilon": Double(normEpsilon), "tie_word_embeddings": tiedEmbeddings,
            "initializer_range": 0.02, "torch_dtype": "float32", "resid_pdrop": 0.0, "embd_pdrop": 0.0, "attn_pdrop": 0.0,
        ]
    }

    private var llamaConfigJSON: [String: Any] {
        let architecture = ["llama": "LlamaForCausalLM", "qwen2": "Qwen2ForCausalLM", "mistral": "MistralForCausalLM"][family.rawValue]!
        var config: [String: Any] = [
            "architectures": [architecture], "model_type": family.rawValue, "vocab_size": vocabularySize, "hidden_size": hiddenSize,
            "intermediate_size": intermediateSize, "num_hidden_layers": layerCount, "num_attention_heads": headCount,
            "num_key_value_heads": keyValueHeadCount, "head_dim": headSize, "max_position_embeddings": maxPositions,
            "rms_norm_eps": Double(normEpsilon), "rope_theta": rotaryBase, "hidden_act": "silu", "tie_word_embeddings": tiedEmbeddings,
            "initializer_range": 0.02, "torch_dtype": "float32", "attention_dropout": 0.0, "mlp_bias": mlpBias,
        ]
        if family != .qwen2 { config["attention_bias"] = qkvBias }
        if rotaryDimensions != headSize { config["partial_rotary_factor"] = Double(rotaryDimensions) / Double(headSize) }
        switch rotaryScaling {
        case .none: config["rope_scaling"] = NSNull()
        case .linear(let factor): config["rope_scaling"] = ["rope_type": "linear", "factor": Double(factor)]
        case .frequencyFactors:
            break   // refused by `save` before the config is written
        case .llama3(let factor, let low, let high, let original):
            config["rope_scaling"] = ["rope_type": "llama3", "factor": Double(factor), "low_freq_factor": Double(low),
                                      "high_freq_factor": Double(high), "original_max_position_embeddings": original]
        }
        if let attentionWindow {
            config["sliding_window"] = attentionWindow
            if family == .qwen2 { config["use_sliding_window"] = true }
        } else if family == .mistral {
            config["sliding_window"] = NSNull()
        }
        return config
    }
}

extension DecoderModel {
    /// Writes a Hugging Face model directory that transformers loads: config.json and
    /// model.safetensors (Float32), each atomically. `extraConfig` adds or replaces keys
    /// (token ids, a classifier's labels).
    public func save(to directory: URL, extraConfig: [String: Any] = [:]) throws {
        if case .frequencyFactors = hyperparameters.rotaryScaling {
            throw InputError("\(directory.path): a model with GGUF rope_freqs factors cannot be written as a Hugging Face config.json (rope_scaling has no per-frequency form)")
        }
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        var writer = SafeTensorsWriter(metadata: ["format": "pt"])
        let names = hyperparameters.names
        for entry in parameters.entries {
            // A 16-bit matrix is written widened to Float32 (exactly).
            let widened = entry.isFloat32 ? nil : FloatBuffer(capacity: entry.count)
            if let widened { parameters.readFloats(entry, into: widened.pointer) }
            let values = UnsafeBufferPointer(start: widened.map { UnsafePointer($0.pointer) } ?? UnsafePointer(parameters.values + entry.offset),
                                             count: entry.count)
            if names.isStoredTransposed(entry.name) {
                // GPT-2's Conv1D layout, [in, out].
                var stored = [Float](repeating: 0, count: entry.count)
                stored.withUnsafeMutableBufferPointer {
                    transpose(values.baseAddress!, rows: entry.shape[0], cols: entry.shape[1], into: $0.baseAddress!)
                }
                stored.withUnsafeBufferPointer { writer.add(entry.name, shape: entry.shape.reversed(), floats: $0) }
            } else {
                writer.add(entry.name, shape: entry.shape, floats: values)
            }
        }
        try writer.write(to: directory.appendingPathComponent("model.safetensors"))
        let config = try JSONSerialization.data(withJSONObject: hyperparameters.configJSON(extra: extraConfig),
                                                options: [.prettyPrinted, .sortedKeys])
        try AtomicFile.write(config, to: directory.appendingPathComponent("config.json"))
    }
}
