import ArgumentParser
import Checkpoints
import Curvature
import Foundation
import Models

struct Fit: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Fit EK-FAC factors of a model on data (two passes; resumable).",
        discussion: """
            Pass 1 accumulates the input and output-gradient covariances A and S with next-token labels \
            sampled from the model (Float64 sums), then eigendecomposes them. Pass 2 accumulates the \
            corrected eigenvalues from per-sequence pseudo-gradients with freshly sampled labels. \
            Data lines are {"text": ...} or {"prompt": ..., "completion": ...} (labels sampled at completion positions only; \
            A, S and Λ all use every row up to the last completion token, since attention carries the loss to the prompt). \
            Run the same command again to resume an interrupted fit: it continues from the last checkpoint \
            of the pass that was running (see --checkpoint-every) and gives the same factors. One fit at a \
            time may write to an --out directory (a lock file, .lock). \
            With --max-memory, each pass covers as many modules as fit in the budget and reads the data again for the rest. \
            Scale-out: `fit --shard I/N` sums shard I's batches (pass 1); `merge-factors` combines the shards and \
            eigendecomposes; `fit --shard I/N --eigenbasis MERGED` runs the shard's pass 2; `merge-factors` again finishes \
            the factors (Recipes/slurm, Recipes/kubernetes).
            """)

    @Argument(help: "A model: a Hugging Face directory or a .gguf file.") var modelDirectory: String
    @Option(help: "JSON Lines fitting data.") var data: String
    @Option(help: "Output directory for the factors.") var out: String
    @Option(help: "Tracked modules: all, mlp or attention.") var modules: ModuleSelection = .all
    @Option(help: "Blocks of the fused query/key/value weight: per-head or fused.") var attentionBlocks: AttentionBlocks = .perHead
    @Flag(help: "Include biases (a constant 1 appended to each module input).") var includeBias = false
    @Option(parsing: .unconditional, help: "Use at most this many sequences.") var maxSequences: Int?
    @Option(parsing: .unconditional, help: "Cut sequences to this many tokens (default: the model's context).") var seqLen: Int?
    @Option(parsing: .unconditional, help: "Sequences per forward/backward pass.") var batchSize = 8
    @Option(parsing: .unconditional, help: "Seed of the sampled labels.") var seed: UInt64 = 0
    @Flag(help: "Discard factors already in --out and fit again.") var force = false
    @Option(parsing: .unconditional, help: "Save a pass's progress every this many sequences (default: every 5 minutes).") var checkpointEvery: Int?
    @Option(help: "Stay within this much memory (such as 16GB): module groups per pass, more passes over the data when needed.")
    var maxMemory: MemorySize?
    @Option(help: "Fit only shard I of N (0-based, such as 0/4; auto: from a Slurm job array or Kubernetes Indexed Job).")
    var shard: ShardSpec?
    @Option(help: "A shard's pass 2: the directory `merge-factors` wrote from every shard's pass 1.") var eigenbasis: String?
    @OptionGroup var parallel: ParallelOptions
    func validate() throws {
        try OptionCheck.positive(batchSize, "--batch-size", largest: OptionCheck.largestCount)
        try OptionCheck.positive(maxSequences, "--max-sequences")
        try OptionCheck.inRange(seqLen, "--seq-len", 2)
        try OptionCheck.positive(checkpointEvery, "--checkpoint-every")
        if eigenbasis != nil && (shard ?? .whole).isWhole { throw ValidationError("--eigenbasis is for a shard's pass 2; give --shard I/N too") }
    }

    func run() throws {
        parallel.apply()
        let loaded = try LoadedModel(path: modelDirectory, precision: .stored)
        let sequenceLength = min(seqLen ?? loaded.context, loaded.context)
        var records = try JSONLines.read(DataRecord.self, path: data)
        if let maxSequences { records = Array(records.prefix(maxSequences)) }
        if records.isEmpty { throw InputError("\(data): no records") }
        let tokenized = try loaded.tokenize(records, source: data, maxLength: sequenceLength, requireLabels: false)
        if tokenized.truncated > 0 { warn("note: cut \(tokenized.truncated) sequences to \(sequenceLength) tokens") }
        let options = FactorManifest.Options(
            modules: modules, attentionBlocks: attentionBlocks, includeBias: includeBias, maxSequences: maxSequences,
            sequenceLength: sequenceLength, batchSize: batchSize, seed: seed, data: data, dataFingerprint: FileDigest.fingerprint(ofPath: data))
        var job = FactorFitJob(loaded: loaded, examples: tokenized.examples, options: options, directory: URL(fileURLWithPath: out),
                               force: force, checkpointEvery: checkpointEvery, toolVersion: ToolVersion.current)
        job.maxMemory = maxMemory?.bytes
        job.shard = shard ?? .whole
        job.eigenbasis = eigenbasis.map { URL(fileURLWithPath: $0) }
        job.threads = parallel.count
        var bar: ProgressBar?
        var pass = 0
        try job.run(progress: { progress in
            // Each pass reports its starting point first, then every batch.
            guard progress.pass == pass else {
                pass = progress.pass
                bar = ProgressBar(pass == 1 ? "pass 1/2 covariances" : "pass 2/2 eigenvalues ", total: progress.tokensTotal)
                return
            }
            bar?.update(progress.tokensDone)
            if progress.tokensDone >= progress.tokensTotal { bar?.finish() }
        }, log: warn)
    }
}

extension ModuleSelection: ExpressibleByArgument {}
extension AttentionBlocks: ExpressibleByArgument {}
extension PreconditionerMethod: ExpressibleByArgument {}
