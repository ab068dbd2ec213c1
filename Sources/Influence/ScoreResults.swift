import Checkpoints
import Curvature

/// The result of a `ScoringSession`: the k best documents of each query, or the whole
/// [queries × documents] matrix.
public enum ScoreResults: Sendable {
    case ranked([QueryRanking])
    case matrix(ScoreMatrix)

    /// As `influence score` prints it: JSON Lines, one `QueryRanking` per query, or one
    /// `ScoreMatrix` object on a line.
    public func json() throws -> String { try json(shard: nil) }

    /// A shard's output: the matrix with a "shard" member, or the rankings after a first line
    /// `{"shard": {...}}`. Without `shard`, exactly `json()`.
    public func json(shard: ScoreShard?) throws -> String {
        switch self {
        case .ranked(let rankings):
            let header = try shard.map { try JSONOutput.string(ScoreShard.Header(shard: $0)) + "\n" } ?? ""
            return header + (try JSONOutput.lines(rankings))
        case .matrix(var matrix):
            matrix.shard = shard
            return try JSONOutput.string(matrix) + "\n"
        }
    }
}

/// One query's best documents, by descending score: `{"query": id, "results": [...]}`.
public struct QueryRanking: Codable, Sendable, Equatable {
    public struct Document: Codable, Sendable, Equatable {
        public let id: String
        public let score: Double
        /// Module name → contribution, with per-module results.
        public let modules: [String: Double]?
    }

    public let query: String
    public let results: [Document]
}

/// Every score: `scores[q][d]` of query `queries[q]` and training document `train[d]` and, with
/// per-module results, `perModule[module][q][d]`.
public struct ScoreMatrix: Codable, Sendable, Equatable {
    public let queries: [String]
    public let train: [String]
    public let scores: [[Double]]
    public let perModule: [String: [[Double]]]?
    /// In a shard's output only: which part of the documents this is.
    public var shard: ScoreShard?

    enum CodingKeys: String, CodingKey {
        case queries, train, scores, perModule = "per_module", shard
    }
}

extension ScoreResults {
    /// The results `collector` gathered, with `layouts` naming its modules.
    init(_ collector: ScoreCollector, layouts: [ModuleLayout]) {
        func named<T>(_ values: [T]) -> [String: T] {
            Dictionary(zip(layouts.map(\.name), values), uniquingKeysWith: { first, _ in first })
        }
        if let best = collector.best {
            self = .ranked(best.indices.map { q in
                QueryRanking(query: collector.queryIDs[q], results: best[q].sorted.map { item in
                    QueryRanking.Document(id: collector.documentIDs[item.index], score: item.score, modules: item.details.map(named))
                })
            })
        } else {
            self = .matrix(ScoreMatrix(queries: collector.queryIDs, train: collector.documentIDs, scores: collector.scores,
                                       perModule: collector.keepsModules ? named(collector.moduleScores) : nil, shard: nil))
        }
    }
}
