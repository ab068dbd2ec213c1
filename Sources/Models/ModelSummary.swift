import Checkpoints

/// `influence inspect --json`: a checkpoint's architecture, sizes, stored types and tracked
/// modules, with the keys of Hugging Face's config.json where one exists.
public struct ModelSummary: Encodable {
    struct Module: Encodable {
        let name: String, kind: String, d_in: Int, d_out: Int, bias: Bool
    }

    let model_type: String, architecture: String
    let num_layers: Int, hidden_size: Int, num_heads: Int, num_key_value_heads: Int, head_dim: Int, intermediate_size: Int
    let vocab_size: Int, max_position_embeddings: Int
    let tied_embeddings: Bool
    let dtype: String
    let files: Int
    /// A GGUF file's tensor types and how many tensors have each ("Q4_1": 210, …).
    let tensor_types: [String: Int]?
    let parameters: Int
    let parameters_by_family: [String: Int]
    let tracked_modules: [Module]

    /// `storedTypes`: the element types on disk (F32, BF16, Q4_1, …); `tensorTypes`, for a GGUF
    /// file, the count of tensors of each.
    public init(_ d: ModelDescription, storedTypes: [String], files: Int, tensorTypes: [String: Int]? = nil) {
        model_type = d.modelType
        architecture = d.architecture
        num_layers = d.layerCount
        hidden_size = d.hiddenSize
        num_heads = d.headCount
        num_key_value_heads = d.keyValueHeadCount
        head_dim = d.headSize
        intermediate_size = d.intermediateSize
        vocab_size = d.vocabularySize
        max_position_embeddings = d.maxPositions
        tied_embeddings = d.tiedEmbeddings
        dtype = storedTypes.joined(separator: ",")
        self.files = files
        tensor_types = tensorTypes
        parameters = d.parameterCount
        parameters_by_family = Dictionary(uniqueKeysWithValues: ModelDescription.Family.allCases.map { ($0.rawValue, d.parameterCount($0)) })
        tracked_modules = d.trackedModules.map {
            Module(name: $0.name, kind: $0.kind.rawValue, d_in: $0.inputSize, d_out: $0.outputSize, bias: $0.hasBias)
        }
    }
}
