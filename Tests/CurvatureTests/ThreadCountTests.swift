import Curvature
import Foundation
import Models
import Numerics
import Testing
import TestSupport

/// `--threads N` promises the same factors for every N. The tools keep one BLAS thread (threaded
/// sgemm rounds differently by thread count, `BLAS.setThreadCount`) and spend N on N batches of
/// a pass at once (their sums added in batch order) and on eigendecompositions of N modules at once.
@Suite(.serialized) struct ThreadCountTests {
    /// The fit's files are byte-identical whether its batches and eigendecompositions run one or
    /// several at once (7 sequences in batches of 2: waves of 3 + 1 batches, and 4 at once).
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

    /// A batch that fails on one worker stops the pass with its error; the workers with later
    /// batches, waiting for its turn at each module, are released instead of waiting forever.
    @Test func aFailingBatchStopsEveryWorker() throws {
        let model = microModel()
        var examples = randomExamples(count: 7, lengths: 3...9, vocabulary: 11, seed: 5, promptLength: 2)
        examples[2] = TokenizedExample(tokens: examples[2].tokens.map { _ in 9_999 }, promptLength: examples[2].promptLength)
        let options = FactorManifest.Options(
            modules: .all, attentionBlocks: .perHead, includeBias: true, maxSequences: nil, sequenceLength: 9, batchSize: 1,
            seed: 7, data: "micro.jsonl", dataFingerprint: "micro")
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("threads-fail-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        var job = FactorFitJob(model: model, modelPath: "micro", examples: examples, options: options, directory: directory, toolVersion: "test")
        job.threads = 4
        do {
            try job.run()
            Issue.record("the fit should fail on sequence 3's token ids")
        } catch {
            #expect("\(error)".contains("token id 9999 is outside the vocabulary"))
        }
    }

    /// Workers whose batches finish in reverse order still add them in batch order, module by
    /// module: batch b waits (6 − b) × 10 ms before each commit, so without the order the last
    /// batch would come first.
    @Test func contributionsAreAddedInBatchOrder() {
        let order = CommitOrder(modules: 2)
        let log = CommitLog()
        let finished = DispatchGroup()
        for batch in 0..<6 {
            finished.enter()
            Thread {
                for module in 0..<2 {
                    usleep(UInt32((6 - batch) * 10_000))
                    order.commit(module: module, batch: batch) { log.append(module, batch) }
                }
                finished.leave()
            }.start()
        }
        finished.wait()
        #expect(log.batches(of: 0) == Array(0..<6) && log.batches(of: 1) == Array(0..<6))
    }
}

private final class CommitLog: @unchecked Sendable {
    private let lock = NSLock()
    private var entries: [(module: Int, batch: Int)] = []

    func append(_ module: Int, _ batch: Int) { lock.withLock { entries.append((module, batch)) } }
    func batches(of module: Int) -> [Int] { lock.withLock { entries.filter { $0.module == module }.map(\.batch) } }
}
