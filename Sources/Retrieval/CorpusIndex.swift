import Checkpoints
import Foundation
import GRDB
import Numerics

/// A corpus in SQLite: every window of every document, an FTS5 table for BM25 search, and
/// optional sentence embeddings. Built in a temporary file (`.NAME.tmp-PID`, removed by the next
/// build once that process has ended) and renamed into place; the `format` row of `meta` is
/// written last and marks a complete index, so a partial file (an interrupted build's temporary)
/// is refused when opened.
public final class CorpusIndex: @unchecked Sendable {
    public let url: URL
    private let database: DatabaseQueue

    public struct Entry: Sendable, Equatable {
        public let row: Int64
        public let window: DocumentWindow
    }

    public struct BuildReport: Sendable {
        public let sourceDocuments: Int
        public let windows: Int
        public let skippedLines: Int
    }

    /// Opens an existing index.
    public init(url: URL) throws {
        guard FileManager.default.fileExists(atPath: url.path) else { throw CorpusError(url, "index not found (build it with `influence index`)") }
        self.url = url
        var configuration = Configuration()
        configuration.readonly = true
        do {
            database = try DatabaseQueue(path: url.path, configuration: configuration)
        } catch {
            throw CorpusError(url, "not a corpus index (\(error))".replacingOccurrences(of: "\n", with: " "))
        }
        let format: DatabaseValue?
        do {
            format = try database.read { db in
                _ = try DatabaseValue.fetchOne(db, sql: "SELECT COUNT(*) FROM documents")
                return try DatabaseValue.fetchOne(db, sql: "SELECT value FROM meta WHERE key = 'format'")
            }
        } catch {
            throw CorpusError(url, "not a corpus index (\(error))".replacingOccurrences(of: "\n", with: " "))
        }
        guard let format, String.fromDatabaseValue(format) == Self.format else {
            throw CorpusError(url, "an incomplete corpus index (no completion marker: was its build interrupted?); build it again with `influence index`")
        }
    }

    /// A read whose SQLite errors (a corrupt file) become one-line errors naming the index.
    private func read<T>(_ body: (Database) throws -> T) throws -> T {
        do {
            return try database.read(body)
        } catch let error as DatabaseError {
            throw CorpusError(url, "cannot read the index (\(error.message ?? "SQLite error \(error.resultCode.rawValue)"))")
        }
    }

    /// The `format` value of `meta`, written last.
    static let format = "swift-influence corpus 1"

    /// Column `column` of `row` as a `T`, or a CorpusError for a corrupt index (GRDB's
    /// subscripts trap on a value of the wrong type).
    private func value<T: DatabaseValueConvertible>(_ row: Row, _ column: String) throws -> T {
        guard let value = T.fromDatabaseValue(row[column] as DatabaseValue) else {
            throw CorpusError(url, "corrupt index (column \(column) holds a value of the wrong type)")
        }
        return value
    }

    /// Builds an index of `reader`'s documents, windows of at most `windowWords` words.
    /// With an `embedder`, every window's sentence embedding is stored too (for `nearest`).
    public static func build(from reader: CorpusReader, to url: URL, windowWords: Int, metadata: [String: String] = [:],
                             embedder: SentenceEmbedder? = nil, progress: (Int) -> Void = { _ in }) throws -> BuildReport {
        let prefix = ".\(url.lastPathComponent).tmp-"
        StaleTemporaryFiles.remove(prefix: prefix, in: url.deletingLastPathComponent())
        let temporary = url.deletingLastPathComponent().appendingPathComponent("\(prefix)\(getpid())")
        try? FileManager.default.removeItem(at: temporary)
        var sources = 0, windows = 0
        do {
            let queue = try DatabaseQueue(path: temporary.path)
            try queue.write { db in
                try db.execute(sql: """
                    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
                    CREATE TABLE documents (rowid INTEGER PRIMARY KEY, source_id TEXT NOT NULL, window INTEGER NOT NULL,
                                            start INTEGER NOT NULL, end INTEGER NOT NULL, text TEXT NOT NULL);
                    CREATE VIRTUAL TABLE documents_fts USING fts5(text, content='documents', content_rowid='rowid');
                    CREATE TABLE embeddings (rowid INTEGER PRIMARY KEY, vector BLOB NOT NULL);
                    """)
            }
            var pending: [DocumentWindow] = []
            func flush() throws {
                let vectors = try embedder?.embed(pending.map(\.text))
                try queue.write { db in
                    for (i, window) in pending.enumerated() {
                        try db.execute(sql: "INSERT INTO documents (source_id, window, start, end, text) VALUES (?, ?, ?, ?, ?)",
                                       arguments: [window.sourceId, window.window, window.byteRange.lowerBound, window.byteRange.upperBound, window.text])
                        let row = db.lastInsertedRowID
                        try db.execute(sql: "INSERT INTO documents_fts (rowid, text) VALUES (?, ?)", arguments: [row, window.text])
                        if let vectors {
                            let blob = vectors[i].withUnsafeBufferPointer { Data(buffer: $0) }
                            try db.execute(sql: "INSERT INTO embeddings (rowid, vector) VALUES (?, ?)", arguments: [row, blob])
                        }
                    }
                }
                pending.removeAll(keepingCapacity: true)
            }
            try reader.forEach { document in
                sources += 1
                for window in DocumentWindow.windows(of: document, maximumWords: windowWords) {
                    pending.append(window)
                    windows += 1
                }
                if pending.count >= (embedder == nil ? 2000 : 256) { try flush(); progress(windows) }
            }
            try flush()
            progress(windows)
            guard windows > 0 else { throw CorpusError(reader.url, "the corpus is empty (no text found)") }
            try queue.write { db in
                var entries = metadata
                entries["window_words"] = String(windowWords)
                if let embedder {
                    entries["embedder"] = embedder.name
                    entries["embedding_dimension"] = String(embedder.dimension)
                }
                entries["format"] = format
                // Sorted, so that the same corpus gives the same file.
                for (key, value) in entries.sorted(by: { $0.key < $1.key }) { try db.execute(sql: "INSERT INTO meta (key, value) VALUES (?, ?)", arguments: [key, value]) }
            }
            try queue.close()
            if rename(temporary.path, url.path) != 0 { throw CorpusError(url, "cannot move the index into place") }
        } catch {
            try? FileManager.default.removeItem(at: temporary)
            if error is CorpusError { throw error }
            throw CorpusError(url, "\(error)".replacingOccurrences(of: "\n", with: " "))
        }
        return BuildReport(sourceDocuments: sources, windows: windows, skippedLines: reader.skippedLines)
    }

