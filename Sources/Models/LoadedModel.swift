import Checkpoints
import Foundation
import Tokenization

/// A model and its tokenizer, loaded from a Hugging Face directory: what every command and
/// library entry point that reads text starts from.
public struct LoadedModel {
    public let directory: URL
    public let model: DecoderModel
    public let tokenizer: BPETokenizer
    /// A classifier's label names, in index order; nil for a language model.
    public let labels: [String]?

    public init(path: String) throws {
        try self.init(directory: URL(fileURLWithPath: path))
    }

    public init(directory: URL) throws {
        self.directory = directory
        let checkpoint = try CheckpointDirectory(url: directory)
        if case .gptNeoX(let config) = checkpoint.config { labels = config.classifierLabels } else { labels = nil }
        model = try DecoderModel(checkpoint: checkpoint)
        let tokenizerURL = checkpoint.tokenizerURL
        guard FileManager.default.fileExists(atPath: tokenizerURL.path) else {
            throw CheckpointError(tokenizerURL, "missing tokenizer (tokenizer.json not found)")
        }
        tokenizer = try BPETokenizer(contentsOf: tokenizerURL, modelVocabularySize: model.hyperparameters.vocabularySize)
    }

    /// The model's context length in tokens.
    public var context: Int { model.hyperparameters.maxPositions }

    /// Token ids of `text`, cut to the model's context; `cutFrom` is the uncut length when the
    /// text was longer (for the caller to warn about).
    public func encode(_ text: String, what: String) throws -> (tokens: [Int], cutFrom: Int?) {
        let tokens = tokenizer.encode(text)
        if tokens.isEmpty { throw InputError("\(what) is empty: it has no tokens") }
        if tokens.count > context { return (Array(tokens.prefix(context)), tokens.count) }
        return (tokens, nil)
    }

    /// Tokenises records for fitting or scoring with this model's tokenizer, context and labels
    /// (see `TokenizedRecords`).
    public func tokenize(_ records: [DataRecord], source: String, maxLength: Int, requireIds: Bool = false,
                         allowPromptCompletion: Bool = true, requireLabels: Bool = true) throws -> TokenizedRecords {
        try TokenizedRecords(records, tokenizer: tokenizer, contextLength: context, source: source, maxLength: maxLength,
                             requireIds: requireIds, allowPromptCompletion: allowPromptCompletion, labels: labels,
                             requireLabels: requireLabels)
    }

    /// Reads a JSON Lines data file and tokenises it (see `tokenize`); `source` is the path.
    public func tokenize(file path: String, maxLength: Int, requireIds: Bool = false, allowPromptCompletion: Bool = true,
                         requireLabels: Bool = true) throws -> TokenizedRecords {
        try tokenize(try JSONLines.read(DataRecord.self, path: path), source: path, maxLength: maxLength, requireIds: requireIds,
                     allowPromptCompletion: allowPromptCompletion, requireLabels: requireLabels)
    }
}
