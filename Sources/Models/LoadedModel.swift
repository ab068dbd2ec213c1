import Checkpoints
import Foundation
import Tokenization

/// A model and its tokenizer, loaded from a Hugging Face directory or a GGUF file: what every
/// command and library entry point that reads text starts from.
public struct LoadedModel {
    /// The directory or .gguf file the model came from.
    public let url: URL
    public let model: DecoderModel
    public let tokenizer: BPETokenizer
    /// A classifier's label names, in index order; nil for a language model.
    public let labels: [String]?
    /// The model's chat template (tokenizer_config.json or tokenizer.chat_template), when it has
    /// one this tool can render.
    public let chatTemplate: ChatTemplate?
    /// Why there is no `chatTemplate` (none given, or one of an unsupported kind).
    public let chatTemplateProblem: String?
    /// tokenizer.json and tokenizer_config.json as a Hugging Face directory holds them: what a
    /// model written from this one (training) carries. From a GGUF file, built from its metadata.
    public let tokenizerFiles: TokenizerFiles
    /// The GGUF file's tensor types and counts ("Q4_1": 210, …); nil for a directory.
    public let quantization: [(type: String, count: Int)]?

    /// `precision`: `.stored` keeps BF16/F16 matrices 16-bit (fitting, scoring, inference);
    /// training needs `.float32`.
    public init(path: String, precision: WeightPrecision = .float32) throws {
        try self.init(url: URL(fileURLWithPath: path), precision: precision)
    }

    public init(url: URL, precision: WeightPrecision = .float32) throws {
        self.url = url
        if Self.isGGUF(url) {
            let checkpoint = try GGUFCheckpoint(url: url)
            model = try checkpoint.model(precision: precision)
            let data = try checkpoint.tokenizerData()
            tokenizer = try BPETokenizer(gguf: data, source: url.path, modelVocabularySize: model.hyperparameters.vocabularySize)
            tokenizerFiles = TokenizerFiles(tokenizer: try data.huggingFaceTokenizerJSON(source: url.path),
                                            config: try data.huggingFaceTokenizerConfigJSON(source: url.path))
            labels = nil
            quantization = checkpoint.file.tensorTypeCounts
            let bos = data.bosTokenId.flatMap { data.tokens.indices.contains($0) ? data.tokens[$0] : nil }
            let eos = data.eosTokenId.flatMap { data.tokens.indices.contains($0) ? data.tokens[$0] : nil }
            (chatTemplate, chatTemplateProblem) = Self.template {
                try data.chatTemplate.map { try ChatTemplate(jinja: $0, source: url.path, bosToken: bos, eosToken: eos) }
            }
            return
        }
        let checkpoint = try CheckpointDirectory(url: url)
        if case .gptNeoX(let config) = checkpoint.config { labels = config.classifierLabels } else { labels = nil }
        model = try DecoderModel(checkpoint: checkpoint, precision: precision)
        let tokenizerURL = checkpoint.tokenizerURL
        guard FileManager.default.fileExists(atPath: tokenizerURL.path) else {
            throw CheckpointError(tokenizerURL, "missing tokenizer (tokenizer.json not found)")
        }
        tokenizer = try BPETokenizer(contentsOf: tokenizerURL, modelVocabularySize: model.hyperparameters.vocabularySize)
        let configURL = url.appendingPathComponent("tokenizer_config.json")
        tokenizerFiles = TokenizerFiles(tokenizer: try Data(contentsOf: tokenizerURL),
                                        config: FileManager.default.contents(atPath: configURL.path))
        quantization = nil
        (chatTemplate, chatTemplateProblem) = Self.template {
            FileManager.default.fileExists(atPath: configURL.path) ? try ChatTemplate.load(tokenizerConfig: configURL) : nil
        }
    }

