import Foundation
import Numerics
import Testing

/// RMSNorm and SwiGLU (the Llama family's kernels) against Float64 definitions and central
/// finite differences.
@Suite struct LlamaKernelTests {
    @Test func rmsNormForwardAndBackwardMatchFloat64() {
        let rows = 3, cols = 37
        let epsilon: Float = 1e-6
        var rng = RandomGenerator(seed: 21)
        let x = (0..<(rows * cols)).map { _ in Float(rng.nextNormal() * 1.5 + 0.3) }
        let w = (0..<cols).map { _ in Float(1 + 0.3 * rng.nextNormal()) }
        let u = (0..<(rows * cols)).map { _ in Float(rng.nextNormal()) }
        // L = Σ u ⊙ rmsnorm(x; w), in Float64.
        func loss(_ x: [Double], _ w: [Double]) -> Double {
            var total = 0.0
            for r in 0..<rows {
                let row = x[(r * cols)..<((r + 1) * cols)]
                let rms = (row.map { $0 * $0 }.reduce(0, +) / Double(cols) + Double(epsilon)).squareRoot()
                for c in 0..<cols { total += Double(u[r * cols + c]) * row[r * cols + c] / rms * w[c] }
            }
            return total
        }
        var out = [Float](repeating: 0, count: x.count), rstd = [Float](repeating: 0, count: rows)
        RMSNorm.forward(x, weight: w, &out, reciprocalRMS: &rstd, rows: rows, cols: cols, epsilon: epsilon)
        let xd = x.map(Double.init), wd = w.map(Double.init)
        let forward = zip(out, u).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
        #expect(abs(forward - loss(xd, wd)) < 1e-4)

        var dx = [Float](repeating: 0, count: x.count), dw = [Float](repeating: 0, count: cols)
        RMSNorm.backward(input: x, weight: w, reciprocalRMS: rstd, outputGradient: u, inputGradient: &dx, weightGradient: &dw,
                         rows: rows, cols: cols)
        let h = 1e-6
        for i in stride(from: 0, to: x.count, by: 5) {
            var plus = xd, minus = xd
            plus[i] += h; minus[i] -= h
            let expected = (loss(plus, wd) - loss(minus, wd)) / (2 * h)
            #expect(abs(Double(dx[i]) - expected) < 1e-4 * max(1, abs(expected)), "dx[\(i)]")
        }
        for c in 0..<cols {
            var plus = wd, minus = wd
            plus[c] += h; minus[c] -= h
            let expected = (loss(xd, plus) - loss(xd, minus)) / (2 * h)
            #expect(abs(Double(dw[c]) - expected) < 1e-4 * max(1, abs(expected)), "dw[\(c)]")
        }
    }

    @Test func swiGLUForwardAndBackwardMatchFloat64() {
        let count = 203   // not a multiple of the vector width
        var rng = RandomGenerator(seed: 22)
        let gate = (0..<count).map { _ in Float(rng.nextNormal() * 4) }
        let up = (0..<count).map { _ in Float(rng.nextNormal() * 2) }
        let dout = (0..<count).map { _ in Float(rng.nextNormal()) }
        func silu(_ x: Double) -> Double { x / (1 + Foundation.exp(-x)) }
        var out = [Float](repeating: 0, count: count)
        SwiGLU.forward(gate: gate, up: up, &out, count: count)
        for i in 0..<count {
            let expected = silu(Double(gate[i])) * Double(up[i])
            #expect(abs(Double(out[i]) - expected) < 1e-5 * max(1, abs(expected)), "out[\(i)]")
        }
        var dgate = [Float](repeating: 0, count: count), dup = dgate
        SwiGLU.backward(gate: gate, up: up, outputGradient: dout, gateGradient: &dgate, upGradient: &dup, count: count)
        let h = 1e-6
        for i in 0..<count {
            let g = Double(gate[i]), u = Double(up[i]), d = Double(dout[i])
            let expectedGate = d * u * (silu(g + h) - silu(g - h)) / (2 * h)
            #expect(abs(Double(dgate[i]) - expectedGate) < 1e-4 * max(1, abs(expectedGate)), "dgate[\(i)]")
            #expect(abs(Double(dup[i]) - d * silu(g)) < 1e-5 * max(1, abs(d * silu(g))), "dup[\(i)]")
        }
    }
}
