import Models
import ArgumentParser
import Checkpoints
import Experiments
import Foundation
import Tokenization
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

    /// Bumped whenever a cached stage's files change meaning or format.
    static let cacheVersion = "2"

    func run() throws {
        let root = URL(fileURLWithPath: workdir).appendingPathComponent("seed-\(seed)")
        // A cache made by another version may hold files this one refuses (factors without file
        // digests, an index without its completion marker) or would make differently: start over.
        let versionFile = root.appendingPathComponent("cache-version")
        if FileManager.default.fileExists(atPath: root.path),
           (try? String(contentsOf: versionFile, encoding: .utf8)) != Self.cacheVersion {
            warn("note: \(root.path) was made by another version; rebuilding it")
            try FileManager.default.removeItem(at: root)
        }
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        try AtomicOutput.write(Self.cacheVersion, to: versionFile.path)
        func path(_ name: String) -> String { root.appendingPathComponent(name).path }
        func exists(_ name: String) -> Bool { FileManager.default.fileExists(atPath: path(name)) }
        func stage(_ title: String) { warn("\n== \(title)") }

        // 1. The world and its data files.
        let world = FactWorld(seed: seed)
        let fineTuned = Set(world.facts.indices.filter { $0 % 3 != 0 })   // two thirds of the facts; the rest are held out
        func jsonLine(_ object: [String: String]) throws -> String {
            String(decoding: try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]), as: UTF8.self)
        }
        stage("world: \(world.facts.count) facts over \(world.relations.count) relations, \(world.sentences.count) sentences")
        // Every sentence and answer ends with the end-of-text token, so the models learn to stop.
        let end = "<|endoftext|>"
        try AtomicOutput.write(try world.sentences.map { try jsonLine(["id": $0.id, "text": $0.text]) }.joined(separator: "\n") + "\n",
                               to: path("corpus.jsonl"))
        try AtomicOutput.write(try world.sentences.map { try jsonLine(["id": $0.id, "text": $0.text + end]) }.joined(separator: "\n") + "\n",
                               to: path("pretrain.jsonl"))
        try AtomicOutput.write(try fineTuned.sorted().map { f in
            let q = world.question(f)
            return try jsonLine(["prompt": q.prompt, "completion": q.completion + end])
        }.joined(separator: "\n") + "\n", to: path("finetune.jsonl"))

        // 2. Tokenizer and models.
        if !exists("tokenizer/tokenizer.json") {
            stage("tokenizer")
            var trainer = BPETrainer(vocabularySize: 512)
            for sentence in world.sentences { trainer.add(sentence.text) }
            for f in world.facts.indices { let q = world.question(f); trainer.add(q.prompt + q.completion) }
            try FileManager.default.createDirectory(atPath: path("tokenizer"), withIntermediateDirectories: true)
            try AtomicFile.write(try trainer.tokenizerJSON(), to: URL(fileURLWithPath: path("tokenizer/tokenizer.json")))
        }
        let config = """
            {"model_type": "gpt_neox", "vocab_size": 512, "hidden_size": 128, "num_attention_heads": 4, "intermediate_size": 512,
             "num_hidden_layers": 2, "max_position_embeddings": 64, "rotary_pct": 0.25, "use_parallel_residual": true}
            """
        try AtomicOutput.write(config, to: path("config.json"))
        if !exists("pretrained/model.safetensors") {
            stage("pre-training on the statements")
            try Train.parse(["--init", path("config.json"), "--tokenizer", path("tokenizer"), "--data", path("pretrain.jsonl"),
                             "--out", path("pretrained"), "--epochs", String(epochs), "--batch-size", "16", "--learning-rate", "3e-3",
                             "--warmup-steps", "50", "--seed", String(seed), "--save-every", "200"]).run()
        }
        if !exists("finetuned/model.safetensors") {
            stage("fine-tuning on questions about \(fineTuned.count) facts")
            try Train.parse(["--from", path("pretrained"), "--data", path("finetune.jsonl"), "--out", path("finetuned"),
                             "--epochs", "40", "--batch-size", "8", "--learning-rate", "1e-3", "--seed", String(seed)]).run()
        }

        // 3. Factors and the index.
        stage("EK-FAC factors")
        try Fit.parse([path("pretrained"), "--data", path("pretrain.jsonl"), "--out", path("factors-pretrained"), "--seed", String(seed)]).run()
        try Fit.parse([path("finetuned"), "--data", path("finetune.jsonl"), "--out", path("factors-finetuned"), "--seed", String(seed)]).run()
        if !exists("corpus.sqlite") {
            stage("corpus index")
            try Index.parse([path("corpus.jsonl"), "--out", path("corpus.sqlite")]).run()
        }

        // 4. A held-out question (its fact was only ever stated in pre-training), answered by the model.
        let finetunedModel = try LoadedModel(path: path("finetuned"))
        let heldOut = world.facts.indices.filter { !fineTuned.contains($0) }
        var chosen = heldOut[0], correct = false
        for f in heldOut {
            let q = world.question(f)
            let tokens = finetunedModel.tokenizer.encode(q.prompt)
            let answer = finetunedModel.tokenizer.decode(try finetunedModel.model.greedyContinuation(of: tokens, maxNewTokens: 8))
            if answer.hasPrefix(q.completion) { chosen = f; correct = true; break }
        }
        let recalled = try heldOut.filter { f in
            let q = world.question(f)
            let answer = finetunedModel.tokenizer.decode(try finetunedModel.model.greedyContinuation(
                of: finetunedModel.tokenizer.encode(q.prompt), maxNewTokens: 8))
            return answer.hasPrefix(q.completion)
        }.count
        stage("tracing: the fine-tuned model answers \(recalled) of \(heldOut.count) held-out questions correctly")
        let question = world.question(chosen)
        let sources = world.sentences.filter { $0.fact == chosen }.map(\.text)
        warn("question about a held-out fact\(correct ? "" : " (the model gets none right; showing its answer anyway)"): "
             + "\(question.prompt.replacingOccurrences(of: "\n", with: " ⏎ ")) → expected\(question.completion)")
        warn("sentences that state it: " + world.sentences.filter { $0.fact == chosen }.map(\.text).joined(separator: " | "))
        let result = try Tracer(TraceRequest(finetuned: TraceStage(model: path("finetuned"), factors: path("factors-finetuned")),
                                             pretrained: TraceStage(model: path("pretrained"), factors: path("factors-pretrained")),
                                             corpus: path("corpus.sqlite"))).trace(prompt: question.prompt, completion: nil)
        print(result.table)
        let ranks = result.documents.filter { d in sources.contains(d.text) }.map(\.rank)
        print("\nsentences stating the fact ranked: \(ranks.isEmpty ? "not in the top 10" : ranks.map(String.init).joined(separator: ", "))")
        try AtomicOutput.write(TraceReport.html(result, statingTheFact: Set(sources)), to: path("report.html"))
        warn("wrote \(path("report.html"))")
    }
}
