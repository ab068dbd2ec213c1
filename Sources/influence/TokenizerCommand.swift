import ArgumentParser
import Checkpoints
import Foundation
import Tokenization

struct TokenizerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tokenizer", abstract: "Tokenizer tools.", subcommands: [TrainTokenizer.self])
}

struct TrainTokenizer: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Learn a byte-level BPE tokenizer (GPT-NeoX style) from a corpus and write tokenizer.json.",
        discussion: "--data is JSON Lines ({\"text\"} or {\"prompt\", \"completion\"}) when it ends in .jsonl, otherwise plain text, one document per line.")

    @Option(help: "The corpus.")
    var data: String

    @Option(help: "Vocabulary size, special tokens and the 256 byte symbols included.")
    var vocabSize: Int

    @Option(help: "Output directory (tokenizer.json is written there).")
    var out: String

    @Option(help: "Pairs seen fewer times are not merged.")
    var minFrequency = 2

    func validate() throws {
        if vocabSize < 258 { throw ValidationError("--vocab-size must be at least 258 (2 special tokens + 256 bytes)") }
        if minFrequency < 1 { throw ValidationError("--min-frequency must be positive") }
    }

    func run() throws {
        var trainer = BPETrainer(vocabularySize: vocabSize, minimumFrequency: minFrequency)
        if data.hasSuffix(".jsonl") {
            for record in try readJSONLines(data, as: DataRecord.self) {
                for text in [record.text, record.prompt, record.completion].compactMap({ $0 }) { trainer.add(text) }
            }
        } else {
            guard let bytes = FileManager.default.contents(atPath: data) else { throw CommandError("\(data): file not found") }
            guard let text = String(data: bytes, encoding: .utf8) else { throw CommandError("\(data): not valid UTF-8") }
            for line in text.split(separator: "\n", omittingEmptySubsequences: true) { trainer.add(String(line) + "\n") }
        }
        let directory = URL(fileURLWithPath: out)
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let url = directory.appendingPathComponent("tokenizer.json")
        try AtomicFile.write(try trainer.tokenizerJSON(), to: url)
        let tokenizer = try BPETokenizer(contentsOf: url)
        print("wrote \(url.path) (\(tokenizer.vocabularySize) tokens)")
    }
}
