import Checkpoints
import Foundation

/// What `influence inspect` reports about a checkpoint: its shape, how its parameters divide
/// into families, and the linear modules influence tracks (DESIGN §2).
public struct ModelDescription: Sendable {
    public enum Family: String, Sendable, CaseIterable, Codable {
        case embedding, attention, mlp, norms, head
    }

    public struct Parameter: Sendable {
        public let name: String
        public let shape: [Int]
        public let family: Family
        public var count: Int { shape.reduce(1, *) }
    }

    public let modelType: String
    public let architecture: String
    public let layerCount: Int
    public let hiddenSize: Int
    public let headCount: Int
    public let intermediateSize: Int
    public let vocabularySize: Int
    public let maxPositions: Int
    public let tiedEmbeddings: Bool
    /// The model's parameters as PyTorch's `model.parameters()` yields them: a tied output
    /// head shares the embedding matrix and is not listed again.
    public let parameters: [Parameter]
    public let trackedModules: [TrackedLinearModule]

    public var parameterCount: Int { parameters.reduce(0) { $0 + $1.count } }

    public func parameterCount(_ family: Family) -> Int {
        parameters.filter { $0.family == family }.reduce(0) { $0 + $1.count }
    }

    /// The description implied by config.json, checked against the tensors on disk: every
    /// parameter must be stored with the expected shape.
    public init(checkpoint: CheckpointDirectory) throws {
        switch checkpoint.config {
        case .gptNeoX, .bloom:
            self = Self.gptNeoX(try GPTNeoXHyperparameters(checkpoint: checkpoint))
        case .gpt2(let config):
            let names = Set(checkpoint.tensors.map(\.name))
            var none = config, one = config
            none.n_layer = 0
            one.n_layer = 1
            let others = Self.gpt2(none, storedNames: names).parameters.count
            try checkpoint.requireTensorCount(layers: config.n_layer, perLayer: Self.gpt2(one, storedNames: names).parameters.count - others, others: others)
            self = Self.gpt2(config, storedNames: names)
            try checkpoint.requireParameters(parameters.map { ($0.name, $0.shape) })
        }
    }

    init(modelType: String, architecture: String, layerCount: Int, hiddenSize: Int, headCount: Int, intermediateSize: Int,
         vocabularySize: Int, maxPositions: Int, tiedEmbeddings: Bool, parameters: [Parameter], trackedModules: [TrackedLinearModule]) {
        self.modelType = modelType
        self.architecture = architecture
        self.layerCount = layerCount
        self.hiddenSize = hiddenSize
        self.headCount = headCount
        self.intermediateSize = intermediateSize
        self.vocabularySize = vocabularySize
        self.maxPositions = maxPositions
        self.tiedEmbeddings = tiedEmbeddings
        self.parameters = parameters
        self.trackedModules = trackedModules
    }

    public static func gptNeoX(_ h: GPTNeoXHyperparameters) -> ModelDescription {
        let parameters = GPTNeoXModel.parameterLayout(h).map { name, shape -> Parameter in
            let family: Family =
                name.contains("embed_in") || name == "transformer.word_embeddings.weight" ? .embedding
                : name.contains("embed_out") ? .head
                : name.contains("layernorm") || name.contains("layer_norm") || name.contains("ln_f") ? .norms
                : name.contains("attention.") ? .attention : .mlp
            return Parameter(name: name, shape: shape, family: family)
        }
        return ModelDescription(
            modelType: h.family.rawValue, architecture: h.family == .bloom ? "BloomForCausalLM" : "GPTNeoXForCausalLM", layerCount: h.layerCount, hiddenSize: h.hiddenSize,
            headCount: h.headCount, intermediateSize: h.intermediateSize, vocabularySize: h.vocabularySize,
            maxPositions: h.maxPositions, tiedEmbeddings: h.tiedEmbeddings, parameters: parameters,
            trackedModules: GPTNeoXModel.trackedModules(h))
    }

    /// GPT-2 stores its linear layers as Conv1D, weight [d_in, d_out]. Checkpoints saved from
    /// GPT2LMHeadModel prefix names with "transformer."; those from GPT2Model do not.
    static func gpt2(_ c: GPT2Config, storedNames: Set<String>) -> ModelDescription {
        let prefix = storedNames.contains("transformer.wte.weight") ? "transformer." : ""
        let H = c.n_embd, I = c.intermediateSize, V = c.vocab_size
        var parameters = [
            Parameter(name: prefix + "wte.weight", shape: [V, H], family: .embedding),
            Parameter(name: prefix + "wpe.weight", shape: [c.n_positions, H], family: .embedding),
        ]
        var tracked: [TrackedLinearModule] = []
        for l in 0..<c.n_layer {
            let p = prefix + "h.\(l)."
            parameters += [
                Parameter(name: p + "ln_1.weight", shape: [H], family: .norms), Parameter(name: p + "ln_1.bias", shape: [H], family: .norms),
                Parameter(name: p + "attn.c_attn.weight", shape: [H, 3 * H], family: .attention),
                Parameter(name: p + "attn.c_attn.bias", shape: [3 * H], family: .attention),
                Parameter(name: p + "attn.c_proj.weight", shape: [H, H], family: .attention),
                Parameter(name: p + "attn.c_proj.bias", shape: [H], family: .attention),
                Parameter(name: p + "ln_2.weight", shape: [H], family: .norms), Parameter(name: p + "ln_2.bias", shape: [H], family: .norms),
                Parameter(name: p + "mlp.c_fc.weight", shape: [H, I], family: .mlp), Parameter(name: p + "mlp.c_fc.bias", shape: [I], family: .mlp),
                Parameter(name: p + "mlp.c_proj.weight", shape: [I, H], family: .mlp), Parameter(name: p + "mlp.c_proj.bias", shape: [H], family: .mlp),
            ]
            tracked += [
                TrackedLinearModule(name: p + "attn.c_attn", kind: .attention, layer: l, inputSize: H, outputSize: 3 * H, hasBias: true),
                TrackedLinearModule(name: p + "attn.c_proj", kind: .attention, layer: l, inputSize: H, outputSize: H, hasBias: true),
                TrackedLinearModule(name: p + "mlp.c_fc", kind: .mlp, layer: l, inputSize: H, outputSize: I, hasBias: true),
                TrackedLinearModule(name: p + "mlp.c_proj", kind: .mlp, layer: l, inputSize: I, outputSize: H, hasBias: true),
            ]
        }
        parameters += [
            Parameter(name: prefix + "ln_f.weight", shape: [H], family: .norms), Parameter(name: prefix + "ln_f.bias", shape: [H], family: .norms),
        ]
        if !c.tiedEmbeddings { parameters.append(Parameter(name: "lm_head.weight", shape: [V, H], family: .head)) }
        return ModelDescription(
            modelType: "gpt2", architecture: "GPT2LMHeadModel", layerCount: c.n_layer, hiddenSize: H, headCount: c.n_head,
            intermediateSize: I, vocabularySize: V, maxPositions: c.n_positions, tiedEmbeddings: c.tiedEmbeddings,
            parameters: parameters, trackedModules: tracked)
    }
}
