import Checkpoints
import Foundation
import Tokenization

/// Tokenised records, ready for fitting, scoring or training: ids (the record's "id", or its
/// index), examples, and how many were cut to the length limit.
public struct TokenizedRecords: Sendable {
    public var ids: [String]
    public var examples: [TokenizedExample]
    public var truncated = 0

    public init(ids: [String], examples: [TokenizedExample], truncated: Int = 0) {
        self.ids = ids
        self.examples = examples
        self.truncated = truncated
    }

    /// Tokenises records as DESIGN §8 says: text as is (with the special tokens the tokenizer
    /// adds, e.g. Llama 3's BOS); prompt and completion separately, then concatenated, with only
    /// the completion's tokens as targets. With `chat`, a prompt is the user's turn rendered by
    /// `chatTemplate` up to the assistant's reply; a `messages` record is always rendered: all
    /// messages but the last are the prompt, the last (the assistant's) is the completion. Sequences are cut to
    /// `maxLength` tokens (counted in `truncated`). Records without a counted target are errors.
    public init(_ records: [DataRecord], tokenizer: BPETokenizer, contextLength: Int, source: String, maxLength: Int,
                requireIds: Bool = false, allowPromptCompletion: Bool = true, labels: [String]? = nil,
                requireLabels: Bool = true, chat: Bool = false, chatTemplate: ChatTemplate? = nil, firstRecordNumber: Int = 1) throws {
        var result = TokenizedRecords(ids: [], examples: [])
        let limit = min(maxLength, contextLength)
        var seen = Set<String>()
        for (index, record) in records.enumerated() {
            let place = "\(source) record \(index + firstRecordNumber)"
            if requireIds && record.id == nil { throw InputError("\(place): missing \"id\"") }
            let id = record.id ?? String(index)
            if requireIds && !seen.insert(id).inserted { throw InputError("\(place): duplicate id \"\(id)\"") }
            var example: TokenizedExample
            if let labels {
                // A classifier reads {"text", "label"}.
                guard let text = record.text else { throw InputError("\(place): a classifier needs \"text\"") }
                var index: Int?
                if let label = record.label {
                    index = labels.firstIndex(of: label) ?? Int(label).flatMap { labels.indices.contains($0) ? $0 : nil }
                    guard index != nil else {
                        throw InputError("\(place): label \"\(label)\" is not one of \(labels.joined(separator: ", "))")
                    }
                } else if requireLabels {
                    throw InputError("\(place): missing \"label\"")
                }
                example = TokenizedExample(tokens: tokenizer.encode(text, addSpecialTokens: true), label: index ?? 0)
                if example.tokens.isEmpty { throw InputError("\(place): the text is empty") }
                if example.tokens.count > limit {
                    example.tokens = Array(example.tokens.prefix(limit))
                    result.truncated += 1
                }
                result.ids.append(id)
                result.examples.append(example)
                continue
            }
            if let messages = record.messages {
                guard allowPromptCompletion else { throw InputError("\(place): expected \"text\"") }
                guard record.text == nil, record.prompt == nil, record.completion == nil else {
                    throw InputError("\(place): give \"messages\" alone, without \"text\", \"prompt\" or \"completion\"")
                }
                guard let last = messages.last, last.role == "assistant", messages.count >= 2, let chatTemplate else {
                    throw InputError("\(place): \"messages\" must end with the assistant's message, after at least one other")
                }
                let prompt = chatTemplate.render(Array(messages.dropLast()), addGenerationPrompt: true)
                let promptTokens = tokenizer.encode(prompt, addSpecialTokens: false), completionTokens = tokenizer.encode(last.content)
                if completionTokens.isEmpty { throw InputError("\(place): the assistant's message is empty") }
                example = TokenizedExample(tokens: promptTokens + completionTokens, promptLength: promptTokens.count)
            } else if let text = record.text {
                if record.prompt != nil || record.completion != nil {
                    throw InputError("\(place): give either \"text\" or \"prompt\" and \"completion\", not both")
                }
                example = TokenizedExample(tokens: tokenizer.encode(text, addSpecialTokens: true))
            } else if let prompt = record.prompt, let completion = record.completion {
                guard allowPromptCompletion else { throw InputError("\(place): expected \"text\"") }
                let promptTokens = chat && chatTemplate != nil
                    ? tokenizer.encode(chatTemplate!.render([ChatMessage(role: "user", content: prompt)], addGenerationPrompt: true),
                                       addSpecialTokens: false)
                    : tokenizer.encode(prompt, addSpecialTokens: true)
                let completionTokens = tokenizer.encode(completion)
                if completionTokens.isEmpty { throw InputError("\(place): the completion is empty") }
                example = TokenizedExample(tokens: promptTokens + completionTokens, promptLength: promptTokens.count)
            } else {
                throw InputError("\(place): needs \"text\"\(allowPromptCompletion ? " or \"prompt\" and \"completion\"" : "")")
            }
            if example.tokens.count > limit {
                if example.promptLength >= limit - 1 {
                    throw InputError("\(place): the prompt has \(example.promptLength) tokens; the limit is \(limit)")
                }
                example.tokens = Array(example.tokens.prefix(limit))
                result.truncated += 1
            }
            if example.targetCount == 0 { throw InputError("\(place): too short; it needs at least two tokens") }
            result.ids.append(id)
            result.examples.append(example)
        }
        self = result
    }
}
