import Foundation

/// A Hugging Face `tokenizer.json` with a byte-level BPE model, as GPT-NeoX/Pythia, GPT-2,
/// BLOOM, Llama 3, Qwen2 and SmolLM2 use: added tokens cut out first, then normaliser (NFC or
/// none), pre-tokeniser (GPT-2's regex, Llama 3's or Qwen's Split, Digits, or another regex
/// Split, followed by byte-level mapping), BPE per piece, and the post-processor's special
/// tokens when asked for. Ids equal those of the `tokenizers` library (checked against fixtures
/// it wrote). A GGUF file's tokenizer arrays give the same through `init(gguf:)`.
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
    private let postProcessor: PostProcessor
    public let vocabularySize: Int
    /// The beginning- and end-of-sequence tokens: from tokenizer_config.json beside a
    /// tokenizer.json (or the GGUF metadata), else the post-processor's first and last token.
    public let bosTokenId: Int?
    public let eosTokenId: Int?
    /// Ids of pieces already encoded, keyed by their UTF-8 bytes: Swift's String equality is
    /// canonical equivalence, under which "é" and "e\u{301}" would share an entry.
    private var cache: [[UInt8]: [Int]] = [:]
    private let cacheLock = NSLock()

    enum Normalizer { case nfc, nfkc, nfd, lowercase }

    /// `modelVocabularySize`: the rows of the model's embedding, which every id must index.
    /// A tokenizer_config.json in the same folder gives the BOS and EOS tokens and, where it
    /// sets add_bos_token or add_eos_token, which special tokens are added (as transformers does).
    public convenience init(contentsOf url: URL, modelVocabularySize: Int? = nil) throws {
        guard let data = FileManager.default.contents(atPath: url.path) else {
            throw TokenizerError(url.path, FileManager.default.fileExists(atPath: url.path) ? "cannot read the tokenizer" : "tokenizer.json not found")
        }
        let configURL = url.deletingLastPathComponent().appendingPathComponent("tokenizer_config.json")
        let config = FileManager.default.fileExists(atPath: configURL.path) ? try TokenizerConfig(contentsOf: configURL) : nil
        try self.init(root: Self.root(data, source: url.path), source: url.path, modelVocabularySize: modelVocabularySize, config: config)
    }

    public convenience init(json data: Data, source: String, modelVocabularySize: Int? = nil) throws {
        try self.init(root: Self.root(data, source: source), source: source, modelVocabularySize: modelVocabularySize, config: nil)
    }

    /// The tokenizer that transformers builds from a GGUF file's metadata
    /// (`AutoTokenizer.from_pretrained(dir, gguf_file: …)`); see `GGUFTokenizerData`.
    public convenience init(gguf: GGUFTokenizerData, source: String, modelVocabularySize: Int?) throws {
        let files = try gguf.huggingFaceFiles(source: source)
        try self.init(root: files.tokenizer, source: source, modelVocabularySize: modelVocabularySize, config: files.config)
    }

    private static func root(_ data: Data, source: String) throws -> [String: Any] {
        guard let root = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else {
            throw TokenizerError(source, "invalid JSON (not a tokenizer.json)")
        }
        return root
    }

    init(root: [String: Any], source: String, modelVocabularySize: Int?, config: TokenizerConfig?) throws {
        self.source = source
        func fail(_ problem: String) -> TokenizerError { TokenizerError(source, problem) }
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

        let matcher = addedMatcher
        func idOf(_ token: String?) -> Int? {
            guard let token else { return nil }
            return matcher.exact(token)?.id ?? vocabulary[token]
        }
        let bos = idOf(config?.bosToken), eos = idOf(config?.eosToken)
        var processor = try PostProcessor.parse(root["post_processor"], ids: ids, fail: fail)
        // transformers rebuilds the post-processor when the config says whether to add them.
        if let config, config.addBOSToken != nil || config.addEOSToken != nil {
            processor = PostProcessor(prefix: config.addBOSToken == true ? bos.map { [$0] } ?? [] : [],
                                      suffix: config.addEOSToken == true ? eos.map { [$0] } ?? [] : [])
        }
        postProcessor = processor
        bosTokenId = bos ?? processor.prefix.first
        eosTokenId = eos ?? processor.suffix.last
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
        guard let object = object as? [String: Any] else { return (PreTokenizer(steps: []), false) }
        var addPrefixSpace = false
        let steps = try preTokenizerSteps(object, &addPrefixSpace, fail)
        return (PreTokenizer(steps: steps), addPrefixSpace)
    }

    private static func preTokenizerSteps(_ object: [String: Any], _ addPrefixSpace: inout Bool,
                                          _ fail: (String) -> TokenizerError) throws -> [PreTokenizer.Step] {
        switch object["type"] as? String {
        case "ByteLevel":
            if object["add_prefix_space"] as? Bool == true { addPrefixSpace = true }
            return (object["use_regex"] as? Bool ?? true) ? [.gpt2] : []
        case "Digits":
            return [.digits(individual: object["individual_digits"] as? Bool ?? false)]
        case "Split":
            guard (object["behavior"] as? String) == "Isolated", (object["invert"] as? Bool ?? false) == false,
                  let pattern = object["pattern"] as? [String: String]
            else { throw fail("only an isolated, non-inverted Split is supported") }
            if let regex = pattern["Regex"], let known = Llama3StyleSplit.patterns[regex] { return [.llama3Style(known)] }
            let expression: String
            if let regex = pattern["Regex"] { expression = regex } else if let literal = pattern["String"] {
                expression = NSRegularExpression.escapedPattern(for: literal)
            } else { throw fail("Split without a pattern") }
            guard !RegexRisk.repeatsAGroup(expression) else {
                throw fail("Split pattern \(expression) repeats a group, which can take exponential time; not supported")
            }
            guard let regex = try? NSRegularExpression(pattern: expression) else { throw fail("Split pattern \(expression) is not a valid regular expression") }
            return [.isolatedRegex(regex)]
        case "Sequence":
            var steps: [PreTokenizer.Step] = []
            for step in (object["pretokenizers"] as? [Any]) ?? [] {
                guard let step = step as? [String: Any] else { throw fail("a pre_tokenizer Sequence entry is not an object") }
                steps += try preTokenizerSteps(step, &addPrefixSpace, fail)
            }
            return steps
        case let other:
            throw fail("pre_tokenizer \(other ?? "?") is not supported")
        }
    }

    // MARK: Encoding

    /// Token ids of `text`, without special tokens added around it (DESIGN §8).
    public func encode(_ text: String) -> [Int] {
        encode(text, addSpecialTokens: false)
    }

    /// Token ids of `text`; with `addSpecialTokens`, the post-processor's tokens around them
    /// (Llama 3's <|begin_of_text|> first), as transformers' `tokenizer(text)` gives. A prompt
    /// rendered by a chat template already holds its special tokens: encode it without.
    public func encode(_ text: String, addSpecialTokens: Bool) -> [Int] {
        let ids = encodeText(text)
        return addSpecialTokens ? postProcessor.prefix + ids + postProcessor.suffix : ids
    }

    private func encodeText(_ text: String) -> [Int] {
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
