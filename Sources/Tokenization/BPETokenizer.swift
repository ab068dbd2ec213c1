import Foundation

/// A Hugging Face `tokenizer.json` with a byte-level BPE model, as GPT-NeoX/Pythia, GPT-2 and
/// BLOOM use: added tokens cut out first, then normaliser (NFC or none), pre-tokeniser (GPT-2's
/// regex, or a regex Split followed by byte-level mapping), BPE per piece. Ids equal those of
/// the `tokenizers` library (checked against fixtures it wrote).
public final class BPETokenizer: @unchecked Sendable {
    public let source: String
    private let normalizers: [Normalizer]
    private let preTokenizer: PreTokenizer
    private let addPrefixSpace: Bool
    private let ignoreMerges: Bool
    private let model: BytePairEncoding
    private let addedMatcher: AddedTokenMatcher
    private let addedById: [Int: AddedToken]
    private let tokenOfId: [Int: String]
    public let vocabularySize: Int
    /// Ids of pieces already encoded, keyed by their UTF-8 bytes: Swift's String equality is
    /// canonical equivalence, under which "é" and "e\u{301}" would share an entry.
    private var cache: [[UInt8]: [Int]] = [:]
    private let cacheLock = NSLock()

    enum Normalizer { case nfc, nfkc, nfd, lowercase }

    /// `modelVocabularySize`: the rows of the model's embedding, which every id must index.
    public convenience init(contentsOf url: URL, modelVocabularySize: Int? = nil) throws {
        guard let data = FileManager.default.contents(atPath: url.path) else {
            throw TokenizerError(url.path, FileManager.default.fileExists(atPath: url.path) ? "cannot read the tokenizer" : "tokenizer.json not found")
        }
        try self.init(json: data, source: url.path, modelVocabularySize: modelVocabularySize)
    }

    public init(json data: Data, source: String, modelVocabularySize: Int? = nil) throws {
        self.source = source
        func fail(_ problem: String) -> TokenizerError { TokenizerError(source, problem) }
        guard let root = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else {
            throw fail("invalid JSON (not a tokenizer.json)")
        }
        guard let modelObject = root["model"] as? [String: Any] else { throw fail("no \"model\" section") }
        let modelType = modelObject["type"] as? String ?? "BPE"
        guard modelType == "BPE" else { throw fail("model type \(modelType) is not supported (byte-level BPE only)") }
        guard let vocab = modelObject["vocab"] as? [String: Any] else { throw fail("BPE model without a vocabulary") }
        var vocabulary: [String: Int] = [:]
        let ids = TokenIdCheck(modelVocabularySize: modelVocabularySize, fail: fail)
        for (token, value) in vocab {
            vocabulary[token] = try ids.id(value, of: "vocabulary entry \(token)")
        }
        if let prefix = modelObject["continuing_subword_prefix"] as? String, !prefix.isEmpty {
            throw fail("continuing_subword_prefix is not supported")
        }
        if let suffix = modelObject["end_of_word_suffix"] as? String, !suffix.isEmpty {
            throw fail("end_of_word_suffix is not supported")
        }
        var ranks: [BytePairEncoding.Pair: Int] = [:]
        for (rank, entry) in ((modelObject["merges"] as? [Any]) ?? []).enumerated() {
            let pair: [String]
            if let text = entry as? String {
                pair = text.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
            } else if let parts = entry as? [String] {
                pair = parts
            } else {
                throw fail("merge \(rank) is neither \"a b\" nor [\"a\", \"b\"]")
            }
            guard pair.count == 2 else { throw fail("merge \(rank) is not a pair") }
            guard vocabulary[pair[0]] != nil, vocabulary[pair[1]] != nil, vocabulary[pair[0] + pair[1]] != nil else {
                throw fail("merge \(rank) (\(pair[0]) \(pair[1])) refers to tokens not in the vocabulary")
            }
            let key = BytePairEncoding.Pair(left: pair[0], right: pair[1])
            if ranks[key] == nil { ranks[key] = rank }
        }
        model = BytePairEncoding(vocabulary: vocabulary, ranks: ranks)
        ignoreMerges = modelObject["ignore_merges"] as? Bool ?? false

        var added: [AddedToken] = []
        for item in (root["added_tokens"] as? [[String: Any]]) ?? [] {
            guard let value = item["id"], let content = item["content"] as? String else {
                throw fail("an added token lacks id or content")
            }
            let id = try ids.id(value, of: "added token \(content)")
            added.append(AddedToken(id: id, content: content, special: item["special"] as? Bool ?? false,
                                    leftStrip: item["lstrip"] as? Bool ?? false, rightStrip: item["rstrip"] as? Bool ?? false,
                                    singleWord: item["single_word"] as? Bool ?? false))
        }
        addedMatcher = AddedTokenMatcher(added)
        addedById = Dictionary(added.map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first })

        normalizers = try Self.normalizers(root["normalizer"], fail)
        (preTokenizer, addPrefixSpace) = try Self.preTokenizer(root["pre_tokenizer"], fail)

