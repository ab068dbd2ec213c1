import Checkpoints
import Curvature
import Experiments
import Foundation
import Influence
import Models
import Retrieval
import Tokenization

struct Tracer {
    enum Retriever: String, CaseIterable { case bm25, knn, both }

    let finetuned: LoadedModel
    let pretrained: LoadedModel?
    let preconditioners: [Preconditioner]
    let layouts: [ModuleLayout]
    let corpus: CorpusIndex
    var candidates = 100
    var top = 10
    var highlighted = 10
    var retriever = Retriever.bm25
    /// Generation of the answer when none is given (see `GreedyAnswer`).
    var maxNewTokens = 24
    var stopAtSentenceEnd = true
    var embedder: SentenceEmbedder?
    var settings: [(String, String)] = []

    func trace(prompt: String, completion: String?) throws -> TraceResult {
        let start = Date()
        let tokenizer = finetuned.tokenizer
        let promptTokens = tokenizer.encode(prompt)
        let context = finetuned.model.hyperparameters.maxPositions
        if promptTokens.isEmpty { throw InputError("the prompt is empty") }
        if promptTokens.count >= context {
            throw InputError("the prompt has \(promptTokens.count) tokens; the fine-tuned model's context is \(context)")
        }
        var answer = completion ?? ""
        if completion == nil {
            answer = tokenizer.decode(try GreedyAnswer.generate(finetuned, prompt: promptTokens, maxNewTokens: maxNewTokens,
                                                                stopAtSentenceEnd: stopAtSentenceEnd))
        }
        var completionTokens = tokenizer.encode(answer)
        if completionTokens.isEmpty { throw InputError("the completion is empty; give --completion") }
        completionTokens = Array(completionTokens.prefix(context - promptTokens.count))
        let query = TokenizedExample(tokens: promptTokens + completionTokens, promptLength: promptTokens.count)

        var rows: [Int64] = []
        if retriever != .knn { rows = try corpus.searchBM25(prompt + answer, limit: candidates).map(\.row) }
        if retriever != .bm25 {
            guard let embedder else { throw InputError("--retriever \(retriever.rawValue) needs an embedder") }
            let query = try embedder.embed([prompt + answer])[0]
            var seen = Set(rows)
            for hit in try corpus.nearest(query, limit: candidates) where seen.insert(hit.row).inserted { rows.append(hit.row) }
        }
        if rows.isEmpty { throw InputError("\(corpus.url.path): no candidate matched the question's words") }
        let entries = try corpus.entries(rows)

        let documentModel = pretrained ?? finetuned
        let documentContext = documentModel.model.hyperparameters.maxPositions
        let documents = entries.map { TokenizedExample(tokens: Array(documentModel.tokenizer.encode($0.window.text).prefix(documentContext))) }
        let usable = documents.indices.filter { documents[$0].targetCount > 0 }
        let scorer = try InfluenceScorer(model: finetuned.model, layouts: layouts, queries: [query], preconditioners: preconditioners)
        var scores = [Double](repeating: -.infinity, count: documents.count)
        for start in stride(from: 0, to: usable.count, by: 8) {
            let batch = Array(usable[start..<min(start + 8, usable.count)])
            let total = try scorer.score(model: documentModel.model, documents: batch.map { documents[$0] }).total[0]
            for (k, index) in batch.enumerated() {
                guard total[k].isFinite else {
                    throw InputError("\(corpus.url.path): \(NonFiniteScoreError(query: "the traced answer", document: entries[index].window.sourceId, score: total[k]))")
                }
                scores[index] = total[k]
            }
        }
        let order = usable.sorted { scores[$0] > scores[$1] }
        var ranked: [TraceResult.Document] = []
        for (rank, index) in order.prefix(top).enumerated() {
            var tokens: [(String, Double)] = []
            if rank < highlighted {
                let contributions = try scorer.tokenContributions(model: documentModel.model, document: documents[index], query: 0)
                tokens = zip(documents[index].tokens, contributions).map { (documentModel.tokenizer.decode([$0]), $1) }
            }
            let window = entries[index].window
            ranked.append(TraceResult.Document(rank: rank + 1, id: window.window == 0 ? window.sourceId : "\(window.sourceId)#\(window.window)",
                                               score: scores[index], text: window.text, tokens: tokens))
        }
        return TraceResult(prompt: prompt, completion: answer, completionWasGenerated: completion == nil, documents: ranked,
                           settings: settings + [("candidates scored", String(usable.count))],
                           allScores: order.map { scores[$0] }, seconds: Date().timeIntervalSince(start))
    }
}
