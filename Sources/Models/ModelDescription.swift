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
    public let keyValueHeadCount: Int
    public let headSize: Int
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
        self = Self.decoder(try DecoderHyperparameters(checkpoint: checkpoint))
    }

    init(modelType: String, architecture: String, layerCount: Int, hiddenSize: Int, headCount: Int, keyValueHeadCount: Int, headSize: Int,
         intermediateSize: Int,
         vocabularySize: Int, maxPositions: Int, tiedEmbeddings: Bool, parameters: [Parameter], trackedModules: [TrackedLinearModule]) {
        self.modelType = modelType
        self.architecture = architecture
        self.layerCount = layerCount
        self.hiddenSize = hiddenSize
        self.headCount = headCount
        self.keyValueHeadCount = keyValueHeadCount
        self.headSize = headSize
        self.intermediateSize = intermediateSize
        self.vocabularySize = vocabularySize
        self.maxPositions = maxPositions
        self.tiedEmbeddings = tiedEmbeddings
        self.parameters = parameters
        self.trackedModules = trackedModules
    }

    /// The description of a decoder's shape. Parameters are listed with the shapes stored on
    /// disk (GPT-2's Conv1D weights as [in, out]).
    public static func decoder(_ h: DecoderHyperparameters) -> ModelDescription {
        let names = h.names
        let headNames: Set<String> = ["embed_out.weight", "lm_head.weight", "score.weight"]
        let parameters = DecoderModel.parameterLayout(h).map { name, shape -> Parameter in
            let family: Family =
                name == names.embedding || name == names.positionEmbedding ? .embedding
                : headNames.contains(name) ? .head
                : shape.count == 1 && (name.contains("norm") || name.contains(".ln_")) || name.hasPrefix(names.embeddingNorm)
                    || name.hasPrefix(names.finalNorm) ? .norms
                : name.contains("." + names.attention) ? .attention : .mlp
            return Parameter(name: name, shape: names.isStoredTransposed(name) ? shape.reversed() : shape, family: family)
        }
        let architecture: String = switch h.family {
        case .gptNeoX: h.classifierLabels == nil ? "GPTNeoXForCausalLM" : "GPTNeoXForSequenceClassification"
        case .bloom: "BloomForCausalLM"
        case .gpt2: "GPT2LMHeadModel"
        case .llama: "LlamaForCausalLM"
        case .qwen2: "Qwen2ForCausalLM"
        case .mistral: "MistralForCausalLM"
        }
        return ModelDescription(
            modelType: h.family.rawValue, architecture: architecture, layerCount: h.layerCount, hiddenSize: h.hiddenSize,
            headCount: h.headCount, keyValueHeadCount: h.keyValueHeadCount, headSize: h.headSize, intermediateSize: h.intermediateSize, vocabularySize: h.vocabularySize,
            maxPositions: h.maxPositions, tiedEmbeddings: h.tiedEmbeddings, parameters: parameters,
            trackedModules: DecoderModel.trackedModules(h))
    }
}
