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

extension GPTNeoXHyperparameters {
    /// BLOOM as a member of the family: sequential residuals, no rotary features (ALiBi
    /// instead), a 4× MLP with the tanh GELU, biases everywhere, a tied head.
    public init(bloom c: BloomConfig) {
        self.init(vocabularySize: c.vocab_size, hiddenSize: c.hiddenSize, headCount: c.n_head, intermediateSize: 4 * c.hiddenSize,
                  layerCount: c.n_layer, maxPositions: c.maxPositions, rotaryFraction: 0, parallelResidual: false,
                  layerNormEpsilon: Float(c.layer_norm_epsilon ?? 1e-5), activation: .tanhApproximation, attentionBias: true,
                  tiedEmbeddings: true)
        family = .bloom
    }

    /// The hyperparameters of a checkpoint this model class runs (GPT-NeoX or BLOOM), checked
    /// against the tensors on disk (`check(against:)`): every command that loads or describes
    /// a model comes through here.
    public init(checkpoint: CheckpointDirectory) throws {
        switch checkpoint.config {
        case .gptNeoX(let config): try self.init(config: config, source: checkpoint.configURL.path)
        case .bloom(let config): self.init(bloom: config)
        case .gpt2: throw CheckpointError(checkpoint.configURL, "model_type is gpt2; this command needs gpt_neox or bloom")
        }
        try check(against: checkpoint)
    }

    /// Checks that the checkpoint stores every parameter this shape implies, with that shape,
    /// before anything is allocated: the layer count is bounded by the tensors on disk first,
    /// so that the layout compared is never longer than the checkpoint.
    public func check(against checkpoint: CheckpointDirectory) throws {
        var none = self, one = self
        none.layerCount = 0
        one.layerCount = 1
        let others = GPTNeoXModel.parameterLayout(none).count
        try checkpoint.requireTensorCount(layers: layerCount, perLayer: GPTNeoXModel.parameterLayout(one).count - others, others: others)
        try checkpoint.requireParameters(GPTNeoXModel.parameterLayout(self))
    }
}

extension GPTNeoXModel {
    /// Loads a GPT-NeoX checkpoint directory (any of F32, F16, BF16 on disk; Float32 in memory).
    /// Every parameter must be present with the shape config.json implies, and finite.
    public convenience init(checkpoint: CheckpointDirectory) throws {
        let hyperparameters = try GPTNeoXHyperparameters(checkpoint: checkpoint)
        let store = ParameterStore(layout: Self.parameterLayout(hyperparameters))
        for entry in store.entries {
            try checkpoint.readFloats(entry.name, shape: entry.shape, into: store.values + entry.offset)
        }
        self.init(hyperparameters: hyperparameters, parameters: store)
        do {
            try validateWeights()
        } catch let error as InputError {
            throw CheckpointError(checkpoint.url, error.description)
        }
    }

    public convenience init(directory: URL) throws {
        try self.init(checkpoint: CheckpointDirectory(url: directory))
    }
}
