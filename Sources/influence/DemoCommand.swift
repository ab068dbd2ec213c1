import Checkpoints
import ArgumentParser
import Experiments
import Foundation
import Tracing

struct Demo: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "The whole pipeline on a generated world of facts, with nothing to download.",
        discussion: """
            Generates made-up facts stated in sentences (the pre-training corpus), trains a tokenizer, pre-trains a \
            tiny GPT-NeoX on the sentences, fine-tunes it to answer questions about some of the facts, fits EK-FAC \
            factors for both models, indexes the corpus, and traces a question about a fact the model only saw in \
            pre-training back to the sentences that taught it. Every stage is cached in --workdir; a second run \
            reuses them.
            """)

    @Option(help: "Where the demo keeps its corpus, models, factors and report.")
    var workdir = ".influence-demo"

    @Option(parsing: .unconditional, help: "Seed of the generated world and of training.")
    var seed: UInt64 = 1

    @Option(parsing: .unconditional, help: "Pre-training epochs (at most 100000).")
    var epochs = 120

    func validate() throws {
        try OptionCheck.positive(epochs, "--epochs", largest: 100_000)
    }

    func run() throws {
        let demo = DemoPipeline(workdir: URL(fileURLWithPath: workdir), seed: seed, pretrainingEpochs: epochs,
                                toolVersion: ToolVersion.current) { message in
            switch message {
            case .stage(let title): warn("\n== \(title)")
            case .note(let text): warn(text)
            }
        }
        try Self.trace(try demo.run())
    }

    /// Traces the demo's held-out question back to the sentences (multi-stage, auto damping),
    /// prints the ranking and writes the HTML report.
    static func trace(_ demo: DemoPipeline.Artefacts) throws {
        let request = TraceRequest(finetuned: TraceStage(model: demo.finetuned.path, factors: demo.finetunedFactors.path),
                                   pretrained: TraceStage(model: demo.pretrained.path, factors: demo.pretrainedFactors.path),
                                   corpus: demo.corpus.path)
        let result = try Tracer(request).trace(prompt: demo.question.prompt, completion: nil)
        print(result.table)
        let ranks = result.documents.filter { demo.question.sources.contains($0.text) }.map(\.rank)
        print("\nsentences stating the fact ranked: \(ranks.isEmpty ? "not in the top 10" : ranks.map(String.init).joined(separator: ", "))")
        try AtomicFile.write(TraceReport.html(result, statingTheFact: Set(demo.question.sources)), toPath: demo.report.path)
        warn("wrote \(demo.report.path)")
    }
}
