import Foundation
import Numerics

/// Where one head's queries, keys or values sit in a projection's output: row t of head h
/// starts at `base + t·rowStride + h·headStride`. The three layouts the families use (fused
/// [head][q, k, v], fused [q | k | v], separate matrices) are all views of this kind, so one
/// attention kernel serves them all.
struct HeadView {
    let base: UnsafeMutablePointer<Float>
    let rowStride: Int
    let headStride: Int

    @inline(__always)
    func head(_ h: Int, row: Int) -> UnsafeMutablePointer<Float> { base + row * rowStride + h * headStride }
}

/// Queries, keys and values of one batch in some layout (see `HeadView`).
struct QKVViews {
    let queries: HeadView
    let keys: HeadView
    let values: HeadView
}

/// Causal self-attention over a packed batch, multi-head or grouped-query (query head h reads
/// key/value head h / (headCount / keyValueHeadCount), as transformers' `repeat_kv`), with
/// rotary embedding applied to q and k in place, optional ALiBi, and an optional sliding
/// window. Forward and backward side by side.
struct CausalSelfAttention {
    let headCount: Int
    let keyValueHeadCount: Int
    let headSize: Int
    let rotary: RotaryEmbedding
    /// BLOOM's ALiBi: head h adds slope_h · j to the score of key position j (a per-row
    /// constant would not change the softmax, so this is the usual −slope · (i − j)). The bias
    /// does not depend on q or k, so the backward pass is unchanged.
    var alibiSlopes: [Float]? = nil
    /// Keys more than `window − 1` positions before the query are masked (Mistral).
    var window: Int? = nil
    /// Queries per block of the score matrix (see `blocks`).
    var blockRows = 64

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

    var outputWidth: Int { headCount * headSize }
    var scale: Float { 1 / Float(headSize).squareRoot() }
    private var group: Int { headCount / keyValueHeadCount }

    /// Number of attention-probability floats a batch needs: heads × Σ T_s².
    func probabilityCount(_ batch: TokenBatch) -> Int {
        (0..<batch.sequenceCount).reduce(0) { $0 + headCount * batch.range(ofSequence: $1).count * batch.range(ofSequence: $1).count }
    }

    /// The first key position query i attends to.
    @inline(__always)
    private func firstKey(_ i: Int) -> Int { window.map { max(0, i - $0 + 1) } ?? 0 }

    /// Rotates q and k (in place), attends, and writes the heads' outputs to `output`
    /// [N, headCount · headSize]. Saves the probabilities [sequence][head][T × T] for backward.
    func forward(_ qkv: QKVViews, probabilities: UnsafeMutablePointer<Float>, output: UnsafeMutablePointer<Float>, batch: TokenBatch) {
        let q = qkv.queries, k = qkv.keys, v = qkv.values
        var probabilityOffset = 0
        for s in 0..<batch.sequenceCount {
            let rows = batch.range(ofSequence: s)
            let T = rows.count
            if rotary.dimensions > 0 {
                for t in 0..<T {
                    for h in 0..<headCount { rotary.rotate(q.head(h, row: rows.lowerBound + t), position: t) }
                    for h in 0..<keyValueHeadCount { rotary.rotate(k.head(h, row: rows.lowerBound + t), position: t) }
                }
            }
            for h in 0..<headCount {
                let kv = h / group, start = rows.lowerBound
                let p = probabilities + probabilityOffset
                probabilityOffset += T * T
                for block in blocks(T) {
                    // scores = q kᵀ / √d for this block of queries and the keys they can see.
                    Float.gemm(.none, .transposed, m: block.rows.count, n: block.keys.count, k: headSize, alpha: scale,
                               a: q.head(h, row: start + block.rows.lowerBound), lda: q.rowStride,
                               b: k.head(kv, row: start + block.keys.lowerBound), ldb: k.rowStride,
                               beta: 0, c: p + block.rows.lowerBound * T + block.keys.lowerBound, ldc: T)
                    for i in block.rows {
                        let row = p + i * T
                        if let alibiSlopes {
                            for j in 0...i { row[j] += alibiSlopes[h] * Float(j) }
                        }
                        let first = firstKey(i)
                        row.update(repeating: 0, count: first)
                        Softmax.forward(row + first, row + first, rows: 1, cols: i + 1 - first)
                        (row + i + 1).update(repeating: 0, count: T - i - 1)
                    }
                    Float.gemm(.none, .none, m: block.rows.count, n: headSize, k: block.keys.count, alpha: 1,
                               a: p + block.rows.lowerBound * T + block.keys.lowerBound, lda: T,
                               b: v.head(kv, row: start + block.keys.lowerBound), ldb: v.rowStride, beta: 0,
                               c: output + (start + block.rows.lowerBound) * outputWidth + h * headSize, ldc: outputWidth)
                }
            }
        }
    }

