import Foundation

/// A GGUF file's tokenizer metadata (the tokenizer.ggml.* keys and tokenizer.chat_template), as
/// plain values: the GGUF reader fills it, this target turns it into a tokenizer.
///
/// The tokenizer is the one transformers builds from the same metadata
/// (integrations/gguf/gguf_tokenizer_mapping.py): a byte-level BPE whose vocabulary is the token
/// list (a token not spelled in the byte alphabet respelled byte by byte), control tokens
/// (type 3) special added tokens, user-defined tokens (type 4) plain added tokens, the BOS, EOS,
/// unknown and padding tokens special too, the pre-tokeniser chosen by tokenizer.ggml.pre (Llama
/// 3's or Qwen's Split, else GPT-2's regex) and BOS/EOS added as tokenizer.ggml.add_bos_token and
/// add_eos_token say. Two differences, both for tokens the model cannot use: transformers appends
/// an extra <|endoftext|> (GPT-2's default special token) to a vocabulary without one, and appends
/// a special token whose text is not in the vocabulary; both would have ids past the model's
/// embedding, and are left out here.
public struct GGUFTokenizerData: Sendable {
    /// tokenizer.ggml.model, e.g. "gpt2".
    public var model: String
    /// tokenizer.ggml.pre, e.g. "smollm", "llama-bpe", "qwen2", "gpt-2".
    public var preTokenizer: String?
    public var tokens: [String]
    /// tokenizer.ggml.token_type: 1 normal, 2 unknown, 3 control, 4 user-defined, 5 unused, 6 byte.
    public var tokenTypes: [Int]?
    public var merges: [String]
    public var bosTokenId, eosTokenId, unknownTokenId, paddingTokenId: Int?
    /// tokenizer.ggml.add_bos_token and add_eos_token: whether `encode(_:addSpecialTokens: true)`
    /// puts BOS before and EOS after. add_space_prefix is ignored, as transformers ignores it
    /// for byte-level BPE.
    public var addBOS, addEOS, addSpacePrefix: Bool?
    public var chatTemplate: String?

    public init(model: String, preTokenizer: String? = nil, tokens: [String], tokenTypes: [Int]? = nil, merges: [String],
                bosTokenId: Int? = nil, eosTokenId: Int? = nil, unknownTokenId: Int? = nil, paddingTokenId: Int? = nil,
                addBOS: Bool? = nil, addEOS: Bool? = nil, addSpacePrefix: Bool? = nil, chatTemplate: String? = nil) {
        self.model = model
        self.preTokenizer = preTokenizer
        self.tokens = tokens
        self.tokenTypes = tokenTypes
        self.merges = merges
        self.bosTokenId = bosTokenId
        self.eosTokenId = eosTokenId
        self.unknownTokenId = unknownTokenId
        self.paddingTokenId = paddingTokenId
        self.addBOS = addBOS
        self.addEOS = addEOS
        self.addSpacePrefix = addSpacePrefix
        self.chatTemplate = chatTemplate
    }

    /// Pre-tokenisers transformers knows for GGUF files but that are not implemented here.
    static let unsupportedPreTokenizers: Set<String> = ["tekken", "gpt-4o", "llama4", "kanana2", "talkie", "minimax-m2"]

    /// The Hugging Face tokenizer.json of this tokenizer, which transformers and
    /// `BPETokenizer(contentsOf:)` both read to the ids of `BPETokenizer(gguf:)`.
    public func huggingFaceTokenizerJSON(source: String) throws -> Data {
        try JSONSerialization.data(withJSONObject: huggingFaceFiles(source: source).tokenizer, options: [.sortedKeys])
    }

    /// The tokenizer_config.json to go beside it: special tokens by name, add_bos_token and
    /// add_eos_token, the chat template.
    public func huggingFaceTokenizerConfigJSON(source: String) throws -> Data {
        try JSONSerialization.data(withJSONObject: huggingFaceFiles(source: source).config.jsonObject(),
                                   options: [.sortedKeys, .prettyPrinted])
    }

