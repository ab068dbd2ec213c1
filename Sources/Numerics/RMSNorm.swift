/// Root-mean-square normalisation over the last dimension (Llama's RMSNorm), forward and
/// backward side by side: no centring and no bias.
public enum RMSNorm {
    /// out[r] = x[r] / √(mean(x[r]²) + eps) · weight. Saves each row's reciprocal RMS.
    public static func forward(
        _ x: UnsafePointer<Float>, weight: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>,
        reciprocalRMS: UnsafeMutablePointer<Float>, rows: Int, cols: Int, epsilon: Float
    ) {
        for r in 0..<rows {
            let row = x + r * cols, dst = out + r * cols
            let rstd = 1 / (vectorDot(row, row, cols) / Float(cols) + epsilon).squareRoot()
            reciprocalRMS[r] = rstd
            forEachChunk(cols) { i, lanes in
                storeLanes(loadLanes(row + i, lanes) * rstd * loadLanes(weight + i, lanes), dst + i, lanes)
            }
        }
    }

    /// Given dout, accumulates dx (+=) and dweight (+=): with x̂ = x·rstd and d = dout ⊙ weight,
    /// dx = rstd · (d − x̂ · mean(d ⊙ x̂)).
    public static func backward(
        input x: UnsafePointer<Float>, weight: UnsafePointer<Float>, reciprocalRMS: UnsafePointer<Float>,
        outputGradient dout: UnsafePointer<Float>, inputGradient dx: UnsafeMutablePointer<Float>,
        weightGradient dweight: UnsafeMutablePointer<Float>, rows: Int, cols: Int
    ) {
        let n = Float(cols)
        for r in 0..<rows {
            let row = x + r * cols, drow = dout + r * cols, dxrow = dx + r * cols
            let rstd = reciprocalRMS[r]
            var sumDX = Float8()
            forEachChunk(cols) { i, lanes in
                var d = loadLanes(drow + i, lanes) * loadLanes(weight + i, lanes)
                if lanes < 8 { for j in lanes..<8 { d[j] = 0 } }
                sumDX += d * loadLanes(row + i, lanes) * rstd
            }
            let meanDX = sumDX.sum() / n
            forEachChunk(cols) { i, lanes in
                let g = loadLanes(drow + i, lanes)
                let xhat = loadLanes(row + i, lanes) * rstd
                let d = g * loadLanes(weight + i, lanes)
                storeLanes(loadLanes(dxrow + i, lanes) + rstd * (d - xhat * meanDX), dxrow + i, lanes)
                storeLanes(loadLanes(dweight + i, lanes) + g * xhat, dweight + i, lanes)
            }
        }
    }

    /// Forward mode: the output's tangent for the input's tangent `dx` (weight held fixed):
    /// dy = weight ⊙ rstd · (dx − x̂ · mean(dx ⊙ x̂)), the backward's symmetric Jacobian.
    public static func tangent(
        input x: UnsafePointer<Float>, weight: UnsafePointer<Float>, reciprocalRMS: UnsafePointer<Float>,
        inputTangent dx: UnsafePointer<Float>, outputTangent dy: UnsafeMutablePointer<Float>, rows: Int, cols: Int
    ) {
        let n = Float(cols)
        for r in 0..<rows {
            let row = x + r * cols, drow = dx + r * cols, out = dy + r * cols
            let rstd = reciprocalRMS[r]
            var sumDX = Float8()
            forEachChunk(cols) { i, lanes in
                var d = loadLanes(drow + i, lanes)
                if lanes < 8 { for j in lanes..<8 { d[j] = 0 } }
                sumDX += d * (loadLanes(row + i, lanes) * rstd)
            }
            let meanDX = sumDX.sum() / n
            forEachChunk(cols) { i, lanes in
                let xhat = loadLanes(row + i, lanes) * rstd
                storeLanes((loadLanes(drow + i, lanes) - xhat * meanDX) * rstd * loadLanes(weight + i, lanes), out + i, lanes)
            }
        }
    }
}
