import ArgumentParser
import CBLAS
import Foundation
import Numerics

/// GEMM, eigendecomposition and element-wise kernels; `numerics` runs all three.
struct NumericsBenchmark: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "numerics", abstract: "GEMM, eigendecomposition and element-wise kernels.")

    func run() throws {
        benchmarkGEMM()
        try benchmarkEigendecomposition()
        benchmarkKernels()
    }
}

struct GEMMBenchmark: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "gemm", abstract: "Single-threaded sgemm and dgemm throughput.")

    func run() { benchmarkGEMM() }
}

struct EigenBenchmark: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "eigen", abstract: "Symmetric eigendecomposition (dsyevd) times.")

    func run() throws { try benchmarkEigendecomposition() }
}

struct KernelsBenchmark: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "kernels", abstract: "Element-wise kernels, ns per element.")

    func run() { benchmarkKernels() }
}

func benchmarkGEMM() {
    print("GEMM, one thread (GFLOP/s; best of 5)")
    print(pad("shape m×k×n", 22) + pad("sgemm Matrix", 14) + pad("sgemm raw", 12) + "dgemm")
    let shapes = [(512, 512, 512), (1024, 1024, 1024), (512, 768, 3072), (512, 3072, 768), (512, 64, 512), (128, 256, 1024)]
    var rng = RandomGenerator(seed: 1)
    for (m, k, n) in shapes {
        let a = Matrix<Float>(rows: m, cols: k) { _, _ in Float(rng.nextNormal()) }
        let b = Matrix<Float>(rows: k, cols: n) { _, _ in Float(rng.nextNormal()) }
        let c = Matrix<Float>(rows: m, cols: n)
        let flops = 2.0 * Double(m * k * n)
        let wrapped = bestTime(repetitions: 5) { c.multiply(a, b) }
        let raw = bestTime(repetitions: 5) {
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(m), Int32(n), Int32(k), 1,
                        a.storage, Int32(k), b.storage, Int32(n), 0, c.storage, Int32(n))
        }
        let ad = a.toDouble(), bd = b.toDouble(), cd = Matrix<Double>(rows: m, cols: n)
        let double = bestTime(repetitions: 3) { cd.multiply(ad, bd) }
        print(pad("\(m)×\(k)×\(n)", 22) + pad(String(format: "%.1f", flops / wrapped / 1e9), 14)
              + pad(String(format: "%.1f", flops / raw / 1e9), 12) + String(format: "%.1f", flops / double / 1e9))
    }
}

func benchmarkEigendecomposition() throws {
    print("\nSymmetric eigendecomposition, dsyevd Float64, one thread (seconds; best of 3)")
    for n in [256, 512, 1024, 2048] {
        var rng = RandomGenerator(seed: UInt64(n))
        let x = Matrix<Double>(rows: n, cols: n) { _, _ in rng.nextNormal() }
        let m = Matrix<Double>.product(x, x, transposeB: .transposed)
        let seconds = try bestTime(repetitions: n >= 2048 ? 1 : 3) { _ = try SymmetricEigendecomposition(m) }
        print(pad("n = \(n)", 12) + String(format: "%.3f s", seconds))
    }
}

func benchmarkKernels() {
    print("\nElement-wise kernels (ns per element; 512×2048 = 1M elements; best of 5)")
    let rows = 512, cols = 2048, count = rows * cols
    var rng = RandomGenerator(seed: 2)
    let x = Matrix<Float>(rows: rows, cols: cols) { _, _ in Float(rng.nextNormal()) }
    let out = Matrix<Float>(rows: rows, cols: cols)
    let weight = [Float](repeating: 1.1, count: cols), bias = [Float](repeating: 0.1, count: cols)
    var mean = [Float](repeating: 0, count: rows), rstd = mean
    let cases: [(String, () -> Void)] = [
        ("GELU (erf) forward", { GELU.exact.forward(x.storage, out.storage, count: count) }),
        ("GELU (erf) backward", { GELU.exact.backward(input: x.storage, outputGradient: x.storage, inputGradient: out.storage, count: count) }),
        ("GELU (tanh) forward", { GELU.tanhApproximation.forward(x.storage, out.storage, count: count) }),
        ("softmax rows", { Softmax.forward(x.storage, out.storage, rows: rows, cols: cols) }),
        ("log-softmax rows", { Softmax.logForward(x.storage, out.storage, rows: rows, cols: cols) }),
        ("layer norm forward", {
            LayerNorm.forward(x.storage, weight: weight, bias: bias, out.storage, mean: &mean,
                              reciprocalStd: &rstd, rows: rows, cols: cols, epsilon: 1e-5)
        }),
        ("libm tanhf GELU (for scale)", {
            for i in 0..<count { let v = x.storage[i]; out.storage[i] = 0.5 * v * (1 + Foundation.tanh(0.7978846 * (v + 0.044715 * v * v * v))) }
        }),
    ]
    for (name, body) in cases {
        let seconds = bestTime(repetitions: 5, body)
        print(pad(name, 30) + String(format: "%.2f", seconds / Double(count) * 1e9))
    }
}
