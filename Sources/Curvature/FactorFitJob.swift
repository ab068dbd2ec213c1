import Checkpoints
import Foundation
import Models

/// A resumable EK-FAC fit into a factors directory: the two passes of `FactorFitter` with the
/// directory's lock, its manifest, and checkpoints within and between passes, so that running
/// the same job again after a kill continues where it stopped and gives the same factors.
///
/// Fault-injection points (`FaultInjection`) sit after each batch (`pass1`, `pass2`) and after
/// each module's eigendecomposition (`eigen`), where the interruption tests kill the process.
public struct FactorFitJob {
    public let model: DecoderModel
    /// The model directory recorded in the manifest.
    public let modelPath: String
    public let examples: [TokenizedExample]
    public let options: FactorManifest.Options
    public let directory: URL
    /// Discard factors and checkpoints already in `directory` and fit again.
    public var force: Bool
    /// Save a pass's progress every this many sequences (nil: every five minutes).
    public var checkpointEvery: Int?
    public let toolVersion: String

    public init(model: DecoderModel, modelPath: String, examples: [TokenizedExample], options: FactorManifest.Options,
                directory: URL, force: Bool = false, checkpointEvery: Int? = nil, toolVersion: String) {
        self.model = model
        self.modelPath = modelPath
        self.examples = examples
        self.options = options
        self.directory = directory
        self.force = force
        self.checkpointEvery = checkpointEvery
        self.toolVersion = toolVersion
    }

    public init(loaded: LoadedModel, examples: [TokenizedExample], options: FactorManifest.Options, directory: URL,
                force: Bool = false, checkpointEvery: Int? = nil, toolVersion: String) {
        self.init(model: loaded.model, modelPath: loaded.url.path, examples: examples, options: options,
                  directory: directory, force: force, checkpointEvery: checkpointEvery, toolVersion: toolVersion)
    }

    /// Runs (or resumes) the fit and returns the final manifest. Each pass that runs reports its
    /// starting point once (tokens already done when resuming), then after every batch; `log`
    /// gets one-line messages (resumption, sizes, timings, the file written).
    @discardableResult
    public func run(progress: (FactorFitter.Progress) -> Void = { _ in }, log: (String) -> Void = { _ in }) throws -> FactorManifest {
        let layouts = model.moduleLayouts(options.modules, attentionBlocks: options.attentionBlocks, includeBias: options.includeBias)
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let lock = try DirectoryLock(directory, purpose: "`influence fit`")
        defer { withExtendedLifetime(lock) {} }
        if force {
            try? FileManager.default.removeItem(at: FactorStore.manifestURL(directory))
            FactorCheckpoint.removeAll(in: directory)
        }
        var manifest = FactorManifest(
            toolVersion: toolVersion, modelType: model.hyperparameters.family.rawValue, modelPath: modelPath,
            modelFingerprint: model.fingerprint, options: options, passesCompleted: 0, covarianceTokens: 0,
            covarianceSequences: 0, correctionSequences: 0, modules: layouts)

        // Resume: the same model and options continue after the last finished pass.
        var covariances: CovarianceAccumulator?
        if !force, let existing = try? FactorStore.readManifest(directory) {
            guard existing.modelFingerprint == manifest.modelFingerprint, existing.options.sameResult(as: options) else {
                throw InputError("\(FactorStore.manifestURL(directory).path): holds factors of another model, data or options; use --force to replace them or choose another --out")
            }
            if existing.passesCompleted >= 2 {
                log("factors in \(directory.relativePath) are complete; nothing to do (--force fits again)")
                return existing
            }
            if existing.passesCompleted == 1 {
                covariances = try FactorStore.readCovariances(layouts: layouts, manifest: existing, from: directory)
                manifest = existing
                log("resuming after pass 1 (\(existing.covarianceTokens) tokens)")
            }
        }

        let fitter = FactorFitter(model: model, layouts: layouts, batchSize: options.batchSize, seed: options.seed)
        let totalTokens = examples.reduce(0) { $0 + $1.tokens.count }
        let parameterCount = layouts.reduce(0) { $0 + $1.parameterCount }
        log("fitting \(layouts.count) modules (\(layouts.reduce(0) { $0 + $1.blocks.count }) blocks, \(parameterCount) weights) on \(examples.count) sequences, \(totalTokens) tokens")
        func started(pass: Int, at nextSequence: Int?) {
            if let nextSequence { log("resuming pass \(pass) at sequence \(nextSequence + 1) of \(examples.count)") }
            let done = examples.prefix(nextSequence ?? 0).reduce(0) { $0 + $1.tokens.count }
            progress(FactorFitter.Progress(pass: pass, tokensDone: done, tokensTotal: totalTokens))
        }
        if covariances == nil {
            let run = FactorCheckpoint.runIdentity(manifest, pass: 1)
            let saved = FactorCheckpoint.readCovariances(layouts: layouts, run: run, from: directory)
            started(pass: 1, at: saved?.nextSequence)
            let schedule = CheckpointSchedule(every: checkpointEvery, from: saved?.nextSequence ?? 0, total: examples.count)
            let accumulator = try fitter.accumulateCovariances(examples, resuming: saved, progress: progress) {
                if schedule.isDue($1) { try FactorCheckpoint.write($0, nextSequence: $1, run: run, to: directory) }
                FaultInjection.reached("pass1")
            }
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
        log(String(format: "eigendecomposition: %.2f s", Date().timeIntervalSince(start)))
        let run = FactorCheckpoint.runIdentity(manifest, pass: 2)
        let saved = FactorCheckpoint.readCorrections(eigenbases: eigenbases, run: run, from: directory)
        started(pass: 2, at: saved?.nextSequence)
        let schedule = CheckpointSchedule(every: checkpointEvery, from: saved?.nextSequence ?? 0, total: examples.count)
        let factors = try fitter.correctEigenvalues(examples, eigenbases: eigenbases, covariances: covariances!, resuming: saved,
                                                    progress: progress) {
            if schedule.isDue($1) { try FactorCheckpoint.write($0, nextSequence: $1, run: run, to: directory) }
            FaultInjection.reached("pass2")
        }
        try FactorStore.writeFactors(factors, to: directory, recordingIn: &manifest)
        manifest.passesCompleted = 2
        manifest.correctionSequences = factors.correctionSequenceCount
        try FactorStore.writeManifest(manifest, to: directory)
        FactorCheckpoint.removeAll(in: directory)
        log("wrote \(FactorStore.factorsURL(directory).path) (\(layouts.count) modules, \(manifest.covarianceTokens) tokens, \(manifest.correctionSequences) sequences)")
        return manifest
    }
}
