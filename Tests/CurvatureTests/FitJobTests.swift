import Checkpoints
import Curvature
import Foundation
import Models
import Testing
import TestSupport

/// A fit through the library's resumable job (no command line) writes the factors that
/// `FactorFitter` computes directly, bit for bit, and a second run of a finished job does nothing.
@Suite struct FitJobTests {
    @Test func aFitJobWritesTheFactorsOfTheFitter() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("fit-job-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        let model = microModel()
        let examples = randomExamples(count: 10, lengths: 3...9, vocabulary: 11, seed: 4, promptLength: 2)
        let options = FactorManifest.Options(
            modules: .all, attentionBlocks: .perHead, includeBias: true, maxSequences: nil, sequenceLength: 9, batchSize: 3,
            seed: 7, data: "micro.jsonl", dataFingerprint: "micro")
        let job = FactorFitJob(model: model, modelPath: "micro", examples: examples, options: options, directory: directory,
                               checkpointEvery: 3, toolVersion: "test")
        var passesStarted: [Int] = [], messages: [String] = []
        var lastProgress = 0
        let manifest = try job.run(progress: { progress in
            if progress.pass != passesStarted.last { passesStarted.append(progress.pass) }
            lastProgress = progress.tokensDone
        }, log: { messages.append($0) })
        #expect(passesStarted == [1, 2] && lastProgress == examples.reduce(0) { $0 + $1.tokens.count })
        #expect(manifest.passesCompleted == 2 && messages.last?.hasPrefix("wrote ") == true)
        let left = try FileManager.default.contentsOfDirectory(atPath: directory.path).sorted()
        #expect(left == [".lock", "covariances.safetensors", "eigenbasis.safetensors", "factors.json", "lambda.safetensors"])

        let layouts = model.moduleLayouts(.all, attentionBlocks: .perHead, includeBias: true)
        let fitter = FactorFitter(model: model, layouts: layouts, batchSize: 3, seed: 7)
        let covariances = try fitter.accumulateCovariances(examples)
        let expected = try fitter.correctEigenvalues(examples, eigenbases: try FactorFitter.eigenbases(covariances), covariances: covariances)
        let (readManifest, factors) = try FactorStore.readFactors(directory)
        #expect(readManifest == manifest)
        #expect(factors.correctedEigenvalues == expected.correctedEigenvalues)
        #expect(factors.covarianceTokenCount == expected.covarianceTokenCount)
        #expect(factors.correctionSequenceCount == expected.correctionSequenceCount)
        for (read, direct) in zip(factors.eigenbases, expected.eigenbases) {
            #expect(read.inputEigenvectors.values == direct.inputEigenvectors.values && read.inputEigenvalues == direct.inputEigenvalues)
            #expect(read.outputEigenvectors.map(\.values) == direct.outputEigenvectors.map(\.values))
            #expect(read.outputEigenvalues == direct.outputEigenvalues)
        }

        messages = []
        try job.run(log: { messages.append($0) })
        #expect(messages.count == 1 && messages[0].contains("is complete; nothing to do"))
    }
}