        var tokens: [Int: String] = [:]
        for (token, id) in vocabulary { tokens[id] = token }
        for token in added { tokens[token.id] = token.content }
        tokenOfId = tokens
        vocabularySize = (tokens.keys.max() ?? -1) + 1
    }

    private static func normalizers(_ object: Any?, _ fail: (String) -> TokenizerError) throws -> [Normalizer] {
        guard let object = object as? [String: Any] else { return [] }
        switch object["type"] as? String {
        case "NFC": return [.nfc]
        case "NFKC": return [.nfkc]
        case "NFD": return [.nfd]
        case "Lowercase": return [.lowercase]
        case "Sequence": return try ((object["normalizers"] as? [Any]) ?? []).flatMap { try normalizers($0, fail) }
        case let other: throw fail("normalizer \(other ?? "?") is not supported")
        }
    }

    private static func preTokenizer(_ object: Any?, _ fail: (String) -> TokenizerError) throws -> (PreTokenizer, Bool) {
        guard let object = object as? [String: Any] else { return (.none, false) }
        switch object["type"] as? String {
        case "ByteLevel":
            let useRegex = object["use_regex"] as? Bool ?? true
            return (useRegex ? .gpt2 : .none, object["add_prefix_space"] as? Bool ?? false)
        case "Sequence":
            let steps = (object["pretokenizers"] as? [[String: Any]]) ?? []
            // Supported: [Split(regex, isolated)] followed by ByteLevel without regex (BLOOM).
            guard steps.count == 2, steps[0]["type"] as? String == "Split", steps[1]["type"] as? String == "ByteLevel",
                  (steps[1]["use_regex"] as? Bool) == false
            else { throw fail("this pre_tokenizer Sequence is not supported (only Split + ByteLevel)") }
            let split = steps[0]
            guard (split["behavior"] as? String) == "Isolated", (split["invert"] as? Bool ?? false) == false,
                  let pattern = split["pattern"] as? [String: String]
            else { throw fail("only an isolated, non-inverted Split is supported") }
            let expression: String
            if let regex = pattern["Regex"] { expression = regex } else if let literal = pattern["String"] {
                expression = NSRegularExpression.escapedPattern(for: literal)
            } else { throw fail("Split without a pattern") }
            guard !RegexRisk.repeatsAGroup(expression) else {
                throw fail("Split pattern \(expression) repeats a group, which can take exponential time; not supported")
            }
            guard let regex = try? NSRegularExpression(pattern: expression) else { throw fail("Split pattern \(expression) is not a valid regular expression") }
            return (.isolatedSplit(regex), steps[1]["add_prefix_space"] as? Bool ?? false)
        case let other:
            throw fail("pre_tokenizer \(other ?? "?") is not supported")
        }
    }

    // MARK: Encoding

    /// Token ids of `text`, without special tokens added around it (DESIGN §8).
    public func encode(_ text: String) -> [Int] {
        var ids: [Int] = []
        for segment in addedMatcher.segments(text) {
            switch segment {
            case .added(let token): ids.append(token.id)
            case .text(let piece): ids += encodePlain(piece)
            }
        }
        return ids
    }

    private func normalize(_ text: Substring) -> String {
        var result = String(text)
        for normalizer in normalizers {
            switch normalizer {
            case .nfc: result = result.precomposedStringWithCanonicalMapping
            case .nfkc: result = result.precomposedStringWithCompatibilityMapping
            case .nfd: result = result.decomposedStringWithCanonicalMapping
            case .lowercase: result = result.lowercased()
            }
        }
        return result
    }

    private func encodePlain(_ text: Substring) -> [Int] {
        var normalized = normalize(text)
        if addPrefixSpace, let first = normalized.first, !first.isWhitespace { normalized = " " + normalized }
        var ids: [Int] = []
        for piece in preTokenizer.split(normalized[...]) {
            let key = Array(piece.utf8)
            cacheLock.lock()
            let cached = cache[key]
            cacheLock.unlock()
            if let cached {
                ids += cached
                continue
            }
            let symbols = ByteLevelAlphabet.encode(piece)
            let pieceIds: [Int]
            if ignoreMerges, let id = model.vocabulary[String(symbols)] {
                pieceIds = [id]
            } else {
                pieceIds = model.encode(symbols)
            }
            cacheLock.lock()
            if cache.count > 100_000 { cache.removeAll(keepingCapacity: true) }
            cache[key] = pieceIds
            cacheLock.unlock()
            ids += pieceIds
        }
        return ids
    }

    // MARK: Decoding

    /// The text of `ids`: byte-level characters back to bytes, invalid UTF-8 replaced by U+FFFD.
    public func decode(_ ids: [Int], skipSpecialTokens: Bool = false) -> String {
        var bytes: [UInt8] = []
        for id in ids {
            if let added = addedById[id], added.special && skipSpecialTokens { continue }
            guard let token = tokenOfId[id] else { continue }
            for character in token {
                if let byte = ByteLevelAlphabet.byteOfCharacter[character] {
                    bytes.append(byte)
                } else {
                    bytes += Array(String(character).utf8)
                }
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    public func id(ofToken token: String) -> Int? {
        if let added = addedMatcher.exact(token) { return added.id }
        return model.vocabulary[token]
    }

    public func token(ofId id: Int) -> String? { tokenOfId[id] }

    /// The end-of-text token, if the tokenizer has one: <|endoftext|> (GPT-NeoX, GPT-2) or </s> (BLOOM).
    public var endOfTextTokenId: Int? {
        id(ofToken: "<|endoftext|>") ?? id(ofToken: "</s>")
    }
}

extension AddedTokenMatcher {
    func exact(_ content: String) -> AddedToken? {
        guard let first = content.first else { return nil }
        return candidates(first).first { $0.content == content }
    }
}
