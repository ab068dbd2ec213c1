import Checkpoints
import Foundation
import Numerics

/// A BERT encoder (forward only), as sentence-transformers' all-MiniLM-L6-v2 uses it:
/// word + position + token-type embeddings → layer norm → N × [self-attention → add & norm →
/// GELU MLP → add & norm]. Sequences are packed; each attends only within itself, so no
/// padding or attention mask is needed.
public final class BertEncoder: @unchecked Sendable {
    public let hiddenSize: Int
    public let headCount: Int
    public let intermediateSize: Int
    public let layerCount: Int
    public let maxPositions: Int
    public let vocabularySize: Int
    let epsilon: Float
    private let parameters: ParameterStore

    public init(directory: URL) throws {
        let config = try BertConfig.load(from: directory.appendingPathComponent("config.json"))
        hiddenSize = config.hidden_size
        headCount = config.num_attention_heads
        intermediateSize = config.intermediate_size
        layerCount = config.num_hidden_layers
        maxPositions = config.max_position_embeddings
        vocabularySize = config.vocab_size
        epsilon = Float(config.layerNormEpsilon)
        let H = hiddenSize, I = intermediateSize
        var layout: [(name: String, shape: [Int])] = [
            ("embeddings.word_embeddings.weight", [vocabularySize, H]), ("embeddings.position_embeddings.weight", [maxPositions, H]),
            ("embeddings.token_type_embeddings.weight", [config.type_vocab_size, H]),
            ("embeddings.LayerNorm.weight", [H]), ("embeddings.LayerNorm.bias", [H]),
        ]
        for l in 0..<layerCount {
            let p = "encoder.layer.\(l)."
            for part in ["query", "key", "value"] {
                layout += [(p + "attention.self.\(part).weight", [H, H]), (p + "attention.self.\(part).bias", [H])]
            }
            layout += [
                (p + "attention.output.dense.weight", [H, H]), (p + "attention.output.dense.bias", [H]),
                (p + "attention.output.LayerNorm.weight", [H]), (p + "attention.output.LayerNorm.bias", [H]),
                (p + "intermediate.dense.weight", [I, H]), (p + "intermediate.dense.bias", [I]),
                (p + "output.dense.weight", [H, I]), (p + "output.dense.bias", [H]),
                (p + "output.LayerNorm.weight", [H]), (p + "output.LayerNorm.bias", [H]),
            ]
        }
        parameters = ParameterStore(layout: layout)
        let weightsURL = directory.appendingPathComponent("model.safetensors")
        let file = try SafeTensorsFile(url: weightsURL)
        // Checkpoints saved from BertModel have no prefix; those from a task model prefix "bert.".
        let prefix = file.info("embeddings.word_embeddings.weight") == nil && file.info("bert.embeddings.word_embeddings.weight") != nil ? "bert." : ""
        for entry in parameters.entries {
            let info = try file.require(prefix + entry.name)
            guard info.shape == entry.shape else {
                throw CheckpointError(weightsURL, "tensor \(entry.name) has shape \(info.shape), but config.json implies \(entry.shape)")
            }
            try file.readFloats(prefix + entry.name, into: parameters.values + entry.offset, count: entry.count)
        }
    }

    private func p(_ name: String) -> UnsafeMutablePointer<Float> { parameters.pointer(name) }

