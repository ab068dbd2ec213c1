import Foundation
import Testing

/// Training runs that cannot give a usable result stop with an error and write nothing.
@Suite struct TrainingOutcomeTests {
    let example = CommandLineTests.example, data = CommandLineTests.data

    func expectRefused(_ arguments: [String], _ fragments: [String], sourceLocation: SourceLocation = #_sourceLocation) throws {
        let outcome = try ProcessOutcome.run(arguments)
        #expect(outcome.isClean && outcome.status != 0, "\(outcome.standardError)", sourceLocation: sourceLocation)
        #expect(outcome.errorLines.filter { $0.hasPrefix("Error:") }.count == 1, "\(outcome.standardError)", sourceLocation: sourceLocation)
        for fragment in fragments {
            #expect(outcome.standardError.contains(fragment), "\(outcome.standardError) lacks \(fragment)", sourceLocation: sourceLocation)
        }
    }

    @Test func aDivergingRunWritesNoModel() throws {
        let directory = try CommandLineTests.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        for (rate, epochs) in [("1e30", "1"), ("1e30", "3")] {
            let out = directory.appendingPathComponent("model-\(epochs)")
            try expectRefused(["train", "--from", example, "--data", "\(data)/finetune.jsonl", "--out", out.path, "--learning-rate", rate,
                               "--epochs", epochs], ["diverged", "nothing written"])
            #expect(!FileManager.default.fileExists(atPath: out.appendingPathComponent("model.safetensors").path))
        }
    }

    @Test func aTokenizerNeedsText() throws {
        let directory = try CommandLineTests.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let empty = directory.appendingPathComponent("empty.jsonl"), textless = directory.appendingPathComponent("ids.jsonl")
        try "".write(to: empty, atomically: true, encoding: .utf8)
        try "{\"id\": 1}\n{\"id\": 2}\n".write(to: textless, atomically: true, encoding: .utf8)
        for file in [empty, textless] {
            let out = directory.appendingPathComponent("tok-\(file.lastPathComponent)")
            try expectRefused(["tokenizer", "train", "--data", file.path, "--vocab-size", "300", "--out", out.path], [file.lastPathComponent, "no text"])
            #expect(!FileManager.default.fileExists(atPath: out.appendingPathComponent("tokenizer.json").path))
        }
        // A corpus too small for the size asked for: the smaller tokenizer, with a warning saying the size reached.
        let small = try ProcessOutcome.run(["tokenizer", "train", "--data", "\(data)/train.jsonl", "--vocab-size", "100000",
                                            "--out", directory.appendingPathComponent("small").path])
        #expect(small.status == 0 && small.standardOutput.isEmpty)
        #expect(small.standardError.contains("only 306 of the 100000 tokens"), "\(small.standardError)")
        try expectRefused(["tokenizer", "train", "--data", "\(data)/train.jsonl", "--vocab-size", "1000000000", "--out", directory.path],
                          ["--vocab-size", "and 1048576"])
    }
}