    public var metadata: [String: String] {
        (try? database.read { db in
            Dictionary(try Row.fetchAll(db, sql: "SELECT key, value FROM meta").map { (try value($0, "key") as String, try value($0, "value") as String) },
                       uniquingKeysWith: { a, _ in a })
        }) ?? [:]
    }

    public var count: Int {
        let count = try? database.read { try DatabaseValue.fetchOne($0, sql: "SELECT COUNT(*) FROM documents") }
        return count.flatMap { $0 }.flatMap(Int.fromDatabaseValue) ?? 0
    }

    /// The `limit` best windows for `query` by BM25 (best first; scores are FTS5's, lower is better).
    public func searchBM25(_ query: String, limit: Int) throws -> [(row: Int64, score: Double)] {
        let terms = Self.terms(query)
        guard !terms.isEmpty else { return [] }
        let match = terms.map { "\"\($0)\"" }.joined(separator: " OR ")
        return try read { db in
            try Row.fetchAll(db, sql: "SELECT rowid, bm25(documents_fts) AS score FROM documents_fts WHERE documents_fts MATCH ? ORDER BY score LIMIT ?",
                             arguments: [match, limit]).map { (try value($0, "rowid"), try value($0, "score")) }
        }
    }

    /// Lower-cased words of letters and digits (FTS5's unicode61 tokenisation, near enough).
    static func terms(_ text: String) -> [String] {
        var seen = Set<String>()
        return text.lowercased().split { !($0.isLetter || $0.isNumber) }.map(String.init).filter { seen.insert($0).inserted }
    }

    /// Whether the index holds sentence embeddings, and from which embedder.
    public var embedderName: String? { metadata["embedder"] }

    /// The `limit` windows whose embeddings have the largest inner product (cosine, for unit
    /// vectors) with `query`: exact search, one matrix-vector product per block of 4096 rows,
    /// the best kept by `TopK`, so memory stays flat in the corpus size. Ties rank the earlier row first.
    public func nearest(_ query: [Float], limit: Int) throws -> [(row: Int64, score: Double)] {
        guard let dimension = metadata["embedding_dimension"].flatMap(Int.init) else {
            throw CorpusError(url, "the index has no embeddings (build it with --embedder)")
        }
        guard (1...65536).contains(dimension) else { throw CorpusError(url, "corrupt index (embedding dimension \(dimension))") }
        guard dimension == query.count else {
            throw CorpusError(url, "embeddings have \(dimension) dimensions, the query \(query.count) (another embedder?)")
        }
        guard limit > 0 else { return [] }
        var best = TopK(k: limit)
        var afterRow: Int64 = 0
        let block = 4096
        var matrix = [Float](repeating: 0, count: block * dimension), scores = [Float](repeating: 0, count: block)
        while true {
            let rows = try read { db in
                try Row.fetchAll(db, sql: "SELECT rowid, vector FROM embeddings WHERE rowid > ? ORDER BY rowid LIMIT ?", arguments: [afterRow, block])
            }
            if rows.isEmpty { break }
            var ids: [Int64] = []
            for (i, row) in rows.enumerated() {
                let blob: Data = try value(row, "vector")
                guard blob.count == dimension * 4 else { throw CorpusError(url, "a stored embedding has the wrong size") }
                blob.withUnsafeBytes { raw in
                    for j in 0..<dimension { matrix[i * dimension + j] = raw.loadUnaligned(fromByteOffset: 4 * j, as: Float.self) }
                }
                ids.append(try value(row, "rowid"))
            }
            matrix.withUnsafeBufferPointer { m in query.withUnsafeBufferPointer { q in scores.withUnsafeMutableBufferPointer { s in
                Float.gemm(.none, .none, m: rows.count, n: 1, k: dimension, alpha: 1, a: m.baseAddress!, lda: dimension,
                           b: q.baseAddress!, ldb: 1, beta: 0, c: s.baseAddress!, ldc: 1)
            } } }
            for i in 0..<rows.count { best.insert(score: Double(scores[i]), index: Int(ids[i])) }
            afterRow = ids.last!
        }
        return best.sorted.map { (Int64($0.index), $0.score) }
    }

    public func entries(_ rows: [Int64]) throws -> [Entry] {
        try read { db in
            try rows.compactMap { row in
                try Row.fetchOne(db, sql: "SELECT source_id, window, start, end, text FROM documents WHERE rowid = ?", arguments: [row]).map {
                    let start: Int = try value($0, "start"), end: Int = try value($0, "end")
                    guard start <= end else { throw CorpusError(url, "corrupt index (window \(row) ends before it starts)") }
                    return Entry(row: row, window: DocumentWindow(sourceId: try value($0, "source_id"), window: try value($0, "window"),
                                                                  byteRange: start..<end, text: try value($0, "text")))
                }
            }
        }
    }
}
