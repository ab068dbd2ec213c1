/// How a trace finds its candidates in the corpus index before influence re-ranks them.
public enum Retriever: String, Sendable, CaseIterable {
    /// FTS5 BM25 over the prompt and the answer.
    case bm25
    /// The nearest sentence embeddings (the index must hold them).
    case knn
    /// BM25's candidates, then the nearest neighbours not already among them.
    case both
}
