import ArgumentParser
import Checkpoints
import Foundation
import Influence

struct MergeScores: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "merge-scores",
        abstract: "Combine the outputs of `score --shard I/N` into what one `score` process writes.",
        discussion: """
            Give every shard's --out file of one run (any order): whole matrices are joined document by document, top-k \
            lists keep each query's K best with one process's tie order. Shards of another run (models, factors, inputs or \
            options), of another shard count, missing or repeated shards, and files written without --shard are refused.
            """)

    @Argument(help: "The shards' output files (any order).") var files: [String]
    @Option(help: "The merged output file (written atomically).") var out: String

    func validate() throws {
        if files.isEmpty { throw ValidationError("give the output files of every shard of a scoring run") }
    }

    func run() throws {
        let contents = try files.map { path in
            guard let data = FileManager.default.contents(atPath: path) else { throw InputError("\(path): cannot be read") }
            guard let text = String(data: data, encoding: .utf8) else { throw InputError("\(path): not UTF-8 text") }
            return (path: path, text: text)
        }
        try AtomicFile.write(try ScoreMerge.merge(contents), toPath: out)
    }
}
