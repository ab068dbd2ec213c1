import ArgumentParser
import Checkpoints
import Foundation
import Models
import Tokenization

/// A one-line problem the user can fix; printed as "Error: …" with a non-zero exit.
struct CommandError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Writes a line to standard error (warnings, progress), keeping standard output for results.
func warn(_ message: String) {
    FileHandle.standardError.write(Data((message + "\n").utf8))
}

/// A GPT-NeoX model and its tokenizer, loaded from a Hugging Face directory.
struct LoadedModel {
    let directory: URL
    let model: GPTNeoXModel
    let tokenizer: BPETokenizer
    /// A classifier's label names, in index order; nil for a language model.
    let labels: [String]?

    init(path: String) throws {
        directory = URL(fileURLWithPath: path)
        let checkpoint = try CheckpointDirectory(url: directory)
        if case .gptNeoX(let config) = checkpoint.config { labels = config.classifierLabels } else { labels = nil }
        model = try GPTNeoXModel(checkpoint: checkpoint)
        let tokenizerURL = checkpoint.tokenizerURL
        guard FileManager.default.fileExists(atPath: tokenizerURL.path) else {
            throw CommandError("\(tokenizerURL.path): missing tokenizer (tokenizer.json not found)")
        }
        tokenizer = try BPETokenizer(contentsOf: tokenizerURL, modelVocabularySize: model.hyperparameters.vocabularySize)
    }

    /// Token ids of `text`, cut to the model's context with a warning.
    func encode(_ text: String, what: String) throws -> [Int] {
        var tokens = tokenizer.encode(text)
        if tokens.isEmpty { throw CommandError("\(what) is empty: it has no tokens") }
        let context = model.hyperparameters.maxPositions
        if tokens.count > context {
            warn("warning: \(what) has \(tokens.count) tokens; keeping the first \(context) (the model's context)")
            tokens = Array(tokens.prefix(context))
        }
        return tokens
    }
}

/// Reads a JSON Lines file, one object per non-blank line; errors name the file and the line.
func readJSONLines<T: Decodable>(_ path: String, as type: T.Type) throws -> [T] {
    try JSONLines.read(type, path: path)
}

/// A JSON string literal.
func jsonQuoted(_ text: String) -> String {
    let data = try! JSONSerialization.data(withJSONObject: [text], options: [.withoutEscapingSlashes])
    let array = String(decoding: data, as: UTF8.self)
    return String(array.dropFirst().dropLast())
}

/// A finite number as JSON (shortest representation that reads back exactly).
func jsonNumber(_ value: Double) -> String {
    value.isFinite ? "\(value)" : "null"
}

func jsonNumber(_ value: Float) -> String {
    value.isFinite ? "\(value)" : "null"
}

enum AtomicOutput {
    static func write(_ text: String, to path: String) throws {
        do {
            try AtomicFile.write(Data(text.utf8), to: URL(fileURLWithPath: path))
        } catch {
            throw FileSystemProblem.oneLine(error, path: path)
        }
    }
}
