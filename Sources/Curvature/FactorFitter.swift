import Foundation
import Models
import Numerics

/// Runs the two EK-FAC passes of DESIGN §4 over a set of examples.
///
/// In both passes each counted next-token label is sampled from the model's own predictive
/// distribution (the true Fisher); pass 2 draws fresh labels. Examples are processed in batches
/// of `batchSize` sequences; the result does not depend on the batch size.
public final class FactorFitter {
    public struct Progress: Sendable {
        public let pass: Int
        public let tokensDone: Int
        public let tokensTotal: Int
    }

    public let model: DecoderModel
    public let layouts: [ModuleLayout]
    public let batchSize: Int
    public let seed: UInt64
    private let activations: DecoderActivations
    private let scratch: FloatBuffer

    public init(model: DecoderModel, layouts: [ModuleLayout], batchSize: Int, seed: UInt64) {
        precondition(batchSize > 0)
        self.model = model
        self.layouts = layouts
        self.batchSize = batchSize
        self.seed = seed
        activations = DecoderActivations(hyperparameters: model.hyperparameters)
        scratch = FloatBuffer(capacity: model.hyperparameters.outputWidth)
    }

    /// Forward, sampled labels, backward into `observer` for every batch of `range` (a batch
    /// boundary: shards are whole batches). Each sequence's labels come from its own random
    /// stream (seeded by pass and example index), so that the result does not depend on how
    /// examples are grouped into batches or shards. The pass starts at example `first` (a batch
    /// boundary of an earlier run when resuming); `afterBatch` gets the next example's index.
    private func run(
        _ examples: [TokenizedExample], range: Range<Int>, pass: Int, from first: Int, begin: (TokenBatch, LossTargets) -> Void,
        observer: LinearModuleTapObserver, progress: (Progress) -> Void, afterBatch: (Int) throws -> Void
    ) throws {
        let total = examples[range].reduce(0) { $0 + $1.tokens.count }
        let start = max(first, range.lowerBound)
        var done = examples[range.lowerBound..<start].reduce(0) { $0 + $1.tokens.count }
        let V = model.hyperparameters.outputWidth
        for start in stride(from: start, to: range.upperBound, by: batchSize) {
            let slice = Array(examples[start..<min(start + batchSize, range.upperBound)])
            let batch = TokenBatch(examples: slice)
            try model.validate(batch)
            model.forward(batch, activations)
            var targets = try model.lossTargets(batch, examples: slice)
            for s in 0..<batch.sequenceCount {
                var rng = RandomGenerator(seed: seed &+ UInt64(pass) &* 0x9E37_79B9_7F4A_7C15 &+ UInt64(start + s) &* 0xBF58_476D_1CE4_E5B9)
                let rows = model.targetRows(batch, sequence: s)
                var sequenceTargets = LossTargets(targets: Array(targets.targets[rows]), weights: Array(targets.weights[rows]))
                CrossEntropy.sampleTargets(logits: activations.logits + rows.lowerBound * V, targets: &sequenceTargets,
                                           vocabularySize: V, scratch: scratch.pointer, using: &rng)
                targets.targets.replaceSubrange(rows, with: sequenceTargets.targets)
            }
            begin(batch, targets)
            model.backpropagateLoss(batch, targets: targets, activations, observer: observer)
            done += batch.tokenCount
            progress(Progress(pass: pass, tokensDone: done, tokensTotal: total))
            try afterBatch(start + slice.count)
        }
    }

    /// Pass 1 into `accumulator` (which may cover only some modules: a module group) over
    /// the examples of `range`, from example `first` on (resuming); `checkpoint` gets the sums
    /// and the next example after every batch.
    public func accumulateCovariances(
        _ examples: [TokenizedExample], range: Range<Int>? = nil, into accumulator: CovarianceAccumulator, from first: Int = 0,
        progress: (Progress) -> Void = { _ in }, checkpoint: (CovarianceAccumulator, Int) throws -> Void = { _, _ in }
    ) throws {
        try run(examples, range: range ?? examples.indices, pass: 1, from: first, begin: { batch, targets in
            accumulator.begin(countedRows: self.model.covarianceRows(batch, targets: targets),
                              sequences: self.model.countedSequences(batch, targets: targets).count)
        }, observer: accumulator, progress: progress, afterBatch: { try checkpoint(accumulator, $0) })
    }

    /// Pass 2 into `accumulator` (possibly a module group) over the examples of `range`.
    public func accumulateCorrections(
        _ examples: [TokenizedExample], range: Range<Int>? = nil, into accumulator: EigenvalueCorrectionAccumulator, from first: Int = 0,
        progress: (Progress) -> Void = { _ in }, checkpoint: (EigenvalueCorrectionAccumulator, Int) throws -> Void = { _, _ in }
    ) throws {
        try run(examples, range: range ?? examples.indices, pass: 2, from: first, begin: { batch, targets in
            accumulator.begin(sequenceRows: self.model.curvatureRows(batch, targets: targets))
        }, observer: accumulator, progress: progress, afterBatch: { try checkpoint(accumulator, $0) })
    }

    /// Pass 1: sums of a aᵀ and g gᵀ. `resuming` continues saved sums at their next example;
    /// `checkpoint` gets the sums and the next example after every batch (to save them).
    public func accumulateCovariances(
        _ examples: [TokenizedExample], resuming: (CovarianceAccumulator, nextSequence: Int)? = nil,
        progress: (Progress) -> Void = { _ in }, checkpoint: (CovarianceAccumulator, Int) throws -> Void = { _, _ in }
    ) throws -> CovarianceAccumulator {
        let accumulator = resuming?.0 ?? CovarianceAccumulator(layouts: layouts)
        try accumulateCovariances(examples, into: accumulator, from: resuming?.nextSequence ?? 0, progress: progress, checkpoint: checkpoint)
        return accumulator
    }

    /// Eigendecomposition of the averaged covariances; `progress` gets each finished module's index.
    public static func eigenbases(_ covariances: CovarianceAccumulator, progress: (Int) -> Void = { _ in }) throws -> [ModuleEigenbasis] {
        try covariances.layouts.indices.map { m in
            defer { progress(m) }
            return try covariances.eigenbasis(ofModule: m)
        }
    }

    /// Pass 2: corrected eigenvalues, averaged over sequences; `resuming` and `checkpoint` as
    /// in pass 1.
    public func correctEigenvalues(
        _ examples: [TokenizedExample], eigenbases: [ModuleEigenbasis], covariances: CovarianceAccumulator,
        resuming: (EigenvalueCorrectionAccumulator, nextSequence: Int)? = nil, progress: (Progress) -> Void = { _ in },
        checkpoint: (EigenvalueCorrectionAccumulator, Int) throws -> Void = { _, _ in }
    ) throws -> EKFACFactors {
        let accumulator = resuming?.0 ?? EigenvalueCorrectionAccumulator(eigenbases: eigenbases)
        try accumulateCorrections(examples, into: accumulator, from: resuming?.nextSequence ?? 0, progress: progress, checkpoint: checkpoint)
        let scale = 1 / Double(max(accumulator.sequenceCount, 1))
        return EKFACFactors(
            eigenbases: eigenbases, correctedEigenvalues: accumulator.sums.map { $0.map { $0.map { Float($0 * scale) } } },
            covarianceTokenCount: covariances.tokenCount, covarianceSequenceCount: covariances.sequenceCount,
            correctionSequenceCount: accumulator.sequenceCount)
    }
}
