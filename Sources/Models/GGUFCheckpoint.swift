import Checkpoints
import Foundation
import Numerics
import Tokenization

/// A model in a GGUF file (llama.cpp, Ollama): the decoder's hyperparameters from the
/// `{architecture}.*` metadata, and its weights under Hugging Face's names, dequantized to
/// Float32, with llama.cpp's reordering of the Llama family's q and k rows undone, so that
/// the weights equal what transformers' own GGUF loading produces.
public struct GGUFCheckpoint {
    public let file: GGUFFile
    public let architecture: String
    public let hyperparameters: DecoderHyperparameters

    public static let supportedArchitectures = ["llama", "qwen2", "gpt2"]

    public init(url: URL) throws {
        try self.init(file: GGUFFile(url: url))
    }

    public init(file: GGUFFile) throws {
        self.file = file
        let url = file.url
        architecture = try file.requireString("general.architecture")
        guard Self.supportedArchitectures.contains(architecture) else {
            throw CheckpointError(url, "architecture \"\(architecture)\" is not supported (\(Self.supportedArchitectures.joined(separator: ", ")))")
        }
        let a = architecture
        func size(_ key: String) throws -> Int {
            let value = try file.requireInteger("\(a).\(key)")
            guard value > 0, value <= Int(Int32.max) else { throw CheckpointError(url, "metadata \(a).\(key) = \(value) is not a plausible size") }
            return value
        }
        func positive(_ key: String, default value: Double) throws -> Double {
            let v = try file.double("\(a).\(key)") ?? value
            guard v.isFinite, v > 0, Float(v) > 0 else { throw CheckpointError(url, "metadata \(a).\(key) = \(v) must be a positive number") }
            return v
        }
        let layers = try size("block_count"), hidden = try size("embedding_length"), heads = try size("attention.head_count")
        let intermediate = try size("feed_forward_length"), context = try size("context_length")
        let tokens = try file.strings("tokenizer.ggml.tokens")
        let embedding = try file.requireTensor("token_embd.weight")
        guard embedding.shape.count == 2, embedding.shape[1] == hidden else {
            throw CheckpointError(url, "token_embd.weight has shape \(embedding.shape), but \(a).embedding_length is \(hidden)")
        }
        let vocabulary = try file.integer("\(a).vocab_size") ?? tokens?.count ?? embedding.shape[0]
        let tied = file.info("output.weight") == nil
        var h: DecoderHyperparameters
        if a == "gpt2" {
            h = DecoderHyperparameters(vocabularySize: vocabulary, hiddenSize: hidden, headCount: heads, intermediateSize: intermediate,
                                       layerCount: layers, maxPositions: context, rotaryFraction: 0, parallelResidual: false,
                                       layerNormEpsilon: Float(try positive("attention.layer_norm_epsilon", default: 1e-5)),
                                       activation: .tanhApproximation, attentionBias: true, tiedEmbeddings: tied)
            h.family = .gpt2
            h.positions = .learned
            h.qkvProjection = .fusedByPart
        } else {
            let keyValueHeads = try file.integer("\(a).attention.head_count_kv") ?? heads
            guard keyValueHeads > 0, heads % keyValueHeads == 0 else {
                throw CheckpointError(url, "\(a).attention.head_count \(heads) is not divisible by \(a).attention.head_count_kv \(keyValueHeads)")
            }
            let headSize = try file.integer("\(a).attention.key_length") ?? hidden / heads
            guard headSize > 0, headSize % 2 == 0, try file.integer("\(a).attention.key_length") != nil || hidden % heads == 0 else {
                throw CheckpointError(url, "cannot tell the head size: \(a).embedding_length \(hidden) over \(heads) heads")
            }
            h = DecoderHyperparameters(vocabularySize: vocabulary, hiddenSize: hidden, headCount: heads, intermediateSize: intermediate,
                                       layerCount: layers, maxPositions: context, rotaryFraction: 1,
                                       rotaryBase: try positive("rope.freq_base", default: 10_000), parallelResidual: false,
                                       layerNormEpsilon: Float(try positive("attention.layer_norm_rms_epsilon", default: 1e-6)),
                                       attentionBias: file.info("blk.0.attn_q.bias") != nil, tiedEmbeddings: tied)
            h.family = a == "qwen2" ? .qwen2 : .llama
            h.keyValueHeadCount = keyValueHeads
            h.headSize = headSize
            h.rotaryDimensions = min(headSize, try file.integer("\(a).rope.dimension_count") ?? headSize)
            h.norm = .rmsNorm
            h.qkvProjection = .separate
            h.outputBias = file.info("blk.0.attn_output.bias") != nil
            h.feedForward = .swiGLU
            h.mlpBias = file.info("blk.0.ffn_up.bias") != nil
            switch try file.string("\(a).rope.scaling.type") ?? "none" {
            case "none": break
            case "linear": h.rotaryScaling = .linear(factor: Float(try positive("rope.scaling.factor", default: 1)))
            case let other:
                throw CheckpointError(url, "\(a).rope.scaling.type \"\(other)\" is not supported (none, linear)")
            }
            if let factors = file.info("rope_freqs.weight") {
                // Llama 3.1 and later: llama3 RoPE scaling as one factor per frequency.
                guard factors.elementCount == h.rotaryDimensions / 2 else {
                    throw CheckpointError(url, "rope_freqs.weight has \(factors.elementCount) factors; the rotary dimensions need \(h.rotaryDimensions / 2)")
                }
                let values = try file.floats("rope_freqs.weight")
                guard values.allSatisfy({ $0.isFinite && $0 > 0 }) else {
                    throw CheckpointError(url, "rope_freqs.weight holds a factor that is not a positive number")
                }
                h.rotaryScaling = .frequencyFactors(values)
            }
        }
        hyperparameters = h
        // Every tensor the layout implies must be there with its shape, before anything is
        // allocated; the layer count is bounded by the tensors in the file first.
        guard layers <= file.tensors.count else {
            throw CheckpointError(url, "\(a).block_count \(layers) is more than the file's \(file.tensors.count) tensors allow")
        }
        let weights = weightSource
        for (name, shape) in DecoderModel.parameterLayout(h) {
            let stored = try weights.tensor(for: name)
            guard stored.shape == shape else {
                throw CheckpointError(url, "tensor \(stored.name) has shape \(stored.shape), but the metadata implies \(shape)")
            }
        }
    }

