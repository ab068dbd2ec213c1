import Checkpoints
import Curvature
import Foundation
import Models

/// The demo's EK-FAC fit: `FactorFitJob` with the options `influence fit MODEL --data DATA
/// --out OUT --seed SEED` uses by default, so a second run finds the factors complete.
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
        let loaded = try LoadedModel(url: modelURL)
        let h = loaded.model.hyperparameters
        let options = FactorManifest.Options(
            modules: .all, attentionBlocks: .perHead, includeBias: false, maxSequences: nil, sequenceLength: h.maxPositions,
            batchSize: batchSize, seed: seed, data: data.path, dataFingerprint: FileDigest.fingerprint(ofPath: data.path))
        // Factors of an earlier model in the cache (a re-trained stage) are replaced, not refused.
        if let existing = try? FactorStore.readManifest(out),
           existing.modelFingerprint != loaded.model.fingerprint || !existing.options.sameResult(as: options) {
            try FileManager.default.removeItem(at: out)
        }
        let examples = try loaded.tokenize(file: data.path, maxLength: h.maxPositions, requireLabels: false).examples
        try FactorFitJob(loaded: loaded, examples: examples, options: options, directory: out, toolVersion: toolVersion).run(log: log)
    }
}
