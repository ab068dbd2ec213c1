import Foundation
import Models

/// An independent, deliberately naive Float64 GPT-NeoX forward pass (loops, no BLAS, no
/// packing), written from the architecture's definition. Finite differences of its loss are
/// the reference for the Float32 backward pass.
struct ReferenceGPTNeoX {
    let h: DecoderHyperparameters
    var parameters: [String: [Double]]

    init(_ model: DecoderModel) {
        h = model.hyperparameters
        var parameters: [String: [Double]] = [:]
        for entry in model.parameters.entries {
            parameters[entry.name] = (0..<entry.count).map { Double(model.parameters.values[entry.offset + $0]) }
        }
        self.parameters = parameters
    }

    private func p(_ name: String) -> [Double] { parameters[name]! }

    private func layerNorm(_ x: [Double], _ prefix: String) -> [Double] {
        let w = p(prefix + ".weight"), b = p(prefix + ".bias")
        let mean = x.reduce(0, +) / Double(x.count)
        let variance = x.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(x.count)
        let rstd = 1 / (variance + Double(h.normEpsilon)).squareRoot()
        return x.indices.map { (x[$0] - mean) * rstd * w[$0] + b[$0] }
    }

    /// y = W x + b with W stored [out, in].
    private func linear(_ x: [Double], _ prefix: String, bias: Bool = true) -> [Double] {
        let w = p(prefix + ".weight")
        let outputs = w.count / x.count
        let b = bias ? p(prefix + ".bias") : [Double](repeating: 0, count: outputs)
        var y = b
        for o in 0..<outputs {
            for i in 0..<x.count { y[o] += w[o * x.count + i] * x[i] }
        }
        return y
    }

    private func rotate(_ v: inout ArraySlice<Double>, position: Int) {
        let d = h.rotaryDimensions, half = d / 2, start = v.startIndex
        for i in 0..<half {
            let angle = Double(position) * pow(h.rotaryBase, -Double(2 * i) / Double(d))
            let x1 = v[start + i], x2 = v[start + i + half]
            v[start + i] = x1 * cos(angle) - x2 * sin(angle)
            v[start + i + half] = x2 * cos(angle) + x1 * sin(angle)
        }
    }

    private func gelu(_ x: Double) -> Double {
        guard case .gelu(let activation) = h.feedForward else { fatalError("a GELU MLP") }
        switch activation {
        case .exact: return 0.5 * x * (1 + erf(x / 2.0.squareRoot()))
        case .tanhApproximation: return 0.5 * x * (1 + tanh((2 / Double.pi).squareRoot() * (x + 0.044715 * x * x * x)))
        }
    }

    private func attention(_ xs: [[Double]], layer l: Int) -> [[Double]] {
        let H = h.hiddenSize, d = h.headSize, T = xs.count
        let prefix = "gpt_neox.layers.\(l).attention."
        var qkv = xs.map { linear($0, prefix + "query_key_value", bias: h.qkvBias) }
        for t in 0..<T {
            for head in 0..<h.headCount {
                var q = qkv[t][(head * 3 * d)..<(head * 3 * d + d)]
                var k = qkv[t][(head * 3 * d + d)..<(head * 3 * d + 2 * d)]
                rotate(&q, position: t); rotate(&k, position: t)
                qkv[t].replaceSubrange((head * 3 * d)..<(head * 3 * d + d), with: q)
                qkv[t].replaceSubrange((head * 3 * d + d)..<(head * 3 * d + 2 * d), with: k)
            }
        }
        var out = [[Double]](repeating: [Double](repeating: 0, count: H), count: T)
        for head in 0..<h.headCount {
            let qo = head * 3 * d, ko = qo + d, vo = qo + 2 * d
            for i in 0..<T {
                var scores = [Double](repeating: 0, count: i + 1)
                for j in 0...i {
                    for c in 0..<d { scores[j] += qkv[i][qo + c] * qkv[j][ko + c] }
                    scores[j] /= Double(d).squareRoot()
                }
                let m = scores.max()!
                scores = scores.map { exp($0 - m) }
                let z = scores.reduce(0, +)
                for j in 0...i { for c in 0..<d { out[i][head * d + c] += scores[j] / z * qkv[j][vo + c] } }
            }
        }
        return out.map { linear($0, prefix + "dense", bias: h.qkvBias) }
    }

    private func mlp(_ x: [Double], layer l: Int) -> [Double] {
        let prefix = "gpt_neox.layers.\(l).mlp."
        return linear(linear(x, prefix + "dense_h_to_4h").map(gelu), prefix + "dense_4h_to_h")
    }

    /// Logits [T][V] of one sequence.
    func logits(_ tokens: [Int]) -> [[Double]] {
        let H = h.hiddenSize
        let embedding = p("gpt_neox.embed_in.weight")
        var xs = tokens.map { Array(embedding[($0 * H)..<($0 * H + H)]) }
        for l in 0..<h.layerCount {
            let prefix = "gpt_neox.layers.\(l)."
            let attended = attention(xs.map { layerNorm($0, prefix + "input_layernorm") }, layer: l)
            if h.parallelResidual {
                xs = xs.indices.map { t in
                    let m = mlp(layerNorm(xs[t], prefix + "post_attention_layernorm"), layer: l)
                    return (0..<H).map { xs[t][$0] + attended[t][$0] + m[$0] }
                }
            } else {
                xs = xs.indices.map { t in
                    let mid = (0..<H).map { xs[t][$0] + attended[t][$0] }
                    let m = mlp(layerNorm(mid, prefix + "post_attention_layernorm"), layer: l)
                    return (0..<H).map { mid[$0] + m[$0] }
                }
            }
        }
        let unembedding = p(h.tiedEmbeddings ? "gpt_neox.embed_in.weight" : "embed_out.weight")
        return xs.map { x in
            let normed = layerNorm(x, "gpt_neox.final_layer_norm")
            var row = [Double](repeating: 0, count: h.vocabularySize)
            for v in 0..<h.vocabularySize {
                for c in 0..<H { row[v] += unembedding[v * H + c] * normed[c] }
            }
            return row
        }
    }

    /// Summed next-token cross-entropy over all sequences.
    func loss(_ sequences: [[Int]]) -> Double {
        sequences.reduce(0.0) { total, tokens in
            let rows = logits(tokens)
            return total + (0..<(tokens.count - 1)).reduce(0.0) { sum, t in
                let m = rows[t].max()!
                let logZ = m + log(rows[t].map { exp($0 - m) }.reduce(0, +))
                return sum + logZ - rows[t][tokens[t + 1]]
            }
        }
    }
}
