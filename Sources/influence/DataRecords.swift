import Foundation
import Curvature
import Models
import Tokenization

/// Tokenised records, ready for fitting or scoring.
struct TokenizedRecords {
    var ids: [String]
    var examples: [TokenizedExample]
    var truncated = 0
}

extension LoadedModel {
    /// `requireLabels`: for a classifier, whether every record must carry a label (queries and
    /// training data); fitting samples labels from the model and needs none.
    func tokenize(_ records: [DataRecord], source: String, maxLength: Int, requireIds: Bool = false,
                  allowPromptCompletion: Bool = true, requireLabels: Bool = true) throws -> TokenizedRecords {
        try tokenizeRecords(records, tokenizer: tokenizer, contextLength: model.hyperparameters.maxPositions, source: source,
                            maxLength: maxLength, requireIds: requireIds, allowPromptCompletion: allowPromptCompletion,
                            labels: labels, requireLabels: requireLabels)
    }
}

/// Tokenises records as DESIGN §8 says: text as is; prompt and completion separately, then
/// concatenated, with only the completion's tokens as targets. Sequences are cut to
/// `maxLength` tokens (counted in `truncated`). Records without a counted target are errors.
func tokenizeRecords(_ records: [DataRecord], tokenizer: BPETokenizer, contextLength: Int, source: String, maxLength: Int,
                     requireIds: Bool = false, allowPromptCompletion: Bool = true, labels: [String]? = nil,
                     requireLabels: Bool = true) throws -> TokenizedRecords {
    var result = TokenizedRecords(ids: [], examples: [])
    let limit = min(maxLength, contextLength)
    var seen = Set<String>()
    for (index, record) in records.enumerated() {
        let place = "\(source) record \(index + 1)"
        if requireIds && record.id == nil { throw CommandError("\(place): missing \"id\"") }
        let id = record.id ?? String(index)
        if requireIds && !seen.insert(id).inserted { throw CommandError("\(place): duplicate id \"\(id)\"") }
        var example: TokenizedExample
        if let labels {
            // A classifier reads {"text", "label"}.
            guard let text = record.text else { throw CommandError("\(place): a classifier needs \"text\"") }
            var index: Int?
            if let label = record.label {
                index = labels.firstIndex(of: label) ?? Int(label).flatMap { labels.indices.contains($0) ? $0 : nil }
                guard index != nil else {
                    throw CommandError("\(place): label \"\(label)\" is not one of \(labels.joined(separator: ", "))")
                }
            } else if requireLabels {
                throw CommandError("\(place): missing \"label\"")
            }
            example = TokenizedExample(tokens: tokenizer.encode(text), label: index ?? 0)
            if example.tokens.isEmpty { throw CommandError("\(place): the text is empty") }
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
                throw CommandError("\(place): give either \"text\" or \"prompt\" and \"completion\", not both")
            }
            example = TokenizedExample(tokens: tokenizer.encode(text))
        } else if let prompt = record.prompt, let completion = record.completion {
            guard allowPromptCompletion else { throw CommandError("\(place): expected \"text\"") }
            let promptTokens = tokenizer.encode(prompt), completionTokens = tokenizer.encode(completion)
            if completionTokens.isEmpty { throw CommandError("\(place): the completion is empty") }
            example = TokenizedExample(tokens: promptTokens + completionTokens, promptLength: promptTokens.count)
        } else {
            throw CommandError("\(place): needs \"text\"\(allowPromptCompletion ? " or \"prompt\" and \"completion\"" : "")")
        }
        if example.tokens.count > limit {
            if example.promptLength >= limit - 1 {
                throw CommandError("\(place): the prompt has \(example.promptLength) tokens; the limit is \(limit)")
            }
            example.tokens = Array(example.tokens.prefix(limit))
            result.truncated += 1
        }
        if example.targetCount == 0 { throw CommandError("\(place): too short; it needs at least two tokens") }
        result.ids.append(id)
        result.examples.append(example)
    }
    return result
}

/// The digest of a file's bytes (the one factors use for their own files), to record which
/// data factors were fitted on and which data a training run reads.
func fileFingerprint(_ path: String) -> String {
    (try? FileDigest.of(URL(fileURLWithPath: path))) ?? "missing"
}
