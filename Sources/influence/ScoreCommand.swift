import ArgumentParser
import Curvature
import Foundation
import Influence
import Models

struct Score: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Influence of training documents on queries: I = ∇f(query)ᵀ (G + λI)⁻¹ ∇L(document).",
        discussion: """
            Queries are {"id", "prompt", "completion"} (measurement: summed cross-entropy of the completion tokens) \
            or {"id", "text"}; training documents are {"id", "text"}. Positive scores are proponents: training on \
            the document lowers the query's loss. With --top-k, prints JSON Lines, one per query: \
            {"query": id, "results": [{"id", "score"}, ...]} by descending score; without it, one JSON object \
            {"queries": [...], "train": [...], "scores": [[...]]} with a row per query.
            """)

    @Option(help: "The model directory.")
    var model: String

    @Option(help: "Factors directory from `influence fit` (not needed with --method gdp).")
    var factors: String?

    @Option(help: "JSON Lines queries.")
    var queries: String

    @Option(help: "JSON Lines training documents.")
    var train: String

    @Option(help: "Damping λ: a number, or auto (0.1 × mean eigenvalue of each block).")
    var damping: String = "1e-4"

    @Option(help: "ekfac, kfac, or gdp (gradient dot product, no preconditioner).")
    var method: PreconditionerMethod = .ekfac

    @Option(help: "Modules to score over: all, mlp or attention.")
    var modules: ModuleSelection = .all

    @Option(help: "Keep the K best documents per query (JSON Lines output).")
    var topK: Int?

    @Flag(help: "Add each module's contribution.")
    var perModule = false

    @Option(help: "Write the result to this file (atomically) instead of standard output.")
    var out: String?

    @Option(help: "Compress each preconditioned query gradient to this rank (faster scoring of many documents).")
    var queryRank: Int?

    @Option(help: "Documents per forward/backward pass.")
    var batchSize = 8

    @Option(help: "Cut sequences to this many tokens (default: the model's context).")
    var seqLen: Int?

    func validate() throws {
        if Damping(damping) == nil { throw ValidationError("--damping must be a non-negative number or auto") }
        if let topK, topK < 1 { throw ValidationError("--top-k must be positive") }
        if batchSize < 1 { throw ValidationError("--batch-size must be positive") }
        if let queryRank, queryRank < 1 { throw ValidationError("--query-rank must be positive") }
        if method != .gdp && factors == nil { throw ValidationError("--factors is required with --method \(method.rawValue)") }
    }

    func run() throws {
        let loaded = try LoadedModel(path: model)
        let h = loaded.model.hyperparameters
        let limit = min(seqLen ?? h.maxPositions, h.maxPositions)
        let queryRecords = try loaded.tokenize(try readJSONLines(queries, as: DataRecord.self), source: queries, maxLength: limit, requireIds: true)
        let trainRecords = try loaded.tokenize(try readJSONLines(train, as: DataRecord.self), source: train, maxLength: limit,
                                               requireIds: true, allowPromptCompletion: false)
        if queryRecords.examples.isEmpty { throw CommandError("\(queries): no queries") }
        if trainRecords.examples.isEmpty { throw CommandError("\(train): no training documents") }

        var layouts: [ModuleLayout]
        var preconditioners: [Preconditioner] = []
        if method == .gdp {
            let attentionBlocks = try factors.map { try FactorStore.readManifest(URL(fileURLWithPath: $0)).options.attentionBlocks } ?? .fused
            layouts = ModuleLayout.gptNeoX(h, modules: modules, attentionBlocks: attentionBlocks, includeBias: false)
        } else {
            let directory = URL(fileURLWithPath: factors!)
            let (manifest, fitted) = try FactorStore.readFactors(directory, selection: modules)
            if manifest.modelFingerprint != loaded.model.fingerprint {
                throw CommandError("\(FactorStore.manifestURL(directory).path): factors were fitted on another model (\(manifest.modelPath)); fit them for \(model)")
            }
            layouts = fitted.layouts
            preconditioners = [Preconditioner(factors: fitted, method: method, damping: Damping(damping)!)]
        }
        let scorer = try InfluenceScorer(model: loaded.model, layouts: layouts, queries: queryRecords.examples,
                                         preconditioners: preconditioners, batchSize: batchSize, queryRank: queryRank)
        let runner = GradientRunner(model: loaded.model, layouts: layouts)
        let Q = queryRecords.examples.count, D = trainRecords.examples.count
        var heaps = topK.map { k in [TopK](repeating: TopK(k: k), count: Q) }
        var matrix = topK == nil ? [[Double]](repeating: [], count: Q) : []
        var moduleMatrix = topK == nil && perModule ? [[[Double]]](repeating: [[Double]](repeating: [], count: Q), count: layouts.count) : []
        var kept: [Int: [Double]] = [:]   // per-module scores of documents in some top-k (only with --per-module)
        let bar = ProgressBar("scoring", total: D, unit: "doc")
        for start in stride(from: 0, to: D, by: batchSize) {
            let end = min(start + batchSize, D)
            let (total, byModule) = try scorer.score(model: loaded.model, documents: Array(trainRecords.examples[start..<end]), runner: runner)
            for q in 0..<Q {
                if heaps != nil {
                    for d in 0..<(end - start) { heaps![q].insert(score: total[q][d], index: d + start) }
                } else {
                    matrix[q] += total[q]
                    if perModule { for m in layouts.indices { moduleMatrix[m][q] += byModule[m][q] } }
                }
            }
            if heaps != nil && perModule {
                for d in 0..<(end - start) { for q in 0..<Q { kept[(d + start) * Q + q] = layouts.indices.map { byModule[$0][q][d] } } }
            }
            bar.update(end)
        }
        bar.finish()

        var output = ""
        if let heaps {
            for q in 0..<Q {
                let results = heaps[q].sorted.map { item -> String in
                    var fields = "\"id\": \(jsonQuoted(trainRecords.ids[item.index])), \"score\": \(jsonNumber(item.score))"
                    if perModule, let values = kept[item.index * Q + q] {
                        fields += ", \"modules\": {" + zip(layouts, values).map { "\(jsonQuoted($0.name)): \(jsonNumber($1))" }.joined(separator: ", ") + "}"
                    }
                    return "{\(fields)}"
                }
                output += "{\"query\": \(jsonQuoted(queryRecords.ids[q])), \"results\": [\(results.joined(separator: ", "))]}\n"
            }
        } else {
            func rows(_ m: [[Double]]) -> String { "[" + m.map { "[" + $0.map(jsonNumber).joined(separator: ", ") + "]" }.joined(separator: ", ") + "]" }
            output = "{\"queries\": [\(queryRecords.ids.map(jsonQuoted).joined(separator: ", "))], "
                + "\"train\": [\(trainRecords.ids.map(jsonQuoted).joined(separator: ", "))], \"scores\": \(rows(matrix))"
            if perModule {
                output += ", \"per_module\": {" + zip(layouts, moduleMatrix).map { "\(jsonQuoted($0.name)): \(rows($1))" }.joined(separator: ", ") + "}"
            }
            output += "}\n"
        }
        if let out {
            try AtomicOutput.write(output, to: out)
        } else {
            FileHandle.standardOutput.write(Data(output.utf8))
        }
    }
}
