import Checkpoints
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
            {"queries": [...], "train": [...], "scores": [[...]]} with a row per query. \
            Multi-stage (--pretrained/--finetuned): ⟨(G_ft+λ_ft I)⁻¹∇f_ft(query), (G_pt+λ_pt I)⁻¹∇L_pt(document)⟩ over \
            the shared backbone; a fine-tuned classifier's queries are {"id", "text", "label"}.
            """)

    @Option(help: "The model directory (single-stage influence).")
    var model: String?

    @Option(help: "Factors directory from `influence fit` (not needed with --method gdp).")
    var factors: String?

    @Option(help: "Multi-stage: the pre-trained model, which gives the training documents' gradients.")
    var pretrained: String?

    @Option(help: "Multi-stage: factors fitted with the pre-trained model on pre-training data.")
    var pretrainedFactors: String?

    @Option(help: "Multi-stage: the fine-tuned model, which gives the queries' gradients.")
    var finetuned: String?

    @Option(help: "Multi-stage: factors fitted with the fine-tuned model on fine-tuning data.")
    var finetunedFactors: String?

    @Option(parsing: .unconditional, help: "Multi-stage: damping of the fine-tuned curvature (default: --damping).")
    var dampingFt: String?

    @Option(parsing: .unconditional, help: "Multi-stage: damping of the pre-trained curvature (default: --damping).")
    var dampingPt: String?

    @Option(help: "Multi-stage: ekfac (default), or none to leave out (G_pt + λI)⁻¹ as the paper's published code did.")
    var pretrainedPreconditioner: PretrainedPreconditioner = .ekfac

    @Option(help: "JSON Lines queries.")
    var queries: String

    @Option(help: "JSON Lines training documents.")
    var train: String

    @Option(parsing: .unconditional, help: "Damping λ: a positive number, a multiple of the mean eigenvalue such as 0.001x, or auto (0.1x).")
    var damping: String = "1e-4"

    @Option(help: "Mean eigenvalue of relative damping (0.001x, auto): over each module (default) or each block.")
    var dampingScope: DampingScope = .module

    @Option(help: "ekfac, kfac, or gdp (gradient dot product, no preconditioner).")
    var method: PreconditionerMethod = .ekfac

    @Option(help: "Modules to score over: all, mlp or attention.")
    var modules: ModuleSelection = .all

    @Option(parsing: .unconditional, help: "Keep the K best documents per query (JSON Lines output).")
    var topK: Int?

    @Flag(help: "Add each module's contribution.")
    var perModule = false

    @Option(help: "Write the result to this file (atomically) instead of standard output.")
    var out: String?

    @Option(parsing: .unconditional, help: "Compress each preconditioned query gradient to this rank (faster scoring of many documents).")
    var queryRank: Int?

    @Option(parsing: .unconditional, help: "Documents per forward/backward pass.")
    var batchSize = 8

    @Option(parsing: .unconditional, help: "Cut sequences to this many tokens (default: the model's context).")
    var seqLen: Int?

    enum PretrainedPreconditioner: String, ExpressibleByArgument, CaseIterable { case ekfac, none }

    var isMultiStage: Bool { pretrained != nil || finetuned != nil }

    func validate() throws {
        try OptionCheck.positive(topK, "--top-k")
        try OptionCheck.positive(batchSize, "--batch-size", largest: OptionCheck.largestCount)
        try OptionCheck.positive(queryRank, "--query-rank")
        try OptionCheck.inRange(seqLen, "--seq-len", 2)
        for value in [damping, dampingFt, dampingPt].compactMap({ $0 }) where Damping(value) == nil {
            throw ValidationError("damping must be \(Damping.syntax), not \(value)")
        }
        if isMultiStage {
            if model != nil || factors != nil { throw ValidationError("give --model/--factors (single-stage) or --pretrained/--finetuned (multi-stage), not both") }
            if pretrained == nil || finetuned == nil { throw ValidationError("multi-stage scoring needs both --pretrained and --finetuned") }
            if method != .gdp && finetunedFactors == nil { throw ValidationError("--finetuned-factors is required with --method \(method.rawValue)") }
            if method != .gdp && pretrainedPreconditioner == .ekfac && pretrainedFactors == nil {
                throw ValidationError("--pretrained-factors is required (or --pretrained-preconditioner none)")
            }
            return
        }
        if model == nil { throw ValidationError("give --model (single-stage) or --pretrained and --finetuned (multi-stage)") }
        if method != .gdp && factors == nil { throw ValidationError("--factors is required with --method \(method.rawValue)") }
    }

    /// Loads factors and checks that they belong to `model` (so swapped or mismatched factor
    /// directories are caught before any arithmetic).
    func preconditioner(_ path: String, for model: GPTNeoXModel, modelPath: String, role: String, damping: String,
                        otherFingerprint: String? = nil) throws -> Preconditioner {
        try method.load(URL(fileURLWithPath: path), for: model, modelPath: modelPath, selection: modules,
                                damping: Damping(damping)!, scope: dampingScope, role: role, otherFingerprint: otherFingerprint).preconditioner
    }

    /// Who gives which gradient, and the preconditioners between them.
    struct Setup {
        let queryModel: LoadedModel
        let documentModel: LoadedModel
        let layouts: [ModuleLayout]
        let preconditioners: [Preconditioner]
    }

    func setup() throws -> Setup {
        if !isMultiStage {
            let loaded = try LoadedModel(path: model!)
            if method == .gdp {
                let attentionBlocks = try factors.map { try FactorStore.readManifest(URL(fileURLWithPath: $0)).options.attentionBlocks } ?? .fused
                let layouts = loaded.model.moduleLayouts(modules, attentionBlocks: attentionBlocks, includeBias: false)
                return Setup(queryModel: loaded, documentModel: loaded, layouts: layouts, preconditioners: [])
            }
            let p = try preconditioner(factors!, for: loaded.model, modelPath: model!, role: "the", damping: damping)
            return Setup(queryModel: loaded, documentModel: loaded, layouts: p.layouts, preconditioners: [p])
        }
        let ft = try LoadedModel(path: finetuned!), pt = try LoadedModel(path: pretrained!)
        try checkSharedBackbone(pretrained: pt, finetuned: ft)
        if method == .gdp {
            let layouts = ft.model.moduleLayouts(modules, attentionBlocks: .fused, includeBias: false)
            return Setup(queryModel: ft, documentModel: pt, layouts: layouts, preconditioners: [])
        }
        let ftPreconditioner = try preconditioner(finetunedFactors!, for: ft.model, modelPath: finetuned!, role: "fine-tuned",
                                                  damping: dampingFt ?? damping, otherFingerprint: pt.model.fingerprint)
        var preconditioners = [ftPreconditioner]
        if pretrainedPreconditioner == .ekfac {
            let ptPreconditioner = try preconditioner(pretrainedFactors!, for: pt.model, modelPath: pretrained!, role: "pre-trained",
                                                      damping: dampingPt ?? damping, otherFingerprint: ft.model.fingerprint)
            try FactorCompatibility.checkSameLayouts(ftPreconditioner.layouts, ptPreconditioner.layouts,
                                                     firstName: finetunedFactors!, secondName: pretrainedFactors!)
            preconditioners.append(ptPreconditioner)
        }
        return Setup(queryModel: ft, documentModel: pt, layouts: ftPreconditioner.layouts, preconditioners: preconditioners)
    }

    /// The two models must share the backbone's shape and the tokenizer; the heads may differ.
    func checkSharedBackbone(pretrained pt: LoadedModel, finetuned ft: LoadedModel) throws {
        let a = pt.model.hyperparameters, b = ft.model.hyperparameters
        let shape = { (h: GPTNeoXHyperparameters) in
            "\(h.layerCount) layers, hidden \(h.hiddenSize), \(h.headCount) heads, intermediate \(h.intermediateSize), rotary \(h.rotaryDimensions)"
        }
        guard shape(a) == shape(b), a.parallelResidual == b.parallelResidual, a.attentionBias == b.attentionBias else {
            throw InputError("\(finetuned!): its backbone (\(shape(b))) differs from the pre-trained model's (\(shape(a)))")
        }
        let size = max(pt.tokenizer.vocabularySize, ft.tokenizer.vocabularySize)
        guard pt.tokenizer.vocabularySize == ft.tokenizer.vocabularySize,
              (0..<size).allSatisfy({ pt.tokenizer.token(ofId: $0) == ft.tokenizer.token(ofId: $0) })
        else {
            throw InputError("\(finetuned!)/tokenizer.json: a different tokenizer from the pre-trained model's; both stages must share one")
        }
    }

    func run() throws {
        let setup = try setup()
        let layouts = setup.layouts
        let queryContext = setup.queryModel.model.hyperparameters.maxPositions, documentContext = setup.documentModel.model.hyperparameters.maxPositions
        let queryRecords = try setup.queryModel.tokenize(try readJSONLines(queries, as: DataRecord.self), source: queries,
                                                         maxLength: min(seqLen ?? queryContext, queryContext), requireIds: true)
        let trainRecords = try setup.documentModel.tokenize(try readJSONLines(train, as: DataRecord.self), source: train,
                                                            maxLength: min(seqLen ?? documentContext, documentContext),
                                                            requireIds: true, allowPromptCompletion: false)
        if queryRecords.examples.isEmpty { throw InputError("\(queries): no queries") }
        if trainRecords.examples.isEmpty { throw InputError("\(train): no training documents") }
        let scorer = try InfluenceScorer(model: setup.queryModel.model, layouts: layouts, queries: queryRecords.examples,
                                         preconditioners: setup.preconditioners, batchSize: batchSize, queryRank: queryRank)
        let runner = GradientRunner(model: setup.documentModel.model, layouts: layouts)
        let D = trainRecords.examples.count
        var collector = ScoreCollector(queryIDs: queryRecords.ids, documentIDs: trainRecords.ids, moduleCount: layouts.count,
                                       topK: topK, keepsModules: perModule)
        let bar = ProgressBar("scoring", total: D, unit: "doc")
        for start in stride(from: 0, to: D, by: batchSize) {
            let end = min(start + batchSize, D)
            let (total, byModule) = try scorer.score(model: setup.documentModel.model, documents: Array(trainRecords.examples[start..<end]), runner: runner)
            do {
                try collector.add(first: start, total: total, perModule: byModule)
            } catch let error as NonFiniteScoreError {
                bar.finish()
                throw InputError("\(train): \(error)")
            }
            bar.update(end)
        }
        bar.finish()

        var output = ""
        if let best = collector.best {
            for q in best.indices {
                let results = best[q].sorted.map { item -> String in
                    var fields = "\"id\": \(jsonQuoted(trainRecords.ids[item.index])), \"score\": \(jsonNumber(item.score))"
                    if let values = item.details {
                        fields += ", \"modules\": {" + zip(layouts, values).map { "\(jsonQuoted($0.name)): \(jsonNumber($1))" }.joined(separator: ", ") + "}"
                    }
                    return "{\(fields)}"
                }
                output += "{\"query\": \(jsonQuoted(queryRecords.ids[q])), \"results\": [\(results.joined(separator: ", "))]}\n"
            }
        } else {
            func rows(_ m: [[Double]]) -> String { "[" + m.map { "[" + $0.map(jsonNumber).joined(separator: ", ") + "]" }.joined(separator: ", ") + "]" }
            output = "{\"queries\": [\(queryRecords.ids.map(jsonQuoted).joined(separator: ", "))], "
                + "\"train\": [\(trainRecords.ids.map(jsonQuoted).joined(separator: ", "))], \"scores\": \(rows(collector.scores))"
            if perModule {
                output += ", \"per_module\": {" + zip(layouts, collector.moduleScores).map { "\(jsonQuoted($0.name)): \(rows($1))" }.joined(separator: ", ") + "}"
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

extension DampingScope: ExpressibleByArgument {}
