import Checkpoints
import ArgumentParser
import Curvature
import Foundation
import Influence

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
            the shared backbone; a fine-tuned classifier's queries are {"id", "text", "label"}. \
            With --shard I/N, scores shard I's whole batches of the training documents and adds a "shard" object \
            (a member of the matrix, or the first line before the top-k lines); `influence merge-scores` combines the shards \
            into exactly what one process writes.
            """)

    @Option(help: "The model: a Hugging Face directory or a .gguf file (single-stage influence).") var model: String?
    @Option(help: "Factors directory from `influence fit` (not needed with --method gdp, cg, lissa, arnoldi, cka or trak).") var factors: String?
    @Option(help: "Multi-stage: the pre-trained model, which gives the training documents' gradients.") var pretrained: String?
    @Option(help: "Multi-stage: factors fitted with the pre-trained model on pre-training data.") var pretrainedFactors: String?
    @Option(help: "Multi-stage: the fine-tuned model, which gives the queries' gradients.") var finetuned: String?
    @Option(help: "Multi-stage: factors fitted with the fine-tuned model on fine-tuning data.") var finetunedFactors: String?
    @Option(parsing: .unconditional, help: "Multi-stage: damping of the fine-tuned curvature (default: --damping).") var dampingFt: Damping?
    @Option(parsing: .unconditional, help: "Multi-stage: damping of the pre-trained curvature (default: --damping).") var dampingPt: Damping?
    @Option(help: "Multi-stage: ekfac (default), or none to leave out (G_pt + λI)⁻¹ as the paper's published code did.")
    var pretrainedPreconditioner: PretrainedPreconditioner = .ekfac
    @Option(help: "JSON Lines queries.") var queries: String
    @Option(help: "JSON Lines training documents.") var train: String
    @Option(parsing: .unconditional, help: "Damping λ: a positive number, a multiple of the mean eigenvalue such as 0.001x, or auto (0.1x).")
    var damping: Damping = .absolute(1e-4)
    @Option(help: "Mean eigenvalue of relative damping (0.001x, auto): over each module (default) or each block.") var dampingScope: DampingScope = .module
    @Option(help: "ekfac, kfac, gdp (gradient dot product, no preconditioner), cg (conjugate gradients with the exact Gauss-Newton matrix of --curvature-data: the ground truth, slow), lissa or arnoldi (on the same matrix), cka (linear CKA of the query's and the document's gradients per module, a similarity baseline), or trak (random projections of the gradients of an ensemble: --model and every --trak-model).")
    var method: PreconditionerMethod = .ekfac
    @Option(help: "--method cg, lissa, arnoldi: JSON Lines data whose Gauss-Newton matrix to invert (default: the fitting data recorded in --factors).")
    var curvatureData: String?
    @Option(parsing: .unconditional, help: "--method lissa: steps of each estimate.") var lissaDepth = 1000
    @Option(parsing: .unconditional, help: "--method lissa: scale, above the largest eigenvalue of G + λI.") var lissaScale = 10.0
    @Option(parsing: .unconditional, help: "--method lissa: estimates averaged.") var lissaRepeats = 1
    @Option(parsing: .unconditional, help: "--method arnoldi: Arnoldi iterations.") var arnoldiIterations = 200
    @Option(parsing: .unconditional, help: "--method arnoldi: top eigenpairs kept.") var arnoldiRank = 50
    @Option(help: "--method arnoldi: a .safetensors file of the eigenpairs: read if it exists (made for the same model, curvature data, modules and settings), else written.")
    var arnoldiStore: String?
    @Option(parsing: .unconditional, help: "--method lissa, arnoldi: seed of the batch order and of the random start.") var estimatorSeed: UInt64 = 0
    @Option(parsing: .unconditional, help: "--method cg: relative residual each query's solve must reach.") var cgTolerance = 1e-5
    @Option(parsing: .unconditional, help: "--method cg: iteration limit of each solve.") var cgIterations = 1000
    @Option(help: "--method cg with --factors: none (plain CG) or ekfac (preconditioned by the factors at the same damping: the same solution, fewer iterations when the factors are good).")
    var cgPreconditioner: PretrainedPreconditioner = .none
    @Option(help: "--method trak: another model of the ensemble (repeatable; --model is the first), e.g. trained with `influence train --subset-fraction 0.5 --subset-seed K`.")
    var trakModel: [String] = []
    @Option(help: "--method trak: JSON Lines data whose projected gradients form the kernel (default: --train).") var trakData: String?
    @Option(parsing: .unconditional, help: "--method trak: projected features per model.") var trakDimension = 2048
    @Option(help: "--method trak: a directory keeping each model's inverse kernel (read when made for the same models, data and settings, else written).")
    var trakStore: String?
    @Option(help: "Modules to score over: all, mlp or attention.") var modules: ModuleSelection = .all
    @Option(parsing: .unconditional, help: "Keep the K best documents per query (JSON Lines output).") var topK: Int?
    @Flag(help: "Add each module's contribution.") var perModule = false
    @Option(help: "Write the result to this file (atomically) instead of standard output.") var out: String?
    @Option(parsing: .unconditional, help: "Compress each preconditioned query gradient to this rank (faster scoring of many documents).")
    var queryRank: Int?
    @Option(parsing: .unconditional, help: "Documents per forward/backward pass.") var batchSize = 8
    @Option(parsing: .unconditional, help: "Cut sequences to this many tokens (default: the model's context).") var seqLen: Int?
    @Flag(help: "Wrap each query's prompt in the (query) model's chat template as the user's turn.") var chat = false
    @Option(help: "Score only shard I of N of the training documents (0-based, such as 0/4; auto: from a Slurm job array or Kubernetes Indexed Job); combine with merge-scores.")
    var shard: ShardSpec?
    @Option(help: "Memory budget such as 12GB: when the preconditioned queries of every module do not fit, score the modules in groups, a pass over the documents each (the same scores).")
    var maxMemory: MemorySize?
    @OptionGroup var parallel: ParallelOptions

    enum PretrainedPreconditioner: String, ExpressibleByArgument, CaseIterable { case ekfac, none }

    func validate() throws {
        try OptionCheck.positive(topK, "--top-k")
        try OptionCheck.positive(cgIterations, "--cg-iterations", largest: 1_000_000)
        if !(cgTolerance > 0 && cgTolerance < 1) { throw ValidationError("--cg-tolerance \(cgTolerance): expected a relative residual in (0, 1)") }
        if curvatureData != nil && !method.usesCurvatureData { throw ValidationError("--curvature-data is for --method cg, lissa or arnoldi") }
        try OptionCheck.positive(lissaDepth, "--lissa-depth", largest: 10_000_000)
        try OptionCheck.positive(lissaRepeats, "--lissa-repeats", largest: 10_000)
        try OptionCheck.positive(arnoldiIterations, "--arnoldi-iterations", largest: 100_000)
        try OptionCheck.positive(arnoldiRank, "--arnoldi-rank", largest: 100_000)
        if !(lissaScale > 0 && lissaScale.isFinite) { throw ValidationError("--lissa-scale \(lissaScale): expected a positive number") }
        try OptionCheck.positive(batchSize, "--batch-size", largest: OptionCheck.largestCount)
        try OptionCheck.positive(trakDimension, "--trak-dimension", largest: 1_000_000)
        if arnoldiStore != nil && method != .arnoldi { throw ValidationError("--arnoldi-store is for --method arnoldi") }
        if method != .trak && (!trakModel.isEmpty || trakData != nil || trakStore != nil) {
            throw ValidationError("--trak-model, --trak-data and --trak-store are for --method trak")
        }
        if method == .trak && perModule { throw ValidationError("--per-module: TRAK's kernel couples the modules, so it has no per-module scores") }
        try OptionCheck.positive(queryRank, "--query-rank")
        try OptionCheck.inRange(seqLen, "--seq-len", 2)
        if pretrained != nil || finetuned != nil {
            if model != nil || factors != nil { throw ValidationError("give --model/--factors (single-stage) or --pretrained/--finetuned (multi-stage), not both") }
            if pretrained == nil || finetuned == nil { throw ValidationError("multi-stage scoring needs both --pretrained and --finetuned") }
            if method.needsFactors && finetunedFactors == nil { throw ValidationError("--finetuned-factors is required with --method \(method.rawValue)") }
            if method.needsFactors && pretrainedPreconditioner == .ekfac && pretrainedFactors == nil {
                throw ValidationError("--pretrained-factors is required (or --pretrained-preconditioner none)")
            }
        } else if model == nil {
            throw ValidationError("give --model (single-stage) or --pretrained and --finetuned (multi-stage)")
        } else if method.needsFactors && factors == nil {
            throw ValidationError("--factors is required with --method \(method.rawValue)")
        }
    }

    func run() throws {
        var stages = ScoringRequest.Stages.single(ScoringStage(model: model ?? "", factors: factors))
        if let pretrained, let finetuned {
            stages = .multi(finetuned: ScoringStage(model: finetuned, factors: finetunedFactors, damping: dampingFt),
                            pretrained: ScoringStage(model: pretrained, factors: pretrainedFactors, damping: dampingPt),
                            preconditionPretrained: pretrainedPreconditioner == .ekfac)
        }
        let request = ScoringRequest(stages: stages, queries: queries, train: train, damping: damping, dampingScope: dampingScope,
                                     method: method, modules: modules, topK: topK, perModule: perModule, queryRank: queryRank,
                                     batchSize: batchSize, maxSequenceLength: seqLen)
        parallel.apply()
        var chatRequest = request
        chatRequest.chat = chat
        chatRequest.shard = shard ?? .whole
        chatRequest.maxMemory = maxMemory?.bytes
        chatRequest.threads = parallel.count
        chatRequest.curvatureData = curvatureData
        chatRequest.cgTolerance = cgTolerance
        chatRequest.cgIterations = cgIterations
        (chatRequest.trakModels, chatRequest.trakData, chatRequest.trakDimension) = (trakModel, trakData, trakDimension)
        chatRequest.trakStore = trakStore
        chatRequest.cgPreconditioned = cgPreconditioner == .ekfac
        (chatRequest.lissaDepth, chatRequest.lissaScale, chatRequest.lissaRepeats) = (lissaDepth, lissaScale, lissaRepeats)
        (chatRequest.arnoldiIterations, chatRequest.arnoldiRank, chatRequest.estimatorSeed) = (arnoldiIterations, arnoldiRank, estimatorSeed)
        chatRequest.arnoldiStore = arnoldiStore
        chatRequest.log = { warn($0) }
        var bar: ProgressBar?
        let results: (results: ScoreResults, shard: ScoreShard?)
        do {
            defer { bar?.finish() }
            let session = try ScoringSession(chatRequest)
            for case let cg as ConjugateGradientPreconditioner in session.preconditioners {
                cg.log = warn
                if cg.preconditioner != nil { warn("cg: preconditioned with the EK-FAC factors at the same damping") }
            }
            for case let lissa as LiSSAPreconditioner in session.preconditioners { lissa.log = warn }
            if let budget = maxMemory {
                let plan = try session.memoryPlan(), groups = try plan.groups()
                warn("scoring \(plan.moduleBytes.count) modules in \(groups.count) group\(groups.count == 1 ? "" : "s") within \(MemorySize.format(budget.bytes))"
                     + (groups.count > 1 ? ": the documents are read \(groups.count) times" : ""))
            }
            results = try session.runShard { progress in
                if progress.scored == 0 { bar = ProgressBar("scoring", total: progress.total, unit: "doc") } else { bar?.update(progress.scored) }
            }
        }
        let output = try results.results.json(shard: results.shard)
        if let out { try AtomicFile.write(output, toPath: out) } else { FileHandle.standardOutput.write(Data(output.utf8)) }
    }
}
