import ArgumentParser
import Foundation
import Models

struct Generate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Continue a prompt greedily (the most probable token at every step).",
        discussion: "Stops after --max-new-tokens tokens, at the end-of-text token, or at the end of the model's context.")

    @Argument(help: "A GPT-NeoX model directory (config.json, model.safetensors, tokenizer.json).")
    var modelDirectory: String

    @Option(help: "The text to continue.")
    var prompt: String

    @Option(help: "Most tokens to generate.")
    var maxNewTokens = 32

    @Flag(help: "Print {\"prompt\", \"completion\", \"prompt_tokens\", \"completion_tokens\"} as JSON.")
    var json = false

    func validate() throws {
        if maxNewTokens < 0 { throw ValidationError("--max-new-tokens must not be negative") }
    }

    func run() throws {
        let loaded = try LoadedModel(path: modelDirectory)
        let promptTokens = try loaded.encode(prompt, what: "the prompt")
        let stop = loaded.tokenizer.endOfTextTokenId.map { Set([$0]) } ?? []
        var generated = try loaded.model.greedyContinuation(of: promptTokens, maxNewTokens: maxNewTokens, stopTokens: stop)
        if let last = generated.last, stop.contains(last) { generated.removeLast() }
        let completion = loaded.tokenizer.decode(generated)
        if json {
            print("{\"prompt\": \(jsonQuoted(prompt)), \"completion\": \(jsonQuoted(completion)), "
                + "\"prompt_tokens\": [\(promptTokens.map(String.init).joined(separator: ", "))], "
                + "\"completion_tokens\": [\(generated.map(String.init).joined(separator: ", "))]}")
        } else {
            print(prompt + completion)
        }
    }
}
