import Checkpoints
import Curvature
import Foundation
import Models
import Testing
import TestSupport

/// A fit's passes saved mid-way (FactorCheckpoint) and resumed add exactly what the
/// uninterrupted pass adds: the same Float64 sums, bit for bit.
@Suite struct FactorResumeTests {
    @Test func passesResumedFromACheckpointEqualUninterruptedOnes() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("resume-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let model = microModel()
        let examples = randomExamples(count: 10, lengths: 3...9, vocabulary: 11, seed: 4, promptLength: 2)
        let layouts = model.moduleLayouts(.all, attentionBlocks: .perHead, includeBias: true)
        let fitter = FactorFitter(model: model, layouts: layouts, batchSize: 3, seed: 7)

        let straight = try fitter.accumulateCovariances(examples)
        _ = try fitter.accumulateCovariances(examples, checkpoint: { sums, next in
            if next == 6 { try FactorCheckpoint.write(sums, nextSequence: next, run: "run", to: directory) }
        })
        #expect(FactorCheckpoint.readCovariances(layouts: layouts, run: "another run", from: directory) == nil)
        let saved = try #require(FactorCheckpoint.readCovariances(layouts: layouts, run: "run", from: directory))
        #expect(saved.nextSequence == 6 && saved.0.tokenCount < straight.tokenCount)
        let resumed = try fitter.accumulateCovariances(examples, resuming: saved)
        #expect(resumed.inputSums == straight.inputSums && resumed.outputSums == straight.outputSums)
        #expect(resumed.tokenCount == straight.tokenCount && resumed.sequenceCount == straight.sequenceCount)

        let bases = try FactorFitter.eigenbases(straight)
        let factors = try fitter.correctEigenvalues(examples, eigenbases: bases, covariances: straight)
        _ = try fitter.correctEigenvalues(examples, eigenbases: bases, covariances: straight, checkpoint: { sums, next in
            if next == 3 { try FactorCheckpoint.write(sums, nextSequence: next, run: "run", to: directory) }
        })
        let savedCorrections = try #require(FactorCheckpoint.readCorrections(eigenbases: bases, run: "run", from: directory))
        #expect(savedCorrections.nextSequence == 3)
        let resumedFactors = try fitter.correctEigenvalues(examples, eigenbases: bases, covariances: straight, resuming: savedCorrections)
        #expect(resumedFactors.correctedEigenvalues == factors.correctedEigenvalues)
        #expect(resumedFactors.correctionSequenceCount == factors.correctionSequenceCount)
    }

    /// XXH64 as specified (reference values of the xxHash project).
    @Test func fileDigestIsXXH64() throws {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("digest-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: url) }
        for (text, digest) in [("", "ef46db3751d8e999"), ("abc", "44bc2cf5ad770999"),
                               ("Nobody inspects the spammish repetition", "fbcea83c8a378bf1")] {
            try Data(text.utf8).write(to: url)
            #expect(try FileDigest.of(url) == "xxh64:" + digest, "\(text)")
        }
    }
}
