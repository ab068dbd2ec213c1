import Foundation
import Testing

/// `influence validate`: EK-FAC against CG on the tiny example prints correlations, the least
/// aligned modules and a verdict (or one JSON object); bad options fail in one line.
@Suite struct ValidateCommandTests {
    typealias CLI = CommandLineTests

    @Test func printsCorrelationsModulesAndAVerdict() throws {
        let directory = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let factors = directory.appendingPathComponent("factors").path
        #expect(try CLI.run(["fit", CLI.example, "--data", "\(CLI.data)/train.jsonl", "--out", factors]).status == 0)
        let arguments = ["validate", CLI.example, "--factors", factors, "--queries", "\(CLI.data)/queries.jsonl",
                         "--train", "\(CLI.data)/train.jsonl", "--damping", "0.1"]
        let text = try CLI.run(arguments)
        #expect(text.status == 0, "\(text.standardError)")
        #expect(text.standardOutput.contains("Spearman per query:") && text.standardOutput.contains("least aligned modules"))
        #expect(text.standardOutput.contains("verdict: "), "\(text.standardOutput)")
        #expect(text.standardError.contains("cg: query 2 solved in"))
        let json = try CLI.run(arguments + ["--json"])
        let object = try JSONSerialization.jsonObject(with: Data(json.standardOutput.utf8)) as! [String: Any]
        #expect((object["spearman"] as! [Double]).count == 2 && (object["documents"] as! Int) == 8)
        try CLI().expectFailure(arguments.dropLast(2) + ["--damping", "0"], ["--damping 0.0: expected a positive absolute λ"])
        try CLI().expectFailure(arguments + ["--cg-iterations", "1"], ["cg did not converge within 1 iterations"])
    }
}
