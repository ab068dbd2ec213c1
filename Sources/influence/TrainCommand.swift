import ArgumentParser
import Checkpoints
import Foundation
import Models
import Training

struct Train: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Pre-train, continue training or fine-tune a model (GPT-NeoX, BLOOM, GPT-2, Llama, Qwen2, Mistral).",
        discussion: """
            Start from a config (--init CONFIG.json with --tokenizer) or a checkpoint (--from MODEL_DIR). \
            Data lines are {"text": ...} (loss on every next token) or {"prompt": ..., "completion": ...} \
            (loss on completion tokens only). The loss of each optimizer step is the mean over its counted \
            tokens. Writes a Hugging Face directory (config.json, model.safetensors, tokenizer.json) to --out; \
            checkpoints go to --out/checkpoint every --save-every steps, and running the same command again \
            resumes from the last one.
            """)

    @Option(name: .customLong("init"), help: "A config.json (gpt_neox, bloom, gpt2, llama, qwen2 or mistral) to initialise a new model from.") var initConfig: String?
    @Option(help: "tokenizer.json (or a directory holding it) for a new model.") var tokenizer: String?
    @Option(name: .customLong("from"), help: "A model to continue from: a Hugging Face directory or a .gguf file (the result is a Hugging Face directory).") var from: String?
    @Option(help: "JSON Lines training data.") var data: String
    @Option(help: "lm (next-token prediction) or classify (a sequence classifier on {\"text\", \"label\"}).") var task: TrainingTask = .lm
    @Option(help: "The classifier's labels, comma-separated (a new head replaces the language-model head).") var labels: String?
    @Option(help: "Output model directory.") var out: String
    @Option(parsing: .unconditional, help: "Passes over the data.") var epochs = 1
    @Option(parsing: .unconditional, help: "Peak learning rate.") var learningRate = 1e-3
    @Option(parsing: .unconditional, help: "Linear warm-up steps before the cosine decay.") var warmupSteps = 0
    @Option(parsing: .unconditional, help: "Sequences per forward/backward pass.") var batchSize = 8
    @Option(parsing: .unconditional, help: "Forward/backward passes per optimizer step.") var accumulate = 1
    @Option(parsing: .unconditional, help: "Largest global gradient norm (0: no clipping).") var clipNorm = 1.0
    @Option(parsing: .unconditional, help: "AdamW's decoupled weight decay.") var weightDecay = 0.01
    @Option(parsing: .unconditional, help: "Seed of the initial weights and the data order.") var seed: UInt64 = 0
    @Option(parsing: .unconditional, help: "Cut sequences to this many tokens (default: the model's context).") var seqLen: Int?
    @Option(parsing: .unconditional, help: "Add (α/2)‖θ − θ_from‖² to the loss (needs --from).") var proximity = 0.0
    @Option(parsing: .unconditional, help: "Save a checkpoint every N optimizer steps (0: only at the end).") var saveEvery = 0
    @Option(parsing: .unconditional, help: "Train on a random fraction of the sequences, in (0, 1] (TRAK's ensemble: 0.5 with a --subset-seed per model).")
    var subsetFraction: Double?
    @Option(parsing: .unconditional, help: "Seed of the --subset-fraction draw.") var subsetSeed: UInt64 = 0
    @Option(parsing: .unconditional, help: "Stop after this optimizer step with a checkpoint; the same command without it continues.")
    var maxSteps: Int?

    var labelNames: [String]? {
        labels.map { $0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty } }
    }

    func validate() throws {
        if task == .lm && labels != nil { throw ValidationError("--labels needs --task classify") }
        if let names = labelNames, names.count < 2 || Set(names).count != names.count {
            throw ValidationError("--labels needs at least two distinct labels")
        }
        if (initConfig == nil) == (from == nil) { throw ValidationError("give exactly one of --init and --from") }
        if initConfig != nil && tokenizer == nil { throw ValidationError("--init needs --tokenizer") }
        if proximity > 0 && from == nil { throw ValidationError("--proximity needs --from (the weights to stay near)") }
        try OptionCheck.positive(epochs, "--epochs", largest: OptionCheck.largestCount)
        try OptionCheck.positive(batchSize, "--batch-size", largest: OptionCheck.largestCount)
        try OptionCheck.positive(accumulate, "--accumulate", largest: OptionCheck.largestCount)
        try OptionCheck.inRange(warmupSteps, "--warmup-steps", 0)
        try OptionCheck.inRange(saveEvery, "--save-every", 0)
        try OptionCheck.positive(maxSteps, "--max-steps")
        try OptionCheck.inRange(seqLen, "--seq-len", 2)
        try OptionCheck.finite(learningRate, "--learning-rate", positive: true)
        try OptionCheck.finite(clipNorm, "--clip-norm")
        try OptionCheck.finite(weightDecay, "--weight-decay")
        try OptionCheck.finite(proximity, "--proximity")
        if let subsetFraction, !(subsetFraction > 0 && subsetFraction <= 1) {
            throw ValidationError("--subset-fraction \(subsetFraction): expected a number in (0, 1]")
        }
    }

    func run() throws {
        var options = TrainingRun.Options(start: from.map { .model(path: $0) } ?? .config(path: initConfig!, tokenizer: tokenizer!),
                                          data: data, out: URL(fileURLWithPath: out))
        var c = Trainer.Configuration()
        (c.learningRate, c.warmupSteps, c.epochs, c.batchSize, c.accumulationSteps) = (learningRate, warmupSteps, epochs, batchSize, accumulate)
        (c.clipNorm, c.seed, c.proximity, c.optimizer.weightDecay) = (clipNorm, seed, proximity, weightDecay)
        (options.task, options.labels, options.configuration) = (task, labelNames, c)
        (options.sequenceLength, options.saveEvery, options.maxSteps) = (seqLen, saveEvery, maxSteps)
        (options.subsetFraction, options.subsetSeed) = (subsetFraction, subsetSeed)
        let training = try TrainingRun(options, log: warn)
        let bar = ProgressBar("train", total: training.trainer.totalSteps, unit: "step")
        let outcome: TrainingRun.Outcome
        do {
            outcome = try training.run { progress in
                bar.update(progress.step, detail: String(format: "loss %.4f  lr %.2e  %.0f tok/s", progress.loss,
                                                         progress.learningRate, progress.tokensPerSecond))
            }
        } catch {
            bar.end()
            throw error
        }
        bar.finish()
        switch outcome {
        case .stopped(let step, let total, let checkpoint):
            print("stopped after step \(step) of \(total); checkpoint in \(checkpoint.path); run the same command without --max-steps to continue")
        case .finished(let model, let loss):
            warn("wrote \(model.path) (loss on the training data: \(String(format: "%.4f", loss)))")
        }
    }
}

extension TrainingTask: ExpressibleByArgument {}
