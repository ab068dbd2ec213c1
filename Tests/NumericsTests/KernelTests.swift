import Foundation
import Testing
import Numerics

private func apply(_ f: (Float8) -> Float8, _ xs: [Float]) -> [Float] {
    var out = [Float](repeating: 0, count: xs.count)
    var i = 0
    while i < xs.count {
        var v = Float8()
        let lanes = min(8, xs.count - i)
        for j in 0..<lanes { v[j] = xs[i + j] }
        let r = f(v)
        for j in 0..<lanes { out[i + j] = r[j] }
        i += 8
    }
    return out
}

private let grid: [Float] = stride(from: -12.0, through: 12.0, by: 0.0137).map { Float($0) }

@Suite struct VectorMathTests {
    @Test func expIsAccurateToAFewUlp() {
        let xs = grid + stride(from: -87.0, through: 88.0, by: 0.731).map { Float($0) }
        let ys = apply(Numerics.exp, xs)
        for (x, y) in zip(xs, ys) {
            let expected = Foundation.exp(Double(x))
            #expect(abs(Double(y) - expected) <= 4e-7 * expected, "exp(\(x)) = \(y), expected \(expected)")
        }
    }

    @Test func expSaturatesAtTheEnds() {
        let r = apply(Numerics.exp, [-200, -88, 89, 200, 0])
        #expect(r[0] == 0 && r[1] >= 0 && r[1] < 1e-37)
        #expect(r[2] == .infinity && r[3] == .infinity && r[4] == 1)
    }

    @Test func erfHasSmallAbsoluteError() {
        let ys = apply(Numerics.erf, grid)
        for (x, y) in zip(grid, ys) {
            #expect(abs(Double(y) - Foundation.erf(Double(x))) <= 5e-7, "erf(\(x))")
        }
    }

    @Test func tanhHasSmallAbsoluteError() {
        let ys = apply(Numerics.tanh, grid + [-100, 100])
        for (x, y) in zip(grid + [-100, 100], ys) {
            #expect(abs(Double(y) - Foundation.tanh(Double(x))) <= 5e-7, "tanh(\(x))")
        }
    }

    @Test func sumsDotsAndMaximaMatchNaiveLoops() {
        var rng = RandomGenerator(seed: 5)
        for count in [1, 7, 8, 9, 100, 1003] {
            let a = (0..<count).map { _ in Float(rng.nextNormal()) }
            let b = (0..<count).map { _ in Float(rng.nextNormal()) }
            let sum = a.reduce(0.0) { $0 + Double($1) }
            let dot = zip(a, b).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
            #expect(abs(Double(vectorSum(a, count)) - sum) < 1e-4 * Double(count))
            #expect(abs(Double(vectorDot(a, b, count)) - dot) < 1e-4 * Double(count))
            #expect(vectorMax(a, count) == a.max()!)
        }
    }
}

private func geluReference(_ x: Double, _ kind: GELU) -> Double {
    switch kind {
    case .exact: return 0.5 * x * (1 + Foundation.erf(x / 2.0.squareRoot()))
    case .tanhApproximation:
        return 0.5 * x * (1 + Foundation.tanh((2 / Double.pi).squareRoot() * (x + 0.044715 * x * x * x)))
    }
}

@Suite struct ActivationTests {
    @Test(arguments: [GELU.exact, GELU.tanhApproximation])
    func geluForwardMatchesFloat64(kind: GELU) {
        var out = [Float](repeating: 0, count: grid.count)
        kind.forward(grid, &out, count: grid.count)
        for (x, y) in zip(grid, out) {
            let expected = geluReference(Double(x), kind)
            #expect(abs(Double(y) - expected) <= 1e-6 * (1 + abs(expected)), "gelu(\(x))")
        }
    }

    @Test(arguments: [GELU.exact, GELU.tanhApproximation])
    func geluBackwardMatchesFloat64FiniteDifferences(kind: GELU) {
        let upstream = grid.indices.map { Float(1 + ($0 % 5)) * 0.5 }
        var dx = [Float](repeating: 1, count: grid.count)
        kind.backward(input: grid, outputGradient: upstream, inputGradient: &dx, count: grid.count, accumulate: true)
        let h = 1e-6
        for i in grid.indices {
            let x = Double(grid[i])
            let derivative = (geluReference(x + h, kind) - geluReference(x - h, kind)) / (2 * h)
            let expected = 1 + Double(upstream[i]) * derivative
            #expect(abs(Double(dx[i]) - expected) <= 2e-6 * (1 + abs(expected)), "gelu'(\(x))")
        }
    }

