import Foundation

/// Row-wise softmax and log-softmax over contiguous rows of length `cols`.
public enum Softmax {
    /// out[r, :] = softmax(x[r, :]) for `rows` rows. `out` may alias `x`.
    public static func forward(
        _ x: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>, rows: Int, cols: Int
    ) {
        for r in 0..<rows {
            let row = x + r * cols
            let dst = out + r * cols
            let scale = 1 / shiftedExponentials(row, count: cols, into: dst).partition
            forEachChunk(cols) { i, lanes in storeLanes(loadLanes(dst + i, lanes) * scale, dst + i, lanes) }
        }
    }

    /// out[r, :] = log_softmax(x[r, :]) = x − max − log Σ exp(x − max). `out` may alias `x`.
    /// Returns nothing; the log-partition of each row is written to `logPartition` if given.
    public static func logForward(
        _ x: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>, rows: Int, cols: Int,
        logPartition: UnsafeMutablePointer<Float>? = nil
    ) {
        for r in 0..<rows {
            let row = x + r * cols
            let dst = out + r * cols
            let logZ = logSumExp(row, count: cols)
            logPartition?[r] = logZ
            forEachChunk(cols) { i, lanes in storeLanes(loadLanes(row + i, lanes) - logZ, dst + i, lanes) }
        }
    }

    /// The log-sum-exp of one row, log Σ exp(x), computed stably as max + log Σ exp(x − max).
    public static func logSumExp(_ x: UnsafePointer<Float>, count: Int) -> Float {
        let (maximum, partition) = shiftedExponentials(x, count: count, into: nil)
        return maximum + Foundation.log(partition)
    }

    /// The shifted exponentials of one row, exp(x − max), written to `into` when given (which
    /// may alias `x`), and their sum: what softmax, log-softmax and cross-entropy all start from.
    /// log p(x_i) = x_i − maximum − log(partition).
    public static func shiftedExponentials(
        _ x: UnsafePointer<Float>, count: Int, into out: UnsafeMutablePointer<Float>?
    ) -> (maximum: Float, partition: Float) {
        let maximum = vectorMax(x, count)
        return (maximum, shiftedExponentials(x, count: count, into: out, maximum: maximum))
    }

    /// The same exponentials, exp(x − maximum), for a maximum already known (a recomputation
    /// that must give the first pass's values bit for bit); returns their sum.
    @discardableResult
    public static func shiftedExponentials(
        _ x: UnsafePointer<Float>, count: Int, into out: UnsafeMutablePointer<Float>?, maximum: Float
    ) -> Float {
        var total = Float8()
        forEachChunk(count) { i, lanes in
            var e = exp(loadLanes(x + i, lanes) - maximum)
            if lanes < 8 { for j in lanes..<8 { e[j] = 0 } }
            total += e
            if let out { storeLanes(e, out + i, lanes) }
        }
        return total.sum()
    }

    /// Backward of softmax for one row set: dx = y ⊙ (dy − ⟨dy, y⟩), with `y` the forward output.
    /// With `accumulate` the result is added to `dx`.
    public static func backward(
        output y: UnsafePointer<Float>, outputGradient dy: UnsafePointer<Float>,
        inputGradient dx: UnsafeMutablePointer<Float>, rows: Int, cols: Int,
        accumulate: Bool = false
    ) {
        for r in 0..<rows {
            let yr = y + r * cols, dyr = dy + r * cols, dxr = dx + r * cols
            let inner = vectorDot(yr, dyr, cols)
            forEachChunk(cols) { i, lanes in
                var g = loadLanes(yr + i, lanes) * (loadLanes(dyr + i, lanes) - inner)
                if accumulate { g += loadLanes(dxr + i, lanes) }
                storeLanes(g, dxr + i, lanes)
            }
        }
    }
}
