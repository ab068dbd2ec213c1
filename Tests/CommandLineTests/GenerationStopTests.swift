import Foundation
import Testing

/// A model that runs on after its answer: `trace` (by default) and `generate
/// --stop-at-sentence-end` end the answer at the first sentence end or newline, and
/// `--max-new-tokens` bounds it.
@Suite struct GenerationStopTests {
    func succeed(_ arguments: [String], sourceLocation: SourceLocation = #_sourceLocation) throws -> ProcessOutcome {
        let outcome = try ProcessOutcome.run(arguments)
        #expect(outcome.isClean && outcome.status == 0, "\(arguments.prefix(2)): \(outcome.standardError)", sourceLocation: sourceLocation)
        return outcome
    }

    /// The answer's text up to a sentence end, which must be its end if it has one.
    func expectOneSentence(_ answer: String, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(!answer.contains("\n"), "\(answer)", sourceLocation: sourceLocation)
        let ends = answer.indices.filter { ".!?".contains(answer[$0]) }
        #expect(ends.allSatisfy { answer[answer.index(after: $0)...].allSatisfy(\.isWhitespace) }, "\(answer)", sourceLocation: sourceLocation)
    }

    @Test func answersEndAtTheFirstSentenceEnd() throws {
        let directory = try CommandLineTests.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        func path(_ name: String) -> String { directory.appendingPathComponent(name).path }
        let data = CommandLineTests.data, example = CommandLineTests.example
        // A barely trained model: it has not learned to stop, so it runs on.
        _ = try succeed(["train", "--init", "\(example)/config.json", "--tokenizer", example, "--data", "\(data)/train.jsonl",
                         "--out", path("model"), "--epochs", "8", "--learning-rate", "1e-2"])
        let prompt = "The capital of Ostland is"
        let runOn = try succeed(["generate", path("model"), "--prompt", prompt, "--max-new-tokens", "24", "--json"])
        let runOnAnswer = try JSONSerialization.jsonObject(with: Data(runOn.standardOutput.utf8)) as! [String: Any]
        let runOnTokens = (runOnAnswer["completion_tokens"] as! [Int]).count
        let stopped = try succeed(["generate", path("model"), "--prompt", prompt, "--max-new-tokens", "24", "--stop-at-sentence-end", "--json"])
        let stoppedAnswer = try JSONSerialization.jsonObject(with: Data(stopped.standardOutput.utf8)) as! [String: Any]
        expectOneSentence(stoppedAnswer["completion"] as! String)
        #expect((stoppedAnswer["completion_tokens"] as! [Int]).count < runOnTokens, "\(runOnAnswer) vs \(stoppedAnswer)")

        _ = try succeed(["fit", path("model"), "--data", "\(data)/train.jsonl", "--out", path("factors")])
        _ = try succeed(["index", "\(data)/train.jsonl", "--out", path("corpus.sqlite")])
        let trace = ["trace", "--finetuned", path("model"), "--finetuned-factors", path("factors"), "--corpus", path("corpus.sqlite"),
                     "--prompt", prompt, "--json"]
        func answer(_ extra: [String]) throws -> String {
            let object = try JSONSerialization.jsonObject(with: Data(try succeed(trace + extra).standardOutput.utf8)) as! [String: Any]
            #expect(object["generated"] as? Bool == true)
            return object["completion"] as! String
        }
        let traced = try answer([])
        expectOneSentence(traced)
        #expect(traced == stoppedAnswer["completion"] as! String)
        let short = try answer(["--max-new-tokens", "1"])
        #expect(traced.hasPrefix(short) && short.count < traced.count, "\(short) vs \(traced)")
        #expect(try answer(["--no-stop-at-sentence-end"]).count > traced.count)
    }
}
