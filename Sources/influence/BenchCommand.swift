import ArgumentParser
import Experiments
import Foundation
import Tracing

struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Benchmarks of attribution quality.", subcommands: [FactTracing.self, Scalability.self, LDS.self])
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

struct Scalability: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "How close does each influence estimator come to exact influence, at what cost? (the paper's Table 1)",
        discussion: """
            Trains a GPT-NeoX with 2 layers, 2 heads and hidden size 256 on fortunes (Debian's fortunes package: real \
            English quotations and aphorisms by many authors; the paper's Penn Treebank is not available offline), then \
            scores 10 held-out queries against 500 training candidates with CG (the exact damped Gauss–Newton influence, \
            the ground truth), Arnoldi, LiSSA, TRAK (an ensemble trained on random halves), EK-FAC, EK-FAC over the MLPs, \
            K-FAC, GDP and CKA (and, with --methods cg-ekfac, EK-FAC-preconditioned CG); CG's scores are kept and reused. \
            Reports each method's Spearman and Pearson correlation with CG (mean ± std over the queries), its one-time \
            overhead and its pair-wise time in results.md, results.json and pareto.svg under --out; the data, the model \
            (reused by a later run with the same options) and the factors go to --out/work.
            """)

    @Flag(help: "A tiny model and a few candidates (under a minute).")
    var quick = false

    @Option(parsing: .unconditional, help: "Seed of the data split, the tokenizer's data and the training.")
    var seed: UInt64 = 1

    @Option(help: "Output directory.")
    var out = "scalability-results"

    @Option(help: "Directory of the fortune files.")
    var corpus = FortuneCorpus.defaultDirectory

    @Option(parsing: .unconditional, help: "Absolute damping λ of every method with a curvature (default: 0.01).")
    var damping: Double?

    @Option(parsing: .unconditional, help: "Training candidates scored per query (default: 500).")
    var candidates: Int?

    @Option(parsing: .unconditional, help: "Held-out queries (default: 10).")
    var queries: Int?

    @Option(parsing: .unconditional, help: "Training sequences whose Gauss–Newton matrix is inverted and EK-FAC fitted on (default: 128).")
    var curvatureSequences: Int?

    @Option(help: "Comma-separated methods (default: all): \(ScalabilityBenchmark.Method.allCases.map(\.rawValue).joined(separator: ", ")); CG always runs.")
    var methods: String?

    func validate() throws {
        if let damping { try OptionCheck.finite(damping, "--damping", positive: true) }
        for (value, name) in [(candidates, "--candidates"), (queries, "--queries"), (curvatureSequences, "--curvature-sequences")] {
            // Two at least, for a correlation (candidates) and a spread (queries); the corpus has under 10⁴ texts.
            if let value, !(2...100_000).contains(value) { throw ValidationError("\(name) \(value): expected 2 to 100000") }
        }
        _ = try Self.parse(methods: methods)
    }

    static func parse(methods: String?) throws -> [ScalabilityBenchmark.Method]? {
        try methods.map { list in
            try list.split(separator: ",").map { name in
                guard let method = ScalabilityBenchmark.Method(rawValue: name.trimmingCharacters(in: .whitespaces)) else {
                    throw ValidationError("--methods: unknown method '\(name)' (expected: \(ScalabilityBenchmark.Method.allCases.map(\.rawValue).joined(separator: ", ")))")
                }
                return method
            }
        }
    }

    func run() throws {
        var options = quick ? ScalabilityBenchmark.Options.quick : ScalabilityBenchmark.Options()
        options.seed = seed
        options.corpusDirectory = corpus
        options.toolVersion = ToolVersion.current
        if let damping { options.damping = damping }
        if let candidates { options.candidates = candidates }
        if let queries { options.queries = queries }
        if let curvatureSequences { options.curvatureSequences = curvatureSequences }
        if let methods = try Self.parse(methods: methods) { options.methods = methods }
        let directory = URL(fileURLWithPath: out)
        let report = try ScalabilityBenchmark(options: options, directory: directory.appendingPathComponent("work")) { warn("· " + $0) }.run()
        let markdown = try ScalabilityReport.write(report, to: directory, quick: quick, seed: seed)
        print(markdown)
        warn("wrote \(directory.path)/results.md, results.json, pareto.svg")
    }
}

