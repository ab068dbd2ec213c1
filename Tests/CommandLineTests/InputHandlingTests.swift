import Foundation
import Testing

/// Data files as users have them (Windows line ends, a stray bad byte, a line that is not an
/// object) and outputs that cannot be written: each a one-line error naming the file.
@Suite struct InputHandlingTests {
    static let data = CommandLineTests.data
    let example = CommandLineTests.example

    /// `lines` joined with CRLF, written to a new file.
    static func crlfFile(_ lines: [String], in directory: URL, name: String) throws -> String {
        let url = directory.appendingPathComponent(name)
        try Data((lines.joined(separator: "\r\n") + "\r\n").utf8).write(to: url)
        return url.path
    }

    static func lines(_ file: String) throws -> [String] {
        try String(contentsOfFile: "\(data)/\(file)", encoding: .utf8).split(separator: "\n").map(String.init)
    }

    func succeed(_ arguments: [String], sourceLocation: SourceLocation = #_sourceLocation) throws -> ProcessOutcome {
        let outcome = try ProcessOutcome.run(arguments)
        #expect(outcome.isClean && outcome.status == 0, "\(arguments.first ?? ""): \(outcome.standardError)", sourceLocation: sourceLocation)
        return outcome
    }

    func expectOneLineFailure(_ arguments: [String], _ fragments: [String], sourceLocation: SourceLocation = #_sourceLocation) throws {
        let outcome = try ProcessOutcome.run(arguments)
        #expect(outcome.isClean && outcome.status != 0, "\(outcome.standardError)", sourceLocation: sourceLocation)
        #expect(outcome.errorLines.count == 1, "stderr: \(outcome.standardError)", sourceLocation: sourceLocation)
        for fragment in fragments {
            #expect(outcome.standardError.contains(fragment), "stderr \(outcome.standardError) lacks \(fragment)", sourceLocation: sourceLocation)
        }
        #expect(!outcome.standardError.contains("NSCocoaErrorDomain") && !outcome.standardError.contains("Domain="),
                sourceLocation: sourceLocation)
    }

    @Test func crlfLineEndsAreReadByEveryCommand() throws {
        let directory = try CommandLineTests.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let train = try Self.crlfFile(Self.lines("train.jsonl"), in: directory, name: "train.jsonl")
        let queries = try Self.crlfFile(Self.lines("queries.jsonl"), in: directory, name: "queries.jsonl")
        let finetune = try Self.crlfFile(Self.lines("finetune.jsonl"), in: directory, name: "finetune.jsonl")
        let evaluated = try succeed(["eval", example, "--input", train, "--json"])
        #expect(evaluated.standardOutput.split(separator: "\n").count == 8)
        let factors = directory.appendingPathComponent("factors").path
        _ = try succeed(["fit", example, "--data", train, "--out", factors])
        let scored = try succeed(["score", "--model", example, "--factors", factors, "--queries", queries, "--train", train, "--top-k", "2"])
        #expect(scored.standardOutput.split(separator: "\n").count == 2)
        _ = try succeed(["train", "--from", example, "--data", finetune, "--out", directory.appendingPathComponent("ft").path])
        _ = try succeed(["tokenizer", "train", "--data", train, "--vocab-size", "300", "--out", directory.appendingPathComponent("tok").path])
        // The plain-text corpus of `tokenizer train`, too: the same merges as with LF ends.
        let plain = try Self.crlfFile(Self.lines("train.jsonl"), in: directory, name: "plain.txt")
        let lf = directory.appendingPathComponent("plain-lf.txt")
        try (Self.lines("train.jsonl").joined(separator: "\n") + "\n").write(to: lf, atomically: true, encoding: .utf8)
        _ = try succeed(["tokenizer", "train", "--data", plain, "--vocab-size", "300", "--out", directory.appendingPathComponent("a").path])
        _ = try succeed(["tokenizer", "train", "--data", lf.path, "--vocab-size", "300", "--out", directory.appendingPathComponent("b").path])
        #expect(try Data(contentsOf: directory.appendingPathComponent("a/tokenizer.json"))
                == Data(contentsOf: directory.appendingPathComponent("b/tokenizer.json")))
    }

    @Test func badLinesAreNamedByNumber() throws {
        let directory = try CommandLineTests.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let file = directory.appendingPathComponent("bad.jsonl")
        var bytes = Data("{\"text\": \"fine\"}\n{\"text\": \"also fine\"}\n{\"text\": \"bad ".utf8)
        bytes += Data([0xC3, 0x28]) + Data("\"}\n{\"text\": \"after\"}\n".utf8)
        try bytes.write(to: file)
        try expectOneLineFailure(["eval", example, "--input", file.path], ["bad.jsonl:3", "not valid UTF-8"])
        try "{\"text\": \"fine\"}\n[\"not\", \"an object\"]\n".write(to: file, atomically: true, encoding: .utf8)
        try expectOneLineFailure(["eval", example, "--input", file.path], ["bad.jsonl:2", "expected a JSON object"])
        try "{\"text\": \"fine\"}\n\"a string\"\n".write(to: file, atomically: true, encoding: .utf8)
        try expectOneLineFailure(["fit", example, "--data", file.path, "--out", directory.appendingPathComponent("f").path],
                                 ["bad.jsonl:2", "expected a JSON object"])
    }

    @Test func fileSystemErrorsAreOneLine() throws {
        let directory = try CommandLineTests.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let existing = directory.appendingPathComponent("a-file")
        try "x".write(to: existing, atomically: true, encoding: .utf8)
        try expectOneLineFailure(["fit", example, "--data", "\(Self.data)/train.jsonl", "--out", existing.path], [existing.path])
        try expectOneLineFailure(["demo", "--workdir", "/proc/x"], ["/proc/x"])
        try expectOneLineFailure(["eval", example, "--input", directory.path], [directory.path, "directory"])
    }

    /// A failing index ends its progress line before the error.
    @Test func indexErrorIsOnItsOwnLine() throws {
        let directory = try CommandLineTests.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let empty = directory.appendingPathComponent("empty.jsonl")
        try "\n\n".write(to: empty, atomically: true, encoding: .utf8)
        let outcome = try ProcessOutcome.run(["index", empty.path, "--out", directory.appendingPathComponent("i.sqlite").path])
        #expect(outcome.isClean && outcome.status != 0)
        #expect(outcome.standardError.split(separator: "\n").contains { $0.hasPrefix("Error: ") }, "\(outcome.standardError)")
        // And a successful one reports a total and says what it wrote on standard error, not standard output.
        let built = try ProcessOutcome.run(["index", "\(Self.data)/train.jsonl", "--out", directory.appendingPathComponent("j.sqlite").path])
        #expect(built.status == 0 && built.standardOutput.isEmpty, "\(built.standardOutput)")
        #expect(built.standardError.contains("/8 windows") && built.standardError.contains("ETA"), "\(built.standardError)")
        #expect(built.standardError.contains("wrote "))
    }
}
