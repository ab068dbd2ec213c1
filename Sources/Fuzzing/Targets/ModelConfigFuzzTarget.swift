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
/// names differ), so that both families' configs have weights to agree with.
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

    /// GPT2Model's names and shapes for the GPT-2 seed (n_embd 8, one layer, MLP 32).
    static let gpt2Layout: [(String, [Int])] = [("wte.weight", [11, 8]), ("wpe.weight", [8, 8]), ("ln_f.weight", [8]), ("ln_f.bias", [8])]
        + [("ln_1.weight", [8]), ("ln_1.bias", [8]), ("attn.c_attn.weight", [8, 24]), ("attn.c_attn.bias", [24]),
           ("attn.c_proj.weight", [8, 8]), ("attn.c_proj.bias", [8]), ("ln_2.weight", [8]), ("ln_2.bias", [8]),
           ("mlp.c_fc.weight", [8, 32]), ("mlp.c_fc.bias", [32]), ("mlp.c_proj.weight", [32, 8]), ("mlp.c_proj.bias", [8])]
        .map { ("h.0." + $0.0, $0.1) }

    static let seedConfigs: [Data] = {
        func json(_ object: [String: Any]) -> Data { (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data() }
        let gpt2: [String: Any] = ["model_type": "gpt2", "vocab_size": 11, "n_positions": 8, "n_embd": 8, "n_layer": 1, "n_head": 2, "n_inner": 32]
        return [json(neox.configJSON()), json(bloom.configJSON()), json(gpt2)]
    }()

    /// The directory with the weights (written once per process).
    @discardableResult
    static func prepareWeights() throws -> URL {
        let directory = FuzzScratch.directory.appendingPathComponent("config-model")
        let weights = directory.appendingPathComponent("model.safetensors")
        if FileManager.default.fileExists(atPath: weights.path) { return directory }
        var writer = SafeTensorsWriter()
        for h in [neox, bloom] {
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
