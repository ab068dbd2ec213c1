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

    /// Tokenises records as DESIGN §8 says: text as is; prompt and completion separately, then
    /// concatenated, with only the completion's tokens as targets. Sequences are cut to
    /// `maxLength` tokens (counted in `truncated`). Records without a counted target are errors.
    public init(_ records: [DataRecord], tokenizer: BPETokenizer, contextLength: Int, source: String, maxLength: Int,
                requireIds: Bool = false, allowPromptCompletion: Bool = true, labels: [String]? = nil,
                requireLabels: Bool = true) throws {
        var result = TokenizedRecords(ids: [], examples: [])
        let limit = min(maxLength, contextLength)
        var seen = Set<String>()
        for (index, record) in records.enumerated() {
            let place = "\(source) record \(index + 1)"
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
                example = TokenizedExample(tokens: tokenizer.encode(text), label: index ?? 0)
                if example.tokens.isEmpty { throw InputError("\(place): the text is empty") }
                if example.tokens.count > limit {
                    example.tokens = Array(example.tokens.prefix(limit))
                    result.truncated += 1
                }
                result.ids.append(id)
                result.examples.append(example)
                continue
            }
            if let text = record.text {
                if record.prompt != nil || record.completion != nil {
                    throw InputError("\(place): give either \"text\" or \"prompt\" and \"completion\", not both")
                }
                example = TokenizedExample(tokens: tokenizer.encode(text))
            } else if let prompt = record.prompt, let completion = record.completion {
                guard allowPromptCompletion else { throw InputError("\(place): expected \"text\"") }
                let promptTokens = tokenizer.encode(prompt), completionTokens = tokenizer.encode(completion)
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
