import Checkpoints
import Foundation

/// Which part of a scoring run a shard's output holds (`score --shard I/N`): documents
/// `documents[0] ..< documents[1]` of `total_documents`, and the identity of the run (models,
/// factors, inputs and options), so that shards of different runs are never merged.
public struct ScoreShard: Codable, Sendable, Equatable {
    public let index: Int
    public let count: Int
    /// The half-open range [first, end) of this shard's training documents.
    public let documents: [Int]
    public let totalDocuments: Int
    public let topK: Int?
    public let identity: String

    public init(index: Int, count: Int, documents: [Int], totalDocuments: Int, topK: Int?, identity: String) {
        self.index = index
        self.count = count
        self.documents = documents
        self.totalDocuments = totalDocuments
        self.topK = topK
        self.identity = identity
    }

    enum CodingKeys: String, CodingKey {
        case index, count, documents, totalDocuments = "total_documents", topK = "top_k", identity
    }

    /// The first line of a top-k shard's JSON Lines.
    struct Header: Codable { let shard: ScoreShard }
}

/// Merges the outputs of `score --shard I/N` for I = 0..<N into what one process would have
/// written (the same bytes): whole matrices side by side, or top-k lists reduced to the best K
/// per query with one process's tie order (equal scores: the earlier document first).
public enum ScoreMerge {
    /// `files` are (path, contents); the result is the merged output's text.
    public static func merge(_ files: [(path: String, text: String)]) throws -> String {
        guard let first = files.first else { throw InputError("merge-scores: no shard files given") }
        let shards = try files.map { try parse($0.path, $0.text) }
        let reference = shards[0]
        var byIndex: [Int: Int] = [:]
        for (i, shard) in shards.enumerated() {
            let path = files[i].path, info = shard.info
            guard info.identity == reference.info.identity else {
                throw InputError("\(path): a shard of another scoring run (identity \(info.identity), not \(reference.info.identity) of \(first.path))")
            }
            guard info.count == reference.info.count, info.totalDocuments == reference.info.totalDocuments else {
                throw InputError("\(path): shard \(info.index)/\(info.count) of \(info.totalDocuments) documents does not match \(first.path) (\(reference.info.index)/\(reference.info.count) of \(reference.info.totalDocuments))")
            }
            guard shard.isRanked == reference.isRanked else {
                throw InputError("\(path): \(shard.isRanked ? "a top-k list" : "a whole matrix"), but \(first.path) is not")
            }
            if let other = byIndex[info.index] {
                throw InputError("\(path): shard \(info.index)/\(info.count) is given twice (also \(files[other].path))")
            }
            byIndex[info.index] = i
        }
        let count = reference.info.count
        if let missing = (0..<count).first(where: { byIndex[$0] == nil }) {
            throw InputError("\(first.path): shard \(missing)/\(count) is missing (give every shard 0..<\(count) of the run)")
        }
        let ordered = (0..<count).map { byIndex[$0]! }
        var expectedStart = 0
        for i in ordered {
            let range = shards[i].info.documents
            guard range.count == 2, range[0] == expectedStart, range[0] <= range[1] else {
                throw InputError("\(files[i].path): its documents \(range) do not follow the previous shard's (expected from \(expectedStart))")
            }
            expectedStart = range[1]
        }
        guard expectedStart == reference.info.totalDocuments else {
            throw InputError("\(files[ordered.last!].path): the shards cover \(expectedStart) of \(reference.info.totalDocuments) documents")
        }
        if reference.isRanked {
            return try mergeRanked(ordered.map { (files[$0].path, shards[$0]) }, k: reference.info.topK)
        }
        return try mergeMatrices(ordered.map { (files[$0].path, shards[$0]) })
    }

    private struct Parsed {
        let info: ScoreShard
        let matrix: ScoreMatrix?
        let rankings: [QueryRanking]
        var isRanked: Bool { matrix == nil }
    }

    private struct Probe: Decodable {
        let shard: ScoreShard?
        let queries: [String]?
    }

