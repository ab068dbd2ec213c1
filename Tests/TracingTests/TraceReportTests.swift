import Foundation
import Testing
import Tracing

/// The HTML report marks the sentences known to state the fact, labels its histogram (counts,
/// zero, where the shown documents fall) and says what the scale of a score means.
@Suite struct TraceReportTests {
    static func result() -> TraceResult {
        let documents = [("s1", 3.0e13, "Tabian is the capital city of Riveia."), ("s2", 1.0e13, "The city of Tabian lies in Mufenia.")]
            .enumerated().map { TraceResult.Document(rank: $0 + 1, id: $1.0, score: $1.1, text: $1.2, tokens: []) }
        return TraceResult(prompt: "Question: What is the capital of Riveia?\nAnswer:", completion: " Tabian.", completionWasGenerated: true,
                           documents: documents, settings: [], allScores: [3.0e13, 1.0e13, 2.0e12, -4.0e12, -1.0e13], seconds: 1)
    }

    @Test func sentencesStatingTheFactAreMarked() {
        let html = TraceReport.html(Self.result(), statingTheFact: ["Tabian is the capital city of Riveia."])
        #expect(html.components(separatedBy: "<li class=\"source\">").count == 2)
        #expect(html.contains("<span class=\"states\">states the fact</span>"))
        #expect(!TraceReport.html(Self.result()).contains("<li class=\"source\">"))
    }

    @Test func theHistogramIsLabelled() {
        let svg = TraceReport.histogram(Self.result().allScores, top: 2)
        #expect(svg.contains(">0</text>") && svg.contains("stroke-dasharray"))   // the zero line
        #expect(svg.contains("top 2"))
        #expect(svg.contains("tallest bar"))
        #expect(TraceReport.html(Self.result()).contains("their order and sign matter"))
    }
}
