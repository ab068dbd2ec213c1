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
            Input lines may also be {"prompt", "completion"} or {"messages": [...]}: then loss is the mean over the \
            completion's tokens only, and "completion_start" the index in tokens where the completion begins (with \
            --chat, the prompt is the user's turn of the chat template). Texts longer than the model's context are cut \
            to it, with a warning.
            """)

    @Argument(help: "A model: a Hugging Face directory (config.json, model.safetensors, tokenizer.json) or a .gguf file.")
    var modelDirectory: String

    @Option(help: "A text to evaluate.")
    var text: String?

    @Option(help: "A JSON Lines file of {\"text\": ...}, {\"prompt\": ..., \"completion\": ...} or {\"messages\": [...]} objects.")
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

    func run() throws {
        let loaded = try LoadedModel(path: modelDirectory, precision: .stored)
        if loaded.labels != nil { throw InputError("\(modelDirectory): is a sequence classifier; eval needs a language model") }
        // Each sequence with the index where its counted targets begin (0 for a text).
        var sequences: [[Int]] = [], completionStarts: [Int?] = []
        if let text {
            sequences = [try tokens(of: text, what: "--text", loaded)]
            completionStarts = [nil]
        } else {
            let records = try JSONLines.read(DataRecord.self, path: input!)
            if records.isEmpty { throw InputError("\(input!): no records") }
            for (index, record) in records.enumerated() {
                if record.text == nil && record.messages == nil && (record.prompt == nil || record.completion == nil) {
                    throw InputError("\(input!):\(index + 1): missing field \"text\" (or \"prompt\" and \"completion\", or \"messages\")")
                }
                if let text = record.text, record.prompt == nil, record.completion == nil, record.messages == nil {
                    sequences.append(try tokens(of: text, what: "\(input!) record \(index + 1)", loaded))
                    completionStarts.append(nil)
                } else {
                    let tokenized = try loaded.tokenize([record], source: input!, maxLength: loaded.context, chat: chat,
                                                        firstRecordNumber: index + 1)
                    if tokenized.truncated > 0 { warn("warning: \(input!) record \(index + 1) was cut to \(loaded.context) tokens") }
                    sequences.append(tokenized.examples[0].tokens)
                    completionStarts.append(tokenized.examples[0].promptLength)
                }
            }
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
                // A completion's targets are tokens[completionStart...], predicted from position completionStart − 1 on.
                let completionStart = completionStarts[start + offset]
                let counted = values[max(0, (completionStart ?? 1) - 1)...]
                let loss = -counted.reduce(0.0) { $0 + Double($1) } / Double(counted.count)
                if json {
                    print(try JSONOutput.string(SequenceLoss(tokens: tokens, token_logprobs: values.map(NullIfNotFinite.init),
                                                             loss: NullIfNotFinite(loss), completion_start: completionStart)))
                } else {
                    print(String(format: "%5d %7d %9.4f %11.3f", start + offset + 1, tokens.count, loss, exp(loss)))
                }
            }
            start = end
        }
    }

    /// A text's tokens (rendered as the user's turn with --chat), cut to the context.
    private func tokens(of text: String, what: String, _ loaded: LoadedModel) throws -> [Int] {
        let (tokens, cut) = chat ? try loaded.encode(try loaded.chatPrompt(text), what: what, rendered: true)
            : try loaded.encode(text, what: what)
        if let cut { warn("warning: \(what) has \(cut) tokens; keeping the first \(loaded.context) (the model's context)") }
        if tokens.count < 2 { throw InputError("\(what) has a single token; a loss needs at least two") }
        return tokens
    }
}

/// `eval --json`'s line for one sequence.
private struct SequenceLoss: Encodable {
    let tokens: [Int]
    let token_logprobs: [NullIfNotFinite]
    let loss: NullIfNotFinite
    /// Where a prompt/completion record's completion begins in `tokens` (absent for a text).
    let completion_start: Int?
}
