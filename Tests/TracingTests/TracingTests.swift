import Checkpoints
import Curvature
import Foundation
import Influence
import Models
import Numerics
import Retrieval
import Testing
import Tokenization
import Tracing

/// `Tracer` as a library user runs it, on a tiny world built here: a tokenizer trained on the
/// corpus, two random GPT-NeoX models (pre-trained and fine-tuned) saved to disk, EK-FAC
/// factors of each, and the corpus index. The ranking equals the scores `InfluenceScorer`
/// gives the same candidates with the same preconditioners, best first.
@Suite struct TracingTests {
    static let sentences = [
        "The capital of Veloria is Marren.", "The capital of Ostland is Kelvik.", "Anna Berg was born in Marren.",
        "Marren lies on the river Vel.", "Kelvik is a port on the northern coast.", "The capital of Riveia is Tabian.",
        "Tabian has a famous old bridge.", "Anna Berg wrote three books about Ostland.", "The river Vel flows into the sea at Kelvik.",
        "Veloria and Ostland share a long border.",
    ]

    /// Fits EK-FAC factors of `model` on `examples` and writes them as `influence fit` does.
    static func writeFactors(_ model: DecoderModel, modelPath: String, _ examples: [TokenizedExample], to directory: URL) throws {
        let options = FactorManifest.Options(modules: .all, attentionBlocks: .perHead, includeBias: false, maxSequences: nil,
                                             sequenceLength: model.hyperparameters.maxPositions, batchSize: 4, seed: 5, data: "test",
                                             dataFingerprint: "0")
        try FactorFitJob(model: model, modelPath: modelPath, examples: examples, options: options, directory: directory,
                         toolVersion: "test").run()
    }

    @Test func rankingEqualsTheScorersScoresBestFirst() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("tracing-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        func url(_ name: String) -> URL { directory.appendingPathComponent(name) }

        // The world: corpus, tokenizer, two models sharing it, their factors, the index.
        let corpus = try Self.sentences.enumerated().map { i, text in
            String(decoding: try JSONSerialization.data(withJSONObject: ["id": "s\(i)", "text": text], options: [.sortedKeys]), as: UTF8.self)
        }.joined(separator: "\n") + "\n"
        try corpus.write(to: url("corpus.jsonl"), atomically: true, encoding: .utf8)
        var trainer = BPETrainer(vocabularySize: 300)
        for sentence in Self.sentences { trainer.add(sentence) }
        let tokenizerJSON = try trainer.tokenizerJSON()
        let tokenizer = try BPETokenizer(json: tokenizerJSON, source: "trained")
        let h = DecoderHyperparameters(vocabularySize: 300, hiddenSize: 16, headCount: 2, intermediateSize: 32, layerCount: 2,
                                       maxPositions: 32, rotaryFraction: 0.5)
        let documents = Self.sentences.map { TokenizedExample(tokens: tokenizer.encode($0)) }
        for (name, seed) in [("pretrained", UInt64(1)), ("finetuned", 2)] {
            try DecoderModel(hyperparameters: h, seed: seed, initializerRange: 0.2).save(to: url(name))
            try tokenizerJSON.write(to: url("\(name)/tokenizer.json"))
            // Fitted on the model as read back, whose fingerprint the tracer checks.
            try Self.writeFactors(try DecoderModel(directory: url(name)), modelPath: url(name).path, documents, to: url("factors-\(name)"))
        }
        _ = try CorpusIndex.build(from: try CorpusReader(url: url("corpus.jsonl")), to: url("corpus.sqlite"), windowWords: 64)

        let request = TraceRequest(finetuned: TraceStage(model: url("finetuned").path, factors: url("factors-finetuned").path),
                                   pretrained: TraceStage(model: url("pretrained").path, factors: url("factors-pretrained").path),
                                   corpus: url("corpus.sqlite").path, top: 4, highlighted: 2, damping: .absolute(1e-3))
        let prompt = "The capital of Veloria is", answer = " Marren."
        let result = try Tracer(request).trace(prompt: prompt, completion: answer)

        // Directly: the BM25 candidates of the prompt and the answer, scored by InfluenceScorer.
        let index = try CorpusIndex(url: url("corpus.sqlite"))
        let candidates = try index.entries(try index.searchBM25(prompt + answer, limit: request.candidates).map(\.row))
        let pretrained = try DecoderModel(directory: url("pretrained")), finetuned = try DecoderModel(directory: url("finetuned"))
        let (_, ptFactors) = try FactorStore.readFactors(url("factors-pretrained"))
        let (_, ftFactors) = try FactorStore.readFactors(url("factors-finetuned"))
        let promptTokens = tokenizer.encode(prompt)
        let query = TokenizedExample(tokens: promptTokens + tokenizer.encode(answer), promptLength: promptTokens.count)
        let scorer = try InfluenceScorer(model: finetuned, layouts: ftFactors.layouts, queries: [query],
                                         preconditioners: [EKFACPreconditioner(factors: ftFactors, damping: .absolute(1e-3)),
                                                           EKFACPreconditioner(factors: ptFactors, damping: .absolute(1e-3))])
        let scores = try scorer.score(model: pretrained, documents: candidates.map { TokenizedExample(tokens: tokenizer.encode($0.window.text)) }).total[0]
        let expected = candidates.indices.sorted { scores[$0] > scores[$1] }

        #expect(candidates.count > request.top)
        #expect(result.documents.map(\.id) == expected.prefix(request.top).map { candidates[$0].window.sourceId })
        #expect(result.documents.map(\.rank) == Array(1...request.top))
        for (document, index) in zip(result.documents, expected) {
            #expect(abs(document.score - scores[index]) <= 1e-5 * abs(scores[index]), "\(document.id): \(document.score) vs \(scores[index])")
            #expect(document.text == candidates[index].window.text)
        }
        #expect(result.allScores.count == candidates.count)
        #expect(zip(result.allScores, result.allScores.dropFirst()).allSatisfy { $0 >= $1 }, "scores are sorted best first")
        // Per-token contributions for the highlighted documents only, adding up to the score.
        #expect(result.documents.map { !$0.tokens.isEmpty } == [true, true, false, false])
        let first = result.documents[0], summed = first.tokens.reduce(0.0) { $0 + $1.1 }
        #expect(abs(summed - first.score) <= 1e-3 * max(abs(first.score), result.allScores.map(abs).max()! * 1e-3))

        // The printed forms: the table and the JSON keys of `influence trace --json`.
        #expect(result.table.hasPrefix("prompt: \(prompt)\nanswer: \(answer)\n\nrank  score"))
        let object = try JSONSerialization.jsonObject(with: Data(try result.json().utf8)) as! [String: Any]
        #expect(Set(object.keys) == ["prompt", "completion", "generated", "results", "settings"])
        #expect(object["generated"] as? Bool == false)
        let results = object["results"] as! [[String: Any]]
        #expect(Set(results[0].keys) == ["rank", "id", "score", "text", "tokens"] && Set(results[3].keys) == ["rank", "id", "score", "text"])
        #expect((object["settings"] as! [String: String])["influence"] == "multi-stage")
    }
}
