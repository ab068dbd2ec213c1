import Foundation

/// BERT's WordPiece tokenizer from a `tokenizer.json` (as sentence-transformers models ship
/// it): BertNormalizer (clean text, spaces around CJK characters, lower-casing with accents
/// stripped), BertPreTokenizer (split on whitespace and punctuation), greedy longest-match
/// WordPiece with "##" continuations, and [CLS] … [SEP] around the result.
public final class WordPieceTokenizer: Sendable {
    public let source: String
    private let vocabulary: [String: Int]
    private let unknown: Int
    public let classifierToken: Int
    public let separatorToken: Int
    private let lowercase: Bool
    private let stripAccents: Bool
    private let maximumCharactersPerWord: Int

    public convenience init(contentsOf url: URL) throws {
        guard let data = FileManager.default.contents(atPath: url.path) else { throw TokenizerError(url.path, "tokenizer.json not found") }
        try self.init(json: data, source: url.path)
    }

    public init(json data: Data, source: String) throws {
        self.source = source
        guard let root = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any],
              let model = root["model"] as? [String: Any]
        else { throw TokenizerError(source, "invalid JSON (not a tokenizer.json)") }
        guard (model["type"] as? String) == "WordPiece", let vocab = model["vocab"] as? [String: Any] else {
            throw TokenizerError(source, "not a WordPiece tokenizer")
        }
        var vocabulary: [String: Int] = [:]
        for (token, value) in vocab { vocabulary[token] = (value as? NSNumber)?.intValue }
        self.vocabulary = vocabulary
        let unknownToken = model["unk_token"] as? String ?? "[UNK]"
        guard let unknown = vocabulary[unknownToken], let cls = vocabulary["[CLS]"], let sep = vocabulary["[SEP]"] else {
            throw TokenizerError(source, "the vocabulary lacks [UNK], [CLS] or [SEP]")
        }
        self.unknown = unknown
        classifierToken = cls
        separatorToken = sep
        maximumCharactersPerWord = (model["max_input_chars_per_word"] as? NSNumber)?.intValue ?? 100
        let normalizer = root["normalizer"] as? [String: Any]
        lowercase = normalizer?["lowercase"] as? Bool ?? true
        // Hugging Face: strip_accents null means "follow lowercase".
        stripAccents = (normalizer?["strip_accents"] as? Bool) ?? lowercase
    }

    /// Ids with [CLS] and [SEP], cut to `maximumLength` tokens in all.
    public func encode(_ text: String, maximumLength: Int = 512) -> [Int] {
        var ids = [classifierToken]
        for word in words(normalize(text)) {
            ids += wordPieces(word)
            if ids.count >= maximumLength - 1 { break }
        }
        return Array(ids.prefix(maximumLength - 1)) + [separatorToken]
    }

    private func normalize(_ text: String) -> String {
        var out = String.UnicodeScalarView()
        for scalar in text.unicodeScalars {
            let value = scalar.value
            // clean_text: drop NUL, U+FFFD and control characters; whitespace becomes a space.
            if value == 0 || value == 0xFFFD { continue }
            if scalar == "\t" || scalar == "\n" || scalar == "\r" || scalar.properties.generalCategory == .spaceSeparator {
                out.append(" ")
                continue
            }
            if [.control, .format].contains(scalar.properties.generalCategory) { continue }
            // handle_chinese_chars: CJK ideographs become words of their own.
            if Self.isCJK(value) {
                out.append(" ")
                out.append(scalar)
                out.append(" ")
                continue
            }
            out.append(scalar)
        }
        var result = String(out)
        if stripAccents {
            result = String(String.UnicodeScalarView(result.decomposedStringWithCanonicalMapping.unicodeScalars.filter {
                $0.properties.generalCategory != .nonspacingMark
            }))
        }
        if lowercase { result = result.lowercased() }
        return result
    }

    private static func isCJK(_ v: UInt32) -> Bool {
        (0x4E00...0x9FFF).contains(v) || (0x3400...0x4DBF).contains(v) || (0x20000...0x2A6DF).contains(v)
            || (0x2A700...0x2B73F).contains(v) || (0x2B740...0x2B81F).contains(v) || (0x2B820...0x2CEAF).contains(v)
            || (0xF900...0xFAFF).contains(v) || (0x2F800...0x2FA1F).contains(v)
    }

    private static func isPunctuation(_ scalar: Unicode.Scalar) -> Bool {
        let v = scalar.value
        if (33...47).contains(v) || (58...64).contains(v) || (91...96).contains(v) || (123...126).contains(v) { return true }
        switch scalar.properties.generalCategory {
        case .connectorPunctuation, .dashPunctuation, .openPunctuation, .closePunctuation, .initialPunctuation,
             .finalPunctuation, .otherPunctuation: return true
        default: return false
        }
    }

    /// Whitespace-separated words, with every punctuation character a word of its own.
    private func words(_ text: String) -> [String] {
        var words: [String] = []
        var current = String.UnicodeScalarView()
        for scalar in text.unicodeScalars {
            if scalar.properties.isWhitespace {
                if !current.isEmpty { words.append(String(current)); current = String.UnicodeScalarView() }
            } else if Self.isPunctuation(scalar) {
                if !current.isEmpty { words.append(String(current)); current = String.UnicodeScalarView() }
                words.append(String(scalar))
            } else {
                current.append(scalar)
            }
        }
        if !current.isEmpty { words.append(String(current)) }
        return words
    }

    private func wordPieces(_ word: String) -> [Int] {
        let scalars = Array(word.unicodeScalars)
        if scalars.count > maximumCharactersPerWord { return [unknown] }
        var pieces: [Int] = []
        var start = 0
        while start < scalars.count {
            var end = scalars.count
            var found: Int?
            while end > start {
                var piece = String(String.UnicodeScalarView(scalars[start..<end]))
                if start > 0 { piece = "##" + piece }
                if let id = vocabulary[piece] { found = id; break }
                end -= 1
            }
            guard let id = found else { return [unknown] }
            pieces.append(id)
            start = end
        }
        return pieces
    }
}
