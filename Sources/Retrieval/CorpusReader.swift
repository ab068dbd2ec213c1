import Foundation

/// One document of a corpus as read from disk, before windowing.
public struct SourceDocument: Sendable, Equatable {
    public let id: String
    public let text: String

    public init(id: String, text: String) {
        self.id = id
        self.text = text
    }
}

/// Streams the documents of a corpus without loading it whole: a JSON Lines file of
/// `{"id", "text"}` (ids default to line numbers), a plain-text file (one document per
/// non-empty line), or a directory of `.txt`/`.md` files (one document per file, id = path).
/// Lines that are not valid UTF-8 are skipped and counted.
public final class CorpusReader {
    public let url: URL
    public private(set) var skippedLines = 0

    public init(url: URL) throws {
        guard FileManager.default.fileExists(atPath: url.path) else { throw CorpusError(url, "corpus not found") }
        self.url = url
    }

    /// Calls `body` for every document, in order.
    public func forEach(_ body: (SourceDocument) throws -> Void) throws {
        var isDirectory: ObjCBool = false
        FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory)
        if isDirectory.boolValue {
            let enumerator = FileManager.default.enumerator(at: url, includingPropertiesForKeys: nil)
            var files: [URL] = []
            while let file = enumerator?.nextObject() as? URL {
                if ["txt", "md"].contains(file.pathExtension) { files.append(file) }
            }
            for file in files.sorted(by: { $0.path < $1.path }) {
                guard let data = FileManager.default.contents(atPath: file.path) else { continue }
                guard let text = String(data: data, encoding: .utf8) else { skippedLines += 1; continue }
                let id = String(file.path.dropFirst(url.path.count).drop { $0 == "/" })
                try body(SourceDocument(id: id, text: text))
            }
            return
        }
        let isJSONLines = url.pathExtension == "jsonl" || url.pathExtension == "json"
        var number = 0
        try Self.lines(of: url) { bytes in
            number += 1
            guard let line = String(validating: bytes, as: UTF8.self) else { skippedLines += 1; return }
            let trimmed = line.trimmingCharacters(in: .whitespacesAndNewlines)
            if trimmed.isEmpty { return }
            if isJSONLines {
                guard let object = try? JSONSerialization.jsonObject(with: Data(trimmed.utf8)) as? [String: Any],
                      let text = object["text"] as? String
                else { throw CorpusError(url, line: number, "expected {\"id\", \"text\"}") }
                let id = (object["id"] as? String) ?? (object["id"] as? NSNumber)?.stringValue ?? String(number)
                try body(SourceDocument(id: id, text: text))
            } else {
                try body(SourceDocument(id: String(number), text: trimmed))
            }
        }
    }

    /// The file's lines as raw bytes, read in 1 MB chunks.
    static func lines(of url: URL, _ body: ([UInt8]) throws -> Void) throws {
        guard let handle = FileHandle(forReadingAtPath: url.path) else { throw CorpusError(url, "cannot open") }
        defer { try? handle.close() }
        var pending: [UInt8] = []
        while true {
            let chunk = handle.readData(ofLength: 1 << 20)
            if chunk.isEmpty { break }
            for byte in chunk {
                if byte == 0x0A {
                    try body(pending)
                    pending.removeAll(keepingCapacity: true)
                } else {
                    pending.append(byte)
                }
            }
        }
        if !pending.isEmpty { try body(pending) }
    }
}

/// A window of a source document: at most `maximumWords` words, with its UTF-8 byte range in
/// the source so that results point back into the original text.
public struct DocumentWindow: Sendable, Equatable {
    public let sourceId: String
    public let window: Int
    public let byteRange: Range<Int>
    public let text: String

    /// Splits `document` into consecutive windows of at most `maximumWords` words.
    public static func windows(of document: SourceDocument, maximumWords: Int) -> [DocumentWindow] {
        let bytes = Array(document.text.utf8)
        var words: [Range<Int>] = []
        var i = 0
        while i < bytes.count {
            while i < bytes.count, isSpace(bytes[i]) { i += 1 }
            let start = i
            while i < bytes.count, !isSpace(bytes[i]) { i += 1 }
            if i > start { words.append(start..<i) }
        }
        guard !words.isEmpty else { return [] }
        return stride(from: 0, to: words.count, by: maximumWords).enumerated().map { index, first in
            let last = min(first + maximumWords, words.count) - 1
            let range = words[first].lowerBound..<words[last].upperBound
            return DocumentWindow(sourceId: document.id, window: index, byteRange: range,
                                  text: String(decoding: bytes[range], as: UTF8.self))
        }
    }

    private static func isSpace(_ byte: UInt8) -> Bool { byte == 0x20 || byte == 0x0A || byte == 0x09 || byte == 0x0D }
}
