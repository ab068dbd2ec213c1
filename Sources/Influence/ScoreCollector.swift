import Numerics

/// A score that is not a number: the preconditioner divided by (almost) zero, or a gradient
/// overflowed. Reported instead of being printed as `null`.
public struct NonFiniteScoreError: Error, CustomStringConvertible {
    public let query: String
    public let document: String
    public let score: Double

    public init(query: String, document: String, score: Double) {
        self.query = query
        self.document = document
        self.score = score
    }

    public var description: String {
        "the score of query \"\(query)\" and document \"\(document)\" is \(score) (not finite): the damping is too small for these factors, or a gradient overflowed; use a larger --damping"
    }
}

/// Gathers the scores of document batches as they stream past: either the whole
/// [queries × documents] matrix, or the k best documents of each query. Per-module
/// contributions are kept only for what is kept, so with top-k the memory is
/// O(queries × k × modules) whatever the number of documents.
public struct ScoreCollector {
    public let queryIDs: [String]
    public let documentIDs: [String]
    public let moduleCount: Int
    public let keepsModules: Bool
    /// With top-k, one heap per query.
    public private(set) var best: [TopK]?
    /// Without top-k, `scores[q]` and, with modules, `moduleScores[m][q]` grow by each batch.
    public private(set) var scores: [[Double]]
    public private(set) var moduleScores: [[[Double]]]

    public init(queryIDs: [String], documentIDs: [String], moduleCount: Int, topK: Int?, keepsModules: Bool) {
        self.queryIDs = queryIDs
        self.documentIDs = documentIDs
        self.moduleCount = moduleCount
        self.keepsModules = keepsModules
        let Q = queryIDs.count
        best = topK.map { k in [TopK](repeating: TopK(k: k), count: Q) }
        scores = topK == nil ? [[Double]](repeating: [], count: Q) : []
        moduleScores = topK == nil && keepsModules ? [[[Double]]](repeating: [[Double]](repeating: [], count: Q), count: moduleCount) : []
    }

    /// Adds the scores of documents `first ..< first + total[0].count`: `total[q][d]` and, per
    /// module, `perModule[m][q][d]`. Throws on the first non-finite score.
    public mutating func add(first: Int, total: [[Double]], perModule: [[[Double]]]) throws {
        for q in total.indices {
            for (d, score) in total[q].enumerated() where !score.isFinite {
                throw NonFiniteScoreError(query: queryIDs[q], document: documentIDs[first + d], score: score)
            }
            if best != nil {
                for (d, score) in total[q].enumerated() {
                    best![q].insert(score: score, index: first + d,
                                    details: keepsModules ? perModule.map { $0[q][d] } : nil)
                }
            } else {
                scores[q] += total[q]
                if keepsModules { for m in 0..<moduleCount { moduleScores[m][q] += perModule[m][q] } }
            }
        }
    }

    /// Per-module contributions held right now (for the memory test and progress reports).
    public var heldModuleValues: Int {
        if let best { return best.reduce(0) { $0 + $1.sorted.reduce(0) { $0 + ($1.details?.count ?? 0) } } }
        return moduleScores.reduce(0) { $0 + $1.reduce(0) { $0 + $1.count } }
    }
}
