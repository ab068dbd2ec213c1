import Foundation
import Tokenization

/// A line of a data file: `{"text": ...}` or `{"prompt": ..., "completion": ...}`, with an
/// optional `"id"` (string or number) and, for a classifier, a `"label"` (name or index); or a
/// conversation, `{"messages": [{"role": "user", "content": ...}, {"role": "assistant", ...}]}`.
public struct DataRecord: Decodable, Sendable {
    public let id: String?
    public let text: String?
    public let prompt: String?
    public let completion: String?
    /// A classifier's label: its name, or its index.
    public let label: String?
    /// A chat conversation whose last message is the assistant's (the completion).
    public let messages: [ChatMessage]?

    enum CodingKeys: String, CodingKey { case id, text, prompt, completion, label, messages }

    public init(id: String? = nil, text: String? = nil, prompt: String? = nil, completion: String? = nil, label: String? = nil,
                messages: [ChatMessage]? = nil) {
        self.messages = messages
        self.id = id
        self.text = text
        self.prompt = prompt
        self.completion = completion
        self.label = label
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        id = Self.stringOrInteger(c, .id)
        text = try c.decodeIfPresent(String.self, forKey: .text)
        prompt = try c.decodeIfPresent(String.self, forKey: .prompt)
        completion = try c.decodeIfPresent(String.self, forKey: .completion)
        label = Self.stringOrInteger(c, .label)
        messages = try c.decodeIfPresent([ChatMessage].self, forKey: .messages)
    }

    private static func stringOrInteger(_ c: KeyedDecodingContainer<CodingKeys>, _ key: CodingKeys) -> String? {
        if let s = try? c.decode(String.self, forKey: key) { return s }
        if let n = try? c.decode(Int.self, forKey: key) { return String(n) }
        return nil
    }
}
