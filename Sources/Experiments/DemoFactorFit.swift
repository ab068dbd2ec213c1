import Checkpoints
import Curvature
import Foundation
import Models

/// The demo's EK-FAC fit: a complete factors directory (covariances, factors and a manifest
/// with their digests) as `influence fit MODEL --data DATA --out OUT --seed SEED` writes it
/// with its defaults, skipped when complete factors of the same model and options are there.
/// No mid-pass checkpoints: the demo's fits take seconds.
struct DemoFactorFit {
    let toolVersion: String
    let seed: UInt64
    var batchSize = 8
    let log: (String) -> Void

    init(toolVersion: String, seed: UInt64, log: @escaping (String) -> Void) {
        self.toolVersion = toolVersion
        self.seed = seed
        self.log = log
    }

    func fitIfNeeded(model modelURL: URL, data: URL, out: URL) throws {
        let loaded = try LoadedModel(directory: modelURL)
        let model = loaded.model, h = model.hyperparameters
        let layouts = model.moduleLayouts(.all, attentionBlocks: .perHead, includeBias: false)
        let options = FactorManifest.Options(
            modules: .all, attentionBlocks: .perHead, includeBias: false, maxSequences: nil, sequenceLength: h.maxPositions,
            batchSize: batchSize, seed: seed, data: data.path, dataFingerprint: FileDigest.fingerprint(ofPath: data.path))
        if let existing = try? FactorStore.readManifest(out), existing.passesCompleted >= 2,
           existing.modelFingerprint == model.fingerprint, existing.options.sameResult(as: options) {
            log("factors in \(out.path) are complete; nothing to do")
            return
        }
        try? FileManager.default.removeItem(at: out)
        try FileManager.default.createDirectory(at: out, withIntermediateDirectories: true)
        let examples = try loaded.tokenize(try JSONLines.read(DataRecord.self, path: data.path), source: data.path,
                                           maxLength: h.maxPositions, requireLabels: false).examples
        var manifest = FactorManifest(
            toolVersion: toolVersion, modelType: h.family.rawValue, modelPath: loaded.directory.path,
            modelFingerprint: model.fingerprint, options: options, passesCompleted: 0, covarianceTokens: 0,
            covarianceSequences: 0, correctionSequences: 0, modules: layouts)
        let fitter = FactorFitter(model: model, layouts: layouts, batchSize: batchSize, seed: seed)
        let covariances = try fitter.accumulateCovariances(examples)
        try FactorStore.writeCovariances(covariances, to: out, recordingIn: &manifest)
        manifest.passesCompleted = 1
        manifest.covarianceTokens = covariances.tokenCount
        manifest.covarianceSequences = covariances.sequenceCount
        let factors = try fitter.correctEigenvalues(examples, eigenbases: try FactorFitter.eigenbases(covariances), covariances: covariances)
        try FactorStore.writeFactors(factors, to: out, recordingIn: &manifest)
        manifest.passesCompleted = 2
        manifest.correctionSequences = factors.correctionSequenceCount
        try FactorStore.writeManifest(manifest, to: out)
        log("wrote \(FactorStore.factorsURL(out).path) (\(layouts.count) modules, \(manifest.covarianceTokens) tokens, \(manifest.correctionSequences) sequences)")
    }
}
