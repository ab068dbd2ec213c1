import Checkpoints
import Curvature
import Foundation
import Models
import Numerics
import Testing
import TestSupport

/// Mutated factors directories (factors.json text, eigenbasis.safetensors or lambda.safetensors bytes, and bytes with
/// the digest re-bound so the parser sees them): every case ends in factors or a
/// CheckpointError naming a file, never a trap or a hang.
@Suite struct FactorStoreFuzzTests {
    /// More on demand: `FACTORS_FUZZ_CASES=100000 swift test -c release --filter FactorStoreFuzzTests` (Tools/fuzz does it).
    static let cases = Int(ProcessInfo.processInfo.environment["FACTORS_FUZZ_CASES"] ?? "") ?? 2000

    @Test func mutatedFactorFilesGiveFactorsOrTypedErrors() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("fuzz-factors-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let model = microModel()
        let examples = randomExamples(count: 6, lengths: 3...8, vocabulary: 11, seed: 2)
        let layouts = model.moduleLayouts(.all, attentionBlocks: .perHead, includeBias: true)
        let fitter = FactorFitter(model: model, layouts: layouts, batchSize: 2, seed: 1)
        let covariances = try fitter.accumulateCovariances(examples)
        let factors = try fitter.correctEigenvalues(examples, eigenbases: FactorFitter.eigenbases(covariances), covariances: covariances)
        let options = FactorManifest.Options(modules: .all, attentionBlocks: .perHead, includeBias: true, maxSequences: nil,
                                             sequenceLength: 16, batchSize: 2, seed: 1, data: "fuzz", dataFingerprint: "0")
        var manifest = FactorManifest(toolVersion: "fuzz", modelType: "gpt_neox", modelPath: "micro", modelFingerprint: model.fingerprint,
                                      options: options, passesCompleted: 2, covarianceTokens: covariances.tokenCount,
                                      covarianceSequences: covariances.sequenceCount,
                                      correctionSequences: factors.correctionSequenceCount, modules: layouts)
        try FactorStore.writeFactors(factors, to: directory, recordingIn: &manifest)
        try FactorStore.writeManifest(manifest, to: directory)
        _ = try FactorStore.readFactors(directory)

        let manifestURL = FactorStore.manifestURL(directory)
        let manifestBytes = [UInt8](try Data(contentsOf: manifestURL))
        let targets = [FactorStore.eigenbasisURL(directory), FactorStore.lambdaURL(directory)]
        let originals = try targets.map { [UInt8](try Data(contentsOf: $0)) }
        let digests = try targets.map { try FileDigest.of($0) }
        var rng = RandomGenerator(seed: 12)
        var loaded = 0, refused = 0
        for _ in 0..<Self.cases {
            let t = rng.nextInt(below: 2), factorsURL = targets[t]
            var json = manifestBytes, tensors = originals[t]
            switch rng.nextInt(below: 3) {
            case 0: fuzzMutation(&json, &rng)
            case 1: fuzzMutation(&tensors, &rng)
            default:
                fuzzMutation(&tensors, &rng)
                try Data(tensors).write(to: factorsURL)
                let text = String(decoding: json, as: UTF8.self).replacingOccurrences(of: digests[t], with: try FileDigest.of(factorsURL))
                json = Array(text.utf8)
            }
            try Data(json).write(to: manifestURL)
            try Data(tensors).write(to: factorsURL)
            do {
                _ = try FactorStore.readFactors(directory)
                loaded += 1
            } catch let error as CheckpointError {
                #expect(([manifestURL] + targets).map(\.path).contains(error.path), "\(error)")
                refused += 1
            }
            try Data(originals[t]).write(to: factorsURL)
        }
        #expect(loaded + refused == Self.cases && refused > Self.cases / 2)
        print("factors fuzz: \(Self.cases) cases, \(loaded) loaded, \(refused) typed errors")
    }
}

/// One to four random edits: bit flips, bytes set to values parsers care about, digits
/// replaced by extreme numbers, insertions, deletions, truncation.
func fuzzMutation(_ bytes: inout [UInt8], _ rng: inout RandomGenerator) {
    let interesting: [[UInt8]] = ["0", "-1", "4294967296", "9223372036854775807", "1e308", "\"", "{", "]", ",", "null", "NaN"].map { Array($0.utf8) }
    for _ in 0...rng.nextInt(below: 4) {
        guard !bytes.isEmpty else { bytes = interesting[rng.nextInt(below: interesting.count)]; continue }
        let at = rng.nextInt(below: bytes.count)
        switch rng.nextInt(below: 6) {
        case 0: bytes[at] ^= UInt8(1 << rng.nextInt(below: 8))
        case 1: bytes[at] = [0, 0xFF, 0x7F, 0x80][rng.nextInt(below: 4)]
        case 2:
            var end = at
            while end < bytes.count, (0x30...0x39).contains(bytes[end]) { end += 1 }
            bytes.replaceSubrange(at..<max(end, at + 1), with: interesting[rng.nextInt(below: interesting.count)])
        case 3: bytes.insert(contentsOf: (0..<(1 + rng.nextInt(below: 16))).map { _ in UInt8(rng.nextInt(below: 256)) }, at: at)
        case 4: bytes.removeSubrange(at..<min(bytes.count, at + 1 + rng.nextInt(below: 64)))
        default: bytes.removeSubrange(at...)
        }
    }
}
