import Checkpoints
import Foundation

/// The LDS benchmark's report files: results.md and results.json.
public enum LDSReport {
    /// Writes results.md and results.json (pretty, sorted keys) into `directory` (made if
    /// missing); returns the Markdown.
    @discardableResult
    public static func write(_ report: LDSBenchmark.Report, to directory: URL, quick: Bool, seed: UInt64) throws -> String {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let markdown = markdown(report, quick: quick, seed: seed)
        try AtomicFile.write(Data(markdown.utf8), to: directory.appendingPathComponent("results.md"))
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        try AtomicFile.write(try encoder.encode(report), to: directory.appendingPathComponent("results.json"))
        return markdown
    }

    public static func markdown(_ r: LDSBenchmark.Report, quick: Bool, seed: UInt64) -> String {
        var lines = [
            "# Linear datamodeling score\(quick ? " (quick)" : "")", "",
            "\(r.trainingDocuments) training documents (the scalability benchmark's model and data), \(r.queries) held-out queries; "
                + "\(r.subsets) random subsets of \(String(format: "%.0f", r.fraction * 100)) % of the documents, \(r.seedsPerSubset) "
                + "model(s) trained on each; damping λ = \(r.damping); seed \(seed); \(ScalabilityReport.duration(r.seconds)) in all. "
                + String(format: "The subset models' query loss: mean %.3f, standard deviation across subsets %.4f (mean over queries).",
                         r.meanQueryLoss, r.queryLossSpread), "",
            "| method | LDS | notes |", "|---|---|---|",
        ]
        for m in r.results {
            let value = m.ldsMean.isFinite ? String(format: "%.3f ± %.3f", m.ldsMean, m.ldsStd) : "—"
            lines.append("| \(m.title) | \(value) | \(m.note.replacingOccurrences(of: "|", with: "/")) |")
        }
        lines += ["", "LDS: per query, the Spearman correlation over the subsets between the method's scores summed over the subset's "
                  + "documents and minus the query's loss under the subset's models; mean ± standard deviation over the queries."]
        return lines.joined(separator: "\n") + "\n"
    }
}
