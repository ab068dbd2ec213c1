import Foundation
import Influence
import Models
import Testing

/// `score --method trak` end to end: an ensemble member trained with `train --subset-fraction`,
/// the command's scores equal to the library's `TRAKScorer` on the same models and data, and
/// bad combinations refused in one line.
@Suite struct TRAKCommandTests {
    typealias CLI = CommandLineTests

    @Test func scoresAreTheLibrarysAndOptionsAreChecked() throws {
        let directory = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let member = directory.appendingPathComponent("half").path
        let trained = try CLI.run(["train", "--from", CLI.example, "--data", "\(CLI.data)/train.jsonl", "--out", member, "--epochs", "2",
                                   "--subset-fraction", "0.5", "--subset-seed", "3"])
        #expect(trained.status == 0 && trained.standardError.contains("a random 4 of 8"), "\(trained.standardError)")

        let out = directory.appendingPathComponent("trak.json").path
        let scored = try CLI.run(["score", "--model", CLI.example, "--method", "trak", "--trak-model", member, "--trak-dimension", "6",
                                  "--queries", "\(CLI.data)/queries.jsonl", "--train", "\(CLI.data)/train.jsonl", "--out", out])
        #expect(scored.status == 0, "\(scored.standardError)")
        let object = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out))) as! [String: Any]
        let scores = (object["scores"] as! [[NSNumber]]).map { $0.map(\.doubleValue) }

        let main = try LoadedModel(path: CLI.example), half = try LoadedModel(path: member)
        let queries = try main.tokenize(file: "\(CLI.data)/queries.jsonl", maxLength: main.context, requireIds: true).examples
        let train = try main.tokenize(file: "\(CLI.data)/train.jsonl", maxLength: main.context, requireIds: true,
                                      allowPromptCompletion: false).examples
        let trak = try TRAKScorer(models: [main.model, half.model], training: train, dimension: 6, seed: 0, batchSize: 8)
        let expected = try trak.scores(queries: queries, candidates: train)
        let scale = expected.joined().map(abs).max()!
        #expect(scale > 0)
        #expect(zip(scores.joined(), expected.joined()).allSatisfy { abs($0 - $1) <= 1e-9 * scale }, "\(scores) vs \(expected)")

        // --trak-store: the first run writes each model's kernel, the second reads them and scores the same.
        let store = directory.appendingPathComponent("kernels").path
        var stored: [[[Double]]] = []
        for run in 0..<2 {
            let path = directory.appendingPathComponent("stored-\(run).json").path
            let result = try CLI.run(["score", "--model", CLI.example, "--method", "trak", "--trak-model", member, "--trak-dimension", "6",
                                      "--trak-store", store, "--queries", "\(CLI.data)/queries.jsonl", "--train", "\(CLI.data)/train.jsonl",
                                      "--out", path])
            #expect(result.status == 0 && result.standardError.contains("read its kernel") == (run == 1), "\(result.standardError)")
            let matrix = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path))) as! [String: Any]
            stored.append((matrix["scores"] as! [[NSNumber]]).map { $0.map(\.doubleValue) })
        }
        #expect(stored[0] == scores && stored[1] == scores)

        func refused(_ arguments: [String], mentioning option: String) throws {
            let result = try CLI.run(arguments)
            let errors = result.standardError.split(separator: "\n").filter { $0.hasPrefix("Error") }
            #expect(result.status != 0 && errors.count == 1 && errors[0].contains(option), "\(arguments): \(result.standardError)")
        }
        let inputs = ["--queries", "\(CLI.data)/queries.jsonl", "--train", "\(CLI.data)/train.jsonl"]
        try refused(["score", "--model", CLI.example, "--method", "trak", "--per-module"] + inputs, mentioning: "--per-module")
        try refused(["score", "--model", CLI.example, "--method", "trak", "--trak-model", member, "--trak-dimension", "32",
                     "--trak-store", store] + inputs, mentioning: "model-0.safetensors")
        try refused(["score", "--model", CLI.example, "--method", "gdp", "--trak-model", member] + inputs, mentioning: "--trak-model")
        try refused(["score", "--model", CLI.example, "--method", "trak", "--trak-model", directory.appendingPathComponent("none").path] + inputs,
                    mentioning: "none")
        try refused(["train", "--from", CLI.example, "--data", "\(CLI.data)/train.jsonl", "--out", member, "--subset-fraction", "1.5"],
                    mentioning: "--subset-fraction")
        // An ensemble member with another vocabulary (a wider embedding) cannot read the same tokens.
        var config = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: "\(CLI.example)/config.json"))) as! [String: Any]
        config["vocab_size"] = (config["vocab_size"] as! Int) + 64
        let configPath = directory.appendingPathComponent("wider.json").path, wider = directory.appendingPathComponent("wider").path
        try JSONSerialization.data(withJSONObject: config).write(to: URL(fileURLWithPath: configPath))
        let made = try CLI.run(["train", "--init", configPath, "--tokenizer", CLI.example, "--data", "\(CLI.data)/train.jsonl", "--out", wider])
        #expect(made.status == 0, "\(made.standardError)")
        try refused(["score", "--model", CLI.example, "--method", "trak", "--trak-model", wider] + inputs, mentioning: "vocabulary differs")
    }
}