struct LDS: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lds",
        abstract: "The linear datamodeling score of each method (Park et al.): do summed attributions predict retrained models' losses?",
        discussion: """
            Trains the scalability benchmark's GPT-NeoX on 2000 fortunes, scores 10 held-out queries against every \
            training document with each method, then trains models on random halves of the training documents (2 seeds \
            each) and reports, per method, the Spearman correlation over the subsets between the summed scores of a \
            subset's documents and minus the query's loss under its models (mean ± std over the queries), in results.md \
            and results.json under --out. The subset models' losses are kept in --out/work and reused.
            """)

    @Flag(help: "A tiny model and a few subsets (under a minute).")
    var quick = false

    @Option(parsing: .unconditional, help: "Seed of the data split, the subsets and the training.")
    var seed: UInt64 = 1

    @Option(help: "Output directory.")
    var out = "lds-results"

    @Option(help: "Directory of the fortune files.")
    var corpus = FortuneCorpus.defaultDirectory

    @Option(parsing: .unconditional, help: "Training documents, every one scored (default: 2000).")
    var documents: Int?

    @Option(parsing: .unconditional, help: "Random subsets of the training documents (default: 32).")
    var subsets: Int?

    @Option(parsing: .unconditional, help: "Fraction α of the training documents in each subset, in (0, 1) (default: 0.5).")
    var fraction: Double?

    @Option(parsing: .unconditional, help: "Models trained per subset, their losses averaged (default: 2).")
    var seedsPerSubset: Int?

    @Option(parsing: .unconditional, help: "Absolute damping λ of every method with a curvature (default: 0.01).")
    var damping: Double?

    @Option(help: "Comma-separated methods (default: ekfac,ekfac-mlp,kfac,gdp,cka,trak): \(ScalabilityBenchmark.Method.allCases.map(\.rawValue).joined(separator: ", ")).")
    var methods: String?

    func validate() throws {
        if let damping { try OptionCheck.finite(damping, "--damping", positive: true) }
        if let fraction, !(fraction > 0 && fraction < 1) { throw ValidationError("--fraction \(fraction): expected a number strictly between 0 and 1") }
        if let documents, !(20...9_000).contains(documents) { throw ValidationError("--documents \(documents): expected 20 to 9000 (the corpus has about 9300 texts)") }
        if let subsets, !(3...10_000).contains(subsets) { throw ValidationError("--subsets \(subsets): expected 3 to 10000") }
        if let seedsPerSubset, !(1...100).contains(seedsPerSubset) { throw ValidationError("--seeds-per-subset \(seedsPerSubset): expected 1 to 100") }
        _ = try Scalability.parse(methods: methods)
    }

    func run() throws {
        var options = quick ? LDSBenchmark.Options.quick : LDSBenchmark.Options()
        options.base.seed = seed
        options.base.corpusDirectory = corpus
        options.base.toolVersion = ToolVersion.current
        if let damping { options.base.damping = damping }
        if let documents { options.base.trainingDocuments = documents }
        if let subsets { options.subsets = subsets }
        if let fraction { options.fraction = fraction }
        if let seedsPerSubset { options.seedsPerSubset = seedsPerSubset }
        if let methods = try Scalability.parse(methods: methods) { options.base.methods = methods }
        let directory = URL(fileURLWithPath: out)
        let report = try LDSBenchmark(options: options, directory: directory.appendingPathComponent("work")) { warn("· " + $0) }.run()
        let markdown = try LDSReport.write(report, to: directory, quick: quick, seed: seed)
        print(markdown)
        warn("wrote \(directory.path)/results.md, results.json")
    }
}
