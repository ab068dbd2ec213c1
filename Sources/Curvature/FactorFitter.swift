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
    /// Batches run at once, each on its own thread with its own activations (`--threads`).
    /// Their contributions are added in batch order, so the sums are the same for every count.
    public var threads = 1
    /// Per worker: a batch's activations and the label sampler's scratch (made when first needed).
    private var workspaces: [(activations: DecoderActivations, scratch: FloatBuffer)] = []

    public init(model: DecoderModel, layouts: [ModuleLayout], batchSize: Int, seed: UInt64) {
        precondition(batchSize > 0)
        self.model = model
        self.layouts = layouts
        self.batchSize = batchSize
        self.seed = seed
    }

    /// Forward, sampled labels, backward into a lane for every batch of `range` (a batch
    /// boundary: shards are whole batches), `lanes.count` batches at a time. Each sequence's
    /// labels come from its own random stream (seeded by pass and example index), so that the
    /// result does not depend on how examples are grouped into batches, shards or workers. The
    /// pass starts at example `first` (a batch boundary of an earlier run when resuming);
    /// `afterWave` gets the next example's index once every batch before it is in the sums.
    private func run<Lane: PassLane>(
        _ examples: [TokenizedExample], range: Range<Int>, pass: Int, from first: Int, lanes: [Lane],
        begin: @escaping (Lane, TokenBatch, LossTargets) -> Void, progress: (Progress) -> Void, afterWave: (Int) throws -> Void
    ) throws {
        let total = examples[range].reduce(0) { $0 + $1.tokens.count }
        let start = max(first, range.lowerBound)
        var done = examples[range.lowerBound..<start].reduce(0) { $0 + $1.tokens.count }
        let starts = Array(stride(from: start, to: range.upperBound, by: batchSize))
        let workers = max(1, min(lanes.count, starts.count))
        while workspaces.count < workers {
            workspaces.append((DecoderActivations(hyperparameters: model.hyperparameters), FloatBuffer(capacity: model.hyperparameters.outputWidth)))
        }
        for wave in stride(from: 0, to: starts.count, by: workers) {
            let count = min(workers, starts.count - wave)
            let slices = (0..<count).map { i in Array(examples[starts[wave + i]..<min(starts[wave + i] + batchSize, range.upperBound)]) }
            var failures = [Error?](repeating: nil, count: count)
            failures.withUnsafeMutableBufferPointer { failures in
                nonisolated(unsafe) let failures = failures
                runOnThreads(count) { i in
                    let lane = lanes[i]
                    lane.start(batch: wave + i)
                    defer { lane.end() }
                    do {
                        try runBatch(slices[i], at: starts[wave + i], pass: pass, workspace: workspaces[i], lane: lane, begin: begin)
                    } catch {
                        failures[i] = error
                    }
                }
            }
            if let error = failures.compactMap({ $0 }).first { throw error }
            for slice in slices {
                done += slice.reduce(0) { $0 + $1.tokens.count }
                progress(Progress(pass: pass, tokensDone: done, tokensTotal: total))
            }
            try afterWave(starts[wave + count - 1] + slices[count - 1].count)
        }
    }

    /// One batch: forward, labels sampled from the model, backward into `lane`.
    private func runBatch<Lane: PassLane>(
        _ slice: [TokenizedExample], at start: Int, pass: Int, workspace: (activations: DecoderActivations, scratch: FloatBuffer),
        lane: Lane, begin: (Lane, TokenBatch, LossTargets) -> Void
    ) throws {
        let (activations, scratch) = workspace
        let V = model.hyperparameters.outputWidth
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
        begin(lane, batch, targets)
        model.backpropagateLoss(batch, targets: targets, activations, observer: lane)
    }

    /// Pass 1 into `accumulator` (which may cover only some modules: a module group) over
    /// the examples of `range`, from example `first` on (resuming); `checkpoint` gets the sums
    /// and the next example after every wave of `threads` batches.
    public func accumulateCovariances(
        _ examples: [TokenizedExample], range: Range<Int>? = nil, into accumulator: CovarianceAccumulator, from first: Int = 0,
        progress: (Progress) -> Void = { _ in }, checkpoint: (CovarianceAccumulator, Int) throws -> Void = { _, _ in }
    ) throws {
        let model = self.model
        let lanes = accumulator.lanes(max(threads, 1), order: CommitOrder(modules: accumulator.layouts.count))
        try run(examples, range: range ?? examples.indices, pass: 1, from: first, lanes: lanes, begin: { lane, batch, targets in
            lane.begin(countedRows: model.covarianceRows(batch, targets: targets),
                       sequences: model.countedSequences(batch, targets: targets).count)
        }, progress: progress, afterWave: { try checkpoint(accumulator, $0) })
    }

    /// Pass 2 into `accumulator` (possibly a module group) over the examples of `range`.
    public func accumulateCorrections(
        _ examples: [TokenizedExample], range: Range<Int>? = nil, into accumulator: EigenvalueCorrectionAccumulator, from first: Int = 0,
        progress: (Progress) -> Void = { _ in }, checkpoint: (EigenvalueCorrectionAccumulator, Int) throws -> Void = { _, _ in }
    ) throws {
        let model = self.model
        let lanes = accumulator.lanes(max(threads, 1), order: CommitOrder(modules: accumulator.eigenbases.count))
        try run(examples, range: range ?? examples.indices, pass: 2, from: first, lanes: lanes, begin: { lane, batch, targets in
            lane.begin(sequenceRows: model.curvatureRows(batch, targets: targets))
        }, progress: progress, afterWave: { try checkpoint(accumulator, $0) })
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