    func huggingFaceFiles(source: String) throws -> (tokenizer: [String: Any], config: TokenizerConfig) {
        func fail(_ problem: String) -> TokenizerError { TokenizerError(source, problem) }
        guard model == "gpt2" else { throw fail("tokenizer model \"\(model)\" is not supported (only byte-level BPE, \"gpt2\")") }
        if let preTokenizer, Self.unsupportedPreTokenizers.contains(preTokenizer) {
            throw fail("pre-tokenizer \"\(preTokenizer)\" (tokenizer.ggml.pre) is not supported")
        }
        if let tokenTypes, tokenTypes.count != tokens.count {
            throw fail("tokenizer.ggml.token_type has \(tokenTypes.count) entries for \(tokens.count) tokens")
        }
        func token(_ id: Int?, _ key: String) throws -> String? {
            guard let id else { return nil }
            guard tokens.indices.contains(id) else { throw fail("tokenizer.ggml.\(key) \(id) is outside the vocabulary of \(tokens.count) tokens") }
            return tokens[id]
        }
        var config = TokenizerConfig()
        config.bosToken = try token(bosTokenId, "bos_token_id")
        config.eosToken = try token(eosTokenId, "eos_token_id")
        config.unknownToken = try token(unknownTokenId, "unknown_token_id")
        config.paddingToken = try token(paddingTokenId, "padding_token_id")
        config.addBOSToken = addBOS
        config.addEOSToken = addEOS
        config.chatTemplate = chatTemplate

        // The vocabulary: later tokens win a clash, as in a Python dict.
        var vocabulary: [String: Int] = [:]
        vocabulary.reserveCapacity(tokens.count)
        for (id, token) in tokens.enumerated() { vocabulary[Self.byteLevelSpelling(token)] = id }
        var merged: [[String]] = []
        merged.reserveCapacity(merges.count)
        for (rank, merge) in merges.enumerated() {
            let pair = merge.split(separator: " ", omittingEmptySubsequences: false).map(String.init)
            guard pair.count == 2 else { throw fail("tokenizer.ggml.merges entry \(rank) (\(merge)) is not two tokens") }
            merged.append(pair)
        }

        var added: [(id: Int, content: String, special: Bool)] = []
        var addedContents = Set<String>()
        func add(_ content: String, special: Bool) {
            guard !addedContents.contains(content), let id = vocabulary[content] else { return }
            added.append((id, content, special))
            addedContents.insert(content)
        }
        let types = tokenTypes ?? []
        // Control tokens spelled outside the byte alphabet are llama.cpp mislabels: transformers skips them.
        for (token, type) in zip(tokens, types) where type == 3 && Self.isByteLevelSpelled(token) { add(token, special: true) }
        for (token, type) in zip(tokens, types) where type == 4 { add(token, special: false) }
        // GPT-2's own special token, then the named ones, become special wherever they are in the vocabulary.
        for name in ["<|endoftext|>", config.bosToken, config.eosToken, config.unknownToken, config.paddingToken].compactMap({ $0 }) {
            add(name, special: true)
        }
        added.sort { $0.id < $1.id }

        let byteLevelWithRegex: [String: Any] = ["type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": true]
        let preTokenizerObject: [String: Any]
        if let name = preTokenizer, let split = Llama3StyleSplit.ofGGUFPreTokenizer[name] {
            preTokenizerObject = ["type": "Sequence", "pretokenizers": [
                ["type": "Split", "pattern": ["Regex": split.pattern], "behavior": "Isolated", "invert": false],
                ["type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": false],
            ]]
        } else {
            preTokenizerObject = byteLevelWithRegex
        }

        let root: [String: Any] = [
            "version": "1.0",
            "truncation": NSNull(),
            "padding": NSNull(),
            "added_tokens": added.map { token -> [String: Any] in
                ["id": NSNumber(value: token.id), "content": token.content, "single_word": false, "lstrip": false, "rstrip": false,
                 "normalized": false, "special": token.special]
            },
            "normalizer": NSNull(),
            "pre_tokenizer": preTokenizerObject,
            "post_processor": Self.templateProcessing(
                bos: config.addBOSToken == true ? config.bosToken.flatMap { bos in vocabulary[bos].map { (bos, $0) } } : nil,
                eos: config.addEOSToken == true ? config.eosToken.flatMap { eos in vocabulary[eos].map { (eos, $0) } } : nil),
            "decoder": byteLevelWithRegex.merging(["add_prefix_space": true]) { $1 },
            "model": [
                "type": "BPE", "dropout": NSNull(), "unk_token": NSNull(), "continuing_subword_prefix": "", "end_of_word_suffix": "",
                "fuse_unk": false, "byte_fallback": false, "ignore_merges": false,
                "vocab": vocabulary.mapValues { NSNumber(value: $0) }, "merges": merged,
            ] as [String: Any],
        ]
        return (root, config)
    }

    /// transformers' post-processor for add_bos_token / add_eos_token: [BOS] $A [EOS].
    private static func templateProcessing(bos: (String, Int)?, eos: (String, Int)?) -> [String: Any] {
        func special(_ token: String, _ typeId: Int) -> [String: Any] { ["SpecialToken": ["id": token, "type_id": typeId]] }
        func sequence(_ name: String, _ typeId: Int) -> [String: Any] { ["Sequence": ["id": name, "type_id": typeId]] }
        func around(_ name: String, _ typeId: Int) -> [[String: Any]] {
            (bos.map { [special($0.0, typeId)] } ?? []) + [sequence(name, typeId)] + (eos.map { [special($0.0, typeId)] } ?? [])
        }
        var specialTokens: [String: Any] = [:]
        for (token, id) in [bos, eos].compactMap({ $0 }) {
            specialTokens[token] = ["id": token, "ids": [NSNumber(value: id)], "tokens": [token]]
        }
        return ["type": "TemplateProcessing", "single": around("A", 0), "pair": around("A", 0) + around("B", 1),
                "special_tokens": specialTokens]
    }

    private static let byteLevelScalars = Set(ByteLevelAlphabet.characterOfByte.map { $0.unicodeScalars.first! })

    static func isByteLevelSpelled(_ token: String) -> Bool {
        token.unicodeScalars.allSatisfy { byteLevelScalars.contains($0) }
    }

    /// A token as the byte-level vocabulary spells it: unchanged if every character is in the
    /// byte alphabet (llama.cpp writes them so), else its UTF-8 bytes mapped to that alphabet.
    static func byteLevelSpelling(_ token: String) -> String {
        isByteLevelSpelled(token) ? token : String(ByteLevelAlphabet.encode(token[...]))
    }
}
