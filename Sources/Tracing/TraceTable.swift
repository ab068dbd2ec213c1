import Foundation

extension TraceResult {
    /// The ranking as `influence trace` prints it: the question, the answer, then one line per
    /// document (rank, score, id, the text's first 60 characters).
    public var table: String {
        var lines = ["prompt: \(prompt.replacingOccurrences(of: "\n", with: " ⏎ "))",
                     "answer: \(completion)\(completionWasGenerated ? "   (generated)" : "")", "",
                     "rank  score         document      text"]
        for document in documents {
            let snippet = document.text.replacingOccurrences(of: "\n", with: " ")
            let short = snippet.count > 60 ? String(snippet.prefix(57)) + "..." : snippet
            lines.append(String(format: "%4d  %-12.5g  ", document.rank, document.score)
                         + document.id.padding(toLength: 12, withPad: " ", startingAt: 0) + "  " + short)
        }
        return lines.joined(separator: "\n")
    }
}