    /// Query rows in blocks of `blockRows`, each with the keys any of its rows attends to: a
    /// causal mask (and a window) leave the rest of the T × T scores unused, so the products
    /// skip them — about 40 % of attention's arithmetic at T = 512. Results do not depend on
    /// the block size.
    func blocks(_ T: Int) -> [(rows: Range<Int>, keys: Range<Int>)] {
        stride(from: 0, to: T, by: blockRows).map { first in
            let end = min(T, first + blockRows)
            return (first..<end, firstKey(first)..<end)
        }
    }

    /// Given ∂L/∂output, writes ∂L/∂q, ∂L/∂k, ∂L/∂v (into `gradients`, a layout like `qkv`'s)
    /// with respect to the *pre-rotary* q and k. `qkv` must hold the rotated values saved by
    /// `forward`; `scratch` needs T_max².
    func backward(
        _ qkv: QKVViews, probabilities: UnsafePointer<Float>, outputGradient: UnsafePointer<Float>,
        gradients: QKVViews, scratch: UnsafeMutablePointer<Float>, batch: TokenBatch
    ) {
        let q = qkv.queries, k = qkv.keys, v = qkv.values
        let dq = gradients.queries, dk = gradients.keys, dv = gradients.values
        var probabilityOffset = 0
        for s in 0..<batch.sequenceCount {
            let rows = batch.range(ofSequence: s)
            let T = rows.count
            // Keys and values shared by a group of query heads collect every head's gradient.
            for t in rows {
                for h in 0..<keyValueHeadCount {
                    dk.head(h, row: t).update(repeating: 0, count: headSize)
                    dv.head(h, row: t).update(repeating: 0, count: headSize)
                }
            }
            for h in 0..<headCount {
                let kv = h / group, start = rows.lowerBound
                let dOut = outputGradient + start * outputWidth + h * headSize
                let p = probabilities + probabilityOffset
                probabilityOffset += T * T
                for block in blocks(T) {
                    let r = block.rows, keys = block.keys
                    let pBlock = p + r.lowerBound * T + keys.lowerBound, dOutBlock = dOut + r.lowerBound * outputWidth
                    // dV += Pᵀ dOut; dP = dOut Vᵀ
                    Float.gemm(.transposed, .none, m: keys.count, n: headSize, k: r.count, alpha: 1, a: pBlock, lda: T,
                               b: dOutBlock, ldb: outputWidth, beta: 1, c: dv.head(kv, row: start + keys.lowerBound), ldc: dv.rowStride)
                    let dp = scratch + r.lowerBound * T + keys.lowerBound
                    Float.gemm(.none, .transposed, m: r.count, n: keys.count, k: headSize, alpha: 1, a: dOutBlock, lda: outputWidth,
                               b: v.head(kv, row: start + keys.lowerBound), ldb: v.rowStride, beta: 0, c: dp, ldc: T)
                    // Softmax backward on each row's attended keys; the block's other entries get zero gradient.
                    for i in r {
                        let row = scratch + i * T, first = firstKey(i)
                        (row + keys.lowerBound).update(repeating: 0, count: first - keys.lowerBound)
                        Softmax.backward(output: p + i * T + first, outputGradient: row + first, inputGradient: row + first,
                                         rows: 1, cols: i + 1 - first)
                        (row + i + 1).update(repeating: 0, count: keys.upperBound - i - 1)
                    }
                    // dQ = dS K / √d; dK += dSᵀ Q / √d
                    Float.gemm(.none, .none, m: r.count, n: headSize, k: keys.count, alpha: scale, a: dp, lda: T,
                               b: k.head(kv, row: start + keys.lowerBound), ldb: k.rowStride, beta: 0,
                               c: dq.head(h, row: start + r.lowerBound), ldc: dq.rowStride)
                    Float.gemm(.transposed, .none, m: keys.count, n: headSize, k: r.count, alpha: scale, a: dp, lda: T,
                               b: q.head(h, row: start + r.lowerBound), ldb: q.rowStride, beta: 1,
                               c: dk.head(kv, row: start + keys.lowerBound), ldc: dk.rowStride)
                }
            }
            if rotary.dimensions > 0 {
                for t in 0..<T {
                    for h in 0..<headCount { rotary.rotate(dq.head(h, row: rows.lowerBound + t), position: t, inverse: true) }
                    for h in 0..<keyValueHeadCount { rotary.rotate(dk.head(h, row: rows.lowerBound + t), position: t, inverse: true) }
                }
            }
        }
    }
}
