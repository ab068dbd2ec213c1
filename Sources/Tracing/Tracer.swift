import Checkpoints
import Curvature
import Foundation
import Influence
import Models
import Retrieval
import Tokenization

/// Which training documents taught the model this answer: `try Tracer(request).trace(prompt:completion:)`.
///
/// Creating a tracer loads the models, their factors (checked against the models and each
/// other) and the corpus index, and the embedder if the retriever needs one (checked against
/// the one the index was built with). `trace` answers the prompt if no completion is given,
/// retrieves candidates, re-ranks them by (multi-stage) influence and, for the best, computes
/// per-token contributions.
public final class Tracer {
    public let request: TraceRequest
    public let finetuned: LoadedModel
    public let pretrained: LoadedModel?
    /// The fine-tuned stage's, then the pre-trained one's.
    public let preconditioners: [Preconditioner]
    public let layouts: [ModuleLayout]
    public let corpus: CorpusIndex
    public let embedder: SentenceEmbedder?
    /// (name, value) of every setting, for the result and its report.
    public let settings: [(String, String)]

    public init(_ request: TraceRequest) throws {
        self.request = request
        let finetunedStage = request.finetuned
        finetuned = try LoadedModel(path: finetunedStage.model, precision: .stored)
        pretrained = try request.pretrained.map { try LoadedModel(path: $0.model, precision: .stored) }
        let (manifest, first) = try PreconditionerMethod.ekfac.load(
            URL(fileURLWithPath: finetunedStage.factors), for: finetuned.model, modelPath: finetunedStage.model, damping: request.damping,
            scope: request.dampingScope, role: "fine-tuned", otherFingerprint: pretrained?.model.fingerprint)
        var preconditioners = [first]
        if let pretrained, let pretrainedStage = request.pretrained {
            let second = try PreconditionerMethod.ekfac.load(
                URL(fileURLWithPath: pretrainedStage.factors), for: pretrained.model, modelPath: pretrainedStage.model,
                damping: request.damping, scope: request.dampingScope, role: "pre-trained",
                otherFingerprint: finetuned.model.fingerprint).preconditioner
            try FactorCompatibility.checkSameLayouts(first.layouts, second.layouts, firstName: finetunedStage.factors,
                                                     secondName: pretrainedStage.factors)
            preconditioners.append(second)
        }
        self.preconditioners = preconditioners
        layouts = first.layouts
        corpus = try CorpusIndex(url: URL(fileURLWithPath: request.corpus))
        if request.retriever == .bm25 {
            embedder = nil
        } else {
            guard let indexed = corpus.embedderName else {
                throw InputError("\(request.corpus): the index has no embeddings; rebuild it with `influence index --embedder minilm` or use --retriever bm25")
            }
            let embedder = try SentenceEmbedder.load(.minilm, path: request.embedderPath)
            guard embedder.name == indexed else {
                throw InputError("\(request.corpus): built with the embedder \(indexed), not \(embedder.name); use the same one")
            }
            self.embedder = embedder
        }
        let damping = request.damping == .automatic ? "auto" : request.damping.description
        settings = [
            ("influence", pretrained == nil ? "single-stage (fine-tuned model only)" : "multi-stage"),
            ("fine-tuned model", finetunedStage.model), ("fine-tuned factors", finetunedStage.factors),
            ("pre-trained model", request.pretrained?.model ?? "—"), ("pre-trained factors", request.pretrained?.factors ?? "—"),
            ("method", "EK-FAC, \(manifest.options.attentionBlocks.rawValue) attention blocks"),
            ("damping", "\(damping) (\(request.dampingScope.rawValue) mean)"),
            ("corpus", request.corpus), ("retriever", "\(request.retriever.rawValue) over the prompt and the answer (the query contains the answer)"),
            ("embedder", corpus.embedderName ?? "—"),
            ("candidates requested", String(request.candidates)),
        ]
    }

    /// Traces `completion` (or, if nil, the fine-tuned model's greedy answer) to the corpus.
    public func trace(prompt: String, completion: String?) throws -> TraceResult {
        let start = Date()
        let tokenizer = finetuned.tokenizer
        let promptTokens = request.chat ? tokenizer.encode(try finetuned.chatPrompt(prompt), addSpecialTokens: false)
            : tokenizer.encode(prompt, addSpecialTokens: true)
        let context = finetuned.context
        if promptTokens.isEmpty { throw InputError("the prompt is empty") }
        if promptTokens.count >= context {
            throw InputError("the prompt has \(promptTokens.count) tokens; the fine-tuned model's context is \(context)")
        }
        var answer = completion ?? ""
        if completion == nil {
            answer = tokenizer.decode(try GreedyAnswer.generate(finetuned, prompt: promptTokens, maxNewTokens: request.maxNewTokens,
                                                                stopAtSentenceEnd: request.stopAtSentenceEnd))
        }
        var completionTokens = tokenizer.encode(answer)
        if completionTokens.isEmpty { throw InputError("the completion is empty; give --completion") }
        completionTokens = Array(completionTokens.prefix(context - promptTokens.count))
        let query = TokenizedExample(tokens: promptTokens + completionTokens, promptLength: promptTokens.count)

        let entries = try corpus.entries(try candidateRows(prompt + answer))
        let documentModel = pretrained ?? finetuned
        let documents = entries.map { TokenizedExample(tokens: Array(documentModel.tokenizer.encode($0.window.text, addSpecialTokens: true).prefix(documentModel.context))) }
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
        for (rank, index) in order.prefix(request.top).enumerated() {
            var tokens: [(String, Double)] = []
            if rank < request.highlighted {
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

    /// The index rows of the candidates for `text` (the prompt and the answer): BM25's, then the
    /// nearest neighbours not already among them, as the retriever says.
    func candidateRows(_ text: String) throws -> [Int64] {
        var rows: [Int64] = []
        if request.retriever != .knn { rows = try corpus.searchBM25(text, limit: request.candidates).map(\.row) }
        if let embedder, request.retriever != .bm25 {
            let query = try embedder.embed([text])[0]
            var seen = Set(rows)
            for hit in try corpus.nearest(query, limit: request.candidates) where seen.insert(hit.row).inserted { rows.append(hit.row) }
        }
        if rows.isEmpty { throw InputError("\(corpus.url.path): no candidate matched the question's words") }
        return rows
    }
}
