import Checkpoints
import Foundation
import Tracing

/// The scalability benchmark's report files: results.md (the paper's Table 1 and 3 in one),
/// results.json and pareto.svg (Spearman against pair-wise time, overhead as marker size).
public enum ScalabilityReport {
    /// Writes results.md, results.json (pretty, sorted keys) and pareto.svg into `directory`
    /// (made if missing); returns the Markdown.
    @discardableResult
    public static func write(_ report: ScalabilityBenchmark.Report, to directory: URL, quick: Bool, seed: UInt64) throws -> String {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let markdown = markdown(report, quick: quick, seed: seed)
        try AtomicFile.write(Data(markdown.utf8), to: directory.appendingPathComponent("results.md"))
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        try AtomicFile.write(try encoder.encode(report), to: directory.appendingPathComponent("results.json"))
        try AtomicFile.write(Data(plot(report).utf8), to: directory.appendingPathComponent("pareto.svg"))
        return markdown
    }

    /// "0.042 s", "12.3 s", "4.2 min", "1.25 h".
    public static func duration(_ seconds: Double) -> String {
        guard seconds.isFinite else { return "—" }
        if seconds == 0 { return "0" }
        if seconds < 1 { return String(format: "%.3f s", seconds) }
        if seconds < 120 { return String(format: "%.1f s", seconds) }
        if seconds < 7200 { return String(format: "%.1f min", seconds / 60) }
        return String(format: "%.2f h", seconds / 3600)
    }

    static func correlation(_ mean: Double, _ std: Double) -> String {
        mean.isFinite ? String(format: "%.3f ± %.3f", mean, std) : "—"
    }

    public static func markdown(_ r: ScalabilityBenchmark.Report, quick: Bool, seed: UInt64) -> String {
        var lines = [
            "# Scalability: influence estimators against CG\(quick ? " (quick)" : "")", "",
            "A GPT-NeoX with \(r.mlpParameters) MLP and \(r.attentionParameters) attention parameters (tracked), trained on "
                + "\(r.trainingDocuments) texts (\(r.trainingTokens) tokens) of \(r.corpus) (\(r.corpusTexts) usable texts; "
                + String(format: "last step's loss %.3f, %@ of training). ", r.trainingLoss, duration(r.trainingSeconds))
                + "\(r.queries) held-out queries × \(r.candidates) training candidates; G and EK-FAC over \(r.curvatureSequences) "
                + "training sequences; damping λ = \(r.damping) for every method with a curvature; seed \(seed); "
                + "\(duration(r.seconds)) in all.", "",
            "| method | Spearman vs CG | Pearson vs CG | overhead | pair-wise (per query, \(r.candidates) candidates) | notes |",
            "|---|---|---|---|---|---|",
        ]
        for m in r.results {
            let isTruth = m.method == "cg"
            lines.append("| \(m.title) | \(isTruth ? "—" : correlation(m.spearmanMean, m.spearmanStd)) | "
                         + "\(isTruth ? "—" : correlation(m.pearsonMean, m.pearsonStd)) | \(duration(m.overheadSeconds)) | "
                         + "\(duration(m.pairwiseSeconds)) | \(m.note.replacingOccurrences(of: "|", with: "/")) |")
        }
        lines += [
            "",
            "Correlations: each query's scores over the candidates against CG's, mean ± standard deviation over the queries. "
                + "Overhead: one-time work (fitting the factors for EK-FAC and K-FAC, the eigenpairs for Arnoldi; loading and set-up "
                + "for all). Pair-wise: the scoring run's time divided by the queries; one run computes each candidate's gradient "
                + "once for all its queries, and CG's and LiSSA's solves (one per query) are inside it. Wall-clock time on this "
                + "machine, one thread.",
            "",
            "TRAK's overhead is training its models (each on a random half of the training documents, as the main model) and "
                + "featurising every training document under each; its output function is the loss (Q = 1), without soft-thresholding.",
        ]
        return lines.joined(separator: "\n") + "\n"
    }

