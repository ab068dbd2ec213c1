import Checkpoints
import Curvature
import Foundation
import Influence
import Models
import Numerics
import TestSupport
import Testing
import Tokenization

/// `ScoringSession` as a library user runs it, on the example model and data written to disk:
/// its scores equal `InfluenceScorer`'s on the same tokens with preconditioners built
/// directly, single-stage, multi-stage (with and without (G_pt + λI)⁻¹) and GDP.
@Suite struct ScoringSessionTests {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let example = repository.appendingPathComponent("Examples/tiny-pythia")
    static let data = repository.appendingPathComponent("Examples/data")

    /// Records of a JSON Lines file, tokenised by hand as DESIGN §8 says (prompt and completion
    /// separately), independently of `TokenizedRecords`.
    static func examples(_ name: String, _ tokenizer: BPETokenizer) throws -> (ids: [String], examples: [TokenizedExample]) {
        let records = try String(contentsOf: data.appendingPathComponent(name), encoding: .utf8).split(separator: "\n")
            .map { try JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: String] }
        let examples = records.map { record in
            if let text = record["text"] { return TokenizedExample(tokens: tokenizer.encode(text)) }
            let prompt = tokenizer.encode(record["prompt"]!)
            return TokenizedExample(tokens: prompt + tokenizer.encode(record["completion"]!), promptLength: prompt.count)
        }
        return (records.map { $0["id"]! }, examples)
    }

    /// Fits EK-FAC factors of `model` on `examples` and writes them as `influence fit` does.
    static func writeFactors(_ model: DecoderModel, modelPath: String, _ examples: [TokenizedExample], to directory: URL) throws {
        let options = FactorManifest.Options(modules: .all, attentionBlocks: .perHead, includeBias: false, maxSequences: nil,
                                             sequenceLength: model.hyperparameters.maxPositions, batchSize: 4, seed: 5, data: "test",
                                             dataFingerprint: "0")
        try FactorFitJob(model: model, modelPath: modelPath, examples: examples, options: options, directory: directory,
                         toolVersion: "test").run()
    }

    @Test func sessionScoresEqualTheScorersSingleAndMultiStage() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("scoring-session-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        func path(_ name: String) -> String { directory.appendingPathComponent(name).path }
        let queriesPath = Self.data.appendingPathComponent("queries.jsonl").path, trainPath = Self.data.appendingPathComponent("train.jsonl").path

        // Pre-trained: the example model; fine-tuned: its weights perturbed, with the same tokenizer.
        let pretrained = try DecoderModel(directory: Self.example)
        let tokenizer = try BPETokenizer(contentsOf: Self.example.appendingPathComponent("tokenizer.json"))
        let finetuned = try DecoderModel(directory: Self.example)
        var rng = RandomGenerator(seed: 3)
        for entry in finetuned.parameters.entries where entry.shape.count == 2 {
            for i in 0..<entry.count { finetuned.parameters.values[entry.offset + i] += 0.02 * Float(rng.nextNormal()) }
        }
        try finetuned.save(to: directory.appendingPathComponent("ft"))
        try FileManager.default.copyItem(at: Self.example.appendingPathComponent("tokenizer.json"),
                                         to: directory.appendingPathComponent("ft/tokenizer.json"))
        let reloaded = try DecoderModel(directory: directory.appendingPathComponent("ft"))

        let (queryIDs, queries) = try Self.examples("queries.jsonl", tokenizer)
        let (documentIDs, documents) = try Self.examples("train.jsonl", tokenizer)
        try Self.writeFactors(pretrained, modelPath: Self.example.path, documents, to: directory.appendingPathComponent("f-pt"))
        try Self.writeFactors(reloaded, modelPath: path("ft"), queries + documents, to: directory.appendingPathComponent("f-ft"))
        let (_, ptFactors) = try FactorStore.readFactors(directory.appendingPathComponent("f-pt"))
        let (_, ftFactors) = try FactorStore.readFactors(directory.appendingPathComponent("f-ft"))

        // All documents in one batch, as `direct` scores them (Float32 round-off depends on the batch);
        // the top-k run streams them in batches of 3.
        func session(_ stages: ScoringRequest.Stages, method: PreconditionerMethod = .ekfac, topK: Int? = nil,
                     batchSize: Int = 8) throws -> ScoreResults {
            var reports: [ScoringProgress] = []
            let results = try ScoringSession(ScoringRequest(stages: stages, queries: queriesPath, train: trainPath, damping: .absolute(1e-3),
                                                            method: method, topK: topK, perModule: true, batchSize: batchSize)).run { reports.append($0) }
            #expect(reports.first == ScoringProgress(scored: 0, total: documents.count))
            #expect(reports.last == ScoringProgress(scored: documents.count, total: documents.count))
            return results
        }
        func matrix(_ results: ScoreResults) throws -> ScoreMatrix {
            guard case .matrix(let matrix) = results else { throw InputError("expected the whole matrix") }
            #expect(matrix.queries == queryIDs && matrix.train == documentIDs)
            // Per-module contributions add up to the total.
            let summed = matrix.scores.indices.map { q in documentIDs.indices.map { d in matrix.perModule!.values.reduce(0.0) { $0 + $1[q][d] } } }
            expectScoresClose(summed, matrix.scores, tolerance: 1e-9, "per-module sum")
            return matrix
        }
        func direct(_ queryModel: DecoderModel, _ documentModel: DecoderModel, layouts: [ModuleLayout],
                    _ preconditioners: [Preconditioner]) throws -> [[Double]] {
            try InfluenceScorer(model: queryModel, layouts: layouts, queries: queries, preconditioners: preconditioners)
                .score(model: documentModel, documents: documents).total
        }

        // Single-stage: the whole matrix, and the top 3 of each query in the same order.
        let single = ScoringRequest.Stages.single(ScoringStage(model: Self.example.path, factors: path("f-pt")))
        let singleScores = try matrix(try session(single)).scores
        let expectedSingle = try direct(pretrained, pretrained, layouts: ptFactors.layouts,
                                        [EKFACPreconditioner(factors: ptFactors, damping: .absolute(1e-3))])
        expectScoresClose(singleScores, expectedSingle, tolerance: 1e-5, "single-stage")
        guard case .ranked(let rankings) = try session(single, topK: 3, batchSize: 3) else { Issue.record("expected rankings"); return }
        for (q, ranking) in rankings.enumerated() {
            let best = documentIDs.indices.sorted { singleScores[q][$0] > singleScores[q][$1] }.prefix(3).map { documentIDs[$0] }
            #expect(ranking.query == queryIDs[q] && ranking.results.map(\.id) == best)
            #expect(ranking.results.allSatisfy { $0.modules?.count == ptFactors.layouts.count })
        }

        // Multi-stage, each stage with its own damping; then without the pre-trained preconditioner.
        let ft = ScoringStage(model: path("ft"), factors: path("f-ft"), damping: .absolute(1e-2))
        let pt = ScoringStage(model: Self.example.path, factors: path("f-pt"))
        let multi = try matrix(try session(.multi(finetuned: ft, pretrained: pt))).scores
        let expectedMulti = try direct(reloaded, pretrained, layouts: ftFactors.layouts,
                                       [EKFACPreconditioner(factors: ftFactors, damping: .absolute(1e-2)),
                                        EKFACPreconditioner(factors: ptFactors, damping: .absolute(1e-3))])
        expectScoresClose(multi, expectedMulti, tolerance: 1e-5, "multi-stage")
        let ablated = try matrix(try session(.multi(finetuned: ft, pretrained: pt, preconditionPretrained: false))).scores
        expectScoresClose(ablated, try direct(reloaded, pretrained, layouts: ftFactors.layouts,
                                              [EKFACPreconditioner(factors: ftFactors, damping: .absolute(1e-2))]),
                          tolerance: 1e-5, "multi-stage without (G_pt + λI)⁻¹")

        // GDP needs no factors: the fine-tuned query gradient against the pre-trained document gradient.
        let gdp = try matrix(try session(.multi(finetuned: ScoringStage(model: path("ft")), pretrained: ScoringStage(model: Self.example.path)),
                                         method: .gdp)).scores
        let fused = pretrained.moduleLayouts(.all, attentionBlocks: .fused, includeBias: false)
        expectScoresClose(gdp, try direct(reloaded, pretrained, layouts: fused, []), tolerance: 1e-5, "GDP")

        // The JSON form reads back with the keys `influence score` prints.
        let json = try session(single).json()
        let object = try JSONSerialization.jsonObject(with: Data(json.utf8)) as! [String: Any]
        #expect(Set(object.keys) == ["queries", "train", "scores", "per_module"] && json.hasSuffix("}\n"))
    }
}
