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
        if case .gpt2 = checkpoint.config { return }
        let model = try GPTNeoXModel(checkpoint: checkpoint)
        let tokens = [0, 1, 2, 3].map { $0 % model.hyperparameters.vocabularySize }
        _ = try model.tokenLogProbabilities([tokens, [tokens[1]], tokens.reversed()])
    })
}

/// One model.safetensors holding the weights of a tiny GPT-NeoX and a tiny BLOOM (their
/// names differ), so that both families' configs have weights to agree with.
enum ModelConfigFuzzing {
    static let neox = GPTNeoXHyperparameters(vocabularySize: 11, hiddenSize: 8, headCount: 2, intermediateSize: 12, layerCount: 2,
                                             maxPositions: 8, rotaryFraction: 0.5, parallelResidual: true)
    static var bloom: GPTNeoXHyperparameters {
        var h = GPTNeoXHyperparameters(vocabularySize: 9, hiddenSize: 4, headCount: 2, intermediateSize: 16, layerCount: 1, maxPositions: 8,
                                       rotaryFraction: 0, parallelResidual: false, activation: .tanhApproximation, tiedEmbeddings: true)
        h.family = .bloom
        return h
    }

    static let seedConfigs: [Data] = {
        func json(_ object: [String: Any]) -> Data { (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data() }
        let gpt2: [String: Any] = ["model_type": "gpt2", "vocab_size": 11, "n_positions": 8, "n_embd": 8, "n_layer": 1, "n_head": 2]
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
            let model = GPTNeoXModel(hyperparameters: h, seed: 3)
            for entry in model.parameters.entries {
                writer.add(entry.name, shape: entry.shape, floats: UnsafeBufferPointer(start: model.parameters.values + entry.offset, count: entry.count))
            }
        }
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        try writer.write(to: weights)
        return directory
    }
}
