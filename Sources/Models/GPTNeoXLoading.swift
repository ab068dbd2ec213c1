import Checkpoints
import Foundation
import Numerics

extension GPTNeoXHyperparameters {
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
}

extension GPTNeoXModel {
    /// Loads a GPT-NeoX checkpoint directory (any of F32, F16, BF16 on disk; Float32 in memory).
    /// Every parameter must be present with the shape config.json implies, and finite.
    public convenience init(checkpoint: CheckpointDirectory) throws {
        guard case .gptNeoX(let config) = checkpoint.config else {
            throw CheckpointError(checkpoint.configURL, "model_type is \(checkpoint.config.modelType); this command needs gpt_neox")
        }
        let hyperparameters = try GPTNeoXHyperparameters(config: config, source: checkpoint.configURL.path)
        let store = ParameterStore(layout: Self.parameterLayout(hyperparameters))
        for entry in store.entries {
            try checkpoint.readFloats(entry.name, shape: entry.shape, into: store.values + entry.offset)
        }
        self.init(hyperparameters: hyperparameters, parameters: store)
        do {
            try validateWeights()
        } catch let error as ModelInputError {
            throw CheckpointError(checkpoint.url, error.description)
        }
    }

    public convenience init(directory: URL) throws {
        try self.init(checkpoint: CheckpointDirectory(url: directory))
    }
}
