import ArgumentParser
import Checkpoints
import Foundation
import Models
import Tokenization

struct TokenizerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tokenizer", abstract: "Tokenizer tools.", subcommands: [TrainTokenizer.self])
}

struct TrainTokenizer: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Learn a byte-level BPE tokenizer (GPT-NeoX style) from a corpus and write tokenizer.json.",
        discussion: """
            --data is JSON Lines ({"text"} or {"prompt", "completion"}) when it ends in .jsonl, otherwise plain text, one \
            document per line. A corpus without text is an error. Merges stop when no pair of symbols occurs \
            --min-frequency times any more; if that happens before --vocab-size, the smaller tokenizer is written \
            and a warning gives the size reached (a small corpus cannot supply many merges).
            """)

    /// Larger than any real vocabulary (the largest published ones hold about 256k tokens).
    static let largestVocabulary = 1 << 20

    @Option(help: "The corpus.")
    var data: String

    @Option(parsing: .unconditional, help: "Vocabulary size, special tokens and the 256 byte symbols included.")
    var vocabSize: Int

    @Option(help: "Output directory (tokenizer.json is written there).")
    var out: String

    @Option(parsing: .unconditional, help: "Pairs seen fewer times are not merged.")
    var minFrequency = 2

    func validate() throws {
        if !(258...Self.largestVocabulary).contains(vocabSize) {
            throw ValidationError("--vocab-size must be between 258 (2 special tokens + 256 bytes) and \(Self.largestVocabulary), not \(vocabSize)")
        }
        try OptionCheck.positive(minFrequency, "--min-frequency")
    }

    func run() throws {
        var trainer = BPETrainer(vocabularySize: vocabSize, minimumFrequency: minFrequency)
        if data.hasSuffix(".jsonl") {
            for record in try JSONLines.read(DataRecord.self, path: data) {
                for text in [record.text, record.prompt, record.completion].compactMap({ $0 }) { trainer.add(text) }
            }
        } else {
            for (_, line) in try JSONLines.lines(of: try JSONLines.contents(of: data), source: data) where !line.isEmpty {
                trainer.add(line + "\n")
            }
        }
        if !trainer.hasText { throw InputError("\(data): no text to learn a tokenizer from") }
        let directory = URL(fileURLWithPath: out)
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let url = directory.appendingPathComponent("tokenizer.json")
        try AtomicFile.write(try trainer.tokenizerJSON(), to: url)
        let tokenizer = try BPETokenizer(contentsOf: url)
        if tokenizer.vocabularySize < vocabSize {
            warn("warning: \(data) supplies merges for only \(tokenizer.vocabularySize) of the \(vocabSize) tokens asked for "
                 + "(no pair occurs \(minFrequency) times any more)")
        }
        warn("wrote \(url.path) (\(tokenizer.vocabularySize) tokens)")
    }
}
