import Foundation
import Numerics

/// Multi-head causal self-attention over a packed batch, with GPT-NeoX's fused QKV layout:
/// row t of `qkv` holds, for head h, q at [h·3·d, h·3·d + d), k at the next d features and
/// v at the d after (d = head size). Rotary embedding is applied to q and k in place before
/// attention. Forward and backward side by side.
struct CausalSelfAttention {
    let headCount: Int
    let headSize: Int
    let rotary: RotaryEmbedding
    /// BLOOM's ALiBi: head h adds slope_h · j to the score of key position j (a per-row
    /// constant would not change the softmax, so this is the usual −slope · (i − j)). The bias
    /// does not depend on q or k, so the backward pass is unchanged.
    var alibiSlopes: [Float]? = nil

    /// transformers' `build_alibi_tensor` slopes: a geometric sequence for the largest power of
    /// two ≤ heads, interleaved with a second one for the remaining heads.
    static func alibiSlopes(heads: Int) -> [Float] {
        let closest = 1 << Int(Foundation.log2(Double(heads)).rounded(.down))
        let base = Foundation.pow(2.0, -Foundation.pow(2.0, -(Foundation.log2(Double(closest)) - 3)))
        var slopes = (1...closest).map { Float(Foundation.pow(base, Double($0))) }
        if closest != heads {
            let extraBase = Foundation.pow(2.0, -Foundation.pow(2.0, -(Foundation.log2(Double(2 * closest)) - 3)))
            let remaining = min(closest, heads - closest)
            slopes += stride(from: 1, to: 1 + 2 * remaining, by: 2).map { Float(Foundation.pow(extraBase, Double($0))) }
        }
        return slopes
    }

    var hiddenSize: Int { headCount * headSize }
    var scale: Float { 1 / Float(headSize).squareRoot() }

    /// Number of attention-probability floats a batch needs: heads × Σ T_s².
    func probabilityCount(_ batch: TokenBatch) -> Int {
        (0..<batch.sequenceCount).reduce(0) { $0 + headCount * batch.range(ofSequence: $1).count * batch.range(ofSequence: $1).count }
    }

    /// Rotates q and k of every head in `qkv` [N, 3H] (in place), attends, and writes the heads'
    /// outputs to `output` [N, H]. Saves the probabilities [sequence][head][T × T] for backward.
    func forward(
        qkv: UnsafeMutablePointer<Float>, probabilities: UnsafeMutablePointer<Float>,
        output: UnsafeMutablePointer<Float>, batch: TokenBatch
    ) {
        let rowStride = 3 * hiddenSize
        var probabilityOffset = 0
        for s in 0..<batch.sequenceCount {
            let rows = batch.range(ofSequence: s)
            let T = rows.count
            for t in 0..<T {
                for h in 0..<headCount {
                    let q = qkv + (rows.lowerBound + t) * rowStride + h * 3 * headSize
                    rotary.rotate(q, position: t)
                    rotary.rotate(q + headSize, position: t)
                }
            }
            for h in 0..<headCount {
                let q = qkv + rows.lowerBound * rowStride + h * 3 * headSize
                let k = q + headSize, v = q + 2 * headSize
                let p = probabilities + probabilityOffset
                probabilityOffset += T * T
                // scores = q kᵀ / √d; only the lower triangle is used.
                Float.gemm(.none, .transposed, m: T, n: T, k: headSize, alpha: scale, a: q, lda: rowStride,
                           b: k, ldb: rowStride, beta: 0, c: p, ldc: T)
                for i in 0..<T {
                    let row = p + i * T
                    if let alibiSlopes {
                        for j in 0...i { row[j] += alibiSlopes[h] * Float(j) }
                    }
                    Softmax.forward(row, row, rows: 1, cols: i + 1)
                    (row + i + 1).update(repeating: 0, count: T - i - 1)
                }
                Float.gemm(.none, .none, m: T, n: headSize, k: T, alpha: 1, a: p, lda: T, b: v, ldb: rowStride,
                           beta: 0, c: output + rows.lowerBound * hiddenSize + h * headSize, ldc: hiddenSize)
            }
        }
    }

    /// Given ∂L/∂output [N, H], writes ∂L/∂qkv [N, 3H] with respect to the *pre-rotary* q and k
    /// (and v). `qkv` must hold the rotated values saved by `forward`; `scratch` needs T_max².
    func backward(
        qkv: UnsafePointer<Float>, probabilities: UnsafePointer<Float>,
        outputGradient: UnsafePointer<Float>, qkvGradient: UnsafeMutablePointer<Float>,
        scratch: UnsafeMutablePointer<Float>, batch: TokenBatch
    ) {
        let rowStride = 3 * hiddenSize
        var probabilityOffset = 0
        for s in 0..<batch.sequenceCount {
            let rows = batch.range(ofSequence: s)
            let T = rows.count
            for h in 0..<headCount {
                let columns = h * 3 * headSize
                let q = qkv + rows.lowerBound * rowStride + columns
                let k = q + headSize, v = q + 2 * headSize
                let dq = qkvGradient + rows.lowerBound * rowStride + columns
                let dk = dq + headSize, dv = dq + 2 * headSize
                let dOut = outputGradient + rows.lowerBound * hiddenSize + h * headSize
                let p = probabilities + probabilityOffset
                probabilityOffset += T * T
                // dV = Pᵀ dOut; dP = dOut Vᵀ
                Float.gemm(.transposed, .none, m: T, n: headSize, k: T, alpha: 1, a: p, lda: T, b: dOut,
                           ldb: hiddenSize, beta: 0, c: dv, ldc: rowStride)
                let dp = scratch
                Float.gemm(.none, .transposed, m: T, n: T, k: headSize, alpha: 1, a: dOut, lda: hiddenSize,
                           b: v, ldb: rowStride, beta: 0, c: dp, ldc: T)
                // Softmax backward on each causal row; masked entries get zero gradient.
                for i in 0..<T {
                    let row = dp + i * T
                    Softmax.backward(output: p + i * T, outputGradient: row, inputGradient: row, rows: 1, cols: i + 1)
                    (row + i + 1).update(repeating: 0, count: T - i - 1)
                }
                // dQ = dS K / √d; dK = dSᵀ Q / √d
                Float.gemm(.none, .none, m: T, n: headSize, k: T, alpha: scale, a: dp, lda: T, b: k,
                           ldb: rowStride, beta: 0, c: dq, ldc: rowStride)
                Float.gemm(.transposed, .none, m: T, n: headSize, k: T, alpha: scale, a: dp, lda: T, b: q,
                           ldb: rowStride, beta: 0, c: dk, ldc: rowStride)
            }
            for t in 0..<T {
                for h in 0..<headCount {
                    let dq = qkvGradient + (rows.lowerBound + t) * rowStride + h * 3 * headSize
                    rotary.rotate(dq, position: t, inverse: true)
                    rotary.rotate(dq + headSize, position: t, inverse: true)
                }
            }
        }
    }
}
