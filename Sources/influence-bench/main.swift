// Benchmarks, run as a program (never as timed unit tests):
//
//     swift run -c release influence-bench numerics   # GEMM, eigendecomposition, kernels
//     swift run -c release influence-bench model      # GPT-NeoX forward + backward
//
// Each line reports the best of several repetitions, so that a busy neighbour on this shared
// machine inflates the numbers as little as possible.
import CBLAS
import Foundation
import Curvature
import Influence
import Models
import Numerics
import Training

BLAS.relaunchWithBestKernelsIfNeeded()
BLAS.useSingleThread()
print("OpenBLAS kernels: \(BLAS.coreName)")

/// Best wall-clock seconds of `repetitions` runs of `body` after one warm-up.
func bestTime(repetitions: Int, _ body: () throws -> Void) rethrows -> Double {
    try body()
    var best = Double.infinity
    for _ in 0..<repetitions {
        let start = DispatchTime.now().uptimeNanoseconds
        try body()
        best = min(best, Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
    }
    return best
}

func pad(_ s: String, _ width: Int) -> String { s.count >= width ? s : s + String(repeating: " ", count: width - s.count) }

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

/// Forward + backward (with parameter gradients, as in training) of one GPT-NeoX configuration
/// on random weights and tokens.
func benchmarkModel(name: String, _ h: GPTNeoXHyperparameters, sequenceLength: Int, repetitions: Int) {
    let model = GPTNeoXModel(hyperparameters: h, seed: 1)
    var rng = RandomGenerator(seed: 2)
    let batch = TokenBatch(sequences: [(0..<sequenceLength).map { _ in rng.nextInt(below: h.vocabularySize) }])
    let targets = LossTargets.nextToken(batch)
    let activations = GPTNeoXActivations(hyperparameters: h)
    let gradients = model.parameters.makeZeroedLike()
    let forwardOnly = bestTime(repetitions: repetitions) { model.forward(batch, activations) }
    let seconds = bestTime(repetitions: repetitions) {
        model.forwardLossBackward(batch, targets: targets, activations, gradients: gradients)
    }
    // Backward costs twice the forward's matrix products.
    let flops = 3 * h.forwardFLOPs(sequenceLengths: [sequenceLength])
    print(pad(name, 48) + pad(String(format: "%.1f ms", forwardOnly * 1e3), 12)
          + pad(String(format: "%.1f ms", seconds * 1e3), 12)
          + pad(String(format: "%.0f", Double(sequenceLength) / seconds), 10)
          + String(format: "%.1f", flops / seconds / 1e9)
          + String(format: "   (activations %.0f MB)", Double(activations.allocatedBytes) / 1e6))
}

func benchmarkModels() {
    print("GPT-NeoX forward and forward+backward, one sequence, random weights (best of 5)")
    print(pad("configuration", 48) + pad("forward", 12) + pad("fwd+bwd", 12) + pad("tokens/s", 10) + "GFLOP/s")
    benchmarkModel(
        name: "70m-sized (6×512, 8 heads, T=512, V=50304)",
        GPTNeoXHyperparameters(vocabularySize: 50_304, hiddenSize: 512, headCount: 8, intermediateSize: 2048,
                               layerCount: 6, maxPositions: 2048),
        sequenceLength: 512, repetitions: 5)
    // The paper's small model was trained on Penn Treebank (a 10,000-word vocabulary); with
    // Pythia's 50,304-token vocabulary the unembedding is 88% of the work instead.
    for vocabulary in [10_000, 50_304] {
        benchmarkModel(
            name: "paper-small (2×256, 2 heads, T=128, V=\(vocabulary))",
            GPTNeoXHyperparameters(vocabularySize: vocabulary, hiddenSize: 256, headCount: 2, intermediateSize: 1024,
                                   layerCount: 2, maxPositions: 2048),
            sequenceLength: 128, repetitions: 20)
    }
}

/// EK-FAC fitting (both passes) and scoring throughput on a 70m-sized model with random
/// weights: tokens per second of each pass, and training documents scored per second.
func benchmarkInfluence() throws {
    let h = GPTNeoXHyperparameters(vocabularySize: 50_304, hiddenSize: 512, headCount: 8, intermediateSize: 2048,
                                   layerCount: 6, maxPositions: 2048)
    let model = GPTNeoXModel(hyperparameters: h, seed: 1)
    var rng = RandomGenerator(seed: 3)
    func examples(_ count: Int, length: Int, prompt: Int = 0) -> [TokenizedExample] {
        (0..<count).map { _ in TokenizedExample(tokens: (0..<length).map { _ in rng.nextInt(below: h.vocabularySize) }, promptLength: prompt) }
    }
    let fitting = examples(16, length: 256)
    print("EK-FAC on a 70m-sized GPT-NeoX (random weights), 16 sequences × 256 tokens, batch 8")
    for blocks in [AttentionBlocks.perHead, .fused] {
        let layouts = ModuleLayout.of(GPTNeoXModel.trackedModules(h), selection: .all, attentionBlocks: blocks, includeBias: false)
        let fitter = FactorFitter(model: model, layouts: layouts, batchSize: 8, seed: 1)
        var covariances: CovarianceAccumulator!
        let pass1 = try bestTime(repetitions: 1) { covariances = try fitter.accumulateCovariances(fitting) }
        var bases: [ModuleEigenbasis] = []
        let eigen = try bestTime(repetitions: 1) { bases = try FactorFitter.eigenbases(covariances) }
        var factors: EKFACFactors!
        let pass2 = try bestTime(repetitions: 1) { factors = try fitter.correctEigenvalues(fitting, eigenbases: bases, covariances: covariances) }
        let tokens = Double(16 * 256)
        print(pad("  fit, \(blocks.rawValue) blocks", 30) + String(format: "pass 1 %.0f tok/s, eigendecomposition %.2f s, pass 2 %.0f tok/s; total %.1f s",
                                                            tokens / pass1, eigen, tokens / pass2, pass1 + eigen + pass2))
        guard blocks == .perHead else { continue }
        let preconditioner = EKFACPreconditioner(factors: factors, damping: .automatic)
        let queries = examples(8, length: 64, prompt: 32)
        let documents = examples(32, length: 256)
        for rank: Int? in [nil, 32] {
            var scorer: InfluenceScorer!
            let prepare = try bestTime(repetitions: 1) {
                scorer = try InfluenceScorer(model: model, layouts: layouts, queries: queries, preconditioners: [preconditioner], queryRank: rank)
            }
            let runner = GradientRunner(model: model, layouts: layouts)
            let scoring = try bestTime(repetitions: 1) {
                for start in stride(from: 0, to: documents.count, by: 8) {
                    _ = try scorer.score(model: model, documents: Array(documents[start..<(start + 8)]), runner: runner)
                }
            }
            print(pad("  score, query rank \(rank.map(String.init) ?? "full")", 30)
                  + String(format: "8 queries prepared in %.2f s; %.1f documents/s (256 tokens each) against all 8; 32 documents in %.1f s all told",
                           prepare, Double(documents.count) / scoring, prepare + scoring))
        }
    }
}

/// Training throughput against bare forward + backward: the optimizer's overhead.
func benchmarkTraining() throws {
    let h = GPTNeoXHyperparameters(vocabularySize: 50_304, hiddenSize: 512, headCount: 8, intermediateSize: 2048,
                                   layerCount: 6, maxPositions: 2048)
    let model = GPTNeoXModel(hyperparameters: h, seed: 1)
    var rng = RandomGenerator(seed: 5)
    let examples = (0..<4).map { _ in TokenizedExample(tokens: (0..<512).map { _ in rng.nextInt(below: h.vocabularySize) }) }
    let batch = TokenBatch(examples: examples)
    let targets = LossTargets.nextToken(batch)
    let activations = GPTNeoXActivations(hyperparameters: h)
    let gradients = model.parameters.makeZeroedLike()
    let bare = bestTime(repetitions: 3) {
        gradients.zero()
        model.forwardLossBackward(batch, targets: targets, activations, gradients: gradients)
    }
    var configuration = Trainer.Configuration()
    configuration.batchSize = 4
    configuration.epochs = 5
    let trainer = Trainer(model: model, examples: examples, configuration: configuration)
    var step = 0
    let full = try bestTime(repetitions: 3) {
        try trainer.train(from: step, to: step + 1)
        step += 1
    }
    print("Training step, 70m-sized GPT-NeoX, 4 × 512 tokens (best of 3)")
    print(String(format: "  forward + backward        %.0f ms  (%.0f tok/s)", bare * 1e3, 2048 / bare))
    print(String(format: "  + clipping + AdamW step   %.0f ms  (%.0f tok/s): optimizer overhead %.1f %%", full * 1e3, 2048 / full,
                 100 * (full - bare) / bare))
}

let which = CommandLine.arguments.dropFirst().first ?? "numerics"
switch which {
case "model":
    benchmarkModels()
case "influence":
    try benchmarkInfluence()
case "train":
    try benchmarkTraining()
case "numerics", "gemm", "eigen", "kernels":
    if which == "numerics" || which == "gemm" { benchmarkGEMM() }
    if which == "numerics" || which == "eigen" { try benchmarkEigendecomposition() }
    if which == "numerics" || which == "kernels" { benchmarkKernels() }
default:
    FileHandle.standardError.write(Data("usage: influence-bench [numerics|gemm|eigen|kernels|model|influence|train]\n".utf8))
    exit(2)
}
