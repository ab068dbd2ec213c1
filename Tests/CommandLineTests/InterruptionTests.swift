import Checkpoints
import Foundation
import Testing

/// `kill -9` at precise points of `fit`, `train`, `index` and `score --out` (through the
/// INFLUENCE_TEST_KILL_AT test hook, see Sources/Checkpoints/FaultInjection.swift): no file at a
/// final path is ever half-written, the rerun resumes or restarts, and the final files equal
/// those of an uninterrupted run, byte for byte.
@Suite struct InterruptionTests {
    typealias CLI = CommandLineTests

    /// Runs the executable with extra environment variables; returns the status and whether a
    /// signal ended it.
    static func run(_ arguments: [String], environment: [String: String]) throws -> (status: Int32, signalled: Bool, standardError: String) {
        let process = Process()
        process.executableURL = CLI.executable
        process.arguments = arguments
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        let error = Pipe()
        process.standardOutput = FileHandle.nullDevice
        process.standardError = error
        try process.run()
        let err = error.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, process.terminationReason == .uncaughtSignal, String(decoding: err, as: UTF8.self))
    }

    /// Kills a run at `point`, checking that it died there.
    static func kill(_ arguments: [String], at point: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let killed = try run(arguments, environment: ["INFLUENCE_TEST_KILL_AT": point])
        #expect(killed.signalled && killed.status == SIGKILL, "not killed at \(point): \(killed.standardError)", sourceLocation: sourceLocation)
    }

    static func bytes(_ directory: URL, _ name: String) -> Data? {
        FileManager.default.contents(atPath: directory.appendingPathComponent(name).path)
    }

    static func temporaryFiles(in directory: URL) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: directory.path).filter { $0.contains(".tmp-") }
    }

    /// One eigendecomposition at a time, so that the kill points (counted per module) fall in the
    /// same place on any machine.
    static let fitArguments = ["fit", CLI.example, "--data", "\(CLI.data)/train.jsonl", "--seed", "3", "--batch-size", "2",
                               "--checkpoint-every", "4", "--threads", "1"]

    /// Kill points across a fit: within pass 1 after its checkpoint at sequence 4, during the
    /// eigendecomposition, within pass 2, and just before each file is renamed into place.
    @Test(arguments: ["pass1:3", "eigen:2", "pass2:3", "rename:pass1.checkpoint.safetensors", "rename:covariances.safetensors",
                      "rename:factors.json:1", "rename:eigenbasis.safetensors", "rename:pass2.checkpoint.safetensors", "rename:lambda.safetensors",
                      "rename:factors.json:2", "rename:factors.json:12"])
    func aKilledFitResumesToTheSameFactors(point: String) throws {
        let directory = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let straight = directory.appendingPathComponent("straight"), killed = directory.appendingPathComponent("killed")
        let fit = try CLI.run(Self.fitArguments + ["--out", straight.path])
        #expect(fit.status == 0, "\(fit.standardError)")

        try Self.kill(Self.fitArguments + ["--out", killed.path], at: point)
        // Whatever sits at a final path is complete.
        for name in ["covariances.safetensors", "eigenbasis.safetensors", "lambda.safetensors", "pass1.checkpoint.safetensors",
                     "pass2.checkpoint.safetensors"]
        where Self.bytes(killed, name) != nil {
            _ = try SafeTensorsFile(url: killed.appendingPathComponent(name))
        }
        if let manifest = Self.bytes(killed, "factors.json") { _ = try JSONSerialization.jsonObject(with: manifest) }

        let resumed = try CLI.run(Self.fitArguments + ["--out", killed.path])
        #expect(resumed.status == 0, "\(resumed.standardError)")
        if point == "pass1:3" { #expect(resumed.standardError.contains("resuming pass 1 at sequence 5 of 8")) }
        if point == "pass2:3" { #expect(resumed.standardError.contains("resuming pass 2 at sequence 5 of 8")) }
        if point == "eigen:2" { #expect(resumed.standardError.contains("resuming after pass 1") && !resumed.standardError.contains("pass 1/2")) }
        for name in ["covariances.safetensors", "eigenbasis.safetensors", "lambda.safetensors"] {
            #expect(Self.bytes(killed, name) != nil && Self.bytes(killed, name) == Self.bytes(straight, name), "\(name) differs")
        }
        // No checkpoint or temporary file outlives the fit.
        let left = try FileManager.default.contentsOfDirectory(atPath: killed.path).sorted()
        #expect(left == [".lock", "covariances.safetensors", "eigenbasis.safetensors", "factors.json", "lambda.safetensors"])
    }

    /// An interrupted training run: killed between checkpoints it resumes from the last one;
    /// killed while a checkpoint's weights are newer than its optimizer state it restarts
    /// rather than mixing them. Either way it ends with the uninterrupted run's weights.
    @Test(arguments: ["train:5", "rename:training-state.safetensors:2"])
    func aKilledTrainingRunEndsWithTheSameWeights(point: String) throws {
        let directory = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let arguments = ["train", "--from", CLI.example, "--data", "\(CLI.data)/finetune.jsonl", "--epochs", "4", "--batch-size", "2",
                         "--learning-rate", "1e-3", "--save-every", "3"]
        let straight = directory.appendingPathComponent("straight"), killed = directory.appendingPathComponent("killed")
        #expect(try CLI.run(arguments + ["--out", straight.path]).status == 0)
        try Self.kill(arguments + ["--out", killed.path], at: point)
        #expect(Self.bytes(killed, "model.safetensors") == nil)
        let resumed = try CLI.run(arguments + ["--out", killed.path])
        #expect(resumed.status == 0, "\(resumed.standardError)")
        if point == "train:5" { #expect(resumed.standardError.contains("resuming at step 4")) }
        #expect(Self.bytes(killed, "model.safetensors") != nil && Self.bytes(killed, "model.safetensors") == Self.bytes(straight, "model.safetensors"))
        #expect(try Self.temporaryFiles(in: killed).isEmpty)
    }

    /// A killed `index` leaves its temporary file, which is refused as an index (it lacks the
    /// completion marker) and removed by the next build, whose index equals an uninterrupted one.
    @Test func aKilledIndexLeavesNoIndexAndItsTemporaryIsRefusedThenRemoved() throws {
        let directory = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let corpus = directory.appendingPathComponent("corpus.txt")
        try (0..<5000).map { "Document \($0) says that the capital of Veloria is Marren." }.joined(separator: "\n")
            .write(to: corpus, atomically: true, encoding: .utf8)
        let straight = directory.appendingPathComponent("straight.sqlite"), killed = directory.appendingPathComponent("killed.sqlite")
        #expect(try CLI.run(["index", corpus.path, "--out", straight.path]).status == 0)
        try Self.kill(["index", corpus.path, "--out", killed.path], at: "index:1")
        #expect(!FileManager.default.fileExists(atPath: killed.path))
        let leftovers = try Self.temporaryFiles(in: directory)
        #expect(leftovers.contains { $0.hasPrefix(".killed.sqlite.tmp-") })

        // `trace` on the partial file refuses it.
        let factors = directory.appendingPathComponent("factors").path
        #expect(try CLI.run(["fit", CLI.example, "--data", "\(CLI.data)/train.jsonl", "--out", factors]).status == 0)
        let partial = directory.appendingPathComponent("partial.sqlite")
        try FileManager.default.copyItem(at: directory.appendingPathComponent(leftovers.first { !$0.hasSuffix("journal") }!), to: partial)
        try CLI().expectFailure(["trace", "--finetuned", CLI.example, "--finetuned-factors", factors, "--corpus", partial.path,
                                 "--prompt", "The capital of Veloria is", "--completion", " Marren."], ["partial.sqlite", "incomplete"])

        #expect(try CLI.run(["index", corpus.path, "--out", killed.path]).status == 0)
        #expect(try Self.temporaryFiles(in: directory).isEmpty)
        #expect(FileManager.default.contents(atPath: killed.path) == FileManager.default.contents(atPath: straight.path))
    }

    /// `score --out` killed just before its output is renamed into place leaves no output; the
    /// rerun writes the same output and removes the dead run's temporary file.
    @Test func aKilledScoreLeavesNoPartialOutput() throws {
        let directory = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let factors = directory.appendingPathComponent("factors").path
        #expect(try CLI.run(["fit", CLI.example, "--data", "\(CLI.data)/train.jsonl", "--out", factors]).status == 0)
        func score(_ out: URL) -> [String] {
            ["score", "--model", CLI.example, "--factors", factors, "--queries", "\(CLI.data)/queries.jsonl",
             "--train", "\(CLI.data)/train.jsonl", "--top-k", "3", "--out", out.path]
        }
        let straight = directory.appendingPathComponent("straight.jsonl"), killed = directory.appendingPathComponent("killed.jsonl")
        #expect(try CLI.run(score(straight)).status == 0)
        try Self.kill(score(killed), at: "rename:killed.jsonl")
        #expect(!FileManager.default.fileExists(atPath: killed.path))
        #expect(try Self.temporaryFiles(in: directory).count == 1)
        #expect(try CLI.run(score(killed)).status == 0)
        #expect(FileManager.default.contents(atPath: killed.path) == FileManager.default.contents(atPath: straight.path))
        #expect(try Self.temporaryFiles(in: directory).isEmpty)
    }

    /// A second `fit` into a directory another fit is writing is refused at once; the first
    /// finishes undisturbed.
    @Test func aSecondFitIntoTheSameDirectoryIsRefused() throws {
        let directory = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let out = directory.appendingPathComponent("factors").path
        let first = Process()
        first.executableURL = CLI.executable
        first.arguments = ["fit", CLI.example, "--data", "\(CLI.data)/train.jsonl", "--out", out, "--seed", "1", "--batch-size", "2"]
        first.environment = ProcessInfo.processInfo.environment.merging(["INFLUENCE_TEST_STOP_AT": "pass1:1"]) { $1 }
        first.standardOutput = FileHandle.nullDevice
        first.standardError = FileHandle.nullDevice
        try first.run()
        defer { if first.isRunning { Foundation.kill(first.processIdentifier, SIGKILL) } }
        // Wait until it has stopped itself inside pass 1 (state T in /proc/PID/stat).
        let deadline = Date().addingTimeInterval(120)
        func state() -> String? {
            (try? String(contentsOfFile: "/proc/\(first.processIdentifier)/stat", encoding: .utf8))
                .flatMap { $0.split(separator: ")").last?.split(separator: " ").first.map(String.init) }
        }
        while state() != "T", Date() < deadline { usleep(20_000) }
        #expect(state() == "T")

        try CLI().expectFailure(["fit", CLI.example, "--data", "\(CLI.data)/train.jsonl", "--out", out, "--seed", "2"],
                                ["factors", "in use by another `influence fit`", "pid \(first.processIdentifier)"])
        Foundation.kill(first.processIdentifier, SIGCONT)
        first.waitUntilExit()
        #expect(first.terminationStatus == 0)
        let manifest = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out + "/factors.json"))) as! [String: Any]
        #expect((manifest["options"] as! [String: Any])["seed"] as? Int == 1)
    }

    /// The manifest binds its files by digest: a factors or covariances file copied in from
    /// another fit of the same model is refused, naming the file; so is a manifest of an older
    /// version that records no digests.
    @Test func filesFromAnotherFitAreRefused() throws {
        let directory = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        func path(_ name: String) -> String { directory.appendingPathComponent(name).path }
        for seed in ["1", "2"] {
            #expect(try CLI.run(["fit", CLI.example, "--data", "\(CLI.data)/train.jsonl", "--out", path("f\(seed)"), "--seed", seed]).status == 0)
        }
        let score = ["score", "--model", CLI.example, "--factors", path("f1"), "--queries", "\(CLI.data)/queries.jsonl",
                     "--train", "\(CLI.data)/train.jsonl"]
        #expect(try CLI.run(score).status == 0)
        let factors = path("f1") + "/lambda.safetensors"
        let original = try Data(contentsOf: URL(fileURLWithPath: factors))
        try FileManager.default.removeItem(atPath: factors)
        try FileManager.default.copyItem(atPath: path("f2") + "/lambda.safetensors", toPath: factors)
        try CLI().expectFailure(score, ["f1/lambda.safetensors", "does not match the digest in factors.json"])
        try original.write(to: URL(fileURLWithPath: factors))
        #expect(try CLI.run(score).status == 0)

        // Pass 1's sums of another fit are refused when resuming after pass 1.
        let manifestURL = URL(fileURLWithPath: path("f1") + "/factors.json")
        // (As if stopped before the eigendecompositions: one pass, no eigenbasis or Λ yet.)
        var edited = try JSONSerialization.jsonObject(with: Data(contentsOf: manifestURL)) as! [String: Any]
        edited["passes_completed"] = 1
        var files = edited["files"] as! [String: Any]
        files["eigenbasis.safetensors"] = nil
        files["lambda.safetensors"] = nil
        edited["files"] = files
        try JSONSerialization.data(withJSONObject: edited).write(to: manifestURL)
        try FileManager.default.removeItem(atPath: path("f1") + "/covariances.safetensors")
        try FileManager.default.copyItem(atPath: path("f2") + "/covariances.safetensors", toPath: path("f1") + "/covariances.safetensors")
        try CLI().expectFailure(["fit", CLI.example, "--data", "\(CLI.data)/train.jsonl", "--out", path("f1"), "--seed", "1"],
                                ["f1/covariances.safetensors", "does not match the digest"])

        // A manifest without digests (written before they were recorded).
        var object = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path("f2") + "/factors.json"))) as! [String: Any]
        object["files"] = nil
        try JSONSerialization.data(withJSONObject: object).write(to: URL(fileURLWithPath: path("f2") + "/factors.json"))
        try CLI().expectFailure(score.map { $0 == path("f1") ? path("f2") : $0 }, ["f2/factors.json", "without file digests", "--force"])
    }
}
