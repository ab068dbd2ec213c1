import Tracing
import Checkpoints
import Foundation

/// The fact-tracing benchmark's report files: results.md (accuracy and re-ranking tables) and
/// damping.svg (MRR and Recall@10 against damping).
public enum FactTracingReport {
    /// Writes results.md, results.json (pretty, sorted keys) and damping.svg into `directory`
    /// (made if missing); returns the Markdown.
    @discardableResult
    public static func write(_ report: FactTracingBenchmark.Report, to directory: URL, quick: Bool, seed: UInt64) throws -> String {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let markdown = markdown(report, quick: quick, seed: seed)
        try AtomicFile.write(Data(markdown.utf8), to: directory.appendingPathComponent("results.md"))
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try AtomicFile.write(try encoder.encode(report), to: directory.appendingPathComponent("results.json"))
        try AtomicFile.write(Data(plot(report).utf8), to: directory.appendingPathComponent("damping.svg"))
        return markdown
    }

    public static func markdown(_ r: FactTracingBenchmark.Report, quick: Bool, seed: UInt64) -> String {
        var lines = [
            "# Fact tracing\(quick ? " (quick)" : "")", "",
            "\(r.facts) facts, \(r.sentences) sentences in the attribution set; fine-tuned on questions about \(r.fineTunedFacts) facts; "
                + "queries: questions about the \(r.heldOutFacts) others; \(String(format: "%.0f", r.candidatesPerQuery)) candidates per query on average; "
                + "seed \(seed); relative distance ‖θ_ft − θ_pt‖/‖θ_pt‖ = \(String(format: "%.3f", r.relativeDistance)); \(String(format: "%.0f", r.seconds)) s.", "",
            "## Accuracy (greedy answer starts with the right object)", "",
            "| model | statements (all facts) | questions (fine-tuned facts) | questions (held-out facts) |", "|---|---|---|---|",
        ]
        for a in r.accuracy {
            lines.append(String(format: "| %@ | %.3f | %.3f | %.3f |", a.model, a.statementsAllFacts, a.questionsFineTuned, a.questionsHeldOut))
        }
        lines += ["", "## Re-ranking (MRR and Recall@10, mean ± std over trials)", "",
                  "| method | damping | MRR | Recall@10 |", "|---|---|---|---|"]
        for m in r.results {
            lines.append(String(format: "| %@ | %@ | %.3f ± %.3f | %.3f ± %.3f |", m.method, m.damping, m.mrrMean, m.mrrStd, m.recallMean, m.recallStd))
        }
        lines += ["", "BM25 scores words of the question *and the answer*, so its query contains the answer."]
        return lines.joined(separator: "\n") + "\n"
    }

    /// MRR and Recall@10 of the influence methods against damping (log axis, auto last), with
    /// the damping-free baselines as horizontal lines.
    public static func plot(_ r: FactTracingBenchmark.Report) -> String {
        // Absolute dampings in increasing order, then auto and the relative ones.
        let dampings = unique(r.results.map(\.damping).filter { $0 != "—" })
        let panelWidth = 360.0, height = 220.0, left = 50.0, top = 30.0
        let colours = ["#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2", "#4b5563", "#ca8a04"]
        var svg = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(2 * panelWidth + 2 * left + 260))\" height=\"\(Int(height + top + 70))\" font-family=\"sans-serif\" font-size=\"11\">"
        let methods = unique(r.results.map(\.method))
        for (panel, metric) in ["MRR", "Recall@10"].enumerated() {
            let x0 = left + Double(panel) * (panelWidth + left)
            svg += "<text x=\"\(x0)\" y=\"18\" font-size=\"13\">\(metric)</text>"
            svg += "<rect x=\"\(x0)\" y=\"\(top)\" width=\"\(panelWidth)\" height=\"\(height)\" fill=\"none\" stroke=\"#9ca3af\"/>"
            for tick in stride(from: 0.0, through: 1.0, by: 0.25) {
                let y = top + height * (1 - tick)
                svg += "<text x=\"\(x0 - 6)\" y=\"\(y + 4)\" text-anchor=\"end\">\(tick)</text>"
                svg += "<line x1=\"\(x0)\" x2=\"\(x0 + panelWidth)\" y1=\"\(y)\" y2=\"\(y)\" stroke=\"#e5e7eb\"/>"
            }
            for (i, d) in dampings.enumerated() {
                let x = x0 + panelWidth * (Double(i) + 0.5) / Double(dampings.count)
                svg += "<text x=\"\(x)\" y=\"\(top + height + 12)\" font-size=\"9\" text-anchor=\"end\" transform=\"rotate(-35 \(x) \(top + height + 12))\">\(TraceReport.escape(d))</text>"
            }
            for (k, method) in methods.enumerated() {
                let colour = colours[k % colours.count]
                let rows = r.results.filter { $0.method == method }
                func value(_ m: FactTracingBenchmark.MethodResult) -> Double { panel == 0 ? m.mrrMean : m.recallMean }
                if rows.count == 1 && rows[0].damping == "—" {
                    let y = top + height * (1 - value(rows[0]))
                    svg += "<line x1=\"\(x0)\" x2=\"\(x0 + panelWidth)\" y1=\"\(y)\" y2=\"\(y)\" stroke=\"\(colour)\" stroke-dasharray=\"4 3\"/>"
                } else {
                    let points = rows.compactMap { m -> String? in
                        guard let i = dampings.firstIndex(of: m.damping) else { return nil }
                        let x = x0 + panelWidth * (Double(i) + 0.5) / Double(dampings.count)
                        return String(format: "%.1f,%.1f", x, top + height * (1 - value(m)))
                    }
                    svg += "<polyline points=\"\(points.joined(separator: " "))\" fill=\"none\" stroke=\"\(colour)\" stroke-width=\"2\"/>"
                }
            }
            svg += "<text x=\"\(x0 + panelWidth / 2)\" y=\"\(top + height + 55)\" text-anchor=\"middle\">damping λ (absolute, then multiples of each module's mean eigenvalue)</text>"
        }
        for (k, method) in methods.enumerated() {
            let y = top + 14.0 * Double(k)
            let x = 2 * (panelWidth + left) + 10
            svg += "<line x1=\"\(x)\" x2=\"\(x + 18)\" y1=\"\(y)\" y2=\"\(y)\" stroke=\"\(colours[k % colours.count])\" stroke-width=\"2\"/>"
            svg += "<text x=\"\(x + 24)\" y=\"\(y + 4)\">\(TraceReport.escape(method))</text>"
        }
        return svg + "</svg>\n"
    }

    /// The distinct elements of `values`, in first-seen order.
    private static func unique(_ values: [String]) -> [String] {
        var seen = Set<String>()
        return values.filter { seen.insert($0).inserted }
    }
}