    /// The weights, read under Hugging Face's names.
    public var weightSource: GGUFWeights { GGUFWeights(file: file, hyperparameters: hyperparameters) }

    /// The model, dequantized.
    public func model(precision: WeightPrecision = .float32) throws -> DecoderModel {
        try DecoderModel(hyperparameters: hyperparameters, weights: weightSource, precision: precision)
    }
}

/// A GGUF file's tensors under Hugging Face's names (`token_embd.weight` is
/// `model.embed_tokens.weight`, `blk.3.attn_q.weight` is `model.layers.3.self_attn.q_proj.weight`, …).
public struct GGUFWeights: DecoderWeightSource {
    let file: GGUFFile
    let hyperparameters: DecoderHyperparameters
    public var location: URL { file.url }

    /// GGUF's name for one of the decoder's parameters.
    func ggufName(_ name: String) -> String {
        let names = hyperparameters.names
        switch name {
        case names.embedding: return "token_embd.weight"
        case names.positionEmbedding: return "position_embd.weight"
        case names.unembedding: return "output.weight"
        default: break
        }
        let (stem, suffix) = name.hasSuffix(".bias") ? (String(name.dropLast(5)), ".bias") : (String(name.dropLast(7)), ".weight")
        if stem == names.finalNorm { return "output_norm" + suffix }
        for l in 0..<hyperparameters.layerCount where stem.hasPrefix(names.layer(l)) {
            let part = String(stem.dropFirst(names.layer(l).count)), a = names.attention
            let table: [String: String] = [
                names.attentionNorm: "attn_norm", names.mlpNorm: "ffn_norm", a + (names.fusedQKV ?? "-"): "attn_qkv",
                a + "q_proj": "attn_q", a + "k_proj": "attn_k", a + "v_proj": "attn_v", a + names.attentionOutput: "attn_output",
                names.mlpGate: "ffn_gate", names.mlpUp: "ffn_up", names.mlpDown: "ffn_down",
            ]
            if let mapped = table[part] { return "blk.\(l).\(mapped)\(suffix)" }
        }
        return name
    }