    private static func parse(_ path: String, _ text: String) throws -> Parsed {
        let lines = text.split(separator: "\n", omittingEmptySubsequences: true)
        let decoder = JSONDecoder()
        decoder.nonConformingFloatDecodingStrategy = .convertFromString(positiveInfinity: "Infinity", negativeInfinity: "-Infinity", nan: "NaN")
        guard let head = lines.first, let probe = try? decoder.decode(Probe.self, from: Data(head.utf8)) else {
            throw InputError("\(path): not the output of `influence score` (expected a JSON object on the first line)")
        }
        guard let info = probe.shard else {
            throw InputError("\(path): not a shard (no \"shard\" object; it was written without --shard)")
        }
        if probe.queries != nil {
            guard lines.count == 1, let matrix = try? decoder.decode(ScoreMatrix.self, from: Data(head.utf8)) else {
                throw InputError("\(path): not a score matrix (queries, train, scores) as `influence score` writes it")
            }
            return Parsed(info: info, matrix: matrix, rankings: [])
        }
        let rankings = try lines.dropFirst().enumerated().map { n, line in
            do { return try decoder.decode(QueryRanking.self, from: Data(line.utf8)) } catch {
                throw InputError("\(path):\(n + 2): not a top-k line {\"query\", \"results\"}")
            }
        }
        return Parsed(info: info, matrix: nil, rankings: rankings)
    }

    private static func mergeMatrices(_ shards: [(path: String, shard: Parsed)]) throws -> String {
        let first = shards[0].shard.matrix!
        var train: [String] = [], scores = [[Double]](repeating: [], count: first.queries.count)
        var perModule = first.perModule.map { $0.mapValues { _ in [[Double]](repeating: [], count: first.queries.count) } }
        for (path, shard) in shards {
            let matrix = shard.matrix!
            guard matrix.queries == first.queries else { throw InputError("\(path): other queries than \(shards[0].path)") }
            guard matrix.scores.count == first.queries.count, matrix.scores.allSatisfy({ $0.count == matrix.train.count }),
                  matrix.train.count == shard.info.documents[1] - shard.info.documents[0] else {
                throw InputError("\(path): its scores do not have one row per query and one column per document of the shard")
            }
            guard Set(matrix.perModule?.keys ?? [:].keys) == Set(first.perModule?.keys ?? [:].keys) else {
                throw InputError("\(path): other per-module results than \(shards[0].path)")
            }
            train += matrix.train
            for q in scores.indices { scores[q] += matrix.scores[q] }
            if let modules = matrix.perModule {
                for (name, rows) in modules {
                    guard rows.count == first.queries.count else { throw InputError("\(path): per_module \(name) does not have one row per query") }
                    for q in rows.indices { perModule![name]![q] += rows[q] }
                }
            }
        }
        return try JSONOutput.string(ScoreMatrix(queries: first.queries, train: train, scores: scores, perModule: perModule, shard: nil)) + "\n"
    }

    private static func mergeRanked(_ shards: [(path: String, shard: Parsed)], k: Int?) throws -> String {
        guard let k else { throw InputError("\(shards[0].path): a top-k list without top_k in its shard object") }
        let queries = shards[0].shard.rankings.map(\.query)
        var merged: [QueryRanking] = []
        for (q, query) in queries.enumerated() {
            // (score, shard order, rank within shard): shards are contiguous and in document
            // order and each list is already in one process's order, so this is that order.
            var items: [(score: Double, shard: Int, rank: Int, document: QueryRanking.Document)] = []
            for (s, (path, shard)) in shards.enumerated() {
                guard shard.rankings.map(\.query) == queries else { throw InputError("\(path): other queries than \(shards[0].path)") }
                for (rank, document) in shard.rankings[q].results.enumerated() {
                    items.append((document.score, s, rank, document))
                }
            }
            items.sort { a, b in a.score != b.score ? a.score > b.score : (a.shard, a.rank) < (b.shard, b.rank) }
            merged.append(QueryRanking(query: query, results: items.prefix(k).map(\.document)))
        }
        return try JSONOutput.lines(merged)
    }
}
