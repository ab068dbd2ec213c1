import Checkpoints
import Foundation
import Testing

/// The `influence` executable end to end: what a user types and sees.
@Suite struct CommandLineTests {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let example = repository.appendingPathComponent("Examples/tiny-pythia").path
    static let data = repository.appendingPathComponent("Examples/data").path

    /// The executable SwiftPM built beside the test bundle.
    static var executable: URL {
        var directory = Bundle.main.bundleURL
        while !FileManager.default.fileExists(atPath: directory.appendingPathComponent("influence").path), directory.path != "/" {
            directory.deleteLastPathComponent()
        }
        return directory.appendingPathComponent("influence")
    }

    struct Result {
        let status: Int32
        let standardOutput: String
        let standardError: String
    }

    static func run(_ arguments: [String]) throws -> Result {
        let process = Process()
        process.executableURL = executable
        process.arguments = arguments
        let output = Pipe(), error = Pipe()
        process.standardOutput = output
        process.standardError = error
        try process.run()
        let out = output.fileHandleForReading.readDataToEndOfFile()
        let err = error.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return Result(status: process.terminationStatus, standardOutput: String(decoding: out, as: UTF8.self),
                      standardError: String(decoding: err, as: UTF8.self))
    }

    static func temporaryDirectory() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("cli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    /// A failure: non-zero status, nothing on standard output, one line on standard error
    /// that contains every fragment.
    func expectFailure(_ arguments: [String], _ fragments: [String], sourceLocation: SourceLocation = #_sourceLocation) throws {
        let result = try Self.run(arguments)
        #expect(result.status != 0, "exit status 0 for \(arguments)", sourceLocation: sourceLocation)
        let lines = result.standardError.split(separator: "\n").filter { !$0.hasPrefix("Usage") && !$0.isEmpty && !$0.hasPrefix("  See") }
        #expect(lines.count == 1, "stderr: \(result.standardError)", sourceLocation: sourceLocation)
        for fragment in fragments {
            #expect(result.standardError.contains(fragment), "stderr \(result.standardError) lacks \(fragment)", sourceLocation: sourceLocation)
        }
        #expect(!result.standardError.contains("Fatal error"), sourceLocation: sourceLocation)
    }

    @Test func inspectReportsTheExampleModel() throws {
        let result = try Self.run(["inspect", Self.example, "--json"])
        #expect(result.status == 0)
        let object = try JSONSerialization.jsonObject(with: Data(result.standardOutput.utf8)) as! [String: Any]
        #expect(object["model_type"] as? String == "gpt_neox")
        #expect(object["parameters"] as? Int == 45952)
        #expect((object["tracked_modules"] as? [[String: Any]])?.count == 8)
        for key in ["num_layers", "hidden_size", "num_heads", "vocab_size"] { #expect(object[key] is Int) }
    }

    @Test func evalPrintsOneJSONLinePerSequence() throws {
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let input = directory.appendingPathComponent("in.jsonl")
        try Data("{\"text\": \"The capital of Veloria is Marren.\"}\n\n{\"text\": \"Lina Holt works as a glassblower.\"}\n".utf8).write(to: input)
        let result = try Self.run(["eval", Self.example, "--input", input.path, "--json"])
        #expect(result.status == 0)
        let lines = result.standardOutput.split(separator: "\n")
        #expect(lines.count == 2)
        for line in lines {
            let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as! [String: Any]
            let tokens = object["tokens"] as! [Int], logprobs = (object["token_logprobs"] as! [NSNumber]).map(\.doubleValue)
            #expect(logprobs.count == tokens.count - 1)
            let loss = (object["loss"] as! NSNumber).doubleValue
            #expect(abs(loss + logprobs.reduce(0, +) / Double(logprobs.count)) < 1e-6)
        }
    }

    @Test func generateContinuesGreedily() throws {
        let result = try Self.run(["generate", Self.example, "--prompt", "The capital of Ostland is", "--max-new-tokens", "4"])
        #expect(result.status == 0)
        #expect(result.standardOutput == "The capital of Ostland is Kelvik.\n")
    }

    @Test func fitThenScoreWritesRankedResults() throws {
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let factors = directory.appendingPathComponent("factors").path
        let fit = try Self.run(["fit", Self.example, "--data", "\(Self.data)/train.jsonl", "--out", factors])
        #expect(fit.status == 0, "\(fit.standardError)")
        let out = directory.appendingPathComponent("scores.jsonl").path
        let score = try Self.run(["score", "--model", Self.example, "--factors", factors, "--queries", "\(Self.data)/queries.jsonl",
                                  "--train", "\(Self.data)/train.jsonl", "--top-k", "3", "--out", out])
        #expect(score.status == 0, "\(score.standardError)")
        let lines = try String(contentsOfFile: out, encoding: .utf8).split(separator: "\n")
        #expect(lines.count == 2)
        for line in lines {
            let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as! [String: Any]
            let results = object["results"] as! [[String: Any]]
            #expect(results.count == 3)
            let scores = results.map { ($0["score"] as! NSNumber).doubleValue }
            #expect(scores == scores.sorted(by: >))
        }
        // A fit that already finished is not redone; factors of another model are refused.
        #expect(try Self.run(["fit", Self.example, "--data", "\(Self.data)/train.jsonl", "--out", factors]).standardError.contains("complete"))
        // The same model rounded to bfloat16 is another model.
        let other = directory.appendingPathComponent("rounded")
        try FileManager.default.copyItem(atPath: Self.example, toPath: other.path)
        try FileManager.default.removeItem(at: other.appendingPathComponent("model.safetensors"))
        let shards = Self.repository.appendingPathComponent("Tests/ModelsTests/Fixtures/tiny/gpt_neox-bf16-sharded")
        for file in try FileManager.default.contentsOfDirectory(atPath: shards.path) where file.hasPrefix("model") {
            try FileManager.default.copyItem(at: shards.appendingPathComponent(file), to: other.appendingPathComponent(file))
        }
        try expectFailure(["score", "--model", other.path, "--factors", factors, "--queries", "\(Self.data)/queries.jsonl",
                           "--train", "\(Self.data)/train.jsonl"], ["another model"])
    }

    @Test func anInterruptedFitResumesAfterItsLastFinishedPass() throws {
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let factors = directory.appendingPathComponent("factors")
        let arguments = ["fit", Self.example, "--data", "\(Self.data)/train.jsonl", "--out", factors.path, "--seed", "3"]
        #expect(try Self.run(arguments).status == 0)
        let complete = try Data(contentsOf: factors.appendingPathComponent("lambda.safetensors"))
        // Simulate a stop after pass 1: the manifest says one pass, pass 2's file is gone.
        let manifestURL = factors.appendingPathComponent("factors.json")
        let manifest = try String(contentsOf: manifestURL, encoding: .utf8)
        try manifest.replacingOccurrences(of: "\"passes_completed\" : 2", with: "\"passes_completed\" : 1")
            .write(to: manifestURL, atomically: true, encoding: .utf8)
        try FileManager.default.removeItem(at: factors.appendingPathComponent("lambda.safetensors"))
        let resumed = try Self.run(arguments)
        #expect(resumed.status == 0)
        #expect(resumed.standardError.contains("resuming after pass 1"))
        #expect(!resumed.standardError.contains("pass 1/2"))
        #expect(try Data(contentsOf: factors.appendingPathComponent("lambda.safetensors")) == complete)
        // Other options in the same directory are refused rather than mixed.
        try expectFailure(arguments.dropLast(2) + ["--seed", "4"], ["another model, data, options or shard"])
    }

    @Test func badInputGivesOneLineErrors() throws {
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        try expectFailure(["inspect", directory.appendingPathComponent("absent").path], ["absent", "not found"])
        // A model directory whose pieces are broken one at a time.
        let model = directory.appendingPathComponent("model")
        try FileManager.default.copyItem(atPath: Self.example, toPath: model.path)
        let weights = model.appendingPathComponent("model.safetensors")
        let original = try Data(contentsOf: weights)
        try original.prefix(original.count / 2).write(to: weights)
        try expectFailure(["inspect", model.path], ["model.safetensors", "beyond the end"])
        var huge = original
        huge.replaceSubrange(0..<8, with: [0xff, 0xff, 0xff, 0x00, 0, 0, 0, 0])
        try huge.write(to: weights)
        try expectFailure(["inspect", model.path], ["model.safetensors", "header length"])
        try original.write(to: weights)
        let config = model.appendingPathComponent("config.json")
        let configText = try String(contentsOf: config, encoding: .utf8)
        try configText.replacingOccurrences(of: "\"gpt_neox\"", with: "\"mamba\"").write(to: config, atomically: true, encoding: .utf8)
        try expectFailure(["inspect", model.path], ["config.json", "unsupported model_type \"mamba\""])
        try "{ not json".write(to: config, atomically: true, encoding: .utf8)
        try expectFailure(["inspect", model.path], ["config.json", "invalid JSON"])
        try configText.write(to: config, atomically: true, encoding: .utf8)
        try FileManager.default.removeItem(at: model.appendingPathComponent("tokenizer.json"))
        try expectFailure(["eval", model.path, "--text", "hello"], ["tokenizer.json", "missing tokenizer"])
        try expectFailure(["eval", Self.example, "--text", ""], ["empty"])
        let input = directory.appendingPathComponent("bad.jsonl")
        try "{\"text\": \"fine\"}\n{\"txt\": 3}\n".write(to: input, atomically: true, encoding: .utf8)
        try expectFailure(["eval", Self.example, "--input", input.path], ["bad.jsonl:2", "missing field \"text\""])
    }

    @Test func longTextIsCutToTheContextWithAWarning() throws {
        let long = String(repeating: "The capital of Veloria is Marren. ", count: 20)
        let result = try Self.run(["eval", Self.example, "--text", long, "--json"])
        #expect(result.status == 0)
        #expect(result.standardError.contains("keeping the first 64"))
        let object = try JSONSerialization.jsonObject(with: Data(result.standardOutput.utf8)) as! [String: Any]
        #expect((object["tokens"] as! [Int]).count == 64)
    }

    /// Pre-train, fine-tune, fit both factor sets and score across the stages; then the bad
    /// inputs of multi-stage scoring.
    @Test func multiStagePipelineAndItsErrors() throws {
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        func path(_ name: String) -> String { directory.appendingPathComponent(name).path }
        let config = """
            {"model_type": "gpt_neox", "vocab_size": 320, "hidden_size": 16, "num_attention_heads": 2, "intermediate_size": 32,
             "num_hidden_layers": 2, "max_position_embeddings": 48}
            """
        try config.write(toFile: path("config.json"), atomically: true, encoding: .utf8)
        try config.replacingOccurrences(of: "\"hidden_size\": 16", with: "\"hidden_size\": 24")
            .write(toFile: path("wide.json"), atomically: true, encoding: .utf8)
        func succeed(_ arguments: [String], sourceLocation: SourceLocation = #_sourceLocation) throws -> Result {
            let result = try Self.run(arguments)
            #expect(result.status == 0, "\(arguments.first ?? ""): \(result.standardError)", sourceLocation: sourceLocation)
            return result
        }
        _ = try succeed(["train", "--init", path("config.json"), "--tokenizer", Self.example, "--data", "\(Self.data)/train.jsonl",
                         "--out", path("pt"), "--epochs", "3", "--batch-size", "4"])
        _ = try succeed(["train", "--from", path("pt"), "--data", "\(Self.data)/finetune.jsonl", "--out", path("ft"),
                         "--epochs", "3", "--proximity", "0.1"])
        _ = try succeed(["fit", path("pt"), "--data", "\(Self.data)/train.jsonl", "--out", path("f-pt")])
        _ = try succeed(["fit", path("ft"), "--data", "\(Self.data)/finetune.jsonl", "--out", path("f-ft")])
        let common = ["--queries", "\(Self.data)/questions.jsonl", "--train", "\(Self.data)/train.jsonl"]
        let scored = try succeed(["score", "--pretrained", path("pt"), "--pretrained-factors", path("f-pt"), "--finetuned", path("ft"),
                                  "--finetuned-factors", path("f-ft"), "--top-k", "8"] + common)
        #expect(scored.standardOutput.split(separator: "\n").count == 2)
        let ablation = try succeed(["score", "--pretrained", path("pt"), "--finetuned", path("ft"), "--finetuned-factors", path("f-ft"),
                                    "--pretrained-preconditioner", "none"] + common)
        #expect(ablation.standardOutput.hasPrefix("{\"queries\""))
        let distance = try succeed(["distance", path("pt"), path("ft"), "--json"])
        let object = try JSONSerialization.jsonObject(with: Data(distance.standardOutput.utf8)) as! [String: Any]
        #expect(((object["relative_distance"] as? NSNumber)?.doubleValue ?? 0) > 0)
        #expect((object["modules"] as? [[String: Any]])?.count == 8)

        // Factors swapped between the stages.
        try expectFailure(["score", "--pretrained", path("pt"), "--pretrained-factors", path("f-ft"), "--finetuned", path("ft"),
                           "--finetuned-factors", path("f-pt")] + common, ["swapped"])
        // Backbones of different shapes.
        _ = try succeed(["train", "--init", path("wide.json"), "--tokenizer", Self.example, "--data", "\(Self.data)/train.jsonl",
                         "--out", path("wide"), "--epochs", "1"])
        try expectFailure(["score", "--pretrained", path("wide"), "--finetuned", path("ft"), "--method", "gdp"] + common, ["backbone", "differs"])
        try expectFailure(["distance", path("wide"), path("ft")], ["backbone"])
        // Different tokenizers.
        try FileManager.default.copyItem(atPath: path("ft"), toPath: path("ft-other-tokenizer"))
        _ = try succeed(["tokenizer", "train", "--data", "\(Self.data)/train.jsonl", "--vocab-size", "300", "--out", path("tok")])
        try FileManager.default.removeItem(atPath: path("ft-other-tokenizer") + "/tokenizer.json")
        try FileManager.default.copyItem(atPath: path("tok") + "/tokenizer.json", toPath: path("ft-other-tokenizer") + "/tokenizer.json")
        try expectFailure(["score", "--pretrained", path("pt"), "--finetuned", path("ft-other-tokenizer"), "--method", "gdp"] + common,
                          ["different tokenizer"])
        // A label outside the label set.
        let labelled = directory.appendingPathComponent("labels.jsonl")
        try "{\"text\": \"Anna Berg was born in Marren.\", \"label\": \"person\"}\n{\"text\": \"Kelvik.\", \"label\": \"river\"}\n"
            .write(to: labelled, atomically: true, encoding: .utf8)
        try expectFailure(["train", "--from", path("pt"), "--task", "classify", "--labels", "person,place", "--data", labelled.path,
                           "--out", path("cls")], ["labels.jsonl record 2", "label \"river\" is not one of person, place"])
    }

    /// The demo runs end to end, writes a report with highlighted tokens, and reuses its cache.
    @Test func demoRunsAndCaches() throws {
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let first = try Self.run(["demo", "--workdir", directory.path])
        #expect(first.status == 0, "\(first.standardError)")
        #expect(first.standardOutput.contains("rank  score"))
        let report = try String(contentsOfFile: directory.appendingPathComponent("seed-1/report.html").path, encoding: .utf8)
        #expect(report.contains("class=\"tok\"") && report.contains("<svg"))
        let second = try Self.run(["demo", "--workdir", directory.path])
        #expect(second.status == 0)
        #expect(!second.standardError.contains("pre-training on the statements"))
        // The same trace (the first run also printed what each stage wrote).
        func trace(_ output: String) -> Substring { output[(output.range(of: "prompt:")?.lowerBound ?? output.startIndex)...] }
        #expect(trace(second.standardOutput) == trace(first.standardOutput))

        // trace on the demo's models and index: JSON, and its bad inputs.
        let w = directory.appendingPathComponent("seed-1").path
        let common = ["trace", "--finetuned", "\(w)/finetuned", "--finetuned-factors", "\(w)/factors-finetuned",
                      "--pretrained", "\(w)/pretrained", "--pretrained-factors", "\(w)/factors-pretrained", "--corpus", "\(w)/corpus.sqlite"]
        let json = try Self.run(common + ["--prompt", "Question: What is the capital of Riveia?\nAnswer:", "--completion", " Tabian.", "--json", "--top", "3"])
        #expect(json.status == 0, "\(json.standardError)")
        let object = try JSONSerialization.jsonObject(with: Data(json.standardOutput.utf8)) as! [String: Any]
        let results = object["results"] as! [[String: Any]]
        #expect(results.count == 3 && results[0]["tokens"] != nil)
        try expectFailure(common + ["--prompt", String(repeating: "capital ", count: 200)], ["context"])
        try expectFailure(common + ["--prompt", "Where?", "--retriever", "knn"], ["no embeddings"])
        try expectFailure(common.map { $0 == "\(w)/factors-pretrained" ? "\(w)/factors-finetuned" : $0 } + ["--prompt", "Where?"],
                          ["another model"])

        // A cache left by another version (no cache-version file, factors this version refuses)
        // is rebuilt, not reported as broken factors.
        try FileManager.default.removeItem(atPath: "\(w)/cache-version")
        try "{}".write(toFile: "\(w)/factors-finetuned/factors.json", atomically: true, encoding: .utf8)
        let rebuilt = try Self.run(["demo", "--workdir", directory.path])
        #expect(rebuilt.status == 0, "\(rebuilt.standardError)")
        #expect(rebuilt.standardError.contains("rebuilding"))
        #expect(trace(rebuilt.standardOutput) == trace(first.standardOutput))
    }

    /// `bench fact-tracing --quick` as a smoke test: the pipeline runs, writes its three files,
    /// and every metric lies in [0, 1] (no ranking is asserted).
    @Test func factTracingQuickRuns() throws {
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let result = try Self.run(["bench", "fact-tracing", "--quick", "--out", directory.path])
        #expect(result.status == 0, "\(result.standardError)")
        for file in ["results.md", "results.json", "damping.svg"] {
            #expect(FileManager.default.fileExists(atPath: directory.appendingPathComponent(file).path))
        }
        let report = try JSONSerialization.jsonObject(with: Data(contentsOf: directory.appendingPathComponent("results.json"))) as! [String: Any]
        let results = report["results"] as! [[String: Any]]
        #expect(Set(results.map { $0["method"] as! String }).isSuperset(of: ["RepSim", "single-stage IF", "multi-stage IF", "multi-stage IF without (G_pt+λ)⁻¹"]))
        for row in results {
            for key in ["mrrMean", "recallMean"] {
                let value = (row[key] as! NSNumber).doubleValue
                #expect(value >= 0 && value <= 1)
            }
        }
    }

    /// `bench scalability --quick`: every method has a row with correlations in [−1, 1], the
    /// EK-FAC-preconditioned CG finds CG's solution (the same ranking), the three files are
    /// written, and a second run reuses the trained model. Needs Debian's fortunes package.
    @Test(.enabled(if: FileManager.default.fileExists(atPath: "/usr/share/games/fortunes/wisdom"),
                   "Debian's fortunes package is not installed (apt-get install fortunes; .ci/run does)"))
    func scalabilityQuickRuns() throws {
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let result = try Self.run(["bench", "scalability", "--quick", "--out", directory.path])
        #expect(result.status == 0, "\(result.standardError)")
        for file in ["results.md", "results.json", "pareto.svg"] {
            #expect(FileManager.default.fileExists(atPath: directory.appendingPathComponent(file).path))
        }
        let svg = try String(contentsOf: directory.appendingPathComponent("pareto.svg"), encoding: .utf8)
        // A marker and a legend entry per method.
        #expect(svg.hasPrefix("<svg") && svg.hasSuffix("</svg>\n") && svg.components(separatedBy: "<circle").count - 1 == 2 * 10)
        let report = try JSONSerialization.jsonObject(with: Data(contentsOf: directory.appendingPathComponent("results.json"))) as! [String: Any]
        let results = report["results"] as! [[String: Any]]
        #expect(results.map { $0["method"] as! String } == ["cg", "cg-ekfac", "arnoldi", "lissa", "trak", "ekfac", "ekfac-mlp", "kfac", "gdp", "cka"])
        for row in results where row["method"] as! String != "cg" {
            for key in ["spearmanMean", "pearsonMean"] {
                let value = (row[key] as? NSNumber)?.doubleValue ?? .nan
                #expect(value >= -1 && value <= 1, "\(row["method"]!) \(key) = \(value)")
            }
            #expect(((row["pairwiseSeconds"] as? NSNumber)?.doubleValue ?? -1) >= 0)
        }
        let preconditioned = results.first { $0["method"] as! String == "cg-ekfac" }!
        #expect((preconditioned["spearmanMean"] as! NSNumber).doubleValue > 0.999)
        let again = try Self.run(["bench", "scalability", "--quick", "--out", directory.path, "--methods", "ekfac"])
        #expect(again.status == 0 && again.standardError.contains("reusing"), "\(again.standardError)")
        let missing = try Self.run(["bench", "scalability", "--quick", "--out", directory.path, "--corpus", directory.appendingPathComponent("none").path])
        #expect(missing.status != 0 && missing.standardError.contains("no fortune files"), "\(missing.standardError)")
    }

    /// `bench lds --quick`: every method has an LDS in [−1, 1], the files are written, a rerun
    /// reuses the subset models' losses and gives the same LDS, and a fraction outside (0, 1) is
    /// refused with one line naming the option.
    @Test(.enabled(if: FileManager.default.fileExists(atPath: "/usr/share/games/fortunes/wisdom"),
                   "Debian's fortunes package is not installed (apt-get install fortunes; .ci/run does)"))
    func ldsQuickRuns() throws {
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let result = try Self.run(["bench", "lds", "--quick", "--out", directory.path])
        #expect(result.status == 0, "\(result.standardError)")
        func rows() throws -> [[String: Any]] {
            let report = try JSONSerialization.jsonObject(with: Data(contentsOf: directory.appendingPathComponent("results.json"))) as! [String: Any]
            return report["results"] as! [[String: Any]]
        }
        let first = try rows()
        #expect(first.map { $0["method"] as! String } == ["cg", "ekfac", "kfac", "gdp", "cka"])
        for row in first {
            let value = (row["ldsMean"] as? NSNumber)?.doubleValue ?? .nan
            #expect(value >= -1 && value <= 1, "\(row["method"]!) LDS = \(value)")
        }
        #expect(FileManager.default.fileExists(atPath: directory.appendingPathComponent("results.md").path))
        let again = try Self.run(["bench", "lds", "--quick", "--out", directory.path])
        #expect(again.status == 0 && !again.standardError.contains("LDS: subset"), "the subsets were retrained: \(again.standardError)")
        #expect(try rows().map { ($0["ldsMean"] as! NSNumber).doubleValue } == first.map { ($0["ldsMean"] as! NSNumber).doubleValue })
        for fraction in ["0", "1", "1.5", "nan"] {
            let refused = try Self.run(["bench", "lds", "--quick", "--out", directory.path, "--fraction", fraction])
            let errors = refused.standardError.split(separator: "\n").filter { $0.hasPrefix("Error") }
            #expect(refused.status != 0 && errors.count == 1 && errors[0].contains("--fraction"), "--fraction \(fraction): \(refused.standardError)")
        }
    }

    /// An interrupted training run continues from its checkpoint to the same weights.
    @Test func trainingResumesFromItsCheckpoint() throws {
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        func path(_ name: String) -> String { directory.appendingPathComponent(name).path }
        let arguments = ["train", "--from", Self.example, "--data", "\(Self.data)/finetune.jsonl", "--epochs", "4", "--batch-size", "2",
                         "--learning-rate", "1e-3", "--save-every", "3"]
        #expect(try Self.run(arguments + ["--out", path("straight")]).status == 0)
        let stopped = try Self.run(arguments + ["--out", path("resumed"), "--max-steps", "5"])
        #expect(stopped.status == 0 && stopped.standardOutput.contains("stopped after step 5"))
        #expect(!FileManager.default.fileExists(atPath: path("resumed") + "/model.safetensors"))
        let resumed = try Self.run(arguments + ["--out", path("resumed")])
        #expect(resumed.status == 0)
        #expect(resumed.standardError.contains("resuming at step 6"))
        let a = try Data(contentsOf: URL(fileURLWithPath: path("straight") + "/model.safetensors"))
        let b = try Data(contentsOf: URL(fileURLWithPath: path("resumed") + "/model.safetensors"))
        #expect(a == b)
        #expect(!FileManager.default.fileExists(atPath: path("resumed") + "/checkpoint"))
    }
}