    func tensor(for name: String) throws -> GGUFTensorInfo {
        let stored = ggufName(name)
        guard let info = file.info(stored) else {
            throw CheckpointError(file.url, "has no tensor \(stored) (\(name)), which the metadata implies")
        }
        return info
    }

    public func storedPrecision(_ name: String) -> ParameterStore.StoredPrecision {
        switch (try? tensor(for: name))?.type {
        case .bf16: .bfloat16
        case .f16: .float16
        default: .float32
        }
    }

    public func read(_ name: String, shape: [Int], into destination: UnsafeMutablePointer<Float>) throws {
        let info = try tensor(for: name)
        guard info.shape == shape else {
            throw CheckpointError(file.url, "tensor \(info.name) has shape \(info.shape), but the metadata implies \(shape)")
        }
        try file.readFloats(info.name, into: destination)
        // llama.cpp's converter reorders each head's q and k rows so that rotary pairs are
        // adjacent (GPT-J style); transformers' rotate-half pairs row i with row i + d/2.
        if hyperparameters.family == .llama, name.hasSuffix("q_proj.weight") || name.hasSuffix("k_proj.weight")
            || name.hasSuffix("q_proj.bias") || name.hasSuffix("k_proj.bias") {
            let heads = name.contains("q_proj") ? hyperparameters.headCount : hyperparameters.keyValueHeadCount
            Self.undoRotaryPermutation(destination, heads: heads, rows: shape[0], columns: shape.count > 1 ? shape[1] : 1)
        }
    }

    /// GGUF row h·d + 2i + j holds Hugging Face row h·d + j·d/2 + i (j ∈ {0, 1}).
    static func undoRotaryPermutation(_ matrix: UnsafeMutablePointer<Float>, heads: Int, rows: Int, columns: Int) {
        let d = rows / heads, half = d / 2
        let copy = FloatBuffer(capacity: rows * columns)
        copy.pointer.update(from: matrix, count: rows * columns)
        for h in 0..<heads {
            for i in 0..<half {
                for j in 0..<2 {
                    (matrix + (h * d + j * half + i) * columns).update(from: copy.pointer + (h * d + 2 * i + j) * columns, count: columns)
                }
            }
        }
    }
}

extension GGUFCheckpoint {
    /// The tokenizer.ggml.* metadata (and tokenizer.chat_template) as plain values.
    public func tokenizerData() throws -> GGUFTokenizerData {
        let f = file
        guard let model = try f.string("tokenizer.ggml.model") else {
            throw CheckpointError(f.url, "has no tokenizer (tokenizer.ggml.model missing)")
        }
        return GGUFTokenizerData(
            model: model, preTokenizer: try f.string("tokenizer.ggml.pre"), tokens: try f.requireStrings("tokenizer.ggml.tokens"),
            tokenTypes: try f.integers("tokenizer.ggml.token_type"), merges: try f.strings("tokenizer.ggml.merges") ?? [],
            bosTokenId: try f.integer("tokenizer.ggml.bos_token_id"), eosTokenId: try f.integer("tokenizer.ggml.eos_token_id"),
            unknownTokenId: try f.integer("tokenizer.ggml.unknown_token_id"), paddingTokenId: try f.integer("tokenizer.ggml.padding_token_id"),
            addBOS: try f.bool("tokenizer.ggml.add_bos_token"), addEOS: try f.bool("tokenizer.ggml.add_eos_token"),
            addSpacePrefix: try f.bool("tokenizer.ggml.add_space_prefix"), chatTemplate: try f.string("tokenizer.chat_template"))
    }
}
