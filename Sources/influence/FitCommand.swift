import ArgumentParser
import Checkpoints
import Curvature
import Foundation
import Models

struct Fit: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Fit EK-FAC factors of a model on data (two passes; resumable).",
        discussion: """
            Pass 1 accumulates the input and output-gradient covariances A and S with next-token labels \
            sampled from the model (Float64 sums), then eigendecomposes them. Pass 2 accumulates the \
            corrected eigenvalues from per-sequence pseudo-gradients with freshly sampled labels. \
            Data lines are {"text": ...} or {"prompt": ..., "completion": ...} (labels sampled at completion positions only; \
            A, S and Λ all use every row up to the last completion token, since attention carries the loss to the prompt). \
            Run the same command again to resume an interrupted fit: it continues from the last checkpoint \
            of the pass that was running (see --checkpoint-every) and gives the same factors. One fit at a \
            time may write to an --out directory (a lock file, .lock).
            """)

    @Argument(help: "A GPT-NeoX model directory.")
    var modelDirectory: String

    @Option(help: "JSON Lines fitting data.")
    var data: String

    @Option(help: "Output directory for the factors.")
    var out: String

    @Option(help: "Tracked modules: all, mlp or attention.")
    var modules: ModuleSelection = .all

    @Option(help: "Blocks of the fused query/key/value weight: per-head or fused.")
    var attentionBlocks: AttentionBlocks = .perHead

    @Flag(help: "Include biases (a constant 1 appended to each module input).")
    var includeBias = false

    @Option(parsing: .unconditional, help: "Use at most this many sequences.")
    var maxSequences: Int?

    @Option(parsing: .unconditional, help: "Cut sequences to this many tokens (default: the model's context).")
    var seqLen: Int?

    @Option(parsing: .unconditional, help: "Sequences per forward/backward pass.")
    var batchSize = 8

    @Option(parsing: .unconditional, help: "Seed of the sampled labels.")
    var seed: UInt64 = 0

    @Flag(help: "Discard factors already in --out and fit again.")
    var force = false

    @Option(parsing: .unconditional, help: "Save a pass's progress every this many sequences (default: every 5 minutes).")
    var checkpointEvery: Int?

    func validate() throws {
        try OptionCheck.positive(batchSize, "--batch-size", largest: OptionCheck.largestCount)
        try OptionCheck.positive(maxSequences, "--max-sequences")
        try OptionCheck.inRange(seqLen, "--seq-len", 2)
        try OptionCheck.positive(checkpointEvery, "--checkpoint-every")
    }

    func run() throws {
        let loaded = try LoadedModel(path: modelDirectory)
        let model = loaded.model
        let h = model.hyperparameters
        let sequenceLength = min(seqLen ?? h.maxPositions, h.maxPositions)
        var records = try readJSONLines(data, as: DataRecord.self)
        if let maxSequences { records = Array(records.prefix(maxSequences)) }
        if records.isEmpty { throw InputError("\(data): no records") }
        let tokenized = try loaded.tokenize(records, source: data, maxLength: sequenceLength, requireLabels: false)
        if tokenized.truncated > 0 { warn("note: cut \(tokenized.truncated) sequences to \(sequenceLength) tokens") }

        let layouts = ModuleLayout.of(GPTNeoXModel.trackedModules(h), selection: modules, attentionBlocks: attentionBlocks, includeBias: includeBias)
        let options = FactorManifest.Options(
            modules: modules, attentionBlocks: attentionBlocks, includeBias: includeBias, maxSequences: maxSequences,
            sequenceLength: sequenceLength, batchSize: batchSize, seed: seed, data: data, dataFingerprint: FileDigest.fingerprint(ofPath: data))
        let directory = URL(fileURLWithPath: out)
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let lock = try DirectoryLock(directory, purpose: "`influence fit`")
        defer { withExtendedLifetime(lock) {} }
        if force {
            try? FileManager.default.removeItem(at: FactorStore.manifestURL(directory))
            FactorCheckpoint.removeAll(in: directory)
        }
        var manifest = FactorManifest(
            toolVersion: ToolVersion.current, modelType: h.family.rawValue, modelPath: loaded.directory.path,
            modelFingerprint: model.fingerprint, options: options, passesCompleted: 0, covarianceTokens: 0,
            covarianceSequences: 0, correctionSequences: 0, modules: layouts)

        // Resume: the same model and options continue after the last finished pass.
        var covariances: CovarianceAccumulator?
        if !force, let existing = try? FactorStore.readManifest(directory) {
            guard existing.modelFingerprint == manifest.modelFingerprint, existing.options.sameResult(as: options) else {
                throw InputError("\(FactorStore.manifestURL(directory).path): holds factors of another model, data or options; use --force to replace them or choose another --out")
            }
            if existing.passesCompleted >= 2 {
                warn("factors in \(out) are complete; nothing to do (--force fits again)")
                return
            }
            if existing.passesCompleted == 1 {
                covariances = try FactorStore.readCovariances(layouts: layouts, manifest: existing, from: directory)
                manifest = existing
                warn("resuming after pass 1 (\(existing.covarianceTokens) tokens)")
            }
        }

        let fitter = FactorFitter(model: model, layouts: layouts, batchSize: batchSize, seed: seed)
        let totalTokens = tokenized.examples.reduce(0) { $0 + $1.tokens.count }
        let parameterCount = layouts.reduce(0) { $0 + $1.parameterCount }
        warn("fitting \(layouts.count) modules (\(layouts.reduce(0) { $0 + $1.blocks.count }) blocks, \(parameterCount) weights) on \(tokenized.examples.count) sequences, \(totalTokens) tokens")
        if covariances == nil {
            let run = FactorCheckpoint.runIdentity(manifest, pass: 1)
            let saved = FactorCheckpoint.readCovariances(layouts: layouts, run: run, from: directory)
            if let saved { warn("resuming pass 1 at sequence \(saved.nextSequence + 1) of \(tokenized.examples.count)") }
            let schedule = CheckpointSchedule(every: checkpointEvery, from: saved?.nextSequence ?? 0, total: tokenized.examples.count)
            let bar = ProgressBar("pass 1/2 covariances", total: totalTokens)
            let accumulator = try fitter.accumulateCovariances(tokenized.examples, resuming: saved) { bar.update($0.tokensDone) } checkpoint: {
                if schedule.isDue($1) { try FactorCheckpoint.write($0, nextSequence: $1, run: run, to: directory) }
                FaultInjection.reached("pass1")
            }
            bar.finish()
            try FactorStore.writeCovariances(accumulator, to: directory, recordingIn: &manifest)
            manifest.passesCompleted = 1
            manifest.covarianceTokens = accumulator.tokenCount
            manifest.covarianceSequences = accumulator.sequenceCount
            try FactorStore.writeManifest(manifest, to: directory)
            FactorCheckpoint.removeAll(in: directory)
            covariances = accumulator
        }
        let start = Date()
        let eigenbases = try FactorFitter.eigenbases(covariances!) { _ in FaultInjection.reached("eigen") }
        warn(String(format: "eigendecomposition: %.2f s", Date().timeIntervalSince(start)))
        let run = FactorCheckpoint.runIdentity(manifest, pass: 2)
        let saved = FactorCheckpoint.readCorrections(eigenbases: eigenbases, run: run, from: directory)
        if let saved { warn("resuming pass 2 at sequence \(saved.nextSequence + 1) of \(tokenized.examples.count)") }
        let schedule = CheckpointSchedule(every: checkpointEvery, from: saved?.nextSequence ?? 0, total: tokenized.examples.count)
        let bar = ProgressBar("pass 2/2 eigenvalues ", total: totalTokens)
        let factors = try fitter.correctEigenvalues(tokenized.examples, eigenbases: eigenbases, covariances: covariances!, resuming: saved) {
            bar.update($0.tokensDone)
        } checkpoint: {
            if schedule.isDue($1) { try FactorCheckpoint.write($0, nextSequence: $1, run: run, to: directory) }
            FaultInjection.reached("pass2")
        }
        bar.finish()
        try FactorStore.writeFactors(factors, to: directory, recordingIn: &manifest)
        manifest.passesCompleted = 2
        manifest.correctionSequences = factors.correctionSequenceCount
        try FactorStore.writeManifest(manifest, to: directory)
        FactorCheckpoint.removeAll(in: directory)
        warn("wrote \(FactorStore.factorsURL(directory).path) (\(layouts.count) modules, \(manifest.covarianceTokens) tokens, \(manifest.correctionSequences) sequences)")
    }
}

extension ModuleSelection: ExpressibleByArgument {}
extension AttentionBlocks: ExpressibleByArgument {}
extension PreconditionerMethod: ExpressibleByArgument {}

/// When a fit saves a pass's progress: every `every` sequences, or every five minutes without
/// it; never after the last batch (the pass's own file follows at once).
final class CheckpointSchedule {
    private let every: Int?
    private let total: Int
    private var lastSequence: Int
    private var lastTime = Date()

    init(every: Int?, from first: Int, total: Int) {
        self.every = every
        self.total = total
        lastSequence = first
    }

    func isDue(_ nextSequence: Int) -> Bool {
        guard nextSequence < total else { return false }
        let due = every.map { nextSequence - lastSequence >= $0 } ?? (Date().timeIntervalSince(lastTime) >= 300)
        if due { (lastSequence, lastTime) = (nextSequence, Date()) }
        return due
    }
}
