import Foundation
import Checkpoints
import Models
import Numerics

/// How a fit uses memory, before it runs: the bytes each module's state needs in each stage,
/// and the module groups (Kronfluence's module partitions) that keep every pass within a
/// budget. A pass covers one group of consecutive modules; with several groups, the data are
/// read once per group.
public struct FitMemoryPlan: Sendable {
    /// Bytes held whatever the modules: weights, and each worker's batch activations and tap scratch.
    public let fixedBytes: Int
    /// Batches a pass runs at once (`--threads`), each with its own activations and scratch.
    public let workers: Int
    /// Per module: pass 1's packed Float64 sums.
    public let covarianceBytes: [Int]
    /// Per module: pass 2's Float32 eigenvectors (in use) and Float64 Λ sums.
    public let correctionBytes: [Int]
    /// Per module: the largest eigendecomposition's work (Float64 matrix, dsyevd workspace,
    /// Float32 eigenvectors) plus the sums it reads.
    public let eigenBytes: [Int]
    public let budget: Int?

    public init(model: DecoderModel, layouts: [ModuleLayout], batchTokens: Int, longestSequence: Int, budget: Int?, workers: Int = 1) {
        self.init(hyperparameters: model.hyperparameters, weightBytes: model.weightBytes, layouts: layouts, batchTokens: batchTokens,
                  longestSequence: longestSequence, budget: budget, weightScratchFloats: model.weightScratchFloats, workers: workers)
    }

    /// The plan of a model known only by its shape and weight size (`influence plan` loads no weights).
    public init(hyperparameters: DecoderHyperparameters, weightBytes: Int, layouts: [ModuleLayout], batchTokens: Int,
                longestSequence: Int, budget: Int?, weightScratchFloats: Int = 0, workers: Int = 1) {
        let activations = DecoderActivations.estimatedBytes(hyperparameters, tokens: batchTokens, longestSequence: longestSequence,
                                                            weightScratchFloats: weightScratchFloats)
        // Tap scratch: pass 1 copies a batch's inputs and gradients and forms a module's syrk
        // products; pass 2 rotates inputs and every block's gradients and forms one block's product.
        let scratch = layouts.map { layout -> Int in
            let w = layout.inputSize, largest = layout.blocks.map(\.size).max() ?? 0
            let pass1 = batchTokens * (w + layout.outputSize) + w * w + layout.blocks.reduce(0) { $0 + $1.size * $1.size }
            let pass2 = batchTokens * (2 * w + layout.outputSize) + largest * w
            return 4 * max(pass1, pass2)
        }.max() ?? 0
        self.workers = max(workers, 1)
        fixedBytes = weightBytes + self.workers * (activations + scratch)
        covarianceBytes = layouts.map(Self.covarianceBytes)
        correctionBytes = layouts.map(Self.correctionBytes)
        eigenBytes = layouts.map(Self.eigenBytes)
        self.budget = budget
    }

    public static func covarianceBytes(_ layout: ModuleLayout) -> Int {
        8 * (PackedUpperTriangle.count(layout.inputSize) + layout.blocks.reduce(0) { $0 + PackedUpperTriangle.count($1.size) })
    }

    public static func correctionBytes(_ layout: ModuleLayout) -> Int {
        let w = layout.inputSize
        return 4 * (w * w + layout.blocks.reduce(0) { $0 + $1.size * $1.size }) + 8 * layout.parameterCount
    }

    public static func eigenBytes(_ layout: ModuleLayout) -> Int {
        let largest = ([layout.inputSize] + layout.blocks.map(\.size)).max() ?? 0
        let n = largest
        return 8 * n * n + 8 * (1 + 6 * n + 2 * n * n) + 4 * n * n + covarianceBytes(layout)
    }

    /// Consecutive groups of the modules `from ..< costs.count` whose `costs` fit in what the
    /// budget leaves after `fixedBytes`; one group without a budget. Throws when one module
    /// alone does not fit, saying the smallest budget that would do.
    public func groups(_ costs: [Int], from first: Int = 0, stage: String) throws -> [Range<Int>] {
        guard first < costs.count else { return [] }
        guard let budget else { return [first..<costs.count] }
        let available = budget - fixedBytes
        let largest = costs[first...].max()!
        guard largest <= available else {
            throw InputError("--max-memory \(MemorySize.format(budget)) is too small for \(stage): the weights, \(workers == 1 ? "one batch" : "\(workers) batches") and scratch take \(MemorySize.format(fixedBytes)) and the largest module \(MemorySize.format(largest)); give at least \(MemorySize.format(fixedBytes + largest)) (or a smaller --batch-size)")
        }
        return ModuleGroups.packed(costs, from: first, capacity: available)
    }

    /// Windows of the eigendecompositions from module `first` on: up to `threads` modules at
    /// once (`--threads`), as many as fit in the budget.
    public func eigenWindows(threads: Int, from first: Int = 0) throws -> [Range<Int>] {
        try groups(eigenBytes, from: first, stage: "the eigendecompositions").flatMap { ModuleGroups.windows(of: $0, size: threads) }
    }

    /// How many batches a fit's passes should run at once, of at most `most`. Without a budget,
    /// as many as fit in 80% of the machine's memory beside every module. Under a budget, each
    /// batch more leaves less room for modules, so the passes may need more module groups (more
    /// reads of the data): the count with the fewest passes per worker, the fewest on a tie.
    public static func workers(upTo most: Int, budget: Int?, plan: (Int) -> FitMemoryPlan) -> Int {
        let most = max(1, most)
        guard budget != nil else {
            let physical = Int(min(ProcessInfo.processInfo.physicalMemory, UInt64(Int.max))) / 10 * 8
            return (1...most).reversed().first { $0 == 1 || plan($0).onePassPeakBytes <= physical } ?? 1
        }
        var best = 1, bestCost = Double.infinity
        for workers in 1...most {
            let candidate = plan(workers)
            guard candidate.fits,
                  let passes = try? candidate.groups(candidate.covarianceBytes, stage: "").count + candidate.groups(candidate.correctionBytes, stage: "").count
            else { break }
            let cost = Double(passes) / Double(workers)
            if cost < bestCost { (best, bestCost) = (workers, cost) }
        }
        return best
    }

    /// Peak of a fit with every module in one group (no budget).
    public var onePassPeakBytes: Int {
        fixedBytes + max(covarianceBytes.reduce(0, +), correctionBytes.reduce(0, +), eigenBytes.max() ?? 0)
    }

    /// Whether every stage has room for its largest module.
    public var fits: Bool {
        guard let budget else { return true }
        return [covarianceBytes, correctionBytes, eigenBytes].allSatisfy { fixedBytes + ($0.max() ?? 0) <= budget }
    }

    /// The peak a stage reaches with these groups.
    public func peak(_ costs: [Int], _ groups: [Range<Int>]) -> Int {
        fixedBytes + (groups.map { costs[$0].reduce(0, +) }.max() ?? 0)
    }
}
