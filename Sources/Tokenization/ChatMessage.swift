/// One turn of a conversation for a chat template: role ("system", "user", "assistant") and text.
public struct ChatMessage: Codable, Sendable, Equatable {
    public var role: String
    public var content: String

    public init(role: String, content: String) {
        self.role = role
        self.content = content
    }
}
