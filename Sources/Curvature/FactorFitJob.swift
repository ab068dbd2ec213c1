import Checkpoints
import Foundation
import Models
import Numerics

/// A resumable EK-FAC fit into a factors directory: the two passes of `FactorFitter` with the
/// directory's lock, its manifest, and checkpoints within and between stages, so that running
/// the same job again after a kill continues where it stopped and gives the same factors.
///
/// Memory stays within `maxMemory` (when given): each pass covers module groups that fit
/// (`FitMemoryPlan`), the eigendecompositions run one module at a time, and every result is
/// written module by module into files filled in place (`SafeTensorsSlotFile`).
///
/// A shard (`shard` not whole) sums only its share of the batches: pass 1 stops after the
/// covariance sums; with `eigenbasis` (the merged pass-1 result of all shards) it runs pass 2
/// and keeps Λ's Float64 sums. `FactorMerge` combines the shards.
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
    /// Bytes the fit may use; nil: one group per pass.
    public var maxMemory: Int?
    /// This process's share of the batches.
    public var shard: ShardSpec = .whole
    /// A shard's pass 2: the directory holding the merged eigenbasis of all shards.
    public var eigenbasis: URL?
    /// Batches each pass runs at once and eigendecompositions run at once (`--threads`;
    /// within `maxMemory`). The factors are the same for every count.
    public var threads = 1

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

    public var layouts: [ModuleLayout] {
        model.moduleLayouts(options.modules, attentionBlocks: options.attentionBlocks, includeBias: options.includeBias)
    }

    /// Batches the passes run at once (`FitMemoryPlan.workers`): up to `threads` and this
    /// shard's batches.
    public var passWorkers: Int {
        let range = shard.documents(of: examples.count, batchSize: options.batchSize)
        let batches = (range.count + options.batchSize - 1) / options.batchSize
        return FitMemoryPlan.workers(upTo: min(threads, batches), budget: maxMemory) { memoryPlan(workers: $0) }
    }

    /// The memory plan of this job's passes (for the log and `influence plan`).
    public func memoryPlan(workers: Int? = nil) -> FitMemoryPlan {
        let range = shard.documents(of: examples.count, batchSize: options.batchSize)
        let batchTokens = stride(from: range.lowerBound, to: range.upperBound, by: options.batchSize).map { start in
            examples[start..<min(start + options.batchSize, range.upperBound)].reduce(0) { $0 + $1.tokens.count }
        }.max() ?? 0
        let longest = examples[range].map(\.tokens.count).max() ?? 0
        return FitMemoryPlan(model: model, layouts: layouts, batchTokens: batchTokens, longestSequence: longest, budget: maxMemory,
                             workers: workers ?? passWorkers)
    }

    /// Runs (or resumes) the fit and returns the final manifest. Each pass that runs reports its
    /// starting point once (tokens already done when resuming), then after every batch; `log`
    /// gets one-line messages (resumption, plan, timings, the files written).
    @discardableResult
    public func run(progress: (FactorFitter.Progress) -> Void = { _ in }, log: (String) -> Void = { _ in }) throws -> FactorManifest {
        let layouts = self.layouts
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let lock = try DirectoryLock(directory, purpose: "`influence fit`")
        defer { withExtendedLifetime(lock) {} }
        if force {
            try? FileManager.default.removeItem(at: FactorStore.manifestURL(directory))
            FactorCheckpoint.removeAll(in: directory)
            for url in [FactorStore.covariancesURL(directory), FactorStore.eigenbasisURL(directory), FactorStore.lambdaURL(directory),
                        FactorStore.lambdaSumsURL(directory)] { SafeTensorsSlotFile.removePartial(of: url) }
        }
        var manifest = FactorManifest(
            toolVersion: toolVersion, modelType: model.hyperparameters.family.rawValue, modelPath: modelPath,
            modelFingerprint: model.fingerprint, options: options, passesCompleted: 0, covarianceTokens: 0,
            covarianceSequences: 0, correctionSequences: 0, modules: layouts)
        manifest.shard = shard.isWhole ? nil : shard

        // Resume: the same model, options and shard continue after the last finished stage.
        if !force, let existing = try? FactorStore.readManifest(directory) {
            guard existing.modelFingerprint == manifest.modelFingerprint, existing.options.sameResult(as: options),
                  existing.shard == manifest.shard, existing.mergedShards == nil
            else {
                throw InputError("\(FactorStore.manifestURL(directory).path): holds factors of another model, data, options or shard; use --force to replace them or choose another --out")
            }
            manifest = existing
        }
        let finalPasses = shard.isWhole || eigenbasis != nil ? 2 : 1
        if manifest.passesCompleted >= finalPasses {
            log("\(directory.relativePath) is complete\(shard.isWhole ? "" : " for shard \(shard)"); nothing to do (--force fits again)")
            return manifest
        }
        if !shard.isWhole && eigenbasis == nil && manifest.passesCompleted >= 1 {
            return manifest
        }
        if manifest.passesCompleted == 1 {
            // Refuse another fit's sums before saying anything about resuming.
            try FactorStore.verify(FactorStore.covariancesURL(directory), against: manifest, in: directory)
            log("resuming after pass 1 (\(manifest.covarianceTokens) tokens)")
        }

        let plan = memoryPlan()
        let range = shard.documents(of: examples.count, batchSize: options.batchSize)
        let fitter = FactorFitter(model: model, layouts: layouts, batchSize: options.batchSize, seed: options.seed)
        fitter.threads = plan.workers
        let batches = (range.count + options.batchSize - 1) / options.batchSize
        if plan.workers < min(threads, batches) {
            log("passes run \(plan.workers) batch\(plan.workers == 1 ? "" : "es") at once, not \(min(threads, batches)): "
                + (maxMemory.map { "more would leave --max-memory \(MemorySize.format($0)) room for fewer modules a pass (more passes per thread)" }
                   ?? "80% of this machine's memory holds no more beside every module (--max-memory plans groups)"))
        }
        let totalTokens = examples[range].reduce(0) { $0 + $1.tokens.count }
        let parameterCount = layouts.reduce(0) { $0 + $1.parameterCount }
        log("fitting \(layouts.count) modules (\(layouts.reduce(0) { $0 + $1.blocks.count }) blocks, \(parameterCount) weights) on \(range.count) sequences, \(totalTokens) tokens"
            + (shard.isWhole ? "" : " (shard \(shard) of \(examples.count) sequences)"))

        if manifest.passesCompleted < 1 {
            try covariancePass(&manifest, layouts: layouts, plan: plan, fitter: fitter, range: range, progress: progress, log: log)
            // A shard's pass 1 ends here; with --eigenbasis (pass 2 into a fresh directory) it goes on.
            if !shard.isWhole && eigenbasis == nil { return manifest }
        }
        let eigenbasisDirectory: URL
        if let eigenbasis {
            guard !shard.isWhole else { preconditionFailure("--eigenbasis is for pass-2 shards") }
            eigenbasisDirectory = eigenbasis
        } else {
            if !manifest.hasEigenbasis { try eigendecompose(&manifest, layouts: layouts, plan: plan, log: log) }
            eigenbasisDirectory = directory
        }
        try correctionPass(&manifest, layouts: layouts, plan: plan, fitter: fitter, range: range, eigenbasisDirectory: eigenbasisDirectory,
                           progress: progress, log: log)
        return manifest
    }

    /// Pass 1, group by group, into covariances.safetensors.
    private func covariancePass(
        _ manifest: inout FactorManifest, layouts: [ModuleLayout], plan: FitMemoryPlan, fitter: FactorFitter, range: Range<Int>,
        progress: (FactorFitter.Progress) -> Void, log: (String) -> Void
    ) throws {
        let done = manifest.modulesDone ?? 0
        let groups = try plan.groups(plan.covarianceBytes, from: done, stage: "pass 1")
        _ = try plan.groups(plan.correctionBytes, stage: "pass 2")
        _ = try plan.groups(plan.eigenBytes, stage: "the eigendecompositions")
        describe(groups, of: layouts.count, pass: 1, plan: plan, costs: plan.covarianceBytes, log: log)
        let file = try SafeTensorsSlotFile(url: FactorStore.covariancesURL(directory), slots: FactorStore.covarianceSlots(layouts))
        for group in groups {
            let modules = Array(layouts[group])
            let run = FactorCheckpoint.runIdentity(manifest, pass: 1, modules: modules)
            let saved = FactorCheckpoint.readCovariances(layouts: modules, run: run, from: directory)
            started(pass: 1, range: range, at: saved?.nextSequence, progress: progress, log: log)
            let accumulator = saved?.0 ?? CovarianceAccumulator(layouts: modules)
            let schedule = CheckpointSchedule(every: checkpointEvery, from: saved?.nextSequence ?? range.lowerBound, total: range.upperBound)
            try fitter.accumulateCovariances(examples, range: range, into: accumulator, from: saved?.nextSequence ?? range.lowerBound,
                                             progress: progress) {
                if schedule.isDue($1) { try FactorCheckpoint.write($0, nextSequence: $1, run: run, to: directory) }
                FaultInjection.reached("pass1")
            }
            try FactorStore.write(accumulator, into: file)
            try file.synchronize()
            manifest.covarianceTokens = accumulator.tokenCount
            manifest.covarianceSequences = accumulator.sequenceCount
            manifest.modulesDone = group.upperBound
            try FactorStore.writeManifest(manifest, to: directory)
            FactorCheckpoint.removeAll(in: directory)
        }
        try file.finish()
        try FactorStore.record(file.url, in: &manifest)
        manifest.passesCompleted = 1
        manifest.modulesDone = nil
        try FactorStore.writeManifest(manifest, to: directory)
    }

    /// The eigendecompositions, one module at a time, into eigenbasis.safetensors.
    private func eigendecompose(_ manifest: inout FactorManifest, layouts: [ModuleLayout], plan: FitMemoryPlan, log: (String) -> Void) throws {
        let covariances = try FactorStore.open(FactorStore.covariancesURL(directory), manifest: manifest, directory: directory)
        let start = Date()
        if let done = manifest.modulesDone { log("resuming the eigendecompositions after \(done) of \(layouts.count) modules") }
        try FactorEigendecomposition.run(layouts: layouts, tokens: manifest.covarianceTokens, into: directory, manifest: &manifest,
                                         windows: plan.eigenWindows(threads: threads), log: log,
                                         sums: { m, body in
                                             let sums = try FactorStore.sums(layouts[m], in: covariances)
                                             defer { FactorStore.releaseSums(layouts[m], in: covariances) }
                                             try body(sums.input.baseAddress!, sums.outputs.map { $0.baseAddress! })
                                         })
        log(String(format: "eigendecomposition: %.2f s", Date().timeIntervalSince(start)))
    }

    /// Pass 2, group by group, into lambda.safetensors (or a shard's lambda-sums.safetensors).
    private func correctionPass(
        _ manifest: inout FactorManifest, layouts: [ModuleLayout], plan: FitMemoryPlan, fitter: FactorFitter, range: Range<Int>,
        eigenbasisDirectory: URL, progress: (FactorFitter.Progress) -> Void, log: (String) -> Void
    ) throws {
        let (source, eigenbases, eigenFile) = try FactorStore.readEigenbases(eigenbasisDirectory, layouts: layouts)
        let eigenDigest = source.files?[FactorStore.eigenbasisName] ?? ""
        if let eigenbasis {
            // A shard's pass 2 must use the eigenbasis merged from all shards of its own fit.
            guard source.modelFingerprint == manifest.modelFingerprint, source.options.sameResult(as: options),
                  source.mergedShards == shard.count, source.modules == layouts
            else {
                throw InputError("\(FactorStore.manifestURL(eigenbasis).path): not the merged eigenbasis of this fit's \(shard.count) shards (another model, options or shard count)")
            }
            if let used = manifest.eigenbasisDigest, used != eigenDigest {
                throw InputError("\(directory.path): pass 2 was started with another eigenbasis; use --force to start this shard again")
            }
            manifest.eigenbasisDigest = eigenDigest
        }
        let sums = !shard.isWhole
        let url = sums ? FactorStore.lambdaSumsURL(directory) : FactorStore.lambdaURL(directory)
        let done = manifest.modulesDone ?? 0
        let groups = try plan.groups(plan.correctionBytes, from: done, stage: "pass 2")
        describe(groups, of: layouts.count, pass: 2, plan: plan, costs: plan.correctionBytes, log: log)
        let file = try SafeTensorsSlotFile(url: url, slots: FactorStore.lambdaSlots(layouts, sums: sums))
        for group in groups {
            let modules = Array(eigenbases[group])
            let run = FactorCheckpoint.runIdentity(manifest, pass: 2, modules: Array(layouts[group]), eigenbasis: eigenDigest)
            let saved = FactorCheckpoint.readCorrections(eigenbases: modules, run: run, from: directory)
            started(pass: 2, range: range, at: saved?.nextSequence, progress: progress, log: log)
            let accumulator = saved?.0 ?? EigenvalueCorrectionAccumulator(eigenbases: modules)
            let schedule = CheckpointSchedule(every: checkpointEvery, from: saved?.nextSequence ?? range.lowerBound, total: range.upperBound)
            try fitter.accumulateCorrections(examples, range: range, into: accumulator, from: saved?.nextSequence ?? range.lowerBound,
                                             progress: progress) {
                if schedule.isDue($1) { try FactorCheckpoint.write($0, nextSequence: $1, run: run, to: directory) }
                FaultInjection.reached("pass2")
            }
            try FactorStore.write(accumulator, into: file, sums: sums)
            try file.synchronize()
            for layout in layouts[group] { for tensor in FactorStore.eigenbasisTensors(layout) { eigenFile.releasePages(tensor) } }
            manifest.correctionSequences = accumulator.sequenceCount
            manifest.modulesDone = group.upperBound
            try FactorStore.writeManifest(manifest, to: directory)
            FactorCheckpoint.removeAll(in: directory)
        }
        try file.finish()
        try FactorStore.record(file.url, in: &manifest)
        if !sums {
            // The fit's own eigenbasis file belongs to the finished factors.
            manifest.files?[FactorStore.eigenbasisName] = eigenDigest
        }
        manifest.passesCompleted = 2
        manifest.modulesDone = nil
        try FactorStore.writeManifest(manifest, to: directory)
        log("wrote \(url.relativePath) (\(layouts.count) modules, \(manifest.covarianceTokens) tokens, \(manifest.correctionSequences) sequences)")
    }

    private func started(pass: Int, range: Range<Int>, at nextSequence: Int?, progress: (FactorFitter.Progress) -> Void, log: (String) -> Void) {
        if let nextSequence { log("resuming pass \(pass) at sequence \(nextSequence + 1) of \(examples.count)") }
        let done = examples[range.lowerBound..<(nextSequence ?? range.lowerBound)].reduce(0) { $0 + $1.tokens.count }
        progress(FactorFitter.Progress(pass: pass, tokensDone: done, tokensTotal: examples[range].reduce(0) { $0 + $1.tokens.count }))
    }

    private func describe(_ groups: [Range<Int>], of total: Int, pass: Int, plan: FitMemoryPlan, costs: [Int], log: (String) -> Void) {
        guard let first = groups.first else { return }
        if first.lowerBound > 0 { log("resuming pass \(pass) after \(first.lowerBound) of \(total) modules") }
        if groups.count > 1 || plan.budget != nil {
            log("pass \(pass): \(groups.count) module group\(groups.count == 1 ? "" : "s") within \(MemorySize.format(plan.budget ?? 0)) (peak about \(MemorySize.format(plan.peak(costs, groups))))"
                + (groups.count > 1 ? "; the data are read \(groups.count) times" : ""))
        }
    }
}
