import ArgumentParser
import Checkpoints
import Curvature
import Foundation
import Influence
import Models

struct Plan: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Memory and time that fit and score will need for a model, before anything runs.",
        discussion: """
            Reads only the model's configuration (config.json, or a GGUF file's metadata), never its weights. Memory is \
            what the tool allocates (weights as held in memory: matrices stored BF16/F16 stay 16-bit, known from the \
            weight files' headers or config.json's torch_dtype; one batch's activations, the Float64 sums, the \
            preconditioned queries), with one batch's activations for each of --threads (fit and score run that many \
            batches at once; default all cores); times are for one core, estimated from this machine's matrix-product \
            rates on one BLAS thread, measured in a fraction of a second when the command starts.
            """)

    @Argument(help: "The model: a Hugging Face directory or a .gguf file.") var model: String
    @Option(parsing: .unconditional, help: "Tokens per sequence.") var seqLen = 512
    @Option(parsing: .unconditional, help: "Queries to score.") var queries = 8
    @Option(parsing: .unconditional, help: "Sequences per forward/backward pass.") var batchSize = 1
    @Option(help: "Tracked modules: all, mlp or attention.") var modules: ModuleSelection = .all
    @Option(help: "The budget fit and score would be given (--max-memory), such as 16GB.") var maxMemory: MemorySize?
    @OptionGroup var parallel: ParallelOptions

    func validate() throws {
        try OptionCheck.inRange(seqLen, "--seq-len", 2)
        try OptionCheck.positive(queries, "--queries", largest: OptionCheck.largestCount)
        try OptionCheck.positive(batchSize, "--batch-size", largest: OptionCheck.largestCount)
    }

    /// Whether the weight files hold BF16/F16 tensors (their headers), or, with no weights beside
    /// config.json, whether its torch_dtype (or dtype) says bfloat16/float16.
    static func storedInSixteenBits(_ directory: URL, configURL: URL) -> Bool {
        if let checkpoint = try? CheckpointDirectory(url: directory) {
            return checkpoint.storedTypes.contains { $0 == "BF16" || $0 == "F16" }
        }
        guard let data = FileManager.default.contents(atPath: configURL.path),
              let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else { return false }
        let dtype = (object["torch_dtype"] ?? object["dtype"]) as? String
        return dtype == "bfloat16" || dtype == "float16"
    }

    func run() throws {
        parallel.apply()
        let url = URL(fileURLWithPath: model)
        let h: DecoderHyperparameters, sixteenBit: Bool
        if LoadedModel.isGGUF(url) {
            let checkpoint = try GGUFCheckpoint(url: url)
            h = checkpoint.hyperparameters
            sixteenBit = checkpoint.file.tensors.contains { $0.type == .f16 || $0.type == .bf16 }
        } else {
            let configURL = url.appendingPathComponent("config.json")
            h = try DecoderHyperparameters(config: ModelConfig.load(from: configURL), source: configURL.path)
            sixteenBit = Self.storedInSixteenBits(url, configURL: configURL)
        }
        let plan = ResourcePlan(hyperparameters: h, selection: modules, sequenceLength: seqLen, batchSize: batchSize,
                                queries: queries, maxMemory: maxMemory?.bytes, sixteenBitWeights: sixteenBit, threads: parallel.count)
        let rates = ResourcePlan.Rates.measure()
        let f = MemorySize.format
        let tokens = Double(seqLen * batchSize)
        func duration(_ seconds: Double) -> String {
            seconds < 120 ? String(format: "%.1f s", seconds)
                : seconds < 7200 ? String(format: "%.1f min", seconds / 60) : String(format: "%.1f h", seconds / 3600)
        }
        func perToken(_ seconds: Double) -> String {
            seconds >= 1e-3 ? String(format: "%.2f ms/token", 1e3 * seconds) : String(format: "%.1f µs/token", 1e6 * seconds)
        }
        if seqLen > h.maxPositions { warn("note: --seq-len \(seqLen) is longer than the model's context (\(h.maxPositions) tokens)") }
        let parameters = plan.parameterCount
        print("\(model): \(h.family.rawValue), \(h.layerCount) layers, hidden \(h.hiddenSize), intermediate \(h.intermediateSize), "
              + "\(String(format: "%.2f", Double(parameters) / 1e9))B parameters")
        print("tracked (\(modules.rawValue)): \(plan.layouts.count) modules, \(plan.trackedParameters) weights")
        print("measured here: sgemm \(String(format: "%.0f", rates.sgemm / 1e9)) GFLOP/s, eigendecomposition \(String(format: "%.0f", rates.eigen / 1e9)) GFLOP/s (one BLAS thread)")
        print("")
        print("weights (\(plan.sixteenBitWeights ? "16-bit matrices" : "Float32"))\(plan.sixteenBitWeights ? "    " : "            ")\(f(plan.weightBytes))")
        print("activations, \(batchSize) × \(seqLen) tokens  \(f(plan.activationBytes)) (\(f(plan.activationBytes / Int(tokens))) per token)"
              + (plan.threads > 1 ? "; --threads \(plan.threads): fit runs \(plan.fit.workers) and score \(plan.threads) batches at once" : ""))
        print("")
        print("fit, all modules at once     peak \(f(plan.fitPeakBytes))")
        let covariance = plan.covarianceSecondsPerToken(rates), correction = plan.passSecondsPerToken(rates)
        if let budget = maxMemory {
            do {
                let passes = try plan.fitPasses()
                print("fit --max-memory \(f(budget.bytes))  pass 1 reads the data \(passes.covariances)×, pass 2 \(passes.corrections)×")
                // Each further pass repeats the forward and backward passes; the modules' own
                // products are split among the groups, not repeated.
                let pass = plan.passSecondsPerToken(rates)
                let pass1 = covariance + Double(passes.covariances - 1) * pass, pass2 = Double(passes.corrections) * correction
                print("  under this budget          pass 1 \(duration(pass1 * 1e6)), pass 2 \(duration(pass2 * 1e6)) per million tokens")
            } catch let error as InputError {
                print("fit --max-memory \(f(budget.bytes)): \(error.description)")
            }
        }
        print("  pass 1 (covariances)       \(perToken(covariance)), \(duration(covariance * 1e6)) per million tokens")
        print("  eigendecompositions        \(duration(plan.eigenSeconds(rates)))")
        print("  pass 2 (eigenvalues)       \(perToken(correction)) + \(duration(plan.correctionSecondsPerSequence(rates))) per sequence")
        let files = plan.factorFileBytes
        print("  factor files               eigenbasis \(f(files.eigenbasis)), lambda \(f(files.lambda)), covariances \(f(files.covariances))")
        print("")
        print("score, \(queries) queries              peak \(f(plan.scorePeakBytes)) (preconditioned queries \(f(4 * queries * plan.trackedParameters)))")
        if let budget = maxMemory {
            do {
                let groups = try plan.scoreMemory(budget: budget.bytes).groups().count
                let perDocument = plan.passSecondsPerToken(rates) * Double(seqLen) + plan.scoreSecondsPerDocument(rates)
                let underBudget = Double(groups) * perDocument * 1e6 / Double(seqLen)
                print("score --max-memory \(f(budget.bytes))  \(groups) module group\(groups == 1 ? "" : "s"), the documents are read \(groups)×, \(duration(underBudget)) per million tokens")
            } catch let error as InputError {
                print("score --max-memory \(f(budget.bytes)): \(error.description)")
            }
        }
        print("  queries                    \(duration(plan.queryPreconditioningSeconds(rates)))")
        let perDocument = plan.passSecondsPerToken(rates) * Double(seqLen) + plan.scoreSecondsPerDocument(rates)
        print("  documents                  \(duration(perDocument)) per document of \(seqLen) tokens, \(duration(perDocument * 1e6 / Double(seqLen))) per million tokens")
    }
}