    /// Final hidden states [tokens, hidden] of the packed sequences.
    public func encode(_ sequences: [[Int]]) throws -> [Float] {
        let batch = TokenBatch(sequences: sequences)
        let N = batch.tokenCount, H = hiddenSize, I = intermediateSize, d = H / headCount
        for s in 0..<batch.sequenceCount where batch.range(ofSequence: s).count > maxPositions {
            throw InputError("a sequence has more than \(maxPositions) tokens")
        }
        if let bad = batch.tokens.first(where: { $0 < 0 || Int($0) >= vocabularySize }) { throw InputError("token id \(bad) out of range") }
        var x = [Float](repeating: 0, count: N * H), attention = x, projected = x, scratch = x
        var hidden = [Float](repeating: 0, count: N * I)
        var q = x, k = x, v = x
        var mean = [Float](repeating: 0, count: N), rstd = mean
        let word = p("embeddings.word_embeddings.weight"), position = p("embeddings.position_embeddings.weight")
        let type = p("embeddings.token_type_embeddings.weight")
        for s in 0..<batch.sequenceCount {
            for (t, row) in batch.range(ofSequence: s).enumerated() {
                let token = Int(batch.tokens[row])
                for j in 0..<H { scratch[row * H + j] = word[token * H + j] + position[t * H + j] + type[j] }
            }
        }
        LayerNorm.forward(scratch, weight: p("embeddings.LayerNorm.weight"), bias: p("embeddings.LayerNorm.bias"), &x, mean: &mean,
                          reciprocalStd: &rstd, rows: N, cols: H, epsilon: epsilon)
        var scores = [Float](repeating: 0, count: batch.longestSequence * batch.longestSequence)
        let scale = 1 / Float(d).squareRoot()
        for l in 0..<layerCount {
            let prefix = "encoder.layer.\(l)."
            Linear.forward(input: x, weight: p(prefix + "attention.self.query.weight"), bias: p(prefix + "attention.self.query.bias"),
                           output: &q, rows: N, inputSize: H, outputSize: H)
            Linear.forward(input: x, weight: p(prefix + "attention.self.key.weight"), bias: p(prefix + "attention.self.key.bias"),
                           output: &k, rows: N, inputSize: H, outputSize: H)
            Linear.forward(input: x, weight: p(prefix + "attention.self.value.weight"), bias: p(prefix + "attention.self.value.bias"),
                           output: &v, rows: N, inputSize: H, outputSize: H)
            // Bidirectional attention within each sequence, head by head.
            for s in 0..<batch.sequenceCount {
                let rows = batch.range(ofSequence: s), T = rows.count, start = rows.lowerBound
                for h in 0..<headCount {
                    q.withUnsafeBufferPointer { qp in k.withUnsafeBufferPointer { kp in scores.withUnsafeMutableBufferPointer { sp in
                        Float.gemm(.none, .transposed, m: T, n: T, k: d, alpha: scale, a: qp.baseAddress! + start * H + h * d, lda: H,
                                   b: kp.baseAddress! + start * H + h * d, ldb: H, beta: 0, c: sp.baseAddress!, ldc: T)
                        Softmax.forward(sp.baseAddress!, sp.baseAddress!, rows: T, cols: T)
                    } } }
                    scores.withUnsafeBufferPointer { sp in v.withUnsafeBufferPointer { vp in attention.withUnsafeMutableBufferPointer { ap in
                        Float.gemm(.none, .none, m: T, n: d, k: T, alpha: 1, a: sp.baseAddress!, lda: T, b: vp.baseAddress! + start * H + h * d,
                                   ldb: H, beta: 0, c: ap.baseAddress! + start * H + h * d, ldc: H)
                    } } }
                }
            }
            Linear.forward(input: attention, weight: p(prefix + "attention.output.dense.weight"), bias: p(prefix + "attention.output.dense.bias"),
                           output: &projected, rows: N, inputSize: H, outputSize: H)
            for i in 0..<(N * H) { scratch[i] = projected[i] + x[i] }
            LayerNorm.forward(scratch, weight: p(prefix + "attention.output.LayerNorm.weight"), bias: p(prefix + "attention.output.LayerNorm.bias"),
                              &x, mean: &mean, reciprocalStd: &rstd, rows: N, cols: H, epsilon: epsilon)
            Linear.forward(input: x, weight: p(prefix + "intermediate.dense.weight"), bias: p(prefix + "intermediate.dense.bias"),
                           output: &hidden, rows: N, inputSize: H, outputSize: I)
            GELU.exact.forward(hidden, &hidden, count: N * I)
            Linear.forward(input: hidden, weight: p(prefix + "output.dense.weight"), bias: p(prefix + "output.dense.bias"),
                           output: &projected, rows: N, inputSize: I, outputSize: H)
            for i in 0..<(N * H) { scratch[i] = projected[i] + x[i] }
            LayerNorm.forward(scratch, weight: p(prefix + "output.LayerNorm.weight"), bias: p(prefix + "output.LayerNorm.bias"),
                              &x, mean: &mean, reciprocalStd: &rstd, rows: N, cols: H, epsilon: epsilon)
        }
        return x
    }
}
