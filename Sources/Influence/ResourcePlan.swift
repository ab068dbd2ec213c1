import Checkpoints
import Curvature
import Foundation
import Models
import Numerics

/// What `fit` and `score` will need for a model, known from its shape alone (no weights are
/// read): peak memory of each command and the time per token at this machine's measured
/// matrix-product rates. `influence plan` prints it.
public struct ResourcePlan: Sendable {
    public let hyperparameters: DecoderHyperparameters
    public let layouts: [ModuleLayout]
    public let sequenceLength: Int
    public let batchSize: Int
    public let queries: Int
    /// Batches `fit` and `score` run at once (`--threads`), each with its own activations.
    public let threads: Int
    /// Weights as held in memory: Float32, or matrices in 16-bit when the checkpoint stores them so.
    public let weightBytes: Int
    public let sixteenBitWeights: Bool
    /// Parameters of the model (every tensor, unpadded).
    public let parameterCount: Int
    public let activationBytes: Int
    public let fit: FitMemoryPlan

    public init(hyperparameters h: DecoderHyperparameters, selection: ModuleSelection, attentionBlocks: AttentionBlocks = .perHead,
                sequenceLength: Int, batchSize: Int, queries: Int, maxMemory: Int?, sixteenBitWeights: Bool = false, threads: Int = 1) {
        hyperparameters = h
        layouts = ModuleLayout.of(DecoderModel.trackedModules(h), selection: selection, attentionBlocks: attentionBlocks, includeBias: false)
        self.sequenceLength = sequenceLength
        self.batchSize = batchSize
        self.queries = queries
        self.threads = max(threads, 1)
        self.sixteenBitWeights = sixteenBitWeights
        parameterCount = DecoderModel.parameterLayout(h).reduce(0) { $0 + $1.shape.reduce(1, *) }
        weightBytes = DecoderModel.weightBytes(h, sixteenBitMatrices: sixteenBitWeights)
        activationBytes = DecoderActivations.estimatedBytes(h, tokens: batchSize * sequenceLength, longestSequence: sequenceLength,
                                                            weightScratchFloats: sixteenBitWeights ? DecoderModel.weightScratchFloats(h) : 0)
        let layouts = self.layouts, weightBytes = self.weightBytes
        func fitPlan(_ workers: Int) -> FitMemoryPlan {
            FitMemoryPlan(hyperparameters: h, weightBytes: weightBytes, layouts: layouts, batchTokens: batchSize * sequenceLength,
                          longestSequence: sequenceLength, budget: maxMemory,
                          weightScratchFloats: sixteenBitWeights ? DecoderModel.weightScratchFloats(h) : 0, workers: workers)
        }
        // As `fit` chooses, assuming the data have at least `threads` batches.
        fit = fitPlan(FitMemoryPlan.workers(upTo: self.threads, budget: maxMemory, plan: fitPlan))
    }

    /// Peak of one fit pass over all modules at once (no budget).
    public var fitPeakBytes: Int { fit.onePassPeakBytes }

    /// Passes over the data each stage needs under the budget (1 each without one); throws
    /// when one module alone does not fit.
    public func fitPasses() throws -> (covariances: Int, corrections: Int) {
        (try fit.groups(fit.covarianceBytes, stage: "pass 1").count, try fit.groups(fit.correctionBytes, stage: "pass 2").count)
    }

    /// Bytes of the factor files on disk (memory-mapped while scoring): Float32 eigenvectors,
    /// eigenvalues and Λ, plus pass 1's packed Float64 sums.
    public var factorFileBytes: (eigenbasis: Int, lambda: Int, covariances: Int) {
        let eigen = layouts.reduce(0) { total, layout in
            let w = layout.inputSize
            return total + 4 * (w * w + w) + layout.blocks.reduce(0) { $0 + 4 * ($1.size * $1.size + $1.size) }
        }
        return (eigen, 4 * trackedParameters, fit.covarianceBytes.reduce(0, +))
    }

    public var trackedParameters: Int { layouts.reduce(0) { $0 + $1.parameterCount } }

    /// Memory of `score` (EK-FAC) under `budget`: weights, one batch's activations, the
    /// preconditioned queries and the query batch's raw gradients, one module's document
    /// gradients and factors (`ScoreMemoryPlan`, what `score --max-memory` plans with).
    public func scoreMemory(budget: Int?) -> ScoreMemoryPlan {
        ScoreMemoryPlan(hyperparameters: hyperparameters, layouts: layouts, weightBytes: weightBytes,
                        weightScratchFloats: sixteenBitWeights ? DecoderModel.weightScratchFloats(hyperparameters) : 0,
                        documentTokens: batchSize * sequenceLength, longestDocument: sequenceLength, queries: queries,
                        queryBatch: batchSize, documentBatch: batchSize, budget: budget, usesFactors: true, workers: threads)
    }

