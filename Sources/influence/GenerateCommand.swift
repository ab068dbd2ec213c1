import ArgumentParser
import Checkpoints
import Foundation
import Models

struct Generate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Continue a prompt greedily (the most probable token at every step).",
        discussion: """
            Stops after --max-new-tokens tokens, at the end-of-text token, at the end of the model's context, and with \
            --stop-at-sentence-end at the first sentence end (. ! ?) or newline (as `trace` does by default).
            """)

    @Argument(help: "A model: a Hugging Face directory (config.json, model.safetensors, tokenizer.json) or a .gguf file.")
    var modelDirectory: String

    @Option(help: "The text to continue.")
    var prompt: String

    @Option(parsing: .unconditional, help: "Most tokens to generate.")
    var maxNewTokens = 32

    @Flag(help: "End at the first sentence end (. ! ?) or newline.")
    var stopAtSentenceEnd = false

    @Flag(help: "Wrap the prompt in the model's chat template (ChatML, Llama 3) as the user's turn, as instruction-tuned models expect.")
    var chat = false

    @Flag(help: "Print {\"prompt\", \"completion\", \"prompt_tokens\", \"completion_tokens\"} as JSON.")
    var json = false

    func validate() throws {
        try OptionCheck.inRange(maxNewTokens, "--max-new-tokens", 0)
    }

    func run() throws {
        let loaded = try LoadedModel(path: modelDirectory, precision: .stored)
        let text = chat ? try loaded.chatPrompt(prompt) : prompt
        let (promptTokens, cut) = try loaded.encode(text, what: "the prompt", rendered: chat)
        if let cut { warn("warning: the prompt has \(cut) tokens; keeping the first \(loaded.context) (the model's context)") }
        let generated = try GreedyAnswer.generate(loaded, prompt: promptTokens, maxNewTokens: maxNewTokens, stopAtSentenceEnd: stopAtSentenceEnd)
        let completion = loaded.tokenizer.decode(generated)
        if json {
            print(try JSONOutput.string(Generation(prompt: prompt, completion: completion, prompt_tokens: promptTokens,
                                                   completion_tokens: generated)))
        } else {
            print(chat ? completion : prompt + completion)
        }
    }
}

/// `generate --json`'s line.
private struct Generation: Encodable {
    let prompt, completion: String
    let prompt_tokens, completion_tokens: [Int]
}
