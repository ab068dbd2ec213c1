import Foundation

/// Layer normalisation over the last dimension, forward and backward side by side (llm.c style).
public enum LayerNorm {
    /// out[r] = (x[r] − mean) / √(var + eps) · weight + bias for each of `rows` rows of length
    /// `cols`. Saves each row's mean and reciprocal standard deviation for the backward pass.
    public static func forward(
        _ x: UnsafePointer<Float>, weight: UnsafePointer<Float>, bias: UnsafePointer<Float>,
        _ out: UnsafeMutablePointer<Float>, mean: UnsafeMutablePointer<Float>,
        reciprocalStd: UnsafeMutablePointer<Float>, rows: Int, cols: Int, epsilon: Float
    ) {
        let n = Float(cols)
        for r in 0..<rows {
            let row = x + r * cols
            let dst = out + r * cols
            let mu = vectorSum(row, cols) / n
            // Two-pass variance: (x − μ)² is better conditioned than E[x²] − μ².
            var squares = Float8()
            forEachChunk(cols) { i, lanes in
                var d = loadLanes(row + i, lanes) - mu
                if lanes < 8 { for j in lanes..<8 { d[j] = 0 } }
                squares += d * d
            }
            let rstd = 1 / (squares.sum() / n + epsilon).squareRoot()
            mean[r] = mu
            reciprocalStd[r] = rstd
            forEachChunk(cols) { i, lanes in
                let normalized = (loadLanes(row + i, lanes) - mu) * rstd
                storeLanes(normalized * loadLanes(weight + i, lanes) + loadLanes(bias + i, lanes), dst + i, lanes)
            }
        }
    }

    /// Given dout, accumulates dx (+=), dweight (+=) and dbias (+=):
    /// with x̂ = (x − μ)·rstd and d = dout ⊙ weight,
    /// dx = rstd · (d − mean(d) − x̂ · mean(d ⊙ x̂)).
    public static func backward(
        input x: UnsafePointer<Float>, weight: UnsafePointer<Float>,
        mean: UnsafePointer<Float>, reciprocalStd: UnsafePointer<Float>,
        outputGradient dout: UnsafePointer<Float>, inputGradient dx: UnsafeMutablePointer<Float>,
        weightGradient dweight: UnsafeMutablePointer<Float>,
        biasGradient dbias: UnsafeMutablePointer<Float>, rows: Int, cols: Int
    ) {
        let n = Float(cols)
        for r in 0..<rows {
            let row = x + r * cols, drow = dout + r * cols, dxrow = dx + r * cols
            let mu = mean[r], rstd = reciprocalStd[r]
            var sumD = Float8(), sumDX = Float8()
            forEachChunk(cols) { i, lanes in
                var d = loadLanes(drow + i, lanes) * loadLanes(weight + i, lanes)
                if lanes < 8 { for j in lanes..<8 { d[j] = 0 } }
                let xhat = (loadLanes(row + i, lanes) - mu) * rstd
                sumD += d
                sumDX += d * xhat
            }
            let meanD = sumD.sum() / n
            let meanDX = sumDX.sum() / n
            forEachChunk(cols) { i, lanes in
                let g = loadLanes(drow + i, lanes)
                let xhat = (loadLanes(row + i, lanes) - mu) * rstd
                let d = g * loadLanes(weight + i, lanes)
                storeLanes(loadLanes(dxrow + i, lanes) + rstd * (d - meanD - xhat * meanDX), dxrow + i, lanes)
                storeLanes(loadLanes(dweight + i, lanes) + g * xhat, dweight + i, lanes)
                storeLanes(loadLanes(dbias + i, lanes) + g, dbias + i, lanes)
            }
        }
    }

    /// Forward mode: the output's tangent for the input's tangent `dx` (weight and bias held
    /// fixed). The normalisation's Jacobian is symmetric, so this is the backward's formula
    /// applied to dx: dy = weight ⊙ rstd · (dx − mean(dx) − x̂ · mean(dx ⊙ x̂)).
    public static func tangent(
        input x: UnsafePointer<Float>, weight: UnsafePointer<Float>, mean: UnsafePointer<Float>,
        reciprocalStd: UnsafePointer<Float>, inputTangent dx: UnsafePointer<Float>,
        outputTangent dy: UnsafeMutablePointer<Float>, rows: Int, cols: Int
    ) {
        let n = Float(cols)
        for r in 0..<rows {
            let row = x + r * cols, drow = dx + r * cols, out = dy + r * cols
            let mu = mean[r], rstd = reciprocalStd[r]
            var sumD = Float8(), sumDX = Float8()
            forEachChunk(cols) { i, lanes in
                var d = loadLanes(drow + i, lanes)
                if lanes < 8 { for j in lanes..<8 { d[j] = 0 } }
                sumD += d
                sumDX += d * ((loadLanes(row + i, lanes) - mu) * rstd)
            }
            let meanD = sumD.sum() / n, meanDX = sumDX.sum() / n
            forEachChunk(cols) { i, lanes in
                let xhat = (loadLanes(row + i, lanes) - mu) * rstd
                let value = (loadLanes(drow + i, lanes) - meanD - xhat * meanDX) * rstd
                storeLanes(value * loadLanes(weight + i, lanes), out + i, lanes)
            }
        }
    }
}
