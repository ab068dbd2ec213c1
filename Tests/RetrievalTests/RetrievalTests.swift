import Foundation
import Retrieval
import Testing

@Suite struct RetrievalTests {
    static func temporaryDirectory() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("retrieval-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    @Test func windowsKeepByteOffsetsIntoTheSource() {
        let document = SourceDocument(id: "d", text: "  Zürich  is\tlovely 😀 in\nspring, says   Anna.  ")
        let windows = DocumentWindow.windows(of: document, maximumWords: 3)
        #expect(windows.map(\.text) == ["Zürich  is\tlovely", "😀 in\nspring,", "says   Anna."])
        let bytes = Array(document.text.utf8)
        for window in windows {
            #expect(String(decoding: bytes[window.byteRange], as: UTF8.self) == window.text)
        }
        #expect(windows.map(\.window) == [0, 1, 2])
        #expect(DocumentWindow.windows(of: SourceDocument(id: "e", text: " \n "), maximumWords: 3).isEmpty)
    }

    @Test func readsJSONLinesTextAndDirectoriesSkippingInvalidUTF8() throws {
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        var jsonl = Data("{\"id\": \"a\", \"text\": \"first\"}\n".utf8)
        jsonl.append(contentsOf: [0xFF, 0xFE, 0x0A])
        jsonl.append(Data("{\"id\": 7, \"text\": \"second\"}\n\n".utf8))
        try jsonl.write(to: directory.appendingPathComponent("c.jsonl"))
        let reader = try CorpusReader(url: directory.appendingPathComponent("c.jsonl"))
        var documents: [SourceDocument] = []
        try reader.forEach { documents.append($0) }
        #expect(documents == [SourceDocument(id: "a", text: "first"), SourceDocument(id: "7", text: "second")])
        #expect(reader.skippedLines == 1)

        try "one line\n\nanother line\n".write(to: directory.appendingPathComponent("plain.txt"), atomically: true, encoding: .utf8)
        var plain: [SourceDocument] = []
        try CorpusReader(url: directory.appendingPathComponent("plain.txt")).forEach { plain.append($0) }
        #expect(plain.map(\.text) == ["one line", "another line"])

        let folder = directory.appendingPathComponent("folder/sub")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        try "file text".write(to: folder.appendingPathComponent("x.txt"), atomically: true, encoding: .utf8)
        var files: [SourceDocument] = []
        try CorpusReader(url: directory.appendingPathComponent("folder")).forEach { files.append($0) }
        #expect(files == [SourceDocument(id: "sub/x.txt", text: "file text")])

        try "{\"txt\": 1}\n".write(to: directory.appendingPathComponent("bad.jsonl"), atomically: true, encoding: .utf8)
        #expect(throws: CorpusError.self) { try CorpusReader(url: directory.appendingPathComponent("bad.jsonl")).forEach { _ in } }
    }

    @Test func bm25FindsTheDocumentsThatShareWords() throws {
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let corpus = directory.appendingPathComponent("c.jsonl")
        let texts = ["The capital of Veloria is Marren.", "Anna was born in Marren.", "Tomas plays the cello.",
                     "Veloria exports cheese.", String(repeating: "long words ", count: 50)]
        try texts.enumerated().map { "{\"id\": \"d\($0)\", \"text\": \"\($1)\"}" }.joined(separator: "\n")
            .write(to: corpus, atomically: true, encoding: .utf8)
        let url = directory.appendingPathComponent("c.sqlite")
        let report = try CorpusIndex.build(from: try CorpusReader(url: corpus), to: url, windowWords: 8)
        #expect(report.sourceDocuments == 5)
        #expect(report.windows == 4 + 13)
        let index = try CorpusIndex(url: url)
        #expect(index.count == 17)
        let hits = try index.searchBM25("What is the capital of Veloria?", limit: 3)
        let ids = try index.entries(hits.map(\.row)).map(\.window.sourceId)
        #expect(ids.first == "d0")
        #expect(Set(ids).isSuperset(of: ["d0", "d3"]))
        #expect(try index.searchBM25("?!", limit: 3).isEmpty)
        #expect(index.metadata["window_words"] == "8")
    }

    @Test func emptyCorporaAndBadIndexesAreErrors() throws {
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let empty = directory.appendingPathComponent("empty.txt")
        try "\n \n".write(to: empty, atomically: true, encoding: .utf8)
        let url = directory.appendingPathComponent("e.sqlite")
        #expect { try CorpusIndex.build(from: try CorpusReader(url: empty), to: url, windowWords: 8) } throws: { "\($0)".contains("empty") }
        #expect(!FileManager.default.fileExists(atPath: url.path))
        try "not sqlite".write(to: url, atomically: true, encoding: .utf8)
        #expect { try CorpusIndex(url: url) } throws: { "\($0)".contains("not a corpus index") }
        #expect { try CorpusReader(url: directory.appendingPathComponent("absent")) } throws: { "\($0)".contains("not found") }
    }
}