    @Test func huggingFaceNamesMapToForms() {
        #expect(GELU(huggingFaceName: "gelu") == .exact)
        #expect(GELU(huggingFaceName: "gelu_new") == .tanhApproximation)
        #expect(GELU(huggingFaceName: "relu") == nil)
    }
}

@Suite struct SoftmaxTests {
    let rows = 3, cols = 37
    func input() -> [Float] {
        var rng = RandomGenerator(seed: 2)
        return (0..<(rows * cols)).map { _ in Float(rng.nextNormal() * 4) }
    }

    @Test func softmaxAndLogSoftmaxMatchFloat64() {
        let x = input()
        var p = [Float](repeating: 0, count: x.count), lp = p, logZ = [Float](repeating: 0, count: rows)
        Softmax.forward(x, &p, rows: rows, cols: cols)
        Softmax.logForward(x, &lp, rows: rows, cols: cols, logPartition: &logZ)
        for r in 0..<rows {
            let row = x[(r * cols)..<((r + 1) * cols)].map(Double.init)
            let z = row.map(Foundation.exp).reduce(0, +)
            #expect(abs(Double(logZ[r]) - Foundation.log(z)) < 1e-5)
            for c in 0..<cols {
                #expect(abs(Double(p[r * cols + c]) - Foundation.exp(row[c]) / z) < 1e-6)
                #expect(abs(Double(lp[r * cols + c]) - (row[c] - Foundation.log(z))) < 2e-5)
            }
        }
    }

    @Test func softmaxIsStableForLargeLogits() {
        var p = [Float](repeating: 0, count: 3)
        Softmax.forward([1000, 1000, -1000], &p, rows: 1, cols: 3)
        #expect(abs(p[0] - 0.5) < 1e-6 && abs(p[1] - 0.5) < 1e-6 && p[2] == 0)
    }

    @Test func softmaxBackwardMatchesFiniteDifferences() {
        let x = input().map(Double.init)
        let weights = (0..<(rows * cols)).map { Double($0 % 7) - 3 }
        // Scalar loss L = Σ w ⊙ softmax(x), in Float64.
        func loss(_ x: [Double]) -> Double {
            var total = 0.0
            for r in 0..<rows {
                let row = x[(r * cols)..<((r + 1) * cols)]
                let m = row.max()!
                let z = row.map { Foundation.exp($0 - m) }.reduce(0, +)
                for c in 0..<cols { total += weights[r * cols + c] * Foundation.exp(x[r * cols + c] - m) / z }
            }
            return total
        }
        var y = [Float](repeating: 0, count: x.count), dx = y
        Softmax.forward(x.map(Float.init), &y, rows: rows, cols: cols)
        Softmax.backward(output: y, outputGradient: weights.map(Float.init), inputGradient: &dx, rows: rows, cols: cols)
        for i in stride(from: 0, to: x.count, by: 5) {
            var plus = x, minus = x
            plus[i] += 1e-6; minus[i] -= 1e-6
            let expected = (loss(plus) - loss(minus)) / 2e-6
            #expect(abs(Double(dx[i]) - expected) < 1e-5 * (1 + abs(expected)))
        }
    }
}

@Suite struct LayerNormTests {
    let rows = 4, cols = 45
    let epsilon: Float = 1e-5

    /// L = Σ u ⊙ layernorm(x; w, b) in Float64, for finite differences.
    func loss(_ x: [Double], _ w: [Double], _ b: [Double], _ u: [Double]) -> Double {
        var total = 0.0
        for r in 0..<rows {
            let row = Array(x[(r * cols)..<((r + 1) * cols)])
            let mean = row.reduce(0, +) / Double(cols)
            let variance = row.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(cols)
            for c in 0..<cols {
                total += u[r * cols + c] * ((row[c] - mean) / (variance + Double(epsilon)).squareRoot() * w[c] + b[c])
            }
        }
        return total
    }