    /// Peak of `score` with every module in one pass.
    public var scorePeakBytes: Int { scoreMemory(budget: nil).onePassPeakBytes }

    // MARK: Time

    /// Matrix-product rates measured here (floating-point operations per second).
    public struct Rates: Sendable {
        public let sgemm: Double
        /// Of `dsyevd`, counted as 9n³ operations per decomposition.
        public let eigen: Double

        /// Times a 256×1024×1024 sgemm and an n = 384 eigendecomposition, best of three.
        public static func measure() -> Rates {
            let m = 256, n = 1024, k = 1024
            let a = [Float](repeating: 0.5, count: m * k), b = [Float](repeating: 0.25, count: k * n)
            var c = [Float](repeating: 0, count: m * n)
            var best = Double.infinity
            for _ in 0..<3 {
                let start = DispatchTime.now().uptimeNanoseconds
                c.withUnsafeMutableBufferPointer { out in
                    Float.gemm(.none, .none, m: m, n: n, k: k, alpha: 1, a: a, lda: k, b: b, ldb: n, beta: 0, c: out.baseAddress!, ldc: n)
                }
                best = min(best, Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
            }
            let sgemm = 2 * Double(m * n * k) / best
            let size = 384
            var random = RandomGenerator(seed: 1)
            let x = Matrix<Double>(rows: size, cols: size)
            for i in 0..<(size * size) { x.storage[i] = random.nextUniform() - 0.5 }
            let s = Matrix<Double>(rows: size, cols: size)
            Double.gemm(.transposed, .none, m: size, n: size, k: size, alpha: 1, a: x.storage, lda: size, b: x.storage, ldb: size,
                        beta: 0, c: s.storage, ldc: size)
            var eigenBest = Double.infinity
            for _ in 0..<3 {
                let start = DispatchTime.now().uptimeNanoseconds
                _ = try? SymmetricEigendecomposition(s)
                eigenBest = min(eigenBest, Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
            }
            return Rates(sgemm: sgemm, eigen: 9 * pow(Double(size), 3) / eigenBest)
        }
    }

    /// Seconds per token of a forward and backward pass (backward ≈ 2× forward: input
    /// gradients and the per-token tap products).
    public func passSecondsPerToken(_ rates: Rates) -> Double {
        3 * hyperparameters.forwardFLOPs(sequenceLengths: [sequenceLength]) / Double(sequenceLength) / rates.sgemm
    }

    /// Seconds per token of pass 1: forward + backward plus each module's covariance products.
    public func covarianceSecondsPerToken(_ rates: Rates) -> Double {
        let products = layouts.reduce(0.0) { total, layout in
            total + Double(layout.inputSize * layout.inputSize) + layout.blocks.reduce(0.0) { $0 + Double($1.size * $1.size) }
        }
        return passSecondsPerToken(rates) + products / rates.sgemm
    }

    /// Seconds per sequence of pass 2 beyond the pass itself: each module's per-sequence gradient
    /// and its rotation into the eigenbasis.
    public func correctionSecondsPerSequence(_ rates: Rates) -> Double {
        layouts.reduce(0.0) { total, layout in
            let w = Double(layout.inputSize), d = Double(layout.outputSize)
            let blocks = layout.blocks.reduce(0.0) { $0 + Double($1.size * $1.size) * w }
            return total + (2 * Double(sequenceLength) * d * w + 2 * d * w * w + 2 * blocks) / rates.sgemm
        }
    }

    /// Seconds of the eigendecompositions.
    public func eigenSeconds(_ rates: Rates) -> Double {
        layouts.reduce(0.0) { total, layout in
            total + 9 * pow(Double(layout.inputSize), 3) / rates.eigen
                + layout.blocks.reduce(0.0) { $0 + 9 * pow(Double($1.size), 3) / rates.eigen }
        }
    }

    /// Seconds per document of `score` beyond the pass itself: one module gradient per document
    /// and its product with every query.
    public func scoreSecondsPerDocument(_ rates: Rates) -> Double {
        layouts.reduce(0.0) { total, layout in
            let P = Double(layout.parameterCount)
            return total + (2 * Double(sequenceLength) * P + 2 * Double(queries) * P) / rates.sgemm
        }
    }

    /// Seconds to precondition every query (two rotations per module and query).
    public func queryPreconditioningSeconds(_ rates: Rates) -> Double {
        Double(queries) * (passSecondsPerToken(rates) * Double(sequenceLength) + layouts.reduce(0.0) { total, layout in
            let w = Double(layout.inputSize), d = Double(layout.outputSize)
            let blocks = layout.blocks.reduce(0.0) { $0 + Double($1.size * $1.size) * w }
            return total + 4 * (d * w * w + blocks) / rates.sgemm
        })
    }
}
