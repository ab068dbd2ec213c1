import Curvature
import Foundation
import Models
import Numerics
import Testing
import TestSupport

/// `--threads N` promises the same factors for every N. The tools keep one BLAS thread (threaded
/// sgemm rounds differently by thread count, `BLAS.setThreadCount`) and spend N on
/// eigendecompositions of N modules at once.
@Suite(.serialized) struct ThreadCountTests {
    /// The fit's files are byte-identical whether its eigendecompositions run one or several at once.
    @Test func factorsAreTheSameForEveryThreadCount() throws {
        let model = microModel()
        let examples = randomExamples(count: 7, lengths: 3...9, vocabulary: 11, seed: 5, promptLength: 2)
        let options = FactorManifest.Options(
            modules: .all, attentionBlocks: .perHead, includeBias: true, maxSequences: nil, sequenceLength: 9, batchSize: 2,
            seed: 7, data: "micro.jsonl", dataFingerprint: "micro")
        var files: [[Data]] = []
        for threads in [1, 3, 8] {
            let directory = FileManager.default.temporaryDirectory.appendingPathComponent("threads-\(threads)-\(UUID().uuidString)")
            defer { try? FileManager.default.removeItem(at: directory) }
            var job = FactorFitJob(model: model, modelPath: "micro", examples: examples, options: options, directory: directory, toolVersion: "test")
            job.threads = threads
            try job.run()
            files.append(try ["covariances.safetensors", "eigenbasis.safetensors", "lambda.safetensors"].map {
                try Data(contentsOf: directory.appendingPathComponent($0))
            })
        }
        #expect(files[1] == files[0] && files[2] == files[0])
    }
}
