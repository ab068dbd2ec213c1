import Influence
import Numerics
import Testing

/// Linear CKA from normalised Grams against the definition in feature space,
/// ‖XᵀY‖²_F / (‖XᵀX‖_F ‖YᵀY‖_F) with centred columns, on random matrices.
@Suite struct GradientCKATests {
    static func definition(_ x: [Double], _ y: [Double], rows: Int, cols: Int) -> Double {
        func centred(_ m: [Double]) -> [Double] {
            var c = m
            for j in 0..<cols {
                let mean = (0..<rows).reduce(0.0) { $0 + m[$1 * cols + j] } / Double(rows)
                for i in 0..<rows { c[i * cols + j] -= mean }
            }
            return c
        }
        let a = centred(x), b = centred(y)
        func crossNorm2(_ p: [Double], _ q: [Double]) -> Double {   // ‖PᵀQ‖²_F
            var total = 0.0
            for j in 0..<cols {
                for k in 0..<cols {
                    var entry = 0.0
                    for i in 0..<rows { entry += p[i * cols + j] * q[i * cols + k] }
                    total += entry * entry
                }
            }
            return total
        }
        return crossNorm2(a, b) / (crossNorm2(a, a) * crossNorm2(b, b)).squareRoot()
    }

    @Test func gramsGiveTheDefinition() {
        var rng = RandomGenerator(seed: 3)
        for (rows, cols) in [(5, 3), (3, 7), (6, 6)] {
            let x = (0..<(rows * cols)).map { _ in Float(rng.nextNormal()) }
            let y = (0..<(rows * cols)).map { _ in Float(rng.nextNormal()) }
            let gx = GradientCKA.normalizedGram(x, rows: rows, cols: cols), gy = GradientCKA.normalizedGram(y, rows: rows, cols: cols)
            let expected = Self.definition(x.map(Double.init), y.map(Double.init), rows: rows, cols: cols)
            #expect(abs(GradientCKA.similarity(gx, gy) - expected) <= 1e-12, "\(rows)×\(cols)")
            #expect(abs(GradientCKA.similarity(gx, gx) - 1) <= 1e-12)
            // Invariant to scale and to a shift of every row by the same vector.
            let scaled = x.enumerated().map { 3 * $1 + Float($0 % cols) }
            #expect(abs(GradientCKA.similarity(GradientCKA.normalizedGram(scaled, rows: rows, cols: cols), gy) - expected) <= 1e-6)
        }
        #expect(GradientCKA.normalizedGram([1, 2, 1, 2], rows: 2, cols: 2) == nil)   // identical rows: centred to zero
    }
}