    /// Spearman against pair-wise time (log axis), one marker per method, its area growing with
    /// the overhead; CG sits at Spearman 1 by definition.
    public static func plot(_ r: ScalabilityBenchmark.Report) -> String {
        let width = 560.0, height = 320.0, left = 60.0, top = 30.0
        let colours = ["#111827", "#6b7280", "#9333ea", "#ea580c", "#2563eb", "#0891b2", "#16a34a", "#dc2626", "#ca8a04"]
        let points = r.results.map { m -> (ScalabilityBenchmark.MethodResult, Double) in (m, m.method == "cg" ? 1 : m.spearmanMean) }
            .filter { $0.1.isFinite && $0.0.pairwiseSeconds.isFinite && $0.0.pairwiseSeconds > 0 }
        let times = points.map { log10($0.0.pairwiseSeconds) }
        let lo = floor((times.min() ?? -1) - 0.2), hi = ceil((times.max() ?? 1) + 0.2)
        let yLo = min(0, floor((points.map(\.1).min() ?? 0) * 4) / 4)
        let maxOverhead = max(points.map(\.0.overheadSeconds).filter(\.isFinite).max() ?? 0, 1e-9)
        func x(_ seconds: Double) -> Double { left + width * (log10(seconds) - lo) / max(hi - lo, 1e-9) }
        func y(_ value: Double) -> Double { top + height * (1 - (value - yLo) / (1 - yLo)) }
        var svg = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(width + left + 240))\" height=\"\(Int(height + top + 60))\" font-family=\"sans-serif\" font-size=\"11\">"
        svg += "<text x=\"\(left)\" y=\"18\" font-size=\"13\">Spearman vs CG against pair-wise time (marker area: overhead)</text>"
        svg += "<rect x=\"\(left)\" y=\"\(top)\" width=\"\(width)\" height=\"\(height)\" fill=\"none\" stroke=\"#9ca3af\"/>"
        for tick in stride(from: yLo, through: 1.0001, by: 0.25) {
            svg += "<text x=\"\(left - 6)\" y=\"\(y(tick) + 4)\" text-anchor=\"end\">\(String(format: "%.2f", tick))</text>"
            svg += "<line x1=\"\(left)\" x2=\"\(left + width)\" y1=\"\(y(tick))\" y2=\"\(y(tick))\" stroke=\"#e5e7eb\"/>"
        }
        for decade in stride(from: lo, through: hi, by: 1) {
            let px = x(pow(10, decade))
            svg += "<text x=\"\(px)\" y=\"\(top + height + 14)\" text-anchor=\"middle\">\(duration(pow(10, decade)))</text>"
            svg += "<line x1=\"\(px)\" x2=\"\(px)\" y1=\"\(top)\" y2=\"\(top + height)\" stroke=\"#e5e7eb\"/>"
        }
        svg += "<text x=\"\(left + width / 2)\" y=\"\(top + height + 36)\" text-anchor=\"middle\">pair-wise time per query (log scale)</text>"
        for (k, (m, value)) in points.enumerated() {
            let radius = 4 + 14 * (m.overheadSeconds.isFinite ? (m.overheadSeconds / maxOverhead).squareRoot() : 0)
            let colour = colours[k % colours.count]
            svg += String(format: "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"%.1f\" fill=\"%@\" fill-opacity=\"0.55\" stroke=\"%@\"/>",
                          x(m.pairwiseSeconds), y(value), radius, colour, colour)
            let ly = top + 16.0 * Double(k) + 6
            svg += "<circle cx=\"\(left + width + 20)\" cy=\"\(ly)\" r=\"5\" fill=\"\(colour)\" fill-opacity=\"0.55\" stroke=\"\(colour)\"/>"
            svg += "<text x=\"\(left + width + 30)\" y=\"\(ly + 4)\">\(TraceReport.escape(m.title))</text>"
        }
        return svg + "</svg>\n"
    }
}
