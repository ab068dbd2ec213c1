import Foundation
import Testing

/// Factors that do not fit the model or each other, and damping values that are not a damping.
@Suite struct FactorMismatchTests {
    let cli = CommandLineTests()

    @Test func mismatchedStagesAndBadDampingAreRefused() throws {
        let directory = try CommandLineTests.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        func path(_ name: String) -> String { directory.appendingPathComponent(name).path }
        let model = CommandLineTests.example, data = CommandLineTests.data
        func succeed(_ arguments: [String], sourceLocation: SourceLocation = #_sourceLocation) throws -> CommandLineTests.Result {
            let result = try CommandLineTests.run(arguments)
            #expect(result.status == 0, "\(arguments.prefix(2)): \(result.standardError)", sourceLocation: sourceLocation)
            return result
        }
        _ = try succeed(["fit", model, "--data", "\(data)/train.jsonl", "--out", path("bias"), "--include-bias", "--max-sequences", "8"])
        _ = try succeed(["fit", model, "--data", "\(data)/train.jsonl", "--out", path("plain"), "--max-sequences", "8"])
        _ = try succeed(["index", "\(data)/train.jsonl", "--out", path("corpus.sqlite")])

        // One stage fitted with --include-bias, the other without: a clean error, not a write past a buffer.
        let stages = ["--finetuned", model, "--finetuned-factors", path("bias"), "--pretrained", model, "--pretrained-factors", path("plain")]
        try cli.expectFailure(["trace"] + stages + ["--corpus", path("corpus.sqlite"), "--prompt", "Anna Berg was born in", "--completion", " Marren."],
                              ["covers other modules or options", "bias"])
        let queries = ["--queries", "\(data)/queries.jsonl", "--train", "\(data)/train.jsonl"]
        try cli.expectFailure(["score"] + stages + queries, ["covers other modules or options", "bias"])

        // Damping must be positive; relative damping is written 0.001x.
        for bad in ["0", "-1", "nan", "inf", "0x", "-0.1x", "x"] {
            try cli.expectFailure(["score", "--model", model, "--factors", path("plain"), "--damping", bad] + queries, ["damping"])
        }
        func scores(_ extra: [String]) throws -> [[Double]] {
            let result = try succeed(["score", "--model", model, "--factors", path("plain")] + queries + extra)
            let object = try JSONSerialization.jsonObject(with: Data(result.standardOutput.utf8)) as! [String: Any]
            return (object["scores"] as! [[NSNumber]]).map { $0.map(\.doubleValue) }
        }
        let module = try scores(["--damping", "0.1x"]), auto = try scores(["--damping", "auto"])
        let block = try scores(["--damping", "0.1x", "--damping-scope", "block"])
        #expect(module == auto, "auto is 0.1x")
        #expect(module != block, "per-head blocks get another λ with block scope")
        #expect(module.joined().allSatisfy { $0.isFinite })
    }
}
