import Foundation
import Testing

/// `score --shard I/N` and `merge-scores`: three shards merged are byte for byte what one
/// process writes, and mismatched shard sets are refused with one line naming the file.
@Suite struct ShardedScoringTests {
    typealias CLI = CommandLineTests

    static func score(_ extra: [String], out: String) throws -> CLI.Result {
        try CLI.run(["score", "--model", CLI.example, "--method", "gdp", "--queries", "\(CLI.data)/queries.jsonl",
                     "--train", "\(CLI.data)/train.jsonl", "--batch-size", "2", "--per-module", "--out", out] + extra)
    }

    /// Scores whole and in 3 shards, merges, and compares bytes; returns the shard files.
    @discardableResult
    static func expectMergedEqualsWhole(_ extra: [String], in directory: URL) throws -> [String] {
        let whole = directory.appendingPathComponent("whole").path
        let one = try score(extra, out: whole)
        #expect(one.status == 0, "\(one.standardError)")
        let shards = try (0..<3).map { i in
            let path = directory.appendingPathComponent("shard-\(i)").path
            let result = try score(extra + ["--shard", "\(i)/3"], out: path)
            #expect(result.status == 0, "\(result.standardError)")
            let text = try String(contentsOfFile: path, encoding: .utf8)
            #expect(text.contains("\"shard\":{"))
            return path
        }
        let merged = directory.appendingPathComponent("merged").path
        // Any order of the shard files.
        let merge = try CLI.run(["merge-scores", shards[2], shards[0], shards[1], "--out", merged])
        #expect(merge.status == 0, "\(merge.standardError)")
        let expected = try Data(contentsOf: URL(fileURLWithPath: whole)), actual = try Data(contentsOf: URL(fileURLWithPath: merged))
        #expect(expected == actual, "merged:\n\(String(decoding: actual, as: UTF8.self))\nwhole:\n\(String(decoding: expected, as: UTF8.self))")
        #expect(!expected.isEmpty)
        return shards
    }

    @Test func mergedMatrixEqualsOneProcess() throws {
        let directory = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        try Self.expectMergedEqualsWhole([], in: directory)
    }

    @Test func mergedTopKEqualsOneProcess() throws {
        let directory = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        try Self.expectMergedEqualsWhole(["--top-k", "3"], in: directory)
    }

    @Test func badShardSetsAreRefused() throws {
        let directory = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let shards = try Self.expectMergedEqualsWhole(["--top-k", "2"], in: directory)
        let out = directory.appendingPathComponent("out").path
        let cli = CLI()
        try cli.expectFailure(["merge-scores", shards[0], shards[1], "--out", out], ["shard-0", "shard 2/3 is missing"])
        try cli.expectFailure(["merge-scores", shards[0], shards[1], shards[1], shards[2], "--out", out], ["shard-1", "given twice"])
        // A shard of another run: other options (--top-k 3 instead of 2).
        let foreign = directory.appendingPathComponent("foreign").path
        let foreignRun = try Self.score(["--top-k", "3", "--shard", "1/3"], out: foreign)
        #expect(foreignRun.status == 0)
        try cli.expectFailure(["merge-scores", shards[0], foreign, shards[2], "--out", out], ["foreign", "another scoring run"])
        // Another shard count.
        let two = directory.appendingPathComponent("two").path
        let twoRun = try Self.score(["--top-k", "2", "--shard", "1/2"], out: two)
        #expect(twoRun.status == 0)
        try cli.expectFailure(["merge-scores", shards[0], two, shards[2], "--out", out], ["two"])
        // A file written without --shard.
        try cli.expectFailure(["merge-scores", shards[0], directory.appendingPathComponent("whole").path, shards[2], "--out", out],
                              ["whole", "not a shard"])
        #expect(!FileManager.default.fileExists(atPath: out))
        try cli.expectFailure(["score", "--model", CLI.example, "--method", "gdp", "--queries", "\(CLI.data)/queries.jsonl",
                               "--train", "\(CLI.data)/train.jsonl", "--shard", "5/4"], ["5/4"])
    }
}
