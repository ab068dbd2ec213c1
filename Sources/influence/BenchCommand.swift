import ArgumentParser
import Experiments
import Foundation
import Tracing

struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Benchmarks of attribution quality.", subcommands: [FactTracing.self])
}

struct FactTracing: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fact-tracing",
        abstract: "Does multi-stage influence find the sentences that taught a fact? (the paper's §5.3, on a generated world)",
        discussion: """
            Pre-trains a small GPT-NeoX on sentences stating made-up facts, fine-tunes it on questions about half of \
            them, and for questions about the other half re-ranks candidates (the true source sentences, BM25's top \
            hits, sentences with the same answer, random sentences) with BM25, RepSim, GDP, single-stage IF, \
            multi-stage IF and multi-stage IF without the pre-training preconditioner, over a damping sweep. Reports \
            MRR and Recall@10 (mean ± std over 3 trials) in results.md, results.json and damping.svg under --out.
            """)

    @Flag(help: "A smaller world and fewer queries (a few minutes).")
    var quick = false

    @Option(parsing: .unconditional, help: "Seed of the world, the training and the trials.")
    var seed: UInt64 = 1

    @Option(help: "Output directory.")
    var out = "fact-tracing-results"

    @Option(parsing: .unconditional, help: "Fine-tune with the proximity term (α/2)‖θ − θ_pt‖².")
    var proximity = 0.0

    @Flag(help: "People's names share first and last names, so that words alone do not identify a fact.")
    var sharedNames = false

    func validate() throws {
        try OptionCheck.finite(proximity, "--proximity")
    }

    func run() throws {
        var options = quick ? FactTracingBenchmark.Options.quick : FactTracingBenchmark.Options()
        options.seed = seed
        options.proximity = proximity
        options.sharedNames = sharedNames
        let report = try FactTracingBenchmark(options: options) { warn("· " + $0) }.run()
        let directory = URL(fileURLWithPath: out)
        let markdown = try FactTracingReport.write(report, to: directory, quick: quick, seed: seed)
        print(markdown)
        warn("wrote \(directory.path)/results.md, results.json, damping.svg")
    }
}
