import Foundation
import Testing

/// Every numeric option of every subcommand, given zero, negative, NaN and huge values with
/// otherwise valid arguments: a value that is out of range is refused with a one-line error
/// naming the option, before any work; any other value runs, or fails cleanly with one error
/// line. Never a trap, a signal or a hang.
@Suite struct NumericOptionTests {
    static let data = CommandLineTests.data, example = CommandLineTests.example

    /// What an option accepts, and so which of the probe values it must refuse.
    enum Kind {
        case positive, positiveCapped, nonNegative, seed, nonNegativeReal, positiveReal

        func refuses(_ value: String) -> Bool {
            let isInteger = Int(value) != nil, number = Double(value)!
            switch self {
            case .positive: return !isInteger || number < 1
            case .positiveCapped: return !isInteger || number < 1 || number > Double(Int32.max)
            case .nonNegative: return !isInteger || number < 0
            case .seed: return UInt64(value) == nil
            case .nonNegativeReal: return !number.isFinite || number < 0 || number.isNaN
            case .positiveReal: return !number.isFinite || !(number > 0)
            }
        }
    }

    struct Case: CustomTestStringConvertible, Sendable {
        let command: String
        let arguments: [String]
        let option: String
        let kind: Kind
        /// Whether values the option accepts are run too (not for the minutes-long demo and benchmark).
        let runAccepted: Bool
        var testDescription: String { "\(command) \(option)" }
    }

    static let probes = ["0", "-1", "nan", "1e30", "9223372036854775807", "99999999999999999999"]

    /// Placeholders, replaced per run: OUT (a fresh output path), FACTORS and CORPUS (made once).
    static let cases: [Case] = {
        func c(_ command: String, _ arguments: [String], _ options: [(String, Kind)], runAccepted: Bool = true) -> [Case] {
            options.map { Case(command: command, arguments: arguments, option: $0.0, kind: $0.1, runAccepted: runAccepted) }
        }
        let train = ["train", "--from", example, "--data", "\(data)/finetune.jsonl", "--out", "OUT", "--epochs", "1"]
        let scoreInputs = ["--queries", "\(data)/queries.jsonl", "--train", "\(data)/train.jsonl"]
        return c("eval", ["eval", example, "--text", "The capital of Veloria is Marren."], [("--batch-tokens", .positive)])
            + c("generate", ["generate", example, "--prompt", "The capital of Ostland is"], [("--max-new-tokens", .nonNegative)])
            + c("train", train, [("--epochs", .positiveCapped), ("--learning-rate", .positiveReal), ("--warmup-steps", .nonNegative),
                                 ("--batch-size", .positiveCapped), ("--accumulate", .positiveCapped), ("--clip-norm", .nonNegativeReal),
                                 ("--weight-decay", .nonNegativeReal), ("--seed", .seed), ("--seq-len", .positive),
                                 ("--proximity", .nonNegativeReal), ("--save-every", .nonNegative), ("--max-steps", .positive)])
            + c("fit", ["fit", example, "--data", "\(data)/train.jsonl", "--out", "OUT"],
                [("--max-sequences", .positive), ("--seq-len", .positive), ("--batch-size", .positiveCapped), ("--seed", .seed)])
            + c("score", ["score", "--model", example, "--factors", "FACTORS"] + scoreInputs,
                [("--top-k", .positive), ("--query-rank", .positive), ("--batch-size", .positiveCapped), ("--seq-len", .positive),
                 ("--trak-dimension", .positive)])
            + c("score multi-stage", ["score", "--pretrained", example, "--finetuned", example, "--method", "gdp"] + scoreInputs,
                [("--top-k", .positive), ("--query-rank", .positive), ("--batch-size", .positiveCapped), ("--seq-len", .positive)])
            + c("distance", ["distance", example, example], [("--alpha", .nonNegativeReal)])
            + c("index", ["index", "\(data)/train.jsonl", "--out", "OUT"], [("--window-words", .positiveCapped)])
            + c("trace", ["trace", "--finetuned", example, "--finetuned-factors", "FACTORS", "--corpus", "CORPUS",
                          "--prompt", "The capital of Ostland is"],
                [("--candidates", .positive), ("--top", .positive), ("--max-new-tokens", .positive)])
            + c("tokenizer train", ["tokenizer", "train", "--data", "\(data)/train.jsonl", "--vocab-size", "300", "--out", "OUT"],
                [("--vocab-size", .positiveCapped), ("--min-frequency", .positive)])
            + c("demo", ["demo", "--workdir", "OUT"], [("--epochs", .positiveCapped), ("--seed", .seed)], runAccepted: false)
            + c("bench fact-tracing", ["bench", "fact-tracing", "--quick", "--out", "OUT"],
                [("--proximity", .nonNegativeReal), ("--seed", .seed)], runAccepted: false)
            + c("bench scalability", ["bench", "scalability", "--quick", "--out", "OUT"],
                [("--damping", .positiveReal), ("--candidates", .positive), ("--queries", .positive),
                 ("--curvature-sequences", .positive), ("--seed", .seed)], runAccepted: false)
            + c("bench lds", ["bench", "lds", "--quick", "--out", "OUT"],
                [("--damping", .positiveReal), ("--documents", .positive), ("--subsets", .positive), ("--seeds-per-subset", .positive),
                 ("--seed", .seed)],
                runAccepted: false)
    }()

    /// Factors of the example model and an index of the example data, made once.
    static let fixtures: (directory: URL, factors: String, corpus: String) = {
        let directory = try! CommandLineTests.temporaryDirectory()
        let factors = directory.appendingPathComponent("factors").path, corpus = directory.appendingPathComponent("corpus.sqlite").path
        _ = try! CommandLineTests.run(["fit", example, "--data", "\(data)/train.jsonl", "--out", factors])
        _ = try! CommandLineTests.run(["index", "\(data)/train.jsonl", "--out", corpus])
        return (directory, factors, corpus)
    }()

    @Test(arguments: cases) func numericOptionEndsCleanly(_ test: Case) throws {
        let fixtures = Self.fixtures
        for value in Self.probes {
            let refused = test.kind.refuses(value)
            if !refused && !test.runAccepted { continue }
            let out = fixtures.directory.appendingPathComponent("out-\(UUID().uuidString)").path
            var arguments = test.arguments.map { $0 == "OUT" ? out : $0 == "FACTORS" ? fixtures.factors : $0 == "CORPUS" ? fixtures.corpus : $0 }
            // A value given twice is the last one that counts; drop the default first.
            if let i = arguments.firstIndex(of: test.option) { arguments.removeSubrange(i...(i + 1)) }
            arguments += [test.option, value]
            let outcome = try ProcessOutcome.run(arguments)
            let shown = "\(arguments.joined(separator: " ")): status \(outcome.status), stderr: \(outcome.standardError)"
            #expect(outcome.isClean, "\(shown)")
            if refused {
                #expect(outcome.status != 0, "accepted: \(shown)")
                #expect(outcome.errorLines.count == 1 && outcome.errorLines.first?.contains(test.option) == true, "\(shown)")
            } else if outcome.status != 0 {
                // After progress lines, if the run got that far.
                #expect(outcome.errorLines.filter { $0.hasPrefix("Error: ") }.count == 1, "not a one-line error: \(shown)")
            }
        }
    }
}
