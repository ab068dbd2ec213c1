import Checkpoints
import Foundation
import Models

extension FuzzTarget {
    /// config.json in a model directory whose weights stay valid: decoding, the check against
    /// the checkpoint, `inspect`'s description, loading, and a forward pass.
    public static let modelConfig = FuzzTarget(name: "config", format: .json, seeds: {
        try ModelConfigFuzzing.prepareWeights()
        return ModelConfigFuzzing.seedConfigs
    }, body: { data in
        let directory = try ModelConfigFuzzing.prepareWeights()
        try data.write(to: directory.appendingPathComponent("config.json"))
        let checkpoint = try CheckpointDirectory(url: directory)
        let description = try ModelDescription(checkpoint: checkpoint)
        _ = description.parameterCount
        let model = try DecoderModel(checkpoint: checkpoint)
        let tokens = [0, 1, 2, 3].map { $0 % model.hyperparameters.vocabularySize }
        _ = try model.tokenLogProbabilities([tokens, [tokens[1]], tokens.reversed()])
    })
}

/// One model.safetensors holding the weights of a tiny GPT-NeoX and a tiny BLOOM (their
/// names differ), and of a tiny GPT-2 and Llama, so that every family's configs have weights
/// to agree with.
enum ModelConfigFuzzing {
    static let neox = DecoderHyperparameters(vocabularySize: 11, hiddenSize: 8, headCount: 2, intermediateSize: 12, layerCount: 2,
                                             maxPositions: 8, rotaryFraction: 0.5, parallelResidual: true)
    static var bloom: DecoderHyperparameters {
        var h = DecoderHyperparameters(vocabularySize: 9, hiddenSize: 4, headCount: 2, intermediateSize: 16, layerCount: 1, maxPositions: 8,
                                       rotaryFraction: 0, parallelResidual: false, activation: .tanhApproximation, tiedEmbeddings: true)
        h.family = .bloom
        h.positions = .alibi
        h.embeddingNorm = true
        return h
    }

    /// A Llama with grouped-query attention (4 query heads, 2 key/value heads), llama3 RoPE
    /// scaling and a tied head; its names (model.*) differ from the others'.
    static var llama: DecoderHyperparameters {
        var config = LlamaConfig(model_type: "llama", vocab_size: 13, hidden_size: 8, num_hidden_layers: 2, num_attention_heads: 4,
                                 intermediate_size: 12)
        config.num_key_value_heads = 2
        config.max_position_embeddings = 16
        config.tie_word_embeddings = true
        config.rope_scaling = LlamaConfig.RopeSettings(rope_type: "llama3", factor: 4, low_freq_factor: 1, high_freq_factor: 4,
                                                       original_max_position_embeddings: 8)
        return (try? DecoderHyperparameters(llama: config)) ?? neox
    }

    /// GPT2Model's names and shapes for the GPT-2 seed (n_embd 8, one layer, MLP 32).
    static let gpt2Layout: [(String, [Int])] = [("wte.weight", [11, 8]), ("wpe.weight", [8, 8]), ("ln_f.weight", [8]), ("ln_f.bias", [8])]
        + [("ln_1.weight", [8]), ("ln_1.bias", [8]), ("attn.c_attn.weight", [8, 24]), ("attn.c_attn.bias", [24]),
           ("attn.c_proj.weight", [8, 8]), ("attn.c_proj.bias", [8]), ("ln_2.weight", [8]), ("ln_2.bias", [8]),
           ("mlp.c_fc.weight", [8, 32]), ("mlp.c_fc.bias", [32]), ("mlp.c_proj.weight", [32, 8]), ("mlp.c_proj.bias", [8])]
        .map { ("h.0." + $0.0, $0.1) }

    static let seedConfigs: [Data] = {
        func json(_ object: [String: Any]) -> Data { (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data() }
        let gpt2: [String: Any] = ["model_type": "gpt2", "vocab_size": 11, "n_positions": 8, "n_embd": 8, "n_layer": 1, "n_head": 2, "n_inner": 32]
        return [json(neox.configJSON()), json(bloom.configJSON()), json(gpt2), json(llama.configJSON())]
    }()

    /// The directory with the weights (written once per process).
    @discardableResult
    static func prepareWeights() throws -> URL {
        let directory = FuzzScratch.directory.appendingPathComponent("config-model")
        let weights = directory.appendingPathComponent("model.safetensors")
        if FileManager.default.fileExists(atPath: weights.path) { return directory }
        var writer = SafeTensorsWriter()
        for h in [neox, bloom, llama] {
            let model = DecoderModel(hyperparameters: h, seed: 3)
            for entry in model.parameters.entries {
                writer.add(entry.name, shape: entry.shape, floats: UnsafeBufferPointer(start: model.parameters.values + entry.offset, count: entry.count))
            }
        }
        for (name, shape) in gpt2Layout { writer.add(name, shape: shape, floats: [Float](repeating: 0.5, count: shape.reduce(1, *))) }
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        try writer.write(to: weights)
        return directory
    }
}
