import ArgumentParser
import Checkpoints
import Curvature
import Foundation
import Influence
import Models

struct Validate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Are these factors good enough? EK-FAC against exact influence (CG) on a sample of queries and documents.",
        discussion: """
            Preconditions each sampled query's gradient twice, with EK-FAC (--factors) and with conjugate gradients on the \
            exact Gauss-Newton matrix of the fitting data (or --curvature-data), at the same absolute --damping, then reports \
            per module the cosine between the two, per query the Spearman and Pearson correlation of the two methods' \
            scores over the sampled documents, the least aligned modules, and a one-line verdict (good: mean Spearman ≥ 0.9; \
            fair: ≥ 0.6; poor below). CG costs a forward, tangent and backward pass over the curvature data per iteration: \
            keep the samples small.
            """)

    @Argument(help: "The model: a Hugging Face directory or a .gguf file.") var model: String
    @Option(help: "Factors directory from `influence fit`.") var factors: String
    @Option(help: "JSON Lines queries.") var queries: String
    @Option(help: "JSON Lines training documents.") var train: String
    @Option(help: "JSON Lines data of the exact Gauss-Newton matrix (default: the fitting data recorded in --factors).")
    var curvatureData: String?
    @Option(parsing: .unconditional, help: "Absolute damping λ of both methods.") var damping = 0.1
    @Option(parsing: .unconditional, help: "Queries sampled (the first ones).") var maxQueries = 10
    @Option(parsing: .unconditional, help: "Documents sampled (the first ones).") var maxDocuments = 50
    @Option(parsing: .unconditional, help: "Sequences per forward/backward pass.") var batchSize = 8
    @Option(parsing: .unconditional, help: "Relative residual of CG's solves.") var cgTolerance = 1e-5
    @Option(parsing: .unconditional, help: "Iteration limit of CG's solves.") var cgIterations = 1000
    @Flag(help: "Print one JSON object.") var json = false

    func validate() throws {
        try OptionCheck.positive(maxQueries, "--max-queries", largest: OptionCheck.largestCount)
        try OptionCheck.positive(maxDocuments, "--max-documents", largest: OptionCheck.largestCount)
        try OptionCheck.positive(batchSize, "--batch-size", largest: OptionCheck.largestCount)
        try OptionCheck.positive(cgIterations, "--cg-iterations", largest: 1_000_000)
        if !(damping > 0 && damping.isFinite) { throw ValidationError("--damping \(damping): expected a positive absolute λ") }
        if !(cgTolerance > 0 && cgTolerance < 1) { throw ValidationError("--cg-tolerance \(cgTolerance): expected a relative residual in (0, 1)") }
    }

    func run() throws {
        let loaded = try LoadedModel(path: model, precision: .stored)
        let directory = URL(fileURLWithPath: factors)
        let (manifest, ekfac) = try PreconditionerMethod.ekfac.load(directory, for: loaded.model, modelPath: model, damping: .absolute(damping))
        let data = curvatureData ?? manifest.options.data
        let curvature = try loaded.tokenize(file: data, maxLength: manifest.options.sequenceLength)
        let fitting = manifest.options.maxSequences.map { Array(curvature.examples.prefix($0)) } ?? curvature.examples
        if fitting.isEmpty { throw InputError("\(data): no sequences for the curvature") }
        let product = try GaussNewtonProduct(model: loaded.model, layouts: ekfac.layouts, examples: fitting, batchSize: batchSize)
        let cg = try ConjugateGradientPreconditioner(product: product, damping: damping, tolerance: cgTolerance, maxIterations: cgIterations)
        cg.log = warn
        let queryRecords = try loaded.tokenize(file: queries, maxLength: loaded.context, requireIds: true)
        let trainRecords = try loaded.tokenize(file: train, maxLength: loaded.context, requireIds: true, allowPromptCompletion: false)
        if queryRecords.examples.isEmpty { throw InputError("\(queries): no queries") }
        if trainRecords.examples.isEmpty { throw InputError("\(train): no training documents") }
        let sampledQueries = Array(queryRecords.examples.prefix(maxQueries)), documents = Array(trainRecords.examples.prefix(maxDocuments))
        let report = try FactorValidation.compare(model: loaded.model, layouts: ekfac.layouts, approximate: ekfac, exact: cg,
                                                  queries: sampledQueries, documents: documents, damping: damping, batchSize: batchSize)
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            FileHandle.standardOutput.write(try encoder.encode(report) + Data("\n".utf8))
            return
        }
        print("EK-FAC (\(factors)) against CG on the exact Gauss-Newton matrix of \(data) (\(fitting.count) sequences), "
              + "damping \(damping), \(sampledQueries.count) queries × \(documents.count) documents")
        func format(_ values: [Double]) -> String { values.map { String(format: "%.2f", $0) }.joined(separator: " ") }
        print("Spearman per query: \(format(report.spearman)) (mean \(String(format: "%.2f", report.meanSpearman)))")
        print("Pearson per query:  \(format(report.pearson)) (mean \(String(format: "%.2f", report.meanPearson)))")
        print("least aligned modules (cosine of the two preconditioned query gradients):")
        let width = report.modules.map(\.module.count).max() ?? 0
        for agreement in report.modules.prefix(5) {
            print("  " + agreement.module.padding(toLength: width, withPad: " ", startingAt: 0) + String(format: "  %.3f", agreement.cosine))
        }
        print("verdict: \(report.verdict)")
    }
}
