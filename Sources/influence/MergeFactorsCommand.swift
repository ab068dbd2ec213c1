import ArgumentParser
import Checkpoints
import Curvature
import Foundation

struct MergeFactors: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "merge-factors",
        abstract: "Combine the shards of a fit (`fit --shard I/N`) into one factors directory.",
        discussion: """
            Run it twice. After every shard's pass 1, it adds the shards' covariance sums and eigendecomposes them (one module \
            at a time, resumable): OUT then holds the eigenbasis that each shard's pass 2 reads \
            (`influence fit ... --shard I/N --eigenbasis OUT`). After every shard's pass 2, it adds their Λ sums: OUT is then a \
            finished factors directory for `score --factors OUT`. Shards of another model, options or shard count, and missing \
            or repeated shards, are refused.

            Big models: between the two, `merge-factors SHARDS --out OUT --shard I/N` (or `--shard auto` in a job array) \
            eigendecomposes only part I of N of the modules (consecutive modules of about equal work) into OUT/eigen-parts; \
            the parts run at once on N machines, and the run without --shard then assembles them (byte for byte the \
            eigenbasis it would have computed) instead of decomposing.
            """)

    @Argument(help: "The shards' --out directories (any order).") var shards: [String]
    @Option(help: "The merged factors directory.") var out: String
    @Option(help: "Eigendecompose only part I of N of the modules (0-based, such as 1/4; auto: from a Slurm job array or Kubernetes Indexed Job) into OUT/eigen-parts, after pass 1.")
    var shard: ShardSpec?
    @OptionGroup var parallel: ParallelOptions

    func validate() throws {
        if shards.isEmpty { throw ValidationError("give the shard directories of a fit") }
    }

    func run() throws {
        parallel.apply()
        var merge = FactorMerge(shards: shards.map { URL(fileURLWithPath: $0) }, directory: URL(fileURLWithPath: out),
                                toolVersion: ToolVersion.current)
        merge.threads = parallel.count
        merge.eigenPart = shard ?? .whole
        try merge.run(log: warn)
    }
}
