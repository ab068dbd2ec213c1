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

    /// Floats of softmax statistics the forward pass keeps per batch: two per query row and head.
    func statisticsCount(_ batch: TokenBatch) -> Int { 2 * headCount * batch.tokenCount }

    /// Scratch floats the passes need: two blocks of scores (forward uses one).
    func scratchCount(_ batch: TokenBatch) -> Int { 2 * blockRows * batch.longestSequence }

    /// The first key position query i attends to.
    @inline(__always)
    private func firstKey(_ i: Int) -> Int { window.map { max(0, i - $0 + 1) } ?? 0 }

    /// One block's probabilities, written to `p` (rows of stride `keys.count`): the scores
    /// q kᵀ / √d (+ ALiBi) of the block's queries against the keys they can see, then a softmax
    /// over each row's attended keys (zero elsewhere). With `statistics` to fill, each row's
    /// maximum and 1 / partition are saved; otherwise they are read, so that the backward pass
    /// recomputes exactly the forward's probabilities instead of keeping T × T of them.
    @inline(__always)
    private func probabilities(
        _ qkv: QKVViews, head h: Int, sequenceStart start: Int, block: (rows: Range<Int>, keys: Range<Int>),
        into p: UnsafeMutablePointer<Float>, statistics: UnsafeMutablePointer<Float>, tokens N: Int, saving: Bool
    ) {
        let q = qkv.queries, k = qkv.keys, width = block.keys.count
        Float.gemm(.none, .transposed, m: block.rows.count, n: width, k: headSize, alpha: scale,
                   a: q.head(h, row: start + block.rows.lowerBound), lda: q.rowStride,
                   b: k.head(h / group, row: start + block.keys.lowerBound), ldb: k.rowStride, beta: 0, c: p, ldc: width)
        let maxima = statistics + h * N, reciprocals = statistics + (headCount + h) * N
        for i in block.rows {
            let row = p + (i - block.rows.lowerBound) * width, first = firstKey(i) - block.keys.lowerBound
            let last = i - block.keys.lowerBound   // the query's own position, inclusive
            if let alibiSlopes {
                for j in 0...last { row[j] += alibiSlopes[h] * Float(j + block.keys.lowerBound) }
            }
            row.update(repeating: 0, count: first)
            let count = last + 1 - first, t = start + i
            if saving {
                let (maximum, partition) = Softmax.shiftedExponentials(row + first, count: count, into: row + first)
                maxima[t] = maximum
                reciprocals[t] = 1 / partition
            } else {
                _ = Softmax.shiftedExponentials(row + first, count: count, into: row + first, maximum: maxima[t])
            }
            let reciprocal = reciprocals[t]
            forEachChunk(count) { j, lanes in storeLanes(loadLanes(row + first + j, lanes) * reciprocal, row + first + j, lanes) }
            (row + last + 1).update(repeating: 0, count: width - last - 1)
        }
    }

    /// Rotates q and k (in place), attends, and writes the heads' outputs to `output`
    /// [N, headCount · headSize]. Keeps each row's softmax statistics ([2][head][N]) for the
    /// backward pass; `scratch` needs `scratchCount` floats.
    func forward(
        _ qkv: QKVViews, statistics: UnsafeMutablePointer<Float>, output: UnsafeMutablePointer<Float>,
        scratch: UnsafeMutablePointer<Float>, batch: TokenBatch
    ) {
        let q = qkv.queries, k = qkv.keys, v = qkv.values, N = batch.tokenCount
        for s in 0..<batch.sequenceCount {
            let rows = batch.range(ofSequence: s)
            let T = rows.count
            rotate(queries: q, keys: k, rows: rows)
            let rowBlocks = blocks(T)
            for h in 0..<headCount {
                let start = rows.lowerBound
                for block in rowBlocks {
                    probabilities(qkv, head: h, sequenceStart: start, block: block, into: scratch, statistics: statistics, tokens: N,
                                  saving: true)
                    Float.gemm(.none, .none, m: block.rows.count, n: headSize, k: block.keys.count, alpha: 1,
                               a: scratch, lda: block.keys.count, b: v.head(h / group, row: start + block.keys.lowerBound),
                               ldb: v.rowStride, beta: 0,
                               c: output + (start + block.rows.lowerBound) * outputWidth + h * headSize, ldc: outputWidth)
                }
            }
        }
    }

    /// Rotates every head's queries and keys of one sequence's `rows` in place (or back, with
    /// `inverse`): the forward's rotary embedding, its backward's and its tangent's.
    private func rotate(queries q: HeadView, keys k: HeadView, rows: Range<Int>, inverse: Bool = false) {
        guard rotary.dimensions > 0 else { return }
        for (t, row) in rows.enumerated() {
            for h in 0..<headCount { rotary.rotate(q.head(h, row: row), position: t, inverse: inverse) }
            for h in 0..<keyValueHeadCount { rotary.rotate(k.head(h, row: row), position: t, inverse: inverse) }
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
    /// with respect to the *pre-rotary* q and k. `qkv` must hold the rotated values and
    /// `statistics` the softmax statistics saved by `forward`; each block's probabilities are
    /// recomputed from them. `scratch` needs `scratchCount` floats.
    func backward(
        _ qkv: QKVViews, statistics: UnsafeMutablePointer<Float>, outputGradient: UnsafePointer<Float>,
        gradients: QKVViews, scratch: UnsafeMutablePointer<Float>, batch: TokenBatch
    ) {
        let q = qkv.queries, k = qkv.keys, v = qkv.values, N = batch.tokenCount
        let dq = gradients.queries, dk = gradients.keys, dv = gradients.values
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
            let rowBlocks = blocks(T)
            for h in 0..<headCount {
                let kv = h / group, start = rows.lowerBound
                let dOut = outputGradient + start * outputWidth + h * headSize
                for block in rowBlocks {
                    let r = block.rows, keys = block.keys, width = keys.count
                    let p = scratch, dp = scratch + blockRows * T
                    probabilities(qkv, head: h, sequenceStart: start, block: block, into: p, statistics: statistics, tokens: N,
                                  saving: false)
                    let dOutBlock = dOut + r.lowerBound * outputWidth
                    // dV += Pᵀ dOut; dP = dOut Vᵀ
                    Float.gemm(.transposed, .none, m: width, n: headSize, k: r.count, alpha: 1, a: p, lda: width,
                               b: dOutBlock, ldb: outputWidth, beta: 1, c: dv.head(kv, row: start + keys.lowerBound), ldc: dv.rowStride)
                    Float.gemm(.none, .transposed, m: r.count, n: width, k: headSize, alpha: 1, a: dOutBlock, lda: outputWidth,
                               b: v.head(kv, row: start + keys.lowerBound), ldb: v.rowStride, beta: 0, c: dp, ldc: width)
                    // Softmax backward on each row's attended keys; the block's other entries get zero gradient.
                    for i in r {
                        let row = dp + (i - r.lowerBound) * width, first = firstKey(i) - keys.lowerBound, last = i - keys.lowerBound
                        row.update(repeating: 0, count: first)
                        Softmax.backward(output: p + (i - r.lowerBound) * width + first, outputGradient: row + first,
                                         inputGradient: row + first, rows: 1, cols: last + 1 - first)
                        (row + last + 1).update(repeating: 0, count: width - last - 1)
                    }
                    // dQ = dS K / √d; dK += dSᵀ Q / √d
                    Float.gemm(.none, .none, m: r.count, n: headSize, k: width, alpha: scale, a: dp, lda: width,
                               b: k.head(kv, row: start + keys.lowerBound), ldb: k.rowStride, beta: 0,
                               c: dq.head(h, row: start + r.lowerBound), ldc: dq.rowStride)
                    Float.gemm(.transposed, .none, m: width, n: headSize, k: r.count, alpha: scale, a: dp, lda: width,
                               b: q.head(h, row: start + r.lowerBound), ldb: q.rowStride, beta: 1,
                               c: dk.head(kv, row: start + keys.lowerBound), ldc: dk.rowStride)
                }
            }
            rotate(queries: dq, keys: dk, rows: rows, inverse: true)
        }
    }

    /// Forward mode: given the tangents of the *pre-rotary* q and k and of v (`tangents`, a
    /// layout like `qkv`'s; its q and k are rotated in place), writes the heads' output tangent
    /// [N, headCount · headSize]. With P = softmax(S) recomputed from the forward's statistics,
    /// dS = (dQ Kᵀ + Q dKᵀ) / √d, dP = P ⊙ (dS − ⟨P, dS⟩) (the softmax Jacobian is symmetric, so
    /// the backward's kernel applies) and dO = dP V + P dV. ALiBi's bias is constant.
    func tangent(
        _ qkv: QKVViews, statistics: UnsafeMutablePointer<Float>, tangents: QKVViews, outputTangent: UnsafeMutablePointer<Float>,
        scratch: UnsafeMutablePointer<Float>, batch: TokenBatch
    ) {
        let q = qkv.queries, k = qkv.keys, v = qkv.values, N = batch.tokenCount
        let dq = tangents.queries, dk = tangents.keys, dv = tangents.values
        for s in 0..<batch.sequenceCount {
            let rows = batch.range(ofSequence: s)
            let T = rows.count
            rotate(queries: dq, keys: dk, rows: rows)
            for h in 0..<headCount {
                let kv = h / group, start = rows.lowerBound
                for block in blocks(T) {
                    let r = block.rows, keys = block.keys, width = keys.count
                    let p = scratch, dp = scratch + blockRows * T
                    probabilities(qkv, head: h, sequenceStart: start, block: block, into: p, statistics: statistics, tokens: N,
                                  saving: false)
                    // dS = (dQ Kᵀ + Q dKᵀ) / √d
                    Float.gemm(.none, .transposed, m: r.count, n: width, k: headSize, alpha: scale,
                               a: dq.head(h, row: start + r.lowerBound), lda: dq.rowStride,
                               b: k.head(kv, row: start + keys.lowerBound), ldb: k.rowStride, beta: 0, c: dp, ldc: width)
                    Float.gemm(.none, .transposed, m: r.count, n: width, k: headSize, alpha: scale,
                               a: q.head(h, row: start + r.lowerBound), lda: q.rowStride,
                               b: dk.head(kv, row: start + keys.lowerBound), ldb: dk.rowStride, beta: 1, c: dp, ldc: width)
                    for i in r {
                        let row = dp + (i - r.lowerBound) * width, first = firstKey(i) - keys.lowerBound, last = i - keys.lowerBound
                        row.update(repeating: 0, count: first)
                        Softmax.backward(output: p + (i - r.lowerBound) * width + first, outputGradient: row + first,
                                         inputGradient: row + first, rows: 1, cols: last + 1 - first)
                        (row + last + 1).update(repeating: 0, count: width - last - 1)
                    }
                    // dO = dP V + P dV
                    let out = outputTangent + (start + r.lowerBound) * outputWidth + h * headSize
                    Float.gemm(.none, .none, m: r.count, n: headSize, k: width, alpha: 1, a: dp, lda: width,
                               b: v.head(kv, row: start + keys.lowerBound), ldb: v.rowStride, beta: 0, c: out, ldc: outputWidth)
                    Float.gemm(.none, .none, m: r.count, n: headSize, k: width, alpha: 1, a: p, lda: width,
                               b: dv.head(kv, row: start + keys.lowerBound), ldb: dv.rowStride, beta: 1, c: out, ldc: outputWidth)
                }
            }
        }
    }
}
