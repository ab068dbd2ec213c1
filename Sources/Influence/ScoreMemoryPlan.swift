import Checkpoints
import Curvature
import Models
import Numerics

/// `score --max-memory`: which modules one pass over the training documents can score at once.
///
/// What stays for the whole run is fixed: the weights of each model, one batch's activations
/// (and a 16-bit matrix widened), one module's document gradients for a batch, and with EK-FAC
/// or K-FAC the largest module's memory-mapped factors while its queries are preconditioned. What grows
/// with the modules covered is the preconditioned queries, Float32, every weight of a module per
/// query, plus the query batch's raw gradients while they are formed. When they do not all fit,
/// the modules are split into consecutive groups, each scored in its own pass over the
/// documents; the scores are summed in module order, so they equal one pass's bit for bit.
public struct ScoreMemoryPlan: Sendable {
    public let fixedBytes: Int
    /// Per module (in `layouts` order).
    public let moduleBytes: [Int]
    public let budget: Int?

    init(layouts: [ModuleLayout], models: [DecoderModel], documentTokens: Int, longestDocument: Int, queries: Int, queryBatch: Int,
         documentBatch: Int, budget: Int?, usesFactors: Bool, workers: Int = 1) {
        self.init(hyperparameters: models[0].hyperparameters, layouts: layouts, weightBytes: models.reduce(0) { $0 + $1.weightBytes },
                  weightScratchFloats: models[0].weightScratchFloats, documentTokens: documentTokens, longestDocument: longestDocument,
                  queries: queries, queryBatch: queryBatch, documentBatch: documentBatch, budget: budget, usesFactors: usesFactors,
                  workers: workers)
    }

    /// The plan of a model known by its shape and weight size (`influence plan`).
    public init(hyperparameters h: DecoderHyperparameters, layouts: [ModuleLayout], weightBytes: Int, weightScratchFloats: Int,
                documentTokens: Int, longestDocument: Int, queries: Int, queryBatch: Int, documentBatch: Int, budget: Int?,
                usesFactors: Bool, workers: Int = 1) {
        let activations = DecoderActivations.estimatedBytes(h, tokens: documentTokens, longestSequence: longestDocument,
                                                            weightScratchFloats: weightScratchFloats)
        let largest = layouts.map(\.parameterCount).max() ?? 0
        let factors = usesFactors ? layouts.map { 4 * ($0.inputSize * $0.inputSize + $0.blocks.reduce(0) { $0 + $1.size * $1.size } + $0.parameterCount) }.max() ?? 0 : 0
        // Each worker thread (`--threads`) holds its own batch's activations and module buffers.
        fixedBytes = weightBytes + max(1, workers) * (activations + 4 * documentBatch * largest) + factors
        moduleBytes = layouts.map { 4 * $0.parameterCount * (queries + min(queries, queryBatch)) }
        self.budget = budget
    }

    /// The peak with every module in one pass.
    public var onePassPeakBytes: Int { fixedBytes + moduleBytes.reduce(0, +) }

    /// Consecutive module groups that fit; one group without a budget. Throws when one module
    /// alone does not fit, saying the smallest budget that would do.
    public func groups() throws -> [Range<Int>] {
        guard let budget, !moduleBytes.isEmpty else { return [0..<moduleBytes.count] }
        let available = budget - fixedBytes, largest = moduleBytes.max()!
        guard largest <= available else {
            throw InputError("--max-memory \(MemorySize.format(budget)) is too small for scoring: the weights, one batch and scratch take \(MemorySize.format(fixedBytes)) and the largest module's preconditioned queries \(MemorySize.format(largest)); give at least \(MemorySize.format(fixedBytes + largest)) (or fewer queries, a smaller --batch-size, or --query-rank)")
        }
        return ModuleGroups.packed(moduleBytes, capacity: available)
    }
}

/// The modules `range` of another preconditioner, renumbered from 0 (one group of `score --max-memory`).
final class ModuleRangePreconditioner: Preconditioner {
    let base: Preconditioner
    let range: Range<Int>

    init(_ base: Preconditioner, modules range: Range<Int>) {
        self.base = base
        self.range = range
    }

    var layouts: [ModuleLayout] { Array(base.layouts[range]) }

    func apply(module m: Int, to gradient: UnsafeMutablePointer<Float>) { base.apply(module: range.lowerBound + m, to: gradient) }
}