    /// A path names a GGUF file when it is a file that starts with the GGUF magic or ends in .gguf.
    public static func isGGUF(_ url: URL) -> Bool {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory), !isDirectory.boolValue else {
            return url.pathExtension.lowercased() == "gguf"
        }
        if url.pathExtension.lowercased() == "gguf" { return true }
        guard let handle = FileHandle(forReadingAtPath: url.path) else { return false }
        defer { try? handle.close() }
        return (try? handle.read(upToCount: 4)) == Data("GGUF".utf8)
    }

    private static func template(_ load: () throws -> ChatTemplate?) -> (ChatTemplate?, String?) {
        do {
            guard let template = try load() else { return (nil, "the model has no chat template") }
            return (template, nil)
        } catch {
            return (nil, "\(error)")
        }
    }

    /// The model's context length in tokens.
    public var context: Int { model.hyperparameters.maxPositions }

    /// The chat template, or the error saying why `--chat` cannot be used.
    public func requireChatTemplate() throws -> ChatTemplate {
        if let chatTemplate { return chatTemplate }
        throw InputError("\(url.path): \(chatTemplateProblem ?? "no chat template"); pass the prompt already formatted instead of --chat")
    }

    /// `text` as the user's turn of a conversation, followed by the opening of the assistant's
    /// reply: what an instruction-tuned model answers.
    public func chatPrompt(_ text: String) throws -> String {
        try requireChatTemplate().render([ChatMessage(role: "user", content: text)], addGenerationPrompt: true)
    }

    /// Tokens that end a generated answer: the end-of-text and EOS tokens and the chat turn's end.
    public var stopTokens: Set<Int> {
        var stops = Set([tokenizer.endOfTextTokenId, tokenizer.eosTokenId].compactMap { $0 })
        for marker in ["<|im_end|>", "<|eot_id|>", "<|end_of_text|>"] { if let id = tokenizer.id(ofToken: marker) { stops.insert(id) } }
        return stops
    }

    /// Token ids of `text`, cut to the model's context; `cutFrom` is the uncut length when the
    /// text was longer (for the caller to warn about). A plain text gets the special tokens the
    /// tokenizer adds (Llama 3's BOS); a chat-rendered prompt already holds its own.
    public func encode(_ text: String, what: String, rendered: Bool = false) throws -> (tokens: [Int], cutFrom: Int?) {
        let tokens = tokenizer.encode(text, addSpecialTokens: !rendered)
        if tokens.isEmpty { throw InputError("\(what) is empty: it has no tokens") }
        if tokens.count > context { return (Array(tokens.prefix(context)), tokens.count) }
        return (tokens, nil)
    }

    /// Tokenises records for fitting or scoring with this model's tokenizer, context, labels
    /// and, with `chat`, chat template (see `TokenizedRecords`).
    public func tokenize(_ records: [DataRecord], source: String, maxLength: Int, requireIds: Bool = false,
                         allowPromptCompletion: Bool = true, requireLabels: Bool = true, chat: Bool = false,
                         firstRecordNumber: Int = 1) throws -> TokenizedRecords {
        let needsTemplate = chat || records.contains { $0.messages != nil }
        return try TokenizedRecords(records, tokenizer: tokenizer, contextLength: context, source: source, maxLength: maxLength,
                             requireIds: requireIds, allowPromptCompletion: allowPromptCompletion, labels: labels,
                             requireLabels: requireLabels, chat: chat, chatTemplate: needsTemplate ? try requireChatTemplate() : nil,
                             firstRecordNumber: firstRecordNumber)
    }

    /// Reads a JSON Lines data file and tokenises it (see `tokenize`); `source` is the path.
    public func tokenize(file path: String, maxLength: Int, requireIds: Bool = false, allowPromptCompletion: Bool = true,
                         requireLabels: Bool = true, chat: Bool = false) throws -> TokenizedRecords {
        try tokenize(try JSONLines.read(DataRecord.self, path: path), source: path, maxLength: maxLength, requireIds: requireIds,
                     allowPromptCompletion: allowPromptCompletion, requireLabels: requireLabels, chat: chat)
    }
}

/// A Hugging Face directory's tokenizer files, to be written beside a model.
public struct TokenizerFiles: Sendable {
    public let tokenizer: Data
    public let config: Data?

    public init(tokenizer: Data, config: Data?) {
        self.tokenizer = tokenizer
        self.config = config
    }

    /// Reads tokenizer.json (a file, or a directory holding one) and the tokenizer_config.json beside it.
    public init(contentsOf url: URL) throws {
        var file = url
        if (try? url.resourceValues(forKeys: [.isDirectoryKey]).isDirectory) == true { file.appendPathComponent("tokenizer.json") }
        guard let data = FileManager.default.contents(atPath: file.path) else { throw CheckpointError(file, "tokenizer.json not found") }
        tokenizer = data
        config = FileManager.default.contents(atPath: file.deletingLastPathComponent().appendingPathComponent("tokenizer_config.json").path)
    }

    public func write(to directory: URL) throws {
        try AtomicFile.write(tokenizer, to: directory.appendingPathComponent("tokenizer.json"))
        if let config { try AtomicFile.write(config, to: directory.appendingPathComponent("tokenizer_config.json")) }
    }
}

extension DecoderModel {
    /// The model alone (no tokenizer) from a Hugging Face directory or a GGUF file.
    public convenience init(path: String, precision: WeightPrecision = .float32) throws {
        let url = URL(fileURLWithPath: path)
        if LoadedModel.isGGUF(url) {
            let checkpoint = try GGUFCheckpoint(url: url)
            try self.init(hyperparameters: checkpoint.hyperparameters, weights: checkpoint.weightSource, precision: precision)
        } else {
            try self.init(directory: url, precision: precision)
        }
    }
}
