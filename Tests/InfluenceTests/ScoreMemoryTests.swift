import Checkpoints
import Curvature
import Foundation
import Influence
import Models
import Testing
import Tokenization

/// `score --max-memory`: modules scored in groups, one pass over the documents each, give the
/// one-pass output byte for byte (matrix and top-k, with per-module contributions, single- and
/// multi-stage), and so do batches scored on several threads (`--threads`); a budget below one
/// module's need says the minimum.
@Suite struct ScoreMemoryTests {
    typealias S = ScoringSessionTests

    @Test func moduleGroupsGiveTheOnePassScoresByteForByte() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("score-memory-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        let model = try DecoderModel(directory: S.example)
        let tokenizer = try BPETokenizer(contentsOf: S.example.appendingPathComponent("tokenizer.json"))
        let (_, documents) = try S.examples("train.jsonl", tokenizer)
        let factors = directory.appendingPathComponent("factors")
        try S.writeFactors(model, modelPath: S.example.path, documents, to: factors)
        let stage = ScoringStage(model: S.example.path, factors: factors.path)
        let stages: [ScoringRequest.Stages] = [.single(stage), .multi(finetuned: stage, pretrained: stage, preconditionPretrained: true)]
        for stages in stages {
            for topK in [nil, 3] {
                func request(_ maxMemory: Int?) -> ScoringRequest {
                    var request = ScoringRequest(stages: stages, queries: S.data.appendingPathComponent("queries.jsonl").path,
                                                 train: S.data.appendingPathComponent("train.jsonl").path, damping: .absolute(1e-3),
                                                 topK: topK, perModule: true, batchSize: 3)
                    request.maxMemory = maxMemory
                    return request
                }
                let plan = try ScoringSession(request(nil)).memoryPlan()
                // Room for the largest module's queries (or a few smaller ones) at a time.
                let budget = plan.fixedBytes + plan.moduleBytes.max()!
                let grouped = try ScoringSession(request(budget))
                let groups = try grouped.memoryPlan().groups()
                #expect(groups.count > 2 && groups.first?.lowerBound == 0 && groups.last?.upperBound == plan.moduleBytes.count)
                var reports: [ScoringProgress] = []
                let groupedJSON = try grouped.run { reports.append($0) }.json()
                #expect(reports.last == ScoringProgress(scored: documents.count * groups.count, total: documents.count * groups.count))
                let onePassJSON = try ScoringSession(request(nil)).run().json()
                #expect(groupedJSON == onePassJSON, "topK \(String(describing: topK))")
                // Batches scored on several threads at once, grouped or not: the same bytes.
                // Each thread holds its own batch, so the plan's fixed part grows with the threads.
                var threaded = request(nil)
                threaded.threads = 3
                let threadedPlan = try ScoringSession(threaded).memoryPlan()
                #expect(threadedPlan.fixedBytes > plan.fixedBytes)
                #expect(try ScoringSession(threaded).run().json() == onePassJSON, "threads")
                threaded.maxMemory = threadedPlan.fixedBytes + threadedPlan.moduleBytes.max()!
                #expect(try ScoringSession(threaded).memoryPlan().groups().count > 2)
                #expect(try ScoringSession(threaded).run().json() == onePassJSON, "threads and groups")

                #expect {
                    try ScoringSession(request(plan.fixedBytes + plan.moduleBytes.max()! - 1)).run()
                } throws: { error in
                    "\(error)".contains("too small for scoring") && "\(error)".contains("give at least \(MemorySize.format(budget))")
                }
            }
        }
    }
}