    @Test func forwardAndBackwardMatchFloat64() {
        var rng = RandomGenerator(seed: 4)
        let x = (0..<(rows * cols)).map { _ in rng.nextNormal() * 2 + 0.5 }
        let w = (0..<cols).map { _ in 1 + 0.3 * rng.nextNormal() }
        let b = (0..<cols).map { _ in 0.1 * rng.nextNormal() }
        let u = (0..<(rows * cols)).map { _ in rng.nextNormal() }
        let xf = x.map(Float.init), wf = w.map(Float.init), bf = b.map(Float.init), uf = u.map(Float.init)

        var out = [Float](repeating: 0, count: x.count)
        var mean = [Float](repeating: 0, count: rows), rstd = mean
        LayerNorm.forward(xf, weight: wf, bias: bf, &out, mean: &mean, reciprocalStd: &rstd, rows: rows, cols: cols, epsilon: epsilon)
        // Forward: the loss with unit upstream weight on one element recovers that element.
        let forwardLoss = zip(out, uf).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
        #expect(abs(forwardLoss - loss(x.map { Double(Float($0)) }, w.map { Double(Float($0)) }, b.map { Double(Float($0)) }, u.map { Double(Float($0)) })) < 1e-4)

        var dx = [Float](repeating: 0, count: x.count)
        var dw = [Float](repeating: 0, count: cols), db = dw
        LayerNorm.backward(input: xf, weight: wf, mean: mean, reciprocalStd: rstd, outputGradient: uf,
                           inputGradient: &dx, weightGradient: &dw, biasGradient: &db, rows: rows, cols: cols)
        let xd = xf.map(Double.init), wd = wf.map(Double.init), bd = bf.map(Double.init), ud = uf.map(Double.init)
        let h = 1e-6
        func check(_ analytic: Float, _ perturbed: (Double) -> Double) {
            let expected = (perturbed(h) - perturbed(-h)) / (2 * h)
            #expect(abs(Double(analytic) - expected) < 1e-4 * (1 + abs(expected)))
        }
        for i in stride(from: 0, to: x.count, by: 7) {
            check(dx[i]) { d in var p = xd; p[i] += d; return loss(p, wd, bd, ud) }
        }
        for c in stride(from: 0, to: cols, by: 4) {
            check(dw[c]) { d in var p = wd; p[c] += d; return loss(xd, p, bd, ud) }
            check(db[c]) { d in var p = bd; p[c] += d; return loss(xd, wd, p, ud) }
        }
    }
}

@Suite struct RandomGeneratorTests {
    @Test func matchesAnIndependentXoshiroImplementation() {
        // First outputs for seed 42, computed by a separate Python implementation of
        // SplitMix64 seeding + xoshiro256**.
        var rng = RandomGenerator(seed: 42)
        #expect([rng.next(), rng.next(), rng.next(), rng.next()]
            == [1_546_998_764_402_558_742, 6_990_951_692_964_543_102, 12_544_586_762_248_559_009, 17_057_574_109_182_124_193])
    }

    @Test func sameSeedSameStreamDifferentSeedDifferentStream() {
        var a = RandomGenerator(seed: 1), b = RandomGenerator(seed: 1), c = RandomGenerator(seed: 2)
        let xa = (0..<100).map { _ in a.next() }, xb = (0..<100).map { _ in b.next() }, xc = (0..<100).map { _ in c.next() }
        #expect(xa == xb)
        #expect(xa != xc)
    }

    @Test func distributionsHaveTheRightMoments() {
        var rng = RandomGenerator(seed: 3)
        let n = 200_000
        let uniforms = (0..<n).map { _ in rng.nextUniform() }
        #expect(uniforms.allSatisfy { $0 >= 0 && $0 < 1 })
        #expect(abs(uniforms.reduce(0, +) / Double(n) - 0.5) < 0.005)
        let normals = (0..<n).map { _ in rng.nextNormal() }
        let mean = normals.reduce(0, +) / Double(n)
        let variance = normals.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(n)
        #expect(abs(mean) < 0.01 && abs(variance - 1) < 0.02)
        var counts = [0, 0, 0, 0]
        for _ in 0..<n { counts[rng.nextInt(below: 4)] += 1 }
        #expect(counts.allSatisfy { abs(Double($0) / Double(n) - 0.25) < 0.01 })
    }

    @Test func categoricalSamplingFollowsTheProbabilities() {
        var rng = RandomGenerator(seed: 4)
        let p: [Float] = [0.1, 0, 0.6, 0.3]
        var counts = [0, 0, 0, 0]
        p.withUnsafeBufferPointer { buffer in
            for _ in 0..<100_000 { counts[rng.nextCategorical(buffer)] += 1 }
        }
        #expect(counts[1] == 0)
        #expect(abs(Double(counts[0]) / 1e5 - 0.1) < 0.01 && abs(Double(counts[2]) / 1e5 - 0.6) < 0.01)
    }

    @Test func shuffleIsAPermutationAndReproducible() {
        var a = RandomGenerator(seed: 9), b = RandomGenerator(seed: 9)
        var x = Array(0..<50), y = Array(0..<50)
        a.shuffle(&x); b.shuffle(&y)
        #expect(x == y && x.sorted() == Array(0..<50) && x != Array(0..<50))
    }
}
