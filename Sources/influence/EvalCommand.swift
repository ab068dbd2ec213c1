import Checkpoints
import ArgumentParser
import Foundation
import Models

struct Eval: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Per-token log-probabilities and loss of texts under a model.",
        discussion: """
            With --json, prints one line per sequence: {"tokens": [ids], "token_logprobs": [...], "loss": x}, \
            where token_logprobs[i] is log p(tokens[i+1] | tokens[0...i]) and loss is the mean of their negatives. \
            Texts longer than the model's context are cut to it, with a warning.
            """)

    @Argument(help: "A model: a Hugging Face directory (config.json, model.safetensors, tokenizer.json) or a .gguf file.")
    var modelDirectory: String

    @Option(help: "A text to evaluate.")
    var text: String?

    @Option(help: "A JSON Lines file of {\"text\": ...} objects.")
    var input: String?

    @Flag(help: "Render each text as the user's turn of the model's chat template (ChatML, Llama 3), up to the assistant's reply, and evaluate that.")
    var chat = false

    @Flag(help: "Print JSON Lines instead of a table.")
    var json = false

    @Option(parsing: .unconditional, help: "Tokens per forward pass (sequences are packed up to this many).")
    var batchTokens = 4096

    func validate() throws {
        if (text == nil) == (input == nil) { throw ValidationError("give exactly one of --text and --input") }
        try OptionCheck.positive(batchTokens, "--batch-tokens")
    }

    struct Record: Decodable { let text: String }

    func run() throws {
        let loaded = try LoadedModel(path: modelDirectory)
        if loaded.labels != nil { throw InputError("\(modelDirectory): is a sequence classifier; eval needs a language model") }
        let texts: [(String, String)]
        if let text {
            texts = [(text, "--text")]
        } else {
            texts = try JSONLines.read(Record.self, path: input!).enumerated().map { ($1.text, "\(input!) record \($0 + 1)") }
            if texts.isEmpty { throw InputError("\(input!): no records") }
        }
        let sequences = try texts.map { text, what -> [Int] in
            let (tokens, cut) = chat ? try loaded.encode(try loaded.chatPrompt(text), what: what, rendered: true)
                : try loaded.encode(text, what: what)
            if let cut { warn("warning: \(what) has \(cut) tokens; keeping the first \(loaded.context) (the model's context)") }
            if tokens.count < 2 { throw InputError("\(what) has a single token; a loss needs at least two") }
            return tokens
        }
        let activations = DecoderActivations(hyperparameters: loaded.model.hyperparameters)
        if !json { print("    #  tokens      loss  perplexity") }
        var start = 0
        while start < sequences.count {
            // Pack whole sequences up to the token budget (always at least one).
            var end = start + 1, tokens = sequences[start].count
            while end < sequences.count && tokens + sequences[end].count <= batchTokens {
                tokens += sequences[end].count
                end += 1
            }
            let batch = Array(sequences[start..<end])
            let logProbabilities = try loaded.model.tokenLogProbabilities(batch, activations: activations)
            for (offset, (tokens, values)) in zip(batch, logProbabilities).enumerated() {
                let loss = -values.reduce(0.0) { $0 + Double($1) } / Double(values.count)
                if json {
                    print(try JSONOutput.string(SequenceLoss(tokens: tokens, token_logprobs: values.map(NullIfNotFinite.init),
                                                             loss: NullIfNotFinite(loss))))
                } else {
                    print(String(format: "%5d %7d %9.4f %11.3f", start + offset + 1, tokens.count, loss, exp(loss)))
                }
            }
            start = end
        }
    }
}

/// `eval --json`'s line for one sequence.
private struct SequenceLoss: Encodable {
    let tokens: [Int]
    let token_logprobs: [NullIfNotFinite]
    let loss: NullIfNotFinite
}
