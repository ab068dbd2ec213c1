import Foundation
import Testing

/// Commands on a GGUF file (the tiny Llama that llama.cpp's converter layout describes):
/// `inspect` lists its tensor types, and `train --from` it writes a Hugging Face directory
/// whose tokenizer and weights load back: with a learning rate too small to move a weight,
/// the same ids and log-probabilities.
@Suite struct RealModelCommandTests {
    static let gguf = CommandLineTests.repository.appendingPathComponent("Tests/ModelsTests/Fixtures/gguf-llama/model.gguf").path

    @Test func inspectShowsTheTensorTypes() throws {
        let result = try CommandLineTests.run(["inspect", Self.gguf])
        #expect(result.status == 0)
        #expect(result.standardOutput.contains("LlamaForCausalLM (model_type llama)"))
        #expect(result.standardOutput.contains("Q4_1 ×"))
        #expect(result.standardOutput.contains("in 1 GGUF v3 file"))
        let json = try CommandLineTests.run(["inspect", Self.gguf, "--json"])
        #expect(json.standardOutput.contains(#""num_key_value_heads":2"#))
        #expect(json.standardOutput.contains(#""tensor_types":{"#))
    }

    @Test func trainingFromAGGUFFileWritesAHuggingFaceDirectory() throws {
        let directory = try CommandLineTests.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let data = directory.appendingPathComponent("data.jsonl")
        try #"{"text": "the cat sat on the mat."}"#.appending("\n").write(to: data, atomically: true, encoding: .utf8)
        let out = directory.appendingPathComponent("trained").path
        let train = try CommandLineTests.run(["train", "--from", Self.gguf, "--data", data.path, "--out", out, "--learning-rate", "1e-30"])
        #expect(train.status == 0, "\(train.standardError)")
        for file in ["config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"] {
            #expect(FileManager.default.fileExists(atPath: out + "/" + file), "\(file)")
        }
        // The same text evaluates alike from the GGUF file and from the written directory.
        let fromGGUF = try CommandLineTests.run(["eval", Self.gguf, "--text", "hello world! the cat sat on the mat.", "--json"])
        let fromDirectory = try CommandLineTests.run(["eval", out, "--text", "hello world! the cat sat on the mat.", "--json"])
        #expect(fromGGUF.status == 0 && fromDirectory.status == 0, "\(fromDirectory.standardError)")
        #expect(fromGGUF.standardOutput == fromDirectory.standardOutput)
        let chat = try CommandLineTests.run(["generate", out, "--chat", "--prompt", "hi", "--max-new-tokens", "2"])
        #expect(chat.status == 0, "the chat template travels with the tokenizer: \(chat.standardError)")
    }

    /// `eval --chat` on a prompt/completion line: the loss is the mean over the completion's
    /// tokens only, which start after the rendered user turn.
    @Test func evalOfAChatCompletionCountsTheCompletionOnly() throws {
        let directory = try CommandLineTests.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let input = directory.appendingPathComponent("eval.jsonl")
        try #"{"prompt": "the cat sat on the mat.", "completion": "hello world!"}"#.appending("\n").write(to: input, atomically: true, encoding: .utf8)
        let result = try CommandLineTests.run(["eval", Self.gguf, "--input", input.path, "--chat", "--json"])
        #expect(result.status == 0, "\(result.standardError)")
        struct Line: Decodable { let tokens: [Int]; let token_logprobs: [Double]; let loss: Double; let completion_start: Int }
        let line = try JSONDecoder().decode(Line.self, from: Data(result.standardOutput.utf8))
        #expect(Array(line.tokens.suffix(5)) == [28, 31, 9, 5, 19])   // "hello world!" (transformers' ids, tokens.json)
        #expect(line.completion_start == line.tokens.count - 5)
        let completion = line.token_logprobs[(line.completion_start - 1)...]
        #expect(abs(line.loss + completion.reduce(0, +) / Double(completion.count)) < 1e-6)
    }
}
